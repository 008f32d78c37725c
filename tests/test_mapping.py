"""mapping: kind detection, column suggestions with confidence (headers *and* values) on the published
layouts of several cities, coordinate and date findings, offense and area tables, profiles; and the
'done' check: real Chicago rows in LAPD and Boston layouts give the right counts per area."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest

from dashboard import geo, ingest, mapping, sample
from dashboard.errors import IngestError
from tests.conftest import REPO
from tests.fixtures import city_formats


@pytest.fixture(scope="module")
def areas() -> dict:
    frame = sample.read_sample(REPO / "data" / "sample", "areas")
    return {lv: frame[frame["level"] == lv][["area_id", "name", "geometry"]].reset_index(drop=True)
            for lv in ("community_area", "district", "beat")}


@pytest.fixture(scope="module")
def chicago() -> pd.DataFrame:
    return city_formats.chicago_rows(1500, seed=3)


def frame(header: list[str], rows: list[list[str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=header, dtype="str")


def mapped(raw: pd.DataFrame, kind: str = "incidents") -> dict[str, str]:
    return mapping.suggest(raw, kind=kind).plan.columns


NYPD = frame(
    ["CMPLNT_NUM", "CMPLNT_FR_DT", "CMPLNT_FR_TM", "ADDR_PCT_CD", "KY_CD", "OFNS_DESC", "PD_CD", "PD_DESC",
     "LAW_CAT_CD", "BORO_NM", "PREM_TYP_DESC", "X_COORD_CD", "Y_COORD_CD", "Latitude", "Longitude", "Lat_Lon"],
    [["123456789", "12/31/2019", "17:30:00", "44", "344", "ASSAULT 3 & RELATED OFFENSES", "101", "ASSAULT 3",
      "MISDEMEANOR", "BRONX", "STREET", "1007314", "241257", "40.8283", "-73.9166", "(40.8283, -73.9166)"],
     ["123456790", "12/30/2019", "09:05:00", "75", "341", "PETIT LARCENY", "321", "LARCENY,PETIT FROM STORE",
      "MISDEMEANOR", "BROOKLYN", "CHAIN STORE", "1017542", "178847", "40.6570", "-73.8797", "(40.6570, -73.8797)"]],
)
SF = frame(
    ["Incident Datetime", "Incident Date", "Incident Time", "Incident Year", "Incident Day of Week",
     "Report Datetime", "Row ID", "Incident ID", "Incident Number", "CAD Number", "Incident Code",
     "Incident Category", "Incident Subcategory", "Incident Description", "Resolution", "Intersection",
     "Police District", "Analysis Neighborhood", "Latitude", "Longitude", "Point"],
    [["2019/01/01 08:00:00 AM", "2019/01/01", "08:00", "2019", "Tuesday", "2019/01/01 09:10:00 AM",
      "7654321", "765432", "190000001", "190010001", "06244", "Larceny Theft", "Larceny - From Vehicle",
      "Theft, From Locked Vehicle, >$950", "Open or Active", "MARKET ST \\ 05TH ST", "Southern",
      "Financial District/South Beach", "37.7838", "-122.4075", "POINT (-122.4075 37.7838)"],
     ["2019/01/02 10:30:00 PM", "2019/01/02", "22:30", "2019", "Wednesday", "2019/01/03 01:00:00 AM",
      "7654322", "765433", "190000002", "190010002", "04134", "Assault", "Simple Assault", "Battery",
      "Cite or Arrest Adult", "MISSION ST \\ 16TH ST", "Mission", "Mission", "37.7650", "-122.4194",
      "POINT (-122.4194 37.7650)"]],
)
SEATTLE = frame(
    ["Report Number", "Offense ID", "Offense Start DateTime", "Offense End DateTime", "Report DateTime",
     "Group A B", "Crime Against Category", "Offense Parent Group", "Offense", "Offense Code", "Precinct",
     "Sector", "Beat", "MCPP", "100 Block Address", "Longitude", "Latitude"],
    [["2020-044620", "12605873663", "2020-02-05 10:10:00", "", "2020-02-05 11:24:31", "A", "PROPERTY",
      "LARCENY-THEFT", "Theft From Building", "23D", "W", "Q", "Q1", "MAGNOLIA", "32XX BLOCK OF 23RD AVE W",
      "-122.38", "47.65"],
     ["2020-044621", "12605873664", "2020-02-06 22:45:00", "", "2020-02-06 23:00:00", "A", "PERSON",
      "ASSAULT OFFENSES", "Simple Assault", "13B", "E", "C", "C2", "CAPITOL HILL", "15XX BLOCK OF E PINE ST",
      "-122.31", "47.61"]],
)
NIBRS = frame(
    ["data_year", "agency_id", "incident_id", "nibrs_month_id", "cargo_theft_flag", "submission_date",
     "incident_date", "report_date_flag", "incident_hour", "offense_code", "offense_name"],
    [["2019", "1234", "90001", "55", "", "2019-03-04", "2019-03-01", "", "14", "13A", "Aggravated Assault"],
     ["2019", "1234", "90001", "55", "", "2019-03-04", "2019-03-01", "", "14", "520", "Weapon Law Violations"],
     ["2019", "1234", "90002", "55", "", "2019-03-04", "2019-03-02", "", "9", "23H", "All Other Larceny"]],
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (NYPD, {"incident_id": "CMPLNT_NUM", "occurred_at": "CMPLNT_FR_DT", "occurred_time": "CMPLNT_FR_TM",
                "offense": "OFNS_DESC", "offense_detail": "PD_DESC", "offense_code": "KY_CD",
                "district_id": "ADDR_PCT_CD", "latitude": "Latitude", "longitude": "Longitude",
                "location_type": "PREM_TYP_DESC"}),
        (SF, {"incident_id": "Incident ID", "occurred_at": "Incident Datetime", "offense": "Incident Category",
              "offense_detail": "Incident Description", "offense_code": "Incident Code",
              "district_id": "Police District", "community_area_id": "Analysis Neighborhood",
              "latitude": "Latitude", "longitude": "Longitude"}),
        (SEATTLE, {"occurred_at": "Offense Start DateTime", "offense": "Offense Parent Group",
                   "offense_code": "Offense Code", "beat_id": "Beat", "district_id": "Precinct",
                   "community_area_id": "MCPP", "block": "100 Block Address", "latitude": "Latitude",
                   "longitude": "Longitude"}),
        (NIBRS, {"incident_id": "incident_id", "occurred_at": "incident_date", "hour": "incident_hour",
                 "offense_code": "offense_code", "offense": "offense_name"}),
    ],
    ids=["nypd", "sf", "seattle", "nibrs"],
)
def test_published_layouts_map(raw, expected):
    columns = mapped(raw)
    assert {k: columns.get(k) for k in expected} == expected
    assert mapping.detect_kind(raw)["incidents"] > 0.7


def test_lapd_and_boston_layouts_map(chicago):
    lapd = mapped(city_formats.lapd_format(chicago))
    assert {k: lapd.get(k) for k in ("incident_id", "occurred_at", "occurred_time", "offense", "offense_code",
                                     "beat_id", "district_id", "latitude", "longitude")} == {
        "incident_id": "DR_NO", "occurred_at": "DATE OCC", "occurred_time": "TIME OCC", "offense": "Crm Cd Desc",
        "offense_code": "Crm Cd", "beat_id": "Rpt Dist No", "district_id": "AREA ", "latitude": "LAT",
        "longitude": "LON"}
    boston = mapped(city_formats.boston_format(chicago))
    assert boston["incident_id"] == "INCIDENT_NUMBER" and boston["occurred_at"] == "OCCURRED_ON_DATE"
    assert boston["offense"] == "OFFENSE_CODE_GROUP" and boston["location"] == "Location"
    assert "day" not in boston  # DAY_OF_WEEK is not a day of the month


def test_values_decide_when_headers_mislead():
    # 'Date' holds report numbers and 'When' real dates: the values move the date to 'When'.
    raw = frame(["ID", "Date", "When", "Primary Type"],
                [[str(i), str(900000 + i), f"2019-05-0{i + 1} 10:00:00", "THEFT"] for i in range(5)])
    fields = mapping.suggest_columns(raw, "incidents").set_index("field")
    assert fields.loc["occurred_at", "column"] == "When"
    # Latitude in feet: moved to the projected Y field, with a finding that says what to do.
    feet = frame(["ID", "Date", "Primary Type", "Latitude", "Longitude"],
                 [[str(i), "2019-05-01 10:00:00", "THEFT", "1898123", "1150444"] for i in range(5)])
    suggestion = mapping.suggest(feet, kind="incidents")
    assert suggestion.plan.columns.get("y") == "Latitude" and "latitude" not in suggestion.plan.columns
    assert any("choose the coordinate system (e.g. EPSG:3435)" in n for n in suggestion.notes)


def test_confidence_is_lower_when_values_disagree():
    good = frame(["Date"], [["2019-05-01 10:00:00"]] * 5)
    bad = frame(["Date"], [["hello"]] * 5)
    score = lambda raw: mapping.suggest_columns(raw, "incidents").set_index("field").loc["occurred_at", "confidence"]  # noqa: E731
    assert score(good) > 0.9 > score(bad)


@pytest.mark.parametrize(
    ("raw", "is_geo", "kind"),
    [
        (frame(["community_area_id", "community_area_name", "population_2020"], [["01", "Rogers Park", "55628"]]),
         False, "population"),
        (frame(["Event Title", "Start Date", "Event Type", "Attendance", "Venue"],
               [["Beat 1011 meeting", "2019-05-01 18:00", "beat meeting", "23", "Library"]]), False, "outreach"),
        (frame(["Neighborhood", "Survey Date", "Trust Score", "Safety Score", "Respondents"],
               [["Austin", "2019-05-01", "61.5", "55", "240"]]), False, "surveys"),
        (frame(["beat_num"], [["0111"]]), True, "areas"),
        (NYPD, False, "incidents"),
    ],
    ids=["population", "outreach", "surveys", "areas", "incidents"],
)
def test_kind_detection(raw, is_geo, kind):
    assert next(iter(mapping.detect_kind(raw, is_geo))) == kind


def test_findings_swapped_projected_and_per_offense(areas):
    swapped = frame(["ID", "Date", "Primary Type", "Latitude", "Longitude"],
                    [[str(i), "2019-05-01 10:00:00", "THEFT", "-87.7", "41.85"] for i in range(5)])
    assert any("swapped" in n for n in mapping.suggest(swapped, kind="incidents", areas=areas).notes)
    assert not any("swapped" in n for n in mapping.suggest(swapped, kind="incidents").notes)  # no city bounds
    assert any("one row per offense" in n for n in mapping.suggest(NIBRS, kind="incidents").notes)
    raw = city_formats.projected_format(city_formats.chicago_rows(300, seed=5))
    suggestion = mapping.suggest(raw, kind="incidents", areas=areas)
    assert suggestion.plan.columns["x"] == "X Coordinate" and suggestion.plan.crs == ""  # never chosen silently
    assert any(n.startswith("EPSG:3435") for n in suggestion.notes)
    assert mapping.guess_crs(raw["X Coordinate"], raw["Y Coordinate"], mapping.areas_bounds(areas)) == "EPSG:3435"


def test_offense_table_keyword_guesses_and_overrides():
    raw = frame(["Crm Cd Desc"], [["THEFT"], ["THEFT"], ["VEHICLE - STOLEN"], ["BATTERY - SIMPLE ASSAULT"],
                                  ["LOUD MUSIC"]])
    plan = ingest.Plan(columns={"offense": "Crm Cd Desc"})
    table = mapping.offense_table(raw, plan).set_index("offense")
    assert table.loc["THEFT", "rows"] == 2 and table.loc["THEFT", "source"] == "offense table"
    assert table.loc["BATTERY - SIMPLE ASSAULT", ["offense_group", "source"]].tolist() == [
        "violent", "keyword guess: check"]
    assert table.loc["LOUD MUSIC", "source"] == "not mapped: other"
    edited = table.reset_index()
    edited.loc[edited["offense"] == "LOUD MUSIC", "offense_group"] = "public_order"
    overrides = mapping.offense_overrides(edited)
    assert overrides == {"BATTERY - SIMPLE ASSAULT": "violent", "LOUD MUSIC": "public_order"}
    groups, unknown = ingest.group_offenses(raw["Crm Cd Desc"], overrides)
    assert groups.tolist() == ["property", "property", "property", "violent", "public_order"] and not unknown


def test_area_names_match_with_fuzzy_suggestions(areas):
    raw = frame(["Neighborhood"], [["Rogers Park"], ["ROGERS PARK"], ["Rogers Prk"], ["Nowhere Land"], ["3"]])
    plan = ingest.Plan(columns={"community_area_id": "Neighborhood"})
    table = mapping.area_match_table(raw, plan, "community_area", areas["community_area"]).set_index("value")
    assert table.loc["Rogers Park", ["area_id", "how", "use"]].tolist() == ["1", "name", True]
    assert table.loc["3", ["area_id", "how"]].tolist() == ["3", "id"]
    assert table.loc["Rogers Prk", ["area_id", "how", "use"]].tolist() == ["1", "close spelling: check", False]
    assert table.loc["Nowhere Land", "how"] == "no match"
    edited = table.reset_index()
    assert mapping.area_values(edited) == {}  # a suggestion counts only once ticked
    edited.loc[edited["value"] == "Rogers Prk", "use"] = True
    assert mapping.area_values(edited) == {"Rogers Prk": "1"}
    ids = ingest.match_area_ids(raw["Neighborhood"], "community_area", areas["community_area"], {"Rogers Prk": "1"})
    assert ids.tolist()[:3] == ["1", "1", "1"] and pd.isna(ids.iloc[3]) and ids.iloc[4] == "3"


def test_profiles_save_find_and_load(tmp_path):
    plan = ingest.Plan(columns={"incident_id": "DR_NO"}, timezone="America/Los_Angeles", crs="EPSG:2229",
                       offense_groups={"LOUD MUSIC": "public_order"}, signature=mapping.header_signature(["DR_NO"]))
    path = mapping.save_profile(tmp_path, mapping.with_choices(plan, name="LAPD nightly"), author="ana")
    assert path.name == "lapd-nightly.json"
    assert mapping.header_signature([" dr_no "]) == plan.signature  # same columns, other spelling
    found = mapping.find_profile(tmp_path, plan.signature)
    assert found is not None and found.crs == "EPSG:2229" and found.offense_groups == {"LOUD MUSIC": "public_order"}
    assert mapping.load_profile("LAPD nightly", tmp_path).name == "LAPD nightly"
    assert mapping.load_profile(str(path)).timezone == "America/Los_Angeles"
    raw = frame(["DR_NO", "DATE OCC", "Crm Cd Desc"], [["1", "01/01/2019 12:00:00 AM", "THEFT"]])
    suggestion = mapping.suggest(raw, profiles_dir=tmp_path)
    assert suggestion.profile == "" or suggestion.plan.signature != plan.signature  # other header, no profile
    same = frame([" dr_no "], [["1"]])
    assert mapping.suggest(same, profiles_dir=tmp_path).profile == "LAPD nightly"
    with pytest.raises(IngestError, match="not found"):
        mapping.load_profile("nope", tmp_path)


def test_missing_required_names_the_fields():
    assert mapping.missing_required(ingest.Plan(columns={"incident_id": "a"})) == ["Date (occurred)", "Offense (type)"]
    assert mapping.missing_required(ingest.Plan(columns={"incident_id": "a", "year": "y", "month": "m",
                                                         "offense": "o"})) == []


@pytest.mark.parametrize("layout", [city_formats.lapd_format, city_formats.boston_format,
                                    city_formats.projected_format], ids=["lapd", "boston", "xy-feet"])
def test_other_city_layouts_give_the_right_counts_per_area(layout, chicago, areas, store):
    """Done means: real Chicago rows in another city's layout, loaded with the suggested mapping only
    (plus the coordinate system the page suggests), give the same counts per area as the rows' own
    Chicago columns, and per community area the same as an independent point-in-polygon join."""
    upload = ingest.read_upload(city_formats.to_csv_bytes(layout(chicago)), "export.csv")
    suggestion = mapping.suggest(upload.frame, areas=areas)
    plan = suggestion.plan
    if "x" in plan.columns:
        plan = mapping.with_choices(plan, crs="EPSG:3435")
    prepared = ingest.prepare_mapped(upload, plan, areas=areas)
    assert prepared.report.rows_kept == len(chicago) and prepared.report.rows_rejected == 0
    ingest.commit_prepared(store, prepared, mode="replace", author="test")
    start, end = pd.Timestamp("2017-01-01").date(), pd.Timestamp("2017-12-31").date()
    assert int(store.count_incidents([], start, end)["count"].sum()) == len(chicago)
    lat = pd.to_numeric(chicago["Latitude"], errors="coerce")
    lon = pd.to_numeric(chicago["Longitude"], errors="coerce")
    points = gpd.GeoSeries.from_xy(lon, lat, crs="EPSG:4326")
    expected_ca = geo.containing_area(points, areas["community_area"]).value_counts()
    got = store.count_incidents(["community_area"], start, end).set_index("community_area")["count"]
    # Border points the 'within' join misses are placed on the nearest area (<= ~30 m) by the ingest.
    assert (got.reindex(expected_ca.index).fillna(0) >= expected_ca).all()
    assert int(got.sum()) - int(expected_ca.sum()) <= 0.01 * len(chicago)
    if layout is not city_formats.projected_format:
        expected_district = ingest.canonical_area_id(chicago["District"], "district").value_counts()
        got_district = store.count_incidents(["district"], start, end).set_index("district")["count"]
        pd.testing.assert_series_equal(got_district.sort_index(), expected_district.sort_index(),
                                       check_names=False, check_dtype=False, check_index_type=False)
        assert got.index.nunique() > 70  # nearly every community area has incidents


def test_time_of_day_and_location_parsing():
    minutes, bad = ingest.parse_time_of_day(pd.Series(["0845", "845", "8:45", "08:45:30", "8:45 PM", "12:10 AM",
                                                       "2400", "9:75", "", None, "noon"], dtype="str"))
    assert minutes.tolist()[:6] == [525, 525, 525, 525, 1245, 10]
    assert bad.tolist() == [False] * 6 + [True, True, False, False, True]
    lat, lon = ingest.parse_location(pd.Series(["(41.86, -87.72)", "POINT (-122.41 37.78)", "", "(0.0, 0.0)"]))
    assert lat.tolist()[:2] == [41.86, 37.78] and lon.tolist()[:2] == [-87.72, -122.41]
    assert pd.isna(lat.iloc[2]) and lat.iloc[3] == 0


def test_value_checks_skip_only_columns_that_cannot_match():
    """Date and point checks run on every column, so columns that cannot hold dates (no digit, month
    or day name) or points are ruled out early; columns that can are still scored in full."""
    def score(values: list[str], check: str) -> float:
        return mapping.value_score(pd.Series(values * 50, dtype="str"), check)[0]

    assert score(["THEFT", "BATTERY", "ROBBERY"], "date") == 0.0
    assert score(["March 5, 2019 10:00", "April 6, 2019 11:30"], "date") > 0.5  # month names, no format listed
    assert score(["01/05/2016 11:00:00 PM", "12/31/2017 01:02:03 AM"], "date") == 1.0
    assert score(["(41.88, -87.63)", "(41.79, -87.60)"], "location") == 1.0
    assert score(["POINT (-122.4075 37.7838)", "POINT (-122.41 37.76)"], "location") == 1.0
    assert score(["STREET", "APARTMENT"], "location") == 0.0
    assert score(["41.88", "-87.63"], "location") == 0.0
