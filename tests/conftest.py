"""Shared fixtures: throw-away stores, a session store seeded from data/sample, tiny canonical frames."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from dashboard import config, sample
from dashboard.store import Store

# Browser fixtures (app started with `make run`, Chromium, request recording) for tests/test_browser*.py.
pytest_plugins = ["tests.browser_support"]

REPO = config.REPO_ROOT
SHARED_CHICAGO = REPO.parent / "shared" / "data" / "real" / "chicago"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "t.duckdb", lock_timeout=2)


@pytest.fixture(scope="session")
def sample_data_dir(tmp_path_factory) -> Path:
    """A data dir whose store is seeded from data/sample once per test session (about 3 s)."""
    data_dir = tmp_path_factory.mktemp("sample_store")
    store = Store(data_dir / "dashboard.duckdb")
    sample.seed_store(store, REPO / "data" / "sample")
    return data_dir


@pytest.fixture(scope="session")
def sample_store(sample_data_dir: Path) -> Store:
    return Store(sample_data_dir / "dashboard.duckdb")


@pytest.fixture(scope="session")
def hostile_data_dir(tmp_path_factory) -> Path:
    """A data dir whose store holds the sample with script/HTML/formula payloads in every text field."""
    from tests.fixtures import hostile

    data_dir = tmp_path_factory.mktemp("hostile_store")
    hostile.build_store(data_dir, REPO / "data" / "sample")
    return data_dir


@pytest.fixture
def app_env(sample_data_dir: Path, monkeypatch):
    """Point the app at the seeded session store (AppTest runs app.py in this process)."""
    monkeypatch.setenv("DASHBOARD_DATA_DIR", str(sample_data_dir))
    monkeypatch.chdir(REPO)
    return sample_data_dir


STAFF_PASSWORD = "test passphrase for page tests"


def staff_token(data_dir: Path, role: str) -> str:
    """Sign in as a user of ``role`` in the store under ``data_dir`` (created on first use) through the
    real sign-in path; returns the session token a browser session would hold."""
    from dashboard import auth

    store = Store(data_dir / "dashboard.duckdb")
    name = f"test-{role}"
    if not store.rows("SELECT 1 FROM users WHERE username = ?", [name]):
        auth.add_user(store, name, role, STAFF_PASSWORD, actor="tests")
    token = auth.sign_in(store, name, STAFF_PASSWORD, auth.Policy())[1]
    store.close()
    return token


def incidents_frame(rows: list[dict]) -> pd.DataFrame:
    """A canonical incidents frame from a few hand-written rows (missing fields are empty)."""
    from dashboard import schema

    base = dict.fromkeys(schema.INCIDENTS.columns)
    frame = pd.DataFrame([{**base, "offense": "THEFT", "offense_group": "property", **r} for r in rows])
    return schema.INCIDENTS.validate(frame)


def pytest_sessionfinish(session, exitstatus):
    # In CI a skipped test is a broken set-up (a missing browser, say), never an acceptable outcome.
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if os.environ.get("CI") == "true" and skipped and exitstatus == 0:
        reporter.write_line(f"CI: {len(skipped)} test(s) skipped; failing the run.", red=True)
        session.exitstatus = 1
