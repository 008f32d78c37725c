"""neighborhood: the map's area table (rates only where population exists, outreach dose), verdicts
from stats.assess_changes, the public-safe table (nothing computed from a withheld count survives),
measures, ranks and one area's profile; plus the real sample cross-checked against pandas."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from dashboard import neighborhood, periods, privacy, stats
from tests.conftest import REPO

AREAS = pd.DataFrame({"area_id": ["1", "2", "3", "4"], "name": ["North", "<b>East</b>", "South", "West"]})
CURRENT = pd.DataFrame({"community_area": ["1", "2", "3"], "count": [120, 3, 40]})
PRIOR = pd.DataFrame({"community_area": ["1", "2", "3", "4"], "count": [80, 2, 41, 9]})
POPULATION = pd.DataFrame({"area_id": ["1", "2", "3"], "population": [10_000, 2_000, 0]})
OUTREACH = pd.DataFrame({"community_area": ["1", "3"], "events": [4, 1], "officer_hours": [np.nan, np.nan]})


def _table(days=365, prior_days=365):
    table = neighborhood.area_numbers(AREAS, CURRENT, PRIOR, POPULATION, OUTREACH, "community_area")
    return neighborhood.with_verdicts(table, pd.Series(1.0, index=AREAS["area_id"]), days, prior_days)


def test_area_numbers_rates_only_where_population_exists():
    table = neighborhood.area_numbers(AREAS, CURRENT, PRIOR, POPULATION, OUTREACH, "community_area")
    by_id = table.set_index("area_id")
    assert by_id.loc["1", "rate_per_1000"] == pytest.approx(12.0)
    assert by_id.loc["1", "events_per_1000"] == pytest.approx(0.4)
    assert np.isnan(by_id.loc["3", "rate_per_1000"])  # population 0: no rate, never a division by 0
    assert np.isnan(by_id.loc["4", "rate_per_1000"]) and by_id.loc["4", "count"] == 0  # no population row
    assert by_id["events"].tolist() == [4, 0, 1, 0]


def test_verdicts_are_assess_changes_with_bh_across_areas():
    table = _table()
    frame = pd.DataFrame({"current": [120.0, 3, 40, 0], "prior": [80.0, 2, 41, 9], "days": 365.0,
                          "prior_days": 365.0, "phi": 1.0, "family": "areas", "alpha": stats.TABLE_ALPHA})
    expected = stats.assess_changes(frame)
    assert table["q"].to_numpy() == pytest.approx(expected["q"].to_numpy(), nan_ok=True, abs=1e-12)
    assert table["changed"].tolist() == expected["changed"].tolist()
    assert table.loc[0, "changed"]  # 120 vs 80 over a year is unlikely to be chance
    assert "Up 50%" in table.loc[0, "verdict"]


def test_pct_change_is_per_day_like_the_verdict():
    table = _table(days=365, prior_days=366)  # the earlier window holds 29 February
    assert table.loc[0, "pct_change"] == pytest.approx((120 / 365) / (80 / 366) * 100 - 100)


def test_dispersion_uses_full_weeks_only():
    weeks = pd.date_range("2017-01-02", periods=10, freq="7D")
    weekly = pd.DataFrame({"week": list(weeks) * 2, "community_area": ["1"] * 10 + ["2"] * 10,
                           "count": [10] * 10 + [0, 20] * 5})
    phi = neighborhood.dispersion(weekly, "community_area", ["1", "2", "3"], date(2017, 1, 1), date(2017, 3, 12))
    assert phi["1"] == 1.0  # a flat series: no extra variation (floored at 1)
    assert phi["2"] == pytest.approx(stats.weekly_dispersion(np.array([[0, 20] * 5], dtype=float))[0])
    assert phi["3"] == 1.0


def test_full_view_publishes_everything():
    table, withheld = neighborhood.publish(_table(), "community_area", public=False, k=5)
    assert table["count_text"].tolist() == ["120", "3", "40", "0"]
    assert not table["hidden"].any()
    assert "Full view" in withheld.sentence()


def test_public_view_hides_small_counts_and_everything_derived_from_them():
    table, withheld = neighborhood.publish(_table(), "community_area", public=True, k=5, excluded=("STALKING",))
    by_id = table.set_index("area_id")
    assert by_id.loc["2", "count_text"] == "fewer than 5" and np.isnan(by_id.loc["2", "count"])
    assert by_id.loc["4", "count_text"] == "fewer than 5"  # 0 is below k too
    assert by_id.loc["2", "prior_text"] == "fewer than 5"
    # two small cells under a shown total: no complement needed; nothing derived from them survives
    for area in ("2", "4"):
        assert np.isnan(by_id.loc[area, "pct_change"]) and np.isnan(by_id.loc[area, "q"])
        assert by_id.loc[area, "verdict_text"].startswith("withheld")
        assert by_id.loc[area, "pct_text"] == "withheld" and not by_id.loc[area, "changed"]
    assert by_id.loc["1", "count_text"] == "120" and by_id.loc["1", "rate_text"] == "12.0"
    assert by_id.loc["3", "rate_text"] == "no population"
    assert withheld.fewer == 2 and "stalking" in withheld.sentence()
    assert table.attrs["city"]["count"] == 163


def test_public_view_withholds_a_complement_when_one_count_is_hidden():
    current = pd.DataFrame({"community_area": ["1", "2", "3", "4"], "count": [120, 3, 40, 30]})
    table = neighborhood.area_numbers(AREAS, current, PRIOR, POPULATION, OUTREACH, "community_area")
    table = neighborhood.with_verdicts(table, pd.Series(1.0, index=AREAS["area_id"]), 365, 365)
    public, withheld = neighborhood.publish(table, "community_area", public=True, k=5)
    assert public["count_text"].tolist() == ["120", "fewer than 5", "40", "withheld"]
    assert withheld.withheld == 1
    assert np.isnan(public.loc[3, "rate_per_1000"]) and public.loc[3, "rate_text"] == "no population"


def test_nested_beats_and_their_districts_are_suppressed_together():
    beats = pd.DataFrame({"area_id": ["0111", "0112", "0211", "0212"], "name": ["a", "b", "c", "d"]})
    nesting = pd.DataFrame({"area_id": ["0111", "0112", "0211", "0212"], "parent_id": ["1", "1", "2", "2"]})
    counts = pd.DataFrame({"beat": ["0111", "0112", "0211", "0212"], "count": [4, 4, 30, 40]})
    empty = pd.DataFrame({"area_id": pd.Series(dtype=str), "population": pd.Series(dtype=float)})
    no_events = pd.DataFrame({"beat": pd.Series(dtype=str), "events": pd.Series(dtype=float)})
    table = neighborhood.area_numbers(beats, counts, counts, empty, no_events, "beat")
    table = neighborhood.with_verdicts(table, pd.Series(1.0, index=beats["area_id"]), 365, 365)
    public, _ = neighborhood.publish(table, "beat", public=True, k=5, nesting=nesting)
    # district 1 = 8 would pin both of its beats (4 + 4), so the district page withholds it instead
    fine, coarse, labels = privacy.suppress_nested([4, 4, 30, 40], ["1", "1", "2", "2"], 5)
    assert public["count_text"].tolist() == fine.texts([4, 4, 30, 40])
    assert coarse.state[0] == privacy.FORCED
    districts = pd.DataFrame({"area_id": ["1", "2"], "name": ["One", "Two"]})
    rolled = neighborhood.roll_up(counts, nesting, "beat", "district")
    assert rolled["count"].tolist() == [8, 70]
    dtable = neighborhood.area_numbers(districts, rolled, rolled, empty,
                                       pd.DataFrame({"district": pd.Series(dtype=str), "events": []}), "district")
    dtable = neighborhood.with_verdicts(dtable, pd.Series(1.0, index=["1", "2"]), 365, 365)
    dpublic, _ = neighborhood.publish(dtable, "district", public=True, k=5, nesting=nesting,
                                      fine_current=pd.Series([4, 4, 30, 40], index=nesting["area_id"]),
                                      fine_prior=pd.Series([4, 4, 30, 40], index=nesting["area_id"]))
    assert dpublic["count_text"].tolist() == coarse.texts([8, 70])


def test_ranks_count_only_shown_values():
    table, _ = neighborhood.publish(_table(), "community_area", public=True, k=5)
    ranks = neighborhood.ranks(table, "count")
    assert ranks.tolist() == ["1 of 2", "", "2 of 2", ""]


def test_measures_say_why_they_fall_back():
    recorded = {"officer_hours": False, "contacts": False, "attendees": False}
    rate = neighborhood.measure("Rate per 1,000 residents", False, "Police beat", recorded)
    assert rate.column == "count" and "No population is loaded" in rate.note
    change = neighborhood.measure("% change vs a year earlier", True, "Community area", recorded)
    assert change.palette == "diverging" and change.hidden_column == "change_hidden"
    dose = neighborhood.measure("Outreach dose", True, "Community area", recorded)
    assert dose.column == "events_per_1000" and "officer hours, contacts, attendees are empty" in dose.note
    beats = neighborhood.measure("Outreach dose", False, "Police beat", recorded)
    assert beats.column == "events" and "events, not events per 1,000" in beats.note
    assert neighborhood.outreach_recorded(OUTREACH) == recorded


def test_profile_breakdowns_are_suppressed_under_the_area_count():
    table, withheld = neighborhood.publish(_table(), "community_area", public=True, k=5)
    weekly = pd.DataFrame({"week": pd.date_range("2017-01-02", periods=4, freq="7D"), "count": [60, 30, 28, 2]})
    offenses = pd.DataFrame({"offense": ["THEFT", "BATTERY", "ARSON"], "count": [100, 18, 2]})
    events = pd.DataFrame({"event_id": ["e1"], "starts_at": [pd.Timestamp("2017-01-05 18:30")],
                           "title": ["<script>x</script> Beat meeting"], "event_type": ["beat_meeting"],
                           "program": ["CAPS"], "venue": ["Library"], "place_level": ["beat"], "beats": ["0111"]})
    row = table.iloc[0]
    p = neighborhood.profile(row, table, level_label="Community area", period="Jan 2017", weekly=weekly,
                             offenses=offenses, offense_types=["THEFT", "BATTERY", "ARSON"],
                             events=events, start=date(2017, 1, 2), end=date(2017, 1, 29), public=True, k=5,
                             withheld=withheld)
    assert p.count_text == "120" and p.rank_text == "1 of 2"
    # the week of 2 is hidden and one more with it (the total 120 is shown)
    assert p.weekly["count"].isna().sum() == 2 and "gaps" in p.weekly_note
    # ARSON (2) alone would be 120 - 100 - 18: BATTERY is withheld as its complement
    assert p.offenses["offense"].tolist() == ["THEFT"]
    assert p.outreach["title"].tolist() == ["<script>x</script> Beat meeting"]  # raw: escaped where drawn
    hidden_row = table.iloc[1]
    q = neighborhood.profile(hidden_row, table, level_label="Community area", period="Jan 2017", weekly=weekly,
                             offenses=offenses, offense_types=["THEFT"], events=events.iloc[0:0],
                             start=date(2017, 1, 2), end=date(2017, 1, 29), public=True, k=5)
    assert q.weekly["count"].isna().all() and q.offenses.empty and "withheld" in q.offenses_note


def test_city_text_leaves_out_what_is_withheld():
    assert neighborhood.city_text({"count": None}) == "Citywide total withheld (public view)."
    text = neighborhood.city_text({"count": 1000, "pct_change": -2.0, "rate_per_1000": 12.5})
    assert text == "City: 1,000 incidents (-2.0% vs a year earlier), 12.5 per 1,000 residents (areas with population)."


def test_real_sample_table_equals_an_independent_pandas_count(backend_sample_store):
    sample_store = backend_sample_store  # on DuckDB and on PostgreSQL
    """The map's public numbers for 2017 equal counts computed from the raw parquet with pandas."""
    from dashboard import geo

    raw = pd.read_parquet(REPO / "data" / "sample" / "incidents.parquet",
                          columns=["occurred_at", "offense", "community_area_id"])
    excluded = ("CRIM SEXUAL ASSAULT", "CRIMINAL SEXUAL ASSAULT", "SEX OFFENSE", "OFFENSE INVOLVING CHILDREN",
                "HUMAN TRAFFICKING", "STALKING")
    kept = raw[~raw["offense"].isin(excluded)]
    this_year = kept[kept["occurred_at"].dt.year == 2017]
    expected = this_year.groupby("community_area_id").size()
    start, end = date(2017, 1, 1), date(2017, 12, 31)
    prior_start, prior_end = periods.prior_period(start, end)
    ex = list(excluded)
    inputs = neighborhood.MapInputs(
        "community_area", start, end, prior_start, prior_end,
        current=sample_store.count_incidents(["community_area"], start, end, exclude_offenses=ex),
        prior=sample_store.count_incidents(["community_area"], prior_start, prior_end, exclude_offenses=ex),
        weekly=sample_store.count_incidents(["week", "community_area"], start, end, exclude_offenses=ex),
        population=sample_store.population("community_area"),
        outreach=sample_store.count_outreach(["community_area"], start, end),
    )
    areas = geo.from_store(sample_store.areas("community_area"))
    table, withheld = neighborhood.map_view(areas, inputs, public=True, k=5, excluded=excluded)
    shown = table[table["shown"]]
    assert len(table) == 77 and withheld.fewer == 0
    assert (shown.set_index("area_id")["count"].astype(int) == expected.reindex(shown["area_id"])).all()
    assert table.attrs["city"]["count"] == int(expected.sum())


