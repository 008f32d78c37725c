"""Statistics on counts: rate ratios with exact intervals and two-sample Poisson tests.

Thin, documented wrappers over statsmodels so every estimate the pages show carries an uncertainty.
Pure code: no Streamlit, no store, no plotting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from statsmodels.stats.rates import confint_poisson_2indep, test_poisson_2indep

ETEST_MAX_TOTAL = 400


@dataclass(frozen=True)
class RateChange:
    """current vs prior count over equal exposure: ratio, its 95% interval and a two-sided p-value."""

    current: int
    prior: int
    ratio: float | None
    low: float | None
    high: float | None
    p_value: float | None

    @property
    def pct_change(self) -> float | None:
        return None if self.ratio is None else (self.ratio - 1.0) * 100.0


def rate_change(current: int, prior: int, exposure_current: float = 1.0, exposure_prior: float = 1.0,
                alpha: float = 0.05) -> RateChange:
    """Ratio of two Poisson rates with the score interval and the E-test (Krishnamoorthy & Thomson);
    the score test when the counts are large.

    Returns ratio/low/high/p_value None when the prior count is zero (no finite ratio).
    """
    current, prior = int(current), int(prior)
    if prior == 0 or (current == 0 and prior == 0):
        return RateChange(current, prior, None, None, None, None)
    ratio = (current / exposure_current) / (prior / exposure_prior)
    low, high = confint_poisson_2indep(current, exposure_current, prior, exposure_prior,
                                       method="score", compare="ratio", alpha=alpha)
    # The E-test enumerates a grid of counts (memory grows with the square of the counts); above
    # ETEST_MAX_TOTAL the score test it converges to gives the same answer at no cost.
    method = "etest" if current + prior <= ETEST_MAX_TOTAL else "score"
    test = test_poisson_2indep(current, exposure_current, prior, exposure_prior, method=method,
                               compare="ratio")
    p = float(test.pvalue)
    return RateChange(current, prior, float(ratio), float(low), float(high) if math.isfinite(high) else None,
                      min(max(p, 0.0), 1.0))


def describe_change(change: RateChange, alpha: float = 0.05) -> str:
    """Plain-language sentence for a period comparison, with its interval and p-value.

    'Down 31% (29 vs 42): unlikely to be chance (p = 0.003; 95% interval -55% to -3%).'
    """
    counts = f"({change.current:,} vs {change.prior:,})"
    if change.ratio is None:
        if change.current == 0:
            return "No incidents in either period."
        return f"{change.current:,} incidents; none in the same period last year, so no percentage change."
    pct = change.pct_change
    direction = "Up" if pct > 0 else "Down" if pct < 0 else "Unchanged"
    interval = ""
    if change.low is not None and change.high is not None:
        interval = f"95% interval {(change.low - 1) * 100:+.0f}% to {(change.high - 1) * 100:+.0f}%"
    p = change.p_value if change.p_value is not None else 1.0
    p_text = "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
    verdict = "unlikely to be chance" if p < alpha else "within normal variation"
    return f"{direction} {abs(pct):.1f}% {counts}: {verdict} ({p_text}; {interval})."
