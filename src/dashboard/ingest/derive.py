"""Incident columns from an export and its plan: dates combined and moved to local time, coordinates
from whichever columns hold them, area ids matched to the boundaries or found by point-in-polygon, and
the text columns cleaned. It derives and rejects rows it cannot derive; the incident rules run after.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from dashboard import schema
from dashboard.errors import IngestError
from dashboard.ingest import kernels, rules
from dashboard.ingest.kernels import (
    arrow_text,
    distinct_values,
    duplicated_ids,
    edge_bytes,
    has_byte,
    replace_at,
    run_all,
)
from dashboard.ingest.plan import Plan
from dashboard.ingest.rules import Rejections
from dashboard.ingest.values import (
    canonical_area_id,
    detect_date_format,
    group_offenses,
    has_utc_offsets,
    looks_projected,
    majority_date_format,
    match_area_ids,
    offense_lookup,
    parse_bool,
    parse_datetimes,
    parse_location,
    parse_time_of_day,
    placeholder_coordinates,
    project_to_degrees,
    strip_text,
    swapped_latlon,
    to_number,
)


@dataclass
class Derived:
    """What derive_incidents made: the frame under canonical names, the rows it rejected, notes for
    the report (date_format, timezone, fixes, hostile text) and the text columns' results by task."""

    frame: pd.DataFrame
    rejections: Rejections
    notes: dict[str, Any]
    text: dict[str, Any]


def areas_bounds(areas: dict[str, Any] | None) -> tuple[float, float, float, float] | None:
    """(west, south, east, north) around every level's boundaries, or None when none are loaded."""
    frames = [a for a in (areas or {}).values() if a is not None and len(a)]
    if not frames:
        return None
    boxes = np.array([a.total_bounds for a in frames])
    return (float(boxes[:, 0].min()), float(boxes[:, 1].min()), float(boxes[:, 2].max()), float(boxes[:, 3].max()))


def _col(raw: pd.DataFrame, plan: Plan, name: str) -> pd.Series | None:
    source = plan.columns.get(name)
    return raw[source] if source and source in raw.columns else None


def _occurred_at(raw: pd.DataFrame, plan: Plan, notes: dict[str, Any], rej: Rejections) -> pd.Series:
    """Parsed occurrence times (naive, in the zone to store); rows rejected here are added to ``rej``."""
    date_col = _col(raw, plan, "occurred_at")
    aware = False
    if date_col is not None:
        text = date_col if pd.api.types.is_datetime64_any_dtype(date_col.dtype) else strip_text(date_col)
        fmt = plan.date_format or (None if pd.api.types.is_datetime64_any_dtype(text.dtype) else detect_date_format(text))
        notes["date_format"] = fmt or "mixed"
        if not pd.api.types.is_datetime64_any_dtype(text.dtype) and has_utc_offsets(text):
            aware = True
            occurred = pd.to_datetime(text, utc=True, errors="coerce",
                                      **({"format": fmt} if fmt else {"format": "mixed"}))
        elif fmt is None:
            fmt = majority_date_format(text, plan.columns["occurred_at"])
            notes["date_format"] = fmt
            occurred = parse_datetimes(text, fmt, stripped=True)
        else:
            occurred = parse_datetimes(text, fmt, stripped=True)
    elif _col(raw, plan, "year") is not None and _col(raw, plan, "month") is not None:
        parts = {p: to_number(_col(raw, plan, p)) if _col(raw, plan, p) is not None else None
                 for p in ("year", "month", "day", "hour")}
        frame = pd.DataFrame({"year": parts["year"], "month": parts["month"],
                              "day": parts["day"] if parts["day"] is not None else 1,
                              "hour": parts["hour"] if parts["hour"] is not None else 0})
        occurred = pd.to_datetime(frame, errors="coerce").astype("datetime64[us]")
        notes["date_format"] = "year/month/day" + ("/hour" if parts["hour"] is not None else "")
    else:
        raise IngestError("No date column", "The mapping names no date (or year and month) column.",
                          hint="Map occurred_at to the date column, or year, month and day columns.")
    time_col = _col(raw, plan, "occurred_time")
    if time_col is not None:
        minutes, bad = parse_time_of_day(time_col)
        rej.add(bad & occurred.notna(), rules.UNPARSEABLE_TIME)
        notes.setdefault("fixes", {})["time of day missing, midnight used"] = int((minutes.isna() & ~bad).sum())
        base = occurred.dt.tz_convert("UTC").dt.tz_localize(None) if aware else occurred
        occurred = base.dt.normalize() + pd.to_timedelta(minutes.fillna(0), unit="m")
        aware = False
    elif _col(raw, plan, "hour") is not None and date_col is not None and not aware:
        # An hour column only adds to dates that carry no time of their own.
        hours = to_number(_col(raw, plan, "hour"))
        midnight = occurred == occurred.dt.normalize()
        occurred = occurred + pd.to_timedelta(hours.where(hours.between(0, 23) & midnight).fillna(0), unit="h")
    if aware or (plan.source_timezone not in ("", "local") and plan.timezone):
        if not plan.timezone:
            raise IngestError(
                "Time zone needed", "The dates carry UTC offsets; the store keeps local time.",
                hint="Choose the time zone of the area (e.g. America/Chicago) in the mapping (--timezone).")
        try:
            if not aware:
                occurred = occurred.dt.tz_localize(plan.source_timezone, ambiguous="NaT",
                                                   nonexistent="shift_forward")
            occurred = occurred.dt.tz_convert(plan.timezone).dt.tz_localize(None)
        except Exception as exc:  # noqa: BLE001 - pytz/zoneinfo raise several types for a bad name
            raise IngestError("Unknown time zone", f"{plan.source_timezone!r} or {plan.timezone!r}: {exc}",
                              hint="Use an IANA zone name such as America/Chicago or UTC.") from exc
        notes["timezone"] = f"{plan.source_timezone if not aware else 'UTC offsets'} -> {plan.timezone}"
    return occurred.astype("datetime64[us]")


