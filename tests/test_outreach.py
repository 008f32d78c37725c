"""outreach: dose, coverage gap, rank correlation, concentration, adoption and footprint by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from dashboard import outreach


def _areas(*ids):
    return pd.DataFrame({"area_id": list(ids), "name": [f"Area {i}" for i in ids]})


def test_dose_table_keeps_not_recorded_apart_from_none_and_rates_need_population():
    dose = pd.DataFrame({"beat": ["1", "2"], "events": [4, 1], "rows": [4, 1], "attendees": [np.nan, np.nan],
                         "officer_hours": [np.nan, np.nan], "contacts": [10.0, np.nan], "referrals": [np.nan, np.nan],
                         "reach": [np.nan, np.nan]})
    pop = pd.DataFrame({"area_id": ["1", "3"], "population": [2000, 500]})
    t = outreach.dose_table(_areas("1", "2", "3"), dose, pop, "beat").set_index("area_id")
    assert t.loc["1", "events"] == 4 and t.loc["3", "events"] == 0
    assert np.isnan(t.loc["2", "contacts"]) and np.isnan(t.loc["3", "attendees"])
    assert t.loc["1", "events_per_1000"] == pytest.approx(2.0)
    assert t.loc["1", "contacts_per_1000"] == pytest.approx(5.0)
    assert np.isnan(t.loc["2", "events_per_1000"]) and t.loc["3", "events_per_1000"] == 0
    assert outreach.recorded_measures(dose) == (("events", "contacts"),
                                               ("attendees", "officer_hours", "referrals", "reach"))
    assert outreach.areas_reached(t) == 2


def test_rank_correlation_is_scipy_spearman_with_a_fisher_interval():


    rng = np.random.default_rng(0)
    x = rng.poisson(20, 60)
    y = x + rng.poisson(10, 60)
    r = outreach.rank_correlation(x, y)
    ref = sps.spearmanr(x, y)
    assert r.rho == pytest.approx(ref.statistic, abs=1e-12) and r.p_value == pytest.approx(ref.pvalue, abs=1e-12)
    se = np.sqrt((1 + r.rho ** 2 / 2) / 57)
    assert r.low == pytest.approx(np.tanh(np.arctanh(r.rho) - sps.norm.ppf(0.975) * se), abs=1e-12)
    assert r.low < r.rho < r.high
    assert "positive" in r.sentence("harm", "events")
    assert np.isnan(outreach.rank_correlation([1, 1, 1, 1, 1], [1, 2, 3, 4, 5]).rho)


def test_coverage_gap_flags_high_harm_low_outreach_areas():
    ids = [str(i) for i in range(8)]
    harm = pd.DataFrame({"beat": ids, "count": [100, 90, 80, 70, 60, 50, 40, 30]})
    dose = pd.DataFrame({"beat": ids, "events": [0, 9, 8, 7, 6, 5, 4, 1]})
    gap, corr = outreach.coverage_gap(_areas(*ids), harm, dose, "beat")
    assert list(gap["area_id"][:2]) == ["0", "1"]
    assert list(outreach.gap_areas(gap)["area_id"]) == ["0"]  # top quarter harm (0, 1), bottom quarter events (0, 7)
    assert gap.set_index("area_id").loc["0", "harm_rank"] == 1
    assert corr.n == 8


def test_gini_and_concentration_by_hand():
    assert outreach.gini([5, 5, 5, 5]) == pytest.approx(0.0)
    assert outreach.gini([0, 0, 0, 10]) == pytest.approx(0.75)
    by_unit = pd.DataFrame({"event_type": ["a", "a", "a", "a", "b"], "unit": ["u1", "u2", "u3", "u4", "u1"],
                            "events": [6, 2, 1, 1, 3]})
    c = outreach.concentration(by_unit, units=["u1", "u2", "u3", "u4", "u5"], labels={"a": "A"}).set_index("event_type")
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
    b = outreach.adoption_breadth(frames)
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
    fp = outreach.program_footprint(register, by_type, months, places).set_index("event_type")
    assert fp.loc["a", "status"] == "loaded" and fp.loc["a", "districts"] == 2
    assert fp.loc["b", "status"] == "no data loaded" and fp.loc["b", "events"] == 0
    assert fp.loc["z", "status"] == "not in the register" and fp.loc["z", "recorded"] == "events, attendees"
    assert fp.loc["a", "first_month"] == pd.Timestamp("2016-01-01")
    items = outreach.footprint_items(fp.reset_index(), "a")
    assert items["Events"] == "5" and items["From"] == "Jan 2016" and items["Districts running it"] == "2"
    assert outreach.footprint_items(fp.reset_index(), "nope") == {"Data": "no data loaded"}
    assert outreach.program_row(register, "b")["format"] == "campaign"

