"""loader: cached aggregates are keyed on the store version, so a commit is seen on the next call."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from dashboard import compstat, loader, schema
from dashboard.store import Provenance, Store
from tests.conftest import incidents_frame


@pytest.fixture
def fresh_loader(tmp_path, monkeypatch):
    monkeypatch.setenv("DASHBOARD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DASHBOARD_SAMPLE_DIR", str(tmp_path / "no-sample"))
    for fn in (loader.clear_settings, loader.store.clear):
        fn()
    yield Store(tmp_path / "dashboard.duckdb")
    for fn in (loader.clear_settings, loader.store.clear):
        fn()


def rows(n: int):
    return incidents_frame([{"incident_id": str(i), "occurred_at": "2017-03-01 12:00"} for i in range(n)])


def test_new_commit_is_seen_without_clearing_caches(fresh_loader, tmp_path):
    fresh_loader.commit("incidents", rows(3), Provenance(source="t"))
    first = loader.incident_counts([], date(2017, 1, 1), date(2017, 12, 31))
    assert first["count"].tolist() == [3]
    again = loader.incident_counts([], date(2017, 1, 1), date(2017, 12, 31))
    assert again["count"].tolist() == [3]
    fresh_loader.commit("incidents", rows(5), Provenance(source="t"))  # e.g. the CLI in another process
    assert loader.incident_counts([], date(2017, 1, 1), date(2017, 12, 31))["count"].tolist() == [5]
    assert loader.date_bounds() == (date(2017, 3, 1), date(2017, 3, 1))
    assert loader.has("incidents") and not loader.has("surveys")


def test_store_is_seeded_from_the_sample_on_first_use(tmp_path, monkeypatch, sample_data_dir):
    monkeypatch.setenv("DASHBOARD_DATA_DIR", str(tmp_path))
    loader.clear_settings()
    loader.store.clear()
    try:
        assert {s["dataset"] for s in loader.status() if s["version"]} == {"incidents", "outreach", "areas",
                                                                           "population"}
        assert len(loader.areas("community_area")) == 77
        assert loader.population("beat").empty  # no beat population in the sample
    finally:
        loader.clear_settings()
        loader.store.clear()


# ------------------------------------------------------------------ crime trends: one query per aggregate

def test_trend_aggregates_by_hand_and_refreshed_by_a_commit(fresh_loader):
    incidents = incidents_frame([
        {"incident_id": "1", "occurred_at": "2017-12-04 00:00", "offense": "BATTERY", "offense_group": "violent",
         "offense_detail": "AGGRAVATED: HANDGUN", "district_id": "11", "beat_id": "1111", "community_area_id": "23"},
        {"incident_id": "2", "occurred_at": "2017-12-31 23:59", "offense": "WEAPONS VIOLATION",
         "offense_group": "weapons", "offense_detail": "UNLAWFUL POSS OF HANDGUN", "district_id": "11",
         "beat_id": "1112", "community_area_id": "23"},
        {"incident_id": "3", "occurred_at": "2017-12-03 23:59", "offense_group": "property",  # day before 28 days
         "district_id": "14", "beat_id": "1411", "community_area_id": "24"},
        {"incident_id": "4", "occurred_at": "2016-12-10 12:00", "offense": "OTHER OFFENSE", "offense_group": "other",
         "offense_detail": "GUN OFFENDER: ANNUAL REGISTRATION", "district_id": "11"},  # a registry duty
        {"incident_id": "5", "occurred_at": "2016-12-06 08:00", "offense_group": "property"},  # no area at all
    ])
    fresh_loader.commit("incidents", incidents, Provenance(source="t"))
    anchor, first, last = date(2017, 12, 31), date(2016, 1, 1), date(2017, 12, 31)
    cubes = loader.trend_windows(compstat.trend_periods(anchor, first, last))
    city, city_guns = cubes["citywide"].select(["p_28d_0", "p_28d_1", "p_ytd_0"], "citywide")
    g = list(schema.OFFENSE_GROUPS).index
    assert city[g("violent")].tolist() == [1, 0, 1] and city_guns[g("violent")].tolist() == [1, 0, 1]
    assert city[g("weapons")].tolist() == [1, 0, 1] and city[g("property")].tolist() == [0, 1, 1]
    assert city[g("other")].tolist() == [0, 1, 0] and city_guns[g("other")].tolist() == [0, 0, 0]
    d11, _ = cubes["district"].select(["p_28d_0", "p_28d_1"], "11")
    assert d11.sum(axis=0).tolist() == [2, 1]
    assert list(cubes["beat"].areas) == ["1111", "1112", "1411"]  # records without a beat are citywide only
    weeks = loader.trend_weeks(anchor)
    week, guns = weeks["community_area"].select([pd.Timestamp("2017-12-04"), pd.Timestamp("2017-12-25")], "23")
    assert week.sum(axis=0).tolist() == [1, 1] and guns.sum(axis=0).tolist() == [1, 1]
    assert weeks["citywide"].counts.sum() == 5
    fresh_loader.commit("incidents", incidents.head(1), Provenance(source="t"))  # another process commits
    assert loader.trend_weeks(anchor)["citywide"].counts.sum() == 1
    assert loader.trend_windows(compstat.trend_periods(anchor, first, last))["citywide"].counts.sum() == 2


def test_trend_window_counts_agree_with_count_incidents_on_the_sample(app_env):
    for fn in (loader.clear_settings, loader.store.clear):
        fn()
    try:
        anchor = date(2017, 6, 14)
        first, last = loader.date_bounds()
        cubes = loader.trend_windows(compstat.trend_periods(anchor, first, last))
        for key, window in compstat.trend_windows(anchor).items():
            for k, span in ((0, window), (1, window.prior)):
                counted = loader.incident_counts(["district", "offense_group"], span.start, span.end)
                by_area = counted.groupby("district")["count"].sum()
                cube = cubes["district"]
                got = cube.select([compstat.period_name(key, k)])[0].sum(axis=(1, 2))
                ours = {a: int(n) for a, n in zip(cube.areas, got, strict=True) if n}  # 0: not counted
                assert ours == by_area.astype(int).to_dict()
        assert len(loader.harm_weights()) == len(schema.OFFENSE_GROUPS)
        assert list(loader.harm_weights_table().columns) == ["offense_group", "weight", "basis"]
    finally:
        for fn in (loader.clear_settings, loader.store.clear):
            fn()


def test_outreach_weeks_filters_one_frame_like_the_query(app_env):
    for fn in (loader.clear_settings, loader.store.clear):
        fn()
    try:
        first, last = loader.date_bounds()
        beat = loader.outreach_counts(["beat"], first, last).sort_values("events")["beat"].iloc[-1]
        for anchor in (last, date(2017, 6, 14), date(2017, 1, 3)):
            span = compstat.chart_span(anchor, first, last)
            for area in (None, ("beat", beat), ("district", "11"), ("community_area", "25"), ("beat", "9999")):
                want = loader.outreach_counts(["week"], *span, area=area)
                got = loader.outreach_weeks(*span, area=area)
                pd.testing.assert_frame_equal(got, want.reset_index(drop=True), check_dtype=False)
        assert loader.outreach_weeks(*compstat.chart_span(last, first, last))["events"].sum() > 0
        # not whole weeks: the query itself
        pd.testing.assert_frame_equal(loader.outreach_weeks(date(2017, 3, 1), date(2017, 3, 9)),
                                      loader.outreach_counts(["week"], date(2017, 3, 1), date(2017, 3, 9)))
    finally:
        for fn in (loader.clear_settings, loader.store.clear):
            fn()


def test_anchors_older_than_the_daily_cubes_are_counted_by_query(app_env, monkeypatch):
    """With daily cubes over the last year only, an older anchor's windows and weeks come from one query
    each and hold exactly the numbers of daily cubes over the whole sample."""
    from tests.test_queries import same_numbers

    caches = (loader.clear_settings, loader.store.clear, loader.trend_days.clear, loader.trend_windows.clear,
              loader._weeks_of_days.clear, loader._weeks_between.clear)
    for fn in caches:
        fn()
    monkeypatch.setattr(compstat, "DAY_CUBE_YEARS", 1)
    try:
        first, last = loader.date_bounds()
        since, _ = loader.trend_days()
        assert since == date(2017, 1, 2)  # the first Monday a year before 31 December 2017
        full = compstat.day_cubes(loader.store().daily_area_counts())
        asked = []
        original = loader.store().trend_window_counts
        monkeypatch.setattr(type(loader.store()), "trend_window_counts",
                            lambda self, periods: asked.append(periods) or original(periods))
        for anchor in (date(2017, 6, 14), date(2017, 12, 31)):
            periods = compstat.trend_periods(anchor, first, last)
            names = [p[0] for p in periods]
            got, expected = loader.trend_windows(periods), compstat.window_cubes_from_days(full, periods)
            for level in expected:
                same_numbers(got[level], expected[level], names)
            assert len(asked) == 1  # their periods start before the daily cubes: one query
            asked.clear()
            weeks, all_weeks = loader.trend_weeks(anchor), compstat.weekly_cubes_from_days(full)
            needed = [w for w in all_weeks["citywide"].slots
                      if compstat.weeks_needed_from(anchor) <= w.date() <= anchor]
            assert len(needed) >= 52
            for level in all_weeks:
                same_numbers(weeks[level], all_weeks[level], needed)
    finally:
        for fn in caches:
            fn()


# ------------------------------------------------------------------ the cached decorator


def test_cached_keys_on_the_version_and_normalised_arguments(fresh_loader):
    fresh_loader.commit("incidents", rows(1), Provenance(source="t"))
    calls = []

    @loader.cached(sets=("groups",))
    def counted(by, groups=None, _unhashed=None):
        calls.append((by, groups))
        return len(calls)

    @loader.cached()
    def other(by, groups=None, _unhashed=None):  # the same arguments: its own cache all the same
        return "other"

    assert counted(["a", "b"], ["y", "x"]) == 1
    assert calls == [(("a", "b"), ("x", "y"))]  # called with what it is keyed on: tuples, sets sorted
    assert counted(("a", "b"), ("x", "y"), _unhashed=object()) == 1  # list or tuple, any order: one entry
    assert counted(["b", "a"], ["x", "y"]) == 2  # the order of ``by`` is kept: another entry
    assert other(["a", "b"], ["y", "x"]) == "other"
    fresh_loader.commit("incidents", rows(2), Provenance(source="t"))  # a new version: worked out again
    assert counted(["a", "b"], ["x", "y"]) == 3
    counted.clear()
    assert counted(["a", "b"], ["x", "y"]) == 4


def test_cached_without_the_version_and_as_a_shared_resource(fresh_loader):
    fresh_loader.commit("incidents", rows(1), Provenance(source="t"))

    calls = []

    @loader.cached(versioned=False)
    def by_file(path):
        calls.append(path)
        return [path]

    @loader.cached(resource=True)
    def shared(level):
        return [level]

    first = by_file("a.csv")
    fresh_loader.commit("incidents", rows(2), Provenance(source="t"))
    assert by_file("a.csv") == first and calls == ["a.csv"]  # keyed on the file alone: not read again
    assert by_file("a.csv") is not by_file("a.csv")  # cache_data: a copy for each caller
    before = shared("beat")
    assert shared("beat") is before  # cache_resource: one shared object ...
    fresh_loader.commit("incidents", rows(3), Provenance(source="t"))
    assert shared("beat") is not before  # ... per version
