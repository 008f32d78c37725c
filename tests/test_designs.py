"""designs: WDD/WDQ, the stacked event study and the interrupted time series equal direct statsmodels fits
of the same models (to 1e-9) and the published formulas; areas are chosen as documented; the brief is
escaped. Coverage and false-positive rates over many simulated panels are in bench/bench_designs.py (too
slow for the normal run); a small seeded run here catches a design that is badly off."""

from __future__ import annotations

import math
from datetime import date

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats as sps
from shapely.geometry import box

from dashboard import designs

TOL = 1e-9


# ------------------------------------------------------------------------------------------ WDD / WDQ


def test_wdd_matches_wheeler_ratcliffe_worked_example():
    # Wheeler's example: control 100 -> 90, treated 100 -> 80: 10 fewer crimes, standard error about 19.
    r = designs.wdd((100, 80), (100, 90))
    assert r.total.estimate == -10
    assert r.total.se == pytest.approx(math.sqrt(370), abs=TOL)
    assert round(r.total.se) == 19
    assert r.total.low == pytest.approx(-10 - sps.norm.ppf(0.975) * math.sqrt(370), abs=TOL)
    assert not r.total.significant
    assert r.buffer is None and r.wdq is None


def test_wdd_with_buffer_is_the_formula_in_the_brief():
    # WDD = (T1-T0) - (C1-C0) + (D1-D0); variance = sum of the counts.
    r = designs.wdd((400, 300), (410, 400), (250, 280))
    assert r.total.estimate == (300 - 400) - (400 - 410) + (280 - 250)
    assert r.total.se == pytest.approx(math.sqrt(400 + 300 + 410 + 400 + 250 + 280), abs=TOL)
    z = r.total.estimate / r.total.se
    assert r.total.p_value == pytest.approx(2 * sps.norm.sf(abs(z)), abs=TOL)
    assert r.local.estimate == -90 and r.buffer.estimate == 30


# A saturated fit has no residual degrees of freedom and fits every cell exactly: statsmodels warns.
SATURATED = pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::UserWarning",
                                       "ignore:The Identity link")


def _saturated(cells: dict[tuple[str, str], float], link) -> tuple[pd.DataFrame, object]:
    frame = pd.DataFrame([{"group": g, "period": p, "count": c} for (g, p), c in cells.items()])
    fit = smf.glm("count ~ C(group) * C(period)", frame, family=sm.families.Poisson(link)).fit(tol=1e-14)
    return frame, fit


@SATURATED
def test_wdd_equals_identity_link_poisson_glm_contrast():
    """The WDD is a contrast of the cell means of a saturated identity-link Poisson GLM; its variance is
    that GLM's variance of the contrast."""
    t, c, d = (523, 461), (498, 502), (301, 333)
    cells = {("T", "0"): t[0], ("T", "1"): t[1], ("C", "0"): c[0], ("C", "1"): c[1], ("D", "0"): d[0],
             ("D", "1"): d[1]}
    frame, fit = _saturated(cells, sm.families.links.Identity())
    x = fit.model.exog
    rows = {(g, p): x[i] for i, (g, p) in enumerate(zip(frame["group"], frame["period"], strict=True))}
    contrast = (rows[("T", "1")] - rows[("T", "0")] - rows[("C", "1")] + rows[("C", "0")]
                + rows[("D", "1")] - rows[("D", "0")])
    direct = fit.t_test(contrast)
    r = designs.wdd(t, c, d)
    assert r.total.estimate == pytest.approx(float(np.squeeze(direct.effect)), abs=TOL)
    assert r.total.se == pytest.approx(float(np.squeeze(direct.sd)), abs=TOL)


