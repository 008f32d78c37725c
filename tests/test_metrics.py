"""metrics: period arithmetic, weekly completion, area tables and rates on hand-computed frames."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from dashboard import metrics


def test_prior_period_handles_leap_day_and_year_boundary():
    assert metrics.prior_period(date(2016, 2, 29), date(2016, 3, 6)) == (date(2015, 2, 28), date(2015, 3, 6))
    assert metrics.prior_period(date(2017, 1, 1), date(2017, 1, 28)) == (date(2016, 1, 1), date(2016, 1, 28))
    assert metrics.prior_period(date(2016, 12, 25), date(2017, 1, 7)) == (date(2015, 12, 25), date(2016, 1, 7))


def test_default_period_is_last_full_year_else_last_365_days():
    assert metrics.default_period(date(2016, 1, 1), date(2017, 12, 31)) == (date(2017, 1, 1), date(2017, 12, 31))
    assert metrics.default_period(date(2016, 1, 1), date(2017, 6, 30)) == (date(2016, 7, 1), date(2017, 6, 30))
    assert metrics.default_period(date(2017, 3, 1), date(2017, 6, 30)) == (date(2017, 3, 1), date(2017, 6, 30))


def test_pct_change_never_divides_by_zero():
    assert metrics.pct_change(12, 10) == 20.0
    assert metrics.pct_change(5, 0) is None


def test_complete_weeks_fills_gaps_and_flags_partial_weeks():
    weekly = pd.DataFrame({"week": pd.to_datetime(["2017-01-02", "2017-01-16"]), "count": [5, 7]})
    out = metrics.complete_weeks(weekly, date(2017, 1, 4), date(2017, 1, 22))  # Wed .. Sun
    assert out["week"].dt.strftime("%m-%d").tolist() == ["01-02", "01-09", "01-16"]
    assert out["count"].tolist() == [5, 0, 7]
    assert out["partial"].tolist() == [True, False, False]  # starts mid-week, ends on a Sunday


def test_align_prior_weeks_keeps_weekdays():
    prior = pd.DataFrame({"week": pd.to_datetime(["2016-01-04"]), "count": [3]})
    shifted = metrics.align_prior_weeks(prior)
    assert shifted["week"].iloc[0] == pd.Timestamp("2017-01-02")
    assert shifted["week"].iloc[0].weekday() == 0


def test_area_table_rates_only_where_population_exists():
    areas = pd.DataFrame({"area_id": ["1", "2", "3"], "name": ["A", "B", "C"]})
    current = pd.DataFrame({"community_area": ["1", "2"], "count": [50, 10]})
    prior = pd.DataFrame({"community_area": ["1", "3"], "count": [40, 4]})
    population = pd.DataFrame({"area_id": ["1", "2"], "population": [10_000, 0]})
    out = metrics.area_table(areas, current, prior, population, "community_area").set_index("area_id")
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
    out = metrics.group_comparison(cur, pri)
    assert out["offense_group"].tolist() == ["homicide", "violent", "property"]  # schema order
    assert out["count"].tolist() == [2, 0, 10] and out["prior"].tolist() == [0, 3, 8]
    assert out["pct_change"].tolist()[1:] == [-100.0, 25.0] and pd.isna(out["pct_change"].iloc[0])
    assert metrics.total(out) == 12 and metrics.total(out, "prior") == 11


def test_weekly_view_overlays_last_year_on_this_years_weeks():
    cur = pd.DataFrame({"week": pd.to_datetime(["2017-01-02", "2017-01-09"]), "count": [3, 4]})
    pri = pd.DataFrame({"week": pd.to_datetime(["2016-01-04", "2016-01-11"]), "count": [5, 6]})
    ev = pd.DataFrame({"week": pd.to_datetime(["2017-01-09"]), "events": [2]})
    now, before, events = metrics.weekly_view(cur, pri, ev, date(2017, 1, 2), date(2017, 1, 15))
    assert before["week"].tolist() == now["week"].tolist()
    assert before["count"].tolist() == [5, 6]
    assert events["events"].tolist() == [0, 2]
    table = metrics.weekly_table(now, before, events)
    assert table.columns.tolist() == ["week", "count", "partial", "count_last_year", "outreach_events"]


def test_clicked_area_and_annualised_rate():
    table = pd.DataFrame({"area_id": ["1", "2"], "name": ["A", "B"], "count": [1, 2]})
    click = {"last_active_drawing": {"properties": {"area_id": "2"}}}
    assert metrics.clicked_area(table, click)["name"] == "B"
    assert metrics.clicked_area(table, {}) is None
    assert metrics.clicked_area(table, {"last_active_drawing": {"properties": {"area_id": "9"}}}) is None


def test_filters_describe():
    f = metrics.Filters(date(2017, 1, 1), date(2017, 1, 31), ("homicide",))
    assert f.days == 31
    assert f.describe() == "01 Jan 2017 – 31 Jan 2017, Homicide"
    assert "all offense groups" in metrics.Filters(date(2017, 1, 1), date(2017, 1, 31)).describe()


# ------------------------------------------------------------------ CompStat windows and tables (trends page)

import pytest  # noqa: E402

from dashboard import schema, stats  # noqa: E402
from dashboard.errors import DashboardError  # noqa: E402


def spans(anchor):
    return {k: (w.start, w.end, w.days, w.prior.start, w.prior.end, w.prior.days)
            for k, w in metrics.trend_windows(anchor).items()}


def test_windows_when_the_anchor_is_the_first_day_of_a_year():
    d = date
    assert spans(d(2017, 1, 1)) == {  # a Sunday: the week to date crosses the year boundary
        "wtd": (d(2016, 12, 26), d(2017, 1, 1), 7, d(2015, 12, 28), d(2016, 1, 3), 7),
        "28d": (d(2016, 12, 5), d(2017, 1, 1), 28, d(2015, 12, 7), d(2016, 1, 3), 28),
        "ytd": (d(2017, 1, 1), d(2017, 1, 1), 1, d(2016, 1, 1), d(2016, 1, 1), 1),
    }


def test_windows_around_a_leap_day():
    d = date
    leap = spans(d(2016, 2, 29))  # a Monday: the week to date is one day, a partial week
    assert leap["wtd"] == (d(2016, 2, 29), d(2016, 2, 29), 1, d(2015, 3, 2), d(2015, 3, 2), 1)  # 52 weeks back
    assert leap["ytd"] == (d(2016, 1, 1), d(2016, 2, 29), 60, d(2015, 1, 1), d(2015, 2, 28), 59)
    after = spans(d(2017, 3, 1))  # a year after a leap day: last year's YTD holds 29 February
    assert after["ytd"] == (d(2017, 1, 1), d(2017, 3, 1), 60, d(2016, 1, 1), d(2016, 3, 1), 61)
    assert after["wtd"] == (d(2017, 2, 27), d(2017, 3, 1), 3, d(2016, 2, 29), d(2016, 3, 2), 3)


def test_partial_week_compares_the_same_weekdays():
    wtd = metrics.trend_window("wtd", date(2017, 6, 14))  # a Wednesday
    assert (wtd.start, wtd.end, wtd.days) == (date(2017, 6, 12), date(2017, 6, 14), 3)
    assert [x.weekday() for x in (wtd.prior.start, wtd.prior.end)] == [0, 2]  # Monday to Wednesday again
    assert wtd.earlier(2).start == date(2015, 6, 15)
    ytd = metrics.trend_window("ytd", date(2017, 12, 31))
    assert (ytd.earlier(3).start, ytd.earlier(3).end) == (date(2014, 1, 1), date(2014, 12, 31))
    with pytest.raises(ValueError):
        metrics.trend_window("month", date(2017, 1, 1))


def test_anchor_range_history_and_chart_weeks():
    first, last = date(2016, 1, 1), date(2017, 12, 31)
    assert metrics.earliest_anchor(first, last) == date(2017, 1, 26)  # 28-day window a year back fits
    assert metrics.earliest_anchor(date(2017, 3, 1), last) is None  # less than a year and four weeks
    weeks = metrics.history_weeks(date(2017, 12, 31), first, last)  # the 52 weeks before the 28 days
    assert (len(weeks), weeks[0], weeks[-1]) == (52, pd.Timestamp("2016-12-05"), pd.Timestamp("2017-11-27"))
    early = metrics.history_weeks(date(2017, 1, 26), first, last)  # only full weeks inside the data
    assert (len(early), early[0], early[-1]) == (51, pd.Timestamp("2016-01-04"), pd.Timestamp("2016-12-19"))
    chart = metrics.chart_weeks(date(2017, 6, 14), first, last)  # the anchor's unfinished week is left out
    assert (len(chart), chart[-1]) == (52, pd.Timestamp("2017-06-05"))
    assert metrics.chart_span(date(2017, 6, 14), first, last) == (date(2016, 6, 13), date(2017, 6, 11))
    assert len(metrics.chart_weeks(date(2016, 3, 1), first, last)) == 8  # clipped to the data


def test_trend_periods_count_only_covered_earlier_years():
    names = [p[0] for p in metrics.trend_periods(date(2017, 12, 31), date(2016, 1, 1), date(2017, 12, 31))]
    assert names == ["p_wtd_0", "p_wtd_1", "p_28d_0", "p_28d_1", "p_ytd_0", "p_ytd_1"]
    assert len(metrics.trend_periods(date(2017, 12, 31))) == 12  # no bounds given: all years
    assert all(name.isidentifier() for name, _, _ in metrics.trend_periods(date(2017, 12, 31)))


# ------------------------------------------------------------------------ the URL state

GROUPS = list(schema.OFFENSE_GROUPS)
LEVELS = ["community_area", "district", "beat"]
AREAS = {"community_area": {"citywide", "1", "77"}, "district": {"citywide", "11", "14"},
         "beat": {"citywide", "0111"}}
DEFAULT = metrics.TrendsView(anchor=date(2017, 12, 31), offense_groups=tuple(GROUPS))


def parse(params):
    return metrics.parse_trends_query(params, DEFAULT, date(2016, 1, 1), date(2017, 12, 31), GROUPS, LEVELS,
                                      AREAS.__getitem__)


def test_query_round_trip():
    view = metrics.TrendsView(date(2017, 6, 30), "ytd", "district", ("homicide", "violent"), "11", True)
    params = metrics.trends_query(view, GROUPS)
    assert params == {"anchor": "2017-06-30", "window": "ytd", "level": "district", "groups": "homicide,violent",
                      "area": "11", "harm": "1"}
    assert parse(params) == (view, [])
    assert metrics.trends_query(DEFAULT, GROUPS)["groups"] == "all"
    assert parse({"groups": "all"}) == (DEFAULT, [])
    assert parse({}) == (DEFAULT, [])
    assert parse({"window": ["28d", "wtd"]})[0].window == "wtd"  # a repeated key: the last one wins


@pytest.mark.parametrize(("params", "field", "says"), [
    ({"anchor": "2017-13-45"}, "anchor", "not a date"),
    ({"anchor": "2016-03-01"}, "anchor", "anchor dates run from 26 Jan 2017"),
    ({"anchor": "2030-01-01"}, "anchor", "to 31 Dec 2017"),
    ({"window": "month"}, "window", "use one of wtd, 28d, ytd"),
    ({"level": "ward"}, "level", "use one of"),
    ({"groups": "arson,,"}, "groups", "offense groups are"),
    ({"groups": ","}, "groups", "no offense group"),
    ({"area": "99", "level": "district"}, "area", "no such police district"),
    ({"area": "0111"}, "area", "no such community area"),
    ({"harm": "yes"}, "harm", "use 0"),
    ({"anchor": "<script>" * 20}, "anchor", "not a date"),
])
def test_invalid_query_values_fall_back_with_a_message(params, field, says):
    view, messages = parse(params)
    assert getattr(view, field if field != "groups" else "offense_groups") == getattr(
        DEFAULT, field if field != "groups" else "offense_groups")
    assert len(messages) == 1 and says in messages[0] and messages[0].startswith(f"Ignored {field}=")
    assert len(messages[0]) < 200  # a hostile value is cut short in the message


def test_partly_valid_query_keeps_the_valid_parts():
    view, messages = parse({"groups": "homicide,arson", "level": "beat", "area": "0111", "window": "x"})
    assert (view.offense_groups, view.level, view.area, view.window) == (("homicide",), "beat", "0111", "28d")
    assert len(messages) == 2


def test_area_choices_start_with_citywide():
    areas = pd.DataFrame({"area_id": ["11", "14"], "name": ["District 11", "District 14"]})
    assert metrics.area_choices(areas) == {"citywide": "Citywide", "11": "District 11", "14": "District 14"}


# ------------------------------------------------------------------------ harm weights

def test_harm_weights_file_parses_and_bad_tables_name_the_fix():
    shipped = pd.read_csv(metrics_data("harm_weights.csv"), comment="#")
    weights = metrics.parse_harm_weights(shipped)
    assert set(weights) == set(schema.OFFENSE_GROUPS) and weights["homicide"] > weights["violent"] > 0
    assert shipped["basis"].notna().all()
    with pytest.raises(DashboardError, match="no weight for drugs"):
        metrics.parse_harm_weights(shipped[shipped["offense_group"] != "drugs"])
    bad = shipped.assign(weight=shipped["weight"].astype(object))
    bad.loc[0, "weight"] = "lots"
    with pytest.raises(DashboardError, match="numbers of 0 or more") as err:
        metrics.parse_harm_weights(bad)
    assert "harm_weights.csv" in err.value.hint
    with pytest.raises(DashboardError, match="unknown group"):
        metrics.parse_harm_weights(pd.concat([shipped, pd.DataFrame({"offense_group": ["arson"], "weight": [1]})]))


def metrics_data(name):
    from importlib import resources

    return str(resources.files("dashboard").joinpath("data", name))


# ------------------------------------------------------------------------ tables from hand-built counts

FIRST, LAST, ANCHOR = date(2013, 1, 1), date(2017, 12, 31), date(2017, 12, 31)


def window_counts(rows):
    """Cubes from Store.trend_window_counts-shaped rows, given as (community_area, district, beat, group,
    {period: (incidents, of which gun offenses)}): a row without and one with the gun flag each."""
    periods = [p[0] for p in metrics.trend_periods(ANCHOR)]
    out = []
    for ca, district, beat, group, values in rows:
        for gun in (0, 1):
            row = {"community_area": ca, "district": district, "beat": beat, "offense_group": group, "gun": gun}
            for p in periods:
                n, guns = values.get(p, (0, 0))
                row[p] = guns if gun else n - guns
            out.append(row)
    return metrics.window_cubes(pd.DataFrame(out), periods)


def weekly_counts(series):
    """A Store.weekly_area_counts-shaped frame from {(level, area_id, group): [(monday, n, guns), ...]}."""
    rows = [{"level": level, "area_id": area, "offense_group": group, "week": pd.Timestamp(monday), "count": n,
             "gun": guns} for (level, area, group), weeks in series.items() for monday, n, guns in weeks]
    return metrics.weekly_cubes(pd.DataFrame(rows))


COUNTS = window_counts([
    ("1", "11", "1111", "violent", {"p_28d_0": (30, 4), "p_28d_1": (20, 2), "p_28d_2": (24, 0),
                                    "p_28d_3": (22, 0), "p_ytd_0": (300, 20), "p_ytd_1": (280, 10)}),
    ("1", "11", "1112", "homicide", {"p_28d_0": (2, 2), "p_28d_1": (1, 1)}),
    ("2", "14", "1411", "property", {"p_28d_0": (50, 0), "p_28d_1": (70, 0), "p_wtd_0": (9, 0)}),
    (None, None, None, "property", {"p_28d_0": (5, 0), "p_28d_1": (5, 0)}),  # no area in the record
])
WEEKS = metrics.history_weeks(ANCHOR, FIRST, LAST)
HISTORY = weekly_counts({
    ("district", "11", "violent"): [(w, 10 if i % 2 else 20, 1) for i, w in enumerate(WEEKS)],
    ("citywide", None, "violent"): [(w, 10 if i % 2 else 20, 1) for i, w in enumerate(WEEKS)],
    ("citywide", None, "property"): [(w, 15, 0) for w in WEEKS],
    ("district", "14", "property"): [(w, 15, 0) for w in WEEKS],
})


def test_trend_rows_by_hand_citywide_and_one_district():
    rows = metrics.trend_rows(COUNTS, HISTORY, ANCHOR, FIRST, LAST, "district", "citywide", ["violent", "property"])
    d28 = rows[rows["window"] == "28d"].set_index("key")
    assert d28.loc["total", ["current", "prior"]].tolist() == [85, 95]  # 30 + 50 + 5 unplaced; 20 + 70 + 5
    assert d28.loc["violent", ["current", "prior", "difference"]].tolist() == [30, 20, 10]
    assert d28.loc["outcome_homicide", ["current", "prior"]].tolist() == [2, 1]  # shown whatever is selected
    assert d28.loc["outcome_guns", ["current", "prior"]].tolist() == [6, 3]
    assert d28.loc["violent", "avg_earlier"] == pytest.approx((20 + 24 + 22) / 3)  # 3 earlier years in the data
    assert d28.loc["violent", "earlier_years"] == 3 and d28.loc["violent", "comparable"]
    # weekly 20, 10, 20, ...: squared differences 100 each / 2 = 50 over a mean of 15
    assert d28.loc["violent", "phi"] == pytest.approx(50 / 15)
    assert d28.loc["total", "phi"] == pytest.approx(50 / 30)  # property adds 15 a week, no variation
    assert (d28.loc["violent", "family"], d28.loc["total", "family"]) == ("28d:groups", "28d:total")
    assert d28.loc["total", "alpha"] == 0.01 and d28.loc["violent", "alpha"] == 0.05
    district = metrics.trend_rows(COUNTS, HISTORY, ANCHOR, FIRST, LAST, "district", "14", ["property"])
    assert district.set_index(["window", "key"]).loc[("28d", "total"), "current"] == 50
    assert district.set_index(["window", "key"]).loc[("wtd", "total"), "current"] == 9


def test_trend_rows_harm_weights_sum_weight_times_count():
    weights = dict.fromkeys(schema.OFFENSE_GROUPS, 0.0) | {"violent": 100.0, "property": 10.0}
    rows = metrics.trend_rows(COUNTS, HISTORY, ANCHOR, FIRST, LAST, "district", "citywide",
                              ["violent", "property"], weights)
    total = rows[(rows["window"] == "28d") & (rows["key"] == "total")].iloc[0]
    assert (total["current"], total["var_current"]) == (30 * 100 + 55 * 10, 30 * 100**2 + 55 * 10**2)


def test_earlier_year_average_needs_two_years_of_data():
    rows = metrics.trend_rows(COUNTS, HISTORY, ANCHOR, date(2016, 1, 1), LAST, "district", "citywide", ["violent"])
    d28 = rows[(rows["window"] == "28d") & (rows["key"] == "violent")].iloc[0]
    assert np.isnan(d28["avg_earlier"]) and d28["earlier_years"] == 1
    late = metrics.trend_rows(COUNTS, HISTORY, ANCHOR, date(2016, 7, 1), LAST, "district", "citywide", ["violent"])
    ytd = late[(late["window"] == "ytd") & (late["key"] == "total")].iloc[0]
    assert not ytd["comparable"]  # last year's year-to-date starts before the data


def test_area_rows_cover_every_area_with_hand_counts():
    areas = pd.DataFrame({"area_id": ["11", "14", "25"], "name": ["D11", "D14", "D25"]})
    out = metrics.area_trend_rows(COUNTS, HISTORY, ANCHOR, "28d", FIRST, LAST, "district", ["violent", "property"],
                                  areas)
    assert out[["area_id", "current", "prior"]].values.tolist() == [["11", 30, 20], ["14", 50, 70], ["25", 0, 0]]
    assert out["phi"].tolist() == [pytest.approx(50 / 15), 1.0, 1.0]
    assert set(out["family"]) == {"28d:areas"} and (out["history_weeks"] == 52).all()
    assessed = stats.assess_changes(out)
    summary = metrics.changed_summary(assessed, "Police district", "28 days")
    assert summary.startswith("No police district changed beyond normal variation") and "2 police districts" in summary
    assert metrics.sort_changes(assessed)["area_id"].tolist()[-1] == "25"  # untestable last


def test_weekly_trend_expected_range_from_last_year():
    weeks = metrics.chart_weeks(ANCHOR, FIRST, LAST)
    cubes = weekly_counts({("citywide", None, "violent"): [(w - pd.Timedelta(days=364), 100, 0) for w in weeks]
                           + [(w, 120, 0) for w in weeks]})
    trend = metrics.weekly_trend(cubes, ANCHOR, date(2016, 1, 1), LAST, "district", "citywide", ["violent"])
    assert len(trend) == 52 and (trend["count"] == 120).all() and (trend["last_year"] == 100).all()
    assert trend["phi"].iloc[0] == 1.0  # a flat history: no extra variation
    spread = 1.96 * np.sqrt(1.0 * 100 * 2)  # one earlier year: +/- 1.96 sqrt(2 phi V)
    assert trend["high"].iloc[0] == pytest.approx(100 + spread) and trend["low"].iloc[0] == pytest.approx(100 - spread)
    assert "last year's count" in metrics.band_note(trend)
    assert trend["rolling_mean"].iloc[-1] == 120


def test_hour_grid_is_complete_and_exports_are_tidy():
    grid = metrics.hour_dow_grid(pd.DataFrame({"dow": [1, 7], "hour": [0, 23], "count": [5, 2]}))
    assert len(grid) == 168 and grid["count"].sum() == 7 and grid.iloc[-1].tolist() == [7, 23, 2]
    assert metrics.hour_dow_grid(pd.DataFrame({"dow": [], "hour": [], "count": []}))["count"].sum() == 0
    trend = pd.DataFrame({"week": pd.to_datetime(["2017-12-18", "2017-12-25"]), "count": [3.0, 4.0]})
    events = metrics.trend_events(pd.DataFrame({"week": [date(2017, 12, 25)], "events": [2]}), trend)
    assert events["events"].tolist() == [0, 2]
    assert metrics.weekly_trend_table(trend, events)["outreach_events"].tolist() == [0, 2]
    assert metrics.describe_groups(GROUPS) == "all offense groups"
    assert metrics.describe_groups(["homicide"]) == "Homicide"


# ------------------------------------------------------------------------------ outreach (issue 5)


def _areas(*ids):
    return pd.DataFrame({"area_id": list(ids), "name": [f"Area {i}" for i in ids]})


def test_dose_table_keeps_not_recorded_apart_from_none_and_rates_need_population():
    dose = pd.DataFrame({"beat": ["1", "2"], "events": [4, 1], "rows": [4, 1], "attendees": [np.nan, np.nan],
                         "officer_hours": [np.nan, np.nan], "contacts": [10.0, np.nan], "referrals": [np.nan, np.nan],
                         "reach": [np.nan, np.nan]})
    pop = pd.DataFrame({"area_id": ["1", "3"], "population": [2000, 500]})
    t = metrics.dose_table(_areas("1", "2", "3"), dose, pop, "beat").set_index("area_id")
    assert t.loc["1", "events"] == 4 and t.loc["3", "events"] == 0
    assert np.isnan(t.loc["2", "contacts"]) and np.isnan(t.loc["3", "attendees"])
    assert t.loc["1", "events_per_1000"] == pytest.approx(2.0)
    assert t.loc["1", "contacts_per_1000"] == pytest.approx(5.0)
    assert np.isnan(t.loc["2", "events_per_1000"]) and t.loc["3", "events_per_1000"] == 0
    assert metrics.recorded_measures(dose) == (("events", "contacts"),
                                               ("attendees", "officer_hours", "referrals", "reach"))
    assert metrics.areas_reached(t) == 2


def test_rank_correlation_is_scipy_spearman_with_a_fisher_interval():
    from scipy import stats as sps

    rng = np.random.default_rng(0)
    x = rng.poisson(20, 60)
    y = x + rng.poisson(10, 60)
    r = metrics.rank_correlation(x, y)
    ref = sps.spearmanr(x, y)
    assert r.rho == pytest.approx(ref.statistic, abs=1e-12) and r.p_value == pytest.approx(ref.pvalue, abs=1e-12)
    se = np.sqrt((1 + r.rho ** 2 / 2) / 57)
    assert r.low == pytest.approx(np.tanh(np.arctanh(r.rho) - sps.norm.ppf(0.975) * se), abs=1e-12)
    assert r.low < r.rho < r.high
    assert "positive" in r.sentence("harm", "events")
    assert np.isnan(metrics.rank_correlation([1, 1, 1, 1, 1], [1, 2, 3, 4, 5]).rho)


def test_coverage_gap_flags_high_harm_low_outreach_areas():
    ids = [str(i) for i in range(8)]
    harm = pd.DataFrame({"beat": ids, "count": [100, 90, 80, 70, 60, 50, 40, 30]})
    dose = pd.DataFrame({"beat": ids, "events": [0, 9, 8, 7, 6, 5, 4, 1]})
    gap, corr = metrics.coverage_gap(_areas(*ids), harm, dose, "beat")
    assert list(gap["area_id"][:2]) == ["0", "1"]
    assert list(metrics.gap_areas(gap)["area_id"]) == ["0"]  # top quarter harm (0, 1), bottom quarter events (0, 7)
    assert gap.set_index("area_id").loc["0", "harm_rank"] == 1
    assert corr.n == 8


def test_gini_and_concentration_by_hand():
    assert metrics.gini([5, 5, 5, 5]) == pytest.approx(0.0)
    assert metrics.gini([0, 0, 0, 10]) == pytest.approx(0.75)
    by_unit = pd.DataFrame({"event_type": ["a", "a", "a", "a", "b"], "unit": ["u1", "u2", "u3", "u4", "u1"],
                            "events": [6, 2, 1, 1, 3]})
    c = metrics.concentration(by_unit, units=["u1", "u2", "u3", "u4", "u5"], labels={"a": "A"}).set_index("event_type")
    assert c.loc["a", "label"] == "A" and c.loc["a", "units_running"] == 4 and c.loc["a", "units_total"] == 5
    assert c.loc["a", "top3_share"] == pytest.approx(0.9)
    assert c.loc["a", "hhi"] == pytest.approx(0.36 + 0.04 + 0.01 + 0.01)
    assert c.loc["b", "hhi"] == pytest.approx(1.0) and c.loc["b", "gini"] == pytest.approx(0.8)


def test_adoption_breadth_counts_active_places_per_month():
    months = pd.to_datetime(["2017-01-01", "2017-01-01", "2017-02-01"])
    frames = {
        "districts": pd.DataFrame({"event_type": "x", "month": months, "district": ["1", "2", "1"],
                                   "events": [3, 1, 2]}),
        "beats": pd.DataFrame({"event_type": "x", "month": months, "beat": ["0111", None, "0111"],
                               "events": [3, 1, 0]}),
    }
    b = metrics.adoption_breadth(frames)
    got = {(r.measure, r.month.month): r.active for r in b.itertuples()}
    assert got == {("districts", 1): 2, ("districts", 2): 1, ("beats", 1): 1}


def test_program_footprint_says_which_programs_have_no_data():
    register = pd.DataFrame({"program": ["P", "Q"], "event_type": ["a", "b"], "label": ["A", "B"],
                             "format": ["one_off", "campaign"], "place_level": ["beat", "citywide"]})
    by_type = pd.DataFrame({"event_type": ["a", "z"], "events": [5, 2], "rows": [6, 2], "attendees": [np.nan, 3.0],
                            "officer_hours": np.nan, "contacts": np.nan, "referrals": np.nan, "reach": np.nan})
    months = pd.DataFrame({"event_type": ["a", "a", "z"], "month": pd.to_datetime(["2016-01-01", "2017-03-01",
                                                                                     "2017-01-01"]), "events": [1, 4, 2]})
    places = {"districts": pd.DataFrame({"event_type": ["a", "a"], "district": ["1", "2"], "events": [2, 3]})}
    fp = metrics.program_footprint(register, by_type, months, places).set_index("event_type")
    assert fp.loc["a", "status"] == "loaded" and fp.loc["a", "districts"] == 2
    assert fp.loc["b", "status"] == "no data loaded" and fp.loc["b", "events"] == 0
    assert fp.loc["z", "status"] == "not in the register" and fp.loc["z", "recorded"] == "events, attendees"
    assert fp.loc["a", "first_month"] == pd.Timestamp("2016-01-01")
    items = metrics.footprint_items(fp.reset_index(), "a")
    assert items["Events"] == "5" and items["From"] == "Jan 2016" and items["Districts running it"] == "2"
    assert metrics.footprint_items(fp.reset_index(), "nope") == {"Data": "no data loaded"}
    assert metrics.program_row(register, "b")["format"] == "campaign"


def test_impact_start_default_leaves_a_year_before():
    assert metrics.impact_start_default(date(2016, 1, 1), date(2017, 12, 31)) == date(2017, 1, 2)
    short = metrics.impact_start_default(date(2017, 3, 1), date(2017, 9, 1))
    assert short.weekday() == 0 and date(2017, 3, 1) < short < date(2017, 9, 1)


def daily_counts(rows):
    """A Store.daily_area_counts-shaped frame from (level, area_id, group, day, n, guns) rows."""
    return pd.DataFrame([{"level": lv, "area_id": a, "offense_group": g, "day": pd.Timestamp(d), "count": n,
                          "gun": guns} for lv, a, g, d, n, guns in rows])


def test_day_cubes_sum_any_span_by_hand():
    days = metrics.day_cubes(daily_counts([
        ("beat", "1111", "violent", "2017-01-02", 3, 1),
        ("beat", "1111", "violent", "2017-01-08", 2, 0),  # Sunday: still the week of 2 January
        ("beat", "1112", "property", "2017-01-09", 5, 0),
        ("beat", None, "property", "2017-01-09", 7, 0),  # no beat in the record: citywide only
        ("citywide", None, "violent", "2017-01-02", 3, 1),
        ("citywide", None, "violent", "2017-01-08", 2, 0),
        ("citywide", None, "property", "2017-01-09", 12, 0),
        ("citywide", None, "not a group", "2017-01-09", 99, 0),  # unknown groups are left out
    ]))
    assert list(days["beat"].areas) == ["1111", "1112"] and days["district"].areas.empty
    assert days["beat"].first == date(2017, 1, 2)
    periods = [("p_a", date(2016, 12, 1), date(2017, 1, 2)), ("p_b", date(2017, 1, 3), date(2017, 1, 8)),
               ("p_c", date(2017, 1, 2), date(2017, 3, 1)), ("p_d", date(2017, 2, 1), date(2017, 2, 28))]
    cubes = metrics.window_cubes_from_days(days, periods)
    g = list(metrics.schema.OFFENSE_GROUPS).index
    counts, guns = cubes["beat"].select(["p_a", "p_b", "p_c", "p_d"], "1111")
    assert counts[g("violent")].tolist() == [3, 2, 5, 0] and guns[g("violent")].tolist() == [1, 0, 1, 0]
    city, _ = cubes["citywide"].select(["p_c"], "citywide")
    assert city[:, 0].sum() == 17
    weeks = metrics.weekly_cubes_from_days(days)
    assert list(weeks["beat"].slots) == [pd.Timestamp("2017-01-02"), pd.Timestamp("2017-01-09")]
    by_week, _ = weeks["beat"].select(weeks["beat"].slots)
    assert by_week.sum(axis=1).tolist() == [[5, 0], [0, 5]]


def test_day_cubes_keep_totals_exact_past_the_int32_range():
    big = 2**31 - 10  # a total an int32 running sum would wrap
    days = metrics.day_cubes(daily_counts([
        ("beat", "1111", "violent", "2017-01-02", big, 0),
        ("beat", "1111", "violent", "2017-01-03", 20, 1),
        ("citywide", None, "violent", "2017-01-02", 5, 0),
    ]))
    assert days["beat"].counts.dtype == np.int64 and days["citywide"].counts.dtype == np.int32
    g = list(metrics.schema.OFFENSE_GROUPS).index("violent")
    assert days["beat"].counts[0, g].tolist() == [0, big, big + 20]
    assert days["beat"].guns[0, g].tolist() == [0, 0, 1] and days["beat"].guns.dtype == np.int32
    assert not days["beat"].counts.flags.writeable
