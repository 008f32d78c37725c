"""Impact designs: did recorded crime change where and after outreach ran, compared with areas it did not
reach, and how sure can we be. Weighted Displacement Difference and Quotient (Wheeler & Ratcliffe 2018;
Bowers & Johnson 2003), a stacked Poisson event study on area x week panels (cluster-robust by area,
correct under staggered starts), an interrupted time series with seasonality (HAC errors), the choice of
treated, comparison and buffer areas, survey change, and the one-page HTML program brief.

Pure code over small aggregated frames: no Streamlit, no store, no plotting. Every estimate carries a
95% interval, a p-value, a minimum detectable effect and a plain-language verdict. A design that cannot
run on the data given says why (``Skipped``) instead of raising.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import linalg, sparse
from scipy import stats as sps

from dashboard import schema

ALPHA = 0.05
POWER = 0.80
# z(0.975) + z(0.80) = 2.80: an effect this many standard errors from zero is found 80% of the time.
MDE_FACTOR = float(sps.norm.ppf(1 - ALPHA / 2) + sps.norm.ppf(POWER))
WEEK = pd.Timedelta(days=7)
YEAR_WEEKS = 365.25 / 7
GLM_TOL = 1e-12  # tight, so a direct statsmodels fit of the same model agrees to 1e-9

REPORTING_WARNING = (
    "More trust can mean more *reported* crime. A review of 37 studies (Gill et al. 2014) found community "
    "policing improves how residents see the police but no evidence that it reduces recorded crime, partly "
    "because residents who trust the police report more. A rise in recorded incidents after outreach may be "
    "more reporting, not more harm; homicides are reported regardless, so check them separately."
)


# ------------------------------------------------------------------------------------------ estimates


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


# ------------------------------------------------------------------------------------------ WDD / WDQ

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
        found = _poisson_mle(y, xs[:, keep], GLM_TOL, 200) if df_resid > 0 else None
    if found is None:
        return 1.0, None
    mu = found[1]
    return max(float(np.sum((y - mu) ** 2 / mu) / df_resid), 1.0), float(df_resid)


# ------------------------------------------------------------------------------------- event study


@dataclass(frozen=True)
class EventStudy:
    """Stacked Poisson event study.

    ``coefficients``: bin, first_week, last_week, estimate, se, low, high, rate_ratio (log rate ratio of
    treated vs comparison areas in each bin of weeks since the start, relative to the bin just before it;
    the reference bin has estimate 0). ``pooled``: the average effect after the start (log rate ratio).
    ``pretrend_p``: joint test that all lead bins are 0 (None without leads).
    """

    coefficients: pd.DataFrame
    pooled: Estimate
    pretrend_p: float | None
    cohorts: int
    treated_areas: int
    control_areas: int
    rows: int
    notes: tuple[str, ...] = ()


def complete_panel(panel: pd.DataFrame, areas: Iterable[str], first_week, last_week) -> pd.DataFrame:
    """Every area x Monday from first_week to last_week: area_id, week, count (missing = 0)."""
    weeks = pd.date_range(pd.Timestamp(first_week), pd.Timestamp(last_week), freq="7D")
    ids = sorted({str(a) for a in areas})
    idx = pd.MultiIndex.from_product([ids, weeks], names=["area_id", "week"])
    counts = (panel.assign(area_id=panel["area_id"].astype(str), week=pd.to_datetime(panel["week"]))
              .groupby(["area_id", "week"])["count"].sum())
    return counts.reindex(idx, fill_value=0).astype(float).reset_index()


def stacked_panel(panel: pd.DataFrame, starts: Mapping[str, pd.Timestamp], controls: Iterable[str],
                  weeks: int, first_events: Mapping[str, pd.Timestamp] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """One sub-experiment per start week (cohort): its treated areas and its clean comparison areas (never
    treated, or first treated only after the cohort's window), weeks start-weeks .. start+weeks-1. The
    sub-experiments are stacked; later models use cohort-specific area and week effects, so areas treated
    earlier are never used as comparisons for later ones (the bias of a bare two-way fixed-effects fit).

    ``panel``: complete area_id, week, count. Returns (stacked frame with cohort, area_id, week, count,
    treated, rel (weeks since the start), post; notes on what was left out).
    """
    first_events = first_events or {}
    lo, hi = panel["week"].min(), panel["week"].max()
    notes: list[str] = []
    frames = []
    by_start: dict[pd.Timestamp, list[str]] = {}
    dropped = 0
    for area, start in starts.items():
        start = pd.Timestamp(start)
        if start - weeks * WEEK < lo or start + (weeks - 1) * WEEK > hi:
            dropped += 1
            continue
        by_start.setdefault(start, []).append(str(area))
    if dropped:
        notes.append(f"{dropped} treated area(s) left out: fewer than {weeks} weeks of data before or after "
                     "their start.")
    controls = [str(c) for c in controls if str(c) not in {str(a) for a in starts}]
    for k, (start, treated) in enumerate(sorted(by_start.items())):
        end = start + (weeks - 1) * WEEK
        clean = [c for c in controls if c not in first_events or pd.isna(first_events[c])
                 or pd.Timestamp(first_events[c]) > end]
        if not clean:
            notes.append(f"Cohort starting {start:%d %b %Y} has no clean comparison areas; left out.")
            continue
        sub = panel[panel["area_id"].isin(treated + clean)
                    & (panel["week"] >= start - weeks * WEEK) & (panel["week"] <= end)].copy()
        sub["cohort"] = k
        sub["treated"] = sub["area_id"].isin(treated).astype(float)
        sub["rel"] = ((sub["week"] - start) / WEEK).round().astype(int)
        sub["post"] = (sub["rel"] >= 0).astype(float)
        frames.append(sub)
    if not frames:
        return pd.DataFrame(columns=["cohort", "area_id", "week", "count", "treated", "rel", "post"]), notes
    out = pd.concat(frames, ignore_index=True)
    # Units or cohort-weeks with no incident at all carry no information and push their effect to -inf.
    out = out[out.groupby(["cohort", "area_id"])["count"].transform("sum") > 0]
    out = out[out.groupby(["cohort", "week"])["count"].transform("sum") > 0]
    return out[["cohort", "area_id", "week", "count", "treated", "rel", "post"]].reset_index(drop=True), notes


def _fe_matrix(stacked: pd.DataFrame) -> sparse.csr_matrix:
    """Constant, cohort x area dummies (the first dropped) and cohort x week dummies (each cohort's first
    week dropped, so the two sets are not collinear), as a sparse matrix: at most three non-zeros a row.
    Columns in the order of sorted level names, as ``pd.get_dummies`` would give them."""
    n = len(stacked)
    unit = stacked["cohort"].astype(str) + "|" + stacked["area_id"].astype(str)
    cweek = stacked["cohort"].astype(str) + "|" + stacked["week"].dt.strftime("%Y-%m-%d")
    u_codes, u_levels = pd.factorize(unit, sort=True)
    w_codes, w_levels = pd.factorize(cweek, sort=True)
    first_of_cohort = stacked.groupby("cohort")["week"].min()
    drop = {f"{k}|{wk:%Y-%m-%d}" for k, wk in first_of_cohort.items()}
    kept = np.array([level not in drop for level in w_levels], dtype=bool)
    week_col = np.where(kept, np.cumsum(kept) - 1, -1) + len(u_levels)  # after const and len(units) - 1
    rows = np.arange(n)
    has_unit, has_week = u_codes > 0, kept[w_codes]
    r = np.concatenate([rows, rows[has_unit], rows[has_week]])
    c = np.concatenate([np.zeros(n, dtype=int), u_codes[has_unit], week_col[w_codes][has_week]])
    return sparse.csr_matrix((np.ones(len(r)), (r, c)), shape=(n, len(u_levels) + int(kept.sum())))


def one_thread():
    """Run dense linear algebra on one BLAS thread. The event study's least squares (about 12,000 x 240 on
    the real sample) took 21 s of CPU with OpenBLAS threads spinning against each other on a busy 2-core
    server, and 1.1 s on one thread, which is as fast as several when the machine is idle."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


