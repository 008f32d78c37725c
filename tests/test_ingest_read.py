"""ingest.read: every format read, limits checked before expanding, fast paths equal to pandas."""

from __future__ import annotations

import gzip
import io as _io
import zipfile as _zipfile

import numpy as _np
import pandas as pd
import pytest

from dashboard import ingest
from dashboard.errors import IngestError
from dashboard.ingest import read
from tests.ingest_support import GOOD, chicago_csv, prepare


def test_bom_latin1_semicolon_and_gzip_are_read():
    text = "ID;Date;Primary Type;Block\n7;2016-05-01 10:00:00;THEFT;Caf\xe9 row\n"
    for data in (b"\xef\xbb\xbf" + text.encode("utf-8"), text.encode("latin-1"), gzip.compress(text.encode())):
        frame = prepare(data).frame
        assert frame["incident_id"].tolist() == ["7"]
        assert frame["block"].iloc[0] == "Caf\xe9 row"



def test_long_files_read_from_bytes_match_the_decoded_path():
    """Past the first 64 KiB: UTF-8 bytes go to pyarrow undecoded; a Latin-1 byte far down the file
    (plain ASCII before it) still falls back to decoding the whole file as Latin-1."""
    rows = "".join(f"{i};2016-05-01 10:00:00;THEFT;{i} N STATE ST\n" for i in range(4000))
    for tail, encoding in (("Caf\u00e9 \u6771\u4eac row", "utf-8"), ("Caf\xe9 row", "latin-1")):
        text = "ID;Date;Primary Type;Block\n" + rows + f"9999;2016-05-02 10:00:00;THEFT;{tail}\n"
        data = text.encode(encoding)
        assert len(data) > 100_000
        frame = ingest.read_table(data, "x.csv")
        assert len(frame) == 4001 and frame["Block"].iloc[-1] == tail and frame["ID"].iloc[0] == "0"



_UPLOAD = ("ID,Date,Primary Type,Latitude,Longitude\n"
           "1,2016-05-01 10:00:00,THEFT,41.86,-87.72\n2,2016-05-02 11:30:00,BATTERY,41.87,-87.70\n")



def _xlsx(text: str) -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    for line in text.strip().splitlines():
        book.active.append(line.split(","))
    buf = _io.BytesIO()
    book.save(buf)
    return buf.getvalue()



def _zip(name: str, data: bytes) -> bytes:
    buf = _io.BytesIO()
    with _zipfile.ZipFile(buf, "w", _zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buf.getvalue()



@pytest.mark.parametrize(
    ("name", "data", "fmt"),
    [
        ("x.csv", _UPLOAD.encode(), "csv"),
        ("x.tsv", _UPLOAD.replace(",", "\t").encode(), "csv"),
        ("x.txt", _UPLOAD.replace(",", "|").encode("latin-1"), "csv"),
        ("x.csv", b"\xef\xbb\xbf" + _UPLOAD.encode(), "csv"),
        ("x.csv", _UPLOAD.encode("utf-16"), "csv"),  # Excel's "Unicode text"
        ("x.csv.gz", gzip.compress(_UPLOAD.encode()), "csv"),
        ("x.zip", _zip("export.csv", _UPLOAD.encode()), "csv"),
        ("x.xlsx", _xlsx(_UPLOAD), "excel"),
        ("x.parquet", pd.read_csv(_io.StringIO(_UPLOAD), dtype=str).to_parquet(), "parquet"),
        ("x.json", pd.read_csv(_io.StringIO(_UPLOAD), dtype=str).to_json(orient="records").encode(), "json"),
    ],
    ids=["csv", "tsv", "pipe-latin1", "bom", "utf16", "gzip", "zip", "xlsx", "parquet", "json"],
)
def test_read_upload_takes_every_format(name, data, fmt):
    upload = ingest.read_upload(data, name)
    assert upload.format == fmt and upload.digest == ingest.file_hash(data)
    plan = ingest.Plan(columns={"incident_id": "ID", "occurred_at": "Date", "offense": "Primary Type",
                                "latitude": "Latitude", "longitude": "Longitude"})
    frame = ingest.prepare_mapped(upload, plan).frame
    assert frame["incident_id"].tolist() == ["1", "2"]
    assert frame["occurred_at"].tolist() == [pd.Timestamp("2016-05-01 10:00"), pd.Timestamp("2016-05-02 11:30")]
    assert frame["latitude"].tolist() == [41.86, 41.87]



def test_read_upload_refuses_before_expanding():
    with pytest.raises(IngestError, match="too large"):
        ingest.read_upload(b"x" * 2000, "big.csv", max_mb=0.001)
    bomb = gzip.compress(b"a" * 3_000_000)
    with pytest.raises(IngestError, match="too large") as info:
        ingest.read_upload(bomb, "bomb.csv.gz", max_mb=1)
    assert "expands to more than" in info.value.message



def test_fast_paths_equal_the_plain_pandas_ones():
    rng = _np.random.default_rng(0)
    n = 20_000
    beats = pd.Series(rng.choice(["0111", "111", " 1011", "", None, "B2"], n), dtype="str")
    fast = ingest.canonical_area_id(beats, "beat")
    small = pd.concat([ingest.canonical_area_id(beats.iloc[i:i + 500], "beat") for i in range(0, n, 500)])
    pd.testing.assert_series_equal(fast, small)  # chunks under 1,000 rows take the direct path
    bools = pd.Series(rng.choice(["true", "FALSE", "y", "", None, "maybe"], n), dtype="str")
    small_b = pd.concat([ingest.parse_bool(bools.iloc[i:i + 500]) for i in range(0, n, 500)])
    pd.testing.assert_series_equal(ingest.parse_bool(bools), small_b)
    stamps = pd.Series(pd.date_range("2016-01-01", periods=n, freq="37min").strftime("%m/%d/%Y %I:%M:%S %p"),
                       dtype="str")
    stamps.iloc[::97] = "02/30/2016 10:00:00 AM"
    stamps.iloc[1::89] = None
    fast_dates = ingest.parse_datetimes(stamps, "%m/%d/%Y %I:%M:%S %p")  # DuckDB strptime (>= 10k rows)
    slow_dates = pd.to_datetime(stamps, format="%m/%d/%Y %I:%M:%S %p", errors="coerce").astype("datetime64[us]")
    pd.testing.assert_series_equal(fast_dates, slow_dates)
    text = "a,b\n" + "\n".join(f"{i}, x{i % 7}" for i in range(n)) + "\n"
    pd.testing.assert_frame_equal(read._read_csv_fast(text, ","), pd.read_csv(
        _io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""], skipinitialspace=True))



def test_large_upload_is_hashed_beside_the_parse():
    """Files over 5 MB are hashed on a second core after they are parsed; the digest, and the file hash
    in the validation report, are the SHA-256 of the bytes as uploaded (gzip included)."""
    import hashlib

    rows = [GOOD.replace("1,HZ1", f"{i},HZ{i}", 1) for i in range(1, 45_001)]
    data = chicago_csv(*rows)
    assert len(data) > 5_000_000
    for payload, name in ((data, "big.csv"), (gzip.compress(data), "big.csv.gz")):
        upload = ingest.read_upload(payload, name, max_mb=100)
        assert len(upload.frame) == 45_000
        plan = ingest.Plan(kind="incidents", columns=ingest.suggest_mapping(upload.frame.columns, "incidents"))
        report = ingest.prepare_mapped(upload, plan).report
        assert upload.digest == report.file_hash == hashlib.sha256(payload).hexdigest()
