"""ingest: reading, header mapping, parsing and the rejection report, on small hand-made inputs."""

from __future__ import annotations

import gzip

import pandas as pd
import pytest

from dashboard import ingest
from dashboard.errors import IngestError, ValidationError

CHICAGO_HEADER = ("ID,Case Number,Date,Block,IUCR,Primary Type,Description,Location Description,Arrest,"
                  "Domestic,Beat,District,Ward,Community Area,FBI Code,Latitude,Longitude")


def chicago_csv(*rows: str) -> bytes:
    return ("\n".join([CHICAGO_HEADER, *rows]) + "\n").encode()


GOOD = "1,HZ1,01/01/2016 12:01:00 AM,014XX S AVERS AVE,1310,CRIMINAL DAMAGE,TO PROPERTY,APARTMENT,false,false,1011,010,24,29,14,41.86,-87.72"


def prepare(data: bytes, name: str = "x.csv"):
    return ingest.prepare_file(name, "incidents", data=data)


def test_chicago_export_maps_and_parses():
    out = prepare(chicago_csv(GOOD, GOOD.replace("1,HZ1", "2,HZ2").replace("12:01:00 AM", "01:30:00 PM")))
    frame = out.frame
    assert list(frame["incident_id"]) == ["1", "2"]
    assert frame["occurred_at"].iloc[1] == pd.Timestamp("2016-01-01 13:30")
    assert frame["beat_id"].iloc[0] == "1011"  # zero-padding kept at 4 digits
    assert frame["district_id"].iloc[0] == "10"  # '010' -> '10'
    assert frame["community_area_id"].iloc[0] == "29"
    assert frame["offense_group"].iloc[0] == "property"
    assert not frame["arrest"].iloc[0]
    assert out.report.rows_rejected == 0
    assert out.report.mapping["occurred_at"] == "Date"


def test_every_rejected_row_is_named_with_its_reason():
    rows = [
        GOOD,
        GOOD.replace("1,HZ1", ",HZ9"),                               # missing id
        GOOD.replace("1,HZ1", "3,HZ3").replace("01/01/2016", "13/45/2016"),  # bad date
        GOOD.replace("1,HZ1", "4,HZ4").replace("CRIMINAL DAMAGE", ""),       # missing offense
        GOOD.replace("1,HZ1", "5,HZ5").replace("01/01/2016", "01/01/1850"),  # impossible date
    ]
    out = prepare(chicago_csv(*rows))
    assert out.report.rows_in == 5 and out.report.rows_kept == 1
    reasons = dict(zip(out.report.rejected["row"], out.report.rejected["reason"], strict=True))
    assert reasons == {2: "missing incident id", 3: "unparseable date", 4: "missing offense",
                       5: "impossible date"}
    assert out.report.to_dict()["rejected_by_reason"]["unparseable date"] == 1


def test_duplicate_ids_keep_the_later_row():
    later = GOOD.replace("CRIMINAL DAMAGE", "BATTERY")
    out = prepare(chicago_csv(GOOD, later))
    assert out.frame["offense"].tolist() == ["BATTERY"]
    assert out.report.rejected["reason"].str.startswith("duplicate incident id").all()


def test_placeholder_and_impossible_coordinates_become_missing():
    zero = GOOD.replace("1,HZ1", "2,HZ2").replace("41.86,-87.72", "0,0")
    minus = GOOD.replace("1,HZ1", "3,HZ3").replace("41.86,-87.72", "-1,-1")
    wild = GOOD.replace("1,HZ1", "4,HZ4").replace("41.86,-87.72", "141.86,-87.72")
    out = prepare(chicago_csv(GOOD, zero, minus, wild))
    assert out.frame["latitude"].notna().tolist() == [True, False, False, False]
    assert out.report.rows_kept == 4  # the incident counts; only its point is dropped
    assert out.report.fixes["coordinates 0 or -1 treated as missing"] == 2


def test_unknown_offense_goes_to_other_and_is_listed():
    out = prepare(chicago_csv(GOOD.replace("CRIMINAL DAMAGE", "JAYWALKING")))
    assert out.frame["offense_group"].iloc[0] == "other"
    assert out.report.unmapped_offenses == {"JAYWALKING": 1}


def test_all_rows_invalid_raises_with_details():
    with pytest.raises(ValidationError) as info:
        prepare(chicago_csv(GOOD.replace("01/01/2016", "yesterday")))
    assert "unparseable date" in info.value.message
    assert len(info.value.details) == 1