@dataclass(frozen=True)
class PoissonFit:
    """A Poisson GLM's coefficients and their (cluster-robust) covariance. A coefficient of a column that
    the earlier columns already span is not estimable: it is NaN (``aliased``), as R's ``glm`` reports NA,
    and so are its row and column of ``cov``."""

    params: np.ndarray
    cov: np.ndarray

    @property
    def bse(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov))

    @property
    def aliased(self) -> np.ndarray:
        return np.isnan(self.params)


def _poisson_deviance(y: np.ndarray, mu: np.ndarray) -> float:
    ratio = np.where(y > 0, y / mu, 1.0)
    return float(2 * np.sum(y * np.log(ratio) - (y - mu)))


ALIAS_TOL = 1e-10  # squared share of a scaled column left outside the span of the columns before it


def estimable_columns(x) -> np.ndarray:
    """Which columns of ``x`` to keep (bool mask): each column, in order, unless the columns kept before it
    already span it (its squared residual, as a share of its own squared length, is at most ALIAS_TOL), or
    it is all zeros.

    The same rule as R's pivoting QR in ``lm`` and ``glm``: a duplicated treatment column, a constant
    beside a full set of dummies, or a treatment indicator that the fixed effects reproduce loses the later
    column, never an earlier one. Exact collinearity leaves residuals of order 1e-16, far below the
    tolerance on any BLAS, so the choice does not depend on the machine's rounding the way an inverse or a
    pseudo-inverse of a singular Hessian does.
    """
    xs = sparse.csr_matrix(x, dtype=float)
    gram = (xs.T @ xs).toarray()
    norms = np.sqrt(np.diag(gram))
    keep = np.zeros(len(norms), dtype=bool)
    scaled = gram / np.outer(np.where(norms > 0, norms, 1.0), np.where(norms > 0, norms, 1.0))
    chol = np.zeros((0, 0))  # Cholesky factor of the scaled Gram matrix of the kept columns
    kept: list[int] = []
    for j in np.flatnonzero(norms > 0):
        below = linalg.solve_triangular(chol, scaled[kept, j], lower=True) if kept else np.zeros(0)
        rest = scaled[j, j] - float(below @ below)
        if rest <= ALIAS_TOL:
            continue
        grown = np.zeros((len(kept) + 1, len(kept) + 1))
        grown[:-1, :-1], grown[-1, :-1], grown[-1, -1] = chol, below, math.sqrt(rest)
        chol = grown
        kept.append(int(j))
        keep[j] = True
    return keep


def _newton_poisson(y: np.ndarray, x: sparse.csr_matrix, tol: float, maxiter: int):
    """The Poisson maximum likelihood (log link) by Newton's method on a sparse full-rank design, from
    statsmodels' starting values (mu = (y + mean y) / 2) and with its stopping rule (deviance change <= tol,
    or within rounding of a deviance this size). None when the fit does not converge."""
    mu = (y + y.mean()) / 2
    eta = np.log(mu)
    dev_old = _poisson_deviance(y, mu)
    xt = x.T.tocsr()
    for _ in range(maxiter):
        xtw = xt.multiply(mu[None, :]).tocsr()
        h = (xtw @ x).toarray()
        try:
            beta = linalg.solve(h, xtw @ (eta + (y - mu) / mu), assume_a="pos")
        except (linalg.LinAlgError, ValueError):
            return None
        eta = x @ beta
        mu = np.exp(eta)
        dev = _poisson_deviance(y, mu)
        if not np.isfinite(dev):
            return None
        if abs(dev - dev_old) <= max(tol, 1e-13 * dev):
            return beta, mu
        dev_old = dev
    return None


def _poisson_mle(y: np.ndarray, x: sparse.csr_matrix, tol: float, maxiter: int):
    """(beta, mu) of a full-rank Poisson GLM: the sparse Newton fit, or statsmodels' IRLS where Newton
    does not converge (a fit drifting towards an area with no incidents, say). None if neither does."""
    found = _newton_poisson(y, x, tol, maxiter)
    if found is not None:
        return found
    res = sm.GLM(y, x.toarray(), family=sm.families.Poisson()).fit(tol=tol, maxiter=maxiter)
    beta = np.asarray(res.params)
    mu = np.asarray(res.fittedvalues)
    return (beta, mu) if np.all(np.isfinite(beta)) and np.all(np.isfinite(mu)) else None


