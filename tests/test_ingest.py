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
