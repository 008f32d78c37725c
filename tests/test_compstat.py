"""compstat: CompStat windows, URL state, harm weights and the cubes' tables on hand-built counts."""

from __future__ import annotations

from datetime import date
from importlib import resources

import numpy as np
import pandas as pd
import pytest

from dashboard import compstat, periods, schema, stats
from dashboard.errors import DashboardError


def spans(anchor):
    return {k: (w.start, w.end, w.days, w.prior.start, w.prior.end, w.prior.days)
            for k, w in compstat.trend_windows(anchor).items()}


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
    wtd = compstat.trend_window("wtd", date(2017, 6, 14))  # a Wednesday
    assert (wtd.start, wtd.end, wtd.days) == (date(2017, 6, 12), date(2017, 6, 14), 3)
    assert [x.weekday() for x in (wtd.prior.start, wtd.prior.end)] == [0, 2]  # Monday to Wednesday again
    assert wtd.earlier(2).start == date(2015, 6, 15)
    ytd = compstat.trend_window("ytd", date(2017, 12, 31))
    assert (ytd.earlier(3).start, ytd.earlier(3).end) == (date(2014, 1, 1), date(2014, 12, 31))
    with pytest.raises(ValueError):
        compstat.trend_window("month", date(2017, 1, 1))


def test_anchor_range_history_and_chart_weeks():
    first, last = date(2016, 1, 1), date(2017, 12, 31)
    assert compstat.earliest_anchor(first, last) == date(2017, 1, 26)  # 28-day window a year back fits
    assert compstat.earliest_anchor(date(2017, 3, 1), last) is None  # less than a year and four weeks
    weeks = compstat.history_weeks(date(2017, 12, 31), first, last)  # the 52 weeks before the 28 days
    assert (len(weeks), weeks[0], weeks[-1]) == (52, pd.Timestamp("2016-12-05"), pd.Timestamp("2017-11-27"))
    early = compstat.history_weeks(date(2017, 1, 26), first, last)  # only full weeks inside the data
    assert (len(early), early[0], early[-1]) == (51, pd.Timestamp("2016-01-04"), pd.Timestamp("2016-12-19"))
    chart = compstat.chart_weeks(date(2017, 6, 14), first, last)  # the anchor's unfinished week is left out
    assert (len(chart), chart[-1]) == (52, pd.Timestamp("2017-06-05"))
    assert compstat.chart_span(date(2017, 6, 14), first, last) == (date(2016, 6, 13), date(2017, 6, 11))
    assert len(compstat.chart_weeks(date(2016, 3, 1), first, last)) == 8  # clipped to the data


def test_trend_periods_count_only_covered_earlier_years():
    names = [p[0] for p in compstat.trend_periods(date(2017, 12, 31), date(2016, 1, 1), date(2017, 12, 31))]
    assert names == ["p_wtd_0", "p_wtd_1", "p_28d_0", "p_28d_1", "p_ytd_0", "p_ytd_1"]
    assert len(compstat.trend_periods(date(2017, 12, 31))) == 12  # no bounds given: all years
    assert all(name.isidentifier() for name, _, _ in compstat.trend_periods(date(2017, 12, 31)))


# ------------------------------------------------------------------------ the URL state

GROUPS = list(schema.OFFENSE_GROUPS)
LEVELS = ["community_area", "district", "beat"]
AREAS = {"community_area": {"citywide", "1", "77"}, "district": {"citywide", "11", "14"},
         "beat": {"citywide", "0111"}}
DEFAULT = compstat.TrendsView(anchor=date(2017, 12, 31), offense_groups=tuple(GROUPS))


def parse(params):
    return compstat.parse_trends_query(params, DEFAULT, date(2016, 1, 1), date(2017, 12, 31), GROUPS, LEVELS,
                                      AREAS.__getitem__)


def test_query_round_trip():
    view = compstat.TrendsView(date(2017, 6, 30), "ytd", "district", ("homicide", "violent"), "11", True)
    params = compstat.trends_query(view, GROUPS)
    assert params == {"anchor": "2017-06-30", "window": "ytd", "level": "district", "groups": "homicide,violent",
                      "area": "11", "harm": "1"}
    assert parse(params) == (view, [])
    assert compstat.trends_query(DEFAULT, GROUPS)["groups"] == "all"
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
    assert compstat.area_choices(areas) == {"citywide": "Citywide", "11": "District 11", "14": "District 14"}


# ------------------------------------------------------------------------ harm weights

def test_harm_weights_file_parses_and_bad_tables_name_the_fix():
    shipped = pd.read_csv(package_data("harm_weights.csv"), comment="#")
    weights = compstat.parse_harm_weights(shipped)
    assert set(weights) == set(schema.OFFENSE_GROUPS) and weights["homicide"] > weights["violent"] > 0
    assert shipped["basis"].notna().all()
    with pytest.raises(DashboardError, match="no weight for drugs"):
        compstat.parse_harm_weights(shipped[shipped["offense_group"] != "drugs"])
    bad = shipped.assign(weight=shipped["weight"].astype(object))
    bad.loc[0, "weight"] = "lots"
    with pytest.raises(DashboardError, match="numbers of 0 or more") as err:
        compstat.parse_harm_weights(bad)
    assert "harm_weights.csv" in err.value.hint
    with pytest.raises(DashboardError, match="unknown group"):
        compstat.parse_harm_weights(pd.concat([shipped, pd.DataFrame({"offense_group": ["arson"], "weight": [1]})]))