def test_map_inputs_and_area_detail_read_the_store_they_are_handed(sample_store):
    start, end, ex = date(2017, 1, 1), date(2017, 12, 31), ["HOMICIDE"]
    prior_start, prior_end = periods.prior_period(start, end)
    nesting = pd.DataFrame({"area_id": ["0111"], "parent_id": ["1"]})
    got = neighborhood.map_inputs(sample_store, "district", start, end, ("violent",), ex, nesting, fine_needed=True)
    assert (got.prior_start, got.prior_end, got.nesting is nesting) == (prior_start, prior_end, True)
    expected = {
        "current": sample_store.count_incidents(["district"], start, end, ("violent",), exclude_offenses=ex),
        "prior": sample_store.count_incidents(["district"], prior_start, prior_end, ("violent",), exclude_offenses=ex),
        "weekly": sample_store.count_incidents(["week", "district"], start, end, ("violent",), exclude_offenses=ex),
        "fine_current": sample_store.count_incidents(["beat"], start, end, ("violent",), exclude_offenses=ex),
        "population": sample_store.population("district"),
        "outreach": sample_store.count_outreach(["district"], start, end),
    }
    for name, frame in expected.items():
        pd.testing.assert_frame_equal(getattr(got, name), frame)
    coarse_only = neighborhood.map_inputs(sample_store, "district", start, end, None, None, None, fine_needed=False)
    assert coarse_only.fine_current is None and coarse_only.fine_prior is None
    detail = neighborhood.area_detail(sample_store, "district", "8", start, end, None, ())
    pd.testing.assert_frame_equal(detail["weekly"], sample_store.count_incidents(["week"], start, end,
                                                                                 area=("district", "8")))
    assert detail["offense_types"]["count"].sum() > detail["offenses"]["count"].sum() > 0
    assert len(detail["events"]) > 0
