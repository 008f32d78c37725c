"""Raw file -> canonical frame: reading, column mapping, parsing, validation report.

One code path for the CLI (``python -m dashboard ingest``), the sample builder and the upload page:
``read_upload`` (any format, limits checked before expanding) -> a confirmed ``Plan`` (suggested by
mapping.py) -> ``prepare_mapped`` -> ``commit_prepared``. It returns a canonical frame plus a report
naming every rejected row and why; it writes to the store only in ``commit_prepared`` (one
``store.commit``) and never imports Streamlit.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
import threading
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


def _read_csv_fast(text: str, delimiter: str, utf8: bytes | None = None) -> pd.DataFrame | None:
    """The same table pandas' C parser gives (every column text, '' missing, leading blanks dropped),
    read by pyarrow's multi-threaded parser: about ten times faster on a million rows. None when the
    file has something only pandas handles the way the product always has (ragged rows, repeated or
    blank headers, quotes after blanks); the caller then uses pandas. One difference is accepted:
    leading blanks inside quotes are dropped too, which prepare_* strip from every field anyway."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    header = next(csv.reader(io.StringIO(text[: text.find("\n") + 1 or len(text)]), delimiter=delimiter), [])
    names = [h.strip() for h in header]
    if not names or len(set(names)) != len(names) or "" in names or any(h != h.lstrip() for h in header):
        return None
    try:
        table = pacsv.read_csv(
            io.BytesIO(utf8 if utf8 is not None else text.encode("utf-8")),
            # 4 MB blocks, not 1 MB: a quarter of the chunks per column, so every later pass over a
            # column loops over fewer pieces (reading itself is no slower).
            read_options=pacsv.ReadOptions(block_size=4 << 20),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                # large_string: the type pandas keeps text in, so to_pandas wraps the columns as they are
                # (read as string, every value was copied again: ~0.25 s for a million rows).
                column_types=dict.fromkeys(header, pa.large_string()), strings_can_be_null=True,
                null_values=[""], quoted_strings_can_be_null=True),
        )
    except (pa.ArrowInvalid, pa.ArrowKeyError, pa.ArrowNotImplementedError):
        return None
    columns = {}
    # Which columns have a value starting with a blank: arrow kernels, on two threads for a large file.
    padded = _run_all({name_: (lambda column=column: pc.any(pc.starts_with(column, " ")).as_py())
                       for name_, column in zip(table.column_names, table.columns, strict=True)},
                      parallel=table.num_rows >= PARALLEL_ROWS)
    for name_, column in zip(table.column_names, table.columns, strict=True):
        if padded[name_]:
            column = pc.utf8_ltrim(column, characters=" ")
            if pc.any(pc.starts_with(column, '"')).as_py():
                return None  # a quote after blanks: pandas reads it as a quoted field, pyarrow as text
            # pandas reads a field of blanks as missing once skipinitialspace has removed them.
            column = pc.if_else(pc.equal(column, ""), pa.scalar(None, column.type), column)
        columns[name_] = column
    return pa.table(columns).to_pandas()


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
    head = _utf8_head(data)
    if head is not None and head.strip():
        # Plain UTF-8 bytes: pyarrow reads them as they are and checks every value is valid UTF-8, so the
        # whole file is never decoded into one Python string (160 MB for a million rows).
        frame = _read_csv_fast(head, _sniff_delimiter(head), data)
        if frame is not None:
            return _with_rows(frame, name)
    text = _decode(data, name)
    if not text or text.isspace():
        raise IngestError("File is empty", f"{name} has no content.", hint="Export the data again; the file has no rows.")
    utf8 = None
    if data[:2] != b"\x1f\x8b" and data.startswith(text[:64].encode("utf-8")):
        utf8 = data  # the bytes were UTF-8 without a byte-order mark: no need to encode the text again
    delimiter = _sniff_delimiter(text[:65536])
    frame = _read_csv_fast(text, delimiter, utf8)
    try:
        if frame is None:
            frame = pd.read_csv(io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False,
                                na_values=[""], skipinitialspace=True)
    except (pd.errors.ParserError, ValueError) as exc:
        raise IngestError(
            "File could not be parsed as a table",
            f"{name}: {exc}",
            hint="Check that every row has the same number of delimited fields as the header.",
        ) from exc
    return _with_rows(frame, name)


def _utf8_head(data: bytes) -> str | None:
    """The first 64 KiB (whole lines) of plain UTF-8 text bytes, or None for anything else (gzip, a
    byte-order mark, NUL bytes, another encoding): what read_table sniffs the delimiter and header from."""
    if data[:2] == b"\x1f\x8b" or data[:3] == b"\xef\xbb\xbf" or b"\x00" in data[:4096]:
        return None
    chunk = data[:65536]
    if len(data) > len(chunk) and b"\n" in chunk:
        chunk = chunk[: chunk.rfind(b"\n") + 1]
    try:
        return chunk.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _sniff_delimiter(sample: str) -> str:
    try:
        return csv.Sniffer().sniff(sample.split("\n", 1)[0], delimiters=",\t;|").delimiter
    except csv.Error:
        return ","


def _with_rows(frame: pd.DataFrame, name: str) -> pd.DataFrame:
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


# Export headers matched exactly (after normalise_header) when a file comes without a mapping.
SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    name: {f.name: f.headers for f in kind.fields if f.headers} for name, kind in schema.KINDS.items()}


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


@dataclass
class _Distinct:
    """A text column as its distinct values and, per row, a code into them: ids, codes and category
    text repeat a lot, so a million rows often hold only a few hundred values to work on."""

    base: pd.Series  # the distinct values in the column's dtype, then one missing value
    codes: np.ndarray  # per row; a missing row points at the last entry of base
    index: pd.Index

    def spread(self, done: pd.Series) -> pd.Series:
        """Per-row values from ``done`` (one per entry of base), as arrow or numpy gathers."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if isinstance(done.dtype, pd.BooleanDtype):
            flags = done.to_numpy(dtype=bool, na_value=False)[self.codes]
            return pd.Series(pd.arrays.BooleanArray(flags, done.isna().to_numpy()[self.codes]), index=self.index)
        arrow = getattr(done.array, "_pa_array", None)
        if isinstance(done.dtype, pd.StringDtype) and arrow is not None:
            taken = pc.take(arrow, pa.array(self.codes))
            return pd.Series(type(done.array)(taken), index=self.index)
        return pd.Series(done.take(self.codes).array, index=self.index, dtype=done.dtype)

    def counts(self) -> np.ndarray:
        """Rows per entry of base."""
        return np.bincount(self.codes, minlength=len(self.base))


def _distinct(values: pd.Series) -> _Distinct | None:
    """The column's distinct values (arrow dictionary encoding), or None where that does not pay: a
    short column, one that is not text, or one whose values hardly repeat (ids, case numbers)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(values) < 1000 or not pd.api.types.is_string_dtype(values.dtype):
        return None
    head = values.head(2000)
    if head.nunique() > 0.5 * len(head):  # nothing repeats, so skip the hashing
        return None
    arr = _arrow_text(values)
    encoded = pc.dictionary_encode(arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr)
    if len(encoded.dictionary) * 4 > len(values):
        return None
    base = pd.Series([*encoded.dictionary.to_pylist(), None], dtype=values.dtype)
    codes = pc.fill_null(encoded.indices, len(encoded.dictionary)).to_numpy(zero_copy_only=False)
    return _Distinct(base, codes, values.index)


