"""Every page renders under AppTest on the real sample, with one filter interaction each and no
exception; the error boundary shows one error element, never a traceback."""

from __future__ import annotations

import json
import os
import re
from datetime import date
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import access, offline
from tests.conftest import REPO, staff_token

PAGES = ["views/overview.py", "views/map.py", "views/data.py", "views/trends.py", "views/compare.py",
         "views/hotspots.py", "views/upload.py", "views/outreach.py", "views/impact.py", "views/admin.py"]
TIMEOUT = 120  # the first run in a session seeds caches from the store
APP = REPO / "app.py"


def run_app(page: str | None = None, role: str | None = None) -> AppTest:
    """The app in a fresh session, signed in as ``role`` (through the real sign-in) or anonymous."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    if role:
        at.session_state["_session_token"] = staff_token(Path(os.environ["DASHBOARD_DATA_DIR"]), role)
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def set_widget(at: AppTest, key: str, value) -> None:
    """Change a sidebar filter and rerun. AppTest (1.67) drops widgets that an st.navigation entrypoint
    draws in the sidebar from its tree after the first run (a minimal two-page app shows the same), so
    the interaction goes through the widget's session state, which the widget reads on the rerun."""
    at.session_state[key] = value
    at.run()


def no_errors(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_every_page_is_smoke_tested():
    """PAGES is kept by hand (docs/developing.md, "Add a page"): it must name every page of access.PAGES."""
    assert sorted(PAGES) == sorted(f"views/{p.name}.py" for p in access.PAGES), (
        "tests/test_pages.py's PAGES and access.PAGES name different pages")


@pytest.mark.parametrize("page", PAGES)
def test_page_renders(app_env, page):
    least = access.PAGE_BY_NAME[Path(page).stem].least_role  # the least role that may open it
    at = run_app(page, role=None if least == "public" else least)
    no_errors(at)
    assert at.title[0].value


def test_overview_kpis_and_group_filter(app_env):
    at = run_app()
    metrics = {m.label: m.value for m in at.metric}
    total_all = int(metrics["Incidents"].replace(",", ""))
    set_widget(at, "filter_groups", ["homicide"])
    no_errors(at)
    homicides = int({m.label: m.value for m in at.metric}["Incidents"].replace(",", ""))
    assert 0 < homicides < total_all
    assert {m.label: m.value for m in at.metric}["Homicides"] == f"{homicides:,}"


def test_overview_2017_numbers_match_the_store(app_env, sample_store):
    from dashboard import config

    def count(year: int, exclude=None) -> int:
        return sample_store.count_incidents([], date(year, 1, 1), date(year, 12, 31),
                                            exclude_offenses=exclude)["count"].iloc[0]

    # anonymous: the public view, sensitive offenses left out
    sensitive = list(config.load().sensitive_offenses)
    at = run_app("views/overview.py")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Incidents"] == f"{count(2017, sensitive):,}"
    assert metrics["Same period last year"] == f"{count(2016, sensitive):,}"
    assert any("Public view" in c.value for c in at.caption)
    # command staff who switch the public-safe view off: every incident
    at = run_app("views/overview.py", role="command")
    set_widget(at, "public_safe", False)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Incidents"] == f"{count(2017):,}" and count(2017) > count(2017, sensitive)
    assert metrics["Same period last year"] == f"{count(2016):,}"
    assert any("interval" in md.value for md in at.markdown)
    assert not any("Public view" in c.value for c in at.caption)


def test_empty_group_selection_shows_friendly_empty_state(app_env):
    at = run_app()
    set_widget(at, "filter_groups", [])
    no_errors(at)
    assert any("No offense group is selected" in i.value for i in at.info)


def test_map_level_switch_to_beats(app_env):
    at = run_app("views/map.py")
    assert at.dataframe[0].value.shape[0] == 77
    set_widget(at, "filter_level", "beat")
    no_errors(at)
    assert at.dataframe[0].value.shape[0] == 275
    # beats have no population in the sample: asking for a rate says so instead of dividing by nothing
    at.segmented_control[0].set_value("Rate per 1,000 residents").run()
    assert any("No population is loaded" in w.value for w in at.warning)


def test_map_component_gets_only_local_assets(app_env):
    at = run_app("views/map.py")
    components = [el for el in at.main if type(el).__name__ == "UnknownElement"
                  and el.proto.DESCRIPTOR.name == "ComponentInstance"]
    assert len(components) == 1, "the map component was not rendered"
    args = json.loads(components[0].proto.json_args)
    links = args["css_links"] + args["js_links"]
    assert any(link.endswith("/leaflet.js") for link in links)
    assert all(link.startswith("/app/static/vendor/") for link in links), links
    assert not offline.external_urls(args["header"] + args["html"] + args["script"])
    assert args["returned_objects"] == ["last_active_drawing"]  # no rerun on pan or zoom
    for link in links:
        assert (REPO / "static" / "vendor" / link.rsplit("/", 1)[1]).is_file(), link


def test_data_page_lists_datasets_and_date_filter(app_env):
    at = run_app("views/data.py")
    status = at.dataframe[0].value
    assert set(status["Dataset"]) == {"incidents", "outreach", "areas", "population", "surveys"}
    assert any("No trust or safety survey data" in i.value for i in at.info)
    set_widget(at, "filter_dates", (date(2017, 6, 1), date(2017, 6, 30)))
    no_errors(at)
    assert at.title[0].value == "Data and sources"


def test_error_boundary_shows_one_error_and_no_traceback(app_env, monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("DASHBOARD_DATA_DIR", str(blocker / "sub"))
    from dashboard import loader

    loader.store.clear()
    loader.clear_settings()
    try:
        at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
        at.run()
        assert not at.exception
        assert len(at.error) == 1 and "Data folder cannot be created" in at.error[0].value
        assert any("DASHBOARD_DATA_DIR" in i.value.replace("\\_", "_") for i in at.info)
        assert not at.code  # no traceback
    finally:
        loader.store.clear()
        loader.clear_settings()


# ------------------------------------------------------------------ crime trends (CompStat)

TRENDS = "views/trends.py"


def run_trends(**params) -> AppTest:
    """The trends page opened from a link with these query parameters (a fresh session)."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.session_state["_session_token"] = staff_token(Path(os.environ["DASHBOARD_DATA_DIR"]), "command")
    at.query_params.update(params)
    at.run()
    at.switch_page(TRENDS)
    at.run()
    no_errors(at)
    return at


def test_trends_defaults_headline_and_url(app_env):
    at = run_trends()
    assert at.title[0].value == "Crime trends"
    assert [m.label for m in at.metric] == ["Week to date", "28 days", "Year to date", "Homicides",
                                               "Gun and weapons offenses"]
    assert at.query_params == {"anchor": "2017-12-31", "window": "28d", "level": "community_area", "groups": "all",
                               "area": "citywide", "harm": "0"}
    groups = at.dataframe[0].value
    assert groups["label"].tolist()[0] == "All selected offenses" and len(groups) == 9
    assert "not enough history" in " ".join(c.value for c in at.caption)  # 2016-2017 only: no 3-year average
    assert at.dataframe[1].value.shape[0] == 77


def test_trends_link_reopens_the_same_view(app_env):
    at = run_trends(anchor="2017-06-30", window="ytd", level="district", groups="homicide,violent", area="11",
                    harm="1")
    assert at.session_state["filter_level"] == "district"
    assert at.session_state["filter_groups"] == ["homicide", "violent"]
    assert at.date_input(key="trends_anchor").value == date(2017, 6, 30)
    assert at.segmented_control(key="trends_window").value == "ytd"
    assert at.selectbox(key="trends_area").value == "11" and at.toggle(key="trends_harm").value is True
    assert at.query_params["groups"] == "homicide,violent" and at.query_params["area"] == "11"
    assert at.dataframe[1].value.shape[0] == 23  # every district, District 11 picked for the headline
    assert any("District 11" in c.value for c in at.caption)
    assert any(e.label.startswith("Harm weights") for e in at.expander)
    assert not at.warning[:-1]  # only the standing reporting caveat
    set_widget(at, "filter_level", "beat")  # District 11 is no beat: back to citywide, and the URL says so
    no_errors(at)
    assert at.selectbox(key="trends_area").value == "citywide" and at.query_params["area"] == "citywide"


def test_trends_bad_link_falls_back_with_messages(app_env):
    at = run_trends(anchor="1999-01-01", window="fortnight", level="ward", groups="arson", harm="2")
    messages = [w.value for w in at.warning]
    assert sum(m.startswith("Ignored ") for m in messages) == 5
    assert at.query_params["anchor"] == "2017-12-31" and at.query_params["window"] == "28d"


def test_trends_widgets_update_tables_and_url(app_env):
    at = run_trends()
    at.segmented_control(key="trends_window").set_value("wtd").run()
    no_errors(at)
    assert at.query_params["window"] == "wtd"
    set_widget(at, "filter_level", "beat")
    no_errors(at)
    assert at.dataframe[1].value.shape[0] == 275 and at.query_params["level"] == "beat"
    set_widget(at, "filter_groups", ["homicide"])
    no_errors(at)
    assert at.dataframe[0].value["label"].tolist() == ["All selected offenses", "Homicide"]
    assert at.query_params["groups"] == "homicide"
    at.toggle(key="trends_harm").set_value(True).run()
    no_errors(at)
    assert at.query_params["harm"] == "1" and "harm" in at.subheader[0].value


def test_trends_answers_which_districts_changed_in_the_last_28_days(app_env):
    """The real sample, 28 days to 31 Dec 2017 against 4 Dec 2016 - 1 Jan 2017, all offenses."""
    at = run_trends(level="district")
    table = at.dataframe[1].value.set_index("name")
    assert table.loc["District 14", ["current", "prior"]].tolist() == [616, 821]
    assert table.loc["District 14", "finding"].startswith("unlikely to be chance (adjusted p")
    assert (table["finding"].str.startswith("unlikely")).sum() == 1  # the other 21 are within normal variation
    assert any(md.value.startswith("1 of 22 police districts changed") for md in at.markdown)


# ------------------------------------------------------------------ neighborhood map, compare, hot spots

SENSITIVE = ("CRIM SEXUAL ASSAULT", "CRIMINAL SEXUAL ASSAULT", "SEX OFFENSE", "OFFENSE INVOLVING CHILDREN",
             "HUMAN TRAFFICKING", "STALKING")


def map_features(at: AppTest) -> dict[str, dict]:
    """area_id -> properties of the features the folium component received (what the browser gets)."""
    (component,) = [el for el in at.main if type(el).__name__ == "UnknownElement"
                    and el.proto.DESCRIPTOR.name == "ComponentInstance"]
    script = json.loads(component.proto.json_args)["script"]
    decoder = json.JSONDecoder()
    features = {}
    for match in re.finditer(r"geo_json_\w+_add\(", script):
        data, _ = decoder.raw_decode(script, match.end())
        features |= {f["properties"]["area_id"]: f["properties"] for f in data["features"] if "area_id" in f["properties"]}
    return features


def raw_counts(year: int, by: str, groups: set | None = None, exclude=SENSITIVE):
    import pandas as pd

    raw = pd.read_parquet(REPO / "data" / "sample" / "incidents.parquet",
                          columns=["occurred_at", "offense", "offense_group", by])
    keep = (raw["occurred_at"].dt.year == year) & ~raw["offense"].isin(exclude)
    if groups is not None:
        keep &= raw["offense_group"].isin(groups)
    return raw[keep].groupby(by).size()


def test_map_counts_equal_the_table_and_the_raw_data(app_env):
    at = run_app("views/map.py")
    no_errors(at)
    features = map_features(at)
    table = at.dataframe[0].value.set_index("area_id")
    expected = raw_counts(2017, "community_area_id")  # public view: sensitive offenses left out
    assert len(features) == len(table) == 77
    for area_id, props in features.items():
        assert props["value_text"] == table.loc[area_id, "count_text"] == f"{expected.get(area_id, 0):,}"
    captions = " ".join(c.value for c in at.caption)
    assert f"City: {expected.sum():,} incidents" in captions and "Public view" in captions


def test_map_public_beats_never_show_a_small_count(app_env):
    at = run_app("views/map.py")
    set_widget(at, "filter_groups", ["homicide"])
    set_widget(at, "filter_level", "beat")
    no_errors(at)
    texts = at.dataframe[0].value["count_text"]
    features = map_features(at)
    assert len(features) == 275 and set(texts) == {p["value_text"] for p in features.values()} | set(texts)
    numbers = [int(t.replace(",", "")) for t in texts if t[0].isdigit()]
    assert all(n >= 5 for n in numbers) and (texts == "fewer than 5").sum() > 100
    expected = raw_counts(2017, "beat_id", {"homicide"})
    for area_id, props in features.items():
        if props["value_text"][0].isdigit():
            assert props["value_text"] == f"{expected[area_id]:,}"
    assert any("homicide" in c.value.lower() or "Homicide" in c.value for c in at.caption)


def test_map_measures_change_verdict_and_outreach_dose(app_env):
    at = run_app("views/map.py")
    at.segmented_control(key="map_measure").set_value("% change vs a year earlier").run()
    no_errors(at)
    assert any("%" in p["value_text"] for p in map_features(at).values())
    at.segmented_control(key="map_measure").set_value("Outreach dose").run()
    no_errors(at)
    note = " ".join(c.value for c in at.caption)
    assert "officer hours, contacts, attendees are empty" in note
    doses = [p["value_text"] for p in map_features(at).values()]
    assert "no population" not in doses and any(d != "0.00" for d in doses)


def test_full_view_setting_shows_every_count_with_sensitive_offenses(app_env, monkeypatch):
    from dashboard import loader

    monkeypatch.setenv("DASHBOARD_PUBLIC_VIEW", "false")
    loader.clear_settings()
    try:
        at = run_app("views/map.py", role="command")
        no_errors(at)
        assert any("Full view" in c.value for c in at.caption)
        expected = raw_counts(2017, "community_area_id", exclude=())
        features = map_features(at)
        assert all(p["value_text"] == f"{expected.get(a, 0):,}" for a, p in features.items())
    finally:
        loader.clear_settings()


def test_compare_page_shows_two_areas_side_by_side(app_env):
    at = run_app("views/compare.py")
    no_errors(at)
    # options sorted by name: Albany Park (14) and Archer Heights (57) first
    assert [s.value for s in at.selectbox if s.key and s.key.startswith("compare_")] == ["14", "57"]
    at.selectbox(key="compare_1").set_value("32").run()
    no_errors(at)
    assert [h.value for h in at.main.subheader] == ["Albany Park", "Loop"]
    assert len([m for m in at.metric if m.label == "Incidents"]) == 2
    assert len(at.get("plotly_chart")) == 2


def test_hotspots_page_density_and_gi_star(app_env):
    at = run_app("views/hotspots.py")
    no_errors(at)
    kpis = {m.label: m.value for m in at.metric}
    assert int(kpis["Hexagons"].replace(",", "")) > 800 and int(kpis["Hot spots"].replace(",", "")) > 0
    features = map_features(at)
    assert len(features) > 800 and all(p["value_text"] for p in features.values())
    numbers = [int(p["value_text"].replace(",", "")) for p in features.values() if p["value_text"][0].isdigit()]
    assert min(numbers) >= 5
    at.segmented_control(key="hex_layer").set_value("Hot and cold spots (Gi*)").run()
    no_errors(at)
    spots = {p["value_text"] for p in map_features(at).values()}
    assert spots <= {"hot spot (Gi*, p &lt; 0.05)", "cold spot (Gi*, p &lt; 0.05)", "not significant"}
    assert "by chance alone" in " ".join(c.value for c in at.caption)


def test_upload_page_maps_validates_commits_and_rolls_back(app_env, monkeypatch, tmp_path):
    """An other-city export (real Chicago rows in Boston's layout) through the upload page on a store of
    its own: suggested mapping, validation numbers, commit with the analyst's name, rollback; and a
    broken file shows one error with a fix."""
    from dashboard import loader
    from tests.fixtures import city_formats

    monkeypatch.setenv("DASHBOARD_DATA_DIR", str(tmp_path))
    loader.store.clear()
    loader.clear_settings()
    try:
        at = run_app("views/upload.py", role="analyst")
        data = city_formats.to_csv_bytes(city_formats.boston_format(city_formats.chicago_rows(400, seed=7)))
        at.file_uploader(key="upload_file").set_value(("boston.csv", data, "text/csv")).run()
        no_errors(at)
        fields = at.dataframe[0].value.set_index("field")  # the mapping table (a data editor)
        assert fields.loc["incident_id", "column"] == "INCIDENT_NUMBER"
        assert fields.loc["occurred_at", "column"] == "OCCURRED_ON_DATE"
        kpis = {m.label: m.value for m in at.metric}
        assert kpis["Rows in the file"] == "400" and kpis["Would be stored"] == "400"
        at.radio(key="upload_mode").set_value("replace").run()
        at.button(key="upload_commit").click().run()
        no_errors(at)
        assert any("now hold 400 rows" in i.value for i in at.info)
        assert any("v2** · active · 400 rows" in md.value and "test-analyst" in md.value for md in at.markdown)
        at.button(key="versions_incidents_1").click().run()
        assert any("version 1 is active again" in i.value for i in at.info)
        assert loader.store().versions("incidents").query("active")["version"].tolist() == [1]
        profiles = list((tmp_path / "profiles").glob("*.json"))
        assert len(profiles) == 1 and "OCCURRED_ON_DATE" in profiles[0].read_text()

        at.file_uploader(key="upload_file").set_value(("page.csv", b"<!DOCTYPE html><html></html>", "text/csv")).run()
        assert not at.exception and len(at.error) == 1 and "web page" in at.error[0].value
        assert any("How to fix it" in i.value for i in at.info)
    finally:
        loader.store.clear()
        loader.clear_settings()


def test_map_find_by_name_opens_the_panel_with_outreach_and_brief(app_env):
    at = run_app("views/map.py")
    assert not at.main.subheader  # nothing chosen yet: no panel
    at.selectbox(key="find_community_area").set_value("25").run()
    no_errors(at)
    assert [h.value for h in at.main.subheader] == ["Austin"]
    metrics = {m.label: m.value for m in at.metric}
    table = at.dataframe[-1].value.set_index("area_id")  # the area list is the last table
    assert metrics["Incidents"] == table.loc["25", "count_text"]
    outreach = [d.value for d in at.dataframe if "title" in d.value.columns]
    assert outreach and len(outreach[0]) == int(metrics["Outreach events"].replace(",", "")) > 0
    assert any("Council brief" in b.label for b in at.get("download_button"))


# ------------------------------------------------------------------ outreach and impact (issue 5)


def test_outreach_page_dose_gap_adoption_and_programs_without_data(app_env):
    at = run_app("views/outreach.py", role="command")
    no_errors(at)
    assert at.title[0].value == "Outreach"
    assert any("Not recorded in the loaded outreach" in i.value and "officer hours" in i.value for i in at.info)
    assert any("No data loaded for:" in c.value and "Cops and Barbers" in c.value and "#9PMRoutine" in c.value
               for c in at.caption)
    sentence = next(m.value for m in at.markdown if "rank correlation" in m.value)
    assert "Across 77 areas" in sentence
    frames = [df.value for df in at.dataframe]
    dose = next(v for v in frames if "events_per_1000" in v.columns)
    assert len(dose) == 77 and dose["events_per_1000"].notna().any()
    conc = next(v for v in frames if "top3_share" in v.columns)
    assert conc.set_index("event_type").loc["beat_meeting", "units_running"] == 22
    # one interaction: harm = violent crime and homicide changes the correlation sentence
    at.segmented_control(key="outreach_harm").set_value("Violent crime and homicide").run()
    no_errors(at)
    assert any("violent crime and homicide" in m.value for m in at.markdown)
    set_widget(at, "filter_level", "beat")
    no_errors(at)
    dose = next(df.value for df in at.dataframe if "events_per_1000" in df.value.columns)
    assert len(dose) == 275 and dose["events_per_1000"].isna().all()  # no beat population: no rates
    assert any("No population is loaded for police beats" in c.value for c in at.caption)


def test_impact_page_compares_beats_with_many_and_few_caps_meetings(app_env, sample_store):
    import pandas as pd

    from dashboard import designs

    at = run_app("views/impact.py", role="command")
    no_errors(at)
    assert at.title[0].value == "Impact"
    caption = next(c.value for c in at.caption if "treated police beats" in c.value)
    assert "top quarter by beat meeting events in the 52 weeks before 02 Jan 2017" in caption
    verdicts = [m.value for m in at.markdown if "95% interval" in m.value]
    assert len(verdicts) == 3, verdicts  # WDD, event study, ITS
    assert any("A dose comparison, not an on/off trial" in i.value for i in at.info)
    assert any("No trust or safety survey data is loaded" in i.value for i in at.info)
    assert any("reported" in w.value and "Gill et al. 2014" in w.value for w in at.warning)

    # the WDD equals designs.wdd on counts taken straight from the store for the page's groups
    groups = next(df.value for df in at.dataframe if "group" in df.value.columns)
    counts = sample_store.count_incidents(["beat", "week"], date(2016, 1, 4), date(2017, 12, 31))
    counts["period"] = ["before" if pd.Timestamp(w).date() < date(2017, 1, 2) else "after" for w in counts["week"]]
    merged = counts.merge(groups[["area_id", "group"]], left_on="beat", right_on="area_id")
    sums = merged.groupby(["group", "period"])["count"].sum()
    pair = {g: (float(sums[(g, "before")]), float(sums[(g, "after")])) for g in ("treated", "comparison", "buffer")}
    wdd_table = next(df.value for df in at.dataframe if "verdict" in df.value.columns and "unit" in df.value.columns)
    poisson_total = designs.wdd(pair["treated"], pair["comparison"], pair["buffer"], scale_to_before=True)
    assert wdd_table["estimate"].iloc[-1] == pytest.approx(poisson_total.total.estimate, abs=1e-6)
    assert wdd_table["high"].iloc[-1] == pytest.approx(poisson_total.total.high, abs=1e-6)

    # one interaction: a 26-week window re-runs every design
    at.select_slider(key="impact_weeks").set_value(26).run()
    no_errors(at)
    assert any("26 weeks before and after" in c.value for c in at.caption)
    assert len([m.value for m in at.markdown if "95% interval" in m.value]) == 3


def test_impact_page_says_no_data_for_programs_not_loaded(app_env):
    at = run_app("views/impact.py", role="command")
    at.selectbox(key="impact_type").set_value("cops_and_barbers").run()
    no_errors(at)
    assert any("No data loaded for Cops and Barbers" in i.value for i in at.info)
    assert not [m.value for m in at.markdown if "95% interval" in m.value]


def test_admin_page_adds_a_user_changes_a_setting_and_shows_the_audit(app_env):
    from dashboard.store import Store

    at = run_app("views/admin.py", role="admin")
    no_errors(at)
    at.text_input(key="new_user").input("page-test-council")
    at.selectbox(key="new_role").set_value("council")
    at.text_input(key="new_password").input("a long enough passphrase")
    at.button(key="FormSubmitter:add_user-Add user").click().run()
    no_errors(at)
    assert any("Added page-test-council" in s.value for s in at.success)
    at.text_input(key="set_DASHBOARD_MIN_CELL_COUNT").input("7")
    at.button(key="FormSubmitter:setting_DASHBOARD_MIN_CELL_COUNT-Save").click().run()
    no_errors(at)
    store = Store(app_env / "dashboard.duckdb")
    try:
        assert store.setting_overrides()["DASHBOARD_MIN_CELL_COUNT"] == "7"
        log = at.dataframe[-1].value
        assert {"user_add", "setting_change"} <= set(log["action"])
        assert (log[log["action"] == "user_add"]["actor"] == "test-admin").any()
        # a bad value is refused on the page, with the setting's help, and nothing is stored
        at.text_input(key="set_DASHBOARD_MIN_CELL_COUNT").input("2")
        at.button(key="FormSubmitter:setting_DASHBOARD_MIN_CELL_COUNT-Save").click().run()
        assert any("Setting not changed" in e.value for e in at.error)
        assert store.setting_overrides()["DASHBOARD_MIN_CELL_COUNT"] == "7"
    finally:
        store.write([("DELETE FROM app_settings", []), ("DELETE FROM users WHERE username = ?", ["page-test-council"])])
        store.close()
