"""stats: rate-ratio intervals and the E-test, cross-checked against scipy and statsmodels, and their
error rate on simulated Poisson counts with and without a planted change."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.rates import confint_poisson_2indep, power_poisson_ratio_2indep
from statsmodels.stats.rates import test_poisson_2indep as sm_test_poisson_2indep

from dashboard import stats


@pytest.mark.parametrize(("current", "prior"), [(41, 36), (29, 42), (5, 1), (190, 150), (0, 7)])
def test_etest_matches_scipy(current, prior):
    ours = stats.rate_change(current, prior)
    ref = sps.poisson_means_test(current, 1.0, prior, 1.0)
    assert ours.p_value == pytest.approx(ref.pvalue, abs=1e-9)


def test_interval_matches_statsmodels_and_contains_ratio():
    ours = stats.rate_change(29, 42)
    low, high = confint_poisson_2indep(29, 1, 42, 1, method="score", compare="ratio")
    assert (ours.low, ours.high) == pytest.approx((low, high), abs=1e-12)
    assert ours.low < ours.ratio < ours.high
    assert ours.pct_change == pytest.approx((29 / 42 - 1) * 100)


def test_zero_prior_has_no_ratio():
    change = stats.rate_change(5, 0)
    assert change.ratio is None and change.pct_change is None
    assert "none in the same period last year" in stats.describe_change(change)


def test_describe_change_plain_language():
    assert stats.describe_change(stats.rate_change(41, 36)).startswith("Up 13.9% (41 vs 36): within normal variation")
    text = stats.describe_change(stats.rate_change(300, 420))
    assert text.startswith("Down 28.6% (300 vs 420): unlikely to be chance (p < 0.001; 95% interval")


def test_false_positive_rate_with_no_change():
    rng = np.random.default_rng(1)
    runs = 2000
    hits = sum(stats.rate_change(a, b).p_value < 0.05 for a, b in rng.poisson(40, (runs, 2)))
    assert hits / runs < 0.06


def test_detects_a_planted_drop_at_the_rate_the_power_calculation_predicts():
    """A 40% drop (mean 50 -> 30): statsmodels' power for the two-sample Poisson ratio test is ~0.60."""
    predicted = power_poisson_ratio_2indep(30, 50, 1, value=1, alpha=0.05, alternative="two-sided").power
    rng = np.random.default_rng(11)
    runs = 1000
    draws = rng.poisson([30, 50], (runs, 2))
    changes = [stats.rate_change(a, b) for a, b in draws]
    detected = np.mean([c.p_value < 0.05 for c in changes])
    assert abs(detected - predicted) < 0.05
    coverage = np.mean([c.low <= 0.6 <= c.high for c in changes])
    assert coverage > 0.93


def test_large_counts_use_the_score_test_without_exhausting_memory():
    ours = stats.rate_change(263_100, 273_505)
    ref = sm_test_poisson_2indep(263_100, 1, 273_505, 1, method="score", compare="ratio")
    assert ours.p_value == pytest.approx(ref.pvalue, abs=1e-12)
    near = stats.rate_change(210, 180)  # just under the threshold: E-test and score test agree
    score = sm_test_poisson_2indep(210, 1, 180, 1, method="score", compare="ratio").pvalue
    assert near.p_value == pytest.approx(score, rel=0.05)
