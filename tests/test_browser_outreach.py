"""Outreach and Impact pages in a real browser (the app started with `make run`): each page draws its
plotly charts, asks no host but this server for anything, and answers one interaction.

Needs /usr/bin/chromium (see tests/browser_support.py).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser_support import LOAD_TIMEOUT_MS, STAFF_PASSWORD, Session

pytestmark = pytest.mark.browser

CHART = ".stPlotlyChart"
# The impact page fits its models on first open (a few seconds; longer on a busy machine).
IMPACT_TIMEOUT_MS = 3 * LOAD_TIMEOUT_MS


def test_outreach_page_draws_and_switches_harm_measure(session: Session) -> None:
    session.open("/outreach", ready=CHART, role="command")
    page = session.page
    expect(page.get_by_role("heading", name="Outreach", level=1)).to_be_visible()
    expect(page.locator(".js-plotly-plot .main-svg path").first).to_be_attached(timeout=LOAD_TIMEOUT_MS)
    page.get_by_role("tab", name="Is outreach going where the harm is?").click()
    scatter = page.locator(".js-plotly-plot .scatterlayer .point")
    expect(scatter.first).to_be_visible(timeout=LOAD_TIMEOUT_MS)
    assert scatter.count() >= 70, f"expected a point per community area, got {scatter.count()}"
    sentence = page.get_by_text("rank correlation", exact=False).first
    expect(sentence).to_contain_text("incidents")
    page.get_by_text("Violent crime and homicide", exact=True).click()
    session.wait_for_run()
    expect(page.get_by_text("violent crime and homicide and outreach events", exact=False).first).to_be_visible(
        timeout=LOAD_TIMEOUT_MS)
    session.screenshot("outreach")
    session.assert_clean()


def test_impact_page_draws_designs_and_event_study(session: Session) -> None:
    session.page.set_default_timeout(IMPACT_TIMEOUT_MS)
    session.page.goto(session.app.url + "/impact", wait_until="domcontentloaded", timeout=LOAD_TIMEOUT_MS)
    page = session.page
    session.sign_in("browser-command", STAFF_PASSWORD)
    expect(page.get_by_text("95% interval", exact=False).first).to_be_visible(timeout=IMPACT_TIMEOUT_MS)
    session.assert_no_error_box()
    session.wait_for_run()
    expect(page.get_by_role("heading", name="Impact", level=1)).to_be_visible()
    for title in ("Weighted Displacement Difference", "Stacked event study", "Interrupted time series"):
        expect(page.get_by_text(title, exact=True).first).to_be_visible()
    expect(page.get_by_text("No trust or safety survey data is loaded", exact=False)).to_be_visible()
    page.get_by_role("tab", name="Event study").click()
    bars = page.locator(".js-plotly-plot .errorbars path")
    expect(bars.first).to_be_attached(timeout=LOAD_TIMEOUT_MS)
    assert bars.count() >= 10, f"expected error bars for the leads and lags, got {bars.count()}"
    session.screenshot("impact")
    session.assert_clean()
