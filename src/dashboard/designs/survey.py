"""Survey change: the difference in the change of survey scores between treated and comparison areas.
No Streamlit, no store.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from dashboard.designs.estimates import ALPHA, Estimate


def survey_change(surveys: pd.DataFrame, treated: Sequence[str], control: Sequence[str], start,
                  score: str = "trust_score", alpha: float = ALPHA) -> tuple[pd.DataFrame, Estimate | None]:
    """Respondent-weighted mean ``score`` per group before and after ``start`` and the difference in
    differences across areas (Welch standard error over the areas' own before/after changes).

    ``surveys``: area_id, period_start, respondents and the score column. Returns (table with group,
    before, after, areas; Estimate in score points or None with fewer than two areas per group).
    """
    s = surveys.dropna(subset=[score]).assign(area_id=lambda f: f["area_id"].astype(str))
    s["period"] = np.where(pd.to_datetime(s["period_start"]) >= pd.Timestamp(start), "after", "before")
    s["group"] = np.select([s["area_id"].isin(treated), s["area_id"].isin(control)], ["treated", "comparison"], "")
    s = s[s["group"] != ""]
    s["w"] = s["respondents"].clip(lower=1).astype(float)
    s["ws"] = s["w"] * s[score]
    per_area = s.groupby(["group", "area_id", "period"])[["ws", "w"]].sum()
    per_area = (per_area["ws"] / per_area["w"]).unstack("period")
    table = (s.groupby(["group", "period"])[["ws", "w"]].sum().pipe(lambda f: f["ws"] / f["w"])
             .unstack("period").reindex(columns=["before", "after"]).reset_index())
    table["areas"] = table["group"].map(s.groupby("group")["area_id"].nunique())
    change = per_area.dropna(subset=[c for c in ("before", "after") if c in per_area.columns])
    if not {"before", "after"} <= set(change.columns):
        return table, None
    delta = (change["after"] - change["before"]).groupby(level="group")
    n, mean, var = delta.count(), delta.mean(), delta.var()
    if n.get("treated", 0) < 2 or n.get("comparison", 0) < 2:
        return table, None
    se = math.sqrt(var["treated"] / n["treated"] + var["comparison"] / n["comparison"])
    num = se ** 4
    den = ((var["treated"] / n["treated"]) ** 2 / (n["treated"] - 1)
           + (var["comparison"] / n["comparison"]) ** 2 / (n["comparison"] - 1))
    df = num / den if den > 0 else float(n.sum() - 2)
    return table, Estimate.from_se("survey", f"Change in {score.replace('_', ' ')} (points)", "points",
                                   float(mean["treated"] - mean["comparison"]), se, df=df, alpha=alpha,
                                   versus="the change in the comparison areas")