def poisson_cluster_fit(y: np.ndarray, x, groups: np.ndarray, tol: float = GLM_TOL, maxiter: int = 200) -> PoissonFit:
    """Poisson GLM of ``y`` on ``x`` (dense or sparse; the fixed-effect dummies make it mostly zeros) with
    errors clustered by ``groups``: the same numbers as statsmodels' ``GLM(y, x, Poisson()).fit(
    cov_type="cluster", cov_kwds={"groups": groups})`` (CRV1: inverse Hessian x sum of per-cluster score
    outer products x inverse Hessian, times G/(G-1) x (N-1)/(N-K)), which tests check to 1e-9.

    statsmodels solves a dense least squares problem by SVD on every iteration: about 1.4 s a fit for the
    event study's 12,000 x 240 design on the real sample, whatever the number of incidents. The Newton
    steps here form X'WX from the sparse design (a few non-zeros a row) and solve a 240 x 240 system: a few
    milliseconds. A rank-deficient design is fitted on its estimable columns (``estimable_columns``); the
    others come back NaN, so no step inverts a singular matrix. All NaN when the fit does not converge.
    """
    y = np.asarray(y, dtype=float)
    xs = sparse.csr_matrix(x, dtype=float)
    n, k = xs.shape
    params, cov = np.full(k, np.nan), np.full((k, k), np.nan)
    with one_thread():
        keep = estimable_columns(xs)
        xk = xs[:, keep]
        m = int(keep.sum())
        found = _poisson_mle(y, xk, tol, maxiter) if 0 < m < n else None
        if found is None:
            return PoissonFit(params, cov)
        beta, mu = found
        hinv = np.linalg.inv((xk.T.multiply(mu[None, :]).tocsr() @ xk).toarray())
        _, cluster = np.unique(np.asarray(groups), return_inverse=True)
        g = int(cluster.max()) + 1
        sums = (sparse.csr_matrix((y - mu, (cluster, np.arange(n))), shape=(g, n)) @ xk).toarray()
        scale = g / (g - 1.0) * ((n - 1.0) / (n - m)) if g > 1 else np.nan
        params[keep] = beta
        cov[np.ix_(keep, keep)] = hinv @ (sums.T @ sums) @ hinv.T * scale
    return PoissonFit(params, cov)


def _cluster_fit(y: np.ndarray, x, groups: np.ndarray) -> PoissonFit:
    return poisson_cluster_fit(y, x, groups, tol=GLM_TOL, maxiter=200)


def event_bins(weeks: int, bin_weeks: int) -> pd.DataFrame:
    """bin, first_week, last_week of relative weeks -weeks .. weeks-1 grouped by ``bin_weeks``; bin -1
    (the weeks just before the start) is the reference."""
    rel = np.arange(-weeks, weeks)
    b = np.floor_divide(rel, bin_weeks)
    frame = pd.DataFrame({"rel": rel, "bin": b})
    return frame.groupby("bin")["rel"].agg(first_week="min", last_week="max").reset_index()


def event_study(panel: pd.DataFrame, starts: Mapping[str, pd.Timestamp], controls: Iterable[str], weeks: int,
                bin_weeks: int = 1, first_events: Mapping[str, pd.Timestamp] | None = None,
                alpha: float = ALPHA, leads_lags: bool = True) -> EventStudy | Skipped:
    """Stacked event study (Cengiz et al. 2019; Wing, Freedman & Hollingsworth 2024) fitted as a Poisson
    GLM with cohort x area and cohort x week fixed effects and errors clustered by area (an area used in
    several cohorts is one cluster). Leads and lags are binned by ``bin_weeks``; intervals and tests use a
    t distribution with (treated or comparison areas, whichever fewer, - 1) degrees of freedom.

    ``panel``: complete area_id, week, count; ``starts``: treated area -> start Monday; ``controls``:
    comparison areas; ``first_events``: when comparison areas were first treated, if ever (they stay clean
    controls only for cohorts that end before that).
    """
    stacked, notes = stacked_panel(panel, starts, controls, weeks, first_events)
    treated_n = stacked.loc[stacked["treated"] == 1, "area_id"].nunique() if len(stacked) else 0
    control_n = stacked.loc[stacked["treated"] == 0, "area_id"].nunique() if len(stacked) else 0
    if treated_n == 0 or control_n == 0:
        return Skipped("event_study", " ".join(notes) or "No treated or no comparison areas with incidents.")
    groups = pd.factorize(stacked["area_id"])[0]
    clusters = int(groups.max() + 1)
    if clusters < 5 or min(treated_n, control_n) < 2:
        return Skipped("event_study", f"{treated_n} treated and {control_n} comparison areas: too few for "
                                      "errors clustered by area.")
    fe = _fe_matrix(stacked)
    y = stacked["count"].to_numpy(float)
    # Cluster-robust errors are too small when few areas are treated (MacKinnon & Webb 2017); a t with
    # (areas in the smaller group - 1) degrees of freedom keeps the 95% interval honest in our simulations.
    df = min(treated_n, control_n) - 1

    pooled_x = sparse.hstack([fe, sparse.csr_matrix((stacked["treated"] * stacked["post"]).to_numpy()[:, None])])
    res = _cluster_fit(y, pooled_x, groups)
    if not np.isfinite(res.params[-1]) or not np.isfinite(res.bse[-1]):
        return Skipped("event_study", NOT_ESTIMABLE if res.aliased[-1] else NOT_CONVERGED)
    pooled = Estimate.from_se("event_study", "Stacked event study: average after the start", "log_ratio",
                              float(res.params[-1]), float(res.bse[-1]), df=df, alpha=alpha)

    if not leads_lags:  # the simulation checks only need the average effect
        return EventStudy(pd.DataFrame(), pooled, None, int(stacked["cohort"].nunique()), int(treated_n),
                          int(control_n), len(stacked), tuple(notes))
    bins = event_bins(weeks, bin_weeks)
    b = np.floor_divide(stacked["rel"].to_numpy(), bin_weeks)
    keep = [k for k in bins["bin"] if k != -1]
    dummies = np.column_stack([(stacked["treated"].to_numpy() * (b == k)) for k in keep])
    res_es = _cluster_fit(y, sparse.hstack([fe, sparse.csr_matrix(dummies)]), groups)
    k0 = fe.shape[1]
    est = np.asarray(res_es.params[k0:])
    se = np.asarray(res_es.bse[k0:])
    crit = float(sps.t(df).ppf(1 - alpha / 2))
    coefs = bins.set_index("bin").loc[keep].reset_index()
    coefs["estimate"], coefs["se"] = est, se
    ref = bins[bins["bin"] == -1].assign(estimate=0.0, se=0.0)
    coefs = pd.concat([coefs, ref], ignore_index=True).sort_values("bin").reset_index(drop=True)
    coefs["low"] = coefs["estimate"] - crit * coefs["se"]
    coefs["high"] = coefs["estimate"] + crit * coefs["se"]
    coefs["rate_ratio"] = np.exp(coefs["estimate"])
    missing = [k for k, e in zip(keep, est, strict=True) if not np.isfinite(e)]
    if missing:
        notes.append(f"{len(missing)} of the {len(keep)} week bins cannot be estimated (no treated area has "
                     "weeks in them apart from the fixed effects) and are left out of the chart and the "
                     "pre-trend test.")
        coefs = coefs[np.isfinite(coefs["estimate"])].reset_index(drop=True)
    leads = [i for i, k in enumerate(keep) if k < -1 and np.isfinite(est[i])]
    pre_p = None
    if leads:
        cov = res_es.cov[k0:, k0:][np.ix_(leads, leads)]
        v = est[leads]
        # With few clusters the CRV1 covariance of many leads can be singular: the pseudo-inverse drops
        # directions below 1e-10 of the largest, a cut that does not move with rounding.
        stat = float(v @ np.linalg.pinv(cov, rcond=1e-10, hermitian=True) @ v)
        q = len(leads)
        # F form of the Wald test with cluster degrees of freedom (conservative with few clusters).
        pre_p = float(sps.f.sf(stat / q, q, df)) if df > 0 else None
    return EventStudy(coefs, pooled, pre_p, int(stacked["cohort"].nunique()), int(treated_n), int(control_n),
                      len(stacked), tuple(notes))