@pytest.mark.parametrize(
    ("data", "title"),
    [
        (b"", "File is empty"),
        (CHICAGO_HEADER.encode() + b"\n", "File has a header but no rows"),
        (b"\x00\x01\x02binary\x00" * 10, "Not a text file"),
        (gzip.compress(chicago_csv(GOOD))[:40], "Compressed file is damaged"),
        (b"a,b\n1,2\n", "Required incidents columns not found"),
    ],
)
def test_bad_files_get_a_clear_error(data, title):
    with pytest.raises(IngestError) as info:
        prepare(data)
    assert info.value.title == title
    assert info.value.hint


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


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        # Los Angeles (LAPD), trailing space in 'AREA '
        (["DR_NO", "Date Rptd", "DATE OCC", "TIME OCC", "AREA ", "AREA NAME", "Crm Cd", "Crm Cd Desc", "LAT", "LON"],
         {"incident_id": "DR_NO", "occurred_at": "DATE OCC", "offense": "Crm Cd Desc", "latitude": "LAT",
          "longitude": "LON", "offense_code": "Crm Cd", "district_id": "AREA "}),
        # New York (NYPD complaints)
        (["CMPLNT_NUM", "CMPLNT_FR_DT", "CMPLNT_FR_TM", "OFNS_DESC", "PD_DESC", "Latitude", "Longitude"],
         {"incident_id": "CMPLNT_NUM", "occurred_at": "CMPLNT_FR_DT", "offense": "OFNS_DESC",
          "offense_detail": "PD_DESC"}),
        # Boston
        (["INCIDENT_NUMBER", "OFFENSE_CODE", "OFFENSE_CODE_GROUP", "OCCURRED_ON_DATE", "DISTRICT", "Lat", "Long"],
         {"incident_id": "INCIDENT_NUMBER", "occurred_at": "OCCURRED_ON_DATE", "offense": "OFFENSE_CODE_GROUP",
          "latitude": "Lat", "longitude": "Long", "district_id": "DISTRICT"}),
    ],
)
def test_header_synonyms_from_other_cities(header, expected):
    mapping = ingest.suggest_mapping(header, "incidents")
    assert {k: mapping.get(k) for k in expected} == expected


def test_date_format_detection():
    assert ingest.detect_date_format(pd.Series(["05/31/2019 11:55:00 PM"])) == "%m/%d/%Y %I:%M:%S %p"
    assert ingest.detect_date_format(pd.Series(["2019-05-31T23:55:00"])) == "%Y-%m-%dT%H:%M:%S"
    assert ingest.detect_date_format(pd.Series(["not a date"])) is None


def test_canonical_area_ids():
    values = pd.Series(["006", "0611", "611", " 31 ", "", None, "B2", "0"])
    assert ingest.canonical_area_id(values, "district").tolist()[:4] == ["6", "611", "611", "31"]
    beats = ingest.canonical_area_id(values, "beat")
    assert beats.tolist()[:3] == ["0006", "0611", "0611"]
    assert beats.isna().tolist()[4:6] == [True, True]
    assert beats.iloc[6] == "B2" and beats.iloc[7] == "0000"


@pytest.mark.parametrize(
    ("title", "beats"),
    [
        ("835 Beat Meeting", ["0835"]),
        ("813/833 Beat Meeting", ["0813", "0833"]),
        ("Beat Meeting: 1112/21", ["1112", "1121"]),
        ("Beat Meeting:1113/14/15", ["1113", "1114", "1115"]),
        ("Beat 1934 & 1935", ["1934", "1935"]),
        ("Bt. 932,934,935 Community Meeting", ["0932", "0934", "0935"]),
        ("BT 131/132  Residential ", ["0131", "0132"]),
        ("1233 Community Meeting", ["1233"]),
        ("100 Blocks / 100 Churches", []),  # not a beat: not in the known list
        ("Movie in the Park 574 Ghostbuster", []),  # a number mid-title without 'beat'
        ("DAC Meeting", []),
    ],
)
def test_beats_parsed_from_caps_titles(title, beats):
    known = {"0835", "0813", "0833", "1112", "1121", "1113", "1114", "1115", "1934", "1935", "0932", "0934",
             "0935", "0131", "0132", "1233", "0574"}
    assert ingest.beats_in_title(title, known) == beats


