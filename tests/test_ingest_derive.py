"""ingest.derive: dates, times, time zones, coordinates and area ids derived from a plan."""

from __future__ import annotations

import pandas as pd
import pytest

from dashboard import ingest
from dashboard.errors import IngestError
from tests.ingest_support import incident_plan


def test_split_date_time_and_year_month_day_columns():
    raw = pd.DataFrame({"id": ["1", "2", "3"], "when": ["01/01/2010 12:00:00 AM"] * 3, "time": ["0845", "2359", "9:75"],
                        "what": ["THEFT"] * 3}, dtype="str")
    out = ingest.prepare_mapped(raw, incident_plan(cols={"occurred_time": "time"}), source_name="lapd.csv")
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
        ingest.prepare_mapped(raw, incident_plan())
    out = ingest.prepare_mapped(raw, incident_plan(timezone="America/Chicago")).frame
    assert out["occurred_at"].tolist() == [pd.Timestamp("2019-07-03 21:00"), pd.Timestamp("2019-01-15 17:30")]
    naive = raw.assign(when=["2019-07-04 02:00:00", "2019-01-15 23:30:00"])
    out = ingest.prepare_mapped(naive, incident_plan(timezone="America/Chicago", source_timezone="UTC")).frame
    assert out["occurred_at"].tolist() == [pd.Timestamp("2019-07-03 21:00"), pd.Timestamp("2019-01-15 17:30")]
    with pytest.raises(IngestError, match="Unknown time zone"):
        ingest.prepare_mapped(naive, incident_plan(timezone="Mars/Olympus", source_timezone="UTC"))



def test_coordinates_from_location_projected_and_swapped_columns():
    base = {"id": ["1", "2"], "when": ["2016-05-01 10:00:00"] * 2, "what": ["THEFT"] * 2}
    loc = pd.DataFrame({**base, "loc": ["(41.86, -87.72)", "(0.0, 0.0)"]}, dtype="str")
    out = ingest.prepare_mapped(loc, incident_plan(cols={"location": "loc"})).frame
    assert out["latitude"].iloc[0] == 41.86 and pd.isna(out["latitude"].iloc[1])
    xy = pd.DataFrame({**base, "x": ["1150444", "0"], "y": ["1898123", "0"]}, dtype="str")
    out = ingest.prepare_mapped(xy, incident_plan(cols={"x": "x", "y": "y"}, crs="EPSG:3435")).frame
    from pyproj import Transformer

    lon, lat = Transformer.from_crs("EPSG:3435", "EPSG:4326", always_xy=True).transform(1150444, 1898123)
    assert out["latitude"].iloc[0] == pytest.approx(lat, abs=1e-9) and 41.6 < lat < 42.1
    assert out["longitude"].iloc[0] == pytest.approx(lon, abs=1e-9) and pd.isna(out["latitude"].iloc[1])
    swapped = pd.DataFrame({**base, "lat": ["-87.72", "-87.70"], "lon": ["41.86", "41.87"]}, dtype="str")
    bounds = {"beat": None}
    out = ingest.prepare_mapped(swapped, incident_plan(cols={"latitude": "lat", "longitude": "lon"}, swap_latlon=True),
                                areas=bounds).frame
    assert out["latitude"].tolist() == [41.86, 41.87]
    with pytest.raises(IngestError, match="Unknown coordinate system"):
        ingest.prepare_mapped(xy, incident_plan(cols={"x": "x", "y": "y"}, crs="EPSG:999999"))



def test_areas_from_points_names_and_outside(sample_store):
    from dashboard import geo

    areas = {lv: geo.from_store(sample_store.areas(lv)) for lv in sample_store.levels()}
    raw = pd.DataFrame({
        "id": ["1", "2", "3", "4"], "when": ["2016-05-01 10:00:00"] * 4, "what": ["THEFT"] * 4,
        "lat": ["41.8617", "41.8617", "40.7128", ""], "lon": ["-87.7214", "-87.7214", "-74.0060", ""],
        "hood": ["", "north lawndale", "", "Rogers Park"]}, dtype="str")
    plan = incident_plan(cols={"latitude": "lat", "longitude": "lon", "community_area_id": "hood"})
    out = ingest.prepare_mapped(raw, plan, areas=areas)
    frame = out.frame.set_index("incident_id")
    assert frame.loc["1", ["community_area_id", "district_id", "beat_id"]].tolist() == ["29", "10", "1011"]
    assert frame.loc["2", "community_area_id"] == "29"  # by name, case and spacing ignored
    assert frame.loc["4", "community_area_id"] == "1" and pd.isna(frame.loc["4", "beat_id"])  # no point
    assert out.report.reason_counts() == {
        "outside every boundary (check the coordinates and their coordinate system)": 1}
    assert out.report.rejected["lat"].tolist() == ["40.7128"]  # the file's own columns, not derived ones
    off = ingest.prepare_mapped(raw, incident_plan(cols={"latitude": "lat", "longitude": "lon"}, assign_areas="off"),
                                areas=areas)
    assert off.frame["community_area_id"].isna().all() and off.report.rows_rejected == 0