# -------------------------------------------------------------------------------------------- ITS


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
    model = sm.GLM(y, x.to_numpy(), family=sm.families.Poisson())
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


# ----------------------------------------------------------------------------------- choosing areas


def neighbours(areas) -> dict[str, set[str]]:
    """area_id -> ids of areas whose geometry touches it (shares a boundary or overlaps)."""
    import geopandas as gpd

    geo = areas[["area_id", "geometry"]].reset_index(drop=True)
    pairs = gpd.sjoin(geo, geo, predicate="intersects")
    pairs = pairs[pairs["area_id_left"] != pairs["area_id_right"]]
    out: dict[str, set[str]] = {str(a): set() for a in geo["area_id"]}
    for a, b in zip(pairs["area_id_left"].astype(str), pairs["area_id_right"].astype(str), strict=True):
        out[a].add(b)
    return out


CONTROL_RULES = {
    "few": "Areas with the least of it (bottom quarter)",
    "same_district": "Other areas in the same districts",
    "none": "Areas where it never ran",
}
MODES = {
    "dose": "Many vs few (dose)",
    "rollout": "Started vs never",
}


@dataclass(frozen=True)
class Groups:
    """Which areas are treated, comparison and buffer, and why.

    ``table``: area_id, name, events_before, events_after, group ("treated", "comparison", "buffer", "");
    ``starts``: treated area -> the Monday its treatment starts (the event study's time zero).
    """

    treated: tuple[str, ...]
    control: tuple[str, ...]
    buffer: tuple[str, ...]
    starts: dict[str, pd.Timestamp]
    first_events: dict[str, pd.Timestamp]
    table: pd.DataFrame
    notes: tuple[str, ...] = ()


def quartile_groups(events: pd.Series) -> tuple[list[str], list[str]]:
    """Top and bottom quarter of areas by events (average rank, so tied areas stay together). When ties
    leave the bottom quarter empty (most areas have none of a rare program), the bottom group is the areas
    tied at the fewest events, if they are not also the top."""
    pct = events.rank(pct=True, method="average")
    top = sorted(events.index[pct > 0.75].astype(str))
    bottom = sorted(events.index[pct <= 0.25].astype(str))
    if not bottom and len(events):
        fewest = sorted(events.index[events == events.min()].astype(str))
        bottom = [a for a in fewest if a not in set(top)]
    return top, bottom


def choose_groups(dose: pd.DataFrame, near: Mapping[str, set[str]], *, mode: str, control_rule: str,
                  start, parents: Mapping[str, str] | None = None, first_events: Mapping | None = None,
                  treated: Sequence[str] = (), control: Sequence[str] = ()) -> Groups:
    """Treated, comparison and buffer areas for a program.

    ``dose``: area_id, name, events_before, events_after (events in the windows before and after
    ``start``). mode "dose": treated = top quarter of areas by events before the start (the start is then
    a reference date, not the beginning of the program); "rollout": treated = areas with events after the
    start and none before it, each starting at its first event. Comparison by ``control_rule``: "few"
    (bottom quarter, dose mode), "none" (no events in either window), "same_district" (other areas in the
    treated areas' districts; needs ``parents``). Explicit ``treated``/``control`` lists override the
    rules. Buffer = areas touching a treated area that are neither treated nor comparison; comparison
    areas that touch a treated area are moved to the buffer unless fewer than 5 comparison areas would
    remain.
    """
    d = dose.assign(area_id=dose["area_id"].astype(str)).set_index("area_id")
    start = pd.Timestamp(start)
    first_events = {str(k): pd.Timestamp(v) for k, v in (first_events or {}).items() if pd.notna(v)}
    notes: list[str] = []
    if treated:
        t = sorted(str(a) for a in treated if str(a) in d.index)
    elif mode == "dose":
        t, _ = quartile_groups(d["events_before"])
    else:
        t = sorted(d.index[(d["events_after"] > 0) & (d["events_before"] == 0)])
    if control:
        c = sorted(str(a) for a in control if str(a) in d.index and str(a) not in t)
    elif control_rule == "few":
        _, c = quartile_groups(d["events_before"] if mode == "dose" else d["events_before"] + d["events_after"])
    elif control_rule == "same_district" and parents:
        districts = {parents.get(a) for a in t}
        c = sorted(a for a in d.index if parents.get(a) in districts)
        if mode != "dose":
            c = [a for a in c if d.at[a, "events_before"] == 0 and d.at[a, "events_after"] == 0]
    else:
        if control_rule == "same_district":
            notes.append("Areas of this level do not nest in districts; comparing with areas where it never ran.")
        c = sorted(d.index[(d["events_before"] == 0) & (d["events_after"] == 0)])
    c = [a for a in c if a not in set(t)]
    touching = {n for a in t for n in near.get(a, set())} - set(t)
    clean = [a for a in c if a not in touching]
    if len(clean) >= 5 or len(clean) == len(c):
        moved = len(c) - len(clean)
        if moved:
            notes.append(f"{moved} comparison area(s) touch a treated area and were moved to the buffer, "
                         "so displaced crime does not flatter the comparison.")
        c = clean
    else:
        notes.append("Most comparison areas touch a treated area; kept them as comparison (the buffer is "
                     "only the other touching areas).")
    b = sorted(touching - set(c))
    if mode == "dose":
        starts = {a: start for a in t}
    else:
        starts = {a: _monday(first_events[a]) if a in first_events else start for a in t}
    table = d.reset_index()[["area_id", "name", "events_before", "events_after"]].copy()
    table["group"] = np.select([table["area_id"].isin(t), table["area_id"].isin(c), table["area_id"].isin(b)],
                               ["treated", "comparison", "buffer"], "")
    return Groups(tuple(t), tuple(c), tuple(b), starts, first_events, table, tuple(notes))


