"""Column mapping for uploads: which kind a file holds, which column is which field (with a confidence
from header synonyms seen in real exports *and* from the values), checks on dates and coordinates,
the offense and area-name tables an analyst confirms, and saved mapping profiles.

It suggests; ``ingest.prepare_mapped`` applies the confirmed ``ingest.Plan``. Profiles are small JSON
files in the data folder keyed by the file's normalised header signature. No Streamlit, no store.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dashboard import ingest, schema
from dashboard.errors import IngestError
from dashboard.ingest import Plan, normalise_header
from dashboard.ingest.values import (
    FALSE_WORDS,
    TRUE_WORDS,
    area_lookup,
    canonical_area_id,
    detect_date_format,
    has_utc_offsets,
    looks_projected,
    normalise_name,
    parse_time_of_day,
    project_to_degrees,
    strip_text,
    swapped_latlon,
    to_number,
)

# ------------------------------------------------------------------------------------- fields


FieldSpec = schema.Field

# Derived from the kinds declared in schema.KINDS.
FIELDS: dict[str, dict[str, FieldSpec]] = {name: kind.field_map for name, kind in schema.KINDS.items()}
# Fields whose presence says most about a kind (for detection).
KEY_FIELDS = {name: kind.detect for name, kind in schema.KINDS.items()}
KIND_LABELS = {name: kind.label for name, kind in schema.KINDS.items()}

# Projected coordinate systems of common US police exports (all US survey feet unless said).
COMMON_CRS: tuple[tuple[str, str], ...] = (
    ("EPSG:3435", "Illinois East, US ft (Chicago)"),
    ("EPSG:2263", "New York Long Island, US ft (NYPD)"),
    ("EPSG:2249", "Massachusetts Mainland, US ft (Boston)"),
    ("EPSG:2227", "California zone III, US ft (San Francisco)"),
    ("EPSG:2229", "California zone V, US ft (Los Angeles)"),
    ("EPSG:2926", "Washington North, US ft (Seattle)"),
    *((f"EPSG:326{z}", f"UTM zone {z}N, metres") for z in range(10, 20)),
)

TIMEZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Phoenix", "America/Los_Angeles",
             "America/Anchorage", "Pacific/Honolulu", "UTC", "Europe/London")

SAMPLE_ROWS = 2000
# Checks whose values are distinctive enough to suggest a column whatever its header says.
VALUE_ONLY_CHECKS = ("date", "location")


# ------------------------------------------------------------------------------- value checks


# What any date pandas can read holds: a digit, or a month or day name ('March', 'Mon'). A column of
# values with neither is not tried as dates at all (dateutil is slow per value).
_DATE_LIKE = re.compile(r"\d|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|mon|tue|wed|thu|fri|sat|sun|today|now",
                        re.IGNORECASE)


# '(41.88, -87.63)', '41.88 -87.63' or 'POINT (-87.63 41.88)'. Blanks as [ \t], not \s: pandas runs a
# pattern with \s through Python's re value by value instead of pyarrow's RE2.
_LOCATION = re.compile(r"^\(?[ \t]*-?\d+(?:\.\d+)?[ \t]*[,; \t][ \t]*-?\d+(?:\.\d+)?[ \t]*\)?$|^POINT[ \t]*\(")


def _sample(values: pd.Series) -> pd.Series:
    if len(values) > 4 * SAMPLE_ROWS:  # sample before cleaning: a million rows cost seconds otherwise
        values = values.sample(4 * SAMPLE_ROWS, random_state=0)
    text = values.dropna()
    if not pd.api.types.is_datetime64_any_dtype(text.dtype):
        text = text.astype(str).str.strip()
        text = text[text != ""]
    if len(text) > SAMPLE_ROWS:
        text = text.sample(SAMPLE_ROWS, random_state=0)
    return text


def sample_rows(raw: pd.DataFrame, n: int = 4 * SAMPLE_ROWS, blocks: int = 16) -> pd.DataFrame:
    """About ``n`` rows in ``blocks`` runs of consecutive rows spread evenly over the file, or all of
    them: every suggestion and finding but the repeated-id count reads this sample, since a million
    rows cost seconds and change no choice. Runs, not scattered rows: slicing copies nothing, while
    gathering scattered rows of arrow-backed text copies every value; spread over the file, the runs
    still see every period of a file sorted by date."""
    if len(raw) <= n:
        return raw
    size, step = n // blocks, len(raw) // blocks
    return pd.concat([raw.iloc[i * step:i * step + size] for i in range(blocks)])


class _Facts:
    """What several checks of one sampled column share (numbers, share numeric, distinct values),
    each worked out the first time a check asks for it."""

    def __init__(self, s: pd.Series) -> None:
        self.s, self._nums, self._numeric, self._distinct = s, None, None, None

    @property
    def nums(self) -> pd.Series:
        if self._nums is None:
            self._nums = to_number(self.s)
        return self._nums

    @property
    def numeric(self) -> float:
        if self._numeric is None:
            self._numeric = float(self.nums.notna().mean())
        return self._numeric

    @property
    def distinct(self) -> int:
        if self._distinct is None:
            self._distinct = int(self.s.nunique())
        return self._distinct


def value_score(values: pd.Series, check: str, *, sampled: bool = False, facts: _Facts | None = None
                ) -> tuple[float, str]:
    """How well a column's values fit a kind of field (0..1) and a few words saying why.
    ``sampled``: ``values`` is already the column's _sample (drawn once for all its checks);
    ``facts``: what other checks of that sample found already."""
    s = values if sampled else _sample(values)
    if s.empty:
        return 0.0, "empty column"
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        return (1.0, "dates") if check == "date" else (0.0, "dates")
    facts = facts if facts is not None and facts.s is s else _Facts(s)
    if check == "date":
        head = s.head(20)
        if not any(_DATE_LIKE.search(str(v)) for v in head) or (
                detect_date_format(head) is None
                and pd.to_datetime(head, errors="coerce", format="mixed").isna().all()):
            return 0.0, "not dates"
        fmt = detect_date_format(s)
        if fmt:
            timed = any(code in fmt for code in ("%H", "%I"))
            return (1.0 if timed else 0.9), f"dates like {s.iloc[0]!r} ({fmt})"
        if facts.numeric > 0.9:
            return 0.0, "numbers, not dates"
        parsed = pd.to_datetime(s.head(300), errors="coerce", format="mixed")
        ok = float(parsed.notna().mean())
        return ok * 0.8, f"{ok:.0%} parse as dates"
    if check == "time":
        _, bad = parse_time_of_day(s)
        ok = 1 - float(bad.mean())
        return ok, f"{ok:.0%} read as times of day (e.g. {s.iloc[0]!r})"
    if check in ("lat", "lon"):
        limit = 90 if check == "lat" else 180
        v = facts.nums.dropna()
        v = v[~v.isin([0, -1])]
        if v.empty:
            return 0.0, "no numbers"
        inside = float((v.abs() <= limit).mean())
        fractional = float((v != v.round()).mean())
        if inside < 0.5 and (v.abs() > 1000).mean() > 0.5:
            return 0.3, f"large numbers (e.g. {v.iloc[0]:,.0f}): feet or metres, not degrees"
        return facts.numeric * inside * (0.5 + 0.5 * fractional), f"numbers within ±{limit}"
    if check in ("x", "y"):
        v = facts.nums.dropna()
        v = v[~v.isin([0, -1])]
        if v.empty:
            return 0.0, "no numbers"
        big = float((v.abs() > 1000).mean())
        return facts.numeric * big, "large numbers (projected coordinates)" if big > 0.5 else "small numbers"
    if check == "location":
        # A column none of whose first values is a point is not scanned (every column is tried here).
        if not any(_LOCATION.search(str(v).upper()) for v in s.head(20)):
            return 0.0, "0% look like '(lat, lon)'"
        ok = float(s.str.upper().str.contains(_LOCATION.pattern, regex=True).mean())
        return ok, f"{ok:.0%} look like '(lat, lon)'"
    if check == "id":
        unique = facts.distinct / len(s)
        return 0.4 + 0.6 * unique, f"{unique:.0%} distinct"
    if check in ("category", "code", "area"):
        low = 1.0 if facts.distinct <= max(50, len(s) * 0.05) else max(0.0, 1 - facts.distinct / len(s)) * 0.8
        if check == "category" and facts.numeric > 0.9:
            return 0.3 * low, "numbers (a code, not a name?)"
        return low, f"{facts.distinct:,} distinct values"
    if check == "text":
        return (0.1, "numbers, not text") if facts.numeric > 0.9 else (0.6 + 0.4 * (1 - facts.numeric), "text")
    if check == "bool":
        ok = float(s.str.lower().isin(TRUE_WORDS | FALSE_WORDS).mean())
        return ok, f"{ok:.0%} true/false"
    if check in ("year", "month", "day", "hour", "count", "score"):
        lo, hi = {"year": (1900, 2100), "month": (1, 12), "day": (1, 31), "hour": (0, 23),
                  "count": (0, 1e9), "score": (0, 100)}[check]
        v = to_number(s.str.replace(",", "", regex=False))
        ok = float(v.between(lo, hi).mean())
        return ok, f"{ok:.0%} numbers in {lo:g}..{hi:g}"
    return 0.5, ""


def header_score(column: str, spec: FieldSpec, field_name: str) -> float:
    """1.0 for the best synonym, a little less for later ones, 0.5 for a partial word match."""
    norm = normalise_header(column)
    own = normalise_header(field_name)
    # The field's own name counts first unless the list ranks it (e.g. Seattle's 'Offense' is a detail).
    names = list(spec.synonyms) if own in spec.synonyms else [own, *spec.synonyms]
    for rank, synonym in enumerate(names):
        if norm == synonym:
            return max(1.0 - 0.01 * rank, 0.8)
    words = set(norm.split())
    for synonym in names:
        if len(synonym) > 3 and (synonym in norm or (len(norm) > 3 and norm in synonym)):
            return 0.5
        if set(synonym.split()) and set(synonym.split()) <= words:
            return 0.5
    return 0.0


# ----------------------------------------------------------------------------- suggestions


@dataclass
class Suggestion:
    """What the page shows before the analyst confirms: the kind, a plan, the field table and notes."""

    kind: str
    kinds: dict[str, float]
    plan: Plan
    fields: pd.DataFrame  # field, label, column, confidence, why
    notes: list[str] = field(default_factory=list)
    profile: str = ""


def header_signature(columns: Iterable[str]) -> str:
    """The same for any file with these columns, whatever their order, case or spacing."""
    joined = "|".join(sorted(normalise_header(c) for c in columns))
    return hashlib.sha1(joined.encode()).hexdigest()[:16]


def detect_kind(raw: pd.DataFrame, is_geo: bool = False) -> dict[str, float]:
    """Score of each kind (0..1), best first, from headers: how many of its key fields have a column."""
    if is_geo:
        return {"areas": 1.0, **dict.fromkeys((k for k in FIELDS if k != "areas"), 0.0)}
    scores = {}
    columns = [c for c in raw.columns if c != "geometry"]
    for kind, keys in KEY_FIELDS.items():
        if kind == "areas":
            continue
        specs = FIELDS[kind]
        best = [max((header_score(c, specs[f], f) for c in columns), default=0.0) for f in keys]
        scores[kind] = round(float(np.mean(best)), 3)
    scores["areas"] = 0.0
    return dict(sorted(scores.items(), key=lambda kv: -kv[1]))


def suggest_columns(raw: pd.DataFrame, kind: str) -> pd.DataFrame:
    """The best column for each field of ``kind``: field, label, column ('' if none), confidence, why.

    Each (field, column) pair scores 0.6 x header + 0.4 x values; pairs are taken best first, one
    column per field. A header match whose values contradict it (dates that do not parse, latitudes
    in feet) ends low; a column is only considered for a field its header resembles."""
    specs = FIELDS[kind]
    columns = [c for c in raw.columns if c != "geometry"]
    raw = sample_rows(raw)
    value_cache: dict[tuple[str, str], tuple[float, str]] = {}
    samples: dict[str, pd.Series] = {}
    facts: dict[str, _Facts] = {}
    pairs: list[tuple[float, str, str, str]] = []
    fallback: list[tuple[float, str, str, str]] = []
    for name, spec in specs.items():
        for column in columns:
            h = header_score(column, spec, name)
            if h == 0 and spec.check not in VALUE_ONLY_CHECKS:
                continue
            key = (column, spec.check)
            if key not in value_cache:
                if column not in samples:
                    samples[column] = _sample(raw[column])
                    facts[column] = _Facts(samples[column])
                value_cache[key] = value_score(samples[column], spec.check, sampled=True, facts=facts[column])
            v, why = value_cache[key]
            score = 0.6 * h + 0.4 * v if h else 0.5 * v
            if v < 0.2:
                score *= 0.5  # the values contradict the header ('Date' holding report numbers)
                if h >= 0.9:  # ... but keep it for a field nothing else fits: validation then says why
                    fallback.append((0.3, name, column, f"header {h:.0%}; values do not fit: {why}"))
            pairs.append((score, name, column, f"header {h:.0%}; {why}" if h else f"values only; {why}"))
    chosen: dict[str, tuple[str, float, str]] = {}
    used: set[str] = set()
    for score, name, column, why in sorted(pairs, key=lambda p: -p[0]):
        if name in chosen or column in used or score < 0.45:
            continue
        chosen[name] = (column, score, why)
        used.add(column)
    for score, name, column, why in fallback:
        if name not in chosen and column not in used and name in REQUIRED.get(kind, ()):
            chosen[name] = (column, score, why)
            used.add(column)
    rows = [{"field": name, "label": spec.label, "column": chosen.get(name, ("", 0.0, ""))[0],
             "confidence": round(chosen.get(name, ("", 0.0, ""))[1], 2),
             "why": chosen.get(name, ("", 0.0, "no column found"))[2]}
            for name, spec in specs.items()]
    return pd.DataFrame(rows)


def _tidy_incident_columns(fields: pd.DataFrame, raw: pd.DataFrame) -> pd.DataFrame:
    """Drop combinations that contradict each other: projected X/Y only when the values are large,
    latitude/longitude only when they are degrees, year/month/day only without a date column."""
    cols = dict(zip(fields["field"], fields["column"], strict=True))

    def clear(*names: str) -> None:
        fields.loc[fields["field"].isin(names), ["column", "confidence"]] = ["", 0.0]

    for deg, proj in (("latitude", "y"), ("longitude", "x")):
        if cols.get(deg) and looks_projected(raw[cols[deg]]) and not cols.get(proj):
            fields.loc[fields["field"] == proj, ["column", "confidence", "why"]] = [
                cols[deg], 0.7, "large numbers: projected coordinates"]
            clear(deg)
    if cols.get("x") and not looks_projected(raw[cols["x"]]):
        clear("x", "y")
    if cols.get("occurred_at"):
        clear("year", "month", "day")
    return fields


def guess_crs(x: pd.Series, y: pd.Series, bounds: tuple[float, float, float, float] | None) -> str:
    """The common coordinate system that puts the median X/Y inside ``bounds`` (west, south, east, north),
    or '' when none does (or no bounds are known)."""
    if bounds is None:
        return ""
    xs, ys = to_number(x), to_number(y)
    ok = xs.notna() & ys.notna() & ~xs.isin([0, -1]) & ~ys.isin([0, -1])
    if not ok.any():
        return ""
    mx, my = float(xs[ok].median()), float(ys[ok].median())
    west, south, east, north = bounds
    for code, _ in COMMON_CRS:
        lat, lon = project_to_degrees(pd.Series([mx]), pd.Series([my]), code)
        if west - 0.05 <= lon.iloc[0] <= east + 0.05 and south - 0.05 <= lat.iloc[0] <= north + 0.05:
            return code
    return ""


def guess_timezone(bounds: tuple[float, float, float, float] | None) -> str:
    """A US time zone from the longitude of the loaded boundaries (a suggestion the analyst confirms)."""
    if bounds is None:
        return ""
    lon = (bounds[0] + bounds[2]) / 2
    if lon >= -87.5:
        return "America/New_York"
    if lon >= -101:
        return "America/Chicago"
    if lon >= -114:
        return "America/Denver"
    return "America/Los_Angeles"


areas_bounds = ingest.areas_bounds


def suggest(raw: pd.DataFrame, *, is_geo: bool = False, kind: str | None = None, areas: dict[str, Any] | None = None,
            profiles_dir: Path | None = None) -> Suggestion:
    """Kind, mapping and notes for a file as read. A saved profile for the same header is used first."""
    kinds = detect_kind(raw, is_geo)
    signature = header_signature([c for c in raw.columns if c != "geometry"])
    full, raw = raw, sample_rows(raw)
    saved = find_profile(profiles_dir, signature) if profiles_dir else None
    chosen = kind or (saved.kind if saved else next(iter(kinds)))
    fields = suggest_columns(raw, chosen)
    if chosen == "incidents":
        fields = _tidy_incident_columns(fields, raw)
    plan = Plan(kind=chosen, columns={f: c for f, c in zip(fields["field"], fields["column"], strict=True) if c},
                signature=signature)
    profile = ""
    if saved is not None and saved.kind == chosen:
        plan = saved
        plan.signature = signature
        profile = saved.name
        known = set(raw.columns)
        fields["column"] = [saved.columns.get(f, "") if saved.columns.get(f, "") in known else ""
                            for f in fields["field"]]
        fields["confidence"] = [1.0 if c else 0.0 for c in fields["column"]]
        fields["why"] = [f"saved profile '{saved.name}'" if c else "" for c in fields["column"]]
    notes = diagnose(raw, plan, areas, full=full)
    if chosen == "incidents" and not profile:
        bounds = areas_bounds(areas)
        if "x" in plan.columns and "y" in plan.columns and not plan.crs:
            # Suggested, never applied: the analyst confirms a coordinate system.
            guess = guess_crs(raw[plan.columns["x"]], raw[plan.columns["y"]], bounds)
            if guess:
                notes.append(f"{guess} ({dict(COMMON_CRS)[guess]}) puts these X/Y inside your boundaries: "
                             "choose it under 'Coordinate system of X/Y columns' if that is what the export uses.")
        plan.timezone = guess_timezone(bounds)
    if chosen in ("areas", "population"):
        plan.level = plan.level or _guess_level(raw, plan, areas)
    return Suggestion(chosen, kinds, plan, fields, notes, profile)


def _guess_level(raw: pd.DataFrame, plan: Plan, areas: dict[str, Any] | None) -> str:
    column = plan.columns.get("area_id", "")
    text = normalise_header(column)
    for key, words in (("beat", ("beat",)), ("district", ("dist", "district", "precinct")),
                       ("community_area", ("community", "area", "neighborhood", "neighbourhood"))):
        if any(w in text for w in words):
            return key
    if column and areas:
        ids = set(canonical_area_id(raw[column].astype("string"), "beat").dropna())
        best = max(areas, key=lambda lv: len(ids & set(areas[lv]["area_id"].astype(str))), default="")
        if best:
            return best
    return "community_area"


def diagnose(raw: pd.DataFrame, plan: Plan, areas: dict[str, Any] | None = None,
             full: pd.DataFrame | None = None) -> list[str]:
    """Plain-language findings about a mapped file that the analyst should act on before committing.

    ``raw`` may be a sample of the file (sample_rows) and ``full`` the whole file, in which repeated
    incident ids are counted exactly."""
    notes: list[str] = []
    if plan.kind != "incidents":
        return notes
    cols = plan.columns

    def get(name: str) -> pd.Series | None:
        return raw[cols[name]] if cols.get(name) in raw.columns else None

    whole = raw if full is None else full
    ids = whole[cols["incident_id"]] if cols.get("incident_id") in whole.columns else None
    if ids is not None and len(ids) >= ingest.PARALLEL_ROWS:
        # The one pass over the whole file (mostly numpy and arrow) runs beside the sample checks below.
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(1, thread_name_prefix="diagnose") as pool:
            repeats = pool.submit(ingest.duplicated_ids, ids, keep=False)
            return _diagnose(raw, plan, areas, get, whole, ids, repeats.result)
    return _diagnose(raw, plan, areas, get, whole, ids, lambda: ingest.duplicated_ids(ids, keep=False))


def _diagnose(raw: pd.DataFrame, plan: Plan, areas: dict[str, Any] | None, get, whole: pd.DataFrame,
              ids: pd.Series | None, repeats) -> list[str]:
    notes: list[str] = []
    cols = plan.columns
    lat, lon = get("latitude"), get("longitude")
    if lat is not None and lon is not None:
        la, lo = to_number(_sample(lat)), to_number(_sample(lon))
        if looks_projected(la) or looks_projected(lo):
            notes.append("Coordinates look like US feet (or metres), not degrees: choose the coordinate system "
                         "(e.g. EPSG:3435) in the mapping.")
        elif swapped_latlon(la.reset_index(drop=True), lo.reset_index(drop=True), areas_bounds(areas)):
            notes.append("Latitude and longitude look swapped (the latitude column holds longitudes, or the "
                         "longitude column falls in the city's latitude range): swap them in the mapping.")
        missing = float((la.isin([0, -1]) | lo.isin([0, -1])).mean())
        if missing:
            notes.append(f"{missing:.0%} of sampled rows mark a missing location with 0 or -1; they are kept "
                         "without a point.")
    if get("x") is not None and not plan.crs:
        notes.append("X/Y columns are projected coordinates: choose the coordinate system (e.g. EPSG:3435) "
                     "in the mapping.")
    if ids is not None:
        repeated = int(repeats().sum())  # one pass, integer ids compared fast
        if repeated:
            offense = whole[cols["offense"]] if cols.get("offense") in whole.columns else None
            differ = ""
            if offense is not None:
                groups = pd.DataFrame({"id": ids, "o": offense})[ids.duplicated(keep=False)]
                if groups.groupby("id")["o"].nunique().gt(1).any():
                    differ = " with different offenses"
            notes.append(f"{repeated:,} rows share an incident id with another row{differ}: this looks like "
                         "one row per offense (NIBRS-style), not per incident. Each incident is stored once "
                         "(its last row); incident and offense counts differ.")
    date = get("occurred_at")
    if date is not None and not pd.api.types.is_datetime64_any_dtype(date.dtype):
        sample = _sample(date)
        fmt = plan.date_format or detect_date_format(sample)
        if fmt is None:
            notes.append(f"Dates such as {sample.iloc[0]!r} match no known format: type the format "
                         "(e.g. %d/%m/%Y %H:%M) in the mapping.")
        elif "%m/%d" in fmt:
            days = pd.to_datetime(sample, format=fmt, errors="coerce").dt.day
            if days.max() <= 12:
                notes.append(f"Dates read as {fmt} (month first); no day is above 12, so day-first cannot "
                             "be ruled out: confirm the date format.")
        if has_utc_offsets(sample):
            notes.append("Dates carry UTC offsets: they are converted to the time zone you choose.")
        elif fmt and get("occurred_time") is None:
            times = pd.to_datetime(sample.head(300), format=fmt, errors="coerce").dropna()
            if len(times) and (times.dt.normalize() == times).all():
                notes.append("Every date is at midnight: if the file has a separate time column, map it to "
                             "'Time of day'.")
    return notes


# ---------------------------------------------------------------------------- editable tables


def fields_to_plan(table: pd.DataFrame, plan: Plan) -> Plan:
    """The analyst's edited field table (field, column) back into the plan."""
    columns = {f: str(c) for f, c in zip(table["field"], table["column"], strict=True)
               if isinstance(c, str) and c.strip()}
    return Plan(**{**plan.to_dict(), "columns": columns})


