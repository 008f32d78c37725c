"""brief: the council brief is one standalone HTML page with no links at all, every text escaped, and
the profile's numbers in it; its SVG map marks the area and its SVG trend leaves gaps where withheld."""

from __future__ import annotations

import re
from datetime import datetime

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import box

from dashboard import brief
from dashboard.neighborhood import Profile

HOSTILE = '<script>alert("x")</script>'


def _profile(**changes) -> Profile:
    base = {
        "area_id": "32", "name": f"Loop {HOSTILE}", "level_label": "Community area",
        "period": "01 Jan 2017 – 31 Dec 2017, all offense groups", "count_text": "12,345",
        "prior_text": "fewer than 5", "pct_text": "withheld", "rate_text": "408.5",
        "verdict": "Up 12% (41 vs 36): within normal variation.", "changed": False, "rank_text": "1 of 77",
        "rate_rank_text": "2 of 77", "events": 31, "dose_text": "1.02",
        "city": {"count": 262_721, "pct_change": -0.4, "rate_per_1000": 95.7},
        "weekly": pd.DataFrame({"week": pd.date_range("2017-01-02", periods=5, freq="7D"),
                                "count": [10.0, np.nan, 12.0, 14.0, 9.0], "partial": False}),
        "weekly_note": "1 week(s) with fewer than 5 incidents are gaps.",
        "offenses": pd.DataFrame({"offense": ["THEFT", f"ODD {HOSTILE}"], "count": [900, 40]}),
        "offenses_note": "", "outreach": pd.DataFrame({"date": ["2017-03-01 18:30"] * 15,
                                                       "title": [f"Beat meeting {HOSTILE}"] * 15,
                                                       "type": ["beat meeting"] * 15, "venue": [""] * 15}),
        "outreach_note": "15 scheduled outreach event(s) placed here.", "public_note": "Public view: ...",
    }
    return Profile(**{**base, **changes})


AREAS = gpd.GeoDataFrame({"area_id": ["32", "33"], "name": ["Loop", "Near South"]},
                         geometry=[box(-87.64, 41.87, -87.62, 41.89), box(-87.64, 41.85, -87.61, 41.87)],
                         crs="EPSG:4326")


def test_brief_has_no_links_and_escapes_every_text():
    html = brief.render(_profile(), brief.outline_svg(AREAS, "32"), "all offense groups",
                        generated=datetime(2024, 5, 1, 9, 30), method="Verdicts: see the dashboard.")
    assert html.startswith("<!DOCTYPE html>")
    assert not re.search(r"(?i)\b(src|href)\s*=", html), "a standalone file must not link anything"
    assert "http" not in html and "<script" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "12,345" in html and "fewer than 5" in html and "408.5" in html and "1 of 77" in html
    assert "262,721" in html and "-0.4%" in html
    assert "Generated 01 May 2024 09:30" in html
    assert "more <i>reported</i> crime" in html  # the trust caveat travels with the numbers
    assert html.count("Beat meeting") == brief.MAX_OUTREACH_ROWS and "and 3 more" in html


def test_outline_svg_marks_the_selected_area():
    svg = brief.outline_svg(AREAS, "33")
    assert svg.startswith("<svg") and svg.count("<path") == 2
    selected = re.search(rf'<g fill="{brief.SELECTED}"[^>]*>(.*?)</g>', svg).group(1)
    assert selected.count("<path") == 1
    assert brief.outline_svg(AREAS.iloc[0:0], "33") == ""


def test_sparkline_svg_leaves_gaps_for_withheld_weeks():
    svg = brief.sparkline_svg(_profile().weekly)
    assert svg.count("<circle") == 1 and svg.count("<polyline") == 1  # 10 | gap | 12, 14, 9
    assert ">14<" in svg and "02 Jan 2017" in svg
    assert brief.sparkline_svg(_profile().weekly.assign(count=np.nan)) == ""


def test_withheld_citywide_total_and_file_name():
    html = brief.render(_profile(city={"count": None}), "", "filters")
    assert "Citywide total withheld" in html
    assert brief.file_name(_profile(area_id="../0111 x")) == "brief_community_area_0111_x.html"
