"""designs.its: the interrupted time series equals a direct statsmodels fit; no seasonality without a year."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

from dashboard.designs import estimates, its

TOL = 1e-9


def _series(seed=0, n=104, level=0.85):
    rng = np.random.default_rng(seed)
    week = pd.date_range("2016-01-04", periods=n, freq="7D")
    t = np.arange(n)
    mu = 80 * np.exp(0.1 * t / 52 + 0.2 * np.sin(2 * np.pi * t / estimates.YEAR_WEEKS)) * np.where(t >= 52, level, 1)
    return pd.DataFrame({"week": week, "count": rng.poisson(mu).astype(float)}), week[52]


def test_its_equals_direct_statsmodels_fit():
    series, start = _series()
    fit = its.interrupted_time_series(series, start)
    t = np.arange(len(series))
    frame = series.assign(time=t / estimates.YEAR_WEEKS, level=(t >= 52).astype(float),
                          slope=np.maximum(t - 52, 0).astype(float),
                          sin1=np.sin(2 * np.pi * t / estimates.YEAR_WEEKS), cos1=np.cos(2 * np.pi * t / estimates.YEAR_WEEKS),
                          sin2=np.sin(4 * np.pi * t / estimates.YEAR_WEEKS), cos2=np.cos(4 * np.pi * t / estimates.YEAR_WEEKS))
    formula = "count ~ time + level + slope + sin1 + cos1 + sin2 + cos2"
    model = smf.glm(formula, frame, family=sm.families.Poisson())
    hac = model.fit(cov_type="HAC", cov_kwds={"maxlags": its.newey_west_lags(len(frame))}, tol=1e-14)
    quasi = model.fit(scale="X2", tol=1e-14)
    r = np.corrcoef(quasi.resid_pearson[:-1], quasi.resid_pearson[1:])[0, 1]
    floor = quasi.bse["level"] * (math.sqrt((1 + r) / (1 - r)) if r > 0 else 1.0)
    assert fit.level.estimate == pytest.approx(hac.params["level"], abs=TOL)
    assert fit.slope.estimate == pytest.approx(hac.params["slope"], abs=TOL)
    assert fit.level.se == pytest.approx(max(hac.bse["level"], floor), abs=TOL)
    assert fit.harmonics == 2 and fit.maxlags == 4
    assert list(fit.series.columns) == ["week", "count", "fitted", "counterfactual"]
    assert fit.series["fitted"].to_numpy() == pytest.approx(hac.fittedvalues.to_numpy(), rel=1e-9)


def test_its_drops_seasonality_without_a_year_before():
    series, _ = _series(n=60)
    fit = its.interrupted_time_series(series, series["week"].iloc[30])
    assert fit.harmonics == 0 and any("seasonality" in n for n in fit.notes)
    assert isinstance(its.interrupted_time_series(series.head(10), series["week"].iloc[5]), estimates.Skipped)
