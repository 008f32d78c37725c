"""The store's analytic SQL: reference tables, counts, points and the trends page's one-scan aggregates,
over the active version of each dataset. Read-only and portable SQL: no commits, no catalog, no DDL (store.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import pandas as pd

from dashboard import schema
from dashboard.compstat import GUN_OFFENSE_SQL
from dashboard.errors import DataMissingError, StoreError


class Queries:
    """Mixed into store.Store, whose catalog provides ``query`` (SQL with ``{name}`` placeholders for the
    active tables), ``has``, ``connect``, ``table``, ``dialect`` and ``time_columns`` (dataset -> its
    time column)."""

    time_columns: Mapping[str, str]

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


    def date_bounds(self, dataset: str = "incidents") -> tuple[date, date] | None:
        if not self.has(dataset):
            return None
        col = self.time_columns[dataset]
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
        tcol = self.time_columns[dataset]
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


    def trend_window_counts(self, periods: Sequence[tuple[str, date, date]]) -> pd.DataFrame:
        """Incidents per area (all three levels at once) x offense group x gun flag in each named period,
        in ONE scan: a CASE WHEN sum per period boundary.

        ``periods``: (name, start, end inclusive); name must be an SQL identifier (compstat.trend_periods).
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
        # than a second sum per period it keeps the aggregate cheaper.
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

        What the trends page's counts are sliced from (compstat.day_cubes), once per version, so that a
        new anchor date needs no query. Text columns come back arrow-backed (no per-value objects)."""
        if not self.has("incidents"):
            raise DataMissingError(message="No incidents have been loaded yet.",
                                   hint="Load them with: python -m dashboard ingest FILE --kind incidents")
        where, params = _time_range(since, None)
        sql = _area_and_citywide_counts_sql("day", "CAST(occurred_at AS DATE)", where)
        with self.connect() as con:
            table = self.table("incidents", con)
            result = self.dialect.fetch_arrow(con, sql.format(t=table), params)
        # self_destruct: each arrow column is freed as it is converted, so the table and the frame are not
        # both held whole at the peak.
        return result.to_pandas(date_as_object=False, self_destruct=True, split_blocks=True)

    def survey_scores(self, level: str) -> pd.DataFrame:
        """Survey rows of ``level``: area_id, period_start, period_end, trust_score, safety_score,
        respondents, is_demo (empty frame with these columns when no surveys are loaded)."""
        cols = ["area_id", "period_start", "period_end", "trust_score", "safety_score", "respondents", "is_demo"]
        if not self.has("surveys"):
            return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
        return self.query(f"SELECT {', '.join(cols)} FROM {{s}} WHERE level = ? ORDER BY area_id, period_start",  # noqa: S608
                          [level], s="surveys")


def _empty_counts(by: Sequence[str], dataset: str) -> pd.DataFrame:
    measures = ["count"] if dataset == "incidents" else ["events", "rows", "attendees", "officer_hours",
                                                         "contacts", "referrals", "reach"]
    return pd.DataFrame({c: pd.Series(dtype=object) for c in by} | {m: pd.Series(dtype=float) for m in measures})



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

