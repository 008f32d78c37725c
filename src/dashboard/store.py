"""The store's version catalog: versioned datasets with atomic commits and rollbacks, the audit log and
run-time settings, on DuckDB or PostgreSQL (what differs is in dialects.py); the analytic SQL is queries.py's.
Must not import Streamlit.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from dashboard import auth_tables, dialects, schema
from dashboard.errors import DataMissingError, StoreError
from dashboard.queries import Queries

log = logging.getLogger(__name__)

CATALOG_DDL = (
    """
    CREATE TABLE IF NOT EXISTS dataset_versions (
        dataset TEXT NOT NULL,
        version INTEGER NOT NULL,
        table_name TEXT NOT NULL,
        created_at TIMESTAMP NOT NULL,
        mode TEXT NOT NULL,
        source TEXT,
        file_hash TEXT,
        rows_in BIGINT,
        rows_kept BIGINT,
        rows_rejected BIGINT,
        row_count BIGINT NOT NULL,
        content_hash TEXT NOT NULL,
        mapping TEXT,
        author TEXT,
        note TEXT,
        PRIMARY KEY (dataset, version)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS active_versions (
        dataset TEXT PRIMARY KEY,
        version INTEGER NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS audit_log (
        logged_at TIMESTAMP NOT NULL,
        actor TEXT NOT NULL,
        role TEXT,
        action TEXT NOT NULL,
        target TEXT,
        detail TEXT,
        outcome TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS app_settings (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        changed_at TIMESTAMP NOT NULL,
        changed_by TEXT NOT NULL
    )
    """,
)

AUDIT_SQL = "INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?)"

# Columns of each dataset as stored; areas keep geometry as WKB so the SQL stays portable.
STORED_COLUMNS: dict[str, tuple[str, ...]] = {
    kind: tuple("geometry_wkb" if c == "geometry" else c for c in schema.SCHEMAS[kind].columns)
    for kind in schema.DATASETS
}

TIME_COLUMN = schema.TIME_COLUMNS


@dataclass(frozen=True)
class Provenance:
    source: str
    file_hash: str = ""
    rows_in: int | None = None
    rows_kept: int | None = None
    rows_rejected: int | None = None
    mapping: dict[str, Any] | None = None
    author: str = "system"
    note: str = ""
    role: str = ""


_OPEN_STORES: weakref.WeakSet[Store] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for store in list(_OPEN_STORES):
        store.close()


class Store(Queries):
    """One store: a DuckDB file (a path) or a PostgreSQL database (a ``postgresql://`` URL).

    Each commit writes a complete new table for its dataset (``incidents_v3``) and moves the dataset's
    active pointer in the same transaction, so a failed or killed commit leaves the previous version
    active and intact, and a rollback is a pointer move. Pages receive small aggregated frames from the
    ``count_*`` queries, never raw incident rows. Connections are short-lived so a CLI ingest can write
    while the app runs.

    Safe to share between threads: every call gets a connection (or cursor) of its own. The version
    catalog, commits and row-level writes are here; the analytic reads come from queries.Queries.
    """

    time_columns = TIME_COLUMN

    def __init__(self, path: Path | str, lock_timeout: float = 30.0, idle_close: float = 2.0) -> None:
        self.dialect = dialects.for_target(path, lock_timeout=lock_timeout, idle_close=idle_close)
        self.path = None if dialects.is_database_url(path) else Path(path)
        self.lock_timeout = lock_timeout
        self._token_lock = threading.Lock()
        self._token_cache: tuple[tuple, str] | None = None
        self._initialised = False
        _OPEN_STORES.add(self)

    def describe(self) -> str:
        """Where the data lives: the DuckDB file, or the database URL without its password."""
        return self.dialect.describe()

    @contextmanager
    def connect(self) -> Iterator[Any]:
        """A connection with ``execute(sql, params)`` (``?`` placeholders), ``fetchone``, ``fetchall``, ``df``."""
        with self.dialect.connect() as con:
            yield con

    def close(self) -> None:
        """Release the database file or the idle server connections now (tests, CLI exit)."""
        self.dialect.close()

    def _abandon(self, con: Any) -> None:
        """Roll back a failed write; if the connection cannot even do that, it is dropped (dialects)."""
        self.dialect.abandon(con)

    def initialise(self) -> None:
        """Create the catalog tables and auth's (auth_tables) if this is a new store (once per Store object)."""
        if self._initialised:
            return
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                self.dialect.lock_commits(con)  # two replicas starting at once create the catalog once
                for ddl in (*CATALOG_DDL, *auth_tables.DDL):
                    con.execute(ddl)
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise
        self._initialised = True

    # --------------------------------------------------------------------------------- catalog
    def active_versions(self) -> dict[str, int]:
        self.initialise()
        with self.connect() as con:
            rows = con.execute("SELECT dataset, version FROM active_versions ORDER BY dataset").fetchall()
        return {d: int(v) for d, v in rows}

    def version_token(self) -> str:
        """A short string that changes whenever any dataset's active version changes.

        Cheap on the hot path: DuckDB's catalog is re-read only when the database file or its WAL
        changed, so a warm page rerun does not open the database just to learn nothing moved. On
        PostgreSQL another replica may have committed, so it is one small query every time.
        """
        stamp = self.dialect.token_stamp()
        with self._token_lock:
            if stamp is not None and self._token_cache and self._token_cache[0] == stamp:
                return self._token_cache[1]
        token = ",".join(f"{d}:{v}" for d, v in self.active_versions().items()) or "empty"
        overrides = self.setting_overrides()
        if overrides:  # run-time settings change what pages show, so they are part of the version
            token += "|settings:" + hashlib.sha256(json.dumps(overrides, sort_keys=True).encode()).hexdigest()[:12]
        with self._token_lock:
            self._token_cache = (stamp, token)
        return token

    def versions(self, dataset: str | None = None) -> pd.DataFrame:
        self.initialise()
        sql = """
            SELECT v.dataset, v.version, v.created_at, v.mode, v.source, v.rows_in, v.rows_kept,
                   v.rows_rejected, v.row_count, v.author, v.note, v.file_hash, v.content_hash, v.table_name,
                   (a.version IS NOT NULL) AS active
            FROM dataset_versions v
            LEFT JOIN active_versions a ON a.dataset = v.dataset AND a.version = v.version
            WHERE (CAST(? AS TEXT) IS NULL OR v.dataset = ?)
            ORDER BY v.dataset, v.version DESC
        """
        with self.connect() as con:
            return con.execute(sql, [dataset, dataset]).df()

    def table(self, dataset: str, con: Any = None) -> str | None:
        """Name of the active table of ``dataset`` (None when it has no version yet)."""
        if con is None:
            with self.connect() as con2:
                return self.table(dataset, con2)
        rows = con.execute(
            "SELECT v.table_name FROM active_versions a JOIN dataset_versions v "
            "ON v.dataset = a.dataset AND v.version = a.version WHERE a.dataset = ?",
            [dataset],
        ).fetchall()  # read to the end: DuckDB 2 refuses other work on a cursor with an unread result
        return rows[0][0] if rows else None

    def is_empty(self) -> bool:
        return not self.active_versions()

    # ---------------------------------------------------------------------------------- commit
    def commit(self, dataset: str, frame: pd.DataFrame, provenance: Provenance, mode: str = "replace") -> int:
        """Store ``frame`` (already canonical) as a new active version of ``dataset``; return its number.

        mode="append" keeps the active rows whose key is not in ``frame`` (the newer record wins).
        All of it happens in one transaction: on any failure the previous version stays active.
        """
        if dataset not in schema.DATASETS:
            raise StoreError("Unknown dataset", f"{dataset!r} is not a dataset kind.",
                             hint=f"Use one of {', '.join(schema.DATASETS)}.")
        if mode not in ("replace", "append"):
            raise StoreError("Unknown commit mode", f"{mode!r}", hint="Use 'replace' or 'append'.")
        incoming = _to_stored(dataset, frame)
        columns = STORED_COLUMNS[dataset]
        collist = ", ".join(columns)
        keys = schema.KEYS[dataset]
        self.initialise()
        with self.connect() as con:
            try:
                con.execute("BEGIN TRANSACTION")
                self.dialect.lock_commits(con)
                previous = self.table(dataset, con)
                version = con.execute(
                    "SELECT COALESCE(MAX(version), 0) + 1 FROM dataset_versions WHERE dataset = ?", [dataset]
                ).fetchall()[0][0]
                # Every identifier below comes from schema constants and the catalog, never from input.
                name = f"{dataset}_v{version}"
                log.info("committing %s version %s (%s)", dataset, version, mode)
                self.dialect.create_table(con, name, incoming)
                if mode == "append" and previous:
                    keymatch = " AND ".join(f"n.{k} = p.{k}" for k in keys)
                    con.execute(
                        f"INSERT INTO {name} ({collist}) SELECT {', '.join('p.' + c for c in columns)} "  # noqa: S608
                        f"FROM {previous} p WHERE NOT EXISTS (SELECT 1 FROM {name} n WHERE {keymatch})"
                    )
                self.dialect.finish_table(con, name, TIME_COLUMN.get(dataset))
                row_count = con.execute(f"SELECT COUNT(*) FROM {name}").fetchone()[0]  # noqa: S608
                content = _content_hash(con, name, columns, keys, self.dialect)
                con.execute(
                    "INSERT INTO dataset_versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [dataset, version, name, datetime.now(), mode, provenance.source, provenance.file_hash,
                     provenance.rows_in, provenance.rows_kept, provenance.rows_rejected, row_count, content,
                     json.dumps(provenance.mapping or {}, default=str), provenance.author, provenance.note],
                )
                con.execute("DELETE FROM active_versions WHERE dataset = ?", [dataset])
                con.execute("INSERT INTO active_versions VALUES (?, ?)", [dataset, version])
                # In the same transaction: the log never claims a commit that did not happen.
                con.execute(AUDIT_SQL, [datetime.now(), provenance.author, provenance.role, "commit",
                                        f"{dataset} v{version}",
                                        f"{mode}; {provenance.source}; {row_count} rows", "ok"])
                con.execute("COMMIT")
            except Exception as exc:
                self._abandon(con)
                if isinstance(exc, StoreError):
                    raise
                raise StoreError(
                    "Commit failed; nothing was changed",
                    f"{dataset}: {str(exc).splitlines()[0]}",
                    hint="The previous version is still active. Check free disk space and that the data "
                         "folder is writable, then try again.",
                ) from exc
        log.info("committed %s version %s (%s rows, %s)", dataset, version, row_count, mode)
        return int(version)

    def rollback(self, dataset: str, version: int, actor: str = "system", role: str = "") -> None:
        """Make an earlier (or later) stored version of ``dataset`` the active one."""
        with self.connect() as con:
            exists = con.execute(
                "SELECT 1 FROM dataset_versions WHERE dataset = ? AND version = ?", [dataset, version]
            ).fetchone()
            if not exists:
                raise StoreError("No such version", f"{dataset} has no version {version}.",
                                 hint="Pick a version from the version list (python -m dashboard status).")
            con.execute("BEGIN TRANSACTION")
            self.dialect.lock_commits(con)
            con.execute("DELETE FROM active_versions WHERE dataset = ?", [dataset])
            con.execute("INSERT INTO active_versions VALUES (?, ?)", [dataset, version])
            con.execute(AUDIT_SQL, [datetime.now(), actor, role, "rollback", f"{dataset} v{version}", "", "ok"])
            con.execute("COMMIT")

    # ---------------------------------------------------------------------------------- reading
    def query(self, sql: str, params: Sequence[Any] = (), **tables: str) -> pd.DataFrame:
        """Run ``sql`` with ``{incidents}``-style placeholders replaced by the active table names.

        Raises DataMissingError if a named dataset has no version yet.
        """
        with self.connect() as con:
            names = {}
            for placeholder, dataset in tables.items():
                table = self.table(dataset, con)
                if table is None:
                    raise DataMissingError(
                        message=f"No {dataset} have been loaded yet.",
                        hint=f"Load them with: python -m dashboard ingest FILE --kind {dataset}",
                    )
                names[placeholder] = table
            return con.execute(sql.format(**names), list(params)).df()

    def has(self, dataset: str) -> bool:
        return dataset in self.active_versions()

    def status(self) -> list[dict[str, Any]]:
        """Per dataset: active version, rows, date range, loaded-at, source (for the CLI and Data page)."""
        out = []
        versions = self.versions()
        for dataset in schema.DATASETS:
            active = versions[(versions["dataset"] == dataset) & versions["active"]]
            if active.empty:
                out.append({"dataset": dataset, "version": None, "rows": 0, "min_date": None,
                            "max_date": None, "loaded_at": None, "source": None, "versions": 0})
                continue
            row = active.iloc[0]
            lo = hi = None
            if dataset in TIME_COLUMN:
                col = TIME_COLUMN[dataset]
                rng = self.query(f"SELECT MIN({col}) lo, MAX({col}) hi FROM {{t}}", t=dataset)  # noqa: S608
                lo, hi = rng["lo"].iloc[0], rng["hi"].iloc[0]
            out.append({
                "dataset": dataset,
                "version": int(row["version"]),
                "rows": int(row["row_count"]),
                "min_date": None if pd.isna(lo) else pd.Timestamp(lo).isoformat(),
                "max_date": None if pd.isna(hi) else pd.Timestamp(hi).isoformat(),
                "loaded_at": pd.Timestamp(row["created_at"]).isoformat(timespec="seconds"),
                "source": row["source"],
                "versions": int((versions["dataset"] == dataset).sum()),
            })
        return out

    # ------------------------------------------------------------------- accounts, audit, settings
    # Small row-level reads and writes for auth.py. Each write and its audit entry share one
    # transaction, so the log and the change it describes cannot disagree.
    def write(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        """Run ``(sql, params)`` statements in one transaction (all or nothing)."""
        self.initialise()
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                for sql, params in statements:
                    con.execute(sql, list(params))
                con.execute("COMMIT")
            except Exception as exc:
                self._abandon(con)
                raise StoreError(
                    "Change not saved; nothing was changed",
                    str(exc).splitlines()[0],
                    hint="Check free disk space and that the data folder is writable, then try again.",
                ) from exc

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        self.initialise()
        with self.connect() as con:
            return con.execute(sql, list(params)).fetchall()

    def verify(self) -> list[str]:
        """Problems found when every stored version is checked against its catalog entry: its table
        exists, holds ``row_count`` rows and has the recorded content hash; every active pointer names
        a stored version. Empty when the store is consistent (after a crash, say)."""
        self.initialise()
        problems = []
        with self.connect() as con:
            tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                                "WHERE table_schema = current_schema()").fetchall()}
            versions = con.execute("SELECT dataset, version, table_name, row_count, content_hash "
                                   "FROM dataset_versions ORDER BY dataset, version").fetchall()
            for dataset, version, table, rows, content in versions:
                if table not in tables:
                    problems.append(f"{dataset} v{version}: table {table} is missing")
                    continue
                count = con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: S608 - catalog name
                if count != rows:
                    problems.append(f"{dataset} v{version}: {count} rows, catalog says {rows}")
                elif _content_hash(con, table, STORED_COLUMNS[dataset], schema.KEYS[dataset], self.dialect) != content:
                    problems.append(f"{dataset} v{version}: content differs from the recorded hash")
            stored = {(d, v) for d, v, *_ in versions}
            for dataset, version in con.execute("SELECT dataset, version FROM active_versions").fetchall():
                if (dataset, version) not in stored:
                    problems.append(f"{dataset}: active version {version} does not exist")
            orphans = {t for t in tables if t.rsplit("_v", 1)[0] in schema.DATASETS} - {v[2] for v in versions}
            problems += [f"table {t} belongs to no version" for t in sorted(orphans)]
        return problems

    def audit(self, actor: str, role: str, action: str, target: str = "", detail: str = "",
              outcome: str = "ok", at: datetime | None = None) -> None:
        self.write([(AUDIT_SQL, [at or datetime.now(), actor, role, action, target, detail, outcome])])

    def audit_log(self, limit: int = 1000) -> pd.DataFrame:
        """The newest ``limit`` audit entries, newest first."""
        self.initialise()
        with self.connect() as con:
            return con.execute("SELECT logged_at, actor, role, action, target, detail, outcome FROM audit_log "
                               "ORDER BY logged_at DESC LIMIT ?", [int(limit)]).df()

    def setting_overrides(self) -> dict[str, str]:
        return {name: value for name, value in self.rows("SELECT name, value FROM app_settings ORDER BY name")}



def _to_stored(dataset: str, frame: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(frame)  # read only here (copy-on-write): no copy of a million rows
    if dataset == "areas":
        import shapely

        out = out.assign(geometry_wkb=shapely.to_wkb(out["geometry"].values)).drop(columns="geometry")
    missing = [c for c in STORED_COLUMNS[dataset] if c not in out.columns]
    if missing:
        raise StoreError("Frame is not canonical", f"{dataset} frame lacks {missing}.",
                         hint="Pass it through ingest first.")
    return out[list(STORED_COLUMNS[dataset])]



def _content_hash(con: Any, table: str, columns: Sequence[str], keys: Sequence[str],
                  dialect: dialects.Dialect) -> str:
    """Order-independent fingerprint of a table's content, to check a version is what was committed:
    the sum over rows of the engine's hash of each row's values (position-sensitive, NULL-aware; on
    DuckDB of the typed values directly, about 8x faster on 1M rows than hashing a text rendering)."""
    row = con.execute(f"SELECT COUNT(*), SUM({dialect.row_hash(columns)}) FROM {table}").fetchone()  # noqa: S608
    return hashlib.sha256(f"{row[0]}:{row[1]}".encode()).hexdigest()[:16]
