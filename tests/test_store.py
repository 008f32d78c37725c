"""store: versioned commits, append de-duplication, rollback, atomicity, busy handling, SQL aggregates;
every store test runs on DuckDB and on PostgreSQL (the `store` and `sample_store` fixtures), and both
backends must return identical frames."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import date

import pandas as pd
import pytest

from dashboard import sample, schema
from dashboard.errors import StoreBusyError, StoreError
from dashboard.store import Provenance, Store
from tests.conftest import REPO, incidents_frame

P = Provenance(source="test")


@pytest.fixture
def sample_store(backend_sample_store: Store) -> Store:
    """The seeded sample on each backend: every test here runs against DuckDB and PostgreSQL."""
    return backend_sample_store


def three_incidents():
    return incidents_frame([
        {"incident_id": "a", "occurred_at": "2017-01-02 10:00", "beat_id": "0111", "community_area_id": "1"},
        {"incident_id": "b", "occurred_at": "2017-01-08 23:59", "beat_id": "0111", "offense": "HOMICIDE",
         "offense_group": "homicide", "community_area_id": "1"},
        {"incident_id": "c", "occurred_at": "2017-01-09 00:00", "beat_id": "0112", "community_area_id": "2"},
    ])


def test_commit_creates_versions_and_token_changes(store: Store):
    assert store.is_empty()
    token0 = store.version_token()
    v1 = store.commit("incidents", three_incidents(), P)
    token1 = store.version_token()
    assert v1 == 1 and token1 != token0
    v2 = store.commit("incidents", three_incidents().head(1), P, mode="replace")
    assert v2 == 2 and store.version_token() != token1
    versions = store.versions("incidents")
    assert versions["version"].tolist() == [2, 1]
    assert versions["active"].tolist() == [True, False]
    assert versions["row_count"].tolist() == [1, 3]


def test_append_dedupes_by_id_newer_wins(store: Store):
    store.commit("incidents", three_incidents(), P)
    newer = incidents_frame([
        {"incident_id": "a", "occurred_at": "2017-01-02 10:00", "offense": "BATTERY", "offense_group": "violent"},
        {"incident_id": "d", "occurred_at": "2017-02-01 10:00"},
    ])
    store.commit("incidents", newer, P, mode="append")
    rows = store.query("SELECT incident_id, offense FROM {i} ORDER BY 1", i="incidents")
    assert rows.values.tolist() == [["a", "BATTERY"], ["b", "HOMICIDE"], ["c", "THEFT"], ["d", "THEFT"]]


def test_rollback_restores_previous_content(store: Store):
    store.commit("incidents", three_incidents(), P)
    hash1 = store.versions("incidents")["content_hash"].iloc[0]
    store.commit("incidents", three_incidents().head(1), P)
    store.rollback("incidents", 1)
    assert store.active_versions()["incidents"] == 1
    assert len(store.query("SELECT * FROM {i}", i="incidents")) == 3
    assert store.versions("incidents").set_index("version").loc[1, "content_hash"] == hash1
    with pytest.raises(StoreError, match="No such version"):
        store.rollback("incidents", 9)


def test_failed_commit_changes_nothing(store: Store):
    store.commit("incidents", three_incidents(), P)
    before = store.versions()
    broken = three_incidents().drop(columns=["offense_group"])
    with pytest.raises(StoreError):
        store.commit("incidents", broken, P)
    pd.testing.assert_frame_equal(store.versions(), before)


def test_failure_inside_the_transaction_rolls_back(store: Store, monkeypatch):
    store.commit("incidents", three_incidents(), P)
    before = store.versions()
    import dashboard.store as store_module

    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(store_module, "_content_hash", explode)
    with pytest.raises(StoreError, match="Commit failed"):
        store.commit("incidents", three_incidents(), P)
    pd.testing.assert_frame_equal(store.versions(), before)
    assert "incidents_v2" not in store.query("SELECT table_name FROM information_schema.tables")[
        "table_name"].tolist()


def test_killed_commits_leave_previous_or_new_version_complete(store_target):
    """SIGKILL a process in the middle of committing, several times; the store must always reopen with
    every listed version complete (row count and content hash as recorded)."""
    path = store_target
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(REPO)!r})
        from dashboard.store import Store, Provenance
        from dashboard import sample
        from pathlib import Path
        frame = sample.read_sample(Path({str(REPO / 'data' / 'sample')!r}), "incidents").head(150_000)
        target = {str(path)!r}
        s = Store(target if target.startswith("postgresql://") else Path(target), idle_close=0)
        print("ready", flush=True)
        while True:
            s.commit("incidents", frame, Provenance(source="loop"))
    """)
    for delay in (0.4, 1.1, 1.9):
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        store = Store(path)
        versions = store.versions("incidents")
        for row in versions.itertuples():
            count = store.query(f"SELECT COUNT(*) AS n FROM {row.table_name}")["n"].iloc[0]  # noqa: S608
            assert count == row.row_count == 150_000
        if len(versions):
            assert versions["active"].sum() == 1
        store.close()  # let the next writer process have the file