@pytest.mark.parametrize(
    ("title", "event_type"),
    [("2514 Beat Meeting", "beat_meeting"), ("DAC Meeting", "district_advisory"),
     ("Domestic Violence Subcommittee", "domestic_violence"), ("Peer  Jury", "peer_jury"),
     ("Senior Bingo", "senior"), ("YOUTH LAW EXPLORERS", "youth"), ("100 Blocks / 100 Churches", "faith_based"),
     ("National Night Out -- 8th District", "community_event"), ("Bike Ambassadors", "community_event")],
)
def test_event_titles_are_classified(title, event_type):
    assert ingest.classify_title(title) == event_type


def caps_event(title, cal=8, start="2017-03-01T18:30:00", location="Church, 123 W St"):
    return {"calendarId": cal, "start": start, "end": None, "title": title, "location": location,
            "eventDetails": "", "eventUrl": None, "contactDetails": "", "modifiedDate": ""}


def test_caps_events_become_outreach_rows():
    events = [caps_event("813/833 Beat Meeting"), caps_event("DAC Meeting"),
              caps_event("Test Christmas Celebration", location="Test"), caps_event("DAC Meeting")]
    out = ingest.caps_events_to_outreach(events, known_beats={"0813", "0833"}, source_name="e.json", digest="x")
    frame = out.frame
    assert len(frame) == 3  # two beats for the first event + the district-level DAC meeting
    first = frame[frame["title"] == "813/833 Beat Meeting"]
    assert first["beat_id"].tolist() == ["0813", "0833"] and first["event_id"].nunique() == 1
    dac = frame[frame["event_type"] == "district_advisory"].iloc[0]
    assert dac["place_level"] == "district" and dac["district_id"] == "8" and pd.isna(dac["beat_id"])
    assert out.report.reason_counts() == {"test entry (title or location says 'test')": 1,
                                          "duplicate calendar entry": 1}
    assert frame["attendees"].isna().all()  # a schedule, not attendance


def test_population_file():
    data = b"community_area_id,community_area_name,population_2020\n01,Rogers Park,\"55,628\"\n02,West Ridge,x\n"
    out = ingest.prepare_file("pop.csv", "population", data=data, level="community_area")
    assert out.frame[["area_id", "year", "population"]].values.tolist() == [["1", 2020, 55628]]
    assert out.report.reason_counts() == {"population missing or negative": 1}


# ------------------------------------------------------------------ uploads: formats, fast paths, plans
import io as _io  # noqa: E402
import zipfile as _zipfile  # noqa: E402

import numpy as _np  # noqa: E402

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
    pd.testing.assert_frame_equal(ingest._read_csv_fast(text, ","), pd.read_csv(
        _io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""], skipinitialspace=True))


def _plan(**kw) -> ingest.Plan:
    return ingest.Plan(columns={"incident_id": "id", "occurred_at": "when", "offense": "what", **kw.pop("cols", {})},
                       **kw)


def test_split_date_time_and_year_month_day_columns():
    raw = pd.DataFrame({"id": ["1", "2", "3"], "when": ["01/01/2010 12:00:00 AM"] * 3, "time": ["0845", "2359", "9:75"],
                        "what": ["THEFT"] * 3}, dtype="str")
    out = ingest.prepare_mapped(raw, _plan(cols={"occurred_time": "time"}), source_name="lapd.csv")
    assert out.frame["occurred_at"].tolist() == [pd.Timestamp("2010-01-01 08:45"), pd.Timestamp("2010-01-01 23:59")]
    assert out.report.reason_counts() == {"unparseable time (expected HHMM like 0845 or HH:MM)": 1}
    parts = pd.DataFrame({"id": ["1"], "y": ["2019"], "m": ["7"], "d": ["4"], "h": ["21"], "what": ["THEFT"]},
                         dtype="str")
    plan = ingest.Plan(columns={"incident_id": "id", "year": "y", "month": "m", "day": "d", "hour": "h",
                                "offense": "what"})
    assert ingest.prepare_mapped(parts, plan).frame["occurred_at"].iloc[0] == pd.Timestamp("2019-07-04 21:00")


