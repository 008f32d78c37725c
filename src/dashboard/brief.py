"""The council brief: a printable one-page summary of one area (where it is, its trend, top offenses,
outreach held there, verdicts) as one standalone HTML file.

The file must open from disk on a machine with no network, so it has no links at all: the map is a
static SVG of the area among its neighbours (a Leaflet map would need the vendor scripts the app
serves, which a file opened from disk cannot reach) and the trend is an SVG line drawn here, not
plotly (whose inlined library is 3.5 MB). Pure string building: no Streamlit, no store, no file I/O.
Every text from data is HTML-escaped.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from datetime import datetime

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from dashboard.neighborhood import Profile

MAX_OUTREACH_ROWS = 12
SELECTED = "#d95f02"  # ColorBrewer Dark2 orange, readable on grey and in greyscale print
OTHERS = "#e6e6e6"
LINE = "#1f4e79"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def outline_svg(areas: gpd.GeoDataFrame, selected_id: str, width: int = 340, tolerance: float = 0.0008) -> str:
    """An SVG map of every area (light grey) with ``selected_id`` filled orange: where the area is.

    Longitude is scaled by cos(latitude) so shapes keep their proportions; geometry is simplified for
    size (a few tens of kB for 275 beats)."""
    shown = areas.to_crs("EPSG:4326") if areas.crs is not None and not areas.crs.equals("EPSG:4326") else areas
    shown = shown[shown.geometry.notna() & ~shown.geometry.is_empty]
    if shown.empty:
        return ""
    west, south, east, north = shown.total_bounds
    kx = math.cos(math.radians((south + north) / 2))
    span_x, span_y = max((east - west) * kx, 1e-9), max(north - south, 1e-9)
    scale = (width - 8) / span_x
    height = int(span_y * scale) + 8

    def path(geometry) -> str:
        parts = []
        for polygon in getattr(geometry, "geoms", [geometry]):
            for ring in [polygon.exterior, *polygon.interiors]:
                xy = np.asarray(ring.coords)
                px = (xy[:, 0] - west) * kx * scale + 4
                py = (north - xy[:, 1]) * scale + 4
                parts.append("M" + " L".join(f"{x:.1f} {y:.1f}" for x, y in zip(px, py, strict=True)) + " Z")
        return " ".join(parts)

    simplified = shapely.simplify(shown.geometry.values, tolerance, preserve_topology=True)
    ids = shown["area_id"].astype(str).to_numpy()
    others = [f'<path d="{path(g)}"/>' for g, a in zip(simplified, ids, strict=True) if a != str(selected_id)]
    chosen = [f'<path d="{path(g)}"/>' for g, a in zip(simplified, ids, strict=True) if a == str(selected_id)]
    return (
        f'<svg viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="Map: the area among its neighbours">'
        f'<g fill="{OTHERS}" stroke="#9a9a9a" stroke-width="0.5">{"".join(others)}</g>'
        f'<g fill="{SELECTED}" stroke="#000000" stroke-width="1.5">{"".join(chosen)}</g></svg>'
    )


def sparkline_svg(weekly: pd.DataFrame, width: int = 360, height: int = 120) -> str:
    """An SVG line of weekly counts (week, count; NaN = withheld, drawn as a gap) with its range."""
    counts = pd.to_numeric(weekly["count"], errors="coerce").to_numpy(float) if len(weekly) else np.array([])
    if counts.size == 0 or np.isnan(counts).all():
        return ""
    top = float(np.nanmax(counts)) or 1.0
    left, right, upper, lower = 34, 6, 8, 20
    xs = left + np.arange(counts.size) * (width - left - right) / max(counts.size - 1, 1)
    ys = upper + (1 - counts / top) * (height - upper - lower)
    segments, current = [], []
    for x, y in zip(xs, ys, strict=True):
        if np.isnan(y):
            if current:
                segments.append(current)
            current = []
        else:
            current.append(f"{x:.1f},{y:.1f}")
    if current:
        segments.append(current)
    lines = "".join(
        f'<polyline points="{" ".join(seg)}" fill="none" stroke="{LINE}" stroke-width="2"/>' if len(seg) > 1
        else f'<circle cx="{seg[0].split(",")[0]}" cy="{seg[0].split(",")[1]}" r="2" fill="{LINE}"/>'
        for seg in segments
    )
    weeks = pd.to_datetime(weekly["week"])
    first, last = weeks.iloc[0].strftime("%d %b %Y"), weeks.iloc[-1].strftime("%d %b %Y")
    return (
        f'<svg viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="Incidents per week">'
        f'<line x1="{left}" y1="{height - lower}" x2="{width - right}" y2="{height - lower}" stroke="#bbbbbb"/>'
        f'<text x="{left - 4}" y="{upper + 4}" font-size="10" text-anchor="end">{top:,.0f}</text>'
        f'<text x="{left - 4}" y="{height - lower}" font-size="10" text-anchor="end">0</text>'
        f'<text x="{left}" y="{height - 5}" font-size="10">{_e(first)}</text>'
        f'<text x="{width - right}" y="{height - 5}" font-size="10" text-anchor="end">{_e(last)}</text>'
        f"{lines}</svg>"
    )


def _rows(frame: pd.DataFrame, columns: Sequence[tuple[str, str]]) -> str:
    head = "".join(f"<th>{_e(label)}</th>" for _, label in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_e(f'{v:,.0f}' if isinstance(v, int | float | np.integer) else v)}</td>"
                         for v in (row[c] for c, _ in columns)) + "</tr>"
        for _, row in frame.iterrows()
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_STYLE = """
@page { size: A4 portrait; margin: 12mm; }
body { font: 10.5pt/1.35 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #111;
       max-width: 190mm; margin: 8mm auto; }
