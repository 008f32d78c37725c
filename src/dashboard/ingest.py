"""Raw file -> canonical frame: reading, column mapping, parsing, validation report.

One code path for the CLI (``python -m dashboard ingest``), the sample builder and the upload page.
It returns a canonical frame plus a report naming every rejected row and why; it never writes to the
store (``store.commit`` does that) and never imports Streamlit.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

from dashboard import schema
from dashboard.errors import IngestError, ValidationError

# ---------------------------------------------------------------------------------------------- reading

TEXT_SUFFIXES = {".csv", ".tsv", ".txt"}


def file_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _decode(data: bytes, name: str) -> str:
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise IngestError(
                "Compressed file is damaged",
                f"{name} looks gzip-compressed but could not be decompressed ({exc}).",
                hint="Download or copy the file again; the archive is probably truncated.",
            ) from exc
    if b"\x00" in data[:4096]:
        raise IngestError(
            "Not a text file",
            f"{name} contains binary data, so it is not a CSV/TSV export.",
            hint="Export the data as CSV (or Parquet/GeoJSON) from the source system and upload that.",
        )
    for encoding in ("utf-8-sig", "latin-1"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes any byte string")


def read_table(data: bytes, name: str) -> pd.DataFrame:
    """Read CSV/TSV/TXT (any delimiter, BOM, UTF-8 or Latin-1, optionally gzipped) or Parquet as text columns."""
    suffixes = [s.lower() for s in Path(name).suffixes]
    if ".parquet" in suffixes:
        try:
            return pd.read_parquet(io.BytesIO(data))
        except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for a bad file
            raise IngestError(
                "Parquet file could not be read", f"{name}: {exc}",
                hint="Check that the file is a complete Parquet export.",
            ) from exc
    text = _decode(data, name)
    if not text.strip():
        raise IngestError("File is empty", f"{name} has no content.", hint="Export the data again; the file has no rows.")
    sample = text[:65536]
    try:
        delimiter = csv.Sniffer().sniff(sample.split("\n", 1)[0], delimiters=",\t;|").delimiter
    except csv.Error:
        delimiter = ","
    try:
        frame = pd.read_csv(io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False,
                            na_values=[""], skipinitialspace=True)
    except (pd.errors.ParserError, ValueError) as exc:
        raise IngestError(
            "File could not be parsed as a table",
            f"{name}: {exc}",
            hint="Check that every row has the same number of delimited fields as the header.",
        ) from exc
    if frame.empty:
        raise IngestError(
            "File has a header but no rows", f"{name} has columns {list(frame.columns)[:8]} and no data rows.",
            hint="Export a date range that contains records.",
        )
    return frame


# ------------------------------------------------------------------------------------ column mapping


def normalise_header(text: str) -> str:
    """Trim, case-fold and unify spaces, underscores and hyphens so 'Primary_Type ' == 'primary type'."""
    return re.sub(r"[\s_\-\.]+", " ", str(text)).strip().lower()


# Synonyms seen in real exports (Chicago, LA, NYC, SF, Boston, NIBRS ...), best first.
SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    "incidents": {
        "incident_id": ("incident id", "id", "incident number", "dr no", "cmplnt num", "incidntnum",
                        "incident num", "row id", "event id", "report number"),
        "case_number": ("case number", "case no", "rd no", "report no"),
        "occurred_at": ("occurred at", "date", "occurred on date", "date occ", "cmplnt fr dt",
                        "incident datetime", "incident date", "occurred date", "offense date", "datetime"),
        "offense": ("offense", "primary type", "offense code group", "crm cd desc", "ofns desc",
                    "incident category", "category", "offense description", "offense type", "crime type"),
        "offense_detail": ("offense detail", "description", "pd desc", "incident description", "descript",
                           "offense description", "incident subcategory"),
        "offense_code": ("offense code", "iucr", "crm cd", "ky cd", "incident code", "ucr code"),
        "location_type": ("location type", "location description", "premis desc", "prem typ desc"),
        "block": ("block", "address", "street", "location", "intersection"),
        "latitude": ("latitude", "lat", "y"),
        "longitude": ("longitude", "long", "lon", "lng", "x"),
        "beat_id": ("beat id", "beat", "reporting area", "rpt dist no"),
        "district_id": ("district id", "district", "police district", "pddistrict", "area", "addr pct cd"),
        "community_area_id": ("community area id", "community area", "neighborhood", "analysis neighborhood"),
        "arrest": ("arrest", "arrested"),
        "domestic": ("domestic", "domestic violence"),
    },
    "population": {
        "area_id": ("area id", "community area id", "community area", "area number", "area numbe", "id"),
        "year": ("year", "census year"),
        "population": ("population", "population 2020", "pop", "total population", "count"),
        "source": ("source",),
    },
    "areas": {
        "area_id": ("area id", "area numbe", "beat num", "dist num", "id", "number", "code"),
        "name": ("name", "community", "dist label", "label", "area name"),
    },
}


def suggest_mapping(columns: Iterable[str], kind: str) -> dict[str, str]:
    """Canonical field -> source column, by header synonyms (exact normalised match, best synonym first)."""
    by_norm: dict[str, str] = {}
    for col in columns:
        by_norm.setdefault(normalise_header(col), col)
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for target, synonyms in SYNONYMS.get(kind, {}).items():
        for synonym in (normalise_header(target), *synonyms):
            source = by_norm.get(synonym)
            if source is not None and source not in used:
                mapping[target] = source
                used.add(source)
                break
    return mapping


# ---------------------------------------------------------------------------------------- parsing

DATE_FORMATS = (
    "%m/%d/%Y %I:%M:%S %p",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y-%m-%d %H:%M",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%Y-%m-%d",
    "%m/%d/%Y",
)


def detect_date_format(values: pd.Series) -> str | None:
    """The first format that parses at least 95% of a sample of non-empty values, or None."""
    sample = values.dropna().astype(str).str.strip()
    sample = sample[sample != ""].head(500)
    if sample.empty:
        return None
    for fmt in DATE_FORMATS:
        parsed = pd.to_datetime(sample, format=fmt, errors="coerce")
        if parsed.notna().mean() >= 0.95:
            return fmt
    return None


def parse_datetimes(values: pd.Series, fmt: str | None) -> pd.Series:
    text = values.astype("string").str.strip()
    if fmt is None:
        parsed = pd.to_datetime(text, errors="coerce", format="mixed")
    else:
        parsed = pd.to_datetime(text, format=fmt, errors="coerce")
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)
    return parsed.astype("datetime64[us]")


_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}


def parse_bool(values: pd.Series) -> pd.Series:
    lowered = values.astype("string").str.strip().str.lower()
    out = pd.Series(pd.NA, index=values.index, dtype="boolean")
    out[lowered.isin(_TRUE)] = True
    out[lowered.isin(_FALSE)] = False
    return out


def canonical_area_id(values: pd.Series, level: str) -> pd.Series:
    """One spelling per level: numeric ids lose leading zeros, beats are zero-padded to 4 digits.

    Files differ in padding ('006' vs '6', '0611' vs '611'); ids are compared in this form everywhere.
    """
    text = values.astype("string").str.strip()
    text = text.mask(text == "")
    digits = text.str.fullmatch(r"\d+").fillna(False).astype(bool)
    numeric = text.str.lstrip("0").replace("", "0")
    if level == "beat":
        numeric = numeric.str.zfill(4)
    return text.where(~digits, numeric)


def group_offenses(offense: pd.Series) -> tuple[pd.Series, dict[str, int]]:
    """Offense text -> offense group via the editable table; unknown values -> 'other', counted."""
    table = schema.offense_group_table()
    lookup = dict(zip(table["offense"], table["offense_group"], strict=True))
    key = offense.astype("string").str.strip().str.upper()
    groups = key.map(lookup)
    unknown = key[groups.isna() & key.notna()]
    return groups.fillna("other").astype(str), unknown.value_counts().to_dict()


# ---------------------------------------------------------------------------------------- the report


@dataclass
class Report:
    """What an ingest did: counts, every rejected row with its reason, warnings. Serialisable to JSON."""

    kind: str
    source_name: str
    file_hash: str
    rows_in: int
    rows_kept: int
    rejected: pd.DataFrame  # columns: row (1-based data row), reason, then the raw fields
    warnings: list[str] = field(default_factory=list)
    mapping: dict[str, str] = field(default_factory=dict)
    unmapped_offenses: dict[str, int] = field(default_factory=dict)
    fixes: dict[str, int] = field(default_factory=dict)

    @property
    def rows_rejected(self) -> int:
        return len(self.rejected)

    def reason_counts(self) -> dict[str, int]:
        if self.rejected.empty:
            return {}
        return {str(k): int(v) for k, v in self.rejected["reason"].value_counts().items()}

    def to_dict(self, sample: int = 5) -> dict[str, Any]:
        samples = {
            reason: self.rejected[self.rejected["reason"] == reason].head(sample).astype(str).to_dict("records")
            for reason in self.reason_counts()
        }
        return {
            "kind": self.kind,
            "source": self.source_name,
            "file_hash": self.file_hash,
            "rows_in": self.rows_in,
            "rows_kept": self.rows_kept,
            "rows_rejected": self.rows_rejected,
            "rejected_by_reason": self.reason_counts(),
            "rejected_samples": samples,
            "fixed_and_kept": self.fixes,
            "unmapped_offenses": self.unmapped_offenses,
            "warnings": self.warnings,
            "mapping": self.mapping,
        }


@dataclass
class Prepared:
    frame: pd.DataFrame
    report: Report


class _Rejections:
    """Collects (row position, reason) pairs; the first reason found for a row is the one reported."""

    def __init__(self, n: int) -> None:
        self.reason = pd.Series(pd.NA, index=pd.RangeIndex(n), dtype="string")

    def add(self, mask: pd.Series | np.ndarray, reason: str) -> None:
        mask = pd.Series(np.asarray(mask, dtype=bool), index=self.reason.index)
        self.reason[mask & self.reason.isna()] = reason

    @property
    def bad(self) -> pd.Series:
        return self.reason.notna()

    def table(self, raw: pd.DataFrame) -> pd.DataFrame:
        bad = self.bad.to_numpy()
        out = raw.reset_index(drop=True).loc[bad].copy()
        out.insert(0, "reason", self.reason[bad].astype(str).to_numpy())
        out.insert(0, "row", np.flatnonzero(bad) + 1)
        return out.reset_index(drop=True)


def _finalise(kind: str, frame: pd.DataFrame, raw: pd.DataFrame, rej: _Rejections, report: Report) -> Prepared:
    """Apply the pandera schema lazily as the last guard; any failing row joins the rejected table."""
    kept = frame.loc[~rej.bad.to_numpy()]
    try:
        kept = schema.SCHEMAS[kind].validate(kept, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        row_cases = cases[cases["index"].notna()]
        if len(row_cases) < len(cases):
            frame_level = cases[cases["index"].isna()]
            raise IngestError(
                f"{kind} do not match the canonical schema",
                "; ".join(f"{c.column}: {c.check}" for c in frame_level.itertuples())[:500],
                hint="Check the column mapping: a required column is missing or has the wrong type.",
            ) from exc
        for (column, check), group in row_cases.groupby(["column", "check"]):
            positions = frame.index.get_indexer(group["index"].astype(frame.index.dtype).unique())
            mask = np.zeros(len(frame), dtype=bool)
            mask[positions[positions >= 0]] = True
            rej.add(mask, f"invalid {column} ({check})")
        kept = schema.SCHEMAS[kind].validate(frame.loc[~rej.bad.to_numpy()], lazy=False)
    report.rejected = rej.table(raw)
    report.rows_kept = len(kept)
    if report.rows_kept == 0:
        raise ValidationError(
            f"No valid {kind} rows in {report.source_name}",
            f"All {report.rows_in} rows were rejected: " + ", ".join(
                f"{n} {r}" for r, n in report.reason_counts().items()),
            hint="Check the column mapping and the date format; the details list each row's reason.",
            details=report.rejected.head(200),
        )
    return Prepared(kept.reset_index(drop=True), report)


def _mapped(raw: pd.DataFrame, mapping: dict[str, str], field_name: str) -> pd.Series:
    source = mapping.get(field_name)
    if source is None or source not in raw.columns:
        return pd.Series(pd.NA, index=raw.index, dtype="string")
    return raw[source]


# ------------------------------------------------------------------------------------- per kind

REQUIRED = {
    "incidents": ("incident_id", "occurred_at", "offense"),
    "population": ("area_id", "population"),
}


def _check_required(raw: pd.DataFrame, kind: str, mapping: dict[str, str], name: str) -> None:
    missing = [f for f in REQUIRED.get(kind, ()) if f not in mapping]
    if missing:
        raise IngestError(
            f"Required {kind} columns not found",
            f"{name}: no column could be matched to {', '.join(missing)}. "
            f"Columns in the file: {', '.join(map(str, raw.columns[:30]))}.",
            hint=f"Rename the columns or pass a mapping (--map {missing[0]}=YOUR_COLUMN); "
                 f"are you sure this file holds {kind}?",
        )


def prepare_incidents(
    raw: pd.DataFrame, *, source_name: str, digest: str, mapping: dict[str, str] | None = None,
    date_format: str | None = None, now: pd.Timestamp | None = None,
) -> Prepared:
    """Raw incident export -> canonical incidents. Rejects rows without id/date/offense and in-file duplicates."""
    mapping = mapping or suggest_mapping(raw.columns, "incidents")
    _check_required(raw, "incidents", mapping, source_name)
    raw = raw.reset_index(drop=True)
    n = len(raw)
    rej = _Rejections(n)
    report = Report("incidents", source_name, digest, n, 0, pd.DataFrame(), mapping=dict(mapping))
    out = pd.DataFrame(index=raw.index)

    ids = _mapped(raw, mapping, "incident_id").astype("string").str.strip()
    out["incident_id"] = ids
    rej.add(ids.isna() | (ids == ""), "missing incident id")

    raw_dates = _mapped(raw, mapping, "occurred_at")
    fmt = date_format or detect_date_format(raw_dates)
    if fmt is None:
        report.warnings.append("Date format not recognised; parsed value by value (slower, check the result).")
    occurred = parse_datetimes(raw_dates, fmt)
    rej.add(occurred.isna(), "unparseable date")
    now = now or pd.Timestamp.now()
    rej.add((occurred < pd.Timestamp("1900-01-01")) | (occurred > now + pd.Timedelta(days=1)), "impossible date")
    out["occurred_at"] = occurred
    report.mapping["date_format"] = fmt or "mixed"

    offense = _mapped(raw, mapping, "offense").astype("string").str.strip()
    rej.add(offense.isna() | (offense == ""), "missing offense")
    out["offense"] = offense.str.upper()
    out["offense_group"], report.unmapped_offenses = group_offenses(offense)
    if report.unmapped_offenses:
        report.warnings.append(
            f"{sum(report.unmapped_offenses.values())} rows have offenses not in the offense table "
            f"({len(report.unmapped_offenses)} distinct); they were grouped as 'other'."
        )
    for name in ("case_number", "offense_detail", "offense_code", "location_type", "block"):
        out[name] = _mapped(raw, mapping, name).astype("string").str.strip()

    lat = pd.to_numeric(_mapped(raw, mapping, "latitude"), errors="coerce")
    lon = pd.to_numeric(_mapped(raw, mapping, "longitude"), errors="coerce")
    # Exports mark a missing location with 0 or -1 (LAPD, Boston); never plot those.
    placeholder = lat.isin([0, -1]) | lon.isin([0, -1])
    out_of_range = ~placeholder & lat.notna() & lon.notna() & ((lat.abs() > 90) | (lon.abs() > 180))
    one_sided = lat.isna() != lon.isna()
    drop_xy = placeholder | out_of_range | one_sided
    report.fixes.update({
        "coordinates 0 or -1 treated as missing": int((placeholder & lat.notna()).sum()),
        "coordinates out of range removed": int(out_of_range.sum()),
        "coordinates with only one of lat/lon removed": int(one_sided.sum()),
    })
    out["latitude"] = lat.mask(drop_xy)
    out["longitude"] = lon.mask(drop_xy)

    for level in schema.LEVELS.values():
        out[level.column] = canonical_area_id(_mapped(raw, mapping, level.column), level.key)
    out["arrest"] = parse_bool(_mapped(raw, mapping, "arrest"))
    out["domestic"] = parse_bool(_mapped(raw, mapping, "domestic"))

    # One row per incident: a later row with the same id replaces an earlier one (newer export wins).
    dup = ids.notna() & ids.duplicated(keep="last")
    rej.add(dup, "duplicate incident id (a later row in the file has the same id)")
    report.fixes = {k: v for k, v in report.fixes.items() if v}
    return _finalise("incidents", out, raw, rej, report)


def prepare_population(
    raw: pd.DataFrame, *, source_name: str, digest: str, level: str, year: int | None = None,
    mapping: dict[str, str] | None = None,
) -> Prepared:
    """Raw population table -> canonical population rows for one boundary level."""
    mapping = mapping or suggest_mapping(raw.columns, "population")
    _check_required(raw, "population", mapping, source_name)
    raw = raw.reset_index(drop=True)
    rej = _Rejections(len(raw))
    report = Report("population", source_name, digest, len(raw), 0, pd.DataFrame(), mapping=dict(mapping))
    out = pd.DataFrame(index=raw.index)
    out["level"] = level
    out["area_id"] = canonical_area_id(_mapped(raw, mapping, "area_id"), level)
    rej.add(out["area_id"].isna(), "missing area id")
    if "year" in mapping:
        years = pd.to_numeric(_mapped(raw, mapping, "year"), errors="coerce")
    elif year is not None:
        years = pd.Series(year, index=raw.index, dtype=float)
    else:
        match = re.search(r"(19|20)\d{2}", mapping["population"])
        years = pd.Series(float(match.group()) if match else np.nan, index=raw.index)
    rej.add(years.isna(), "missing year (add a year column or pass --year)")
    out["year"] = years.fillna(0).astype(int)
    pop = pd.to_numeric(_mapped(raw, mapping, "population").astype("string").str.replace(",", ""),
                        errors="coerce")
    rej.add(pop.isna() | (pop < 0), "population missing or negative")
    out["population"] = pop.fillna(0).astype(int)
    out["source"] = _mapped(raw, mapping, "source").astype("string").fillna(source_name)
    return _finalise("population", out, raw, rej, report)


def prepare_areas(gdf, *, source_name: str, digest: str, level: str, mapping: dict[str, str] | None = None,
                  dissolve: bool = True) -> Prepared:
    """Boundary features -> canonical areas (EPSG:4326, valid polygons, one row per area id)."""
    import geopandas as gpd
    import shapely

    if gdf.crs is None:
        raise IngestError(
            "Boundary file has no coordinate system",
            f"{source_name} does not declare a CRS.",
            hint="Re-export it with its .prj file (Shapefile) or as GeoJSON in EPSG:4326.",
        )
    gdf = gdf.to_crs(schema.CRS)
    mapping = mapping or suggest_mapping([c for c in gdf.columns if c != "geometry"], "areas")
    if "area_id" not in mapping:
        raise IngestError(
            "No area id column", f"{source_name}: none of {list(gdf.columns)[:20]} looks like an area id.",
            hint="Pass --map area_id=COLUMN naming the column that identifies each area.",
        )
    raw = pd.DataFrame(gdf.drop(columns="geometry")).reset_index(drop=True)
    rej = _Rejections(len(raw))
    report = Report("areas", source_name, digest, len(raw), 0, pd.DataFrame(), mapping=dict(mapping))
    ids = canonical_area_id(raw[mapping["area_id"]], level)
    names = raw[mapping["name"]].astype("string").str.strip() if "name" in mapping else ids
    geoms = shapely.make_valid(gdf.geometry.reset_index(drop=True).values)
    rej.add(ids.isna(), "missing area id")
    empty_geom = shapely.is_empty(geoms) | pd.isna(geoms)
    rej.add(empty_geom, "empty geometry")
    frame = gpd.GeoDataFrame({"level": level, "area_id": ids, "name": names}, geometry=list(geoms), crs=schema.CRS)
    frame = frame.loc[~rej.bad.to_numpy()]
    if dissolve:
        # Some portals split one area into several features (Chicago's district 31 comes in 3 parts).
        frame = frame.dissolve(by=["level", "area_id"], aggfunc={"name": "first"}, as_index=False)
    report.rejected = rej.table(raw)
    report.rows_kept = len(frame)
    frame = schema.AREAS.validate(frame[["level", "area_id", "name", "geometry"]], lazy=True)
    return Prepared(frame.reset_index(drop=True), report)


# ------------------------------------------------------------------------- CPD CAPS calendar -> outreach


@cache
def event_type_table() -> pd.DataFrame:
    """Editable register of event types: keyword rules that classify an event title (first match wins)."""
    with resources.files("dashboard").joinpath("data/event_types.csv").open() as fh:
        table = pd.read_csv(fh, dtype=str, comment="#").fillna("")
    bad = set(table["format"]) - set(schema.OUTREACH_FORMATS)
    assert not bad, f"event_types.csv has unknown formats {bad}"
    return table


def classify_title(title: str) -> str:
    lowered = " " + " ".join(title.lower().split()) + " "
    for row in event_type_table().itertuples():
        if any(k and k in lowered for k in row.keywords.split("|")):
            return row.event_type
    return "other_community_event"


_BEAT_RUN = re.compile(r"(?<!\d)(\d{3,4})((?:\s*(?:/|&|,|-|\band\b)\s*\d{2,4}(?!\d))*)")
_BEAT_WORD = re.compile(r"\b(beats?|bt)\b\.?", re.IGNORECASE)


def beats_in_title(title: str, known_beats: set[str] | None = None) -> list[str]:
    """Beat numbers a CAPS title names, zero-padded to 4 digits.

    '813/833 Beat Meeting' -> 0813, 0833; 'Beat Meeting: 1112/21' -> 1112, 1121 (a short number
    replaces the last digits of the one before it); 'Bt. 932,934,935' -> 0932, 0934, 0935. Numbers are
    read only when the title says beat/bt or starts with the number ('1233 Community Meeting'), and
    only kept if they are real beats when ``known_beats`` is given ('100 Blocks / 100 Churches' is not).
    """
    beats: list[str] = []
    says_beat = bool(_BEAT_WORD.search(title))
    for match in _BEAT_RUN.finditer(title):
        if not says_beat and match.start() != len(title) - len(title.lstrip()):
            continue
        first = match.group(1)
        numbers = [first]
        for part in re.findall(r"\d{2,4}", match.group(2)):
            prev = numbers[-1]
            numbers.append(part if len(part) >= len(prev) else prev[: len(prev) - len(part)] + part)
        for number in numbers:
            beat = number.zfill(4)
            if (known_beats is None or beat in known_beats) and beat not in beats:
                beats.append(beat)
    return beats


def _is_test_entry(title: str, location: str) -> bool:
    return bool(re.search(r"\btest\b", f"{title} {location}", re.IGNORECASE))


def caps_events_to_outreach(
    events: list[dict[str, Any]], *, known_beats: set[str], source_name: str, digest: str,
) -> Prepared:
    """CPD CAPS calendar feed (JSON list) -> canonical outreach rows.

    An event naming beats becomes one row per beat (same event_id); otherwise it is placed on its
    district (calendarId). Rows are a schedule, not attendance: attendees and hours stay empty.
    """
    raw = pd.DataFrame(events).reset_index(drop=True)
    for col in ("calendarId", "start", "end", "title", "location", "eventDetails"):
        if col not in raw.columns:
            raise IngestError(
                "Not a CAPS calendar file", f"{source_name} has no '{col}' field.",
                hint="Expected the CPD community event calendar JSON (calendarId, start, end, title, location).",
            )
    rej = _Rejections(len(raw))
    report = Report("outreach", source_name, digest, len(raw), 0, pd.DataFrame())
    titles = raw["title"].fillna("").astype(str).str.strip()
    locations = raw["location"].fillna("").astype(str).str.strip()
    rej.add(titles == "", "missing title")
    rej.add([_is_test_entry(t, loc) for t, loc in zip(titles, locations, strict=True)],
            "test entry (title or location says 'test')")
    starts = parse_datetimes(raw["start"], "%Y-%m-%dT%H:%M:%S")
    rej.add(starts.isna(), "unparseable start date")
    ends = parse_datetimes(raw["end"], "%Y-%m-%dT%H:%M:%S")
    district = canonical_area_id(raw["calendarId"], "district")
    rej.add(district.isna(), "missing calendarId (district)")
    source_digest = raw.apply(lambda r: hashlib.sha1(
        json.dumps([r["calendarId"], r["start"], r["title"], r["location"]], default=str).encode()
    ).hexdigest()[:12], axis=1)
    keep = ~rej.bad.to_numpy()
    # The same calendar entry is sometimes listed twice; keep one.
    dup = source_digest.duplicated() & keep
    rej.add(dup, "duplicate calendar entry")
    types = event_type_table().set_index("event_type")

    rows: list[dict[str, Any]] = []
    beat_events = 0
    for i in np.flatnonzero(~rej.bad.to_numpy()):
        title = titles[i]
        event_type = classify_title(title)
        says_beat = event_type == "beat_meeting" or _BEAT_WORD.search(title) or title[:1].isdigit()
        beats = beats_in_title(title, known_beats) if says_beat else []
        if beats and event_type == "other_community_event":
            event_type = "beat_meeting"
        beat_events += bool(beats)
        info = types.loc[event_type] if event_type in types.index else None
        base = {
            "event_id": f"caps-{source_digest[i]}",
            "program": info["program"] if info is not None else "CAPS community events",
            "event_type": event_type,
            "format": info["format"] if info is not None else "one_off",
            "channel": "in_person",
            "title": title,
            "starts_at": starts[i],
            "ends_at": ends[i] if pd.notna(ends[i]) and ends[i] >= starts[i] else pd.NaT,
            "district_id": district[i],
            "community_area_id": np.nan,
            "latitude": np.nan,
            "longitude": np.nan,
            "venue": locations[i] or np.nan,
            "unit": f"District {district[i]}",
            "attendees": np.nan, "officer_hours": np.nan, "contacts": np.nan, "referrals": np.nan, "reach": np.nan,
            "source": source_name,
        }
        if beats:
            for beat in beats:
                rows.append({**base, "outreach_id": f"{base['event_id']}-{beat}", "place_level": "beat",
                             "beat_id": beat})
        else:
            rows.append({**base, "outreach_id": base["event_id"], "place_level": "district", "beat_id": np.nan})
    frame = pd.DataFrame(rows)
    report.fixes["events placed on one or more beats"] = beat_events
    report.fixes["events placed on their district only"] = int((~rej.bad).sum()) - beat_events
    report.rejected = rej.table(raw[["calendarId", "start", "title", "location"]])
    frame = schema.OUTREACH.validate(frame, lazy=True)
    report.rows_kept = len(frame)
    return Prepared(frame.reset_index(drop=True), report)


# ------------------------------------------------------------------------------------ entry point

KINDS = ("incidents", "outreach", "areas", "population")


def prepare_file(
    path: Path | str, kind: str, *, data: bytes | None = None, level: str | None = None, year: int | None = None,
    mapping: dict[str, str] | None = None, date_format: str | None = None,
    known_beats: set[str] | None = None,
) -> Prepared:
    """Read one file of ``kind`` and return its canonical frame and report (nothing is stored)."""
    path = Path(path)
    name = path.name
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise IngestError("File could not be opened", f"{path}: {exc.strerror}.",
                              hint="Check the path and that you may read the file.") from exc
    digest = file_hash(data)
    if kind == "incidents":
        return prepare_incidents(read_table(data, name), source_name=name, digest=digest, mapping=mapping,
                                 date_format=date_format)
    if kind == "population":
        return prepare_population(read_table(data, name), source_name=name, digest=digest,
                                  level=level or "community_area", year=year, mapping=mapping)
    if kind == "areas":
        import geopandas as gpd

        if not level or level not in schema.LEVELS:
            raise IngestError("Boundary level needed", f"Say which level {name} holds.",
                              hint=f"Pass --level with one of: {', '.join(schema.LEVELS)}.")
        try:
            gdf = gpd.read_file(io.BytesIO(data))
        except Exception as exc:  # noqa: BLE001 - pyogrio raises several types
            raise IngestError("Boundary file could not be read", f"{name}: {exc}",
                              hint="Upload GeoJSON or a zipped Shapefile with its .prj.") from exc
        return prepare_areas(gdf, source_name=name, digest=digest, level=level, mapping=mapping)
    if kind == "outreach":
        try:
            events = json.loads(_decode(data, name))
        except json.JSONDecodeError as exc:
            raise IngestError("Outreach file is not JSON", f"{name}: {exc}",
                              hint="This version reads the CPD CAPS calendar JSON; CSV outreach logs "
                                   "arrive with the upload page.") from exc
        return caps_events_to_outreach(events, known_beats=known_beats or set(), source_name=name, digest=digest)
    raise IngestError("Unknown dataset kind", f"{kind!r} is not a dataset this product stores.",
                      hint=f"Use one of: {', '.join(KINDS)}.")