@SATURATED
def test_scaled_wdd_equals_log_link_glm_with_delta_method():
    """Scaled to the before-counts, the WDD is T1 - T0*C1/C0 (+ the same for the buffer): the treated
    after-count minus the counterfactual of a saturated log-link Poisson GLM, with its delta-method
    variance."""
    t, c, d = (523, 461), (1498, 1502), (301, 333)
    cells = {("T", "0"): t[0], ("T", "1"): t[1], ("C", "0"): c[0], ("C", "1"): c[1], ("D", "0"): d[0],
             ("D", "1"): d[1]}
    frame, fit = _saturated(cells, sm.families.links.Log())
    x = fit.model.exog
    idx = {(g, p): i for i, (g, p) in enumerate(zip(frame["group"], frame["period"], strict=True))}
    beta, cov = np.asarray(fit.params), np.asarray(fit.cov_params())

    def value_and_grad(b):
        mu = np.exp(x @ b)
        m = {k: mu[i] for k, i in idx.items()}
        cf_rate = m[("C", "1")] / m[("C", "0")]
        value = m[("T", "1")] - m[("T", "0")] * cf_rate + m[("D", "1")] - m[("D", "0")] * cf_rate
        return value

    value = value_and_grad(beta)
    eps = 1e-6
    grad = np.array([(value_and_grad(beta + eps * e) - value_and_grad(beta - eps * e)) / (2 * eps)
                     for e in np.eye(len(beta))])
    r = designs.wdd(t, c, d, scale_to_before=True)
    assert r.total.estimate == pytest.approx(value, abs=TOL)
    assert r.total.estimate == pytest.approx(t[1] - t[0] * c[1] / c[0] + d[1] - d[0] * c[1] / c[0], abs=TOL)
    assert r.total.se == pytest.approx(math.sqrt(grad @ cov @ grad), rel=1e-6)  # numerical gradient
    assert r.control_weight == pytest.approx(t[0] / c[0], abs=TOL)


def test_dispersion_widens_the_interval_but_never_narrows_it():
    base = designs.wdd((500, 450), (520, 510), dispersion=1.0)
    wide = designs.wdd((500, 450), (520, 510), dispersion=4.0)
    narrow = designs.wdd((500, 450), (520, 510), dispersion=0.5)
    assert wide.total.se == pytest.approx(2 * base.total.se, abs=TOL)
    assert narrow.total.se == base.total.se
    assert wide.poisson_total.se == base.total.se


def test_area_dispersion_is_pearson_chi2_over_df_of_the_poisson_fit():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"area_id": [f"a{i}" for i in range(12)],
                          "group": ["treated"] * 4 + ["comparison"] * 5 + ["buffer"] * 3})
    frame["before"] = rng.negative_binomial(5, 0.05, 12).astype(float)
    frame["after"] = rng.negative_binomial(5, 0.05, 12).astype(float)
    long = frame.melt(id_vars=["area_id", "group"], var_name="period", value_name="count")
    long["gp"] = np.where(long["period"] == "after", long["group"], "none")
    fit = smf.glm("count ~ C(area_id) + C(gp)", long, family=sm.families.Poisson()).fit(tol=1e-14)
    assert designs.area_dispersion(frame) == pytest.approx(max(fit.pearson_chi2 / fit.df_resid, 1.0), rel=1e-9)
    assert fit.pearson_chi2 / fit.df_resid > 1 and designs.dispersion_and_df(frame)[1] == fit.df_resid


def test_wdq_reads_diffusion_and_displacement():
    q, text = designs.wdq((100, 80), (100, 100), (50, 45))
    assert q == pytest.approx(((45 / 100) - (50 / 100)) / ((80 / 100) - (100 / 100)), abs=TOL)
    assert q > 0 and "diffusion" in text
    q, text = designs.wdq((100, 80), (100, 100), (50, 75))
    assert q < -1 and "displacement" in text
    q, text = designs.wdq((100, 120), (100, 100), (50, 45))
    assert q is None and "did not improve" in text


def test_estimate_verdict_mde_and_row():
    e = designs.Estimate.from_se("wdd", "x", "count", -120.0, 40.0)
    assert e.significant and "120 fewer" in e.verdict() and "unlikely to be chance" in e.verdict()
    assert e.mde == pytest.approx((sps.norm.ppf(0.975) + sps.norm.ppf(0.8)) * 40.0, abs=TOL)
    assert round(designs.MDE_FACTOR, 1) == 2.8
    r = designs.Estimate.from_se("its", "y", "log_ratio", math.log(0.9), 0.08)
    assert not r.significant and "-10.0%" in r.verdict() and "chance" in r.verdict()
    assert r.row()["estimate"] == pytest.approx(-10.0, abs=1e-9)
    t = designs.Estimate.from_se("es", "z", "log_ratio", 0.1, 0.05, df=9)
    assert t.high == pytest.approx(0.1 + sps.t(9).ppf(0.975) * 0.05, abs=TOL)


