"""Weighted Displacement Difference and Quotient (Wheeler & Ratcliffe 2018; Bowers & Johnson 2003) of
treated, comparison and buffer counts before and after. No Streamlit, no store.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from dashboard.designs.estimates import ALPHA, Estimate
from dashboard.designs.poisson import GLM_TOL, estimable_columns, one_thread, poisson_mle

Pair = tuple[float, float]  # (before, after) incident counts over windows of equal length


@dataclass(frozen=True)
class Wdd:
    """Weighted Displacement Difference: ``local`` (treated vs comparison), ``buffer`` (displacement area
    vs comparison, None without a buffer) and ``total`` (their sum; the headline). Counts are incidents;
    negative = crime fell more than in the comparison. ``wdq`` is the Weighted Displacement Quotient
    (None when it cannot be computed) and ``wdq_text`` says how to read it."""

    local: Estimate
    buffer: Estimate | None
    total: Estimate
    wdq: float | None
    wdq_text: str
    counts: dict[str, Pair]
    control_weight: float
    buffer_weight: float | None
    dispersion: float
    poisson_total: Estimate


def wdd(treated: Pair, control: Pair, buffer: Pair | None = None, *, control_weight: float = 1.0,
        buffer_weight: float | None = None, scale_to_before: bool = False, dispersion: float = 1.0,
        dispersion_df: float | None = None, alpha: float = ALPHA) -> Wdd:
    """The WDD test of Wheeler & Ratcliffe (2018) on before/after counts.

    local = (T1 - T0) - w_C (C1 - C0); buffer = (D1 - D0) - w_D (C1 - C0); total = local + buffer. With
    the default weights (w_C = 1, no buffer weight: the buffer term is D1 - D0) this is exactly their
    WDD = (T1 - T0) - (C1 - C0) + (D1 - D0), variance = the sum of the counts (Poisson). Fixed weights
    scale the comparison to a group's size (ptools' area weights): variance = sum of each count times its
    squared coefficient (the comparison used twice counts once, with its combined coefficient).

    ``scale_to_before``: weights from the data, w_C = T0/C0 and w_D = D0/C0, so local = T1 - T0 C1/C0
    (the treated areas' after-count minus what the comparison's change implies); then the variance is by
    the delta method, since the weights are themselves counts. Use it when the comparison areas have more
    or less crime than the treated ones: the plain WDD assumes they change by the same number of
    incidents, which areas of different size do not. All variances are multiplied by ``dispersion`` when
    counts vary more than Poisson (>= 1). Intervals and p-values are normal (z-test), or t with
    ``dispersion_df`` degrees of freedom when the dispersion was estimated from that many residuals
    (quasi-likelihood practice; it matters with few areas).
    """
    t0, t1 = map(float, treated)
    c0, c1 = map(float, control)
    d0, d1 = map(float, buffer) if buffer is not None else (0.0, 0.0)
    n = {"t0": t0, "t1": t1, "c0": c0, "c1": c1, "d0": d0, "d1": d1}
    phi = max(float(dispersion), 1.0)
    if scale_to_before:
        r = c1 / c0
        control_weight = t0 / c0
        buffer_weight = d0 / c0 if buffer is not None else None
        g_local = {"t1": 1.0, "t0": -r, "c1": -t0 / c0, "c0": t0 * c1 / c0 ** 2}
        g_buf = {"d1": 1.0, "d0": -r, "c1": -d0 / c0, "c0": d0 * c1 / c0 ** 2}
    else:
        w_d = buffer_weight or 0.0
        g_local = {"t1": 1.0, "t0": -1.0, "c1": -control_weight, "c0": control_weight}
        g_buf = {"d1": 1.0, "d0": -1.0, "c1": -w_d, "c0": w_d}
    local = (t1 - t0) - control_weight * (c1 - c0)
    label = "Weighted Displacement Difference"

    def est(name: str, value: float, grad: dict[str, float], scale: float) -> Estimate:
        var = sum(g ** 2 * n[k] for k, g in grad.items())
        df = dispersion_df if scale > 1 and dispersion_df else None
        return Estimate.from_se("wdd", name, "count", value, math.sqrt(var * scale), df=df, alpha=alpha,
                                versus="the comparison areas imply")

    counts: dict[str, Pair] = {"treated": (t0, t1), "control": (c0, c1)}
    local_est = est(f"{label}: treated areas", local, g_local, phi)
    if buffer is None:
        g_total, total, buffer_est = g_local, local, None
    else:
        counts["buffer"] = (d0, d1)
        buf = (d1 - d0) - (buffer_weight or 0.0) * (c1 - c0)
        buffer_est = est(f"{label}: buffer", buf, g_buf, phi)
        total = local + buf
        g_total = {k: g_local.get(k, 0.0) + g_buf.get(k, 0.0) for k in {*g_local, *g_buf}}
    total_est = est(label, total, g_total, phi)
    poisson = est(label, total, g_total, 1.0)
    q, q_text = wdq(treated, control, buffer)
    return Wdd(local_est, buffer_est, total_est, q, q_text, counts, float(control_weight), buffer_weight, phi,
               poisson)


def wdq(treated: Pair, control: Pair, buffer: Pair | None) -> tuple[float | None, str]:
    """Weighted Displacement Quotient (Bowers & Johnson 2003) and how to read it.

    WDQ = (D1/C1 - D0/C0) / (T1/C1 - T0/C0). Read only when the treated areas improved relative to the
    comparison (denominator < 0): above 0 the buffer improved too (diffusion of benefits), below 0 crime
    moved into it (displacement), below -1 more moved than was prevented. It has no standard error.
    """
    (t0, t1), (c0, c1) = treated, control
    if buffer is None:
        return None, "No buffer area, so no displacement quotient."
    d0, d1 = buffer
    if min(c0, c1) <= 0:
        return None, "The comparison areas had no incidents in a window, so the quotient is undefined."
    success = t1 / c1 - t0 / c0
    displaced = d1 / c1 - d0 / c0
    if success >= 0:
        return None, ("The treated areas did not improve relative to the comparison, so the displacement "
                      "quotient is not interpreted.")
    q = displaced / success
    if q > 0:
        reading = "diffusion of benefits: the buffer improved as well"
    elif q < -1:
        reading = "displacement larger than the reduction: crime moved next door"
    elif q < 0:
        reading = "some displacement into the buffer"
    else:
        reading = "no change in the buffer"
    return float(q), f"WDQ {q:+.2f}: {reading} (no interval: the quotient has no standard error)."


def area_dispersion(frame: pd.DataFrame) -> float:
    """Extra-Poisson variation of before/after counts between areas (Pearson chi2 / df, >= 1).

    ``frame``: area_id, group, before, after. Fits log E[count] = area + group x period (Poisson) and
    returns chi2/df; 1.0 when there are no residual degrees of freedom. Beat-level yearly counts in
    Chicago vary about five times more than Poisson, which a Poisson-only interval would ignore.
    """
    return dispersion_and_df(frame)[0]


def dispersion_and_df(frame: pd.DataFrame) -> tuple[float, float | None]:
    """area_dispersion and its residual degrees of freedom (None when there are none or no area)."""
    long = frame.melt(id_vars=["area_id", "group"], value_vars=["before", "after"], var_name="period",
                      value_name="count")
    long = long[long.groupby("area_id")["count"].transform("sum") > 0]
    if long["area_id"].nunique() < 3:
        return 1.0, None
    area = pd.get_dummies(long["area_id"], drop_first=True, dtype=float)
    gp = pd.get_dummies(long["group"] + ":" + long["period"], dtype=float)
    gp = gp[[c for c in gp.columns if c.endswith(":after")]]
    x = pd.concat([pd.Series(1.0, index=long.index, name="const"), area, gp], axis=1).to_numpy()
    y = long["count"].to_numpy(float)
    with one_thread():
        # The event study's fit (same maximum likelihood) on the estimable columns: df_resid = rows - rank.
        xs = sparse.csr_matrix(x)
        keep = estimable_columns(xs)
        df_resid = len(y) - int(keep.sum())
        found = poisson_mle(y, xs[:, keep], GLM_TOL, 200) if df_resid > 0 else None
    if found is None:
        return 1.0, None
    mu = found[1]
    return max(float(np.sum((y - mu) ** 2 / mu) / df_resid), 1.0), float(df_resid)
