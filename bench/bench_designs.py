"""Do the impact designs keep their promises? Coverage and false-positive rates over simulated panels.

For each design, ``--panels`` (default 200) seeded area x week panels with a planted 15% fall in the
treated areas (``effect`` 0.85) and as many with no effect. Checked bounds (the product's promise):
the 95% interval covers the planted effect in at least 93% of panels, and with no effect the design says
"unlikely to be chance" in at most 6%. Also printed, not checked: power, runtime, and the variants the
designs deliberately do not use (Poisson-only WDD, Newey-West-only ITS, an overdispersed DGP), so the
choices in src/dashboard/designs/ can be re-examined.

    .venv/bin/python bench/bench_designs.py            # 2.5 minutes on 2 cores (4 with --extra)
    .venv/bin/python bench/bench_designs.py --panels 400 --extra

Exits 1, with a loud FAILED line per broken bound, when a checked bound fails. It is a script and not
part of `make test` because it takes minutes (the normal test run keeps a 20-panel smoke test).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import statsmodels.api as sm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.simulate: the panels the tests use

from dashboard.designs import estimates, event_study, its
from tests.simulate import SimulatedPanel, simulate_panel, simulated_wdd

COVERAGE_MIN = 0.93
FALSE_POSITIVE_MAX = 0.06


@dataclass
class Tally:
    design: str
    scenario: str
    checked: bool = True
    covered: int = 0
    panels: int = 0
    null_hits: int = 0
    null_panels: int = 0
    power_hits: int = 0
    seconds: float = 0.0
    ses: list[float] = field(default_factory=list)

    def add(self, est: estimates.Estimate, truth: float, null: bool) -> None:
        if null:
            self.null_panels += 1
            self.null_hits += est.significant
        else:
            self.panels += 1
            self.covered += est.covers(truth)
            self.power_hits += est.significant
            self.ses.append(est.se)

    @property
    def coverage(self) -> float:
        return self.covered / self.panels if self.panels else float("nan")

    @property
    def false_positive(self) -> float:
        return self.null_hits / self.null_panels if self.null_panels else float("nan")

    def failures(self) -> list[str]:
        if not self.checked:
            return []
        out = []
        if not self.coverage >= COVERAGE_MIN:
            out.append(f"{self.design} [{self.scenario}]: coverage {self.coverage:.3f} < {COVERAGE_MIN}")
        if not self.false_positive <= FALSE_POSITIVE_MAX:
            out.append(f"{self.design} [{self.scenario}]: false positives {self.false_positive:.3f} > "
                       f"{FALSE_POSITIVE_MAX}")
        return out


def its_hac_only(series, start) -> estimates.Estimate:
    """The ITS level change with Newey-West errors alone (what designs.its does not use; see its docstring)."""
    x, _, _ = its.its_design(series["week"], start)
    fit = sm.GLM(series["count"].to_numpy(float), x.to_numpy(), family=sm.families.Poisson()).fit(
        cov_type="HAC", cov_kwds={"maxlags": its.newey_west_lags(len(series))})
    i = list(x.columns).index("level")
    return estimates.Estimate.from_se("its", "hac only", "log_ratio", float(fit.params[i]), float(fit.bse[i]))


def treated_series(sim: SimulatedPanel):
    p = sim.panel
    return p[p["area_id"].isin(sim.treated)].groupby("week", as_index=False)["count"].sum()


def run_common(tallies: dict[str, Tally], rng, panels: int, frailty: float | None, tag: str, checked: bool,
               extra: bool) -> None:
    """One panel feeds the WDD, the event study with a common start and the ITS."""
    for null in (False, True):
        for _ in range(panels):
            sim = simulate_panel(rng, effect=1.0 if null else 0.85, frailty=frailty)
            t = time.perf_counter()
            w = simulated_wdd(sim)
            tallies[f"wdd{tag}"].seconds += time.perf_counter() - t
            tallies[f"wdd{tag}"].add(w.total, sim.true_wdd, null)
            if extra:
                tallies[f"wdd_poisson{tag}"].add(w.poisson_total, sim.true_wdd, null)
            t = time.perf_counter()
            es = event_study.event_study(sim.panel[["area_id", "week", "count"]], sim.starts, sim.control, sim.weeks,
                                     leads_lags=False)
            tallies[f"es{tag}"].seconds += time.perf_counter() - t
            tallies[f"es{tag}"].add(es.pooled, sim.true_log_ratio, null)
            series = treated_series(sim)
            t = time.perf_counter()
            fit = its.interrupted_time_series(series, sim.start)
            tallies[f"its{tag}"].seconds += time.perf_counter() - t
            tallies[f"its{tag}"].add(fit.level, sim.true_log_ratio, null)
            if extra:
                tallies[f"its_hac{tag}"].add(its_hac_only(series, sim.start), sim.true_log_ratio, null)


def run_staggered(tally: Tally, rng, panels: int, frailty: float | None) -> None:
    for null in (False, True):
        for _ in range(panels):
            sim = simulate_panel(rng, effect=1.0 if null else 0.85, staggered=True, weeks=13,
                                         frailty=frailty)
            t = time.perf_counter()
            es = event_study.event_study(sim.panel[["area_id", "week", "count"]], sim.starts, sim.control, sim.weeks,
                                     leads_lags=False)
            tally.seconds += time.perf_counter() - t
            tally.add(es.pooled, sim.true_log_ratio, null)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--panels", type=int, default=200, help="panels with an effect, and as many without")
    parser.add_argument("--seed", type=int, default=20240611)
    parser.add_argument("--extra", action="store_true",
                        help="also run the unchecked variants (overdispersed DGP, Poisson-only WDD, HAC-only ITS)")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")  # convergence chatter from tiny simulated areas
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    t: dict[str, Tally] = {
        "wdd": Tally("WDD (scaled, dispersion-adjusted)", "common start, Poisson"),
        "es": Tally("Stacked event study", "common start, Poisson"),
        "its": Tally("Interrupted time series", "treated series, Poisson"),
        "es_stag": Tally("Stacked event study", "three staggered cohorts, Poisson"),
    }
    if args.extra:
        t |= {
            "wdd_poisson": Tally("WDD, Poisson variance only", "common start, Poisson", checked=False),
            "its_hac": Tally("ITS, Newey-West errors only", "treated series, Poisson", checked=False),
            "wdd_od": Tally("WDD (scaled, dispersion-adjusted)", "overdispersed (gamma 5)", checked=False),
            "es_od": Tally("Stacked event study", "overdispersed (gamma 5)", checked=False),
            "its_od": Tally("Interrupted time series", "overdispersed (gamma 5)", checked=False),
            "wdd_poisson_od": Tally("WDD, Poisson variance only", "overdispersed (gamma 5)", checked=False),
            "its_hac_od": Tally("ITS, Newey-West errors only", "overdispersed (gamma 5)", checked=False),
        }
    run_common(t, rng, args.panels, None, "", True, args.extra)
    run_staggered(t["es_stag"], rng, args.panels, None)
    if args.extra:
        run_common(t, rng, args.panels, 5.0, "_od", False, True)

    print(f"{'design':40} {'scenario':34} {'panels':>6} {'cover':>6} {'false+':>6} {'power':>6} "
          f"{'s/panel':>8} checked")
    for tally in t.values():
        per = tally.seconds / max(tally.panels + tally.null_panels, 1)
        power = tally.power_hits / tally.panels if tally.panels else float("nan")
        print(f"{tally.design:40} {tally.scenario:34} {tally.panels:6d} {tally.coverage:6.3f} "
              f"{tally.false_positive:6.3f} {power:6.3f} {per:8.3f} {'yes' if tally.checked else 'no'}")
    print(f"bounds: coverage >= {COVERAGE_MIN}, false positives <= {FALSE_POSITIVE_MAX}; "
          f"total {time.perf_counter() - started:.0f} s")
    failures = [f for tally in t.values() for f in tally.failures()]
    for f in failures:
        print(f"FAILED: {f}", file=sys.stderr)
    if failures:
        print("!!! bench_designs: a design broke its coverage or false-positive bound !!!", file=sys.stderr)
        return 1
    print("all checked bounds hold")
    return 0


if __name__ == "__main__":
    sys.exit(main())