def package_data(name):

    return str(resources.files("dashboard").joinpath("data", name))


# ------------------------------------------------------------------------ tables from hand-built counts

FIRST, LAST, ANCHOR = date(2013, 1, 1), date(2017, 12, 31), date(2017, 12, 31)


def window_counts(rows):
    """Cubes from Store.trend_window_counts-shaped rows, given as (community_area, district, beat, group,
    {period: (incidents, of which gun offenses)}): a row without and one with the gun flag each."""
    periods = [p[0] for p in compstat.trend_periods(ANCHOR)]
    out = []
    for ca, district, beat, group, values in rows:
        for gun in (0, 1):
            row = {"community_area": ca, "district": district, "beat": beat, "offense_group": group, "gun": gun}
            for p in periods:
                n, guns = values.get(p, (0, 0))
                row[p] = guns if gun else n - guns
            out.append(row)
    return compstat.window_cubes(pd.DataFrame(out), periods)


def weekly_counts(series):
    """A Store.weekly_area_counts-shaped frame from {(level, area_id, group): [(monday, n, guns), ...]}."""
    rows = [{"level": level, "area_id": area, "offense_group": group, "week": pd.Timestamp(monday), "count": n,
             "gun": guns} for (level, area, group), weeks in series.items() for monday, n, guns in weeks]
    return compstat.weekly_cubes(pd.DataFrame(rows))


COUNTS = window_counts([
    ("1", "11", "1111", "violent", {"p_28d_0": (30, 4), "p_28d_1": (20, 2), "p_28d_2": (24, 0),
                                    "p_28d_3": (22, 0), "p_ytd_0": (300, 20), "p_ytd_1": (280, 10)}),
    ("1", "11", "1112", "homicide", {"p_28d_0": (2, 2), "p_28d_1": (1, 1)}),
    ("2", "14", "1411", "property", {"p_28d_0": (50, 0), "p_28d_1": (70, 0), "p_wtd_0": (9, 0)}),
    (None, None, None, "property", {"p_28d_0": (5, 0), "p_28d_1": (5, 0)}),  # no area in the record
])
WEEKS = compstat.history_weeks(ANCHOR, FIRST, LAST)
HISTORY = weekly_counts({
    ("district", "11", "violent"): [(w, 10 if i % 2 else 20, 1) for i, w in enumerate(WEEKS)],
    ("citywide", None, "violent"): [(w, 10 if i % 2 else 20, 1) for i, w in enumerate(WEEKS)],
    ("citywide", None, "property"): [(w, 15, 0) for w in WEEKS],
    ("district", "14", "property"): [(w, 15, 0) for w in WEEKS],
})


def test_trend_rows_by_hand_citywide_and_one_district():
    rows = compstat.trend_rows(COUNTS, HISTORY, ANCHOR, FIRST, LAST, "district", "citywide", ["violent", "property"])
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
    district = compstat.trend_rows(COUNTS, HISTORY, ANCHOR, FIRST, LAST, "district", "14", ["property"])
    assert district.set_index(["window", "key"]).loc[("28d", "total"), "current"] == 50
    assert district.set_index(["window", "key"]).loc[("wtd", "total"), "current"] == 9


def test_trend_rows_harm_weights_sum_weight_times_count():
    weights = dict.fromkeys(schema.OFFENSE_GROUPS, 0.0) | {"violent": 100.0, "property": 10.0}
    rows = compstat.trend_rows(COUNTS, HISTORY, ANCHOR, FIRST, LAST, "district", "citywide",
                              ["violent", "property"], weights)
    total = rows[(rows["window"] == "28d") & (rows["key"] == "total")].iloc[0]
    assert (total["current"], total["var_current"]) == (30 * 100 + 55 * 10, 30 * 100**2 + 55 * 10**2)


def test_earlier_year_average_needs_two_years_of_data():
    rows = compstat.trend_rows(COUNTS, HISTORY, ANCHOR, date(2016, 1, 1), LAST, "district", "citywide", ["violent"])
    d28 = rows[(rows["window"] == "28d") & (rows["key"] == "violent")].iloc[0]
    assert np.isnan(d28["avg_earlier"]) and d28["earlier_years"] == 1
    late = compstat.trend_rows(COUNTS, HISTORY, ANCHOR, date(2016, 7, 1), LAST, "district", "citywide", ["violent"])
    ytd = late[(late["window"] == "ytd") & (late["key"] == "total")].iloc[0]
    assert not ytd["comparable"]  # last year's year-to-date starts before the data


