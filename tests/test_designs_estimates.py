"""designs.estimates: an estimate's verdict, minimum detectable effect and table row."""

from __future__ import annotations

import math

import pytest
from scipy import stats as sps

from dashboard.designs import estimates

TOL = 1e-9


def test_estimate_verdict_mde_and_row():
    e = estimates.Estimate.from_se("wdd", "x", "count", -120.0, 40.0)
    assert e.significant and "120 fewer" in e.verdict() and "unlikely to be chance" in e.verdict()
    assert e.mde == pytest.approx((sps.norm.ppf(0.975) + sps.norm.ppf(0.8)) * 40.0, abs=TOL)
    assert round(estimates.MDE_FACTOR, 1) == 2.8
    r = estimates.Estimate.from_se("its", "y", "log_ratio", math.log(0.9), 0.08)
    assert not r.significant and "-10.0%" in r.verdict() and "chance" in r.verdict()
    assert r.row()["estimate"] == pytest.approx(-10.0, abs=1e-9)
    t = estimates.Estimate.from_se("es", "z", "log_ratio", 0.1, 0.05, df=9)
    assert t.high == pytest.approx(0.1 + sps.t(9).ppf(0.975) * 0.05, abs=TOL)
