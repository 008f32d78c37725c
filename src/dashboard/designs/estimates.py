"""What every design returns: an estimate with its 95% interval, p-value, minimum detectable effect and
verdict, or the reason it was skipped. No fitting here, no Streamlit, no store.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
from scipy import stats as sps

ALPHA = 0.05
POWER = 0.80
# z(0.975) + z(0.80) = 2.80: an effect this many standard errors from zero is found 80% of the time.
MDE_FACTOR = float(sps.norm.ppf(1 - ALPHA / 2) + sps.norm.ppf(POWER))
WEEK = pd.Timedelta(days=7)
YEAR_WEEKS = 365.25 / 7


REPORTING_WARNING = (
    "More trust can mean more *reported* crime. A review of 37 studies (Gill et al. 2014) found community "
    "policing improves how residents see the police but no evidence that it reduces recorded crime, partly "
    "because residents who trust the police report more. A rise in recorded incidents after outreach may be "
    "more reporting, not more harm; homicides are reported regardless, so check them separately."
)


@dataclass(frozen=True)
class Estimate:
    """One effect with its uncertainty.

    ``scale`` is "count" (incidents; negative = fewer than the comparison implies) or "log_ratio" (log of a
    rate ratio; exp(estimate) - 1 is the relative change). ``df`` is the t degrees of freedom used for the
    interval and p-value (None: normal).
    """

    design: str
    label: str
    scale: str
    estimate: float
    se: float
    low: float
    high: float
    p_value: float
    df: float | None = None
    versus: str = "what the comparison areas imply"

    @classmethod
    def from_se(cls, design: str, label: str, scale: str, estimate: float, se: float,
                df: float | None = None, alpha: float = ALPHA,
                versus: str = "what the comparison areas imply") -> Estimate:
        dist = sps.t(df) if df else sps.norm
        crit = float(dist.ppf(1 - alpha / 2))
        stat = estimate / se if se > 0 else (0.0 if estimate == 0 else math.inf)
        p = float(2 * dist.sf(abs(stat)))
        return cls(design, label, scale, float(estimate), float(se), float(estimate - crit * se),
                   float(estimate + crit * se), min(max(p, 0.0), 1.0), df, versus)

    @property
    def significant(self) -> bool:
        """True when the design says "unlikely to be chance" (two-sided p < 0.05)."""
        return self.p_value < ALPHA

    @property
    def mde(self) -> float:
        """Minimum detectable effect (80% power, two-sided 5% test) on the estimate's scale: 2.8 x SE."""
        return MDE_FACTOR * self.se

    def covers(self, truth: float) -> bool:
        return self.low <= truth <= self.high

    def text(self, value: float) -> str:
        if self.scale == "count":
            return f"{abs(value):,.0f} {'fewer' if value < 0 else 'more'}"
        if self.scale == "points":
            return f"{value:+.1f} points"
        return f"{(math.exp(value) - 1) * 100:+.1f}%"

    def mde_text(self) -> str:
        if self.scale == "count":
            return f"about {self.mde:,.0f} incidents either way"
        if self.scale == "points":
            return f"about {self.mde:.1f} points either way"
        return f"about {(math.exp(self.mde) - 1) * 100:.0f}% up or {(1 - math.exp(-self.mde)) * 100:.0f}% down"

    def verdict(self) -> str:
        """Plain language: what changed, the 95% interval and whether chance explains it."""
        p = "p < 0.001" if self.p_value < 0.001 else f"p = {self.p_value:.3f}"
        call = "unlikely to be chance" if self.significant else "within what chance alone produces"
        interval = f"95% interval {self.text(self.low)} to {self.text(self.high)}"
        if self.scale == "count":
            what = f"{self.text(self.estimate)} incidents than {self.versus}"
        elif self.scale == "points":
            what = f"score changed {self.text(self.estimate)} against {self.versus}"
        else:
            what = f"incidents {self.text(self.estimate)} against {self.versus}"
        return f"{what[0].upper()}{what[1:]} ({interval}): {call} ({p})."

    def row(self) -> dict:
        """A table row: design, label, estimate, low, high, p_value, mde, scale, verdict."""
        ratio = self.scale == "log_ratio"
        shown = (lambda v: (math.exp(v) - 1) * 100) if ratio else (lambda v: v)
        unit = {"count": "incidents", "points": "score points"}.get(self.scale, "% change")
        return {"design": self.design, "label": self.label, "estimate": shown(self.estimate),
                "low": shown(self.low), "high": shown(self.high), "p_value": self.p_value,
                "mde": (math.exp(self.mde) - 1) * 100 if ratio else self.mde, "unit": unit,
                "verdict": self.verdict()}


@dataclass(frozen=True)
class Skipped:
    """A design that could not run on this selection, and why (shown instead of a number)."""

    design: str
    reason: str


NOT_ESTIMABLE = ("The area and week fixed effects already reproduce the treated areas' weeks after the start, "
                 "so no effect can be separated from them. This happens when every area is treated from the "
                 "same week, or when an area is both treated and a comparison: change the comparison areas "
                 "or the start dates.")
NOT_CONVERGED = ("The Poisson fit did not converge on this selection (often areas with no incidents at all "
                 "in the window): widen the window or the areas.")
