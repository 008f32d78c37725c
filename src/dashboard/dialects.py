"""What differs between the store's two databases: DuckDB (an embedded file, the default) and PostgreSQL
(a server, chosen with DASHBOARD_DATABASE_URL so several app replicas can share one store).

Each dialect opens connections, bulk-loads a frame into a new table (PostgreSQL: COPY of CSV written by
Arrow), supplies the row hash of the content fingerprint, serialises commits between processes and says
how cheaply the version token may be cached. store.py writes portable SQL with ``?`` placeholders and
keeps every rule about versions; this module must not know about datasets or import Streamlit.
"""

from __future__ import annotations

import atexit
import io
import logging
import os
import re
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from dashboard.errors import StoreBusyError, StoreError

log = logging.getLogger(__name__)


class Dialect(Protocol):
    name: str

    def connect(self) -> Any: ...  # a context manager yielding a connection with execute()/fetch*/df()
    def close(self) -> None: ...
    def describe(self) -> str: ...
    def abandon(self, con: Any) -> None: ...
    def create_table(self, con: Any, name: str, frame: pd.DataFrame) -> None: ...
    def finish_table(self, con: Any, name: str, time_column: str | None) -> None: ...
    def lock_commits(self, con: Any) -> None: ...
    def row_hash(self, columns: Sequence[str]) -> str: ...
    def fetch_arrow(self, con: Any, sql: str, params: Sequence[Any] = ()) -> pa.Table: ...
    def token_stamp(self) -> tuple | None: ...


def is_database_url(target: str | Path) -> bool:
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def for_target(target: str | Path, lock_timeout: float, idle_close: float) -> Dialect:
    """DuckDB for a file path, PostgreSQL for a ``postgresql://`` URL."""
    if is_database_url(target):
        return PostgreSQL(str(target), lock_timeout=lock_timeout)
    return DuckDB(Path(target), lock_timeout=lock_timeout, idle_close=idle_close)


# ------------------------------------------------------------------------------------------ DuckDB


_OPEN_DUCKDBS: weakref.WeakSet[DuckDB] = weakref.WeakSet()


@atexit.register
def close_all_duckdbs() -> None:
    """Close every DuckDB store's connection and stop its idle timer, on the main thread, before the
    interpreter shuts down: a daemon timer closing a connection while DuckDB's module is torn down aborts
    the process ("terminate called ...") after everything else has succeeded."""
    for db in list(_OPEN_DUCKDBS):
        db.shut()