def test_utc_offsets_and_utc_sources_become_local_time():
    raw = pd.DataFrame({"id": ["1", "2"], "when": ["2019-07-04T02:00:00Z", "2019-01-15T18:30:00-05:00"],
                        "what": ["THEFT", "THEFT"]}, dtype="str")
    with pytest.raises(IngestError, match="Time zone needed"):
        ingest.prepare_mapped(raw, _plan())
    out = ingest.prepare_mapped(raw, _plan(timezone="America/Chicago")).frame
    assert out["occurred_at"].tolist() == [pd.Timestamp("2019-07-03 21:00"), pd.Timestamp("2019-01-15 17:30")]
    naive = raw.assign(when=["2019-07-04 02:00:00", "2019-01-15 23:30:00"])
    out = ingest.prepare_mapped(naive, _plan(timezone="America/Chicago", source_timezone="UTC")).frame
    assert out["occurred_at"].tolist() == [pd.Timestamp("2019-07-03 21:00"), pd.Timestamp("2019-01-15 17:30")]
    with pytest.raises(IngestError, match="Unknown time zone"):
        ingest.prepare_mapped(naive, _plan(timezone="Mars/Olympus", source_timezone="UTC"))


def test_coordinates_from_location_projected_and_swapped_columns():
    base = {"id": ["1", "2"], "when": ["2016-05-01 10:00:00"] * 2, "what": ["THEFT"] * 2}
    loc = pd.DataFrame({**base, "loc": ["(41.86, -87.72)", "(0.0, 0.0)"]}, dtype="str")
    out = ingest.prepare_mapped(loc, _plan(cols={"location": "loc"})).frame
    assert out["latitude"].iloc[0] == 41.86 and pd.isna(out["latitude"].iloc[1])
    xy = pd.DataFrame({**base, "x": ["1150444", "0"], "y": ["1898123", "0"]}, dtype="str")
    out = ingest.prepare_mapped(xy, _plan(cols={"x": "x", "y": "y"}, crs="EPSG:3435")).frame
    from pyproj import Transformer

    lon, lat = Transformer.from_crs("EPSG:3435", "EPSG:4326", always_xy=True).transform(1150444, 1898123)
    assert out["latitude"].iloc[0] == pytest.approx(lat, abs=1e-9) and 41.6 < lat < 42.1
    assert out["longitude"].iloc[0] == pytest.approx(lon, abs=1e-9) and pd.isna(out["latitude"].iloc[1])
    swapped = pd.DataFrame({**base, "lat": ["-87.72", "-87.70"], "lon": ["41.86", "41.87"]}, dtype="str")
    bounds = {"beat": None}
    out = ingest.prepare_mapped(swapped, _plan(cols={"latitude": "lat", "longitude": "lon"}, swap_latlon=True),
                                areas=bounds).frame
    assert out["latitude"].tolist() == [41.86, 41.87]
    with pytest.raises(IngestError, match="Unknown coordinate system"):
        ingest.prepare_mapped(xy, _plan(cols={"x": "x", "y": "y"}, crs="EPSG:999999"))


def test_areas_from_points_names_and_outside(sample_store):
    from dashboard import geo

    areas = {lv: geo.from_store(sample_store.areas(lv)) for lv in sample_store.levels()}
    raw = pd.DataFrame({
        "id": ["1", "2", "3", "4"], "when": ["2016-05-01 10:00:00"] * 4, "what": ["THEFT"] * 4,
        "lat": ["41.8617", "41.8617", "40.7128", ""], "lon": ["-87.7214", "-87.7214", "-74.0060", ""],
        "hood": ["", "north lawndale", "", "Rogers Park"]}, dtype="str")
    plan = _plan(cols={"latitude": "lat", "longitude": "lon", "community_area_id": "hood"})
    out = ingest.prepare_mapped(raw, plan, areas=areas)
    frame = out.frame.set_index("incident_id")
    assert frame.loc["1", ["community_area_id", "district_id", "beat_id"]].tolist() == ["29", "10", "1011"]
    assert frame.loc["2", "community_area_id"] == "29"  # by name, case and spacing ignored
    assert frame.loc["4", "community_area_id"] == "1" and pd.isna(frame.loc["4", "beat_id"])  # no point
    assert out.report.reason_counts() == {
        "outside every boundary (check the coordinates and their coordinate system)": 1}
    assert out.report.rejected["lat"].tolist() == ["40.7128"]  # the file's own columns, not derived ones
    off = ingest.prepare_mapped(raw, _plan(cols={"latitude": "lat", "longitude": "lon"}, assign_areas="off"),
                                areas=areas)
    assert off.frame["community_area_id"].isna().all() and off.report.rows_rejected == 0