def test_busy_store_waits_then_says_so(tmp_path):
    path = tmp_path / "busy.duckdb"
    Store(path, idle_close=0).initialise()
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb,time; c=duckdb.connect({str(path)!r}); print('held', flush=True); "
                               "time.sleep(30)"], stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == b"held"
        start = time.monotonic()
        with pytest.raises(StoreBusyError) as info:
            Store(path, lock_timeout=0.5).active_versions()
        assert time.monotonic() - start >= 0.4  # it waited for the lock timeout before giving up
        assert "DASHBOARD_LOCK_TIMEOUT" in info.value.hint
    finally:
        holder.kill()
        holder.wait()


def test_postgresql_busy_tables_wait_then_say_so(pg_server):
    """Another session holding the catalog (a long ingest, a migration) gives StoreBusyError after the
    lock timeout, not an endless hang."""
    import psycopg

    url = pg_server.new_database()
    Store(url).initialise()
    with psycopg.connect(url) as holder:
        holder.execute("LOCK TABLE active_versions IN ACCESS EXCLUSIVE MODE")
        start = time.monotonic()
        with pytest.raises(StoreBusyError) as info:
            Store(url, lock_timeout=0.5).active_versions()
        assert time.monotonic() - start >= 0.4  # it waited for the lock timeout before giving up
        assert "DASHBOARD_LOCK_TIMEOUT" in info.value.hint


def test_postgresql_commits_from_two_replicas_at_once_take_turns(pg_server):
    """Replicas and the CLI may commit at the same moment: each gets its own version number."""
    from concurrent.futures import ThreadPoolExecutor

    url = pg_server.new_database()
    stores = [Store(url) for _ in range(3)]
    with ThreadPoolExecutor(3) as pool:
        versions = list(pool.map(lambda s: s.commit("incidents", three_incidents(), P), stores))
    assert sorted(versions) == [1, 2, 3]
    assert stores[0].versions("incidents")["row_count"].tolist() == [3, 3, 3]


def test_postgresql_lost_connection_is_a_clear_error_then_recovers(pg_server):
    import psycopg

    url = pg_server.new_database()
    store = Store(url)
    store.initialise()
    with store.connect() as con:
        pid = con.execute("SELECT pg_backend_pid()").fetchone()[0]
    with psycopg.connect(url, autocommit=True) as admin:  # the idle pooled connection is cut, as by a restart
        admin.execute("SELECT pg_terminate_backend(%s, 10000)", [pid])  # waits until it has gone
    with pytest.raises(StoreError, match="connection lost") as info:
        store.active_versions()
    assert "DASHBOARD_DATABASE_URL" in info.value.hint
    assert store.active_versions() == {}  # the broken connection was dropped; a new one works
    store.close()


def test_unreachable_database_gives_clear_error(pg_server):
    url = pg_server.url("no_such_database")
    with pytest.raises(StoreError) as info:
        Store(url).active_versions()
    assert info.value.title == "Database cannot be reached" and "no_such_database" in info.value.message
    assert "DASHBOARD_DATABASE_URL" in info.value.hint
    secret = Store(url.replace("dashboard@", "dashboard:s3cret@"))
    assert "s3cret" not in secret.describe() and secret.describe().startswith("postgresql://dashboard:***@")


def test_a_commit_is_seen_at_once_by_another_store_object(store_target):
    """Two app replicas (two Store objects, as in two processes) on one store: the second one's version
    token and counts change as soon as the first commits, with no waiting for a cache to expire."""
    writer, reader = Store(store_target), Store(store_target)
    writer.commit("incidents", three_incidents(), P)
    token = reader.version_token()
    assert reader.count_incidents([], date(2017, 1, 1), date(2017, 1, 31))["count"].tolist() == [3]
    writer.commit("incidents", three_incidents().head(1), P)
    assert reader.version_token() != token
    assert reader.count_incidents([], date(2017, 1, 1), date(2017, 1, 31))["count"].tolist() == [1]
    writer.close()
    reader.close()


