"""The neighborhood map pages in a real browser (the app started with `make run`, Chromium through
Playwright, every request watched): clicking an area opens and then updates its drill-down panel, the
council brief downloads as a standalone page, the hot-spot hexagons draw, and no request leaves
localhost."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser_support import LOAD_TIMEOUT_MS, MAP_IFRAME, Session, map_frame

pytestmark = pytest.mark.browser

PANEL_HEADING = '[data-testid="stMain"] h3'


def _click_area(session: Session, index: int) -> str:
    """Click the index-th area on the map and wait for the panel to show it; return its heading."""
    frame = map_frame(session)
    heading = session.page.locator(PANEL_HEADING)
    before = heading.inner_text().strip() if heading.count() else ""
    frame.locator("path.leaflet-interactive").nth(index).click(force=True)
    expect(heading).to_have_count(1, timeout=LOAD_TIMEOUT_MS)
    expect(heading).not_to_have_text(before or "\u0000", timeout=LOAD_TIMEOUT_MS)
    session.wait_for_run()
    return heading.inner_text().strip()


def test_clicking_areas_opens_and_updates_the_drill_down(session: Session) -> None:
    session.open("/map", ready=MAP_IFRAME)
    page = session.page
    expect(page.get_by_text("Public view", exact=False).first).to_be_visible()
    first = _click_area(session, 5)
    main = page.locator('[data-testid="stMain"]')
    expect(main.get_by_text("Top offenses")).to_be_visible(timeout=LOAD_TIMEOUT_MS)
    expect(main.get_by_text("Outreach held here")).to_be_visible()
    expect(page.locator('[data-testid="stMetric"]').filter(has_text="Outreach events")).to_be_visible()
    expect(main.locator(".stPlotlyChart")).to_have_count(1, timeout=LOAD_TIMEOUT_MS)  # the weekly sparkline
    expect(main.get_by_text(re.compile(r"rank \d+ of 77 by incidents"))).to_be_visible()
    second = _click_area(session, 40)
    assert first and second and first != second, (first, second)
    session.screenshot("map-drill-down")
    session.assert_clean()


def test_council_brief_downloads_as_a_standalone_page(session: Session, tmp_path) -> None:
    session.open("/map", ready=MAP_IFRAME)
    name = _click_area(session, 12)
    button = session.page.get_by_role("button", name=re.compile("Council brief"))
    expect(button).to_be_visible(timeout=LOAD_TIMEOUT_MS)
    with session.page.expect_download(timeout=LOAD_TIMEOUT_MS) as download:
        button.click()
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    text = path.read_text(encoding="utf-8")
    assert path.name.startswith("brief_community_area_") and path.suffix == ".html"
    assert f"<h1>{name}</h1>" in text.replace("&#x27;", "'")
    assert "<svg" in text and "Incidents per week" in text
    assert not re.search(r"(?i)\b(src|href)\s*=", text) and "http" not in text
    session.assert_clean()


def test_hot_spot_hexagons_draw_offline(session: Session) -> None:
    session.open("/hotspots", ready=MAP_IFRAME)
    page = session.page
    expect(page.get_by_role("heading", name="Hot spots", level=1)).to_be_visible()
    frame = page.frame_locator(MAP_IFRAME)
    expect(frame.locator("path.leaflet-interactive").nth(500)).to_be_attached(timeout=LOAD_TIMEOUT_MS)
    expect(frame.locator(".dashboard-notes")).to_contain_text("Public view")
    expect(frame.locator(".leaflet-control-layers")).to_contain_text("Outreach events (scheduled)")
    session.screenshot("hotspots")
    session.assert_clean()
