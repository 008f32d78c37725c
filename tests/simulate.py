"""Seeded area x week panels with a planted effect, and the page's WDD on them: what tests/test_designs_*.py
and bench/bench_designs.py check the designs' coverage and power with. Test support only, never imported by src/.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import box

# ------------------------------------------------------------------------------------ simulation
from dashboard.designs.estimates import WEEK, YEAR_WEEKS
from dashboard.designs.wdd import Wdd, dispersion_and_df, wdd


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


def area_grid(n: int = 4) -> gpd.GeoDataFrame:
    """An n x n grid of unit squares as areas (area_id, name, geometry): neighbours are squares that touch."""
    cells = [(f"{r}{c}", box(c, r, c + 1, r + 1)) for r in range(n) for c in range(n)]
    return gpd.GeoDataFrame({"area_id": [a for a, _ in cells], "name": [a for a, _ in cells]},
                            geometry=[g for _, g in cells], crs="EPSG:4326")
