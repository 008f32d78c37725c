"""The interrupted time series of one weekly series with seasonality (HAC errors). No Streamlit, no store.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from statsmodels.genmod.families import Poisson
from statsmodels.genmod.generalized_linear_model import GLM

from dashboard.designs.estimates import ALPHA, NOT_CONVERGED, WEEK, YEAR_WEEKS, Estimate, Skipped
from dashboard.designs.poisson import GLM_TOL, one_thread


@dataclass(frozen=True)
class Its:
    """Interrupted time series: ``level`` (log rate ratio at the start), ``slope`` (log rate ratio per
    week of change in trend), ``series``: week, count, fitted, counterfactual (the fitted model with the
    level and slope change removed)."""

    level: Estimate
    slope: Estimate
    series: pd.DataFrame
    harmonics: int
    maxlags: int
    notes: tuple[str, ...] = ()


def its_design(weeks: pd.Series, start, harmonics: int = 2) -> tuple[pd.DataFrame, int, list[str]]:
    """The segmented-regression design: const, time, level, slope, and Fourier terms of the year.

    Seasonality needs a year before the start; with less it is left out (and said so).
    """
    w = pd.to_datetime(pd.Series(weeks)).reset_index(drop=True)
    t = ((w - w.iloc[0]) / WEEK).to_numpy(float)
    t0 = float((pd.Timestamp(start) - w.iloc[0]) / WEEK)
    post = (t >= t0).astype(float)
    x = pd.DataFrame({"const": 1.0, "time": t / YEAR_WEEKS, "level": post, "slope": (t - t0) * post})
    notes = []
    if t0 < 52:
        harmonics = 0
        notes.append("Less than a year before the start, so seasonality is not modelled; a seasonal swing "
                     "can look like an effect.")
    for k in range(1, harmonics + 1):
        x[f"sin{k}"] = np.sin(2 * np.pi * k * t / YEAR_WEEKS)
        x[f"cos{k}"] = np.cos(2 * np.pi * k * t / YEAR_WEEKS)
    return x, harmonics, notes


def newey_west_lags(n: int) -> int:
    """Newey & West's rule of thumb for the HAC lag length: floor(4 (n/100)^(2/9))."""
    return int(math.floor(4 * (n / 100) ** (2 / 9)))


def interrupted_time_series(series: pd.DataFrame, start, harmonics: int = 2,
                            alpha: float = ALPHA) -> Its | Skipped:
    """Segmented Poisson regression of a weekly series (week, count) with a level and a slope change at
    ``start``, a linear trend and ``harmonics`` Fourier pairs of the year. No comparison group: anything
    else that changed at the same time is attributed to the program.

    Standard errors: Newey-West (HAC, Bartlett, ``newey_west_lags``), but never smaller than the
    quasi-Poisson error (Pearson scale) inflated by sqrt((1 + r) / (1 - r)) for the lag-1
    autocorrelation r > 0 of the Pearson residuals. In series of about two years the HAC error of a level
    change is far too small (in bench/bench_designs.py its 95% interval covered the truth in 83-86% of
    panels); the floor restores the nominal coverage without hiding autocorrelation when HAC sees more.
    """
    s = series.sort_values("week").reset_index(drop=True)
    before = int((pd.to_datetime(s["week"]) < pd.Timestamp(start)).sum())
    after = len(s) - before
    if before < 8 or after < 4:
        return Skipped("its", f"Needs at least 8 weeks before and 4 after the start (has {before} and {after}).")
    y = s["count"].to_numpy(float)
    if y[:before].sum() <= 0 or y[before:].sum() <= 0:
        side = "before" if y[:before].sum() <= 0 else "after"
        return Skipped("its", f"The series has no incidents in the weeks {side} the start, so no level or trend "
                       "can be fitted: choose areas or offense groups with incidents on both sides.")
    x, harmonics, notes = its_design(s["week"], start, harmonics)
    lags = newey_west_lags(len(s))
    model = GLM(y, x.to_numpy(), family=Poisson())
    with one_thread():
        hac = model.fit(cov_type="HAC", cov_kwds={"maxlags": lags}, tol=GLM_TOL)
        quasi = model.fit(scale="X2", tol=GLM_TOL)
    resid = np.asarray(quasi.resid_pearson)
    r = float(np.corrcoef(resid[:-1], resid[1:])[0, 1]) if len(resid) > 2 else 0.0
    inflate = math.sqrt((1 + r) / (1 - r)) if 0 < r < 0.95 else 1.0
    floor = np.asarray(quasi.bse) * inflate
    se = np.maximum(np.asarray(hac.bse), floor)
    names = list(x.columns)
    i_level, i_slope = names.index("level"), names.index("slope")
    if not np.all(np.isfinite(np.asarray(hac.params)[[i_level, i_slope]])) or not np.all(
            np.isfinite(se[[i_level, i_slope]])):
        return Skipped("its", NOT_CONVERGED)
    versus = "the trend and season before the start"
    level = Estimate.from_se("its", "Interrupted time series: level change at the start", "log_ratio",
                             float(hac.params[i_level]), float(se[i_level]), alpha=alpha, versus=versus)
    slope = Estimate.from_se("its", "Interrupted time series: change in weekly trend", "log_ratio",
                             float(hac.params[i_slope]), float(se[i_slope]), alpha=alpha,
                             versus="the weekly trend before the start")
    if floor[i_level] > hac.bse[i_level]:
        notes.append(f"Interval from the quasi-Poisson error (residual autocorrelation {r:+.2f}), which is "
                     "wider than the Newey-West one here.")
    cf = x.copy()
    cf["level"], cf["slope"] = 0.0, 0.0
    out = pd.DataFrame({"week": pd.to_datetime(s["week"]), "count": s["count"].astype(float),
                        "fitted": hac.predict(x.to_numpy()), "counterfactual": hac.predict(cf.to_numpy())})
    return Its(level, slope, out, harmonics, lags, tuple(notes))