@cache
def keyword_table() -> pd.DataFrame:
    """The editable keyword rules that suggest a group for offense text the offense table lacks."""
    with resources.files("dashboard").joinpath("data/offense_keywords.csv").open() as fh:
        table = pd.read_csv(fh, dtype=str, comment="#")
    bad = set(table["offense_group"]) - set(schema.OFFENSE_GROUPS)
    assert not bad, f"offense_keywords.csv names unknown groups {bad}"
    return table


def guess_offense_group(text: str) -> str:
    upper = f" {str(text).upper()} "
    for keyword, group in zip(keyword_table()["keyword"], keyword_table()["offense_group"], strict=True):
        if keyword in upper:
            return group
    return ""


def offense_table(raw: pd.DataFrame, plan: Plan, limit: int = 500) -> pd.DataFrame:
    """Distinct offense values with their row counts and group: offense, rows, offense_group, source
    ('offense table', 'profile', 'keyword guess: check' or 'not mapped: other'), most frequent first."""
    column = plan.columns.get("offense")
    if not column or column not in raw.columns:
        return pd.DataFrame(columns=["offense", "rows", "offense_group", "source"])
    counts = strip_text(raw[column]).str.upper().value_counts().head(limit)
    table = schema.offense_group_table()
    known = dict(zip(table["offense"], table["offense_group"], strict=True))
    saved = {str(k).upper(): v for k, v in plan.offense_groups.items()}
    rows = []
    for offense, n in counts.items():
        if offense in saved:
            group, source = saved[offense], "profile"
        elif offense in known:
            group, source = known[offense], "offense table"
        elif guess := guess_offense_group(offense):
            group, source = guess, "keyword guess: check"
        else:
            group, source = "other", "not mapped: other"
        rows.append({"offense": offense, "rows": int(n), "offense_group": group, "source": source})
    return pd.DataFrame(rows, columns=["offense", "rows", "offense_group", "source"])


