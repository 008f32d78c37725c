"""designs.event_study: the stacked event study equals direct statsmodels fits of the same model (to
1e-9), never compares with already treated areas and says why when it cannot run."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

from dashboard.designs import estimates, event_study

TOL = 1e-9


def _panel(seed=0, areas=16, weeks=40, effect=0.8, starts=None):
    rng = np.random.default_rng(seed)
    ids = [f"b{i:02d}" for i in range(areas)]
    week = pd.date_range("2017-01-02", periods=weeks, freq="7D")
    level = rng.uniform(3, 12, areas)
    starts = starts or {ids[0]: week[20], ids[1]: week[20], ids[2]: week[20], ids[3]: week[20]}
    rows = []
    for i, a in enumerate(ids):
        for w in week:
            lam = level[i] * (1 + 0.2 * np.sin(w.day_of_year / 58)) * (effect if a in starts and w >= starts[a] else 1)
            rows.append((a, w, float(rng.poisson(lam))))
    return pd.DataFrame(rows, columns=["area_id", "week", "count"]), starts, ids


def _direct_stacked(stacked: pd.DataFrame, extra: str):
    """The stacked model written as a formula: cohort x area and cohort x week effects. Each cohort's first
    week is the common reference level, so the two sets of effects are not collinear."""
    first = stacked["week"] == stacked.groupby("cohort")["week"].transform("min")
    cweek = np.where(first, "ref", stacked["cohort"].astype(str) + "|" + stacked["week"].dt.strftime("%Y-%m-%d"))
    s = stacked.assign(unit=stacked["cohort"].astype(str) + "|" + stacked["area_id"], cweek=cweek)
    fit = smf.glm(f"count ~ C(unit) + C(cweek, Treatment('ref')) + {extra}", s, family=sm.families.Poisson()).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(s["area_id"])[0]}, tol=1e-14, maxiter=200)
    return fit


def test_event_study_pooled_effect_equals_direct_statsmodels_fit():
    panel, starts, ids = _panel()
    controls = ids[4:]
    es = event_study.event_study(panel, starts, controls, weeks=8, bin_weeks=2)
    stacked, _ = event_study.stacked_panel(panel, starts, controls, 8)
    fit = _direct_stacked(stacked.assign(tp=stacked["treated"] * stacked["post"]), "tp")
    assert es.pooled.estimate == pytest.approx(fit.params["tp"], abs=TOL)
    assert es.pooled.se == pytest.approx(fit.bse["tp"], abs=TOL)
    assert es.pooled.df == 4 - 1  # four treated areas: t with 3 degrees of freedom
    assert es.cohorts == 1 and es.treated_areas == 4 and es.control_areas == 12


def test_event_study_leads_and_lags_equal_direct_fit_with_bin_dummies():
    panel, starts, ids = _panel(seed=1)
    es = event_study.event_study(panel, starts, ids[4:], weeks=8, bin_weeks=2)
    stacked, _ = event_study.stacked_panel(panel, starts, ids[4:], 8)
    b = np.floor_divide(stacked["rel"], 2)
    dummies = {f"e{k + 10}": (stacked["treated"] * (b == k)) for k in range(-4, 4) if k != -1}
    fit = _direct_stacked(stacked.assign(**dummies), " + ".join(dummies))
    coefs = es.coefficients.set_index("bin")
    for k in range(-4, 4):
        if k == -1:
            assert coefs.at[k, "estimate"] == 0 and coefs.at[k, "se"] == 0
            continue
        assert coefs.at[k, "estimate"] == pytest.approx(fit.params[f"e{k + 10}"], abs=TOL)
        assert coefs.at[k, "se"] == pytest.approx(fit.bse[f"e{k + 10}"], abs=TOL)
    assert list(coefs["first_week"]) == [-8, -6, -4, -2, 0, 2, 4, 6]
    assert 0 <= es.pretrend_p <= 1


def test_stacked_panel_never_uses_already_treated_areas_as_comparisons():
    week = pd.date_range("2017-01-02", periods=40, freq="7D")
    panel, _, ids = _panel(seed=2, starts={"b00": week[12], "b01": week[24]})
    starts = {"b00": week[12], "b01": week[24]}
    first = {"b01": week[24], "b02": week[18], "b03": week[30]}
    stacked, notes = event_study.stacked_panel(panel, starts, ids[2:], weeks=6, first_events=first)
    c0 = stacked[stacked["cohort"] == 0]
    c1 = stacked[stacked["cohort"] == 1]
    # cohort 0 (week 12, window weeks 6..17): b02 (starts week 18) and b03 are still clean; b01 is treated
    # later but is not a listed comparison here.
    assert set(c0.loc[c0["treated"] == 0, "area_id"]) == set(ids[2:])
    # cohort 1 (week 24, window 18..29): b02 started at 18, so it is out; b03 (week 30) is clean.
    assert "b02" not in set(c1["area_id"]) and "b03" in set(c1["area_id"])
    assert set(c1.loc[c1["treated"] == 1, "area_id"]) == {"b01"}
    assert c0["rel"].min() == -6 and c0["rel"].max() == 5
    assert not notes


def test_staggered_event_study_equals_direct_fit_with_cohort_fixed_effects():
    week = pd.date_range("2017-01-02", periods=40, freq="7D")
    starts = {"b00": week[12], "b01": week[12], "b02": week[24], "b03": week[24]}
    panel, _, ids = _panel(seed=4, starts=starts)
    es = event_study.event_study(panel, starts, ids[4:], weeks=6, bin_weeks=3)
    stacked, _ = event_study.stacked_panel(panel, starts, ids[4:], 6)
    fit = _direct_stacked(stacked.assign(tp=stacked["treated"] * stacked["post"]), "tp")
    assert es.cohorts == 2
    assert es.pooled.estimate == pytest.approx(fit.params["tp"], abs=TOL)
    assert es.pooled.se == pytest.approx(fit.bse["tp"], abs=TOL)


def test_event_study_leaves_out_a_bin_it_cannot_estimate_and_fits_the_rest():
    # A week with no incident anywhere drops out of the stack (it carries no information), so the
    # one-week bin it held has no treated rows: its dummy is all zeros and the design rank-deficient.
    panel, starts, ids = _panel(seed=3)
    empty_week = sorted(panel["week"].unique())[22]  # two weeks after the start
    panel.loc[panel["week"] == empty_week, "count"] = 0.0
    es = event_study.event_study(panel, starts, ids[4:], weeks=6, bin_weeks=1)
    assert isinstance(es, event_study.EventStudy)
    assert 2 not in set(es.coefficients["bin"]) and len(es.coefficients) == 12 - 1
    assert any("cannot be estimated" in n for n in es.notes)
    assert 0 <= es.pretrend_p <= 1
    stacked, _ = event_study.stacked_panel(panel, starts, ids[4:], 6)
    dummies = {f"e{k + 10}": (stacked["treated"] * (stacked["rel"] == k)) for k in range(-6, 6)
               if k not in (-1, 2)}
    fit = _direct_stacked(stacked.assign(**dummies), " + ".join(dummies))
    coefs = es.coefficients.set_index("bin")
    for name in dummies:
        k = int(name[1:]) - 10
        assert coefs.at[k, "estimate"] == pytest.approx(fit.params[name], abs=TOL)
        assert coefs.at[k, "se"] == pytest.approx(fit.bse[name], abs=TOL)
    pooled = _direct_stacked(stacked.assign(tp=stacked["treated"] * stacked["post"]), "tp")
    assert es.pooled.estimate == pytest.approx(pooled.params["tp"], abs=TOL)


def test_fe_matrix_has_the_columns_of_the_dense_dummies():
    week = pd.date_range("2017-01-02", periods=40, freq="7D")
    starts = {"b00": week[12], "b01": week[12], "b02": week[24], "b03": week[24]}
    panel, _, ids = _panel(seed=4, starts=starts)
    stacked, _ = event_study.stacked_panel(panel, starts, ids[4:], 6)
    unit = stacked["cohort"].astype(str) + "|" + stacked["area_id"]
    cweek = stacked["cohort"].astype(str) + "|" + stacked["week"].dt.strftime("%Y-%m-%d")
    first = {f"{k}|{w:%Y-%m-%d}" for k, w in stacked.groupby("cohort")["week"].min().items()}
    w = pd.get_dummies(cweek, dtype=float)
    dense = np.column_stack([np.ones(len(stacked)), pd.get_dummies(unit, dtype=float).iloc[:, 1:],
                             w.drop(columns=sorted(first))])
    assert np.array_equal(event_study._fe_matrix(stacked).toarray(), dense)


def test_event_study_on_the_real_sample_equals_direct_statsmodels_fit(sample_store):
    # The real beat x week panel of the bundled sample (every Chicago incident of 2016-2017), 60 beats
    # treated from one Monday, the rest as comparisons: the page's size of problem, not a toy.
    panel = sample_store.count_incidents(["beat", "week"], date(2016, 1, 4), date(2017, 12, 31))
    panel = panel.rename(columns={"beat": "area_id"})
    beats = sorted(panel["area_id"].astype(str).unique())
    full = event_study.complete_panel(panel, beats, "2016-01-04", "2017-12-25")
    starts = {b: pd.Timestamp("2017-03-06") for b in beats[::4]}
    controls = [b for b in beats if b not in starts]
    es = event_study.event_study(full, starts, controls, weeks=8, bin_weeks=2)
    stacked, _ = event_study.stacked_panel(full, starts, controls, 8)
    fit = _direct_stacked(stacked.assign(tp=stacked["treated"] * stacked["post"]), "tp")
    assert es.rows > 4_000 and es.treated_areas > 50 and es.control_areas > 150
    assert es.pooled.estimate == pytest.approx(fit.params["tp"], abs=1e-8)
    assert es.pooled.se == pytest.approx(fit.bse["tp"], abs=1e-8)


def test_event_study_says_why_it_cannot_run():
    panel, starts, ids = _panel()
    skipped = event_study.event_study(panel, starts, [], weeks=8)
    assert isinstance(skipped, estimates.Skipped)
    late = {ids[0]: panel["week"].max()}
    skipped = event_study.event_study(panel, late, ids[4:], weeks=8)
    assert isinstance(skipped, estimates.Skipped) and "fewer than 8 weeks" in skipped.reason