def _monday(ts) -> pd.Timestamp:
    ts = pd.Timestamp(ts).normalize()
    return ts - pd.Timedelta(days=ts.weekday())


def monday(day: date | datetime | pd.Timestamp) -> date:
    """The Monday of the week holding ``day``."""
    return _monday(day).date()


def complete_week_range(first: date, last: date) -> tuple[date, date] | None:
    """(first Monday, last Monday) of the complete weeks between two dates (None when there is none)."""
    lo = pd.Timestamp(first).normalize()
    lo = lo + pd.Timedelta(days=(7 - lo.weekday()) % 7)
    hi = pd.Timestamp(last).normalize()
    hi = hi - pd.Timedelta(days=(hi.weekday() + 1) % 7) - pd.Timedelta(days=6)
    return (lo.date(), hi.date()) if hi >= lo else None


def first_events(weekly: pd.DataFrame, level: str, since=None) -> dict[str, pd.Timestamp]:
    """area -> Monday of the first week with an event on or after ``since`` (``weekly``:
    outreach_counts([level, "week"])). A rollout starts at the first event after a quiet window, not at the
    first event in the data, which for a program already running is just where the data begin."""
    f = weekly[(weekly["events"] > 0) & weekly[level].notna()]
    if since is not None:
        f = f[pd.to_datetime(f["week"]) >= pd.Timestamp(since)]
    firsts = f.assign(week=pd.to_datetime(f["week"])).groupby(f[level].astype(str))["week"].min()
    return {str(k): pd.Timestamp(v) for k, v in firsts.items()}


def dose_frame(areas: pd.DataFrame, before: pd.DataFrame, after: pd.DataFrame, level: str) -> pd.DataFrame:
    """area_id, name, events_before, events_after: events of outreach_counts([level]) in the two windows."""
    out = pd.DataFrame({"area_id": areas["area_id"].astype(str).to_numpy(), "name": areas["name"].astype(str).to_numpy()})
    for name, frame in (("events_before", before), ("events_after", after)):
        counts = frame.assign(area_id=frame[level].astype(str)).set_index("area_id")["events"] if len(frame) else {}
        out[name] = out["area_id"].map(counts).fillna(0).astype(int)
    return out


def parent_areas(children, parents) -> dict[str, str]:
    """child area_id -> area_id of the parent area (e.g. district) holding the child's interior point."""
    import geopandas as gpd

    points = gpd.GeoDataFrame({"child": children["area_id"].astype(str).to_numpy()},
                              geometry=children.representative_point().to_numpy(), crs=children.crs)
    joined = gpd.sjoin(points, parents[["area_id", "geometry"]], how="inner", predicate="within")
    joined = joined[~joined["child"].duplicated()]
    return dict(zip(joined["child"], joined["area_id"].astype(str), strict=True))


# ---------------------------------------------------------------------------------------- surveys


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


# ------------------------------------------------------------------------------- whole analysis