def offense_overrides(table: pd.DataFrame) -> dict[str, str]:
    """Offense -> group choices from the edited table that the shipped offense table does not already make."""
    known = dict(zip(schema.offense_group_table()["offense"], schema.offense_group_table()["offense_group"],
                     strict=True))
    out = {}
    for offense, group in zip(table["offense"], table["offense_group"], strict=True):
        if group in schema.OFFENSE_GROUPS and known.get(str(offense).upper()) != group:
            out[str(offense).upper()] = group
    return out


def area_match_table(raw: pd.DataFrame, plan: Plan, level: str, areas, limit: int = 300) -> pd.DataFrame:
    """Each distinct value of the level's column, how it matched a boundary and the suggestion for
    near misses: value, rows, area_id, area_name, how ('id', 'name', 'profile', 'close spelling: check',
    'no match'), use (True where matched exactly; the analyst ticks suggestions to accept them)."""
    column = plan.columns.get(schema.LEVELS[level].column)
    cols = ["value", "rows", "area_id", "area_name", "how", "use"]
    if not column or column not in raw.columns or areas is None or not len(areas):
        return pd.DataFrame(columns=cols)
    counts = strip_text(raw[column]).value_counts().head(limit)
    names = dict(zip(areas["area_id"].astype(str), areas["name"].astype(str), strict=True))
    lookup = area_lookup(areas)
    by_norm = {normalise_name(n): a for a, n in names.items()}
    saved = plan.area_values.get(level, {})
    rows = []
    # All distinct values in one call: a call per value adds pandas overhead per value.
    canonicals = canonical_area_id(pd.Series(counts.index, dtype="string"), level).tolist()
    for (value, n), canonical in zip(counts.items(), canonicals, strict=True):
        if value in saved:
            area_id, how, use = saved[value], "profile", True
        elif canonical in lookup:
            area_id, how, use = lookup[canonical], "id", True
        elif normalise_name(value) in lookup:
            area_id, how, use = lookup[normalise_name(value)], "name", True
        else:
            close = difflib.get_close_matches(normalise_name(value), list(by_norm), n=1, cutoff=0.75)
            area_id, how, use = (by_norm[close[0]], "close spelling: check", False) if close else ("", "no match", False)
        rows.append({"value": value, "rows": int(n), "area_id": area_id, "area_name": names.get(area_id, ""),
                     "how": how, "use": use})
    return pd.DataFrame(rows, columns=cols)


