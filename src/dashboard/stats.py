"""Statistics on counts: rate ratios with exact intervals and two-sample Poisson tests.

Thin, documented wrappers over statsmodels so every estimate the pages show carries an uncertainty.
Pure code: no Streamlit, no store, no plotting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps
from scipy.special import gammaln, xlogy
from statsmodels.stats.multitest import multipletests

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
    if prior == 0:
        return RateChange(current, prior, None, None, None, None)
    ratio = (current / exposure_current) / (prior / exposure_prior)
    # Closed-form score interval and the vectorised E-test/score p-value: the same numbers as
    # statsmodels (tests check), without its root finding, and a correct lower bound of 0 when current is 0.
    low, high = ratio_interval(current, prior, exposure_current, exposure_prior, alpha=alpha)
    p, _method = poisson_pvalues(current, prior, exposure_current, exposure_prior)
    high = float(high)
    return RateChange(current, prior, float(ratio), float(low), high if math.isfinite(high) else None,
                      min(max(float(p), 0.0), 1.0))


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


# ------------------------------------------------------------------ CompStat verdicts (crime trends page)
#
# Many comparisons at once (every beat, every offense group), so everything below is vectorised: the
# per-call statsmodels functions cost 0.4-10 ms each, too slow for 275 beats on every rerun. Each
# function is cross-checked against statsmodels/scipy in tests/test_stats.py.

HEADLINE_ALPHA = 0.01  # the stricter bar for the numbers a chief quotes
TABLE_ALPHA = 0.05  # tables, after Benjamini-Hochberg across their rows
MIN_HISTORY_WEEKS = 8  # fewer weeks than this: no dispersion estimate (phi = 1, said so)


def _as_arrays(*values) -> list[np.ndarray]:
    return [np.asarray(v, dtype=float) for v in np.broadcast_arrays(*values)]


def score_pvalues(count1, count2, exposure1=1.0, exposure2=1.0) -> tuple[np.ndarray, np.ndarray]:
    """Score test of equal Poisson rates (statsmodels ``test_poisson_2indep(method="score",
    compare="ratio")``): z = (y1 - y2 r) / sqrt((y1 + y2) r) with r = exposure1 / exposure2, and its
    two-sided p-value. Both are NaN where there are no counts at all."""
    y1, y2, n1, n2 = _as_arrays(count1, count2, exposure1, exposure2)
    r = n1 / n2
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (y1 - y2 * r) / np.sqrt((y1 + y2) * r)
    z = np.where(y1 + y2 > 0, z, np.nan)
    return z, np.where(np.isnan(z), np.nan, 2 * sps.norm.sf(np.abs(z)))


def _score(x1, x2, r_d):
    # statsmodels' E-test statistic, written the same way so the comparisons below match it bit for bit
    return (x1 - x2 * r_d) / np.sqrt((x1 + x2) * r_d + 1e-20)


def _last_k(grid: np.ndarray, r_d: float, threshold: np.ndarray, above: bool) -> np.ndarray:
    """For every row x grid value j, the largest k in the grid whose score(j, k) is >= threshold (above)
    or > -threshold (not above), -1 if none. The score falls as k grows (fixed j), so those k form a
    prefix. Its end solves (j - k r)^2 = t^2 r (j + k): k = (2j + t^2 -/+ t sqrt(t^2 + 4j (1 + r))) / 2r;
    the rounded root is then moved to where statsmodels' own cell-by-cell comparison changes."""
    j = grid[None, :]
    t = threshold
    root = np.sqrt(np.maximum(t * t + 4 * j * (1 + r_d), 0.0)) * t
    guess = np.floor(((2 * j + t * t) + (-root if above else root)) / (2 * r_d))
    k = np.clip(guess, -1, grid.size - 1).astype(np.int64)

    def keep(at):
        score = _score(j, np.clip(at, 0, grid.size - 1).astype(float), r_d)
        return (score >= t) if above else (score > -t)

    for _ in range(3):  # the root is within a cell or two of the boundary; step onto it exactly
        up = (k + 1 < grid.size) & keep(k + 1)
        k = np.where(up, k + 1, k)
        down = (k >= 0) & ~keep(k)
        k = np.where(down, k - 1, k)
    wrong = ~(((k < 0) | keep(k)) & ((k + 1 >= grid.size) | ~keep(k + 1)))
    if wrong.any():  # never seen; should rounding ever put the root further off, bisect instead
        lo, hi = np.full(k.shape, -1), np.full(k.shape, grid.size)
        while (hi - lo > 1).any():
            mid = (lo + hi) // 2
            ok = (hi - lo > 1) & keep(mid)
            lo, hi = np.where(ok, mid, lo), np.where((hi - lo > 1) & ~ok, mid, hi)
        k = np.where(wrong, lo, k)
    return k


