"""periods: period arithmetic, weekly completion, area tables and rates on hand-computed frames."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from dashboard import periods


def test_prior_period_handles_leap_day_and_year_boundary():
    assert periods.prior_period(date(2016, 2, 29), date(2016, 3, 6)) == (date(2015, 2, 28), date(2015, 3, 6))
    assert periods.prior_period(date(2017, 1, 1), date(2017, 1, 28)) == (date(2016, 1, 1), date(2016, 1, 28))
    assert periods.prior_period(date(2016, 12, 25), date(2017, 1, 7)) == (date(2015, 12, 25), date(2016, 1, 7))


def test_default_period_is_last_full_year_else_last_365_days():
    assert periods.default_period(date(2016, 1, 1), date(2017, 12, 31)) == (date(2017, 1, 1), date(2017, 12, 31))
    assert periods.default_period(date(2016, 1, 1), date(2017, 6, 30)) == (date(2016, 7, 1), date(2017, 6, 30))
    assert periods.default_period(date(2017, 3, 1), date(2017, 6, 30)) == (date(2017, 3, 1), date(2017, 6, 30))


def test_pct_change_never_divides_by_zero():
    assert periods.pct_change(12, 10) == 20.0
    assert periods.pct_change(5, 0) is None


def test_complete_weeks_fills_gaps_and_flags_partial_weeks():
    weekly = pd.DataFrame({"week": pd.to_datetime(["2017-01-02", "2017-01-16"]), "count": [5, 7]})
    out = periods.complete_weeks(weekly, date(2017, 1, 4), date(2017, 1, 22))  # Wed .. Sun
    assert out["week"].dt.strftime("%m-%d").tolist() == ["01-02", "01-09", "01-16"]
    assert out["count"].tolist() == [5, 0, 7]
    assert out["partial"].tolist() == [True, False, False]  # starts mid-week, ends on a Sunday


def test_align_prior_weeks_keeps_weekdays():
    prior = pd.DataFrame({"week": pd.to_datetime(["2016-01-04"]), "count": [3]})
    shifted = periods.align_prior_weeks(prior)
    assert shifted["week"].iloc[0] == pd.Timestamp("2017-01-02")
    assert shifted["week"].iloc[0].weekday() == 0


def test_area_table_rates_only_where_population_exists():
    areas = pd.DataFrame({"area_id": ["1", "2", "3"], "name": ["A", "B", "C"]})
    current = pd.DataFrame({"community_area": ["1", "2"], "count": [50, 10]})
    prior = pd.DataFrame({"community_area": ["1", "3"], "count": [40, 4]})
    population = pd.DataFrame({"area_id": ["1", "2"], "population": [10_000, 0]})
    out = periods.area_table(areas, current, prior, population, "community_area").set_index("area_id")
    assert out["count"].tolist() == [50, 10, 0]
    assert out["prior"].tolist() == [40, 0, 4]
    assert out.loc["1", "pct_change"] == 25.0
    assert np.isnan(out.loc["2", "pct_change"])  # nothing last year: no percentage
    assert out.loc["1", "rate_per_1000"] == 5.0
    assert np.isnan(out.loc["2", "rate_per_1000"])  # population 0: no rate
    assert np.isnan(out.loc["3", "rate_per_1000"])  # population missing: no rate


def test_group_comparison_and_weekly_table():
    cur = pd.DataFrame({"offense_group": ["property", "homicide"], "count": [10, 2]})
    pri = pd.DataFrame({"offense_group": ["property", "violent"], "count": [8, 3]})
    out = periods.group_comparison(cur, pri)
    assert out["offense_group"].tolist() == ["homicide", "violent", "property"]  # schema order
    assert out["count"].tolist() == [2, 0, 10] and out["prior"].tolist() == [0, 3, 8]
    assert out["pct_change"].tolist()[1:] == [-100.0, 25.0] and pd.isna(out["pct_change"].iloc[0])
    assert periods.total(out) == 12 and periods.total(out, "prior") == 11


def test_weekly_view_overlays_last_year_on_this_years_weeks():
    cur = pd.DataFrame({"week": pd.to_datetime(["2017-01-02", "2017-01-09"]), "count": [3, 4]})
    pri = pd.DataFrame({"week": pd.to_datetime(["2016-01-04", "2016-01-11"]), "count": [5, 6]})
    ev = pd.DataFrame({"week": pd.to_datetime(["2017-01-09"]), "events": [2]})
    now, before, events = periods.weekly_view(cur, pri, ev, date(2017, 1, 2), date(2017, 1, 15))
    assert before["week"].tolist() == now["week"].tolist()
    assert before["count"].tolist() == [5, 6]
    assert events["events"].tolist() == [0, 2]
    table = periods.weekly_table(now, before, events)
    assert table.columns.tolist() == ["week", "count", "partial", "count_last_year", "outreach_events"]


def test_clicked_area_and_annualised_rate():
    table = pd.DataFrame({"area_id": ["1", "2"], "name": ["A", "B"], "count": [1, 2]})
    click = {"last_active_drawing": {"properties": {"area_id": "2"}}}
    assert periods.clicked_area(table, click)["name"] == "B"
    assert periods.clicked_area(table, {}) is None
    assert periods.clicked_area(table, {"last_active_drawing": {"properties": {"area_id": "9"}}}) is None


def test_filters_describe():
    f = periods.Filters(date(2017, 1, 1), date(2017, 1, 31), ("homicide",))
    assert f.days == 31
    assert f.describe() == "01 Jan 2017 – 31 Jan 2017, Homicide"
    assert "all offense groups" in periods.Filters(date(2017, 1, 1), date(2017, 1, 31)).describe()


def test_impact_start_default_leaves_a_year_before():
    assert periods.impact_start_default(date(2016, 1, 1), date(2017, 12, 31)) == date(2017, 1, 2)
    short = periods.impact_start_default(date(2017, 3, 1), date(2017, 9, 1))
    assert short.weekday() == 0 and date(2017, 3, 1) < short < date(2017, 9, 1)

