"""Hostile input stays inert, in a real browser: the app runs on a store whose every text field (offense
text, blocks, location types, case numbers, area names at every level, event titles, venues, units,
programs, version sources and authors) carries script and HTML payloads, and an upload whose file name,
headers and cells carry them too. Every page is opened as an administrator (all pages, full view) and as
the public, the map is hovered and clicked, the outreach tabs are walked, the upload is mapped; after
each step no dialog has fired, no element a payload would create exists in any frame, and no payload
set ``window.__pwned``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from dashboard import access
from tests.browser_support import LOAD_TIMEOUT_MS, MAP_IFRAME, STAFF_PASSWORD, App, Session, serve
from tests.fixtures import hostile

pytestmark = pytest.mark.browser
HOVERS = 2 * len(hostile.PAYLOADS)  # area names cycle through the payloads: two rounds of them

TRACES = """() => {
  const found = [];
  if (window.__pwned) found.push('window.__pwned set');
  for (const el of document.querySelectorAll('[id^="pwn"], a[href^="javascript:" i], iframe[srcdoc]'))
    found.push(el.outerHTML.slice(0, 120));
  return found;
}"""


@pytest.fixture(scope="module")
def app(hostile_data_dir) -> Iterator[App]:
    """Overrides the shared app for this module: the app on the hostile store."""
    data_dir = hostile_data_dir
    with serve(data_dir, data_dir / "streamlit.log", {"DASHBOARD_LOG_LEVEL": "WARNING"}, via_make=False) as running:
        yield running


def assert_inert(session: Session, where: str) -> None:
    traces = []
    for frame in session.page.frames:
        try:
            traces += [f"{frame.url[:60]}: {t}" for t in frame.evaluate(TRACES)]
        except Exception as exc:  # noqa: BLE001 - a frame navigating away mid-check has nothing to report
            if "detached" not in str(exc).lower() and "destroyed" not in str(exc).lower():
                raise
    assert traces == [], f"{where}: a payload became markup or ran"
    assert session.traffic.dialogs == [], f"{where}: a dialog fired"
    assert session.traffic.page_errors == [], f"{where}: script errors"


def go(session: Session, title: str) -> None:
    """Open a page through the sidebar menu (keeps the signed-in session) and wait for its run."""
    session.page.locator('[data-testid="stSidebar"]').get_by_role("link", name=title, exact=True).click()
    expect(session.page.get_by_role("heading", name=title, level=1)).to_be_visible(timeout=LOAD_TIMEOUT_MS)
    session.wait_for_run()
    session.page.wait_for_timeout(500)  # let components (maps, grids) draw their data


def poke_map(session: Session, where: str) -> None:
    """Hover areas one by one (a tooltip exists only while hovered, so each is checked then) and click
    one, so tooltips and the area panel render names and offense text with every payload."""
    frame = session.page.frame_locator(MAP_IFRAME)
    paths = frame.locator("path.leaflet-interactive")
    expect(paths.nth(HOVERS)).to_be_attached(timeout=LOAD_TIMEOUT_MS)
    shown = 0
    for index in range(HOVERS):
        paths.nth(index).hover(force=True)
        session.page.wait_for_timeout(100)
        shown += frame.locator(".leaflet-tooltip").count()
        assert_inert(session, f"{where}, tooltip of area {index}")
    assert shown >= HOVERS // 2, "hovering did not open tooltips; the check above saw nothing"
    paths.nth(3).click(force=True)
    session.wait_for_run()
    session.page.wait_for_timeout(500)


def test_every_page_as_admin_keeps_payloads_inert(session: Session) -> None:
    session.open("/", ready=".stPlotlyChart")
    session.sign_in("browser-admin", STAFF_PASSWORD)
    session.page.locator('[data-testid="stSidebar"]').get_by_text("Public-safe view").click()  # full view
    session.wait_for_run()
    assert_inert(session, "overview")
    for page in access.PAGES:
        if page.name == "upload":
            continue  # below, with a hostile file
        go(session, page.title)
        if page.name in ("map", "hotspots"):
            poke_map(session, page.name)
        if page.name == "outreach":
            for tab in ("Is outreach going where the harm is?", "Timeline per area", "Adoption"):
                session.page.get_by_role("tab", name=tab).click()
                session.wait_for_run()
        if page.name == "admin":
            session.page.get_by_role("tab", name="Audit log").click()
        assert_inert(session, page.name)
    session.screenshot("hostile-admin")
    session.assert_no_error_box()


def test_public_pages_keep_payloads_inert(session: Session) -> None:
    for page in access.pages_for("public"):
        session.open("/" if page.name == access.DEFAULT_PAGE else f"/{page.name}", ready=f"h1:has-text('{page.title}')")
        if page.name in ("map", "hotspots"):
            poke_map(session, f"public {page.name}")
        assert_inert(session, f"public {page.name}")


def test_hostile_upload_stays_inert(session: Session) -> None:
    session.open("/upload", ready='[data-testid="stFileUploader"]', role="analyst")
    name, data = hostile.upload_csv()
    session.page.locator('[data-testid="stFileUploader"] input[type=file]').set_input_files(
        {"name": name, "mimeType": "text/csv", "buffer": data})
    expect(session.page.get_by_text("1 · Columns")).to_be_visible(timeout=LOAD_TIMEOUT_MS)
    session.wait_for_run()
    session.page.wait_for_timeout(1000)
    assert_inert(session, "upload mapping")
    session.screenshot("hostile-upload")
