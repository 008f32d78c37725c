"""The store: versioned datasets, atomic commits, SQL aggregates, on DuckDB (embedded, the default) or
PostgreSQL (DASHBOARD_DATABASE_URL).

Each commit writes a complete new table for its dataset (``incidents_v3``) and moves the dataset's
active pointer in the same transaction, so a failed or killed commit leaves the previous version
active and intact, and a rollback is a pointer move. Pages receive small aggregated frames from the
``count_*`` functions here, never raw incident rows. Connections are short-lived so a CLI ingest can
write while the app runs. SQL here is portable (date_trunc, extract, GROUPING SETS, ``?`` placeholders);
what differs between the databases lives in dialects.py. This module must not import Streamlit.
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
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from dashboard import dialects, schema
from dashboard.errors import DataMissingError, StoreError

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
    # Accounts live beside the data so a backup or a second replica carries them too. Passwords are
    # kept only as scrypt hashes and sessions only as SHA-256 hashes of their tokens (see auth.py).
    """
    CREATE TABLE IF NOT EXISTS users (
        username TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        password_hash TEXT,
        created_at TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL
    )
    """,
    # Keyed by the name typed, whether or not such a user exists, so lockout does not reveal accounts.
    """
    CREATE TABLE IF NOT EXISTS sign_in_failures (
        username TEXT PRIMARY KEY,
        failures INTEGER NOT NULL,
        last_failure TIMESTAMP NOT NULL,
        locked_until TIMESTAMP
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS sessions (
        token_hash TEXT PRIMARY KEY,
        username TEXT NOT NULL,
        created_at TIMESTAMP NOT NULL,
        expires_at TIMESTAMP NOT NULL
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


class Store:
    """One store: a DuckDB file (a path) or a PostgreSQL database (a ``postgresql://`` URL).

    Safe to share between threads: every call gets a connection (or cursor) of its own.
    """

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
        """Create the catalog tables if this is a new store (once per Store object)."""
        if self._initialised:
            return
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                self.dialect.lock_commits(con)  # two replicas starting at once create the catalog once
                for ddl in CATALOG_DDL:
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

    def areas(self, level: str) -> pd.DataFrame:
        """Areas of one level: area_id, name, geometry_wkb (decode with geo.from_store)."""
        return self.query("SELECT area_id, name, geometry_wkb FROM {a} WHERE level = ? ORDER BY area_id",
                          [level], a="areas")

    def levels(self) -> list[str]:
        if not self.has("areas"):
            return []
        found = set(self.query("SELECT DISTINCT level FROM {a}", a="areas")["level"])
        return [lvl for lvl in schema.LEVELS if lvl in found]

    def population(self, level: str) -> pd.DataFrame:
        """Latest population per area of ``level``: area_id, year, population."""
        if not self.has("population"):
            return pd.DataFrame({"area_id": pd.Series(dtype=str), "year": pd.Series(dtype=int),
                                 "population": pd.Series(dtype=int)})
        return self.query(
            """
            SELECT p.area_id, p.year, p.population FROM {p} p
            JOIN (SELECT area_id, MAX(year) AS year FROM {p} WHERE level = ? GROUP BY area_id) m
              ON m.area_id = p.area_id AND m.year = p.year
            WHERE p.level = ? ORDER BY p.area_id
            """,
            [level, level], p="population",
        )

    # ------------------------------------------------------------------------------ aggregates
    def date_bounds(self, dataset: str = "incidents") -> tuple[date, date] | None:
        if not self.has(dataset):
            return None
        col = TIME_COLUMN[dataset]
        rng = self.query(f"SELECT MIN({col}) lo, MAX({col}) hi FROM {{t}}", t=dataset)  # noqa: S608
        if rng["lo"].isna().iloc[0]:
            return None
        return pd.Timestamp(rng["lo"].iloc[0]).date(), pd.Timestamp(rng["hi"].iloc[0]).date()

    def offense_groups_present(self) -> list[str]:
        if not self.has("incidents"):
            return []
        found = set(self.query("SELECT DISTINCT offense_group FROM {i}", i="incidents")["offense_group"])
        return [g for g in schema.OFFENSE_GROUPS if g in found]

    def count_incidents(
        self,
        by: Sequence[str],
        start: date,
        end: date,
        offense_groups: Sequence[str] | None = None,
        area: tuple[str, str] | None = None,
        *,
        exclude_offenses: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Incident counts from ``start`` to ``end`` inclusive, grouped by ``by``.

        ``by`` items: "week" (Monday of the ISO week), "day", "offense_group", "hour", "dow"
        (1 = Monday), or a level key ("beat", "district", "community_area": its area id).
        ``area`` = (level, area_id) restricts to one area. ``exclude_offenses`` leaves those offense
        types out (the public view's sensitive offenses). Returns the ``by`` columns and ``count``.
        """
        return self._count("incidents", by, start, end, offense_groups=offense_groups, area=area,
                           exclude_offenses=exclude_offenses)

    def count_outreach(
        self, by: Sequence[str], start: date, end: date, area: tuple[str, str] | None = None,
        event_types: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Outreach counts: ``events`` (distinct events) and ``rows`` (event x place), plus summed
        attendees, officer_hours, contacts, referrals, reach; grouped like count_incidents
        (also "event_type", "program")."""
        if not self.has("outreach"):  # outreach is optional: a department may load crime only
            return _empty_counts(by, "outreach")
        return self._count("outreach", by, start, end, area=area, event_types=event_types)

    def _count(self, dataset, by, start, end, offense_groups=None, area=None, event_types=None,
               exclude_offenses=None) -> pd.DataFrame:
        if not self.has(dataset):
            raise DataMissingError(message=f"No {dataset} have been loaded yet.",
                                   hint=f"Load them with: python -m dashboard ingest FILE --kind {dataset}")
        tcol = TIME_COLUMN[dataset]
        exprs = {
            "week": f"CAST(date_trunc('week', {tcol}) AS DATE)",
            "day": f"CAST({tcol} AS DATE)",
            "month": f"CAST(date_trunc('month', {tcol}) AS DATE)",
            "hour": f"CAST(extract(hour FROM {tcol}) AS INTEGER)",
            "dow": f"CAST(extract(isodow FROM {tcol}) AS INTEGER)",
            "offense_group": "offense_group",
            "offense": "offense",
            "event_type": "event_type",
            "program": "program",
            "unit": "unit",
            **{key: lvl.column for key, lvl in schema.LEVELS.items()},
        }
        unknown = [b for b in by if b not in exprs]
        if unknown:
            raise StoreError("Unknown grouping", f"Cannot group {dataset} by {unknown}.",
                             hint=f"Use some of {sorted(exprs)}.")
        select = [f"{exprs[b]} AS {b}" for b in by]
        where = [f"{tcol} >= ?", f"{tcol} < ?"]
        params: list[Any] = [pd.Timestamp(start).to_pydatetime(),
                             (pd.Timestamp(end) + pd.Timedelta(days=1)).to_pydatetime()]
        if offense_groups is not None:
            if not offense_groups:
                return _empty_counts(by, dataset)
            where.append(f"offense_group IN ({', '.join('?' * len(offense_groups))})")
            params.extend(offense_groups)
        if exclude_offenses:
            where.append(f"offense NOT IN ({', '.join('?' * len(exclude_offenses))})")
            params.extend(exclude_offenses)
        if event_types is not None:
            if not event_types:
                return _empty_counts(by, dataset)
            where.append(f"event_type IN ({', '.join('?' * len(event_types))})")
            params.extend(event_types)
        if area is not None:
            level, area_id = area
            where.append(f"{schema.LEVELS[level].column} = ?")
            params.append(area_id)
        for b in by:
            if b in schema.LEVELS:
                where.append(f"{schema.LEVELS[b].column} IS NOT NULL")
        if dataset == "incidents":
            measures = ["COUNT(*) AS count"]
        else:
            measures = ["COUNT(DISTINCT event_id) AS events", "COUNT(*) AS rows"] + [
                f"SUM({m}) AS {m}" for m in ("attendees", "officer_hours", "contacts", "referrals", "reach")
            ]
        group = f" GROUP BY {', '.join(str(i + 1) for i in range(len(by)))}" if by else ""
        order = f" ORDER BY {', '.join(str(i + 1) for i in range(len(by)))}" if by else ""
        sql = (f"SELECT {', '.join(select + measures)} FROM {{t}} "  # noqa: S608 - names are whitelisted
               f"WHERE {' AND '.join(where)}{group}{order}")
        return self.query(sql, params, t=dataset)

    def outreach_events(self, start: date, end: date, area: tuple[str, str] | None = None,
                        limit: int = 500) -> pd.DataFrame:
        """Outreach events from ``start`` to ``end`` inclusive (in one area when ``area`` = (level,
        area_id)), one row per event, newest first, at most ``limit``: event_id, starts_at, title,
        event_type, program, venue, place_level, beats (the beat ids it is placed on, comma-separated)."""
        columns = ["event_id", "starts_at", "title", "event_type", "program", "venue", "place_level", "beats"]
        if not self.has("outreach"):
            return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
        where = ["starts_at >= ?", "starts_at < ?"]
        params: list[Any] = [pd.Timestamp(start).to_pydatetime(),
                             (pd.Timestamp(end) + pd.Timedelta(days=1)).to_pydatetime()]
        if area is not None:
            level, area_id = area
            where.append(f"{schema.LEVELS[level].column} = ?")
            params.append(area_id)
        sql = f"""
            SELECT event_id, MIN(starts_at) AS starts_at, MIN(title) AS title, MIN(event_type) AS event_type,
                   MIN(program) AS program, MIN(venue) AS venue, MIN(place_level) AS place_level,
                   STRING_AGG(DISTINCT beat_id, ',') AS beats
            FROM {{o}} WHERE {' AND '.join(where)}
            GROUP BY event_id ORDER BY MIN(starts_at) DESC, event_id LIMIT {int(limit)}
        """  # noqa: S608 - the level column is whitelisted by schema.LEVELS
        return self.query(sql, params, o="outreach")[columns]

    def incident_points(self, start: date, end: date, offense_groups: Sequence[str] | None = None, *,
                        exclude_offenses: Sequence[str] | None = None) -> pd.DataFrame:
        """Geocoded incidents from ``start`` to ``end`` inclusive, aggregated to distinct coordinates:
        latitude, longitude, count. Incidents without coordinates are left out. For binning on the
        server (hotspots.hex_counts); never hand these to a browser."""
        where = ["occurred_at >= ?", "occurred_at < ?", "latitude IS NOT NULL", "longitude IS NOT NULL"]
        params: list[Any] = [pd.Timestamp(start).to_pydatetime(),
                             (pd.Timestamp(end) + pd.Timedelta(days=1)).to_pydatetime()]
        if offense_groups is not None:
            if not offense_groups:
                return pd.DataFrame({"latitude": pd.Series(dtype=float), "longitude": pd.Series(dtype=float),
                                     "count": pd.Series(dtype="int64")})
            where.append(f"offense_group IN ({', '.join('?' * len(offense_groups))})")
            params.extend(offense_groups)
        if exclude_offenses:
            where.append(f"offense NOT IN ({', '.join('?' * len(exclude_offenses))})")
            params.extend(exclude_offenses)
        sql = (f"SELECT latitude, longitude, COUNT(*) AS count FROM {{i}} WHERE {' AND '.join(where)} "  # noqa: S608
               "GROUP BY latitude, longitude ORDER BY latitude, longitude")
        return self.query(sql, params, i="incidents")

    # ------------------------------------------------------------- CompStat aggregates (trends page)
    def trend_window_counts(self, periods: Sequence[tuple[str, date, date]]) -> pd.DataFrame:
        """Incidents per area (all three levels at once) x offense group x gun flag in each named period,
        in ONE scan: a CASE WHEN sum per period boundary.

        ``periods``: (name, start, end inclusive); name must be an SQL identifier (metrics.trend_periods).
        Returns community_area, district, beat (area ids; None where the record has none), offense_group,
        gun (1: a gun offense, see GUN_OFFENSE_SQL; else 0), then one count column per period ``name``.
        """
        if not periods:
            raise StoreError("No periods", "trend_window_counts needs at least one period.")
        bad = [p[0] for p in periods if not str(p[0]).isidentifier() or not str(p[0]).isascii()]
        if bad:
            raise StoreError("Bad period name", f"{bad} are not plain identifiers.")
        if not self.has("incidents"):
            raise DataMissingError(message="No incidents have been loaded yet.",
                                   hint="Load them with: python -m dashboard ingest FILE --kind incidents")
        columns, params = [], []
        for name, start, end in periods:
            columns.append(f"CAST(SUM(CASE WHEN occurred_at >= ? AND occurred_at < ? THEN 1 ELSE 0 END) AS BIGINT) "
                           f"AS {name}")
            params += [pd.Timestamp(start).to_pydatetime(), (pd.Timestamp(end) + pd.Timedelta(days=1)).to_pydatetime()]
        lo = min(pd.Timestamp(p[1]) for p in periods).to_pydatetime()
        hi = (max(pd.Timestamp(p[2]) for p in periods) + pd.Timedelta(days=1)).to_pydatetime()
        levels = [f"{lvl.column} AS {key}" for key, lvl in schema.LEVELS.items()]
        # The gun test (string matching) runs once per row in the inner query; as a grouping key rather
        # than a second sum per period it keeps the aggregate about a third cheaper.
        sql = (f"SELECT {', '.join(levels)}, offense_group, gun, {', '.join(columns)} "  # noqa: S608
               f"FROM (SELECT {', '.join(lvl.column for lvl in schema.LEVELS.values())}, offense_group, "
               f"occurred_at, CASE WHEN {GUN_OFFENSE_SQL} THEN 1 ELSE 0 END AS gun FROM {{t}} "
               f"WHERE occurred_at >= ? AND occurred_at < ?) AS i "
               f"GROUP BY {', '.join(str(i + 1) for i in range(len(levels) + 2))}")
        return self.query(sql, [*params, lo, hi], t="incidents")

    def weekly_area_counts(self, since: date | None = None, until: date | None = None) -> pd.DataFrame:
        """Weekly incidents of every area of every level, and citywide, per offense group, in ONE scan
        (GROUPING SETS): level ("citywide" or a level key), area_id (None citywide), offense_group,
        week (Monday), count, gun (of them, gun offenses). From ``since`` (None: all) to before
        ``until`` (None: the end)."""
        if not self.has("incidents"):
            raise DataMissingError(message="No incidents have been loaded yet.",
                                   hint="Load them with: python -m dashboard ingest FILE --kind incidents")
        where, params = _time_range(since, until)
        sql = _area_and_citywide_counts_sql("week", "CAST(date_trunc('week', occurred_at) AS DATE)", where)
        return self.query(sql, params, t="incidents")

    def daily_area_counts(self, since: date | None = None) -> pd.DataFrame:
        """Daily incidents of every area of every level, and citywide, per offense group, from ``since``
        (None: the whole active version) in ONE scan (GROUPING SETS): level ("citywide" or a level key),
        area_id (None citywide), offense_group, day, count, gun (of them, gun offenses; GUN_OFFENSE_SQL).

        What the trends page's counts are sliced from (metrics.day_cubes), once per version, so that a
        new anchor date needs no query. Text columns come back arrow-backed (no per-value objects: half
        a million rows on the sample)."""
        if not self.has("incidents"):
            raise DataMissingError(message="No incidents have been loaded yet.",
                                   hint="Load them with: python -m dashboard ingest FILE --kind incidents")
        where, params = _time_range(since, None)
        sql = _area_and_citywide_counts_sql("day", "CAST(occurred_at AS DATE)", where)
        with self.connect() as con:
            table = self.table("incidents", con)
            result = self.dialect.fetch_arrow(con, sql.format(t=table), params)
        # self_destruct: each arrow column is freed as it is converted, so the table and the frame are not
        # both held whole (10.7M rows at 10M incidents: about 0.5 GB less at the peak).
        return result.to_pandas(date_as_object=False, self_destruct=True, split_blocks=True)

    def survey_scores(self, level: str) -> pd.DataFrame:
        """Survey rows of ``level``: area_id, period_start, period_end, trust_score, safety_score,
        respondents, is_demo (empty frame with these columns when no surveys are loaded)."""
        cols = ["area_id", "period_start", "period_end", "trust_score", "safety_score", "respondents", "is_demo"]
        if not self.has("surveys"):
            return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
        return self.query(f"SELECT {', '.join(cols)} FROM {{s}} WHERE level = ? ORDER BY area_id, period_start",  # noqa: S608
                          [level], s="surveys")

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


def _empty_counts(by: Sequence[str], dataset: str) -> pd.DataFrame:
    measures = ["count"] if dataset == "incidents" else ["events", "rows", "attendees", "officer_hours",
                                                         "contacts", "referrals", "reach"]
    return pd.DataFrame({c: pd.Series(dtype=object) for c in by} | {m: pd.Series(dtype=float) for m in measures})


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


def _time_range(since: date | None, until: date | None) -> tuple[str, list]:
    """A WHERE clause on occurred_at (from ``since``, before ``until``; either may be None) and its values."""
    bounds = [(op, day) for op, day in ((">=", since), ("<", until)) if day is not None]
    where = " AND ".join(f"occurred_at {op} ?" for op, _ in bounds)
    return (f"WHERE {where}" if where else ""), [pd.Timestamp(day).to_pydatetime() for _, day in bounds]


def _area_and_citywide_counts_sql(bucket: str, bucket_sql: str, where: str = "") -> str:
    """Incidents per area of every level, and citywide, per offense group and time bucket, in ONE scan
    (GROUPING SETS): level ("citywide" or a level key), area_id (None citywide), offense_group,
    ``bucket``, count, gun (of them, gun offenses; GUN_OFFENSE_SQL). ``{t}`` is the incidents table."""
    cols = {key: lvl.column for key, lvl in schema.LEVELS.items()}
    level_case = " ".join(f"WHEN GROUPING({col}) = 0 THEN '{key}'" for key, col in cols.items())
    sets = ", ".join(f"({col}, offense_group, {bucket})" for col in cols.values())
    return (  # every name comes from schema constants and the callers' literals, never from input
        f"SELECT CASE {level_case} ELSE 'citywide' END AS level, "  # noqa: S608
        f"COALESCE({', '.join(cols.values())}) AS area_id, offense_group, {bucket}, COUNT(*) AS count, "
        f"CAST(SUM(gun) AS BIGINT) AS gun "
        f"FROM (SELECT {', '.join(cols.values())}, offense_group, {bucket_sql} AS {bucket}, "
        f"CASE WHEN {GUN_OFFENSE_SQL} THEN 1 ELSE 0 END AS gun FROM {{t}} {where}) AS i "
        f"GROUP BY GROUPING SETS ({sets}, (offense_group, {bucket}))"
    )


def _content_hash(con: Any, table: str, columns: Sequence[str], keys: Sequence[str],
                  dialect: dialects.Dialect) -> str:
    """Order-independent fingerprint of a table's content, to check a version is what was committed:
    the sum over rows of the engine's hash of each row's values (position-sensitive, NULL-aware; on
    DuckDB of the typed values directly, about 8x faster on 1M rows than hashing a text rendering)."""
    row = con.execute(f"SELECT COUNT(*), SUM({dialect.row_hash(columns)}) FROM {table}").fetchone()  # noqa: S608
    return hashlib.sha256(f"{row[0]}:{row[1]}".encode()).hexdigest()[:16]


# Gun offenses, one of the trends page's reporting-insensitive outcomes: the weapons group (unlawful
# possession, use or sale of firearms, reckless discharge, concealed-carry violations) plus any offense
# whose detail names a handgun, firearm or gun (armed robbery, aggravated assault and battery with a gun).
# Chicago's "GUN OFFENDER: ..." records are registry duties, not gun use, and are left out (checked
# against the sample's offense_detail values; see docs/methods.md, "Crime trends").
_DETAIL = "UPPER(COALESCE(offense_detail, ''))"
GUN_OFFENSE_SQL = (f"(offense_group = 'weapons' OR {_DETAIL} LIKE '%HANDGUN%' OR {_DETAIL} LIKE '%FIREARM%' "
                   f"OR ({_DETAIL} LIKE '%GUN%' AND {_DETAIL} NOT LIKE 'GUN OFFENDER%'))")
