"""ui: the error presenter's shape, CSV downloads that cannot run formulas, small formatters."""

from __future__ import annotations

import pandas as pd
from streamlit.testing.v1 import AppTest

from dashboard import ui
from tests.conftest import REPO


def test_safe_csv_defuses_formula_cells():
    frame = pd.DataFrame({"name": ["=HYPERLINK(\"x\")", "+1", "-2", "@SUM(A1)", "\tx", "Austin"], "n": [1, 2, 3, 4, 5, 6]})
    text = ui.safe_csv(frame).decode()
    lines = text.splitlines()[1:]
    assert [line.split(",")[0].strip('"') for line in lines][:5] == ["'=HYPERLINK(\"\"x\"\")", "'+1", "'-2",
                                                                     "'@SUM(A1)", "'\tx"]
    assert lines[5] == "Austin,6"


def _page_raising_dashboard_error():
    import pandas as pd

    from dashboard import ui
    from dashboard.errors import IngestError

    with ui.error_boundary():
        raise IngestError("Bad file", "Row 2 has no date.", hint="Fix the date column.",
                          details=pd.DataFrame({"row": [2], "reason": ["unparseable date"]}))


def _page_raising_unexpected():
    from dashboard import ui

    with ui.error_boundary(show_details=False):
        raise RuntimeError("secret internals")


def test_error_shape_is_one_error_with_hint_and_details():
    at = AppTest.from_function(_page_raising_dashboard_error).run()
    assert not at.exception
    assert len(at.error) == 1 and at.error[0].value.startswith("**Bad file**")
    assert "Fix the date column." in at.info[0].value
    assert at.expander[0].label == "Details (1 rows)"


def test_unexpected_error_hides_details_but_says_what_to_do():
    at = AppTest.from_function(_page_raising_unexpected).run()
    assert not at.exception
    assert len(at.error) == 1 and "secret internals" not in at.error[0].value
    assert not at.code


def test_formatters():
    assert ui.pct_text(None) is None and ui.pct_text(-3.14) == "-3.1% vs last year"
    assert ui.escape("<b>*x*</b>") == "&lt;b&gt;\\*x\\*&lt;/b&gt;"
    status = ui.status_table([{"dataset": "incidents", "version": 1, "rows": 3, "min_date": "2017-01-01T00:00:00",
                               "max_date": None, "loaded_at": "x", "source": "s", "versions": 1}])
    assert list(status.columns)[:3] == ["Dataset", "Active version", "Rows"]


# ------------------------------------------------------------------ crime trends page widgets


def _trends_controls_page():
    from datetime import date

    import pandas as pd

    from dashboard import compstat, ui

    default = compstat.TrendsView(anchor=date(2017, 12, 31), level="district", offense_groups=("homicide",))
    anchor, window, area, harm = ui.trends_controls(default, date(2017, 1, 26), date(2017, 12, 31),
                                                    {"citywide": "Citywide", "11": "District 11"}, "Police district")
    view = compstat.TrendsView(anchor, window, "district", ("homicide",), area, harm)
    ui.sync_query_params(compstat.trends_query(view, ["homicide", "violent"]))
    rows = pd.DataFrame({"window_label": ["28 days"], "current": [29.0], "prior": [42.0], "pct_change": [-31.0],
                         "verdict": ["Down 31% (29 vs 42): unlikely to be chance (p = 0.003)."], "changed": [True]})
    ui.verdict_kpis(rows, "window_label")
    ui.deferred_csv_download(rows, "Numbers (CSV)", "x.csv", key="csv")


def test_trends_controls_write_every_change_into_the_url():
    at = AppTest.from_function(_trends_controls_page).run()
    assert not at.exception
    assert at.query_params == {"anchor": "2017-12-31", "window": "28d", "level": "district", "groups": "homicide",
                               "area": "citywide", "harm": "0"}
    at.selectbox(key="trends_area").set_value("11").run()
    at.toggle(key="trends_harm").set_value(True).run()
    at.date_input(key="trends_anchor").set_value(__import__("datetime").date(2017, 6, 30)).run()
    assert (at.query_params["area"], at.query_params["harm"], at.query_params["anchor"]) == ("11", "1", "2017-06-30")
    assert at.metric[0].label == "28 days" and at.metric[0].value == "29"
    assert at.markdown[0].value.startswith("**Down 31%")  # a real change is in bold
    assert at.get("download_button")[0].label == "Numbers (CSV)"


