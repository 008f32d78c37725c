"""Every page renders under AppTest on the real sample, with one filter interaction each and no
exception; the error boundary shows one error element, never a traceback."""

from __future__ import annotations

import json
from datetime import date

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import offline
from tests.conftest import REPO

PAGES = ["views/overview.py", "views/map.py", "views/data.py"]
TIMEOUT = 120  # the first run in a session seeds caches from the store
APP = REPO / "app.py"


def run_app(page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
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


@pytest.mark.parametrize("page", PAGES)
def test_page_renders(app_env, page):
    at = run_app(page)
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
    at = run_app("views/overview.py")
    expected = sample_store.count_incidents([], date(2017, 1, 1), date(2017, 12, 31))["count"].iloc[0]
    prior = sample_store.count_incidents([], date(2016, 1, 1), date(2016, 12, 31))["count"].iloc[0]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Incidents"] == f"{expected:,}"
    assert metrics["Same period last year"] == f"{prior:,}"
    assert any("interval" in md.value for md in at.markdown)


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
    loader.settings.clear()
    try:
        at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
        at.run()
        assert not at.exception
        assert len(at.error) == 1 and "Data folder cannot be created" in at.error[0].value
        assert any("DASHBOARD_DATA_DIR" in i.value for i in at.info)
        assert not at.code  # no traceback
    finally:
        loader.store.clear()
        loader.settings.clear()