class DuckDB:
    """One DuckDB file. Safe to share between threads: each caller gets its own cursor."""

    name = "duckdb"

    def __init__(self, path: Path, lock_timeout: float = 30.0, idle_close: float = 2.0) -> None:
        self.path = Path(path)
        self.lock_timeout = lock_timeout
        # Opening the file costs ~16 ms, a query on an open one ~1 ms: keep one connection while the
        # app is busy, and let go of it (and of DuckDB's file lock) after ``idle_close`` seconds
        # without use, so a CLI ingest in another process gets its turn.
        self.idle_close = idle_close
        self._con_lock = threading.Lock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._users = 0
        self._last_used = 0.0
        self._reaper: threading.Timer | None = None
        self._shut = False
        _OPEN_DUCKDBS.add(self)

    def describe(self) -> str:
        return str(self.path)

    def _open(self) -> duckdb.DuckDBPyConnection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                "Data folder cannot be created",
                f"{self.path.parent}: {exc.strerror}.",
                hint="Set DASHBOARD_DATA_DIR to a folder this user may write to.",
            ) from exc
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.02
        while True:
            try:
                return duckdb.connect(str(self.path))
            except duckdb.IOException as exc:
                text = str(exc)
                if "lock" in text.lower() and time.monotonic() < deadline:
                    time.sleep(delay)
                    delay = min(delay * 2, 0.5)
                    continue
                if "lock" in text.lower():
                    raise StoreBusyError(
                        message=f"Another process has held {self.path.name} for over {self.lock_timeout:.0f} s.",
                        hint="Wait for the running ingest to finish, or raise DASHBOARD_LOCK_TIMEOUT.",
                    ) from exc
                raise StoreError(
                    "Data store cannot be opened",
                    f"{self.path}: {text.splitlines()[0]}",
                    hint="Check that DASHBOARD_DATA_DIR is writable and the disk is not full.",
                ) from exc

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor on the shared connection (each cursor has its own transactions)."""
        with self._con_lock:
            if self._con is None:
                self._con = self._open()
            self._users += 1
            cursor = self._con.cursor()
        try:
            yield cursor
        finally:
            cursor.close()
            with self._con_lock:
                self._users -= 1
                self._last_used = time.monotonic()
                if self.idle_close <= 0 or self._shut:
                    self._close_locked()
                elif self._reaper is None:
                    self._reaper = threading.Timer(self.idle_close, self._reap)
                    self._reaper.daemon = True
                    self._reaper.start()

    def _reap(self) -> None:
        with self._con_lock:
            self._reaper = None
            idle = time.monotonic() - self._last_used
            if self._shut or (self._users == 0 and idle >= self.idle_close * 0.9):
                self._close_locked()
            elif self._con is not None:
                self._reaper = threading.Timer(max(self.idle_close - idle, 0.05), self._reap)
                self._reaper.daemon = True
                self._reaper.start()

    def _close_locked(self) -> None:
        if self._con is not None and self._users == 0:
            self._con.close()
            self._con = None

    def close(self) -> None:
        with self._con_lock:
            self._close_locked()

    def shut(self) -> None:
        """Close for good at exit: no idle timer is left running, and the connection is closed once the
        last cursor is given back."""
        with self._con_lock:
            self._shut = True
            reaper, self._reaper = self._reaper, None
            self._close_locked()
        if reaper is not None:
            reaper.cancel()
            if reaper is not threading.current_thread():
                reaper.join()

    def abandon(self, con: duckdb.DuckDBPyConnection) -> None:
        """Roll back a failed write. After an I/O error (full disk, read-only file) DuckDB may refuse
        the rollback too and invalidate the database object: then the shared connection is dropped, so
        the next use reopens the file, whose last committed state is intact (write-ahead log)."""
        try:
            con.execute("ROLLBACK")
        except duckdb.Error as exc:
            log.warning("rollback after a failed write failed too (%s); reopening the store", exc)
            with self._con_lock:
                if self._con is not None:
                    broken, self._con = self._con, None
                    try:
                        broken.close()
                    except duckdb.Error:
                        pass

    def create_table(self, con: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame) -> None:
        con.register("_incoming_frame", _as_arrow(frame))
        try:
            # Row order in a version table means nothing (every read groups or sorts; the content hash is
            # order-free), so let DuckDB insert with all threads: about 1.5x faster on 1M rows.
            con.execute("SET preserve_insertion_order = false")
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM _incoming_frame")  # noqa: S608 - name from the store
        finally:
            try:
                con.execute("RESET preserve_insertion_order")
            except duckdb.Error:
                pass  # the connection died with the failed commit
            try:
                con.unregister("_incoming_frame")
            except duckdb.Error:
                pass  # the connection died with the failed commit

    def finish_table(self, con: duckdb.DuckDBPyConnection, name: str, time_column: str | None) -> None:
        """Nothing to do: DuckDB keeps min/max per row group, which is what a date-range scan needs."""

    def lock_commits(self, con: duckdb.DuckDBPyConnection) -> None:
        """Nothing to do: one process at a time holds the file for writing."""

    def row_hash(self, columns: Sequence[str]) -> str:
        return f"hash({', '.join(columns)})"  # typed values, NULLs by position

    def fetch_arrow(self, con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        return con.sql(sql, params=list(params) or None).to_arrow_table()

    def token_stamp(self) -> tuple:
        # A commit in any process changes the file or its WAL; until one does, the catalog need not be read.
        return tuple(
            v for p in (self.path, self.path.with_name(self.path.name + ".wal"))
            for v in ((os.stat(p).st_mtime_ns, os.stat(p).st_size) if p.exists() else (0, 0))
        )


# -------------------------------------------------------------------------------------- PostgreSQL

# Type OIDs of the PostgreSQL result columns, mapped to the pandas dtypes DuckDB's .df() gives for the
# same SQL, so both backends hand pages the same frames.
_INT = {21: ("int16", "Int16"), 23: ("int32", "Int32"), 20: ("int64", "Int64")}
_FLOAT = {700, 701, 1700}
_TEXT = {25, 1043, 1042, 19}
_TIME = {1082, 1114}
_BOOL = 16

_ARROW_TO_PG = (
    (pa.types.is_boolean, "BOOLEAN"),
    (pa.types.is_integer, "BIGINT"),
    (pa.types.is_floating, "DOUBLE PRECISION"),
    (pa.types.is_timestamp, "TIMESTAMP"),
    (pa.types.is_date, "DATE"),
    (lambda t: pa.types.is_binary(t) or pa.types.is_large_binary(t), "BYTEA"),
)


def pg_type(arrow_type: pa.DataType) -> str:
    """The PostgreSQL column type a frame column is stored as (text for strings and all-null columns)."""
    for test, name in _ARROW_TO_PG:
        if test(arrow_type):
            return name
    return "TEXT"


def to_pg_placeholders(sql: str) -> str:
    """Rewrite ``?`` placeholders as psycopg's ``%s`` (and a literal ``%`` as ``%%``), leaving quoted
    string literals' question marks alone."""
    parts = re.split(r"('(?:[^']|'')*')", sql)
    return "".join(part.replace("%", "%%") if i % 2 else part.replace("%", "%%").replace("?", "%s")
                   for i, part in enumerate(parts))


