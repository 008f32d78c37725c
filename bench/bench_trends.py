"""Crime trends page timings on the bundled sample: its two SQL aggregates, its computation outside
Streamlit, and warm AppTest reruns after each kind of filter change.

Run: .venv/bin/python bench/bench_trends.py [--repeat 7] [--json]

- sql_daily_counts + compute_day_cubes: what the page does once per data version (Store.daily_area_counts,
  ONE scan, laid out as running daily totals by compstat.day_cubes); compute_windows_from_days: what a new
  anchor date costs after that (array slices, no query).
- sql_window_counts, sql_weekly_counts, compute_cubes: the per-anchor query path the page used before
  (kept as the reference the tests compare the daily path with), for comparison.
- compute_page_*: everything the page computes after the cubes (tables, verdicts, trend), no
  Streamlit: what a rerun costs in our code.
- rerun_*: a warm AppTest rerun of the page (process warm, store open, earlier values cached) after
  changing one filter to a value not seen before, so that filter's cache entries miss:
  window / area / harm (no SQL), offense groups and geography (sidebar; the weekday x hour query
  misses), anchor date (the window-count query, the heatmap and outreach queries miss).
  The target is <= 150 ms on the sample. Medians (and minima) over --repeat changes, wall clock and
  process CPU time (on a shared, loaded machine the CPU time is the steadier number).
Prints numbers; asserts nothing (targets are read by people, not tests).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAGE = "views/trends.py"


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def sql_and_compute(data_dir: Path, repeat: int) -> dict[str, float]:
    from dashboard import compstat, schema, stats
    from dashboard.store import Store

    store = Store(data_dir / "dashboard.duckdb")
    first, last = store.date_bounds()
    anchor = last
    periods = compstat.trend_periods(anchor, first, last)
    store.query("SELECT 1")
    times: dict[str, list[float]] = {"sql_window_counts": [], "sql_weekly_counts": [], "compute_cubes": [],
                                     "sql_daily_counts": [], "compute_day_cubes": [],
                                     "compute_windows_from_days": [],
                                     "compute_page_district": [], "compute_page_beat": []}
    for _ in range(repeat):
        t = time.perf_counter()
        daily = store.daily_area_counts()
        times["sql_daily_counts"].append(time.perf_counter() - t)
        t = time.perf_counter()
        days = compstat.day_cubes(daily)
        times["compute_day_cubes"].append(time.perf_counter() - t)
        t = time.perf_counter()
        compstat.window_cubes_from_days(days, periods)
        times["compute_windows_from_days"].append(time.perf_counter() - t)
    for _ in range(repeat):
        t = time.perf_counter()
        counts = store.trend_window_counts(periods)
        times["sql_window_counts"].append(time.perf_counter() - t)
        t = time.perf_counter()
        weekly = store.weekly_area_counts(date(anchor.year - compstat.AVERAGE_YEARS - 2, 1, 1))
        times["sql_weekly_counts"].append(time.perf_counter() - t)
    t = time.perf_counter()
    windows = compstat.window_cubes(counts, [p[0] for p in periods])
    weeks = compstat.weekly_cubes(weekly)
    times["compute_cubes"].append(time.perf_counter() - t)
    groups = list(schema.OFFENSE_GROUPS)
    for level in ("district", "beat"):
        areas = store.areas(level)[["area_id", "name"]]
        for _ in range(repeat):
            t = time.perf_counter()
            rows = stats.assess_changes(compstat.trend_rows(windows, weeks, anchor, first, last, level, "citywide",
                                                           groups))
            area_rows = stats.assess_changes(compstat.area_trend_rows(windows, weeks, anchor, "28d", first, last,
                                                                     level, groups, areas))
            compstat.weekly_trend(weeks, anchor, first, last, level, "citywide", groups)
            compstat.changed_summary(area_rows, level, "28 days")
            times[f"compute_page_{level}"].append(time.perf_counter() - t)
    store.close()
    return {k: median_ms(v) for k, v in times.items() if v} | {"rows_assessed": len(rows)}


def reruns(data_dir: Path, repeat: int) -> dict[str, float]:
    os.environ["DASHBOARD_DATA_DIR"] = str(data_dir)
    from streamlit.testing.v1 import AppTest

    from dashboard import auth
    from dashboard.store import Store

    store = Store(data_dir / "dashboard.duckdb")  # the page is for signed-in staff: sign in as command staff
    auth.add_user(store, "bench-command", "command", "bench passphrase, not a secret", actor="bench")
    token = auth.sign_in(store, "bench-command", "bench passphrase, not a secret", auth.Policy())[1]
    store.close()
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=300)
    at.session_state["_session_token"] = token
    t = time.perf_counter()
    at.run()
    at.switch_page(PAGE)
    at.run()
    first_render = time.perf_counter() - t
    assert not at.exception, at.exception
    at.run()

    cpu: dict[str, list[float]] = {}

    def timed(name: str, change) -> float:
        change()
        t0, c0 = time.perf_counter(), time.process_time()
        at.run()
        elapsed = time.perf_counter() - t0
        cpu.setdefault(name, []).append(time.process_time() - c0)
        assert not at.exception, [e.message for e in at.exception]
        return elapsed

    results: dict[str, list[float]] = {k: [] for k in ("same", "window", "area", "harm", "offense_groups",
                                                        "geography", "anchor")}
    store = Store(data_dir / "dashboard.duckdb")
    area_ids = {lv: store.areas(lv)["area_id"].tolist()[::7] for lv in ("community_area", "district", "beat")}
    windows = ["wtd", "ytd", "28d"]
    levels = ["district", "beat", "community_area"]
    groups = [["violent"], ["property"], ["drugs"], ["homicide", "weapons"], ["public_order"], ["other"],
              ["violent", "property"], ["sex_offenses"], ["drugs", "weapons"], ["violent", "weapons"]]
    for i in range(repeat):
        results["same"].append(timed("same", lambda: None))
        results["window"].append(timed("window", lambda i=i: at.segmented_control(key="trends_window")
                                       .set_value(windows[i % 3])))
        level = at.session_state["filter_level"]
        results["area"].append(timed("area", lambda i=i, lv=level: at.selectbox(key="trends_area")
                                     .set_value(area_ids[lv][i % len(area_ids[lv])])))
        results["harm"].append(timed("harm", lambda: at.toggle(key="trends_harm")
                                     .set_value(not at.toggle(key="trends_harm").value)))
        results["offense_groups"].append(timed("offense_groups", lambda i=i: at.session_state.__setitem__(
            "filter_groups", groups[i % len(groups)])))
        results["geography"].append(timed("geography", lambda i=i: at.session_state.__setitem__(
            "filter_level", levels[i % 3])))
        results["anchor"].append(timed("anchor", lambda i=i: at.date_input(key="trends_anchor")
                                       .set_value(date(2017, 12, 30) - timedelta(days=3 * i + 1))))
    return ({"first_render_s": first_render}
            | {f"rerun_{k}_ms": median_ms(v) for k, v in results.items()}
            | {f"rerun_{k}_min_ms": min(v) * 1000 for k, v in results.items()}
            | {f"rerun_{k}_cpu_ms": median_ms(v) for k, v in cpu.items()})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "src"))
    from dashboard import sample
    from dashboard.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        store = Store(data_dir / "dashboard.duckdb")
        sample.seed_store(store, REPO / "data" / "sample")
        store.close()
        report = {"queries_and_compute_ms": sql_and_compute(data_dir, args.repeat),
                  "apptest": reruns(data_dir, args.repeat)}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    q = report["queries_and_compute_ms"]
    print(f"once per version (median ms):   daily counts query {q['sql_daily_counts']:.0f} · "
          f"day cubes {q['compute_day_cubes']:.0f}")
    print(f"per anchor date (median ms):    windows sliced from the day cubes {q['compute_windows_from_days']:.1f}"
          f" (the per-anchor query path it replaced: window counts {q['sql_window_counts']:.0f} + "
          f"weekly counts {q['sql_weekly_counts']:.0f} + cubes {q['compute_cubes']:.0f})")
    print(f"computation, no Streamlit (ms): page with districts {q['compute_page_district']:.0f} · "
          f"with beats {q['compute_page_beat']:.0f}")
    r = report["apptest"]
    print(f"first render of the page: {r['first_render_s']:.2f} s")
    print(f"load average while running: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
          "(wall time grows with load; CPU time much less)")
    print(f"{'warm AppTest rerun after changing':<36} {'median ms':>10} {'min ms':>8} {'CPU ms':>8}")
    for key in ("same", "window", "area", "harm", "offense_groups", "geography", "anchor"):
        label = "nothing (same)" if key == "same" else key.replace("_", " ")
        print(f"  {label:<34} {r[f'rerun_{key}_ms']:>10.0f} {r[f'rerun_{key}_min_ms']:>8.0f} "
              f"{r[f'rerun_{key}_cpu_ms']:>8.0f}")
    print(json.dumps(report))


if __name__ == "__main__":
    sys.exit(main())