def _coordinates(raw: pd.DataFrame, plan: Plan, bounds, notes: dict[str, Any]) -> tuple[pd.Series, pd.Series]:
    """Latitude and longitude in degrees from whichever columns the plan maps."""
    nan = pd.Series(np.nan, index=raw.index)
    lat_col, lon_col = _col(raw, plan, "latitude"), _col(raw, plan, "longitude")
    lat = to_number(lat_col) if lat_col is not None else nan
    lon = to_number(lon_col) if lon_col is not None else nan
    location = _col(raw, plan, "location")
    if location is not None:
        l_lat, l_lon = parse_location(location)
        lat, lon = lat.fillna(l_lat), lon.fillna(l_lon)
    x_col, y_col = _col(raw, plan, "x"), _col(raw, plan, "y")
    if x_col is not None and y_col is not None:
        if not plan.crs:
            sample = to_number(x_col).dropna()
            raise IngestError(
                "Coordinate system needed",
                f"{plan.columns['x']!r}/{plan.columns['y']!r} hold projected coordinates (feet or metres, "
                f"e.g. {sample.iloc[0] if len(sample) else 0:,.0f}), not degrees.",
                hint="Choose the coordinate system (e.g. EPSG:3435, Illinois East in US feet) in the mapping "
                     "(--crs); the page suggests the one that puts the points inside your boundaries.")
        p_lat, p_lon = project_to_degrees(to_number(x_col), to_number(y_col), plan.crs)
        lat, lon = lat.fillna(p_lat), lon.fillna(p_lon)
    elif plan.crs and lat_col is not None and lon_col is not None and looks_projected(lat):
        lat, lon = project_to_degrees(lon, lat, plan.crs)
    if lat_col is not None and not plan.crs and (looks_projected(lat) or looks_projected(lon)):
        raise IngestError(
            "Coordinates look like feet or metres, not degrees",
            f"Values of {plan.columns.get('latitude')!r} such as {lat.dropna().iloc[0]:,.0f} are not latitudes.",
            hint="Choose the coordinate system (e.g. EPSG:3435) in the mapping, or map the file's "
                 "latitude/longitude columns instead.")
    if plan.swap_latlon:
        lat, lon = lon, lat
        notes.setdefault("fixes", {})["latitude and longitude swapped back"] = int(lat.notna().sum())
    elif swapped_latlon(lat, lon, bounds):
        raise IngestError(
            "Latitude and longitude look swapped",
            "The latitude column holds longitudes and the longitude column latitudes.",
            hint="Tick 'swap latitude and longitude' in the mapping (--swap-latlon).")
    return lat, lon