h1 { font-size: 18pt; margin: 0 0 2px 0; } h2 { font-size: 11.5pt; margin: 10px 0 4px 0; }
.meta { color: #444; margin: 0 0 8px 0; }
.kpis { display: grid; grid-template-columns: repeat(5, 1fr); gap: 6px; margin: 6px 0; }
.kpi { border: 1px solid #ccc; border-radius: 4px; padding: 4px 6px; }
.kpi b { display: block; font-size: 13pt; } .kpi span { color: #555; font-size: 8.5pt; }
.verdict { border-left: 4px solid #1f4e79; padding: 2px 8px; margin: 6px 0; }
.row { display: flex; gap: 14px; align-items: flex-start; } .row > * { flex: 1; }
table { border-collapse: collapse; width: 100%; font-size: 9pt; }
th, td { text-align: left; border-bottom: 1px solid #ddd; padding: 2px 4px; vertical-align: top; }
figure { margin: 0; } figcaption, .note { color: #555; font-size: 8.5pt; }
footer { margin-top: 8px; border-top: 1px solid #ccc; padding-top: 4px; color: #444; font-size: 8.5pt; }
@media print { body { margin: 0 auto; } }
"""


def render(p: Profile, map_svg: str, filters: str, generated: datetime | None = None,
           method: str = "") -> str:
    """The brief as one HTML document (no external links), from a neighborhood.Profile."""
    generated = generated or datetime.now()
    kpis = [
        ("Incidents", p.count_text, p.period),
        ("Same dates a year earlier", p.prior_text, ""),
        ("Change", p.pct_text, "significant after adjustment" if p.changed else ""),
        ("Per 1,000 residents", p.rate_text, f"rank {p.rate_rank_text}" if p.rate_rank_text else ""),
        ("Outreach events", f"{p.events:,}", "scheduled, placed here"),
    ]
    kpi_html = "".join(f'<div class="kpi"><span>{_e(label)}</span><b>{_e(value)}</b><span>{_e(sub)}</span></div>'
                       for label, value, sub in kpis)
    city = p.city or {}
    city_line = ("Citywide total withheld (public view)." if city.get("count") is None else
                 f"City: {city['count']:,} incidents"
                 + (f" ({city['pct_change']:+.1f}% vs a year earlier)" if city.get("pct_change") is not None else "")
                 + (f", {city['rate_per_1000']:,.1f} per 1,000 residents" if city.get("rate_per_1000") else "")
                 + ".")
    rank_line = f"Rank by incidents: {p.rank_text}." if p.rank_text else ""
    trend = sparkline_svg(p.weekly)
    offenses = (_rows(p.offenses, [("offense", "Offense"), ("count", "Incidents")]) if len(p.offenses)
                else "<p class='note'>No offense breakdown to show.</p>")
    shown_events = p.outreach.head(MAX_OUTREACH_ROWS)
    outreach = (_rows(shown_events, [("date", "Date"), ("title", "Title"), ("type", "Type")])
                if len(shown_events) else "")
    more = len(p.outreach) - len(shown_events)
    notes = [n for n in (p.public_note, p.weekly_note, p.offenses_note) if n]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Council brief: {_e(p.name)}</title>
<style>{_STYLE}</style></head>
<body>
<h1>{_e(p.name)}</h1>
<p class="meta">{_e(p.level_label)} {_e(p.area_id)} &middot; {_e(p.period)} &middot; {_e(filters)}</p>
<div class="kpis">{kpi_html}</div>
<p class="verdict"><b>Change vs a year earlier:</b> {_e(p.verdict)}</p>
<p>{_e(city_line)} {_e(rank_line)}</p>
<div class="row">
<figure>{map_svg}<figcaption>{_e(p.name)} (orange) among the {_e(p.level_label.lower())}s.</figcaption></figure>
<figure><h2>Incidents per week</h2>{trend or "<p class='note'>Weekly counts withheld.</p>"}
<figcaption>{_e(p.weekly_note)}</figcaption></figure>
</div>
<div class="row">
<section><h2>Top offenses</h2>{offenses}<p class="note">{_e(p.offenses_note)}</p></section>
<section><h2>Outreach held here</h2><p class="note">{_e(p.outreach_note)}</p>{outreach}
{f"<p class='note'>and {more:,} more (see the dashboard).</p>" if more > 0 else ""}</section>
</div>
<footer>
<p>{_e(" ".join(notes))}</p>
<p>Recorded crime is what was reported to and recorded by the police, not all crime; more trust in police
can mean more <i>reported</i> crime. Outreach is the published schedule, not attendance. {_e(method)}</p>
<p>Generated {_e(generated.strftime("%d %b %Y %H:%M"))} by the community policing dashboard.</p>
</footer>
</body></html>
"""


def file_name(p: Profile) -> str:
    """A safe download name: brief_<level>_<id>.html."""
    words = re.findall(r"[A-Za-z0-9]+", f"{p.level_label} {p.area_id}")
    return f"brief_{'_'.join(words).lower()}.html"
