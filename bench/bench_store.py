"""The store on its two backends, on the bundled sample: seed time (`python -m dashboard prepare`'s work:
read data/sample and commit every dataset; PostgreSQL bulk-loads through COPY) and a few aggregate
query times, DuckDB file vs PostgreSQL.

Run: .venv/bin/python bench/bench_store.py [--repeat 7] [--seeds 3] [--json]

A throw-away PostgreSQL cluster is started in /tmp (as the tests do: fsync off) and removed after.
Seeds are timed --seeds times into fresh stores; queries are medians over --repeat on a warm
connection. The machine is shared, so compare the two backends within one run, not across runs.
Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def median_ms(values: list[float]) -> float:
    return round(statistics.median(values) * 1000, 1)


def measure(target_factory, repeat: int, seeds: int) -> dict[str, float]:
    from dashboard import compstat, sample
    from dashboard.store import Store

    out: dict[str, list[float]] = {"seed_s": []}
    store = None
    for _ in range(seeds):
        store = Store(target_factory())
        t = time.perf_counter()
        sample.seed_store(store, REPO / "data" / "sample")
        out["seed_s"].append(time.perf_counter() - t)
    first, last = store.date_bounds()
    start = last - timedelta(days=27)
    periods = compstat.trend_periods(last, first, last)
    queries = {
        "count_by_community_area_28d": lambda: store.count_incidents(["community_area"], start, last),
        "count_by_week_and_group_1y": lambda: store.count_incidents(["week", "offense_group"],
                                                                    last - timedelta(days=364), last),
        "trend_window_counts": lambda: store.trend_window_counts(periods),
        "weekly_area_counts_all": lambda: store.weekly_area_counts(),
        "version_token": store.version_token,
    }
    for name, call in queries.items():
        call()
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            call()
            times.append(time.perf_counter() - t)
        out[name] = times
    store.close()
    result = {"seed_s": round(statistics.median(out.pop("seed_s")), 2)}
    result.update({f"{name}_ms": median_ms(times) for name, times in out.items()})
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from tests.pg_support import throwaway_cluster

    folder = Path(tempfile.mkdtemp(prefix="bench-store-"))
    counter = iter(range(1000))
    results = {"duckdb": measure(lambda: folder / f"s{next(counter)}.duckdb", args.repeat, args.seeds)}
    with throwaway_cluster() as server:
        results["postgresql"] = measure(server.new_database, args.repeat, args.seeds)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    names = list(results["duckdb"])
    print(f"{'':34}{'duckdb':>10}{'postgresql':>12}")
    for name in names:
        print(f"{name:34}{results['duckdb'][name]:>10}{results['postgresql'][name]:>12}")


if __name__ == "__main__":
    main()