def _trends_url_page():
    from datetime import date

    from dashboard import compstat, periods, ui

    default = compstat.TrendsView(anchor=date(2017, 12, 31), level="community_area", offense_groups=("homicide",))
    current = periods.Filters(date(2017, 1, 1), date(2017, 12, 31), ("homicide",), "community_area")
    for message in ui.trends_state_from_url(lambda p: compstat.parse_trends_query(
            p, default, date(2016, 1, 1), date(2017, 12, 31), ["homicide", "violent"],
            ["community_area", "district"], lambda lvl: {"citywide", "11"}), current):
        ui.warning(message)


def test_url_seeds_the_page_and_asks_the_sidebar_for_its_filters_once():
    at = AppTest.from_function(_trends_url_page)
    at.query_params.update({"anchor": "2017-06-30", "window": "ytd", "level": "district", "groups": "violent",
                            "area": "11", "harm": "1", "bogus": "x"})
    at.run()
    assert not at.exception
    state = at.session_state
    assert (state["trends_anchor"], state["trends_window"]) == (__import__("datetime").date(2017, 6, 30), "ytd")
    assert (state["trends_area"], state["trends_harm"]) == ("11", True)
    # The sidebar (not drawn in this test page) is asked for the link's geography and groups on the rerun.
    assert state["_pending_filters"] == {"filter_level": "district", "filter_groups": ["violent"]}
    state["trends_window"] = "wtd"
    at.run()  # later runs do not read the URL again
    assert at.session_state["trends_window"] == "wtd" and not at.warning


def test_bad_url_values_become_messages_not_errors():
    at = AppTest.from_function(_trends_url_page)
    at.query_params.update({"anchor": "yesterday", "window": "decade"})
    at.run()
    assert not at.exception and not at.error
    assert [w.value.split(":")[0] for w in at.warning] == ["Ignored anchor='yesterday' from the link",
                                                           "Ignored window='decade' from the link"]


def test_latest_choice_follows_whichever_changed_last(monkeypatch):
    monkeypatch.setattr(ui.st, "session_state", {})
    assert ui.latest_choice(None, None, "k") is None
    assert ui.latest_choice("7", None, "k") == "7"  # a click
    assert ui.latest_choice("7", None, "k") == "7"  # the map repeats its last click on every rerun
    assert ui.latest_choice("7", "25", "k") == "25"  # then a pick from the list
    assert ui.latest_choice("7", "25", "k") == "25"
    assert ui.latest_choice("8", "25", "k") == "8"  # a new click wins again


def _page_design_results():
    from dashboard import ui
    from dashboard.designs import estimates

    ui.design_result("WDD", estimates.Estimate.from_se("wdd", "x", "count", -120.0, 40.0,
                                                     versus="the comparison areas imply"), "help")
    ui.design_result("ES", estimates.Skipped("event_study", "No comparison areas."), "help")


def test_design_result_shows_estimate_interval_verdict_and_detectable_effect_or_why_not():
    at = AppTest.from_function(_page_design_results).run()
    assert not at.exception
    texts = [m.value for m in at.markdown]
    assert "### 120 fewer" in texts
    assert any("unlikely to be chance" in t for t in texts)
    captions = [c.value for c in at.caption]
    assert any(c.startswith("95% interval 198 fewer to 42 fewer") for c in captions)
    assert any("about 112 incidents either way" in c for c in captions)
    assert [i.value for i in at.info] == ["Not run: No comparison areas."]


def _page_raising_error_with_markup():
    from dashboard import ui
    from dashboard.errors import IngestError

    with ui.error_boundary():
        raise IngestError("Bad file", "Column '**<b>x</b>**' [link](http://evil) is empty.", hint="Fix _it_.")


def test_error_text_from_files_is_shown_literally_not_as_markdown():
    at = AppTest.from_function(_page_raising_error_with_markup).run()
    text = at.error[0].value
    assert "\\*\\*&lt;b&gt;x&lt;/b&gt;\\*\\*" in text and "\\[link](" in text  # no bold, no tag, no link
    assert "\\_it\\_" in at.info[0].value


def _page_without_filters():
    import streamlit as st

    from dashboard import ui

    ui.set_filters(None)
    ui.require_filters("Nothing to map for this selection.")
    st.write("not reached")


