"""dialects: placeholder rewriting, URL redaction, and frames surviving the PostgreSQL bulk load exactly
(NULL vs empty text, booleans with gaps, bytes, float digits, timestamps) on a real server."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pyarrow as pa
import pytest

from dashboard import dialects


def test_placeholders_become_psycopg_ones_outside_string_literals():
    sql = "SELECT * FROM t WHERE a = ? AND b LIKE '%GUN?%' AND c IN (?, ?) AND d = 'it''s ?'"
    assert dialects.to_pg_placeholders(sql) == (
        "SELECT * FROM t WHERE a = %s AND b LIKE '%%GUN?%%' AND c IN (%s, %s) AND d = 'it''s ?'")


def test_redact_hides_only_the_password():
    assert dialects.redact("postgresql://app:pw@db.local:5432/dash") == "postgresql://app:***@db.local:5432/dash"
    assert dialects.redact("postgresql://app@db.local/dash") == "postgresql://app@db.local/dash"


def test_exit_closes_every_duckdb_and_stops_its_idle_timer_before_shutdown(tmp_path):
    # A daemon idle timer closing a connection while the interpreter tears DuckDB down aborts the
    # process after every test has passed; at exit each store is closed on the main thread instead.
    db = dialects.for_target(tmp_path / "x.duckdb", lock_timeout=5, idle_close=60)
    with db.connect() as con:
        con.execute("SELECT 1")
    timer = db._reaper
    assert db._con is not None and timer is not None and timer.is_alive()
    assert db in dialects._OPEN_DUCKDBS
    dialects.close_all_duckdbs()
    assert db._con is None and db._reaper is None and not timer.is_alive()
    with db.connect() as con:  # still usable afterwards, and leaves nothing open behind it
        assert con.execute("SELECT 2").fetchone() == (2,)
    assert db._con is None and db._reaper is None


def test_target_picks_the_dialect(tmp_path):
    assert dialects.for_target(tmp_path / "x.duckdb", 1, 1).name == "duckdb"
    assert dialects.for_target("postgresql://u@h/d", 1, 1).name == "postgresql"
    assert dialects.pg_type(pa.timestamp("us")) == "TIMESTAMP" and dialects.pg_type(pa.null()) == "TEXT"


@pytest.mark.parametrize("backend", ["duckdb", "postgresql"])
def test_bulk_load_round_trips_every_stored_type(backend, pg_server, tmp_path):
    frame = pd.DataFrame({
        "text": pd.Series(["a,b", "", None, 'quote " and\nnewline'], dtype="str"),
        "flag": pd.Series([True, None, False, True], dtype="boolean"),
        "number": [0.1, 41.88123456789012, None, -87.6],
        "count": pd.Series([1, 2, 3, 2**40], dtype="int64"),
        "at": pd.to_datetime(["2017-01-02 10:00:00.123456", "2017-01-08 23:59", "2020-02-29", "1999-12-31"], format="ISO8601"),
        "blob": [b"\x00\x01\xff", b"", None, b"wkb"],
    })
    target = tmp_path / "d.duckdb" if backend == "duckdb" else pg_server.new_database()
    dialect = dialects.for_target(target, lock_timeout=5, idle_close=0)
    with dialect.connect() as con:
        dialect.create_table(con, "t", frame)
        dialect.finish_table(con, "t", "at")
        back = con.execute("SELECT * FROM t ORDER BY count").df()
    dialect.close()
    assert back["text"].tolist()[:2] == ["a,b", ""] and pd.isna(back["text"][2])  # NULL is not ""
    assert back["text"][3] == 'quote " and\nnewline'
    assert back["flag"].tolist()[0] is True and pd.isna(back["flag"][1]) and back["flag"][2] == False  # noqa: E712
    assert back["number"][1] == 41.88123456789012 and pd.isna(back["number"][2])
    assert back["count"].tolist() == [1, 2, 3, 2**40]
    assert back["at"].tolist()[0] == datetime(2017, 1, 2, 10, 0, 0, 123456)
    assert [None if b is None or b is pd.NA else bytes(b) for b in back["blob"]] == [b"\x00\x01\xff", b"", None, b"wkb"]