@dataclass(frozen=True)
class ImpactSettings:
    """What the impact page asks: which event types, at which level, how treated areas are chosen, the
    start (a Monday), the window length in weeks and the offense groups counted."""

    event_types: tuple[str, ...]
    level: str
    mode: str
    control_rule: str
    start: date
    weeks: int
    offense_groups: tuple[str, ...] | None = None
    treated: tuple[str, ...] = ()
    control: tuple[str, ...] = ()
    citywide: bool = False

    @property
    def before(self) -> tuple[date, date]:
        return ((pd.Timestamp(self.start) - self.weeks * WEEK).date(),
                (pd.Timestamp(self.start) - pd.Timedelta(days=1)).date())

    @property
    def after(self) -> tuple[date, date]:
        return self.start, (pd.Timestamp(self.start) + self.weeks * WEEK - pd.Timedelta(days=1)).date()

    @property
    def bin_weeks(self) -> int:
        """About eight bins each side of the start."""
        return max(1, self.weeks // 8)


@dataclass(frozen=True)
class ImpactResult:
    """Everything the impact page shows. ``weekly``: week, group, count (treated / comparison / buffer
    totals); a design that could not run is a Skipped with the reason."""

    settings: ImpactSettings
    groups: Groups
    wdd: Wdd | Skipped
    event_study: EventStudy | Skipped
    its: Its | Skipped
    weekly: pd.DataFrame
    notes: tuple[str, ...] = field(default_factory=tuple)

    def estimates(self) -> list[Estimate]:
        out = []
        if isinstance(self.wdd, Wdd):
            out.append(self.wdd.total)
        if isinstance(self.event_study, EventStudy):
            out.append(self.event_study.pooled)
        if isinstance(self.its, Its):
            out.append(self.its.level)
        return out

    def summary(self) -> pd.DataFrame:
        """One row per design: design, label, estimate, low, high, p_value, mde, unit, verdict (a skipped
        design has only its reason as verdict)."""
        rows = [e.row() for e in self.estimates()]
        rows += [{"design": s.design, "label": DESIGN_LABELS[s.design], "verdict": f"Not run: {s.reason}"}
                 for s in (self.wdd, self.event_study, self.its) if isinstance(s, Skipped)]
        return pd.DataFrame(rows, columns=["design", "label", "estimate", "low", "high", "p_value", "mde",
                                           "unit", "verdict"])


    def headlines(self) -> list[tuple[str, Estimate | Skipped, str]]:
        """(title, headline estimate or why not, what it means) for each design, in page order."""
        wdd_head = self.wdd.total if isinstance(self.wdd, Wdd) else self.wdd
        es_head = self.event_study.pooled if isinstance(self.event_study, EventStudy) else self.event_study
        its_head = self.its.level if isinstance(self.its, Its) else self.its
        return [
            ("Weighted Displacement Difference", wdd_head, DESIGN_HELP["wdd"]),
            ("Stacked event study", es_head, DESIGN_HELP["event_study"]),
            ("Interrupted time series", its_head, DESIGN_HELP["its"]),
        ]

    def wdd_table(self) -> pd.DataFrame:
        """The WDD's parts (treated areas, buffer, total, total with Poisson variance only) as summary rows."""
        if not isinstance(self.wdd, Wdd):
            return pd.DataFrame(columns=["label", "estimate", "low", "high", "p_value", "mde", "unit", "verdict"])
        parts = [self.wdd.local, *([self.wdd.buffer] if self.wdd.buffer else []), self.wdd.total]
        rows = [e.row() for e in parts]
        poisson = self.wdd.poisson_total.row() | {"label": "Total, Poisson variance only (as Wheeler & Ratcliffe)"}
        return pd.DataFrame([*rows, poisson]).drop(columns=["design"])

    def describe(self, level_label: str, type_label: str) -> str:
        """One sentence on which areas are compared and why."""
        g, cfg = self.groups, self.settings
        level = level_label.lower()
        if cfg.citywide:
            return f"{type_label} is citywide: the whole city's weekly incidents before and after {cfg.start:%d %b %Y}."
        table = g.table
        t = table[table["group"] == "treated"]["events_before"]
        c = table[table["group"] == "comparison"]["events_before"]
        if cfg.treated:
            rule = "chosen by hand"
        elif cfg.mode == "dose":
            rule = (f"the top quarter by {type_label.lower()} events in the {cfg.weeks} weeks before "
                    f"{cfg.start:%d %b %Y}" + (f": {int(t.min())} or more" if len(t) else ""))
        else:
            rule = f"{type_label.lower()} began in the {cfg.weeks} weeks from {cfg.start:%d %b %Y}, none before"
        if cfg.control:
            crule = "chosen by hand"
        elif cfg.control_rule == "few":
            crule = "the bottom quarter" + (f": {int(c.max())} or fewer" if len(c) else "")
        else:
            crule = CONTROL_RULES.get(cfg.control_rule, cfg.control_rule).lower()
        return (f"{len(g.treated)} treated {level}s ({rule}); {len(g.control)} comparison {level}s ({crule}); "
                f"{len(g.buffer)} buffer {level}s touching treated ones. Incidents of the offense groups in the "
                f"sidebar, {cfg.weeks} weeks before and after.")

    def pretrend_text(self) -> str:
        """Were treated and comparison areas moving alike before the start? (the event study's leads)"""
        es = self.event_study
        if not isinstance(es, EventStudy) or es.pretrend_p is None:
            return "No pre-trend test: the event study did not run."
        if es.pretrend_p < ALPHA:
            return (f"Before the start, treated and comparison areas were already moving apart (pre-trend test "
                    f"p = {es.pretrend_p:.3f}): the comparison is not a fair stand-in for what would have "
                    "happened, so read every design's estimate as description, not effect.")
        return (f"Before the start, treated and comparison areas moved alike within chance (pre-trend test "
                f"p = {es.pretrend_p:.2f}); that supports, but cannot prove, the comparison.")

    def caveats(self, recorded: Sequence[str]) -> list[str]:
        """What a reader of these numbers must know (for the page and the brief)."""
        out = []
        if self.settings.mode == "dose":
            out.append("Dose comparison, not on/off: the program ran in the comparison areas too, only less. "
                       "Areas that hold many events may differ from the others in ways that also move crime.")
        if set(recorded) <= {"events"}:
            out.append("Dose is counted in scheduled events only: attendance, officer hours and contacts are not "
                       "recorded in the loaded data.")
        if isinstance(self.event_study, EventStudy) and self.event_study.pretrend_p is not None \
                and self.event_study.pretrend_p < ALPHA:
            out.append(self.pretrend_text())
        if isinstance(self.its, Its):
            out.append("The interrupted time series has no comparison group: anything else that changed at the "
                       "start (policy, weather, reporting) is counted as the program's.")
        if isinstance(self.wdd, Wdd) and self.wdd.dispersion > 1.5:
            out.append(f"Area counts vary {self.wdd.dispersion:.1f} times more than chance alone would make them; "
                       "the WDD interval is widened accordingly (a Poisson-only interval would be too narrow).")
        out += list(self.notes)
        return out


DESIGN_LABELS = {"wdd": "Weighted Displacement Difference", "event_study": "Stacked event study",
                 "its": "Interrupted time series", "survey": "Survey change"}
DESIGN_HELP = {
    "wdd": "Incidents after minus before in the treated areas, against the change the comparison areas imply "
           "(scaled to the treated areas' size), plus the same for the buffer of touching areas, so crime pushed "
           "next door is not counted as prevented (Wheeler & Ratcliffe 2018). Negative = fewer incidents.",
    "event_study": "Weekly incidents of treated and comparison areas in a Poisson model with area and week "
                   "effects, stacked by start date so areas treated earlier never serve as comparisons; errors "
                   "clustered by area. The number is the average % difference after the start.",
    "its": "The treated areas' weekly series with its trend and season before the start, and the jump at the "
           "start (segmented Poisson regression, Newey-West errors). No comparison group.",
}


def type_label(register: pd.DataFrame, event_type: str) -> str:
    """The register's label of an event type (the key itself when the register lacks it)."""
    match = register.loc[register["event_type"] == event_type, "label"]
    return str(match.iloc[0]) if len(match) else event_type


def run_impact(settings: ImpactSettings, panel: pd.DataFrame, dose: pd.DataFrame, near: Mapping[str, set[str]],
               parents: Mapping[str, str] | None, first_events: Mapping[str, pd.Timestamp],
               citywide: pd.DataFrame | None = None) -> ImpactResult:
    """Choose the areas and run the three designs.

    ``panel``: area_id, week, count of incidents over the whole loaded range (complete weeks);
    ``dose``: area_id, name, events_before, events_after; ``first_events``: area -> first event Monday
    (for rollout starts and not-yet-treated comparisons); ``citywide``: week, count for the ITS of a
    citywide program (None: the ITS runs on the treated areas' total).
    """
    groups = choose_groups(dose, near, mode=settings.mode, control_rule=settings.control_rule,
                           start=settings.start, parents=parents, first_events=first_events,
                           treated=settings.treated, control=settings.control)
    notes = list(groups.notes)
    areas = set(dose["area_id"].astype(str))
    lo, hi = panel["week"].min(), panel["week"].max()
    full = complete_panel(panel, areas, lo, hi) if len(panel) else panel
    group_of = {a: "treated" for a in groups.treated} | {a: "comparison" for a in groups.control} | {
        a: "buffer" for a in groups.buffer}
    tagged = full.assign(group=full["area_id"].map(group_of)).dropna(subset=["group"])
    weekly = tagged.groupby(["week", "group"], as_index=False)["count"].sum()

    if settings.citywide:
        why = "A citywide program has no treated places to compare with untreated ones; only the ITS applies."
        its = (interrupted_time_series(citywide, settings.start) if citywide is not None
               else Skipped("its", "No citywide series."))
        return ImpactResult(settings, groups, Skipped("wdd", why), Skipped("event_study", why), its, weekly,
                            tuple(notes))
    if not groups.treated:
        why = "No area qualifies as treated with these settings."
        skip = Skipped("wdd", why)
        return ImpactResult(settings, groups, skip, Skipped("event_study", why), Skipped("its", why), weekly,
                            tuple(notes))
    # WDD: common windows before and after the start.
    s0, s1 = pd.Timestamp(settings.start) - settings.weeks * WEEK, pd.Timestamp(settings.start)
    e1 = s1 + settings.weeks * WEEK
    if settings.mode == "rollout":
        notes.append("Treated areas start at different dates; the WDD counts the same before/after windows for "
                     "all of them, the event study uses each area's own start.")
    per_area = tagged.assign(period=np.select([(tagged["week"] >= s0) & (tagged["week"] < s1),
                                               (tagged["week"] >= s1) & (tagged["week"] < e1)],
                                              ["before", "after"], ""))
    per_area = per_area[per_area["period"] != ""]
    if s0 < lo or e1 - WEEK > hi:
        wdd_result: Wdd | Skipped = Skipped("wdd", f"The {settings.weeks}-week windows before and after the "
                                            "start do not fit inside the loaded incidents.")
    elif not groups.control:
        wdd_result = Skipped("wdd", "No comparison areas.")
    else:
        sums = per_area.groupby(["group", "period"])["count"].sum()

        def pair(g: str) -> Pair:
            return float(sums.get((g, "before"), 0.0)), float(sums.get((g, "after"), 0.0))

        t, c = pair("treated"), pair("comparison")
        d = pair("buffer") if groups.buffer else None
        if c[0] <= 0:
            wdd_result = Skipped("wdd", "The comparison areas had no incidents before the start.")
        else:
            table = (per_area.groupby(["area_id", "group", "period"])["count"].sum().unstack("period")
                     .reindex(columns=["before", "after"], fill_value=0).fillna(0).reset_index())
            phi, phi_df = dispersion_and_df(table)
            wdd_result = wdd(t, c, d, scale_to_before=True, dispersion=phi, dispersion_df=phi_df)
    # In a dose comparison every area holds events, so "first event" is no start: comparison areas stay
    # comparisons throughout. In a rollout they are clean only until their own first event.
    es = event_study(full, groups.starts, groups.control, settings.weeks, settings.bin_weeks,
                     first_events=groups.first_events if settings.mode == "rollout" else None
                     ) if groups.control else Skipped(
        "event_study", "No comparison areas.")
    series = citywide if citywide is not None else (
        weekly[weekly["group"] == "treated"][["week", "count"]])
    its_start = (pd.Timestamp(settings.start) if settings.mode == "dose"
                 else min(groups.starts.values()))
    its = interrupted_time_series(series, its_start)
    return ImpactResult(settings, groups, wdd_result, es, its, weekly, tuple(notes))


# --------------------------------------------------------------------------------- program brief


def program_brief_html(program: Mapping[str, object], footprint: Mapping[str, object],
                       result: ImpactResult | None, caveats: Sequence[str], generated: str) -> str:
    """A one-page standalone HTML brief of one program: what it is, where and how much it ran, what each
    design found with its interval, and the caveats. Every data-derived text is escaped; no external
    asset (styles inline), so it opens offline and can be printed or mailed as is."""
    e = html.escape

    def dl(items: Mapping[str, object]) -> str:
        return "".join(f"<tr><th>{e(str(k))}</th><td>{e(str(v))}</td></tr>" for k, v in items.items())

    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{e(str(program.get('program', 'Program')))} – evidence brief</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:46em;margin:2em auto;color:#1b1f23;"
        "line-height:1.45}h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.1em;margin-top:1.4em;"
        "border-bottom:1px solid #ccd;padding-bottom:.2em}table{border-collapse:collapse;width:100%;"
        "font-size:.92em}th,td{text-align:left;padding:.3em .5em;border-bottom:1px solid #e5e8eb;"
        "vertical-align:top}th{width:32%;color:#444}.warn{background:#fff4e5;padding:.6em .8em;"
        "border-left:4px solid #e69f00}.muted{color:#666;font-size:.85em}"
        "@page{size:A4;margin:12mm}@media print{body{margin:0;max-width:none;font-size:9.5pt;line-height:1.3}"
        "h1{margin-top:0}h2{margin-top:.9em}th,td{padding:.15em .4em}}</style></head><body>",
        f"<h1>{e(str(program.get('program', '')))}</h1>",
        f"<p>{e(str(program.get('description', '')))}</p>",
        "<h2>Where and how much it ran</h2><table>", dl(footprint), "</table>",
        "<h2>What the designs found</h2>",
    ]
    if result is None:
        parts.append("<p>No analysis has been run for this program with the loaded data.</p>")
    else:
        st = result.settings
        level = schema.LEVELS[st.level].label if st.level in schema.LEVELS else st.level
        parts.append(f"<p class='muted'>{e(MODES.get(st.mode, st.mode))}. "
                     f"{e(result.describe(level, str(program.get('label', ''))))}</p><table>")
        for _, row in result.summary().iterrows():
            parts.append(f"<tr><th>{e(str(row['label']))}</th><td>{e(str(row['verdict']))}</td></tr>")
        parts.append("</table>")
        if isinstance(result.event_study, EventStudy) and result.event_study.pretrend_p is not None:
            parts.append(f"<p>{e(result.pretrend_text())}</p>")
    parts.append("<h2>Caveats</h2><ul>")
    parts += [f"<li>{e(c)}</li>" for c in caveats]
    parts.append(f"</ul><p class='warn'>{e(REPORTING_WARNING.replace('*', ''))}</p>")
    parts.append(f"<p class='muted'>{e(generated)}</p></body></html>")
    return "".join(parts)