MAX_TEXT = 2_000


_FORMULA = r"^\s*[=+@]|^\s*-\s*[A-Za-z(]"


_MARKUP = r"(?i)<\s*/?\s*(?:script|img|iframe|svg|object|embed|a|div|style|link|meta|body|html)\b|javascript:|\bon[a-z]+\s*="


def _longest(values: pd.Series) -> int:
    import pyarrow.compute as pc

    arr = arrow_text(values)
    # A value has at most as many characters as bytes; byte lengths come from the offsets, free.
    most_bytes = int(pc.max(pc.binary_length(arr)).as_py() or 0)
    return most_bytes if most_bytes <= MAX_TEXT else int(pc.max(pc.utf8_length(arr)).as_py() or 0)


# First bytes after which a value may be a formula or markup: blanks, - = + @, and any non-ASCII byte.
_RISKY_FIRST = np.zeros(256, dtype=bool)


_RISKY_FIRST[list(b" \t\r\n-=+@")] = True


_RISKY_FIRST[128:] = True


def _may_be_hostile(arr) -> bool:
    """False when no value can match _FORMULA or _MARKUP: none starts with a blank or one of - = + @
    and no byte anywhere is < = or : (every markup pattern holds one of them). A memchr-speed scan of
    the column's bytes, so id and address columns of unique values skip the regular expressions."""
    first, _, buffers = edge_bytes(arr)
    if has_byte(first, _RISKY_FIRST):
        return True
    for data in buffers:
        text = data.tobytes()
        if any(text.find(ch) >= 0 for ch in (b"<", b"=", b":")):
            return True
    return False


def hostile_text(frame: pd.DataFrame) -> dict[str, int]:
    """Count of values per column that a spreadsheet would run as a formula or a browser as markup;
    they are kept verbatim (as text) and the analyst is told."""
    import pyarrow as pa
    import pyarrow.compute as pc

    found = {}
    for column in frame.columns:
        arr = arrow_text(frame[column])
        if not _may_be_hostile(arr):
            continue
        # Distinct values only where they repeat (offense text), else every value; one cheap RE2 pass
        # finds the few candidates, and Python's regular expressions classify only those.
        head = frame[column].head(2000)
        if head.nunique() < 0.2 * max(len(head), 1):
            counts = pc.value_counts(arr)
            values, n_rows = counts.field("values"), counts.field("counts")
        else:
            values, n_rows = arr, pa.array(np.ones(len(arr), dtype="int64"))
        mask = pc.fill_null(pc.match_substring_regex(values, r"^\s*[-=+@]|[<=:]"), False)
        candidates = pd.Series(pc.filter(values, mask).to_pandas(), dtype="string")
        if not len(candidates):
            continue
        weights = pd.Series(pc.filter(n_rows, mask).to_numpy(), index=candidates.index)
        for label, pattern in (("formulas", _FORMULA), ("HTML/script", _MARKUP)):
            n = int(weights[candidates.str.contains(pattern, regex=True).fillna(False).astype(bool)].sum())
            if n:
                found[f"{column} {label}"] = n
    return found


INCIDENT_TEXT_FIELDS = ("incident_id", "case_number", "offense", "offense_detail", "offense_code",
                        "location_type", "block")


def _too_long(values: pd.Series) -> np.ndarray | None:
    """Rows whose text is longer than MAX_TEXT characters, or None when none is."""
    if _longest(values) <= MAX_TEXT:
        return None
    return (values.astype("string").str.len().fillna(0) > MAX_TEXT).to_numpy(dtype=bool)


