"""Two app replicas on one PostgreSQL store (DASHBOARD_DATABASE_URL), as behind a load balancer
(docs/operations.md, "PostgreSQL store and several replicas"): a version committed by the CLI while both
are serving shows on both at the next page load, with no restart and no waiting for a cache to expire.

Needs /usr/bin/chromium and Debian's postgresql (`make test` installs both); the database is a
throw-away cluster started by tests/pg_support.py. Skipped locally without them, failing on CI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.browser_support import LOAD_TIMEOUT_MS, REPO_ROOT, App, Session, browser_session, serve

pytestmark = pytest.mark.browser

NEW_FILE = "replica_check_incidents.csv"
CSV = ("ID,Case Number,Date,Primary Type,Description,Beat,District,Community Area,Latitude,Longitude\n"
       "990000001,JR1,12/31/2017 10:00:00 PM,THEFT,RETAIL,0111,001,32,41.88,-87.63\n")
GRID_CELLS = '[data-testid="stDataFrame"] [role=gridcell]'


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "dashboard", *args], capture_output=True, text=True, env=env,
                          cwd=REPO_ROOT, timeout=600, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"python -m dashboard {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def replicas(pg_server, tmp_path_factory) -> Iterator[tuple[App, App, dict[str, str]]]:
    """The sample seeded once into a new database with `python -m dashboard prepare`, then two
    `streamlit run app.py` processes on it, each with its own data folder (which holds no store)."""
    url = pg_server.new_database()
    env = {**os.environ, "DASHBOARD_DATABASE_URL": url, "DASHBOARD_LOG_LEVEL": "WARNING",
           "DASHBOARD_DATA_DIR": str(tmp_path_factory.mktemp("cli-data"))}
    cli(env, "prepare")
    shared = {"DASHBOARD_DATABASE_URL": url, "DASHBOARD_LOG_LEVEL": "WARNING"}
    logs = tmp_path_factory.mktemp("replicas")
    with (
        serve(tmp_path_factory.mktemp("replica-a"), logs / "a.log", shared, via_make=False) as a,
        serve(tmp_path_factory.mktemp("replica-b"), logs / "b.log", shared, via_make=False) as b,
    ):
        yield a, b, env


def grid_text(session: Session) -> list[str]:
    cells = session.page.locator(GRID_CELLS)
    expect(cells.first).to_be_attached(timeout=LOAD_TIMEOUT_MS)
    return [cell.inner_text() for cell in cells.all()]


def test_a_cli_commit_shows_on_both_replicas_at_once(replicas, browser, screenshot_dir, tmp_path):
    a, b, env = replicas
    with (
        browser_session(browser, a, screenshot_dir, "replica-a") as on_a,
        browser_session(browser, b, screenshot_dir, "replica-b") as on_b,
    ):
        for session in (on_a, on_b):
            session.open("/data", ready='[data-testid="stDataFrame"]')
            before = grid_text(session)
            assert any("data/sample/incidents" in text for text in before), before
            assert not any(NEW_FILE in text for text in before)

        path = tmp_path / NEW_FILE
        path.write_text(CSV)
        done = json.loads(cli(env, "ingest", str(path), "--kind", "incidents", "--mode", "append",
                              "--json").stdout)
        assert done["committed"] and done["version"] == 2 and done["rows_kept"] == 1

        # No sleep: the next page load on either replica reads the new version.
        for session in (on_b, on_a):
            session.open("/data", ready='[data-testid="stDataFrame"]')
            expect(session.page.locator(GRID_CELLS, has_text=NEW_FILE).first).to_be_attached(
                timeout=LOAD_TIMEOUT_MS)
            assert any("536,606" in text or "536606" in text for text in grid_text(session)), (
                "the status table should count the appended incident")
            session.assert_clean()
        on_b.screenshot("replica-b-after-commit")
