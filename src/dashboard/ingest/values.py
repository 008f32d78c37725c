"""Public value parsers: text columns of an export -> numbers, dates, flags, area ids, offense groups,
coordinates. Used by the ingest and by the mapping suggestion; they parse, never reject rows or raise
for a bad value (bad values come back missing)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from dashboard import schema
from dashboard.errors import IngestError
from dashboard.ingest.kernels import BLANK, arrow_text, by_value, edge_bytes, has_byte, strptime_fast

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
    # Later additions, tried only when none of the above fits (so Chicago-style files read as before).
    "%m/%d/%Y %I:%M %p",
    "%Y/%m/%d %I:%M:%S %p",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
)


_DATE_SHAPE = re.compile(r"\d[-/.]\d{1,2}[-/.]\d")


def detect_date_format(values: pd.Series) -> str | None:
    """The first format that parses at least 95% of a sample of non-empty values, or None."""
    if len(values) <= 2000:
        # A short column (a mapping sample, a column head): plain Python, not a dozen pandas calls
        # (the suggestion asks this of every column of a file).
        texts = [str(v).strip() for v in values.tolist() if not pd.isna(v)]
        sample = pd.Series([t for t in texts if t][:500], dtype=object)
    else:
        # Clean a head of the column, not a million values (the whole column if the head is mostly blank).
        head = values.head(2000).dropna().astype(str).str.strip()
        sample = head if (head != "").sum() >= 500 else values.dropna().astype(str).str.strip()
        sample = sample[sample != ""].head(500)
    if sample.empty:
        return None
    # Every format above writes day, month and year with '-', '/' or '.' between them: one regular
    # expression rules out ids, names and numbers before nineteen formats are tried on them.
    if sum(1 for t in sample.tolist() if _DATE_SHAPE.search(t)) / len(sample) < 0.95:
        return None
    for fmt in DATE_FORMATS:
        parsed = pd.to_datetime(sample, format=fmt, errors="coerce")
        if parsed.notna().mean() >= 0.95:
            return fmt
    return None


def placeholder_coordinates(values: pd.Series) -> pd.Series:
    """Coordinates of 0 or -1, which exports write for 'no location' (two comparisons, not a hash
    lookup per value as isin does)."""
    if values.dtype == np.float64:  # NaN compares False, as isin gives it
        return (values == 0) | (values == -1)
    return values.isin([0, -1])  # nullable numbers: NA must give False, not NA


def strip_text(values: pd.Series) -> pd.Series:
    """``values.astype('string').str.strip()``, skipped for arrow-backed text whose values neither start
    nor end with a blank: most export columns are clean, and a strip pass over every value is not free."""
    text = values.astype("string")
    if hasattr(text.array, "__arrow_array__"):
        import pyarrow as pa

        try:
            first, last, _ = edge_bytes(arrow_text(text))
        except (TypeError, ValueError, pa.ArrowException):
            return text.str.strip()
        if not (has_byte(first, BLANK) or has_byte(last, BLANK)):
            return text
    return text.str.strip()


def to_number(values: pd.Series) -> pd.Series:
    """Text -> float, unparseable -> NaN (pd.to_numeric(errors='coerce')), with a fast path for clean columns."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pd.api.types.is_numeric_dtype(values.dtype):
        return pd.to_numeric(values, errors="coerce")
    try:
        arr = arrow_text(values)
        return pd.Series(pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False), index=values.index)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return pd.to_numeric(values, errors="coerce")


def parse_datetimes(values: pd.Series, fmt: str | None, *, stripped: bool = False) -> pd.Series:
    """Text (or dates already parsed) -> naive datetime64[us], NaT where a value does not parse.
    ``stripped``: the text has no surrounding blanks already."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):  # already parsed (Parquet, Excel, a plan)
        if getattr(values.dt, "tz", None) is not None:
            values = values.dt.tz_localize(None)
        return values.astype("datetime64[us]")
    text = values.astype("string") if stripped else strip_text(values)
    if fmt is not None:
        fast = strptime_fast(text, fmt)
        if fast is not None:
            return fast
    if fmt is None:
        parsed = pd.to_datetime(text, errors="coerce", format="mixed")
    else:
        parsed = pd.to_datetime(text, format=fmt, errors="coerce")
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)
    return parsed.astype("datetime64[us]")


TRUE_WORDS = {"true", "t", "yes", "y", "1"}


FALSE_WORDS = {"false", "f", "no", "n", "0"}


def parse_bool(values: pd.Series) -> pd.Series:
    def convert(vals: pd.Series) -> pd.Series:
        lowered = vals.astype("string").str.strip().str.lower()
        out = pd.Series(pd.NA, index=vals.index, dtype="boolean")
        out[lowered.isin(TRUE_WORDS)] = True
        out[lowered.isin(FALSE_WORDS)] = False
        return out

    return by_value(values, convert)


def canonical_area_id(values: pd.Series, level: str) -> pd.Series:
    """One spelling per level: numeric ids lose leading zeros, beats are zero-padded to 4 digits.

    Files differ in padding ('006' vs '6', '0611' vs '611'); ids are compared in this form everywhere.
    """
    def convert(vals: pd.Series) -> pd.Series:
        text = vals.astype("string").str.strip()
        text = text.mask(text == "")
        digits = text.str.fullmatch(r"\d+").fillna(False).astype(bool)
        numeric = text.str.lstrip("0").replace("", "0")
        if level == "beat":
            numeric = numeric.str.zfill(4)
        return text.where(~digits, numeric)

    return by_value(values, convert)


def offense_lookup(overrides: dict[str, str] | None) -> dict[str, str]:
    """Offense (stripped, upper case) -> group: the editable table plus one source's confirmed overrides."""
    table = schema.offense_group_table()
    lookup = dict(zip(table["offense"], table["offense_group"], strict=True))
    lookup.update({str(k).strip().upper(): v for k, v in (overrides or {}).items() if v in schema.OFFENSE_GROUPS})
    return lookup


