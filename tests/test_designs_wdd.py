"""designs.wdd: WDD/WDQ equal the published formulas and the Poisson GLM contrasts of the same models
(to 1e-9); dispersion widens, never narrows."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats as sps

from dashboard.designs import wdd

TOL = 1e-9


def test_wdd_matches_wheeler_ratcliffe_worked_example():
    # Wheeler's example: control 100 -> 90, treated 100 -> 80: 10 fewer crimes, standard error about 19.
    r = wdd.wdd((100, 80), (100, 90))
    assert r.total.estimate == -10
    assert r.total.se == pytest.approx(math.sqrt(370), abs=TOL)
    assert round(r.total.se) == 19
    assert r.total.low == pytest.approx(-10 - sps.norm.ppf(0.975) * math.sqrt(370), abs=TOL)
    assert not r.total.significant
    assert r.buffer is None and r.wdq is None


def test_wdd_with_buffer_is_the_formula_in_the_brief():
    # WDD = (T1-T0) - (C1-C0) + (D1-D0); variance = sum of the counts.
    r = wdd.wdd((400, 300), (410, 400), (250, 280))
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
    r = wdd.wdd(t, c, d)
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
    r = wdd.wdd(t, c, d, scale_to_before=True)
    assert r.total.estimate == pytest.approx(value, abs=TOL)
    assert r.total.estimate == pytest.approx(t[1] - t[0] * c[1] / c[0] + d[1] - d[0] * c[1] / c[0], abs=TOL)
    assert r.total.se == pytest.approx(math.sqrt(grad @ cov @ grad), rel=1e-6)  # numerical gradient
    assert r.control_weight == pytest.approx(t[0] / c[0], abs=TOL)


def test_dispersion_widens_the_interval_but_never_narrows_it():
    base = wdd.wdd((500, 450), (520, 510), dispersion=1.0)
    wide = wdd.wdd((500, 450), (520, 510), dispersion=4.0)
    narrow = wdd.wdd((500, 450), (520, 510), dispersion=0.5)
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
    assert wdd.area_dispersion(frame) == pytest.approx(max(fit.pearson_chi2 / fit.df_resid, 1.0), rel=1e-9)
    assert fit.pearson_chi2 / fit.df_resid > 1 and wdd.dispersion_and_df(frame)[1] == fit.df_resid


def test_wdq_reads_diffusion_and_displacement():
    q, text = wdd.wdq((100, 80), (100, 100), (50, 45))
    assert q == pytest.approx(((45 / 100) - (50 / 100)) / ((80 / 100) - (100 / 100)), abs=TOL)
    assert q > 0 and "diffusion" in text
    q, text = wdd.wdq((100, 80), (100, 100), (50, 75))
    assert q < -1 and "displacement" in text
    q, text = wdd.wdq((100, 120), (100, 100), (50, 45))
    assert q is None and "did not improve" in text


@pytest.mark.filterwarnings("ignore:The design matrix is rank-deficient")
def test_area_dispersion_of_a_rank_deficient_design_uses_its_rank():
    # Two groups that are the same areas' labels twice over: group x period duplicates area x period.
    frame = pd.DataFrame({"area_id": list("abcdef"), "group": ["t", "t", "t", "c", "c", "c"],
                          "before": [10, 14, 9, 20, 18, 25], "after": [7, 12, 8, 22, 15, 27]})
    phi, df = wdd.dispersion_and_df(frame)
    long = frame.melt(id_vars=["area_id", "group"], value_vars=["before", "after"], var_name="period",
                      value_name="count")
    direct = smf.glm("count ~ C(area_id) + C(group):C(period)", long, family=sm.families.Poisson()).fit(tol=1e-14)
    assert df == direct.df_resid == 12 - 8
    assert phi == pytest.approx(max(direct.pearson_chi2 / direct.df_resid, 1.0), abs=TOL)
