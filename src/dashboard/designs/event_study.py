"""The stacked Poisson event study on area x week panels (cluster-robust by area, correct under
staggered starts). No Streamlit, no store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy import stats as sps

from dashboard.designs.estimates import ALPHA, NOT_CONVERGED, NOT_ESTIMABLE, WEEK, Estimate, Skipped
from dashboard.designs.poisson import poisson_cluster_fit


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
    res = poisson_cluster_fit(y, pooled_x, groups)
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
    res_es = poisson_cluster_fit(y, sparse.hstack([fe, sparse.csr_matrix(dummies)]), groups)
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