def _match_level(col: pd.Series, key: str, areas, confirmed: dict[str, str] | None) -> tuple[pd.Series, int]:
    """Area ids of one level matched to its boundaries, and how many given values matched none."""
    distinct = distinct_values(col)
    values = col if distinct is None else distinct.base
    matched = match_area_ids(values, key, areas, confirmed)
    # canonical_area_id is NA exactly for blank values, so these are the values given but unknown
    given = strip_text(values)
    unknown = (given.notna() & (given != "") & matched.isna()).to_numpy(dtype=bool)
    if distinct is None:
        return matched, int(unknown.sum())
    return distinct.spread(matched), int(distinct.counts()[unknown].sum())


def _areas_of_points(x: np.ndarray, y: np.ndarray, areas) -> np.ndarray:
    """area_id (or None) of the area each point (x=longitude, y=latitude) lies within, first match."""
    import shapely

    points = shapely.points(x, y)
    point_idx, area_idx = areas.sindex.query(points, predicate="within")
    first = pd.Series(area_idx, index=point_idx)
    first = first[~first.index.duplicated(keep="first")]
    # Points on a border line (geocoded to the street that is the boundary) are within no polygon:
    # give them the nearest area within about 30 m.
    rest = np.setdiff1d(np.arange(len(points)), first.index.to_numpy())
    if len(rest):
        near_pt, near_area = areas.sindex.nearest(points[rest], max_distance=0.0003, return_all=False)
        first = pd.concat([first, pd.Series(near_area, index=rest[near_pt])])
    ids = np.full(len(points), None, dtype=object)
    ids[first.index.to_numpy()] = areas["area_id"].astype(str).to_numpy()[first.to_numpy()]
    return ids


def derive_incidents(raw: pd.DataFrame, plan: Plan, areas: dict[str, Any] | None = None) -> Derived:
    """Raw export + plan -> canonical columns, the rows rejected so far, notes and the text results.

    Dates are combined from date/time or year/month/day/hour columns and moved to local time;
    coordinates come from latitude/longitude, a '(lat, lon)' column or projected X/Y; area ids are
    matched to the boundaries (id, name or a confirmed value) and filled by point-in-polygon."""
    raw = raw.reset_index(drop=True)
    out = pd.DataFrame(index=raw.index)
    for name in ("incident_id", "case_number", "offense", "offense_detail", "offense_code", "location_type",
                 "block", "arrest", "domestic"):
        col = _col(raw, plan, name)
        out[name] = col if col is not None else pd.Series(pd.NA, index=raw.index, dtype="string")
    text_fields = [n for n in INCIDENT_TEXT_FIELDS if n in plan.columns]
    areas = {k: v for k, v in (areas or {}).items() if v is not None and len(v)}
    date_notes: dict[str, Any] = {"fixes": {}}
    date_rej = Rejections(len(raw))
    coordinate_notes: dict[str, Any] = {"fixes": {}}
    # Independent column work, in the order it would run one after another (errors are reported so).
    tasks: dict[str, Any] = {
        "occurred": lambda: _occurred_at(raw, plan, date_notes, date_rej),
        **{f"long {n}": (lambda n=n: _too_long(out[n])) for n in text_fields},
        **{f"hostile {n}": (lambda n=n: hostile_text(out[[n]])) for n in text_fields},
        "coordinates": lambda: _coordinates(raw, plan, areas_bounds(areas), coordinate_notes),
    }
    for key, level in schema.LEVELS.items():
        col = _col(raw, plan, level.column)
        if col is not None and key in areas:
            tasks[key] = lambda col=col, key=key: _match_level(col, key, areas[key], plan.area_values.get(key))
        elif col is not None:
            tasks[key] = lambda col=col, key=key: (canonical_area_id(col, key), 0)
    # The text work needs nothing derived here, so the same threads do it.
    text_tasks = _text_tasks(out, plan.offense_groups)
    tasks.update({f"text {name}": task for name, task in text_tasks.items()})
    done = run_all(tasks, parallel=len(raw) >= kernels.PARALLEL_ROWS)

    rej = date_rej
    notes: dict[str, Any] = {**date_notes, "fixes": {**date_notes["fixes"], **coordinate_notes["fixes"]}}
    out["occurred_at"] = done["occurred"]
    for name in text_fields:
        if done[f"long {name}"] is not None:
            rej.add(done[f"long {name}"], rules.TEXT_TOO_LONG, field=name, limit=MAX_TEXT)
    notes["hostile"] = {k: v for n in text_fields for k, v in done[f"hostile {n}"].items()}

    lat, lon = done["coordinates"]
    placeholder = placeholder_coordinates(lat) | placeholder_coordinates(lon) | (lat.abs() > 90) | (lon.abs() > 180)
    usable = (lat.notna() & lon.notna() & ~placeholder).to_numpy()
    out["latitude"], out["longitude"] = lat, lon
    lat_np, lon_np = lat.to_numpy(float), lon.to_numpy(float)

    placed = np.zeros(len(raw), dtype=bool)
    searched = np.zeros(len(raw), dtype=bool)
    for key, level in schema.LEVELS.items():
        ids, unmatched = done[key] if key in done else (pd.Series(pd.NA, index=raw.index, dtype="string"), 0)
        if key in areas:
            if key in done:
                notes["fixes"][f"{level.column} values not in the {key} boundaries, cleared"] = unmatched
            if plan.assign_areas in ("missing", "all"):
                todo = ids.isna().to_numpy() & usable if plan.assign_areas == "missing" else usable
                if todo.any():
                    at = np.flatnonzero(todo)
                    found = _areas_of_points(lon_np[at], lat_np[at], areas[key])
                    hit = pd.notna(found)
                    ids = replace_at(ids, at[hit], found[hit]) if plan.assign_areas == "missing" else \
                        replace_at(ids, at, found)
                    notes["fixes"][f"{level.column} found by point-in-polygon"] = int(hit.sum())
                    searched |= todo
        placed |= ids.notna().to_numpy()
        out[level.column] = ids
    outside = searched & ~placed
    rej.add(outside, rules.OUTSIDE_BOUNDARIES)
    notes["fixes"] = {k: v for k, v in notes["fixes"].items() if v}
    return Derived(out, rej, notes, {name: done[f"text {name}"] for name in text_tasks})


