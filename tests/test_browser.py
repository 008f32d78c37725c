"""End-to-end checks in a real browser: the app started with the README's command (`make run`), each
page opened in Debian's Chromium through Playwright, with every request the page makes watched.

What is checked, per page: no error box, the expected drawing (plotly charts, the Leaflet choropleth
inside the streamlit-folium iframe, the data table), no request to any host but this server (the app
must work on an air-gapped network), no JavaScript dialog. Screenshots of every page are written to a
temporary folder (or to $DASHBOARD_SCREENSHOT_DIR) so a failing run can be looked at.

Needs /usr/bin/chromium (`apt-get install -y chromium`; `make test` installs it). Without it these tests
are skipped locally and fail on CI (CI=true).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser_support import LOAD_TIMEOUT_MS, MAP_IFRAME, STAFF_PASSWORD, Session, map_frame

pytestmark = pytest.mark.browser


def test_overview_draws_charts(session: Session) -> None:
    session.open("/", ready=".stPlotlyChart")
    page = session.page
    expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()
    charts = page.locator(".stPlotlyChart")
    expect(charts.first).to_be_visible(timeout=LOAD_TIMEOUT_MS)
    expect(page.locator(".js-plotly-plot .main-svg path").first).to_be_attached(timeout=LOAD_TIMEOUT_MS)
    assert charts.count() >= 3, f"expected the weekly, offense-group and top-areas charts, got {charts.count()}"
    assert page.locator(".js-plotly-plot .main-svg path").count() > 0
    session.screenshot("overview")
    session.assert_clean()


def test_map_draws_choropleth_offline(session: Session) -> None:
    session.open("/map", ready=MAP_IFRAME)
    page = session.page
    expect(page.get_by_role("heading", name="Neighborhood map", level=1)).to_be_visible()
    frame = map_frame(session)
    polygons = frame.locator("path.leaflet-interactive")
    assert polygons.count() > 10, f"only {polygons.count()} polygons drawn"
    # branca's colour legend: <div class="legend leaflet-control"><svg id="legend"> with a <rect> per step.
    expect(frame.locator(".legend.leaflet-control svg rect").first).to_be_attached(timeout=LOAD_TIMEOUT_MS)
    expect(page.get_by_text("Click a community area on the map")).to_be_visible()
    session.screenshot("map")
    session.assert_clean()
    vendor = [url for url in session.traffic.requests if "/app/static/vendor/" in url]
    assert any(url.endswith("/leaflet.js") for url in vendor), (
        "leaflet.js was not loaded from /app/static/vendor:\n" + "\n".join(session.traffic.requests))


def test_map_click_shows_area_readout(session: Session) -> None:
    session.open("/map", ready=MAP_IFRAME)
    page = session.page
    frame = map_frame(session)
    prompt = page.get_by_text("Click a community area on the map")
    expect(prompt).to_be_visible()
    readout = page.locator('[data-testid="stMain"] h3')
    expect(readout).to_have_count(0)
    frame.locator("path.leaflet-interactive").first.click(force=True)
    expect(readout).to_have_count(1, timeout=LOAD_TIMEOUT_MS)
    expect(prompt).to_have_count(0, timeout=LOAD_TIMEOUT_MS)
    session.wait_for_run()
    name = readout.inner_text().strip()
    assert name, "the readout heading is empty"
    expect(page.locator('[data-testid="stMetric"]').filter(has_text="Per 1,000 residents")).to_be_visible()
    session.screenshot("map-clicked")
    session.assert_clean()


def test_data_page_shows_tables(session: Session) -> None:
    session.open("/data", ready='[data-testid="stDataFrame"]')
    page = session.page
    expect(page.get_by_role("heading", name="Data and sources", level=1)).to_be_visible()
    tables = page.locator('[data-testid="stDataFrame"]')
    expect(tables.first).to_be_visible(timeout=LOAD_TIMEOUT_MS)
    assert tables.count() == 1, "anonymous visitors get the status table, not the version list"
    session.sign_in("browser-command", STAFF_PASSWORD)  # staff also see who loaded which version
    expect(tables).to_have_count(2, timeout=LOAD_TIMEOUT_MS)
    session.screenshot("data")
    session.assert_clean()