# ------------------------------------------------------------------------------------ simulation


@dataclass(frozen=True)
class SimulatedPanel:
    """A seeded area x week panel with a planted effect, for tests and bench/bench_designs.py.

    ``panel``: area_id, week, count, mu (mean without the effect); ``starts``: treated area -> start;
    ``true_wdd``: expected incidents prevented in treated areas after the start (the WDD's target with
    scaled comparison and no displacement); ``true_log_ratio``: log of the planted rate ratio.
    """

    panel: pd.DataFrame
    treated: tuple[str, ...]
    control: tuple[str, ...]
    buffer: tuple[str, ...]
    starts: dict[str, pd.Timestamp]
    start: pd.Timestamp
    weeks: int
    true_wdd: float
    true_log_ratio: float


def simulate_panel(rng: np.random.Generator, *, effect: float = 0.85, areas: int = 40, treated: int = 10,
                   buffer: int = 6, weeks: int = 26, total_weeks: int = 104, base: float = 6.0,
                   staggered: bool = False, frailty: float | None = None) -> SimulatedPanel:
    """Areas with their own levels (log-normal), a common trend, yearly seasonality and weekly shocks
    shared by all areas, Poisson counts (times a gamma frailty of shape ``frailty`` per area-week when
    given); the treated areas' rate is multiplied by ``effect`` from their start on. With ``staggered``,
    treated areas start in three cohorts; otherwise all start at week total_weeks // 2.
    """
    ids = [f"A{i:03d}" for i in range(areas)]
    monday0 = pd.Timestamp("2016-01-04")
    week = monday0 + WEEK * np.arange(total_weeks)
    level = np.exp(rng.normal(np.log(base), 0.5, areas))
    t = np.arange(total_weeks)
    common = np.exp(0.08 * t / YEAR_WEEKS + 0.15 * np.sin(2 * np.pi * t / YEAR_WEEKS)
                    + rng.normal(0, 0.05, total_weeks))
    mu = level[:, None] * common[None, :]
    mid = total_weeks // 2
    if staggered:
        offsets = np.array([-12, 0, 12])
        cohort_start = {ids[i]: mid + offsets[i % 3] for i in range(treated)}
    else:
        cohort_start = {ids[i]: mid for i in range(treated)}
    factor = np.ones_like(mu)
    for i in range(treated):
        factor[i, cohort_start[ids[i]]:] = effect
    lam = mu * factor
    if frailty:
        lam = lam * rng.gamma(frailty, 1 / frailty, lam.shape)
    counts = rng.poisson(lam)
    panel = pd.DataFrame({"area_id": np.repeat(ids, total_weeks), "week": np.tile(week, areas),
                          "count": counts.ravel().astype(float), "mu": mu.ravel()})
    start = monday0 + mid * WEEK
    after = slice(mid, mid + weeks)
    true_wdd = float(sum(mu[i, after].sum() * (effect - 1) for i in range(treated)))
    return SimulatedPanel(panel, tuple(ids[:treated]), tuple(ids[treated + buffer:]),
                          tuple(ids[treated:treated + buffer]),
                          {ids[i]: monday0 + cohort_start[ids[i]] * WEEK for i in range(treated)}, start, weeks,
                          true_wdd, math.log(effect))