# ------------------------------------------------------------------------------------- event study


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
    es = designs.event_study(panel, starts, controls, weeks=8, bin_weeks=2)
    stacked, _ = designs.stacked_panel(panel, starts, controls, 8)
    fit = _direct_stacked(stacked.assign(tp=stacked["treated"] * stacked["post"]), "tp")
    assert es.pooled.estimate == pytest.approx(fit.params["tp"], abs=TOL)
    assert es.pooled.se == pytest.approx(fit.bse["tp"], abs=TOL)
    assert es.pooled.df == 4 - 1  # four treated areas: t with 3 degrees of freedom
    assert es.cohorts == 1 and es.treated_areas == 4 and es.control_areas == 12


def test_event_study_leads_and_lags_equal_direct_fit_with_bin_dummies():
    panel, starts, ids = _panel(seed=1)
    es = designs.event_study(panel, starts, ids[4:], weeks=8, bin_weeks=2)
    stacked, _ = designs.stacked_panel(panel, starts, ids[4:], 8)
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
    stacked, notes = designs.stacked_panel(panel, starts, ids[2:], weeks=6, first_events=first)
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
    es = designs.event_study(panel, starts, ids[4:], weeks=6, bin_weeks=3)
    stacked, _ = designs.stacked_panel(panel, starts, ids[4:], 6)
    fit = _direct_stacked(stacked.assign(tp=stacked["treated"] * stacked["post"]), "tp")
    assert es.cohorts == 2
    assert es.pooled.estimate == pytest.approx(fit.params["tp"], abs=TOL)
    assert es.pooled.se == pytest.approx(fit.bse["tp"], abs=TOL)