def area_values(table: pd.DataFrame) -> dict[str, str]:
    """Confirmed value -> area id choices from an edited area match table (ticked rows not matched exactly)."""
    out = {}
    for value, area_id, how, use in zip(table["value"], table["area_id"], table["how"], table["use"], strict=True):
        if bool(use) and isinstance(area_id, str) and area_id and how not in ("id", "name"):
            out[str(value)] = area_id
    return out


# ------------------------------------------------------------------------------------ profiles


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "profile"


def save_profile(directory: Path, plan: Plan, author: str = "") -> Path:
    """Write ``plan`` as directory/<name>.json (atomically); the name defaults to the header signature."""
    directory.mkdir(parents=True, exist_ok=True)
    name = plan.name or f"source-{plan.signature}"
    plan = Plan(**{**plan.to_dict(), "name": name})
    path = directory / f"{_slug(name)}.json"
    body = {**plan.to_dict(), "saved_at": datetime.now().isoformat(timespec="seconds"), "saved_by": author}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(body, indent=2, sort_keys=True))
    tmp.replace(path)
    return path


def _read_profile(path: Path) -> Plan:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise IngestError("Mapping profile could not be read", f"{path}: {exc}",
                          hint="Check the file is the JSON a confirmed upload saved.") from exc
    if not isinstance(data, dict):
        raise IngestError("Mapping profile could not be read", f"{path} is not a JSON object.",
                          hint="A profile is a JSON object like {\"kind\": \"incidents\", \"columns\": {...}}.")
    data = {k: v for k, v in data.items() if k not in ("saved_at", "saved_by")}
    return Plan.from_dict(data)