def _by_value(values: pd.Series, func) -> pd.Series:
    """``func`` (element-wise) applied to each distinct value once and spread back (see _distinct)."""
    distinct = _distinct(values)
    return func(values) if distinct is None else distinct.spread(func(distinct.base))


_FAST_FORMAT = re.compile(r"^(%[YmdHIMSp]|[-/:T ])+$")


_SCRATCH: list = []
_SCRATCH_LOCK = threading.Lock()


def _scratch_duckdb():
    """A cursor on one in-memory DuckDB kept for the process (opening a database costs 20-40 ms; a
    cursor is its own connection to it, safe to use on any thread). Close the cursor after use."""
    import duckdb

    with _SCRATCH_LOCK:
        if not _SCRATCH:
            _SCRATCH.append(duckdb.connect(":memory:"))
        return _SCRATCH[0].cursor()


def _strptime_fast(text: pd.Series, fmt: str) -> pd.Series | None:
    """DuckDB's strptime (strict like pandas, about 25x faster) for plain numeric formats, else None."""
    if not _FAST_FORMAT.match(fmt) or len(text) < 10_000:
        return None
    import duckdb
    import pyarrow as pa

    con = _scratch_duckdb()
    try:
        con.register("dates_in", pa.table({"v": _arrow_text(text)}))
        out = con.sql("SELECT try_strptime(v, ?) AS t FROM dates_in", params=[fmt]).to_arrow_table()
    except duckdb.Error:
        return None
    finally:
        con.close()
    return pd.Series(out.column(0).to_numpy(), index=text.index, name=text.name).astype("datetime64[us]")


def _arrow_text(values: pd.Series):
    """The column as an arrow string array: zero-copy for pandas' arrow-backed text, converted otherwise."""
    import pyarrow as pa

    if pd.api.types.is_string_dtype(values.dtype) and hasattr(values.array, "__arrow_array__"):
        try:
            arr = values.array.__arrow_array__()
            if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
                return arr
        except (TypeError, ValueError, pa.ArrowException):
            pass
    return pa.array(values.astype("string").array, type=pa.string(), from_pandas=True)


def _placeholder(values: pd.Series) -> pd.Series:
    """Coordinates of 0 or -1, which exports write for 'no location' (two comparisons, not a hash
    lookup per value: isin costs ~7 ms per million)."""
    if values.dtype == np.float64:  # NaN compares False, as isin gives it
        return (values == 0) | (values == -1)
    return values.isin([0, -1])  # nullable numbers: NA must give False, not NA


def _edge_bytes(arr) -> tuple[np.ndarray, np.ndarray, list]:
    """First and last byte of every non-empty value of an arrow string array, and its data buffers,
    read from the offsets without decoding a single value (a million values in ~5 ms)."""
    import pyarrow as pa

    firsts, lasts, buffers = [], [], []
    chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    for chunk in chunks:
        if len(chunk) == 0:
            continue
        _, offsets_buf, data_buf = chunk.buffers()[:3]
        width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        offsets = np.frombuffer(offsets_buf, dtype=width)[chunk.offset:chunk.offset + len(chunk) + 1]
        data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
        starts, ends = offsets[:-1], offsets[1:]
        full = ends > starts  # nulls and '' have no bytes
        if not full.all():
            starts, ends = starts[full], ends[full]
        firsts.append(data[starts])
        lasts.append(data[ends - 1])
        buffers.append(data[offsets[0]:offsets[-1]])
    empty = np.zeros(0, np.uint8)
    return (np.concatenate(firsts) if firsts else empty, np.concatenate(lasts) if lasts else empty, buffers)