def test_require_filters_shows_an_empty_state_and_stops_the_page():
    at = AppTest.from_function(_page_without_filters).run()
    assert not at.exception
    assert at.info[0].value.startswith("Nothing to map for this selection.")
    assert not [m for m in at.markdown if m.value == "not reached"]


def test_streamlit_config_is_hardened():
    import tomllib

    cfg = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert cfg["server"]["enableXsrfProtection"] is True and cfg["server"]["enableCORS"] is True
    assert cfg["server"]["maxUploadSize"] <= 200 and cfg["server"]["headless"] is True
    assert cfg["client"]["showErrorDetails"] == "none"
    assert cfg["client"]["disableDataExport"] is True  # st.dataframe's CSV does not defuse formulas
    assert cfg["browser"]["gatherUsageStats"] is False
    assert cfg["runner"]["magicEnabled"] is False
    from dashboard import config

    assert config.load({}).show_error_details is False


def test_download_file_names_are_safe():
    assert ui.safe_file_name('rejected_<img src=x onerror="alert(1)">.csv.csv') == "rejected__img_src_x_onerror_alert_1_.csv.csv"
    assert ui.safe_file_name("../../etc/passwd") == "etc_passwd"
    assert ui.safe_file_name("<>") == "download"


def test_folium_map_renders_the_map_once_and_sends_what_a_default_st_folium_sends(monkeypatch):
    import itertools

    import branca.element
    import folium
    import geopandas as gpd
    import streamlit_folium
    from shapely.geometry import box

    from dashboard import maps, offline

    def build() -> folium.Map:
        ids = itertools.count()  # the same element ids for both maps, so their output can be compared
        monkeypatch.setattr(branca.element.Element, "_generate_id", classmethod(lambda cls: f"{next(ids):032x}"))
        areas = gpd.GeoDataFrame({"area_id": ["1", "2"], "name": ["North", "South"]},
                                 geometry=[box(-87.7, 41.9, -87.6, 42.0), box(-87.7, 41.8, -87.6, 41.9)], crs="EPSG:4326")
        return maps.count_choropleth(areas, pd.DataFrame({"area_id": ["1", "2"], "count": [10, 20]}),
                                     value_column="count", label="Incidents", legend_title="Incidents", level_label="Area")

    sent: list[dict] = []

    def record(**kwargs):
        sent.append({k: v for k, v in kwargs.items() if k != "on_change"})
        return kwargs["default"]

    renders = {"n": 0}
    original_render = folium.Map.render

    def counting_render(self, **kwargs):
        renders["n"] += 1
        return original_render(self, **kwargs)

    monkeypatch.setattr(streamlit_folium, "_component_func", record)
    monkeypatch.setattr(folium.Map, "render", counting_render)
    ui.folium_map(build(), key="map", static_url="/app/static/vendor")
    assert renders["n"] == 1
    offline.patch_streamlit_folium("/app/static/vendor")
    streamlit_folium.st_folium(build(), key="map", height=560, use_container_width=True,
                               returned_objects=["last_active_drawing"])
    assert renders["n"] == 3  # the library's default renders twice
    assert len(sent) == 2 and sent[0] == sent[1]


def _csv_download_page():
    import pandas as pd

    from dashboard import ui

    ui.csv_download(pd.DataFrame({"name": ["=1+1", "Austin"], "n": [1, 2]}), "Numbers (CSV)", "x.csv", key="csv")


def test_csv_download_writes_the_defused_csv_only_when_clicked(monkeypatch):
    import streamlit as st

    made: list[bytes] = []
    real_safe_csv = ui.safe_csv
    monkeypatch.setattr(ui, "safe_csv", lambda frame: made.append(real_safe_csv(frame)) or made[-1])
    seen = []
    real_button = st.download_button
    monkeypatch.setattr(st, "download_button", lambda label, data=None, *a, **k: seen.append(data) or real_button(label, data, *a, **k))
    at = AppTest.from_function(_csv_download_page).run()
    assert not at.exception and at.get("download_button")[0].label == "Numbers (CSV)"
    assert made == [] and len(seen) == 1 and callable(seen[0])  # nothing written on the run
    assert seen[0]().decode().splitlines() == ["name,n", "'=1+1,1", "Austin,2"]
