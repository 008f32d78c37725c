"""loader: cached aggregates are keyed on the store version, so a commit is seen on the next call."""

from __future__ import annotations

from datetime import date

import pytest

from dashboard import loader
from dashboard.store import Provenance, Store
from tests.conftest import incidents_frame


@pytest.fixture
def fresh_loader(tmp_path, monkeypatch):
    monkeypatch.setenv("DASHBOARD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DASHBOARD_SAMPLE_DIR", str(tmp_path / "no-sample"))
    for fn in (loader.settings, loader.store):
        fn.clear()
    yield Store(tmp_path / "dashboard.duckdb")
    for fn in (loader.settings, loader.store):
        fn.clear()


def rows(n: int):
    return incidents_frame([{"incident_id": str(i), "occurred_at": "2017-03-01 12:00"} for i in range(n)])


def test_new_commit_is_seen_without_clearing_caches(fresh_loader, tmp_path):
    fresh_loader.commit("incidents", rows(3), Provenance(source="t"))
    first = loader.incident_counts([], date(2017, 1, 1), date(2017, 12, 31))
    assert first["count"].tolist() == [3]
    again = loader.incident_counts([], date(2017, 1, 1), date(2017, 12, 31))
    assert again["count"].tolist() == [3]
    fresh_loader.commit("incidents", rows(5), Provenance(source="t"))  # e.g. the CLI in another process
    assert loader.incident_counts([], date(2017, 1, 1), date(2017, 12, 31))["count"].tolist() == [5]
    assert loader.date_bounds() == (date(2017, 3, 1), date(2017, 3, 1))
    assert loader.has("incidents") and not loader.has("surveys")


def test_store_is_seeded_from_the_sample_on_first_use(tmp_path, monkeypatch, sample_data_dir):
    monkeypatch.setenv("DASHBOARD_DATA_DIR", str(tmp_path))
    loader.settings.clear()
    loader.store.clear()
    try:
        assert {s["dataset"] for s in loader.status() if s["version"]} == {"incidents", "outreach", "areas",
                                                                           "population"}
        assert len(loader.areas("community_area")) == 77
        assert loader.population("beat").empty  # no beat population in the sample
    finally:
        loader.settings.clear()
        loader.store.clear()
