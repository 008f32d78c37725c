"""Reading uploaded bytes into a table: CSV/TSV/TXT (any delimiter, encoding, gzip), Excel, Parquet,
JSON, GeoJSON and zipped Shapefiles, with sizes, expansion ratios and feature counts checked before
anything is expanded. It reads; it never maps columns, parses values or touches the store."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dashboard.errors import IngestError
from dashboard.ingest.kernels import PARALLEL_ROWS, background, run_all

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
    read by pyarrow's multi-threaded parser, much faster on a large file. None when the
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
                # (read as string, every value would be copied again).
                column_types=dict.fromkeys(header, pa.large_string()), strings_can_be_null=True,
                null_values=[""], quoted_strings_can_be_null=True),
        )
    except (pa.ArrowInvalid, pa.ArrowKeyError, pa.ArrowNotImplementedError):
        return None
    columns = {}
    # Which columns have a value starting with a blank: arrow kernels, on two threads for a large file.
    padded = run_all({name_: (lambda column=column: pc.any(pc.starts_with(column, " ")).as_py())
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
        # whole file is never decoded into one Python string (several times the file's size).
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


MAX_FEATURES = 50_000  # a city's boundaries, down to census blocks


MAX_EXPANSION = 100  # declared size / compressed size of one archive member; zip bombs are far above it


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
        upload.digest = background().submit(file_hash, data)
        return upload
    return _read_upload(data, name, file_hash(data), max_mb, limit)


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

