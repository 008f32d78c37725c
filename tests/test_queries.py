"""queries: counts, points, events, surveys and the trends page's one-scan aggregates, by hand and on the
sample, on DuckDB and PostgreSQL (a throw-away server)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from dashboard import compstat, schema
from dashboard.errors import DataMissingError
from dashboard.store import Provenance, Store
from tests.conftest import REPO, incidents_frame
from tests.test_store import three_incidents

P = Provenance(source="test")


@pytest.fixture
def sample_store(backend_sample_store: Store) -> Store:
    """The seeded sample on each backend: every test here runs against DuckDB and PostgreSQL."""
    return backend_sample_store


def test_count_incidents_by_week_level_and_group(store: Store):
    store.commit("incidents", three_incidents(), P)
    weekly = store.count_incidents(["week"], date(2017, 1, 1), date(2017, 1, 31))
    # 2017-01-02 and 2017-01-08 fall in the ISO week starting Monday 2 Jan; 9 Jan starts the next.
    assert weekly["week"].astype(str).tolist() == ["2017-01-02", "2017-01-09"]
    assert weekly["count"].tolist() == [2, 1]
    by_beat = store.count_incidents(["beat", "offense_group"], date(2017, 1, 1), date(2017, 1, 8))
    assert by_beat.values.tolist() == [["0111", "homicide", 1], ["0111", "property", 1]]
    # the end date is inclusive: an incident at 23:59 on the end day counts
    assert store.count_incidents([], date(2017, 1, 8), date(2017, 1, 8))["count"].tolist() == [1]
    only = store.count_incidents([], date(2017, 1, 1), date(2017, 1, 31), offense_groups=["homicide"])
    assert only["count"].tolist() == [1]
    assert store.count_incidents(["week"], date(2017, 1, 1), date(2017, 1, 31), offense_groups=[]).empty
    area = store.count_incidents(["hour", "dow"], date(2017, 1, 1), date(2017, 1, 31), area=("community_area", "1"))
    assert sorted(area.values.tolist()) == [[10, 1, 1], [23, 7, 1]]


def test_missing_dataset_is_a_clear_error(store: Store):
    with pytest.raises(DataMissingError, match="No incidents"):
        store.count_incidents(["week"], date(2017, 1, 1), date(2017, 1, 31))
    assert store.count_outreach(["week"], date(2017, 1, 1), date(2017, 1, 31)).empty  # outreach is optional


def test_count_incidents_can_leave_offense_types_out(store: Store):
    store.commit("incidents", three_incidents(), P)
    everything = store.count_incidents(["offense"], date(2017, 1, 1), date(2017, 1, 31))
    assert dict(zip(everything["offense"], everything["count"], strict=True)) == {"HOMICIDE": 1, "THEFT": 2}
    kept = store.count_incidents(["beat"], date(2017, 1, 1), date(2017, 1, 31), exclude_offenses=["HOMICIDE"])
    assert dict(zip(kept["beat"], kept["count"], strict=True)) == {"0111": 1, "0112": 1}
    same = store.count_incidents([], date(2017, 1, 1), date(2017, 1, 31), None, None, exclude_offenses=[])
    assert same["count"].iloc[0] == 3


def test_incident_points_aggregate_coordinates_and_leave_out_the_rest(store: Store):
    store.commit("incidents", incidents_frame([
        {"incident_id": "a", "occurred_at": "2017-01-02", "latitude": 41.9, "longitude": -87.6},
        {"incident_id": "b", "occurred_at": "2017-01-03", "latitude": 41.9, "longitude": -87.6},
        {"incident_id": "c", "occurred_at": "2017-01-04", "latitude": 41.8, "longitude": -87.7,
         "offense": "STALKING", "offense_group": "violent"},
        {"incident_id": "d", "occurred_at": "2017-01-05"},
    ]), P)
    points = store.incident_points(date(2017, 1, 1), date(2017, 1, 31), exclude_offenses=["STALKING"])
    assert points.to_dict("records") == [{"latitude": 41.9, "longitude": -87.6, "count": 2}]
    assert store.incident_points(date(2017, 1, 1), date(2017, 1, 31), ["violent"])["count"].tolist() == [1]
    assert store.incident_points(date(2017, 1, 1), date(2017, 1, 31), []).empty


def test_outreach_events_lists_each_event_once_with_its_beats(sample_store: Store):
    events = sample_store.outreach_events(date(2017, 1, 1), date(2017, 12, 31), area=("district", "8"))
    assert events["event_id"].is_unique and len(events) > 10
    assert list(events.columns) == ["event_id", "starts_at", "title", "event_type", "program", "venue",
                                    "place_level", "beats"]
    assert events["starts_at"].is_monotonic_decreasing
    raw = pd.read_csv(REPO / "data" / "sample" / "outreach.csv", dtype=str)
    in_2017 = raw[(raw["district_id"] == "8") & raw["starts_at"].str.startswith("2017")]
    assert len(events) == min(in_2017["event_id"].nunique(), 500)
    multi = events[events["beats"].fillna("").str.contains(",")]
    assert not multi.empty  # a meeting of several beats is one event naming them all
    assert sample_store.outreach_events(date(2017, 1, 1), date(2017, 1, 31), area=("beat", "nope")).empty


def test_survey_scores_empty_then_by_level(store: Store):

    empty = store.survey_scores("beat")
    assert len(empty) == 0 and "trust_score" in empty.columns
    frame = pd.DataFrame({"level": ["beat", "beat", "district"], "area_id": ["0111", "0112", "1"],
                          "period_start": pd.to_datetime(["2017-01-01"] * 3), "period_end": pd.to_datetime(["2017-03-31"] * 3),
                          "trust_score": [55.0, 60.0, 40.0], "safety_score": [50.0, None, 45.0],
                          "respondents": [120, 80, 300], "source": "survey.csv", "is_demo": False})
    store.commit("surveys", schema.SURVEYS.validate(frame), Provenance(source="survey.csv"))
    got = store.survey_scores("beat")
    assert list(got["area_id"]) == ["0111", "0112"] and list(got["trust_score"]) == [55.0, 60.0]


def test_daily_area_counts_by_level_and_citywide(store: Store):
    store.commit("incidents", three_incidents(), P)
    daily = store.daily_area_counts()
    beat = daily[daily["level"] == "beat"].sort_values(["area_id", "day"])
    assert beat["area_id"].tolist() == ["0111", "0111", "0112"]
    assert pd.to_datetime(beat["day"]).dt.strftime("%m-%d").tolist() == ["01-02", "01-08", "01-09"]
    city = daily[daily["level"] == "citywide"]
    assert city["area_id"].isna().all() and city["count"].sum() == 3
    assert city.groupby("offense_group")["count"].sum().to_dict() == {"homicide": 1, "property": 2}
    assert daily.loc[daily["level"] == "district", "area_id"].isna().all()  # no district in these records


def same_numbers(new, old, slots) -> None:
    """Cube ``new`` holds the numbers of ``old`` on ``slots`` for every area (zeros where ``old`` has none)."""
    import numpy as np

    assert set(old.areas) <= set(new.areas)
    at = old.areas.get_indexer(new.areas)
    for a, b in zip(new.select(slots), old.select(slots), strict=True):
        expected = np.zeros_like(a)
        expected[at >= 0] = b[at[at >= 0]]
        np.testing.assert_array_equal(a, expected)


def test_daily_path_equals_the_per_anchor_queries_on_the_sample(sample_store: Store):
    """The trends page slices windows and weeks from the daily counts; the per-anchor SQL (one scan per
    anchor) is the reference: every area, group, period and week must agree exactly."""

    first, last = sample_store.date_bounds()
    days = compstat.day_cubes(sample_store.daily_area_counts())
    weeks, old_weeks = compstat.weekly_cubes_from_days(days), compstat.weekly_cubes(sample_store.weekly_area_counts())
    for level, cube in old_weeks.items():
        same_numbers(weeks[level], cube, cube.slots)
    for anchor in (last, date(2017, 6, 14), date(2017, 2, 28), compstat.earliest_anchor(first, last)):
        periods = compstat.trend_periods(anchor, first, last)
        names = [p[0] for p in periods]
        new = compstat.window_cubes_from_days(days, periods)
        old = compstat.window_cubes(sample_store.trend_window_counts(periods), names)
        for level in old:
            same_numbers(new[level], old[level], names)
        assert new["citywide"].counts.sum() > 0