def redact(url: str) -> str:
    """The URL without its password, for messages and the status command."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[-1]}"))


class PgConnection:
    """A psycopg connection with DuckDB's calling convention: ``execute(sql, params)`` with ``?``
    placeholders, returning itself for ``fetchone()``, ``fetchall()`` and ``df()``."""

    def __init__(self, raw: Any, lock_timeout: float) -> None:
        self.raw = raw
        self.lock_timeout = lock_timeout
        self._cur = raw.cursor()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> PgConnection:
        import psycopg

        try:
            self._cur.execute(to_pg_placeholders(sql), list(params))
        except psycopg.errors.LockNotAvailable as exc:
            raise StoreBusyError(
                message=f"Another session has held the store's tables for over {self.lock_timeout:.0f} s.",
                hint="Wait for the running ingest to finish, or raise DASHBOARD_LOCK_TIMEOUT.",
            ) from exc
        except psycopg.OperationalError as exc:
            if not self.raw.broken:
                raise
            # The server restarted or the network dropped: this connection is discarded on release and
            # the next call opens a new one.
            raise StoreError("Database connection lost", str(exc).strip().splitlines()[0] if str(exc).strip() else
                             type(exc).__name__,
                             hint="Reload the page to try again; if it persists, check that the PostgreSQL "
                                  "server named by DASHBOARD_DATABASE_URL is up.") from exc
        return self

    def fetchone(self) -> tuple | None:
        return self._cur.fetchone()

    def fetchall(self) -> list[tuple]:
        return self._cur.fetchall()

    def df(self) -> pd.DataFrame:
        description = self._cur.description or []
        rows = self._cur.fetchall()
        columns = list(zip(*rows, strict=True)) if rows else [()] * len(description)
        return pd.DataFrame({d.name: _series(values, d.type_code) for d, values in zip(description, columns,
                                                                                        strict=True)})

    def copy(self, statement: str) -> Any:
        return self._cur.copy(statement)


def _series(values: Sequence[Any], oid: int) -> pd.Series:
    has_null = any(v is None for v in values)
    if oid in _INT:
        return pd.Series(values, dtype=_INT[oid][1] if has_null else _INT[oid][0])
    if oid in _FLOAT:
        return pd.Series([None if v is None else float(v) for v in values], dtype="float64")
    if oid in _TEXT:
        return pd.Series(values, dtype="str")
    if oid in _TIME:
        return pd.Series(pd.to_datetime(list(values)), dtype="datetime64[us]")
    if oid == _BOOL:
        return pd.Series(values, dtype="boolean" if has_null else "bool")
    return pd.Series(values, dtype=object)


# Per-session settings for the aggregate queries: at the server default work_mem (4 MB) the weekly
# GROUPING SETS query sorted on disk and took 15.7 s on the sample instead of 2.1 s; JIT compilation
# added 40-50 ms to queries that run in a few ms.
SESSION_OPTIONS = "-c work_mem=64MB -c jit=off"


class PostgreSQL:
    """A PostgreSQL database named by a URL; every app replica and CLI run connects to the same one."""

    name = "postgresql"
    # Idle connections kept for reuse: opening one costs a few ms (more with TLS), a query well under one.
    keep_idle = 4

    def __init__(self, url: str, lock_timeout: float = 30.0) -> None:
        self.url = url
        self.lock_timeout = lock_timeout
        self._idle: list[Any] = []
        self._lock = threading.Lock()

    def describe(self) -> str:
        return redact(self.url)

    def _open(self) -> Any:
        try:
            import psycopg
        except ImportError as exc:  # pragma: no cover - requirements.txt installs it
            raise StoreError("PostgreSQL driver missing", str(exc),
                             hint="Install the pinned requirements (scripts/setup.sh).") from exc
        try:
            # A short statement-level lock wait turns a long-running writer into a clear "busy" error.
            return psycopg.connect(self.url, autocommit=True, connect_timeout=10,
                                   options=f"-c lock_timeout={int(self.lock_timeout * 1000)} {SESSION_OPTIONS}")
        except psycopg.Error as exc:
            raise StoreError(
                "Database cannot be reached",
                f"{self.describe()}: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}",
                hint="Check DASHBOARD_DATABASE_URL (host, port, database, user, password) and that the "
                     "PostgreSQL server is running; leave it empty to use the embedded store.",
            ) from exc

    @contextmanager
    def connect(self) -> Iterator[PgConnection]:
        """A connection of its own for the caller (transactions are per connection), reused when idle."""
        import psycopg

        with self._lock:
            raw = self._idle.pop() if self._idle else None
        if raw is None or raw.closed:
            raw = self._open()
        con = PgConnection(raw, self.lock_timeout)
        try:
            yield con
        finally:
            reusable = (not raw.closed and not raw.broken
                        and raw.info.transaction_status == psycopg.pq.TransactionStatus.IDLE)
            with self._lock:
                if reusable and len(self._idle) < self.keep_idle:
                    self._idle.append(raw)
                    raw = None
            if raw is not None:
                raw.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for raw in idle:
            raw.close()

    def create_table(self, con: PgConnection, name: str, frame: pd.DataFrame) -> None:
        """CREATE TABLE with the frame's column types, then COPY the rows in as CSV written by Arrow."""
        table = pa.Table.from_pandas(frame, preserve_index=False)
        columns = []
        for field in table.schema:
            kind = pg_type(field.type)
            columns.append(f"{field.name} {kind}")
            if kind == "BYTEA":  # CSV cannot carry raw bytes; COPY reads bytea as \x-hex text
                index = table.schema.get_field_index(field.name)
                hexed = pa.array([None if b is None else "\\x" + b.hex() for b in table.column(index).to_pylist()],
                                 type=pa.string())
                table = table.set_column(index, field.name, hexed)
        con.execute(f"CREATE TABLE {name} ({', '.join(columns)})")
        if table.num_rows == 0:
            return
        options = pacsv.WriteOptions(include_header=False, batch_size=65_536)
        with con.copy(f"COPY {name} FROM STDIN (FORMAT csv)") as copy:
            for batch in table.to_batches(max_chunksize=100_000):
                buffer = io.BytesIO()
                pacsv.write_csv(pa.Table.from_batches([batch]), buffer, write_options=options)
                copy.write(buffer.getvalue())

    def finish_table(self, con: PgConnection, name: str, time_column: str | None) -> None:
        # Planner statistics now, not when autovacuum gets round to it; a BRIN index on the time column
        # (rows arrive roughly in time order) lets date-window aggregates skip most of the table.
        if time_column:
            con.execute(f"CREATE INDEX {name}_time ON {name} USING brin ({time_column})")
        con.execute(f"ANALYZE {name}")

    def abandon(self, con: PgConnection) -> None:
        """Roll back a failed write; a connection that cannot is closed on release, not reused."""
        import psycopg

        try:
            con.execute("ROLLBACK")
        except (psycopg.Error, StoreError) as exc:
            log.warning("rollback after a failed write failed too (%s); dropping the connection", exc)

    def lock_commits(self, con: PgConnection) -> None:
        # Replicas and CLI runs may commit at the same moment: one at a time picks the next version number.
        con.execute("SELECT pg_advisory_xact_lock(hashtext('dashboard.store.commit'))")

    def row_hash(self, columns: Sequence[str]) -> str:
        # A text rendering per row; NULL gets a marker so a missing value moved between columns differs.
        text = ", ".join(f"COALESCE(CAST({c} AS TEXT), E'\\\\N')" for c in columns)
        return f"hashtextextended(concat_ws('|', {text}), 0)"

    def fetch_arrow(self, con: PgConnection, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        return pa.Table.from_pandas(con.execute(sql, params).df(), preserve_index=False)

    def token_stamp(self) -> None:
        """None: another replica may have committed, so the catalog is read every time (one small query)."""
        return None


def _as_arrow(frame: pd.DataFrame):
    """The frame as an arrow table when it converts (text columns are arrow-backed already, so this
    is nearly free): DuckDB inserts from arrow with about a fifth less CPU than from a pandas frame,
    with the same column types. The frame itself when some column does not convert."""
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return frame