def test_unknown_offenses_can_be_rejected_or_grouped_by_the_profile():
    raw = pd.DataFrame({"id": ["1", "2"], "when": ["2016-05-01 10:00:00"] * 2, "what": ["THEFT", "LOUD MUSIC"]},
                       dtype="str")
    assert ingest.prepare_mapped(raw, _plan()).report.unmapped_offenses == {"LOUD MUSIC": 1}
    rejected = ingest.prepare_mapped(raw, _plan(unknown_offense="reject")).report
    assert rejected.reason_counts() == {"unknown offense category (not in the offense table)": 1}
    grouped = ingest.prepare_mapped(raw, _plan(offense_groups={"loud music": "public_order"}))
    assert grouped.frame["offense_group"].tolist() == ["property", "public_order"]


def test_commit_prepared_records_provenance_and_replaces_one_area_level(store, sample_store):
    import geopandas as gpd
    from shapely.geometry import box

    from dashboard import sample
    from dashboard.store import Provenance

    store.commit("areas", sample.read_sample(REPO / "data" / "sample", "areas"), Provenance("sample"))
    gdf = gpd.GeoDataFrame({"beat_num": ["9001", "9002"]}, geometry=[box(-87.7, 41.8, -87.6, 41.9),
                                                                     box(-87.6, 41.8, -87.5, 41.9)], crs="EPSG:4326")
    upload = ingest.read_upload(gdf.to_json().encode(), "new_beats.geojson")
    plan = ingest.Plan(kind="areas", columns={"area_id": "beat_num"}, level="beat")
    version = ingest.commit_prepared(store, ingest.prepare_mapped(upload, plan), mode="replace", author="ana",
                                     level="beat")
    assert store.areas("beat")["area_id"].tolist() == ["9001", "9002"]
    assert len(store.areas("community_area")) == 77 and len(store.areas("district")) == 23
    row = store.versions("areas").iloc[0]
    assert (row["version"], row["author"], row["source"], row["rows_kept"]) == (version, "ana", "new_beats.geojson", 2)


from tests.conftest import REPO, SHARED_CHICAGO  # noqa: E402


def test_duplicated_ids_agree_with_pandas_on_digits_padding_and_text():
    base = [str(i) for i in range(12_000)]
    cases = [
        base + ["5", "11999", "0"],  # all plain digits: compared as integers
        base + ["007", "7", "0"],  # leading zeros: '007' is not '7'
        base + ["12a", "12a", " 5"],  # text
        base + [None, None, "5"],  # missing values
        base + ["+5", "5", "-0"],  # signs
        base + ["99999999999999999999", "5"],  # beyond 64-bit integers
    ]
    for values in cases:
        ids = pd.Series(values, dtype="string")
        for keep in ("last", "first", False):
            got = ingest.duplicated_ids(ids, keep=keep)
            assert got.tolist() == ids.duplicated(keep=keep).tolist()
    assert ingest.duplicated_ids(pd.Series(cases[1], dtype="string"), keep=False).sum() == 4  # 7 and 0, not 007