def test_area_rows_cover_every_area_with_hand_counts():
    areas = pd.DataFrame({"area_id": ["11", "14", "25"], "name": ["D11", "D14", "D25"]})
    out = compstat.area_trend_rows(COUNTS, HISTORY, ANCHOR, "28d", FIRST, LAST, "district", ["violent", "property"],
                                  areas)
    assert out[["area_id", "current", "prior"]].values.tolist() == [["11", 30, 20], ["14", 50, 70], ["25", 0, 0]]
    assert out["phi"].tolist() == [pytest.approx(50 / 15), 1.0, 1.0]
    assert set(out["family"]) == {"28d:areas"} and (out["history_weeks"] == 52).all()
    assessed = stats.assess_changes(out)
    summary = compstat.changed_summary(assessed, "Police district", "28 days")
    assert summary.startswith("No police district changed beyond normal variation") and "2 police districts" in summary
    assert compstat.sort_changes(assessed)["area_id"].tolist()[-1] == "25"  # untestable last


def test_weekly_trend_expected_range_from_last_year():
    weeks = compstat.chart_weeks(ANCHOR, FIRST, LAST)
    cubes = weekly_counts({("citywide", None, "violent"): [(w - pd.Timedelta(days=364), 100, 0) for w in weeks]
                           + [(w, 120, 0) for w in weeks]})
    trend = compstat.weekly_trend(cubes, ANCHOR, date(2016, 1, 1), LAST, "district", "citywide", ["violent"])
    assert len(trend) == 52 and (trend["count"] == 120).all() and (trend["last_year"] == 100).all()
    assert trend["phi"].iloc[0] == 1.0  # a flat history: no extra variation
    spread = 1.96 * np.sqrt(1.0 * 100 * 2)  # one earlier year: +/- 1.96 sqrt(2 phi V)
    assert trend["high"].iloc[0] == pytest.approx(100 + spread) and trend["low"].iloc[0] == pytest.approx(100 - spread)
    assert "last year's count" in compstat.band_note(trend)
    assert trend["rolling_mean"].iloc[-1] == 120


def test_hour_grid_is_complete_and_exports_are_tidy():
    grid = compstat.hour_dow_grid(pd.DataFrame({"dow": [1, 7], "hour": [0, 23], "count": [5, 2]}))
    assert len(grid) == 168 and grid["count"].sum() == 7 and grid.iloc[-1].tolist() == [7, 23, 2]
    assert compstat.hour_dow_grid(pd.DataFrame({"dow": [], "hour": [], "count": []}))["count"].sum() == 0
    trend = pd.DataFrame({"week": pd.to_datetime(["2017-12-18", "2017-12-25"]), "count": [3.0, 4.0]})
    events = compstat.trend_events(pd.DataFrame({"week": [date(2017, 12, 25)], "events": [2]}), trend)
    assert events["events"].tolist() == [0, 2]
    assert compstat.weekly_trend_table(trend, events)["outreach_events"].tolist() == [0, 2]
    assert periods.describe_groups(GROUPS) == "all offense groups"
    assert periods.describe_groups(["homicide"]) == "Homicide"


# ------------------------------------------------------------------------------ outreach (issue 5)


def daily_counts(rows):
    """A Store.daily_area_counts-shaped frame from (level, area_id, group, day, n, guns) rows."""
    return pd.DataFrame([{"level": lv, "area_id": a, "offense_group": g, "day": pd.Timestamp(d), "count": n,
                          "gun": guns} for lv, a, g, d, n, guns in rows])


def test_day_cubes_sum_any_span_by_hand():
    days = compstat.day_cubes(daily_counts([
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
    cubes = compstat.window_cubes_from_days(days, periods)
    g = list(schema.OFFENSE_GROUPS).index
    counts, guns = cubes["beat"].select(["p_a", "p_b", "p_c", "p_d"], "1111")
    assert counts[g("violent")].tolist() == [3, 2, 5, 0] and guns[g("violent")].tolist() == [1, 0, 1, 0]
    city, _ = cubes["citywide"].select(["p_c"], "citywide")
    assert city[:, 0].sum() == 17
    weeks = compstat.weekly_cubes_from_days(days)
    assert list(weeks["beat"].slots) == [pd.Timestamp("2017-01-02"), pd.Timestamp("2017-01-09")]
    by_week, _ = weeks["beat"].select(weeks["beat"].slots)
    assert by_week.sum(axis=1).tolist() == [[5, 0], [0, 5]]


def test_day_cubes_keep_totals_exact_past_the_int32_range():
    big = 2**31 - 10  # a total an int32 running sum would wrap
    days = compstat.day_cubes(daily_counts([
        ("beat", "1111", "violent", "2017-01-02", big, 0),
        ("beat", "1111", "violent", "2017-01-03", 20, 1),
        ("citywide", None, "violent", "2017-01-02", 5, 0),
    ]))
    assert days["beat"].counts.dtype == np.int64 and days["citywide"].counts.dtype == np.int32
    g = list(schema.OFFENSE_GROUPS).index("violent")
    assert days["beat"].counts[0, g].tolist() == [0, big, big + 20]
    assert days["beat"].guns[0, g].tolist() == [0, 0, 1] and days["beat"].guns.dtype == np.int32
    assert not days["beat"].counts.flags.writeable