def simulated_wdd(sim: SimulatedPanel, dispersion: bool = True) -> Wdd:
    """The page's WDD on a simulated panel: comparison scaled to each group's before-count."""
    p = sim.panel
    s0, s1, e1 = sim.start - sim.weeks * WEEK, sim.start, sim.start + sim.weeks * WEEK
    period = np.select([(p["week"] >= s0) & (p["week"] < s1), (p["week"] >= s1) & (p["week"] < e1)],
                       ["before", "after"], "")
    group = np.select([p["area_id"].isin(sim.treated), p["area_id"].isin(sim.control),
                       p["area_id"].isin(sim.buffer)], ["treated", "comparison", "buffer"], "")
    f = p.assign(period=period, group=group)
    f = f[(f["period"] != "") & (f["group"] != "")]
    table = (f.groupby(["area_id", "group", "period"])["count"].sum().unstack("period")
             .reindex(columns=["before", "after"]).reset_index())
    sums = f.groupby(["group", "period"])["count"].sum()
    t = (sums["treated"]["before"], sums["treated"]["after"])
    c = (sums["comparison"]["before"], sums["comparison"]["after"])
    d = (sums["buffer"]["before"], sums["buffer"]["after"])
    phi, phi_df = dispersion_and_df(table) if dispersion else (1.0, None)
    return wdd(t, c, d, scale_to_before=True, dispersion=phi, dispersion_df=phi_df)