def _poisson_pmf(grid: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Poisson probabilities of each grid count (columns) for each mean (rows)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        log = xlogy(grid[None, :], mean[:, None]) - mean[:, None] - gammaln(grid + 1)[None, :]
    return np.exp(log)


def etest_pvalues(count1, count2, exposure1=1.0, exposure2=1.0) -> np.ndarray:
    """Two-sided E-test p-values of equal Poisson rates (Krishnamoorthy & Thomson 2004), the same
    numbers as statsmodels ``etest_poisson_2indep`` with the score statistic, for many pairs at once.

    The p-value sums P(k1) P(k2) over the grid of count pairs (k1, k2) whose score statistic is at least
    as extreme as the observed one, both Poisson with the pooled rate; the grid is 0..max(100, the
    1e-13 upper quantile), as in statsmodels (a somewhat larger shared grid adds < 1e-13). Rather than
    the whole grid (quadratic), each k1 needs only where its extreme k2 end and start (the statistic
    falls as k2 grows), summed from cumulative probabilities: linear in the counts.
    """
    y1, y2, n1, n2 = _as_arrays(count1, count2, exposure1, exposure2)
    flat = [a.ravel() for a in (y1, y2, n1, n2)]
    out = np.full(flat[0].shape, np.nan)
    r_all = flat[2] / flat[3]  # statsmodels' r_d for a ratio of 1
    mean2_all = (flat[0] + flat[1]) / (1 + r_all)
    mean1_all = mean2_all * r_all
    top_all = np.maximum(100.0, sps.poisson.isf(1e-13, np.maximum(mean1_all, mean2_all)))
    bucket = np.ceil(top_all / 64)  # rows with similar grids share one
    for r_d, size in {(r, b) for r, b in zip(r_all, bucket, strict=True)}:
        rows = np.flatnonzero((r_all == r_d) & (bucket == size))
        grid = np.arange(float(np.max(top_all[rows])) + 1)
        threshold = (np.abs(_score(flat[0][rows], flat[1][rows], r_d)) - 1e-15)[:, None]
        pdf1, pdf2 = _poisson_pmf(grid, mean1_all[rows]), _poisson_pmf(grid, mean2_all[rows])
        cdf2 = np.cumsum(pdf2, axis=1)
        high = _last_k(grid, r_d, threshold, above=True)  # k2 <= high: score >= t
        low_end = _last_k(grid, r_d, threshold, above=False)  # k2 > low_end: score <= -t
        upper = np.where(high >= 0, np.take_along_axis(cdf2, np.clip(high, 0, None), axis=1), 0.0)
        lower = cdf2[:, -1:] - np.where(low_end >= 0, np.take_along_axis(cdf2, np.clip(low_end, 0, None),
                                                                          axis=1), 0.0)
        p = (pdf1 * (upper + lower)).sum(axis=1)
        everything = threshold[:, 0] <= 0  # the observed statistic is 0: every pair is as extreme
        out[rows] = np.where(everything, pdf1.sum(axis=1) * cdf2[:, -1], p)
    return np.clip(out.reshape(y1.shape), 0.0, 1.0)


def poisson_pvalues(count1, count2, exposure1=1.0, exposure2=1.0,
                    etest_max_total: int = ETEST_MAX_TOTAL) -> tuple[np.ndarray, np.ndarray]:
    """The Poisson p-value rate_change uses, for many pairs: the E-test when count1 + count2 is at most
    ``etest_max_total``, the score test above (it converges to the same answer). Returns (p, method)
    with method "E-test" or "score test"; NaN p where both counts are 0."""
    y1, y2, n1, n2 = _as_arrays(count1, count2, exposure1, exposure2)
    small = (y1 + y2) <= etest_max_total
    _, p = score_pvalues(y1, y2, n1, n2)
    if small.any():
        p[small] = etest_pvalues(y1[small], y2[small], n1[small], n2[small])
    p = np.where(y1 + y2 > 0, p, np.nan)
    return p, np.where(small, "E-test", "score test")


def ratio_interval(count1, count2, exposure1=1.0, exposure2=1.0, alpha: float = 0.05
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Score confidence interval of the rate ratio (rate1 / rate2) in closed form: the ratios whose
    score statistic is within the normal quantile, i.e. the roots of a quadratic (statsmodels
    ``confint_poisson_2indep(method="score", compare="ratio")`` finds the same roots numerically).
    high is inf where count2 is 0; both NaN where both counts are 0."""
    y1, y2, n1, n2 = _as_arrays(count1, count2, exposure1, exposure2)
    q2 = sps.norm.isf(alpha / 2) ** 2
    b = 2 * y1 * y2 + q2 * (y1 + y2)
    with np.errstate(invalid="ignore", divide="ignore"):
        root = np.sqrt(np.maximum(b * b - 4 * y1 * y1 * y2 * y2, 0.0))
        # roots in r_d = ratio * n1 / n2; the low root as (product of roots) / high root stays accurate.
        hi_rd = np.where(y2 > 0, (b + root) / (2 * y2 * y2), np.inf)
        lo_rd = np.where(y2 > 0, (y1 * y1) / (y2 * y2 * hi_rd), y1 / q2)
    scale = n2 / n1
    both_zero = (y1 + y2) == 0
    low = np.where(both_zero, np.nan, lo_rd * scale)
    high = np.where(both_zero, np.nan, hi_rd * scale)
    return low, high


def weekly_dispersion(values, variance_units=None, min_weeks: int = MIN_HISTORY_WEEKS) -> np.ndarray:
    """Extra-Poisson variation (phi) of each row of a series x weeks matrix of counts, floored at 1.

    phi = (sum of squared week-to-week differences / (2 (n - 1))) / mean of ``variance_units``.
    Successive differences (von Neumann) keep seasonal drift and a step change out of the variance,
    which a plain variance/mean would count as noise. ``variance_units`` is what a Poisson variance
    would be each week: the counts themselves, or sum(weight^2 x count) for a weighted harm series.
    Rows with fewer than ``min_weeks`` weeks or no counts get phi = 1 (no evidence of extra variation).
    """
    x = np.atleast_2d(np.asarray(values, dtype=float))
    v = x if variance_units is None else np.atleast_2d(np.asarray(variance_units, dtype=float))
    n = x.shape[1]
    if n < max(min_weeks, 2):
        return np.ones(x.shape[0])
    mssd = (np.diff(x, axis=1) ** 2).sum(axis=1) / (2 * (n - 1))
    mean = v.mean(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        phi = np.where(mean > 0, mssd / mean, 1.0)
    return np.maximum(phi, 1.0)


def dispersion_df(weeks) -> np.ndarray:
    """Degrees of freedom of weekly_dispersion's estimate from ``weeks`` weeks: 2 (n-1)^2 / (3n - 4), the
    precision of the successive-difference variance (von Neumann 1941; 34 for 52 weeks). Infinite (phi
    taken as known, = 1) below MIN_HISTORY_WEEKS."""
    n = np.asarray(weeks, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        df = 2 * (n - 1) ** 2 / (3 * n - 4)
    return np.where(n >= MIN_HISTORY_WEEKS, df, np.inf)


def dispersed_z(current, prior, days_current=1.0, days_prior=1.0, phi=1.0, var_current=None,
                var_prior=None, df=np.inf) -> tuple[np.ndarray, np.ndarray]:
    """Overdispersion-aware z for a change in rate per day, and its two-sided p-value.

    z = (current - prior r) / sqrt(phi r (var_current + var_prior)), r = days_current / days_prior.
    With equal windows this is (cur - prior) / sqrt(phi (cur + prior)); with phi = 1 and counts it is
    exactly the Poisson score statistic. For weighted sums (harm) the var_* are sum(weight^2 x count).
    phi is estimated, so p comes from Student's t with ``df`` degrees of freedom (dispersion_df), as in
    quasi-Poisson models; df = inf gives the normal p-value.
    """
    cur, pri, dc, dp, ph, dfs = _as_arrays(current, prior, days_current, days_prior, phi, df)
    vc = cur if var_current is None else np.asarray(var_current, dtype=float)
    vp = pri if var_prior is None else np.asarray(var_prior, dtype=float)
    r = dc / dp
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (cur - pri * r) / np.sqrt(ph * r * (vc + vp))
    z = np.where(vc + vp > 0, z, np.nan)
    p = np.where(np.isfinite(dfs), 2 * sps.t.sf(np.abs(z), np.where(np.isfinite(dfs), dfs, 1.0)),
                 2 * sps.norm.sf(np.abs(z)))
    return z, np.where(np.isnan(z), np.nan, p)


def assess_changes(frame: pd.DataFrame, weighted: bool = False) -> pd.DataFrame:
    """Verdicts for many current-vs-prior comparisons, adjusted within each family.

    Input columns: current, prior, days, prior_days, phi, family, alpha, and optionally history_weeks
    (weeks phi was estimated from; absent: phi taken as known), var_current, var_prior (weighted sums;
    default the counts) and comparable (False: no data a year earlier).
    Adds: ratio, pct_change, low, high (95% score interval; counts only), p_poisson, poisson_test, df,
    z, p_dispersed, p (the larger of the two: a change must pass both the exact Poisson test and the
    overdispersion-aware one; weighted sums use the latter only), q (Benjamini-Hochberg adjusted p within
    each family; = p for a family of one), changed (q < alpha), verdict (a plain-language sentence) and
    finding (its verdict part, for tables that show the numbers beside it).
    """
    n = len(frame)
    comparable = frame["comparable"].to_numpy(bool) if "comparable" in frame else np.ones(n, bool)
    cur, pri = frame["current"].to_numpy(float), frame["prior"].to_numpy(float)
    dc, dp = frame["days"].to_numpy(float), frame["prior_days"].to_numpy(float)
    vc = frame["var_current"].to_numpy(float) if "var_current" in frame else cur
    vp = frame["var_prior"].to_numpy(float) if "var_prior" in frame else pri
    alpha = frame["alpha"].to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(pri > 0, (cur / dc) / (pri / dp), np.nan)
    pct = (ratio - 1) * 100
    df = dispersion_df(frame["history_weeks"].to_numpy(float) if "history_weeks" in frame else np.zeros(n))
    z, p_dispersed = dispersed_z(cur, pri, dc, dp, frame["phi"].to_numpy(float), vc, vp, df)
    if weighted:
        low = high = p_poisson = np.full(n, np.nan)
        test = np.full(n, "none (weighted)")
        p = p_dispersed
    else:
        low, high = ratio_interval(cur, pri, dc, dp)
        p_poisson, test = poisson_pvalues(np.round(cur), np.round(pri), dc, dp)
        p = np.fmax(p_poisson, p_dispersed)
    p = np.where(comparable, p, np.nan)
    codes, _ = pd.factorize(frame["family"].to_numpy())
    sizes = np.bincount(codes)[codes]
    q = np.full(n, np.nan)
    for code in np.unique(codes):
        ok = np.flatnonzero((codes == code) & ~np.isnan(p))
        if len(ok) > 1:
            q[ok] = multipletests(p[ok], method="fdr_bh")[1]
        elif len(ok) == 1:
            q[ok] = p[ok]
    changed = np.nan_to_num(q, nan=1.0) < alpha
    verdict = [verdict_sentence(c, b, pc, qq, a, ok, adjusted=size > 1)
               for c, b, pc, qq, a, ok, size in zip(cur, pri, pct, q, alpha, comparable, sizes, strict=True)]
    return frame.assign(
        comparable=comparable, ratio=ratio, pct_change=pct, df=df, z=z, p_dispersed=p_dispersed, low=low,
        high=high, p_poisson=p_poisson, poisson_test=test, p=p, q=q, changed=changed, verdict=verdict,
        finding=[text.split(": ", 1)[-1].rstrip(".") for text in verdict],
    )


def _p_text(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def verdict_sentence(current: float, prior: float, pct: float | None, p: float | None, alpha: float,
                     comparable: bool = True, adjusted: bool = False) -> str:
    """'Up 12% (41 vs 36): within normal variation' / 'Down 31% (29 vs 42): unlikely to be chance
    (p = 0.003)'. ``p`` is the (adjusted) p-value the verdict rests on."""
    if not comparable:
        return "No data for the same window a year earlier: no comparison."
    fmt = "{:,.0f}"
    counts = f"({fmt.format(current)} vs {fmt.format(prior)})"
    if current == 0 and prior == 0:
        return "None in either window."
    if p is None or not np.isfinite(p):
        verdict = "too little to test"
    elif p < alpha:
        verdict = f"unlikely to be chance ({'adjusted ' if adjusted else ''}{_p_text(p)})"
    else:
        verdict = "within normal variation"
    if prior == 0 or pct is None or not np.isfinite(pct):
        return f"{fmt.format(current)} vs none a year earlier: {verdict}."
    if round(pct, 1) == 0:
        return f"Unchanged {counts}: {verdict}."
    size = f"{abs(pct):.0f}%" if abs(pct) >= 10 else f"{abs(pct):.1f}%"
    return f"{'Up' if pct > 0 else 'Down'} {size} {counts}: {verdict}."


def verdict_method(weighted: bool = False) -> str:
    """The 'show the math' text: how assess_changes reaches a verdict, in plain words and formulas."""
    text = (
        "**How a verdict is reached.** Each row compares this window's count *c* (over *d* days) with the "
        "same window a year earlier, *p* (over *d'* days); r = d / d'.\n\n"
        "1. **Exact Poisson test**: the E-test of Krishnamoorthy & Thomson (2004), or the score test it "
        f"converges to when c + p > {ETEST_MAX_TOTAL}. Could chance alone give a difference this large if "
        "incidents were independent events at an unchanged rate?\n"
        "2. **Overdispersion-aware z**: real counts vary more than that (weather, holidays, one busy "
        "weekend). phi = (mean squared week-to-week difference / 2) / mean weekly count, over the 52 weeks "
        "before the 28-day window (successive differences ignore seasonal drift), floored at 1; "
        "z = (c - p r) / sqrt(phi r (c + p)).\n"
        "3. The verdict uses the **larger** of the two p-values: a change must pass both.\n"
        f"4. Tables with many rows (offense groups, areas) adjust p with **Benjamini-Hochberg** (false "
        f"discovery rate) and use alpha = {TABLE_ALPHA}; the headline numbers use the stricter "
        f"alpha = {HEADLINE_ALPHA}, unadjusted.\n\n"
        "'Unlikely to be chance' means the change is larger than normal variation, not what caused it."
    )
    if weighted:
        text += ("\n\n**Harm index**: a weighted sum has no exact Poisson test, so step 2 alone decides, "
                 "with the Poisson variance of a weighted sum, sum(weight^2 x count), in place of c + p.")
    return text