def group_offenses(offense: pd.Series, overrides: dict[str, str] | None = None, *, normalised: bool = False
                   ) -> tuple[pd.Series, dict[str, int]]:
    """Offense text -> offense group via the editable table (plus ``overrides``, offense -> group, that
    an analyst confirmed for one source); unknown values -> 'other', counted. ``normalised``: the
    text is stripped and upper-case already."""
    lookup = offense_lookup(overrides)
    key = offense if normalised else strip_text(offense).str.upper()
    groups = by_value(key, lambda v: v.map(lookup))
    unknown = key[groups.isna() & key.notna()]
    return groups.fillna("other").astype(str), unknown.value_counts().to_dict()


def parse_time_of_day(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """'0845', '845', '8:45', '08:45:00', '8:45 PM' -> minutes after midnight (float); NaN where
    missing. Returns (minutes, bad) where bad marks text that is not a time."""

    def convert(vals: pd.Series) -> pd.Series:
        text = vals.astype("string").str.strip().str.upper()
        digits = text.str.fullmatch(r"\d{1,4}").fillna(False).astype(bool)
        hhmm = text.where(digits).str.zfill(4)
        minutes = (to_number(hhmm.str[:2]) * 60 + to_number(hhmm.str[2:])).where(
            digits & (to_number(hhmm.str[:2]) < 24) & (to_number(hhmm.str[2:]) < 60))
        parts = text.str.extract(r"^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?\s*([AP]\.?M\.?)?$")
        hours, mins = to_number(parts[0]), to_number(parts[1])
        pm, am = parts[3].str.startswith("P").fillna(False), parts[3].str.startswith("A").fillna(False)
        hours = hours.where(~(pm & (hours < 12)), hours + 12).where(~(am & (hours == 12)), 0)
        colon = (hours < 24) & (mins < 60) & ((~pm & ~am) | (to_number(parts[0]) <= 12))
        return minutes.fillna((hours * 60 + mins).where(colon))

    minutes = by_value(values, convert).astype(float)
    text = values.astype("string").str.strip()
    missing = text.isna() | (text == "")
    return minutes, (minutes.isna() & ~missing)


def parse_location(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """A combined location column -> (latitude, longitude): '(41.86, -87.72)' (Chicago, Boston) or
    WKT 'POINT (-87.72 41.86)' (San Francisco; longitude first)."""
    text = values.astype("string")
    nums = text.str.extract(r"(-?\d+(?:\.\d+)?)[,;\s]+(-?\d+(?:\.\d+)?)")
    first, second = to_number(nums[0]), to_number(nums[1])
    point = text.str.strip().str.upper().str.startswith("POINT").fillna(False).astype(bool)
    return first.where(~point, second), second.where(~point, first)


def project_to_degrees(x: pd.Series, y: pd.Series, crs: str) -> tuple[pd.Series, pd.Series]:
    """Projected X/Y (e.g. US feet in EPSG:3435) -> (latitude, longitude) in EPSG:4326."""
    from pyproj import CRS, Transformer
    from pyproj.exceptions import CRSError

    try:
        source = CRS.from_user_input(crs)
    except CRSError as exc:
        raise IngestError("Unknown coordinate system", f"{crs!r} is not a coordinate system pyproj knows.",
                          hint="Give an EPSG code such as EPSG:3435 (Illinois East, US feet).") from exc
    transformer = Transformer.from_crs(source, "EPSG:4326", always_xy=True)
    ok = x.notna() & y.notna() & ~x.isin([0, -1]) & ~y.isin([0, -1])
    lon, lat = transformer.transform(x[ok].to_numpy(float), y[ok].to_numpy(float))
    out_lat = pd.Series(np.nan, index=x.index)
    out_lon = pd.Series(np.nan, index=x.index)
    out_lat[ok] = lat
    out_lon[ok] = lon
    return out_lat, out_lon


def normalise_name(text: object) -> str:
    """Lower case without punctuation or spaces, '&' -> 'and': "O'Hare", 'OHARE' and 'O Hare' all -> 'ohare'."""
    lowered = str(text).lower().replace("&", " and ")
    return re.sub(r"[^0-9a-z]+", "", lowered)


def area_lookup(areas) -> dict[str, str]:
    """Every way a file may name an area of ``areas`` (area_id, name) -> its area id: the id as the
    product spells it and the normalised name."""
    lookup: dict[str, str] = {}
    for area_id, name in zip(areas["area_id"].astype(str), areas["name"].astype(str), strict=True):
        lookup.setdefault(normalise_name(name), area_id)
    for area_id in areas["area_id"].astype(str):
        lookup[area_id] = area_id
    return lookup


def match_area_ids(values: pd.Series, level: str, areas, confirmed: dict[str, str] | None = None) -> pd.Series:
    """Raw area values -> area ids of ``areas``: confirmed matches first, then the id (any padding),
    then the normalised name. NA where nothing matches."""
    lookup = area_lookup(areas)
    confirmed = {str(k): str(v) for k, v in (confirmed or {}).items() if v}

    def convert(vals: pd.Series) -> pd.Series:
        text = vals.astype("string").str.strip()
        ids = canonical_area_id(text, level)
        out = [
            (confirmed.get(t) or lookup.get(i if isinstance(i, str) else "") or lookup.get(normalise_name(t)))
            if isinstance(t, str) else None
            for t, i in zip(text.tolist(), ids.tolist(), strict=True)
        ]
        return pd.Series(out, index=vals.index, dtype="string")

    return by_value(values, convert)


def spread_sample(values: pd.Series, n: int = 50_000) -> pd.Series:
    """Every k-th value, about ``n`` in all: enough to judge what most values of a column are."""
    return values if len(values) <= n else values.iloc[:: len(values) // n]


def looks_projected(values: pd.Series) -> bool:
    """Most coordinates far outside any degree range (|v| > 1000): feet or metres, not degrees."""
    v = to_number(spread_sample(values)).dropna()
    v = v[~v.isin([0, -1])]
    return bool(len(v)) and bool((v.abs() > 1000).mean() > 0.5)


def swapped_latlon(lat: pd.Series, lon: pd.Series, bounds: tuple[float, float, float, float] | None) -> bool:
    """Latitude values outside +-90 (while longitude ones are inside), or, given the city's bounds
    (west, south, east, north), each column falling in the other's range: the columns are swapped."""
    lat, lon = spread_sample(lat), spread_sample(lon)
    ok = lat.notna() & lon.notna() & ~lat.isin([0, -1]) & ~lon.isin([0, -1])
    la, lo = lat[ok], lon[ok]
    if la.empty:
        return False
    if ((la.abs() > 90) & (la.abs() <= 180) & (lo.abs() <= 90)).mean() > 0.5:
        return True
    if bounds is None:
        return False
    west, south, east, north = bounds
    pad = 0.5
    inside = la.between(south - pad, north + pad) & lo.between(west - pad, east + pad)
    flipped = lo.between(south - pad, north + pad) & la.between(west - pad, east + pad)
    return bool(flipped.mean() > 0.5 and inside.mean() < 0.1)


def has_utc_offsets(text: pd.Series) -> bool:
    head = text.head(2000).dropna()
    sample = (head if len(head) >= 500 else text.dropna()).astype(str).head(500)
    return bool(len(sample)) and bool(sample.str.contains(r"(?:[+-]\d{2}:?\d{2}|Z|UTC)$", regex=True).mean() > 0.5)


def majority_date_format(text: pd.Series, column: str) -> str:
    """The format most dates fit when none fits 95% (the rest are then rejected as unparseable), unless
    the rest fit another format (mixed formats: the analyst must choose) or most fit none."""
    sample = text.dropna()
    sample = sample[sample != ""].head(2000)
    examples = ", ".join(repr(v) for v in sample.drop_duplicates().head(3))
    rates = {fmt: pd.to_datetime(sample, format=fmt, errors="coerce") for fmt in DATE_FORMATS}
    best = max(rates, key=lambda f: rates[f].notna().mean()) if len(sample) else DATE_FORMATS[0]
    if not len(sample) or rates[best].notna().mean() < 0.5:
        raise IngestError(
            "Date format not recognised",
            f"Values of {column!r} such as {examples} match no known date format.",
            hint="Type the format in the mapping's date format (--date-format), e.g. %d/%m/%Y %H:%M, or "
                 "map the right column to the date.")
    rest = rates[best].isna()
    other = pd.Series(False, index=sample.index)
    for fmt, parsed in rates.items():
        if fmt != best:
            other |= parsed.notna() & rest
    if rest.any() and other[rest].mean() >= 0.5:
        mixed = ", ".join(repr(v) for v in [*sample[~rest].head(1), *sample[rest & other].head(2)])
        raise IngestError(
            "Dates come in more than one format",
            f"{column!r} mixes formats (e.g. {mixed}); reading each value on its own guess could swap days "
            "and months.",
            hint="Type the format most rows use in the mapping's date format (--date-format, e.g. "
                 "%m/%d/%Y %I:%M:%S %p); rows in another format are then rejected and listed.")
    return best

