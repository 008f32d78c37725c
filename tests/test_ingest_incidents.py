"""ingest.incidents: the incident rules over derived columns, through the upload path."""

from __future__ import annotations

import pandas as pd
import pytest

from dashboard import ingest
from dashboard.errors import ValidationError
from dashboard.ingest import kernels
from tests.conftest import SHARED_CHICAGO
from tests.ingest_support import GOOD, chicago_csv, incident_plan, prepare


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



def test_unknown_offenses_can_be_rejected_or_grouped_by_the_profile():
    raw = pd.DataFrame({"id": ["1", "2"], "when": ["2016-05-01 10:00:00"] * 2, "what": ["THEFT", "LOUD MUSIC"]},
                       dtype="str")
    assert ingest.prepare_mapped(raw, incident_plan()).report.unmapped_offenses == {"LOUD MUSIC": 1}
    rejected = ingest.prepare_mapped(raw, incident_plan(unknown_offense="reject")).report
    assert rejected.reason_counts() == {"unknown offense category (not in the offense table)": 1}
    grouped = ingest.prepare_mapped(raw, incident_plan(offense_groups={"loud music": "public_order"}))
    assert grouped.frame["offense_group"].tolist() == ["property", "public_order"]



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
        monkeypatch.setattr(kernels, "PARALLEL_ROWS", rows)
        results[threads] = ingest.prepare_mapped(raw, plan, areas=areas, now=pd.Timestamp("2026-01-01"))
    _same_result(results["one"], results["two"])
    report = results["two"].report
    assert report.unmapped_offenses == {"NOISE": 3, "LOUD MUSIC": 2}
    assert report.reason_counts() == {ingest.DUPLICATE_ID: 2, "missing incident id": 2, "unparseable date": 2}