def list_profiles(directory: Path | None) -> list[Plan]:
    if directory is None or not directory.is_dir():
        return []
    plans = []
    for path in sorted(directory.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            plans.append(_read_profile(path))
        except IngestError:
            continue
    return plans


def find_profile(directory: Path | None, signature: str) -> Plan | None:
    """The most recently saved profile for files with this header signature."""
    return next((p for p in list_profiles(directory) if p.signature == signature), None)


def load_profile(ref: str, directory: Path | None = None) -> Plan:
    """A profile by path (a .json file) or by name (in ``directory``)."""
    path = Path(ref)
    if path.suffix == ".json" and path.is_file():
        return _read_profile(path)
    if directory is not None:
        candidate = directory / f"{_slug(ref)}.json"
        if candidate.is_file():
            return _read_profile(candidate)
    known = ", ".join(p.name for p in list_profiles(directory)) or "none saved yet"
    raise IngestError("Mapping profile not found", f"No profile {ref!r} (saved profiles: {known}).",
                      hint="Pass the name of a profile saved from the upload page, or a path to its JSON file.")


def with_choices(plan: Plan, *, offenses: pd.DataFrame | None = None,
                 areas: dict[str, pd.DataFrame] | None = None, **changes: Any) -> Plan:
    """The plan with the analyst's edited offense table and area match tables folded in (plus any
    plain field changes such as level or name)."""
    data = plan.to_dict()
    if offenses is not None:
        data["offense_groups"] = offense_overrides(offenses)
    if areas is not None:
        data["area_values"] = {level: area_values(table) for level, table in areas.items() if len(table)}
    data.update(changes)
    return Plan(**data)


REQUIRED = {name: kind.required for name, kind in schema.KINDS.items()}


def missing_required(plan: Plan) -> list[str]:
    """Labels of the required fields the plan maps to no column (a date may come from year and month)."""
    kind = schema.KINDS.get(plan.kind)
    return [] if kind is None else [kind.field_map[name].label for name in kind.unmapped_required(plan.columns)]