def test_both_backends_return_identical_frames(sample_data_dir, pg_sample_store: Store):
    """Pages get the same frames (values, column names and dtypes) whichever database holds the data."""
    duck = Store(sample_data_dir / "dashboard.duckdb")
    pg = pg_sample_store
    start, end = date(2017, 6, 1), date(2017, 6, 28)

    def us(frame):  # PostgreSQL keeps microseconds; DuckDB keeps the nanosecond columns pandera made
        return frame.astype({c: "datetime64[us]" for c in frame.columns if str(frame[c].dtype).startswith("datetime")})

    def same(call):
        left, right = call(duck), call(pg)
        assert len(left) > 0
        pd.testing.assert_frame_equal(us(left), us(right))

    same(lambda s: s.count_incidents(["community_area"], start, end))
    same(lambda s: s.count_incidents(["week", "offense_group"], start, end, exclude_offenses=["STALKING"]))
    same(lambda s: s.count_incidents(["hour", "dow"], start, end, area=("district", "8")))
    same(lambda s: s.count_outreach(["week", "event_type"], start, end))
    key = ["community_area", "district", "beat", "offense_group", "gun"]
    same(lambda s: s.trend_window_counts([("now", start, end), ("before", date(2016, 6, 1), date(2016, 6, 28))])
         .sort_values(key).reset_index(drop=True))
    same(lambda s: s.weekly_area_counts(date(2017, 10, 1)).sort_values(["level", "area_id", "offense_group", "week"],
                                                                        na_position="first").reset_index(drop=True))
    same(lambda s: s.outreach_events(start, end).drop(columns="beats"))
    same(lambda s: s.incident_points(start, end, ["violent"]))
    same(lambda s: s.areas("district"))
    same(lambda s: s.population("community_area"))
    assert duck.date_bounds() == pg.date_bounds()
    assert duck.offense_groups_present() == pg.offense_groups_present()
    assert [{k: v for k, v in row.items() if k != "loaded_at"} for row in duck.status()] == [
        {k: v for k, v in row.items() if k != "loaded_at"} for row in pg.status()]
    duck.close()


def test_unwritable_data_dir_gives_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError) as info:
        Store(blocker / "sub" / "x.duckdb").initialise()
    assert "DASHBOARD_DATA_DIR" in info.value.hint


def test_sample_store_status_and_aggregates_match_raw(sample_store: Store):
    status = {s["dataset"]: s for s in sample_store.status()}
    assert status["incidents"]["rows"] == 536_605
    assert status["outreach"]["rows"] > 5000 and status["areas"]["rows"] == 77 + 23 + 275
    assert status["surveys"]["version"] is None  # the sample ships no survey data
    frame = sample.read_sample(REPO / "data" / "sample", "incidents")
    weekly = sample_store.count_incidents(["community_area"], date(2017, 1, 1), date(2017, 12, 31))
    in_2017 = frame[frame["occurred_at"].dt.year == 2017]
    expected = in_2017.groupby("community_area_id").size()
    got = weekly.set_index("community_area")["count"]
    assert got.sort_index().to_dict() == expected.sort_index().to_dict()
    pop = sample_store.population("community_area")
    assert len(pop) == 77 and pop["year"].eq(2020).all()


def test_idle_connection_is_released_for_other_processes(tmp_path):
    path = tmp_path / "idle.duckdb"
    store = Store(path, idle_close=0.2)
    store.initialise()
    assert store.dialect._con is not None  # kept open while busy
    time.sleep(0.6)
    assert store.dialect._con is None  # released after being idle
    other = subprocess.run([sys.executable, "-c", f"import duckdb; duckdb.connect({str(path)!r}).close()"],
                           timeout=60)
    assert other.returncode == 0


def test_content_hash_ignores_row_order_and_sees_every_value(store: Store):
    frame = three_incidents()

    def content(f) -> str:
        store.commit("incidents", schema.INCIDENTS.validate(f), P)
        return store.versions("incidents")["content_hash"].iloc[0]

    base = content(frame)
    assert content(frame.iloc[::-1].reset_index(drop=True)) == base  # same rows, other order
    changed = [
        frame.assign(offense=["THEFT", "HOMICIDE", "BATTERY"]),  # a text value
        frame.assign(occurred_at=frame["occurred_at"] + pd.Timedelta(seconds=1)),  # a timestamp
        frame.assign(latitude=[41.0, None, None], longitude=[-87.0, None, None]),  # a missing value filled
        frame.assign(community_area_id=[None, "1", "2"], district_id=["1", None, None]),  # NULL moved across
        frame.head(2),  # a row fewer
    ]
    hashes = [content(f) for f in changed]
    assert base not in hashes and len(set(hashes)) == len(hashes)
