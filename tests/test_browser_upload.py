"""The upload page in a real browser, on its own app and store: an LAPD-layout export of real Chicago
rows (tests/fixtures/city_formats.py) is uploaded through the file input, one mapping the page could not
guess is chosen in the mapping table, the file is validated, committed (replacing the incidents), the new
counts are shown, and one click rolls the store back to the version it had.

Its own app instance (own DASHBOARD_DATA_DIR) keeps the shared browser app's store untouched. Needs
/usr/bin/chromium like every browser test.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser_support import LOAD_TIMEOUT_MS, MAP_IFRAME, REPO_ROOT, App, Session, serve
from tests.fixtures import city_formats

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """Overrides the shared app for this module: the same app on a store of its own."""
    data_dir = tmp_path_factory.mktemp("upload_store")
    env = {"DASHBOARD_LOG_LEVEL": "WARNING"}
    subprocess.run([sys.executable, "-m", "dashboard", "prepare"], cwd=REPO_ROOT, env={**os.environ, **env,
                   "DASHBOARD_DATA_DIR": str(data_dir)}, check=True, capture_output=True, timeout=300)
    with serve(data_dir, data_dir / "streamlit.log", env, via_make=False) as running:
        yield running


@pytest.fixture(scope="module")
def lapd_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Real Chicago rows in the LAPD layout, with the offense column under a header no synonym knows.
    frame = city_formats.lapd_format(city_formats.chicago_rows(2000, seed=1)).rename(columns={"Crm Cd Desc": "Delito"})
    path = tmp_path_factory.mktemp("upload") / "lapd_export.csv"
    path.write_bytes(city_formats.to_csv_bytes(frame))
    return path


def test_upload_map_validate_commit_and_roll_back(session: Session, lapd_file: Path) -> None:
    session.open("/upload", ready='[data-testid="stFileUploader"]', role="analyst")
    page = session.page
    page.locator('[data-testid="stFileUploader"] input[type=file]').set_input_files(str(lapd_file))
    expect(page.get_by_text("Choose the column for: Offense (type)")).to_be_visible(timeout=LOAD_TIMEOUT_MS)

    # Edit one mapping: the 'Offense (type)' row of the mapping table gets the 'Delito' column. The grid
    # draws on a canvas; its hidden accessibility cells (4 per row) give the row, rows are 35 px high.
    session.wait_for_run()
    editor = page.locator('[data-testid="stDataFrame"]').first
    editor.scroll_into_view_if_needed()
    # The grid fills its accessibility cells after it has drawn; read them only once they are there.
    expect(editor.locator("[role=gridcell]", has_text="Offense (type)").first).to_be_attached(
        timeout=LOAD_TIMEOUT_MS)
    labels = [cell.inner_text() for cell in editor.locator("[role=gridcell]").all()][::4]
    row = labels.index("Offense (type)")
    box = editor.locator("canvas").first.bounding_box()
    page.mouse.dblclick(box["x"] + 250, box["y"] + 35 + row * 35 + 17)
    page.keyboard.type("Deli")
    option = page.get_by_role("option", name="Delito")
    expect(option).to_be_visible(timeout=LOAD_TIMEOUT_MS)
    option.click()
    expect(page.get_by_text("Validated")).to_be_visible(timeout=LOAD_TIMEOUT_MS)
    session.wait_for_run()
    kpis = page.locator('[data-testid="stMetric"]')
    expect(kpis.filter(has_text="Would be stored")).to_contain_text("2,000")
    expect(kpis.filter(has_text="Rejected")).to_contain_text("0")
    expect(page.locator(".stPlotlyChart")).to_have_count(1)  # the weekly preview

    expect(page.get_by_text("in the audit log as browser-analyst")).to_be_visible()
    page.get_by_text("Replace the dataset").click()
    session.wait_for_run()
    page.get_by_role("button", name="Commit").click()
    expect(page.get_by_text("incidents version 2; incidents now hold 2,000 rows")).to_be_visible(
        timeout=LOAD_TIMEOUT_MS)
    session.wait_for_run()
    expect(page.get_by_text("v2 · active · 2,000 rows")).to_be_visible(timeout=LOAD_TIMEOUT_MS)
    expect(page.locator(MAP_IFRAME)).to_have_count(1)  # the preview map of what was committed
    session.screenshot("upload-committed")

    page.get_by_role("button", name="Make active").first.click()  # v1, the bundled sample
    expect(page.get_by_text("incidents version 1 is active again")).to_be_visible(timeout=LOAD_TIMEOUT_MS)
    session.wait_for_run()
    expect(page.get_by_text("v1 · active · 536,605 rows")).to_be_visible(timeout=LOAD_TIMEOUT_MS)
    session.assert_clean()
