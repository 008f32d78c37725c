"""Crime trends in a real browser: a shared link (the URL's query string) reopens the same view, and
changing a widget writes the new view back into the URL. The app is started with `make run` and
opened in Debian's Chromium (tests/browser_support.py); no request may leave this server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser_support import LOAD_TIMEOUT_MS, Session

pytestmark = pytest.mark.browser

LINK = "/trends?anchor=2017-06-30&window=ytd&level=district&groups=homicide,violent&area=11&harm=1"


def selected_groups(session: Session) -> list[str]:
    tags = session.page.locator('.st-key-filter_groups [aria-label="Selected values"] [data-tag]')
    return [tags.nth(i).get_attribute("aria-label") for i in range(tags.count())]


def test_shared_link_reopens_the_view_and_widgets_write_the_url(session: Session) -> None:
    session.open(LINK, ready=".stPlotlyChart", role="command")
    page = session.page
    expect(page.get_by_role("heading", name="Crime trends", level=1)).to_be_visible()

    # The page's own widgets show the link's values ...
    anchor = page.locator(".st-key-trends_anchor [data-testid=stDateInputField]")
    assert re.sub(r"\D", "", anchor.inner_text()) == "20170630"
    window = page.locator('.st-key-trends_window [role="radio"][aria-checked="true"]')
    expect(window).to_have_text("Year to date")
    expect(page.locator(".st-key-trends_area input")).to_have_value("District 11")
    expect(page.locator('.st-key-trends_harm input[role="switch"]')).to_be_checked()
    # ... and so do the shared sidebar filters the link names.
    expect(page.locator(".st-key-filter_level input")).to_have_value("Police district")
    assert selected_groups(session) == ["Homicide", "Violent (other than homicide)"]
    expect(page.get_by_text("District 11 · Year to date")).to_be_visible()
    session.screenshot("trends-from-link")

    # Changing a widget rewrites the URL, so the new link reproduces the new view.
    page.locator('.st-key-trends_window [role="radio"]', has_text="28 days").click()
    expect(page).to_have_url(re.compile(r"window=28d"), timeout=LOAD_TIMEOUT_MS)
    session.wait_for_run()
    url = page.url
    for part in ("anchor=2017-06-30", "level=district", "groups=homicide%2Cviolent", "area=11", "harm=1"):
        assert part in url or part.replace("%2C", ",") in url, url
    page.locator('.st-key-trends_harm input[role="switch"]').click(force=True)
    expect(page).to_have_url(re.compile(r"harm=0"), timeout=LOAD_TIMEOUT_MS)
    session.wait_for_run()

    # The numbers behind the chart download as CSV (made on click, not on every rerun).
    with page.expect_download(timeout=LOAD_TIMEOUT_MS) as download:
        page.get_by_role("button", name="Weekly numbers (CSV)").click()
    lines = Path(download.value.path()).read_text().splitlines()
    assert lines[0].startswith("week,count,rolling_mean,last_year,expected,low,high") and len(lines) == 53
    session.assert_clean()


def test_bad_link_values_fall_back_with_a_message(session: Session) -> None:
    session.open("/trends?anchor=not-a-date&window=28d", ready=".stPlotlyChart", role="command")
    page = session.page
    expect(page.get_by_text("Ignored anchor='not-a-date' from the link")).to_be_visible()
    expect(page).to_have_url(re.compile(r"anchor=2017-12-31"), timeout=LOAD_TIMEOUT_MS)
    session.assert_clean()