def _cluster_design(seed: int, areas: int = 30, weeks: int = 50, effect: float = 0.7):
    """A two-way fixed-effects design with a planted effect (treated areas x weeks after 25 at ``effect``)."""
    rng = np.random.default_rng(seed)
    area = np.repeat(np.arange(areas), weeks)
    week = np.tile(np.arange(weeks), areas)
    treat = ((area < areas // 3) & (week >= weeks // 2)).astype(float)
    mu = rng.uniform(2, 20, areas)[area] * np.exp(0.3 * np.sin(week / 8)) * effect ** treat
    y = rng.poisson(mu).astype(float)
    x = np.column_stack([np.ones(len(y)), (area[:, None] == np.arange(1, areas)).astype(float),
                         (week[:, None] == np.arange(1, weeks)).astype(float), treat])
    return y, x, area


def test_poisson_cluster_fit_equals_statsmodels_and_finds_the_planted_effect(monkeypatch):
    y, x, groups = _cluster_design(seed=5)
    direct = sm.GLM(y, x, family=sm.families.Poisson()).fit(cov_type="cluster", cov_kwds={"groups": groups},
                                                            tol=1e-14, maxiter=200)

    def no_statsmodels(*args, **kwargs):
        raise AssertionError("the sparse Newton fit should not need statsmodels here")

    monkeypatch.setattr(designs.sm, "GLM", no_statsmodels)
    fit = designs.poisson_cluster_fit(y, x, groups)
    assert np.max(np.abs(fit.params - direct.params)) < TOL
    assert np.max(np.abs(fit.cov - direct.cov_params())) < TOL
    assert np.max(np.abs(fit.bse - direct.bse)) < TOL
    assert abs(fit.params[-1] - math.log(0.7)) < 3 * fit.bse[-1]  # the planted effect, within 3 standard errors
    assert fit.params[-1] + 2 * fit.bse[-1] < 0  # and told apart from no effect


def test_estimable_columns_keep_each_column_unless_earlier_ones_span_it():
    rng = np.random.default_rng(11)
    a, b = rng.normal(size=40), rng.normal(size=40)
    one = np.ones(40)
    x = np.column_stack([one, a, b, a + b, np.zeros(40), 2e6 * a, b + 1e-3 * rng.normal(size=40)])
    # a + b and 2e6 a are spanned by what comes before them (whatever their scale), the zero column is
    # nothing; b plus a little independent noise is a column of its own.
    assert designs.estimable_columns(x).tolist() == [True, True, True, False, False, False, True]
    # A constant beside a full set of dummies: the last dummy goes, never the constant.
    dummies = (np.arange(40)[:, None] % 4 == np.arange(4)).astype(float)
    assert designs.estimable_columns(np.column_stack([one, dummies])).tolist() == [True, True, True, True, False]


def test_estimable_columns_do_not_move_with_rounding():
    # The same exactly collinear design as a BLAS with other rounding would hold it: noise of 1e-13 on
    # the aliased column changes nothing (a pseudo-inverse of the singular Hessian would differ here).
    y, x, groups = _cluster_design(seed=6, areas=8, weeks=12)
    x = np.column_stack([x, x[:, -1]])
    rng = np.random.default_rng(0)
    for _ in range(20):
        noisy = x.copy()
        noisy[:, -1] += rng.normal(scale=1e-13, size=len(y))
        keep = designs.estimable_columns(noisy)
        assert keep[:-1].all() and not keep[-1]


def test_poisson_cluster_fit_of_a_rank_deficient_design_fits_its_estimable_columns(monkeypatch):
    y, x, groups = _cluster_design(seed=6, areas=8, weeks=12)
    full = np.column_stack([x, x[:, -1], np.zeros(len(y))])  # the treatment twice, and an empty column
    direct = sm.GLM(y, x, family=sm.families.Poisson()).fit(cov_type="cluster", cov_kwds={"groups": groups},
                                                            tol=1e-14, maxiter=200)

    def no_statsmodels(*args, **kwargs):
        raise AssertionError("the estimable columns are full rank: the sparse Newton fit needs no help")

    monkeypatch.setattr(designs.sm, "GLM", no_statsmodels)
    fit = designs.poisson_cluster_fit(y, full, groups)
    k = x.shape[1]
    assert fit.aliased.tolist() == [False] * k + [True, True]
    # The estimable part is the full-rank model, covariance included: nothing here is numerical noise.
    assert np.max(np.abs(fit.params[:k] - direct.params)) < TOL
    assert np.max(np.abs(fit.cov[:k, :k] - direct.cov_params())) < TOL
    assert np.isnan(fit.cov[k:, :]).all() and np.isnan(fit.cov[:, k:]).all()


def test_poisson_cluster_fit_says_not_estimable_when_the_fixed_effects_reproduce_the_treatment():
    y, x, groups = _cluster_design(seed=7, areas=8, weeks=12)
    fe = x[:, :-1]
    treat_is_an_area = fe[:, 1]  # "treatment" = the second area's dummy: no contrast is left for it
    fit = designs.poisson_cluster_fit(y, np.column_stack([fe, treat_is_an_area]), groups)
    assert np.isnan(fit.params[-1]) and np.isfinite(fit.params[:-1]).all()


def test_event_study_leaves_out_a_bin_it_cannot_estimate_and_fits_the_rest():
    # A week with no incident anywhere drops out of the stack (it carries no information), so the
    # one-week bin it held has no treated rows: its dummy is all zeros and the design rank-deficient.
    panel, starts, ids = _panel(seed=3)
    empty_week = sorted(panel["week"].unique())[22]  # two weeks after the start
    panel.loc[panel["week"] == empty_week, "count"] = 0.0
    es = designs.event_study(panel, starts, ids[4:], weeks=6, bin_weeks=1)
    assert isinstance(es, designs.EventStudy)
    assert 2 not in set(es.coefficients["bin"]) and len(es.coefficients) == 12 - 1
    assert any("cannot be estimated" in n for n in es.notes)
    assert 0 <= es.pretrend_p <= 1
    stacked, _ = designs.stacked_panel(panel, starts, ids[4:], 6)
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


@pytest.mark.filterwarnings("ignore:The design matrix is rank-deficient")
def test_area_dispersion_of_a_rank_deficient_design_uses_its_rank():
    # Two groups that are the same areas' labels twice over: group x period duplicates area x period.
    frame = pd.DataFrame({"area_id": list("abcdef"), "group": ["t", "t", "t", "c", "c", "c"],
                          "before": [10, 14, 9, 20, 18, 25], "after": [7, 12, 8, 22, 15, 27]})
    phi, df = designs.dispersion_and_df(frame)
    long = frame.melt(id_vars=["area_id", "group"], value_vars=["before", "after"], var_name="period",
                      value_name="count")
    direct = smf.glm("count ~ C(area_id) + C(group):C(period)", long, family=sm.families.Poisson()).fit(tol=1e-14)
    assert df == direct.df_resid == 12 - 8
    assert phi == pytest.approx(max(direct.pearson_chi2 / direct.df_resid, 1.0), abs=TOL)


def test_fe_matrix_has_the_columns_of_the_dense_dummies():
    week = pd.date_range("2017-01-02", periods=40, freq="7D")
    starts = {"b00": week[12], "b01": week[12], "b02": week[24], "b03": week[24]}
    panel, _, ids = _panel(seed=4, starts=starts)
    stacked, _ = designs.stacked_panel(panel, starts, ids[4:], 6)
    unit = stacked["cohort"].astype(str) + "|" + stacked["area_id"]
    cweek = stacked["cohort"].astype(str) + "|" + stacked["week"].dt.strftime("%Y-%m-%d")
    first = {f"{k}|{w:%Y-%m-%d}" for k, w in stacked.groupby("cohort")["week"].min().items()}
    w = pd.get_dummies(cweek, dtype=float)
    dense = np.column_stack([np.ones(len(stacked)), pd.get_dummies(unit, dtype=float).iloc[:, 1:],
                             w.drop(columns=sorted(first))])
    assert np.array_equal(designs._fe_matrix(stacked).toarray(), dense)


def test_event_study_on_the_real_sample_equals_direct_statsmodels_fit(sample_store):
    # The real beat x week panel of the bundled sample (every Chicago incident of 2016-2017), 60 beats
    # treated from one Monday, the rest as comparisons: the page's size of problem, not a toy.
    panel = sample_store.count_incidents(["beat", "week"], date(2016, 1, 4), date(2017, 12, 31))
    panel = panel.rename(columns={"beat": "area_id"})
    beats = sorted(panel["area_id"].astype(str).unique())
    full = designs.complete_panel(panel, beats, "2016-01-04", "2017-12-25")
    starts = {b: pd.Timestamp("2017-03-06") for b in beats[::4]}
    controls = [b for b in beats if b not in starts]
    es = designs.event_study(full, starts, controls, weeks=8, bin_weeks=2)
    stacked, _ = designs.stacked_panel(full, starts, controls, 8)
    fit = _direct_stacked(stacked.assign(tp=stacked["treated"] * stacked["post"]), "tp")
    assert es.rows > 4_000 and es.treated_areas > 50 and es.control_areas > 150
    assert es.pooled.estimate == pytest.approx(fit.params["tp"], abs=1e-8)
    assert es.pooled.se == pytest.approx(fit.bse["tp"], abs=1e-8)


def test_event_study_says_why_it_cannot_run():
    panel, starts, ids = _panel()
    skipped = designs.event_study(panel, starts, [], weeks=8)
    assert isinstance(skipped, designs.Skipped)
    late = {ids[0]: panel["week"].max()}
    skipped = designs.event_study(panel, late, ids[4:], weeks=8)
    assert isinstance(skipped, designs.Skipped) and "fewer than 8 weeks" in skipped.reason


# -------------------------------------------------------------------------------------------- ITS


def _series(seed=0, n=104, level=0.85):
    rng = np.random.default_rng(seed)
    week = pd.date_range("2016-01-04", periods=n, freq="7D")
    t = np.arange(n)
    mu = 80 * np.exp(0.1 * t / 52 + 0.2 * np.sin(2 * np.pi * t / designs.YEAR_WEEKS)) * np.where(t >= 52, level, 1)
    return pd.DataFrame({"week": week, "count": rng.poisson(mu).astype(float)}), week[52]


def test_its_equals_direct_statsmodels_fit():
    series, start = _series()
    its = designs.interrupted_time_series(series, start)
    t = np.arange(len(series))
    frame = series.assign(time=t / designs.YEAR_WEEKS, level=(t >= 52).astype(float),
                          slope=np.maximum(t - 52, 0).astype(float),
                          sin1=np.sin(2 * np.pi * t / designs.YEAR_WEEKS), cos1=np.cos(2 * np.pi * t / designs.YEAR_WEEKS),
                          sin2=np.sin(4 * np.pi * t / designs.YEAR_WEEKS), cos2=np.cos(4 * np.pi * t / designs.YEAR_WEEKS))
    formula = "count ~ time + level + slope + sin1 + cos1 + sin2 + cos2"
    model = smf.glm(formula, frame, family=sm.families.Poisson())
    hac = model.fit(cov_type="HAC", cov_kwds={"maxlags": designs.newey_west_lags(len(frame))}, tol=1e-14)
    quasi = model.fit(scale="X2", tol=1e-14)
    r = np.corrcoef(quasi.resid_pearson[:-1], quasi.resid_pearson[1:])[0, 1]
    floor = quasi.bse["level"] * (math.sqrt((1 + r) / (1 - r)) if r > 0 else 1.0)
    assert its.level.estimate == pytest.approx(hac.params["level"], abs=TOL)
    assert its.slope.estimate == pytest.approx(hac.params["slope"], abs=TOL)
    assert its.level.se == pytest.approx(max(hac.bse["level"], floor), abs=TOL)
    assert its.harmonics == 2 and its.maxlags == 4
    assert list(its.series.columns) == ["week", "count", "fitted", "counterfactual"]
    assert its.series["fitted"].to_numpy() == pytest.approx(hac.fittedvalues.to_numpy(), rel=1e-9)


def test_its_drops_seasonality_without_a_year_before():
    series, _ = _series(n=60)
    its = designs.interrupted_time_series(series, series["week"].iloc[30])
    assert its.harmonics == 0 and any("seasonality" in n for n in its.notes)
    assert isinstance(designs.interrupted_time_series(series.head(10), series["week"].iloc[5]), designs.Skipped)


# ----------------------------------------------------------------------------------- choosing areas


def _grid(n=4):
    cells = [(f"{r}{c}", box(c, r, c + 1, r + 1)) for r in range(n) for c in range(n)]
    return gpd.GeoDataFrame({"area_id": [a for a, _ in cells], "name": [a for a, _ in cells]},
                            geometry=[g for _, g in cells], crs="EPSG:4326")


def test_neighbours_are_areas_that_touch():
    near = designs.neighbours(_grid(3))
    assert near["11"] == {"00", "01", "02", "10", "12", "20", "21", "22"}  # corners touch too
    assert near["00"] == {"01", "10", "11"}


def test_dose_groups_take_quartiles_and_a_touching_buffer():
    grid = _grid(4)
    events = {a: (10 if a in {"00", "01", "02", "03"} else 1 if a in {"30", "31", "32", "33"} else 5)
              for a in grid["area_id"]}
    dose = pd.DataFrame({"area_id": list(events), "name": list(events), "events_before": list(events.values()),
                         "events_after": 0})
    g = designs.choose_groups(dose, designs.neighbours(grid), mode="dose", control_rule="few",
                              start=pd.Timestamp("2017-01-02"))
    assert g.treated == ("00", "01", "02", "03")
    assert g.control == ("30", "31", "32", "33")
    assert g.buffer == ("10", "11", "12", "13")
    assert set(g.starts.values()) == {pd.Timestamp("2017-01-02")}
    assert dict(zip(g.table["area_id"], g.table["group"], strict=True))["21"] == ""


def test_rollout_groups_start_at_each_first_event_and_same_district_rule():
    grid = _grid(4)
    ids = list(grid["area_id"])
    before = {a: 0 for a in ids}
    after = {a: (3 if a in {"00", "33"} else 0) for a in ids}
    dose = pd.DataFrame({"area_id": ids, "name": ids, "events_before": [before[a] for a in ids],
                         "events_after": [after[a] for a in ids]})
    first = {"00": pd.Timestamp("2017-02-08"), "33": pd.Timestamp("2017-03-01")}
    parents = {a: ("north" if a[0] in "01" else "south") for a in ids}
    g = designs.choose_groups(dose, designs.neighbours(grid), mode="rollout", control_rule="same_district",
                              start=pd.Timestamp("2017-01-02"), parents=parents, first_events=first)
    assert g.treated == ("00", "33")
    assert g.starts == {"00": pd.Timestamp("2017-02-06"), "33": pd.Timestamp("2017-02-27")}
    assert set(g.control) <= set(ids) - {"00", "33"} - set(g.buffer)
    assert "01" in g.buffer and "32" in g.buffer
    chosen = designs.choose_groups(dose, designs.neighbours(grid), mode="rollout", control_rule="none",
                                   start=pd.Timestamp("2017-01-02"), treated=("12",), control=("30", "31"))
    assert chosen.treated == ("12",) and chosen.control == ("30", "31")


# ------------------------------------------------------------------------------------ surveys, brief


def test_survey_change_is_a_difference_in_differences_of_area_means():
    rows = []
    for area, group_shift in [("t1", 5), ("t2", 7), ("c1", 1), ("c2", -1)]:
        rows.append({"area_id": area, "period_start": "2016-06-01", "trust_score": 50.0, "respondents": 100})
        rows.append({"area_id": area, "period_start": "2017-06-01", "trust_score": 50.0 + group_shift,
                     "respondents": 100})
    table, est = designs.survey_change(pd.DataFrame(rows), ["t1", "t2"], ["c1", "c2"], "2017-01-01")
    assert est.estimate == pytest.approx(6.0 - 0.0, abs=TOL)
    se = math.sqrt(np.var([5, 7], ddof=1) / 2 + np.var([1, -1], ddof=1) / 2)
    assert est.se == pytest.approx(se, abs=TOL)
    assert set(table["group"]) == {"treated", "comparison"} and "points" in est.verdict()


def test_program_brief_is_escaped_and_self_contained():
    brief = designs.program_brief_html(
        {"program": "<script>alert(1)</script>", "description": "A & B"},
        {"Events": "1,234", "Areas": "<b>9</b>"}, None, ["Schedule, not attendance"], "Generated today")
    assert "<script>" not in brief and "&lt;script&gt;" in brief and "&lt;b&gt;9" in brief
    assert "http" not in brief and "<link" not in brief
    assert "more *reported*" not in brief and "reported crime" in brief


# ------------------------------------------------------------------------------------ simulations


def test_simulated_designs_are_not_badly_off():
    """A small seeded run (the full 200+-panel checks are bench/bench_designs.py): intervals cover the
    planted effect in most panels and every design sees a 15% fall most of the time."""
    rng = np.random.default_rng(11)
    cover = {"wdd": 0, "its": 0}
    for _ in range(20):
        sim = designs.simulate_panel(rng, effect=0.85)
        cover["wdd"] += designs.simulated_wdd(sim).total.covers(sim.true_wdd)
        series = sim.panel[sim.panel["area_id"].isin(sim.treated)].groupby("week", as_index=False)["count"].sum()
        cover["its"] += designs.interrupted_time_series(series, sim.start).level.covers(sim.true_log_ratio)
    assert cover["wdd"] >= 17 and cover["its"] >= 17, cover


def test_quartiles_fall_back_to_the_fewest_when_ties_empty_the_bottom_quarter():
    events = pd.Series([0] * 10 + [3, 5], index=[f"a{i:02d}" for i in range(12)])
    top, bottom = designs.quartile_groups(events)
    assert top == ["a10", "a11"] and bottom == [f"a{i:02d}" for i in range(10)]
    spread = pd.Series(range(8), index=list("abcdefgh"))
    assert designs.quartile_groups(spread) == (["g", "h"], ["a", "b"])


def test_first_events_since_skip_what_ran_before_the_window():
    weekly = pd.DataFrame({"beat": ["1", "1", "2", "3"], "week": pd.to_datetime(["2016-01-04", "2017-03-06",
                                                                                "2017-02-06", "2016-02-01"]),
                           "events": [1, 2, 1, 0]})
    assert designs.first_events(weekly, "beat") == {"1": pd.Timestamp("2016-01-04"), "2": pd.Timestamp("2017-02-06")}
    assert designs.first_events(weekly, "beat", since="2017-01-02") == {"1": pd.Timestamp("2017-03-06"),
                                                                        "2": pd.Timestamp("2017-02-06")}
    assert designs.complete_week_range(date(2016, 1, 1), date(2017, 12, 31)) == (date(2016, 1, 4), date(2017, 12, 25))


def test_run_impact_end_to_end_on_a_grid_and_its_brief():
    grid = _grid(6)
    ids = list(grid["area_id"])
    rng = np.random.default_rng(5)
    weeks = pd.date_range("2016-01-04", periods=104, freq="7D")
    start = weeks[52]
    many = set(ids[:9])
    rows = [(a, w, float(rng.poisson(20 * (0.8 if a in many and w >= start else 1.0)))) for a in ids for w in weeks]
    panel = pd.DataFrame(rows, columns=["area_id", "week", "count"])
    dose = pd.DataFrame({"area_id": ids, "name": [f"Area {a}" for a in ids],
                         "events_before": [12 if a in many else (1 if i > 26 else 5) for i, a in enumerate(ids)],
                         "events_after": 6})
    settings = designs.ImpactSettings(event_types=("beat_meeting",), level="beat", mode="dose", control_rule="few",
                                      start=start.date(), weeks=52)
    result = designs.run_impact(settings, panel, dose, designs.neighbours(grid), None, {})
    assert set(result.groups.treated) == many and len(result.groups.control) >= 5
    assert isinstance(result.wdd, designs.Wdd) and isinstance(result.event_study, designs.EventStudy)
    assert isinstance(result.its, designs.Its)
    assert result.event_study.pooled.covers(math.log(0.8)) and result.event_study.pooled.significant
    summary = result.summary()
    assert list(summary["design"]) == ["wdd", "event_study", "its"] and summary["verdict"].str.contains("95%").all()
    assert set(result.weekly["group"]) == {"treated", "comparison", "buffer"}
    brief = designs.program_brief_html({"program": "CAPS beat meetings", "label": "Beat meeting"},
                                       {"Events": "99"}, result, result.caveats(("events",)), "test")
    assert "Stacked event study" in brief and "95% interval" in brief and "Dose comparison, not on/off" in brief
    assert "9 treated police beats" in brief and "@page" in brief


@pytest.mark.parametrize("case", ["one treated and one comparison area", "a comparison area with no incidents",
                                  "a treated area with no incidents", "every area starting the same week"])
def test_run_impact_on_degenerate_selections_gives_a_result_or_a_reason(case):
    # What the Impact page and the brief run: a tiny or degenerate selection must come back as numbers
    # with finite intervals or as a design skipped with its reason, on any machine, never an exception.
    grid = _grid(3)
    ids = list(grid["area_id"])
    weeks = pd.date_range("2016-01-04", periods=40, freq="7D")
    start = weeks[20]
    rng = np.random.default_rng(11)
    treated, control, mode = ("00",), ("22",), "dose"
    empty = {"a comparison area with no incidents": "22", "a treated area with no incidents": "00"}.get(case)
    if case == "every area starting the same week":
        treated, control, mode = tuple(ids), (), "rollout"
    rows = [(a, w, 0.0 if a == empty else float(rng.poisson(6))) for a in ids for w in weeks]
    panel = pd.DataFrame(rows, columns=["area_id", "week", "count"])
    dose = pd.DataFrame({"area_id": ids, "name": ids, "events_before": 0,
                         "events_after": [3 if a in treated else 0 for a in ids]})
    settings = designs.ImpactSettings(event_types=("beat_meeting",), level="beat", mode=mode, control_rule="none",
                                      start=start.date(), weeks=8, treated=treated, control=control)
    first = {a: start for a in treated}
    result = designs.run_impact(settings, panel, dose, {}, None, first)
    for design in (result.wdd, result.event_study, result.its):
        if isinstance(design, designs.Skipped):
            assert len(design.reason) > 10, design
        else:
            rows = design.estimates() if hasattr(design, "estimates") else [design]
            assert rows
    for row in result.summary().itertuples():
        assert isinstance(row.verdict, str) and row.verdict
        assert pd.isna(row.estimate) or (np.isfinite(row.low) and np.isfinite(row.high)), row
    brief = designs.program_brief_html({"program": "Test program", "label": "Beat meeting"}, {"Events": "3"},
                                       result, result.caveats(("events",)), "test")
    assert "@page" in brief