def _text_tasks(frame: pd.DataFrame, offense_groups: dict[str, str] | None) -> dict[str, Any]:
    """The work on the text columns (ids and repeats, offense and group, free text, flags) as
    independent tasks: name -> function of nothing. Their results are what validation reads."""

    def offense_and_group() -> tuple[np.ndarray, pd.Series, pd.Series, dict[str, int]]:
        """(missing offense per row, offense as stored, offense group, unmapped offense -> rows)."""
        given = frame["offense"]
        distinct = distinct_values(given)
        if distinct is None:
            upper = strip_text(given).str.upper()
            return ((upper.isna() | (upper == "")).to_numpy(dtype=bool), upper,
                    *group_offenses(upper, offense_groups, normalised=True))
        # Strip, upper-case and group the few distinct values, then spread all three back.
        upper = strip_text(distinct.base).str.upper()
        groups = upper.map(offense_lookup(offense_groups))
        unknown = pd.Series(distinct.counts(), index=upper.array)[(groups.isna() & upper.notna()).to_numpy()]
        unknown = unknown.groupby(level=0, sort=False).sum()
        missing = (upper.isna() | (upper == "")).to_numpy(dtype=bool)[distinct.codes]
        return (missing, distinct.spread(upper), distinct.spread(groups.fillna("other").astype(str)),
                {k: int(v) for k, v in unknown[unknown > 0].sort_values(ascending=False, kind="stable").items()})

    def ids_and_repeats() -> tuple[pd.Series, np.ndarray]:
        ids = strip_text(frame["incident_id"])
        # One row per incident: a later row with the same id replaces an earlier one (newer export wins).
        return ids, (ids.notna() & duplicated_ids(ids, keep="last")).to_numpy(dtype=bool)

    return {
        "ids": ids_and_repeats,
        "offense": offense_and_group,
        **{name: (lambda name=name: strip_text(frame[name]))
           for name in ("case_number", "offense_detail", "offense_code", "location_type", "block")},
        "arrest": lambda: parse_bool(frame["arrest"]),
        "domestic": lambda: parse_bool(frame["domestic"]),
    }