def _messy_chicago(rows: int) -> pd.DataFrame:
    """Real Chicago rows (raw export layout) with faults planted in every part of the file."""
    raw = pd.read_csv(SHARED_CHICAGO / "chicago_crimes_2017.csv.gz", dtype="str", keep_default_na=False,
                      na_values=[""], nrows=rows)
    n = len(raw)
    raw.loc[5, "Date"] = "02/30/2017 10:00:00 AM"  # impossible date
    raw.loc[n - 7, "Date"] = "not a date"
    raw.loc[[9, n // 2 + 3], "ID"] = None  # missing id, one in each part
    raw.loc[n - 1, "ID"] = raw.loc[3, "ID"]  # repeated across parts: the first-part row is the one rejected
    raw.loc[n // 2 - 1, "ID"] = raw.loc[n // 2 + 1, "ID"]  # repeated across the boundary
    raw.loc[[11, n - 11], "Primary Type"] = ["LOUD MUSIC", "LOUD MUSIC"]  # unmapped, counted once over parts
    raw.loc[[12, n - 12], "Block"] = ["=HYPERLINK(\"http://x\")", "<script>alert(1)</script>"]
    raw.loc[[13, n - 13], "Latitude"] = ["0", "91"]  # placeholder; out of range
    raw.loc[[14, n - 14], ["Latitude", "Longitude"]] = [["40.7128", "-74.0060"], ["40.7128", "-74.0060"]]  # NYC
    raw.loc[[15, n - 15], "Community Area"] = [" 08", "North Lawndale"]  # padding; a name
    raw.loc[[16, n - 16], "Community Area"] = ["Atlantis", None]  # unknown area
    raw.loc[[17, n - 17], "Beat"] = [None, None]  # found by point-in-polygon
    raw.loc[18, "Arrest"] = "maybe"
    return raw


def test_real_export_with_faults_planted_throughout(sample_store):
    """A real Chicago export with faults at its start, middle and end: each row is kept, fixed or
    rejected for its own reason, and the counts add up."""
    from dashboard import geo, mapping

    areas = {lv: geo.from_store(sample_store.areas(lv)) for lv in sample_store.levels()}
    raw = _messy_chicago(3_000)
    plan = mapping.suggest(raw, kind="incidents", areas=areas).plan
    out = ingest.prepare_mapped(raw, plan, areas=areas, now=pd.Timestamp("2026-01-01"))
    report = out.report
    assert report.reason_counts() == {ingest.DUPLICATE_ID: 2, "missing incident id": 2, "unparseable date": 2}
    # data rows (1-based): 4 and 1,500 repeat a later id; 6 and 2,994 bad dates; 10 and 1,504 no id
    assert report.rejected["row"].tolist() == [4, 6, 10, 1_500, 1_504, 2_994]
    assert report.rows_kept + report.rows_rejected == report.rows_in == 3_000
    assert report.unmapped_offenses == {"LOUD MUSIC": 2}
    assert "block formulas: 1 values; block HTML/script: 1 values" in report.warnings[0]
    assert report.fixes == {
        "community_area_id values not in the community_area boundaries, cleared": 1,  # Atlantis
        "community_area_id found by point-in-polygon": 2, "beat_id found by point-in-polygon": 2,
        "coordinates 0 or -1 treated as missing": 1, "coordinates out of range removed": 1}
    kept = out.frame.set_index("incident_id")
    area = kept["community_area_id"]
    assert area[raw.loc[15, "ID"]] == "8" and area[raw.loc[3_000 - 15, "ID"]] == "29"  # ' 08'; by its name
    assert area[raw.loc[16, "ID"]] == "43"  # 'Atlantis' cleared, then found from the point
    assert kept.loc[raw.loc[3, "ID"], "offense"] == raw.loc[2_999, "Primary Type"]  # the later row won
    assert pd.isna(kept.loc[raw.loc[13, "ID"], "latitude"]) and pd.isna(kept.loc[raw.loc[18, "ID"], "arrest"])


def _same_result(a, b) -> None:
    pd.testing.assert_frame_equal(a.frame, b.frame, check_dtype=True)
    pd.testing.assert_frame_equal(a.report.rejected, b.report.rejected)
    assert list(a.report.fixes.items()) == list(b.report.fixes.items())
    assert a.report.warnings == b.report.warnings
    assert a.report.unmapped_offenses == b.report.unmapped_offenses
    assert a.report.mapping == b.report.mapping


def test_two_threads_give_exactly_the_one_thread_result(sample_store, monkeypatch):
    """A large file's column work runs on two threads: the frame, every rejected row and its reason,
    the fixes (in order), warnings and unmapped offenses are exactly those of one thread."""
    from dashboard import geo, mapping

    areas = {lv: geo.from_store(sample_store.areas(lv)) for lv in sample_store.levels()}
    raw = _messy_chicago(20_000)
    raw.loc[[30, 40, 19_000], "Primary Type"] = ["NOISE", "NOISE", "noise "]  # one more unmapped, 3 rows
    plan = mapping.suggest(raw, kind="incidents", areas=areas).plan
    results = {}
    for threads, rows in (("one", 10**12), ("two", 1_000)):
        monkeypatch.setattr(ingest, "PARALLEL_ROWS", rows)
        results[threads] = ingest.prepare_mapped(raw, plan, areas=areas, now=pd.Timestamp("2026-01-01"))
    _same_result(results["one"], results["two"])
    report = results["two"].report
    assert report.unmapped_offenses == {"NOISE": 3, "LOUD MUSIC": 2}
    assert report.reason_counts() == {ingest.DUPLICATE_ID: 2, "missing incident id": 2, "unparseable date": 2}


def test_work_on_distinct_values_equals_work_on_every_value():
    """_by_value works on each distinct value once and spreads the results back; for text of either
    pandas kind, and object columns, with missing and blank values, that equals working row by row."""
    import numpy as np

    rng = np.random.default_rng(7)
    pools = {
        "flags": ["true", "False", " yes", "0", "", None, "maybe", "N"],
        "beats": ["006", "6", "0611", None, " 12", "abc", "", "1011"],
        "offenses": ["THEFT", "battery ", "LOUD MUSIC", None, "", "Narcotics"],
    }
    functions = {
        "flags": lambda v: ingest.parse_bool(v) if len(v) < 1000 else None,
        "beats": lambda v: ingest.canonical_area_id(v, "beat") if len(v) < 1000 else None,
        "offenses": lambda v: v.astype("string").str.strip().str.upper() if len(v) < 1000 else None,
    }
    for kind, pool in pools.items():
        for dtype in ("str", "string", "object"):
            values = pd.Series(rng.choice(np.array(pool, dtype=object), 5_000), dtype=dtype)
            spread = ingest._by_value(values, functions[kind])  # the function itself refuses long columns
            whole = pd.concat([functions[kind](values.iloc[i:i + 500]) for i in range(0, len(values), 500)])
            pd.testing.assert_series_equal(spread, whole, check_names=False)


def test_replacing_values_touches_only_their_chunks():
    """Point-in-polygon results replace a few values of a million-row column: untouched chunks are kept
    as they are, a few values are spliced in between zero-copy slices, many go through one mask."""
    import numpy as np
    import pyarrow as pa

    chunks = [pa.array([f"a{i}", None, f"c{i}"], type=pa.large_string()) for i in range(4)]
    values = pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array(chunks)))
    out = ingest._replace_at(values, np.asarray([10, 1, 3]), np.asarray(["x", None, "y"], dtype=object))
    expected = ["a0", None, "c0", "y", None, "c1", "a2", None, "c2", "a3", "x", "c3"]
    assert [None if pd.isna(v) else v for v in out] == expected
    assert any(piece.equals(chunks[2]) for piece in out.array._pa_array.chunks)  # untouched chunk kept
    assert ingest._replace_at(values, np.asarray([], dtype=int), np.asarray([], dtype=object)) is values

    many = pd.Series([f"v{i}" for i in range(1_000)], dtype="string")
    positions = np.arange(0, 1_000, 7)  # 143 values: the mask path
    got = ingest._replace_at(many, positions[::-1], np.asarray([f"r{p}" for p in positions[::-1]], dtype=object))
    assert got.tolist() == [f"r{i}" if i % 7 == 0 else f"v{i}" for i in range(1_000)]


def test_repeated_ids_found_in_any_order():
    """The sorted pass that rules out repeats must not hide one, whatever the order of the ids."""
    import numpy as np

    rng = np.random.default_rng(3)
    ordered = [str(i) for i in range(20_000)]
    for values in (ordered, ordered[::-1], list(rng.permutation(ordered))):
        ids = pd.Series(values, dtype="str")
        assert not ingest.duplicated_ids(ids).any()
        repeated = pd.Series([*values[:-1], values[5]], dtype="str")
        for keep in ("last", "first", False):
            assert ingest.duplicated_ids(repeated, keep=keep).tolist() == repeated.duplicated(keep=keep).tolist()


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


def test_date_formats_of_short_and_long_columns_agree():
    """Short columns (a mapping sample) are checked in plain Python, long ones with pandas: same answers."""
    columns = {
        "chicago": ["01/05/2016 11:00:00 PM", "12/31/2017 01:02:03 AM"],
        "iso": ["2019-01-01T08:00:00", "2019-12-31T23:59:59"],
        "padded": [" 2019-01-01 ", "2019-02-03  "],
        "day first": ["31/12/2019", "13/01/2019"],
        "ids": ["1234567", "7654321"],
        "names": ["THEFT", "BATTERY"],
        "blanks": ["", "01/05/2016"],
    }
    for name, values in columns.items():
        short = pd.Series(values * 600 + [None, ""] * 100, dtype="str")[:1_900]
        long = pd.concat([short, short], ignore_index=True)
        assert ingest.detect_date_format(short) == ingest.detect_date_format(long), name
    assert ingest.detect_date_format(pd.Series(columns["chicago"] * 10)) == "%m/%d/%Y %I:%M:%S %p"
    assert ingest.detect_date_format(pd.Series(columns["names"] * 10)) is None