# ASCII blanks, and any byte of a multi-byte character (which may be a Unicode space such as U+00A0).
_BLANK = np.zeros(256, dtype=bool)
_BLANK[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = True
_BLANK[128:] = True


def _has_byte(data: np.ndarray, table: np.ndarray) -> bool:
    """Whether any byte of ``data`` is marked in the 256-entry ``table`` (a histogram of the bytes, not
    a lookup per byte)."""
    return bool(len(data)) and bool(np.bincount(data, minlength=256)[table].any())


def _strip(values: pd.Series) -> pd.Series:
    """``values.astype('string').str.strip()``, skipped for arrow-backed text whose values neither start
    nor end with a blank: most export columns are clean, and a strip pass costs 10-30 ms per million."""
    text = values.astype("string")
    if hasattr(text.array, "__arrow_array__"):
        import pyarrow as pa

        try:
            first, last, _ = _edge_bytes(_arrow_text(text))
        except (TypeError, ValueError, pa.ArrowException):
            return text.str.strip()
        if not (_has_byte(first, _BLANK) or _has_byte(last, _BLANK)):
            return text
    return text.str.strip()


def _to_number(values: pd.Series) -> pd.Series:
    """Text -> float, unparseable -> NaN (pd.to_numeric(errors='coerce')), with a fast path for clean columns."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pd.api.types.is_numeric_dtype(values.dtype):
        return pd.to_numeric(values, errors="coerce")
    try:
        arr = _arrow_text(values)
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
    text = values.astype("string") if stripped else _strip(values)
    if fmt is not None:
        fast = _strptime_fast(text, fmt)
        if fast is not None:
            return fast
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
    def convert(vals: pd.Series) -> pd.Series:
        lowered = vals.astype("string").str.strip().str.lower()
        out = pd.Series(pd.NA, index=vals.index, dtype="boolean")
        out[lowered.isin(_TRUE)] = True
        out[lowered.isin(_FALSE)] = False
        return out

    return _by_value(values, convert)


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

    return _by_value(values, convert)


def _offense_lookup(overrides: dict[str, str] | None) -> dict[str, str]:
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
    lookup = _offense_lookup(overrides)
    key = offense if normalised else _strip(offense).str.upper()
    groups = _by_value(key, lambda v: v.map(lookup))
    unknown = key[groups.isna() & key.notna()]
    return groups.fillna("other").astype(str), unknown.value_counts().to_dict()


def _plain_decimals(arr) -> bool:
    """Every value non-empty, all digits, and without a leading zero (bar '0' itself): then the same
    text is the same number and the other way round. Checked on the raw bytes, not value by value."""
    import pyarrow.compute as pc

    first, _, buffers = _edge_bytes(arr)
    if arr.null_count or len(first) < len(arr):
        return False
    digits = all(bool(((data - 48) < 10).all()) for data in buffers)  # uint8 wraps: bytes below '0' fail too
    if not digits or not (first == 48).any():
        return digits
    lengths = pc.binary_length(arr).to_numpy(zero_copy_only=False)
    return not bool(((first == 48) & (lengths > 1)).any())


def duplicated_ids(ids: pd.Series, keep: str | bool = "last") -> pd.Series:
    """``ids.duplicated(keep)``, about five times faster for the usual all-digit ids of a large file:
    compared as integers when every value is a plain decimal without leading zeros (then the same
    text is the same number and the other way round); as text otherwise."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(ids) >= 10_000 and pd.api.types.is_string_dtype(ids.dtype) and not ids.hasnans:
        arr = _arrow_text(ids)
        if _plain_decimals(arr):
            try:
                numbers = pc.cast(arr, pa.int64())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                numbers = None  # more than 18 digits
            if numbers is not None:
                values = numbers.to_numpy()
                # Exports come sorted by date, so ids are nearly in order: sorting them (~15 ms for a
                # million) shows most files repeat none, and the hash pass (~30-50 ms) is skipped.
                ordered = np.sort(values)
                if not (ordered[1:] == ordered[:-1]).any():
                    return pd.Series(False, index=ids.index)
                return pd.Series(values, index=ids.index).duplicated(keep=keep)
    return ids.duplicated(keep=keep)


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
    """Collects (row position, reason) pairs; the first reason found for a row is the one reported.

    Reasons are kept as small integer codes per row (0: not rejected), not as a million-row text
    column: each update of a mostly-missing text column cost ~10 ms, a code array ~1 ms."""

    def __init__(self, n: int) -> None:
        self.codes = np.zeros(n, dtype=np.int16)
        self.labels = [""]

    def add(self, mask: pd.Series | np.ndarray, reason: str) -> None:
        free = np.asarray(mask, dtype=bool) & (self.codes == 0)
        if free.any():
            if reason not in self.labels:
                self.labels.append(reason)
            self.codes[free] = self.labels.index(reason)

    @property
    def bad(self) -> pd.Series:
        return pd.Series(self.codes != 0)

    def table(self, raw: pd.DataFrame) -> pd.DataFrame:
        positions = np.flatnonzero(self.codes)
        if not len(positions):  # the usual case; no pass over a million raw rows
            return pd.DataFrame({"row": pd.Series(dtype="int64"), "reason": pd.Series(dtype="object"),
                                 **{c: raw[c].iloc[:0] for c in raw.columns}}).reset_index(drop=True)
        out = raw.reset_index(drop=True).iloc[positions].copy()
        out.insert(0, "reason", np.array(self.labels, dtype=object)[self.codes[positions]])
        out.insert(0, "row", positions + 1)
        return out.reset_index(drop=True)


@cache
def _schema_for(kind: str) -> pa.DataFrameSchema:
    """The pandera schema of ``kind`` as the last guard of prepare_*. For incidents without its
    incident_id uniqueness check: prepare_incidents has already rejected every row whose id a later row
    repeats, so the kept ids are unique by construction, and the check was a second pass over a million
    strings. (Every other check still runs.)"""
    if kind == "incidents":
        return schema.INCIDENTS.update_column("incident_id", unique=False)
    return schema.SCHEMAS[kind]


def _finalise(kind: str, frame: pd.DataFrame, raw: pd.DataFrame, rej: _Rejections, report: Report) -> Prepared:
    """Apply the pandera schema lazily as the last guard; any failing row joins the rejected table."""
    bad = rej.bad.to_numpy()
    kept = frame.loc[~bad] if bad.any() else frame  # no copy of a million clean rows
    try:
        kept = _schema_for(kind).validate(kept, lazy=True)
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

def _check_required(raw: pd.DataFrame, kind: str, mapping: dict[str, str], name: str) -> None:
    missing = [f for f in schema.KINDS[kind].required if f not in mapping]
    if missing:
        raise IngestError(
            f"Required {kind} columns not found",
            f"{name}: no column could be matched to {', '.join(missing)}. "
            f"Columns in the file: {', '.join(map(str, raw.columns[:30]))}.",
            hint=f"Rename the columns or pass a mapping (--map {missing[0]}=YOUR_COLUMN); "
                 f"are you sure this file holds {kind}?",
        )


DUPLICATE_ID = "duplicate incident id (a later row in the file has the same id)"


def prepare_incidents(
    raw: pd.DataFrame, *, source_name: str, digest: str, mapping: dict[str, str] | None = None,
    date_format: str | None = None, now: pd.Timestamp | None = None,
    offense_groups: dict[str, str] | None = None, unknown_offense: str = "other",
    pre_rejected: _Rejections | None = None, ids_canonical: bool = False,
    text_done: dict[str, Any] | None = None,
) -> Prepared:
    """Raw incident export -> canonical incidents. Rejects rows without id/date/offense and in-file duplicates.

    ``offense_groups`` (offense -> group) adds to the editable offense table for this source;
    ``unknown_offense="reject"`` rejects offenses in neither instead of grouping them as 'other';
    ``pre_rejected`` holds the reasons found before this step (see prepare_mapped);
    ``ids_canonical``: the area id columns are canonical already (derive_incidents made them);
    ``text_done``: results of _incident_text_tasks computed already (by derive_incidents' threads).
    """
    mapping = mapping or suggest_mapping(raw.columns, "incidents")
    _check_required(raw, "incidents", mapping, source_name)
    raw = raw.reset_index(drop=True)
    n = len(raw)
    rej = pre_rejected if pre_rejected is not None else _Rejections(n)
    report = Report("incidents", source_name, digest, n, 0, pd.DataFrame(), mapping=dict(mapping))
    raw_dates = _mapped(raw, mapping, "occurred_at")
    parsed_already = pd.api.types.is_datetime64_any_dtype(raw_dates.dtype)
    fmt = date_format or (None if parsed_already else detect_date_format(raw_dates))

    # Independent column work (two threads on a large file; see PARALLEL_ROWS), unless done already.
    text_tasks = _incident_text_tasks(raw, mapping, offense_groups)
    done = dict(text_done or {})
    done.update(_run_all({
        **{name: task for name, task in text_tasks.items() if name not in done},
        "occurred": lambda: parse_datetimes(raw_dates, fmt),
        "latitude": lambda: _to_number(_mapped(raw, mapping, "latitude")),
        "longitude": lambda: _to_number(_mapped(raw, mapping, "longitude")),
        **{level.column: (lambda level=level: _mapped(raw, mapping, level.column) if ids_canonical
                          else canonical_area_id(_mapped(raw, mapping, level.column), level.key))
           for level in schema.LEVELS.values()},
    }, parallel=n >= PARALLEL_ROWS))
    out = pd.DataFrame(index=raw.index)

    ids, repeats = done["ids"]
    out["incident_id"] = ids
    rej.add(ids.isna() | (ids == ""), "missing incident id")

    if fmt is None and not parsed_already:
        report.warnings.append("Date format not recognised; parsed value by value (slower, check the result).")
    occurred = done["occurred"]
    rej.add(occurred.isna(), "unparseable date")
    now = now or pd.Timestamp.now()
    rej.add((occurred < pd.Timestamp("1900-01-01")) | (occurred > now + pd.Timedelta(days=1)), "impossible date")
    out["occurred_at"] = occurred
    report.mapping["date_format"] = fmt or "mixed"

    missing_offense, out["offense"], out["offense_group"], report.unmapped_offenses = done["offense"]
    rej.add(missing_offense, "missing offense")
    if report.unmapped_offenses and unknown_offense == "reject":
        rej.add(out["offense"].isin(list(report.unmapped_offenses)).fillna(False),
                "unknown offense category (not in the offense table)")
    elif report.unmapped_offenses:
        report.warnings.append(_unmapped_warning(report.unmapped_offenses))
    for name in ("case_number", "offense_detail", "offense_code", "location_type", "block"):
        out[name] = done[name]

    lat, lon = done["latitude"], done["longitude"]
    # Exports mark a missing location with 0 or -1 (LAPD, Boston); never plot those.
    placeholder = _placeholder(lat) | _placeholder(lon)
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
        out[level.column] = done[level.column]
    out["arrest"] = done["arrest"]
    out["domestic"] = done["domestic"]

    rej.add(repeats, DUPLICATE_ID)
    report.fixes = {k: v for k, v in report.fixes.items() if v}
    return _finalise("incidents", out, raw, rej, report)


def _incident_text_tasks(raw: pd.DataFrame, mapping: dict[str, str], offense_groups: dict[str, str] | None
                         ) -> dict[str, Any]:
    """prepare_incidents' work on the text columns (ids and repeats, offense and group, free text,
    flags) as independent tasks: name -> function of nothing."""

    def offense_and_group() -> tuple[np.ndarray, pd.Series, pd.Series, dict[str, int]]:
        """(missing offense per row, offense as stored, offense group, unmapped offense -> rows)."""
        given = _mapped(raw, mapping, "offense")
        distinct = _distinct(given)
        if distinct is None:
            upper = _strip(given).str.upper()
            return ((upper.isna() | (upper == "")).to_numpy(dtype=bool), upper,
                    *group_offenses(upper, offense_groups, normalised=True))
        # Strip, upper-case and group the few distinct values, then spread all three back.
        upper = _strip(distinct.base).str.upper()
        groups = upper.map(_offense_lookup(offense_groups))
        unknown = pd.Series(distinct.counts(), index=upper.array)[(groups.isna() & upper.notna()).to_numpy()]
        unknown = unknown.groupby(level=0, sort=False).sum()
        missing = (upper.isna() | (upper == "")).to_numpy(dtype=bool)[distinct.codes]
        return (missing, distinct.spread(upper), distinct.spread(groups.fillna("other").astype(str)),
                {k: int(v) for k, v in unknown[unknown > 0].sort_values(ascending=False, kind="stable").items()})

    def ids_and_repeats() -> tuple[pd.Series, np.ndarray]:
        ids = _strip(_mapped(raw, mapping, "incident_id"))
        # One row per incident: a later row with the same id replaces an earlier one (newer export wins).
        return ids, (ids.notna() & duplicated_ids(ids, keep="last")).to_numpy(dtype=bool)

    return {
        "ids": ids_and_repeats,
        "offense": offense_and_group,
        **{name: (lambda name=name: _strip(_mapped(raw, mapping, name)))
           for name in ("case_number", "offense_detail", "offense_code", "location_type", "block")},
        "arrest": lambda: parse_bool(_mapped(raw, mapping, "arrest")),
        "domestic": lambda: parse_bool(_mapped(raw, mapping, "domestic")),
    }


def _unmapped_warning(unmapped: dict[str, int]) -> str:
    return (f"{sum(unmapped.values())} rows have offenses not in the offense table ({len(unmapped)} distinct); "
            "they were grouped as 'other'.")


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


# ================================================================ uploads: any real export, mapped
#
# The upload page and `python -m dashboard ingest` share this path: read_upload (any format, with
# limits checked before anything is expanded) -> a Plan (the confirmed mapping; suggested by
# mapping.py, saved as a profile) -> prepare_mapped (derive canonical columns, then prepare_*) ->
# commit_prepared (one atomic store commit with provenance).

UPLOAD_KINDS = tuple(name for name, kind in schema.KINDS.items() if kind.fields)
# Incident fields an export may carry that are not stored as such but feed stored ones.
DERIVED_FIELDS = ("occurred_time", "year", "month", "day", "hour", "location", "x", "y")
MAX_FEATURES = 50_000  # a city's boundaries: Chicago has 77 community areas, 275 beats, ~46k census blocks
MAX_EXPANSION = 100  # declared size / compressed size of one archive member; zip bombs are 1000x
GEO_SUFFIXES = {".geojson", ".zip", ".shp"}


@dataclass
class Upload:
    """One file as read: its name, hash, format and table (a GeoDataFrame for boundaries)."""

    name: str
    _digest: Any  # the SHA-256 (hex), or a Future of it while a large file is hashed on a second core
    format: str
    frame: pd.DataFrame
    size: int

    @property
    def digest(self) -> str:
        if not isinstance(self._digest, str):
            self._digest = self._digest.result()
        return self._digest

    @digest.setter
    def digest(self, value: Any) -> None:
        self._digest = value

    @property
    def is_geo(self) -> bool:
        return self.format in ("geojson", "shapefile")


@dataclass
class Plan:
    """How one source's export becomes canonical rows; what the analyst confirmed, saved as a profile.

    columns maps canonical (and derived) fields to the file's columns. Times are stored as naive local
    time: ``source_timezone`` says what the file's times are ("local", "UTC" or a zone name) and
    ``timezone`` the zone to store them in; values with a UTC offset are always converted.
    """

    kind: str = "incidents"
    columns: dict[str, str] = field(default_factory=dict)
    date_format: str | None = None
    timezone: str = ""
    source_timezone: str = "local"
    crs: str = ""
    swap_latlon: bool = False
    offense_groups: dict[str, str] = field(default_factory=dict)
    unknown_offense: str = "other"
    area_values: dict[str, dict[str, str]] = field(default_factory=dict)
    assign_areas: str = "missing"
    level: str | None = None
    year: int | None = None
    name: str = ""
    signature: str = ""

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        from dataclasses import fields as dc_fields

        known = {f.name for f in dc_fields(cls)}
        if "columns" not in data and all(isinstance(v, str) for v in data.values()):
            data = {"columns": dict(data)}  # an old-style profile: just {field: column}
        unknown = set(data) - known
        if unknown:
            raise IngestError("Mapping profile not understood", f"Unknown keys {sorted(unknown)}.",
                              hint=f"A profile has some of: {', '.join(sorted(known))}.")
        plan = cls(**{k: v for k, v in data.items() if k in known})
        if plan.kind not in UPLOAD_KINDS:
            raise IngestError("Mapping profile not understood", f"Unknown kind {plan.kind!r}.",
                              hint=f"Use one of {', '.join(UPLOAD_KINDS)}.")
        return plan


# ---------------------------------------------------------------------------------- reading, guarded


def _too_big(name: str, size: int, limit: int, what: str) -> IngestError:
    return IngestError(
        "File is too large",
        f"{name} {what} {size / 1e6:,.1f} MB; the limit is {limit / 1e6:,.0f} MB.",
        hint="Split the export (e.g. by year) or ask the administrator to raise DASHBOARD_MAX_UPLOAD_MB.",
    )


def _gunzip(data: bytes, name: str, limit: int) -> bytes:
    """Decompress gzip without ever holding more than ``limit`` bytes (a gzip bomb stops here)."""
    import zlib

    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise IngestError("Compressed file is damaged", f"{name} could not be decompressed ({exc}).",
                          hint="Download or copy the file again; the archive is probably truncated.") from exc
    if len(out) > limit:
        raise _too_big(name, len(out), limit, "expands to more than")
    if not inflater.eof:
        raise IngestError("Compressed file is damaged", f"{name} ends before its compressed data does.",
                          hint="Download or copy the file again; the archive is probably truncated.")
    return out


def _zip_members(data: bytes, name: str, limit: int):
    import zipfile

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = [i for i in archive.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX")]
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise IngestError("Zip file is damaged", f"{name}: {exc}.",
                          hint="Zip the files again (a Shapefile needs .shp, .shx, .dbf and .prj).") from exc
    for info in infos:
        if info.file_size > 1_000_000 and info.file_size > MAX_EXPANSION * max(info.compress_size, 1):
            raise IngestError(
                "Archive looks like a zip bomb",
                f"{info.filename} in {name} claims {info.file_size / 1e6:,.0f} MB from "
                f"{info.compress_size / 1e6:,.2f} MB compressed ({info.file_size / max(info.compress_size, 1):,.0f}x).",
                hint="Upload the uncompressed file, or a zip of an ordinary export.",
            )
    declared = sum(i.file_size for i in infos)
    if declared > limit:
        raise _too_big(name, declared, limit, "would expand to")
    return archive, infos


def _check_feature_count(count: int, name: str) -> None:
    if count > MAX_FEATURES:
        raise IngestError(
            "Too many boundary features",
            f"{name} holds {count:,} features; boundary files here have at most {MAX_FEATURES:,}.",
            hint="Upload one boundary level (beats, districts, neighbourhoods), not points or a whole state.",
        )


def _read_geo(data: bytes, name: str, fmt: str):
    import geopandas as gpd

    try:
        gdf = gpd.read_file(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - pyogrio raises several types
        raise IngestError("Boundary file could not be read", f"{name}: {str(exc)[:300]}",
                          hint="Upload GeoJSON or a zipped Shapefile with its .prj.") from exc
    if gdf.empty:
        raise IngestError("Boundary file has no features", f"{name} holds no shapes.",
                          hint="Export the boundary layer again; it is empty.")
    return gdf


def read_upload(data: bytes, name: str, *, max_mb: float = 200) -> Upload:
    """Read one uploaded file: CSV/TSV/TXT (any delimiter, BOM, UTF-8 or Latin-1, optionally gzipped),
    Excel (.xlsx), Parquet, JSON (records), GeoJSON or a zipped Shapefile. Sizes, expansion ratios and
    feature counts are checked before anything is expanded or parsed."""
    limit = int(max_mb * 1_000_000)
    if len(data) > limit:
        raise _too_big(name, len(data), limit, "is")
    if len(data) > 5_000_000:
        # Hashed on a second core (hashlib frees the GIL) after the file is parsed (pyarrow parses on
        # every core), while its mapping is suggested on one: the validation report first needs it.
        upload = _read_upload(data, name, "", max_mb, limit)
        upload.digest = _background().submit(file_hash, data)
        return upload
    return _read_upload(data, name, file_hash(data), max_mb, limit)


_BACKGROUND: list = []


def _background():
    """One worker thread for the process, for work that overlaps what the caller does next."""
    from concurrent.futures import ThreadPoolExecutor

    with _SCRATCH_LOCK:
        if not _BACKGROUND:
            _BACKGROUND.append(ThreadPoolExecutor(1, thread_name_prefix="ingest-background"))
        return _BACKGROUND[0]


def _read_upload(data: bytes, name: str, digest: str, max_mb: float, limit: int) -> Upload:
    if not data or data.isspace():
        raise IngestError("File is empty", f"{name} has no content.", hint="Export the data again; the file has no rows.")
    suffixes = [s.lower() for s in Path(name).suffixes]
    suffix = suffixes[-1] if suffixes else ""
    if data[:2] == b"\x1f\x8b":
        data = _gunzip(data, name, limit)
        name_inner = name[: -len(suffix)] if suffix in (".gz", ".gzip") else name
        inner = _read_upload(data, name_inner, "", max_mb, limit)  # _gunzip checked the expanded size
        return Upload(name, digest, inner.format, inner.frame, len(data))
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # Excel's "Unicode text" export is UTF-16
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise IngestError("File could not be decoded", f"{name} starts like UTF-16 but is not.",
                              hint="Save it again as CSV UTF-8.") from exc
        inner = read_upload(text.encode("utf-8"), name, max_mb=max_mb)
        return Upload(name, digest, inner.format, inner.frame, len(data))
    if data[:4] == b"PK\x03\x04":
        return _read_zip(data, name, digest, limit, max_mb)
    if suffix in (".xls",) or data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise IngestError("Old Excel format", f"{name} is an .xls (Excel 97-2003) workbook.",
                          hint="Open it in Excel or LibreOffice and save it as .xlsx or CSV.")
    if data[:4] == b"PAR1" or suffix == ".parquet":
        return Upload(name, digest, "parquet", read_table(data, name if suffix == ".parquet" else name + ".parquet"),
                      len(data))
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n")
    if suffix in (".geojson", ".json") or head[:1] in (b"{", b"["):
        return _read_json(data, name, digest)
    if head[:1] == b"<" and re.match(rb"<(!doctype|html|\?xml|table)", head[:20].lower()):
        raise IngestError("File is a web page, not a data export", f"{name} starts with HTML/XML markup.",
                          hint="Save the export as CSV from the portal's download button, not the web page.")
    return Upload(name, digest, "csv", read_table(data, name), len(data))


def _read_zip(data: bytes, name: str, digest: str, limit: int, max_mb: float) -> Upload:
    archive, infos = _zip_members(data, name, limit)
    names = [i.filename.lower() for i in infos]
    if any(n.endswith("[content_types].xml") for n in names) or any(n.startswith("xl/") for n in names):
        try:
            frame = pd.read_excel(io.BytesIO(data), dtype=str, engine="openpyxl")
        except Exception as exc:  # noqa: BLE001 - openpyxl raises many types on a bad workbook
            raise IngestError("Excel file could not be read", f"{name}: {str(exc)[:300]}",
                              hint="Open it in Excel and save it again as .xlsx, or export CSV.") from exc
        frame = frame.dropna(how="all")
        if frame.empty:
            raise IngestError("File has a header but no rows", f"{name}'s first sheet has no data rows.",
                              hint="Put the data on the first sheet, or export CSV.")
        frame.columns = [str(c) for c in frame.columns]
        return Upload(name, digest, "excel", frame, len(data))
    shp = [i for i in infos if i.filename.lower().endswith(".shp")]
    if shp:
        stem = shp[0].filename[:-4].lower()
        for member in infos:
            low = member.filename.lower()
            if low == stem + ".shx":
                _check_feature_count(max(member.file_size - 100, 0) // 8, name)
            if low == stem + ".dbf":
                header = archive.open(member).read(8)
                if len(header) == 8:
                    _check_feature_count(int.from_bytes(header[4:8], "little"), name)
        return Upload(name, digest, "shapefile", _read_geo(data, name, "shapefile"), len(data))
    tables = [i for i in infos if Path(i.filename).suffix.lower() in {*TEXT_SUFFIXES, ".geojson", ".json",
                                                                        ".parquet", ".xlsx"}]
    if len(tables) != 1:
        raise IngestError("Zip holds no single data file", f"{name} contains {', '.join(names[:10]) or 'nothing'}.",
                          hint="Zip one CSV/GeoJSON, or a Shapefile with its .shp, .shx, .dbf and .prj.")
    inner = read_upload(archive.read(tables[0]), Path(tables[0].filename).name, max_mb=max_mb)
    return Upload(name, digest, inner.format, inner.frame, len(data))


def _read_json(data: bytes, name: str, digest: str) -> Upload:
    try:
        parsed = json.loads(_decode(data, name))
    except (json.JSONDecodeError, RecursionError) as exc:
        raise IngestError("File is not valid JSON", f"{name}: {str(exc)[:200]}",
                          hint="Export it again; it is probably cut off. CSV exports are easiest.") from exc
    if isinstance(parsed, dict) and parsed.get("type") in ("FeatureCollection", "Feature"):
        features = parsed.get("features") if parsed.get("type") == "FeatureCollection" else [parsed]
        _check_feature_count(len(features or []), name)
        return Upload(name, digest, "geojson", _read_geo(data, name, "geojson"), len(data))
    if isinstance(parsed, dict):
        # Portals wrap records: {"data": [...]}, {"records": [...]}, {"value": [...]}.
        lists = [v for v in parsed.values() if isinstance(v, list) and v and isinstance(v[0], dict)]
        parsed = lists[0] if len(lists) == 1 else parsed
    if not isinstance(parsed, list) or not parsed or not all(isinstance(r, dict) for r in parsed[:100]):
        raise IngestError("JSON holds no table", f"{name} is JSON but not a list of records or GeoJSON.",
                          hint="Export a CSV, a JSON list of records, or GeoJSON for boundaries.")
    frame = pd.DataFrame(parsed)
    for col in frame.columns:
        if not pd.api.types.is_string_dtype(frame[col].dtype):
            frame[col] = frame[col].map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v))
                                        else (json.dumps(v) if isinstance(v, (dict, list)) else str(v)))
    frame.attrs["records"] = parsed
    return Upload(name, digest, "json", frame.astype("str"), len(data))


# ------------------------------------------------------------------------- values -> canonical values


def parse_time_of_day(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """'0845', '845', '8:45', '08:45:00', '8:45 PM' -> minutes after midnight (float); NaN where
    missing. Returns (minutes, bad) where bad marks text that is not a time."""

    def convert(vals: pd.Series) -> pd.Series:
        text = vals.astype("string").str.strip().str.upper()
        digits = text.str.fullmatch(r"\d{1,4}").fillna(False).astype(bool)
        hhmm = text.where(digits).str.zfill(4)
        minutes = (_to_number(hhmm.str[:2]) * 60 + _to_number(hhmm.str[2:])).where(
            digits & (_to_number(hhmm.str[:2]) < 24) & (_to_number(hhmm.str[2:]) < 60))
        parts = text.str.extract(r"^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?\s*([AP]\.?M\.?)?$")
        hours, mins = _to_number(parts[0]), _to_number(parts[1])
        pm, am = parts[3].str.startswith("P").fillna(False), parts[3].str.startswith("A").fillna(False)
        hours = hours.where(~(pm & (hours < 12)), hours + 12).where(~(am & (hours == 12)), 0)
        colon = (hours < 24) & (mins < 60) & ((~pm & ~am) | (_to_number(parts[0]) <= 12))
        return minutes.fillna((hours * 60 + mins).where(colon))

    minutes = _by_value(values, convert).astype(float)
    text = values.astype("string").str.strip()
    missing = text.isna() | (text == "")
    return minutes, (minutes.isna() & ~missing)


def parse_location(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """A combined location column -> (latitude, longitude): '(41.86, -87.72)' (Chicago, Boston) or
    WKT 'POINT (-87.72 41.86)' (San Francisco; longitude first)."""
    text = values.astype("string")
    nums = text.str.extract(r"(-?\d+(?:\.\d+)?)[,;\s]+(-?\d+(?:\.\d+)?)")
    first, second = _to_number(nums[0]), _to_number(nums[1])
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

    return _by_value(values, convert)


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


def _replace_at(values: pd.Series, positions: np.ndarray, replacements: np.ndarray) -> pd.Series:
    """A text column with the values at ``positions`` replaced (None: missing), as one arrow kernel
    rather than a masked assignment over a million rows."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not len(positions):
        return values
    arr = _arrow_text(values)
    chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    order = np.argsort(positions, kind="stable")
    positions, replacements = np.asarray(positions)[order], np.asarray(replacements, dtype=object)[order]
    out, start = [], 0
    for chunk in chunks:  # chunks without a replacement are kept as they are, not copied
        lo, hi = np.searchsorted(positions, [start, start + len(chunk)])
        new = pa.array(replacements[lo:hi], type=chunk.type, from_pandas=True)
        if hi - lo > 64:
            mask = np.zeros(len(chunk), dtype=bool)
            mask[positions[lo:hi] - start] = True
            out.append(pc.replace_with_mask(chunk, pa.array(mask), new))
        else:  # a few values: zero-copy slices around them, not a copy of a million
            at = 0
            for i, position in enumerate(positions[lo:hi] - start):
                out += [chunk.slice(at, position - at), new.slice(i, 1)]
                at = position + 1
            out.append(chunk.slice(at))
        start += len(chunk)
    out = [piece for piece in out if len(piece)]
    return pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array(out, type=arr.type)), index=values.index)


def _spread_sample(values: pd.Series, n: int = 50_000) -> pd.Series:
    """Every k-th value, about ``n`` in all: enough to judge what most values of a column are."""
    return values if len(values) <= n else values.iloc[:: len(values) // n]


def looks_projected(values: pd.Series) -> bool:
    """Most coordinates far outside any degree range (|v| > 1000): feet or metres, not degrees."""
    v = _to_number(_spread_sample(values)).dropna()
    v = v[~v.isin([0, -1])]
    return bool(len(v)) and bool((v.abs() > 1000).mean() > 0.5)


def swapped_latlon(lat: pd.Series, lon: pd.Series, bounds: tuple[float, float, float, float] | None) -> bool:
    """Latitude values outside +-90 (while longitude ones are inside), or, given the city's bounds
    (west, south, east, north), each column falling in the other's range: the columns are swapped."""
    lat, lon = _spread_sample(lat), _spread_sample(lon)
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


# -------------------------------------------------------------------------------- incidents, mapped


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


def _has_offsets(text: pd.Series) -> bool:
    head = text.head(2000).dropna()
    sample = (head if len(head) >= 500 else text.dropna()).astype(str).head(500)
    return bool(len(sample)) and bool(sample.str.contains(r"(?:[+-]\d{2}:?\d{2}|Z|UTC)$", regex=True).mean() > 0.5)


def _majority_date_format(text: pd.Series, column: str) -> str:
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


def _occurred_at(raw: pd.DataFrame, plan: Plan, notes: dict[str, Any], rej: _Rejections) -> pd.Series:
    """Parsed occurrence times (naive, in the zone to store); rows rejected here are added to ``rej``."""
    date_col = _col(raw, plan, "occurred_at")
    aware = False
    if date_col is not None:
        text = date_col if pd.api.types.is_datetime64_any_dtype(date_col.dtype) else _strip(date_col)
        fmt = plan.date_format or (None if pd.api.types.is_datetime64_any_dtype(text.dtype) else detect_date_format(text))
        notes["date_format"] = fmt or "mixed"
        if not pd.api.types.is_datetime64_any_dtype(text.dtype) and _has_offsets(text):
            aware = True
            occurred = pd.to_datetime(text, utc=True, errors="coerce",
                                      **({"format": fmt} if fmt else {"format": "mixed"}))
        elif fmt is None:
            fmt = _majority_date_format(text, plan.columns["occurred_at"])
            notes["date_format"] = fmt
            occurred = parse_datetimes(text, fmt, stripped=True)
        else:
            occurred = parse_datetimes(text, fmt, stripped=True)
    elif _col(raw, plan, "year") is not None and _col(raw, plan, "month") is not None:
        parts = {p: _to_number(_col(raw, plan, p)) if _col(raw, plan, p) is not None else None
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
        rej.add(bad & occurred.notna(), "unparseable time (expected HHMM like 0845 or HH:MM)")
        notes.setdefault("fixes", {})["time of day missing, midnight used"] = int((minutes.isna() & ~bad).sum())
        base = occurred.dt.tz_convert("UTC").dt.tz_localize(None) if aware else occurred
        occurred = base.dt.normalize() + pd.to_timedelta(minutes.fillna(0), unit="m")
        aware = False
    elif _col(raw, plan, "hour") is not None and date_col is not None and not aware:
        # An hour column only adds to dates that carry no time of their own.
        hours = _to_number(_col(raw, plan, "hour"))
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
    lat = _to_number(lat_col) if lat_col is not None else nan
    lon = _to_number(lon_col) if lon_col is not None else nan
    location = _col(raw, plan, "location")
    if location is not None:
        l_lat, l_lon = parse_location(location)
        lat, lon = lat.fillna(l_lat), lon.fillna(l_lon)
    x_col, y_col = _col(raw, plan, "x"), _col(raw, plan, "y")
    if x_col is not None and y_col is not None:
        if not plan.crs:
            sample = _to_number(x_col).dropna()
            raise IngestError(
                "Coordinate system needed",
                f"{plan.columns['x']!r}/{plan.columns['y']!r} hold projected coordinates (feet or metres, "
                f"e.g. {sample.iloc[0] if len(sample) else 0:,.0f}), not degrees.",
                hint="Choose the coordinate system (e.g. EPSG:3435, Illinois East in US feet) in the mapping "
                     "(--crs); the page suggests the one that puts the points inside your boundaries.")
        p_lat, p_lon = project_to_degrees(_to_number(x_col), _to_number(y_col), plan.crs)
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

    arr = _arrow_text(values)
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
    the column's bytes, so id and address columns of a million unique values cost ~5 ms, not ~70."""
    first, _, buffers = _edge_bytes(arr)
    if _has_byte(first, _RISKY_FIRST):
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
        arr = _arrow_text(frame[column])
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


# Column work on files of at least this many rows runs on two threads: most of it is arrow, numpy,
# shapely and DuckDB kernels, which release the GIL (the tasks of a million-row file: ~480 ms -> ~280 ms).
PARALLEL_ROWS = 100_000
INCIDENT_TEXT_FIELDS = ("incident_id", "case_number", "offense", "offense_detail", "offense_code",
                        "location_type", "block")


def _run_all(tasks: dict[str, Any], parallel: bool) -> dict[str, Any]:
    """Call every task; results by name. With ``parallel`` on two threads. Errors are raised in the
    tasks' order, so the first failing task is the one reported, as when they run one after another."""
    if not parallel or len(tasks) < 2:
        return {name: task() for name, task in tasks.items()}
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2, thread_name_prefix="ingest") as pool:
        futures = {name: pool.submit(task) for name, task in tasks.items()}
        return {name: future.result() for name, future in futures.items()}


def _too_long(values: pd.Series) -> np.ndarray | None:
    """Rows whose text is longer than MAX_TEXT characters, or None when none is."""
    if _longest(values) <= MAX_TEXT:
        return None
    return (values.astype("string").str.len().fillna(0) > MAX_TEXT).to_numpy(dtype=bool)


def _match_level(col: pd.Series, key: str, areas, confirmed: dict[str, str] | None) -> tuple[pd.Series, int]:
    """Area ids of one level matched to its boundaries, and how many given values matched none."""
    distinct = _distinct(col)
    values = col if distinct is None else distinct.base
    matched = match_area_ids(values, key, areas, confirmed)
    # canonical_area_id is NA exactly for blank values, so these are the values given but unknown
    given = _strip(values)
    unknown = (given.notna() & (given != "") & matched.isna()).to_numpy(dtype=bool)
    if distinct is None:
        return matched, int(unknown.sum())
    return distinct.spread(matched), int(distinct.counts()[unknown].sum())


def derive_incidents(raw: pd.DataFrame, plan: Plan, areas: dict[str, Any] | None = None
                     ) -> tuple[pd.DataFrame, _Rejections, dict[str, Any]]:
    """Raw export + plan -> (frame with canonical column names, rows rejected so far, notes).

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
    date_rej = _Rejections(len(raw))
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
    # prepare_incidents' text work needs nothing derived here: the same threads do it now.
    text_tasks = _incident_text_tasks(out, {c: c for c in out.columns}, plan.offense_groups)
    tasks.update({f"text {name}": task for name, task in text_tasks.items()})
    done = _run_all(tasks, parallel=len(raw) >= PARALLEL_ROWS)

    rej = date_rej
    notes: dict[str, Any] = {**date_notes, "fixes": {**date_notes["fixes"], **coordinate_notes["fixes"]}}
    out["occurred_at"] = done["occurred"]
    for name in text_fields:
        if done[f"long {name}"] is not None:
            rej.add(done[f"long {name}"], f"{name} longer than {MAX_TEXT:,} characters (a broken export?)")
    notes["hostile"] = {k: v for n in text_fields for k, v in done[f"hostile {n}"].items()}

    lat, lon = done["coordinates"]
    placeholder = _placeholder(lat) | _placeholder(lon) | (lat.abs() > 90) | (lon.abs() > 180)
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
                    ids = _replace_at(ids, at[hit], found[hit]) if plan.assign_areas == "missing" else \
                        _replace_at(ids, at, found)
                    notes["fixes"][f"{level.column} found by point-in-polygon"] = int(hit.sum())
                    searched |= todo
        placed |= ids.notna().to_numpy()
        out[level.column] = ids
    outside = searched & ~placed
    rej.add(outside, "outside every boundary (check the coordinates and their coordinate system)")
    notes["fixes"] = {k: v for k, v in notes["fixes"].items() if v}
    notes["text_done"] = {name: done[f"text {name}"] for name in text_tasks}
    return out, rej, notes


def prepare_mapped(upload: Upload | pd.DataFrame, plan: Plan, *, source_name: str = "", digest: str = "",
                   areas: dict[str, Any] | None = None, known_beats: set[str] | None = None,
                   now: pd.Timestamp | None = None) -> Prepared:
    """An upload and its confirmed plan -> canonical frame and report (nothing is stored).

    ``areas`` maps a level to its boundaries (area_id, name, geometry) for matching area names and
    point-in-polygon; the report's rejected table holds the file's own columns, whatever was derived."""
    raw = upload.frame if isinstance(upload, Upload) else upload
    given_digest = digest
    if isinstance(upload, Upload):
        # The file's hash is read at the end: a large file may still be hashed on a second core.
        source_name = source_name or upload.name
    prepared = _prepare_mapped(raw, upload, plan, source_name, digest, areas, known_beats, now)
    prepared.report.file_hash = given_digest or (upload.digest if isinstance(upload, Upload) else "")
    return prepared


def _prepare_mapped(raw: pd.DataFrame, upload: Upload | pd.DataFrame, plan: Plan, source_name: str, digest: str,
                    areas: dict[str, Any] | None, known_beats: set[str] | None, now: pd.Timestamp | None) -> Prepared:
    if plan.kind == "areas":
        prepared = _prepare_areas_upload(raw, plan, source_name, digest)
        prepared.report.mapping = plan.to_dict()
        return prepared
    if isinstance(upload, Upload) and upload.is_geo:
        raise IngestError("Boundary file uploaded as data", f"{source_name} holds shapes (boundaries).",
                          hint="Choose the kind 'areas' and the boundary level it holds.")
    if plan.kind == "incidents":
        missing = [f for f in ("incident_id", "offense") if f not in plan.columns]
        if "occurred_at" not in plan.columns and not {"year", "month"} <= set(plan.columns):
            missing.append("occurred_at")
        if missing:
            _check_required(raw, "incidents", {k: v for k, v in plan.columns.items() if k not in missing}, source_name)
        derived, rejected, notes = derive_incidents(raw, plan, areas)
        prepared = prepare_incidents(
            derived, source_name=source_name, digest=digest, mapping={c: c for c in derived.columns},
            now=now, offense_groups=plan.offense_groups, unknown_offense=plan.unknown_offense,
            pre_rejected=rejected, ids_canonical=True, text_done=notes.pop("text_done"),
        )
        report = prepared.report
        report.fixes = {**notes["fixes"], **report.fixes}
        report.warnings = [w for w in report.warnings if "Date format" not in w]
        if notes["hostile"]:
            report.warnings.insert(0, (
                "Some text looks like spreadsheet formulas or HTML/script ("
                + "; ".join(f"{k}: {v:,} values" for k, v in notes["hostile"].items())
                + "). It is stored as plain text, shown escaped, and defused (prefixed with ') in CSV downloads."))
        repeats = report.reason_counts().get(DUPLICATE_ID, 0)
        if repeats:
            report.warnings.append(
                f"{repeats:,} rows repeat the incident id of a later row: the file may hold one row per "
                "offense (or per victim); each incident is stored once (its last row).")
    elif plan.kind == "population":
        prepared = prepare_population(raw, source_name=source_name, digest=digest, level=plan.level or "community_area",
                                      year=plan.year, mapping=plan.columns or None)
        report = prepared.report
    elif plan.kind == "outreach":
        records = raw.attrs.get("records")
        if records is None or not {"calendarId", "start", "title"} <= set(raw.columns):
            raise IngestError(
                "Outreach tables are not read yet",
                f"{source_name} looks like outreach events, but only the CPD CAPS calendar JSON is read so far.",
                hint="Load the calendar JSON, or convert the log to the CAPS fields (calendarId, start, end, "
                     "title, location).")
        prepared = caps_events_to_outreach(records, known_beats=known_beats or set(), source_name=source_name,
                                           digest=digest)
        report = prepared.report
    else:
        raise IngestError(
            f"{plan.kind.capitalize()} uploads are not supported yet",
            f"{source_name} looks like {plan.kind}; this version stores incidents, boundaries, population "
            "and the CAPS outreach calendar.",
            hint="Pick another kind if the detection is wrong; survey results need their own importer.")
    report.mapping = {**plan.to_dict(), "date_format": plan.date_format or report.mapping.get("date_format")}
    if plan.kind == "incidents":
        report.mapping["date_format"] = plan.date_format or notes.get("date_format")
        if len(report.rejected):
            rows = report.rejected["row"].to_numpy()
            original = raw.reset_index(drop=True).iloc[rows - 1].reset_index(drop=True)
            report.rejected = pd.concat([report.rejected[["row", "reason"]], original], axis=1)
    return prepared


def _prepare_areas_upload(raw, plan: Plan, source_name: str, digest: str) -> Prepared:
    import geopandas as gpd
    import shapely

    if not isinstance(raw, gpd.GeoDataFrame):
        raise IngestError("Boundaries need shapes", f"{source_name} is a table without geometry.",
                          hint="Upload boundaries as GeoJSON or a zipped Shapefile (.shp, .shx, .dbf, .prj).")
    if not plan.level or plan.level not in schema.LEVELS:
        raise IngestError("Boundary level needed", f"Say which level {source_name} holds.",
                          hint=f"Choose one of: {', '.join(schema.LEVELS)}.")
    gdf = raw
    if plan.crs:
        gdf = gdf.set_crs(plan.crs, allow_override=True)
    elif gdf.crs is not None and gdf.crs.is_geographic:
        west, south, east, north = gdf.total_bounds
        if max(abs(west), abs(east)) > 180 or max(abs(south), abs(north)) > 90:
            raise IngestError(
                "Boundary coordinates look like feet or metres, not degrees",
                f"{source_name} says it is in degrees ({gdf.crs.to_string()}) but spans {west:,.0f} .. {east:,.0f}.",
                hint="Choose the coordinate system (e.g. EPSG:3435) in the mapping, or re-export as EPSG:4326.")
    if gdf.geometry.isna().all() or gdf.geometry.is_empty.all():
        raise IngestError("Boundary shapes could not be read", f"{source_name}: no feature has a usable geometry.",
                          hint="Export the layer again as GeoJSON (EPSG:4326) or a zipped Shapefile.")
    invalid = int((~shapely.is_valid(gdf.geometry.values) & ~gdf.geometry.isna()).sum())
    not_polygon = int((~gdf.geometry.geom_type.isin(["Polygon", "MultiPolygon"]) & gdf.geometry.notna()).sum())
    if not_polygon == len(gdf):
        raise IngestError("Boundary file holds no polygons", f"{source_name} holds {gdf.geom_type.iloc[0]} features.",
                          hint="Boundaries are polygons; points or lines (e.g. incident locations) go elsewhere.")
    prepared = prepare_areas(gdf, source_name=source_name, digest=digest, level=plan.level,
                             mapping=plan.columns or None)
    if invalid:
        prepared.report.fixes["invalid (e.g. self-intersecting) polygons repaired"] = invalid
        prepared.report.warnings.append(
            f"{invalid} polygon(s) were invalid (e.g. self-intersecting) and were repaired; check them on the map.")
    return prepared


# ---------------------------------------------------------------------------------------- commit


def commit_prepared(store, prepared: Prepared, *, mode: str = "append", author: str = "", note: str = "",
                    level: str | None = None, role: str = "") -> int:
    """Store a prepared upload as a new version (one transaction) with its provenance; return the version.

    Boundaries replace per level: mode 'replace' swaps the areas of ``level`` and keeps the others."""
    from dashboard.store import Provenance

    r = prepared.report
    frame = prepared.frame
    if r.kind == "areas" and mode == "replace" and store.has("areas"):
        import geopandas as gpd

        from dashboard import geo

        others = [geo.from_store(store.areas(lv)).assign(level=lv) for lv in store.levels() if lv != level]
        frame = gpd.GeoDataFrame(pd.concat([*others, frame], ignore_index=True), crs=schema.CRS)
        frame = frame[["level", "area_id", "name", "geometry"]]
    return store.commit(r.kind, frame, Provenance(
        source=r.source_name, file_hash=r.file_hash, rows_in=r.rows_in, rows_kept=r.rows_kept,
        rows_rejected=r.rows_rejected, mapping=r.mapping, author=author or "unknown", note=note, role=role,
    ), mode=mode)


# ---------------------------------------------------------------------------------------- preview


def preview_weekly(frame: pd.DataFrame) -> pd.DataFrame:
    """Weekly counts of a prepared incidents frame: week (Monday), count."""
    weeks = frame["occurred_at"].dt.to_period("W-SUN").dt.start_time
    out = weeks.value_counts().sort_index().rename_axis("week").reset_index(name="count")
    return out


def preview_area_counts(frame: pd.DataFrame, level: str) -> pd.DataFrame:
    """Counts per area of ``level`` in a prepared incidents frame: area_id, count."""
    column = schema.LEVELS[level].column
    counts = frame[column].dropna().astype(str).value_counts()
    return counts.rename_axis("area_id").reset_index(name="count")


def safe_csv_bytes(frame: pd.DataFrame) -> bytes:
    """CSV of ``frame`` with every text cell a spreadsheet would run as a formula (= + - @, tab, CR at the
    start) prefixed with a quote, so rejected rows of a hostile file open inert."""

    def defuse(value: object) -> object:
        if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
            return "'" + value
        return value

    out = frame.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.CategoricalDtype):
            out[col] = out[col].astype(object)
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(defuse)
    # Headers come from uploaded files too.
    out.columns = [defuse(str(c)) for c in out.columns]
    return out.to_csv(index=False).encode("utf-8")
