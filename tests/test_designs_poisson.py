"""designs.poisson: the cluster-robust Poisson fit equals statsmodels and fits a rank-deficient design on
its estimable columns, which do not move with rounding."""

from __future__ import annotations

import math

import numpy as np
import statsmodels.api as sm

from dashboard.designs import poisson

TOL = 1e-9


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


def _statsmodels_cluster_fit(y, x, groups):
    return sm.GLM(y, x, family=sm.families.Poisson()).fit(cov_type="cluster", cov_kwds={"groups": groups},
                                                          tol=1e-14, maxiter=200)


def _forbid_statsmodels(monkeypatch, why: str) -> None:
    """Make the fit fail if it falls back to statsmodels' GLM."""
    def no_statsmodels(*args, **kwargs):
        raise AssertionError(why)

    monkeypatch.setattr(poisson, "GLM", no_statsmodels)


def test_poisson_cluster_fit_equals_statsmodels_and_finds_the_planted_effect(monkeypatch):
    y, x, groups = _cluster_design(seed=5)
    direct = _statsmodels_cluster_fit(y, x, groups)
    _forbid_statsmodels(monkeypatch, "the sparse Newton fit should not need statsmodels here")
    fit = poisson.poisson_cluster_fit(y, x, groups)
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
    assert poisson.estimable_columns(x).tolist() == [True, True, True, False, False, False, True]
    # A constant beside a full set of dummies: the last dummy goes, never the constant.
    dummies = (np.arange(40)[:, None] % 4 == np.arange(4)).astype(float)
    assert poisson.estimable_columns(np.column_stack([one, dummies])).tolist() == [True, True, True, True, False]


def test_estimable_columns_do_not_move_with_rounding():
    # The same exactly collinear design as a BLAS with other rounding would hold it: noise of 1e-13 on
    # the aliased column changes nothing (a pseudo-inverse of the singular Hessian would differ here).
    y, x, groups = _cluster_design(seed=6, areas=8, weeks=12)
    x = np.column_stack([x, x[:, -1]])
    rng = np.random.default_rng(0)
    for _ in range(20):
        noisy = x.copy()
        noisy[:, -1] += rng.normal(scale=1e-13, size=len(y))
        keep = poisson.estimable_columns(noisy)
        assert keep[:-1].all() and not keep[-1]


def test_poisson_cluster_fit_of_a_rank_deficient_design_fits_its_estimable_columns(monkeypatch):
    y, x, groups = _cluster_design(seed=6, areas=8, weeks=12)
    full = np.column_stack([x, x[:, -1], np.zeros(len(y))])  # the treatment twice, and an empty column
    direct = _statsmodels_cluster_fit(y, x, groups)
    _forbid_statsmodels(monkeypatch, "the estimable columns are full rank: the sparse Newton fit needs no help")
    fit = poisson.poisson_cluster_fit(y, full, groups)
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
    fit = poisson.poisson_cluster_fit(y, np.column_stack([fe, treat_is_an_area]), groups)
    assert np.isnan(fit.params[-1]) and np.isfinite(fit.params[:-1]).all()
