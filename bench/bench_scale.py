"""Scale benchmark: every page on 537k, 2M and 10M incidents, against its own SQL and against the naive
"read the whole CSV with pandas and group on every rerun" pattern; 1M-row ingest; map size; peak RSS.

Run: .venv/bin/python bench/bench_scale.py [--sizes 537k,2M,10M] [--repeat 3] [--no-ingest] [--rerun]

Data sets (built once into --cache, default ~/.cache/dashboard-bench/<size>/, a DASHBOARD_DATA_DIR of
its own; delete the folder to rebuild). 537k is the bundled real sample (data/sample, every Chicago
incident of 2016-2017). Larger sizes are whole copies of those real rows, the nearest whole number of
copies to the size asked for (2M: 4 copies = 2,146,420 rows; 10M: 19 copies = 10,195,495 rows). Copy k
(k = 0 is the original) has every timestamp moved back by 7 * round(k * 2 * 365.2425 / 7) days: about
2k years, a whole number of weeks, so every incident keeps its weekday and time of day and lands
within 4 days of the same calendar date 2k years earlier. Nothing is random; locations, offenses and
areas are the real ones; ids become "<id>-c<k>" (incident_id and case_number), so they stay unique.
The frame goes through Store.commit (the normal commit path); the other datasets are the sample's.

Per page (an AppTest of app.py switched to the page, like bench/bench_pages.py), median of --repeat:
Signed in as an analyst (tests/conftest.staff_token), who may open every page measured.
- cold_ms: rerun after changing the sidebar filters (dates and offense groups; on Crime trends also
  its anchor date) to values not seen before, so the page's aggregates miss the cache and run SQL;
- warm_ms: rerun after changing the filters back to values already seen (aggregates cached);
- sql_ms: wall time inside the store's DuckDB calls (execute + fetch) during the cold rerun, and
  page_over_sql = cold_ms / sql_ms;
- naive_ms: the same filter's main aggregation done the naive way: pandas.read_csv of a CSV export of
  the same incidents (dates parsed) + boolean filters + groupby, as open-source Streamlit dashboards do
  on every rerun; the CSV read is timed once per size and added to each page's grouping time;
  naive_over_cold = naive_ms / cold_ms;
- map_html_mb (map and hot-spot pages): the folium map's standalone HTML (maps.payload);
- rss_peak_mb: peak resident memory of the process that ran every page (resource.getrusage).
Ingest: bench/bench_ingest.py's 1M-row upload path, run once. Results: printed as a table and JSON, and
written to bench/results/scale_<time>.json (git-ignored). Asserts nothing: targets are read by people.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO))

from bench_pages import PAGES  # noqa: E402

SAMPLE_ROWS = 536_605
RESULTS = REPO / "bench" / "results"
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dashboard-bench"
TARGETS = {"warm_ms_sample": 150, "warm_ms_10m": 400, "naive_over_cold": 10, "page_over_sql": 2, "rss_mb_10m": 2048}
# (end of the period, offense groups left out): the base view, then one unseen view per repeat.
BASE_END = date(2017, 12, 31)


def parse_size(text: str) -> int:
    text = text.strip().lower()
    scale = {"k": 1e3, "m": 1e6}.get(text[-1], 1)
    return int(float(text.rstrip("km")) * scale)


def copies_for(size: int) -> int:
    return max(1, round(size / SAMPLE_ROWS))


def shift_days(copy: int) -> int:
    """Days copy ``copy`` is moved back: the whole number of weeks nearest to 2 * copy years."""
    return 7 * round(copy * 2 * 365.2425 / 7)


# ------------------------------------------------------------------------------------------------ build


def build(folder: Path, copies: int) -> dict:
    """Commit ``copies`` shifted copies of the sample's incidents (and the sample's other datasets) into a
    new store in ``folder``; export the incidents and outreach as CSV for the naive pattern."""
    import pandas as pd

    from dashboard import sample
    from dashboard.store import Provenance, Store

    sample_dir = REPO / "data" / "sample"
    start = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("dashboard.duckdb*"):
        old.unlink()
    store = Store(folder / "dashboard.duckdb", idle_close=0)
    base = sample.read_sample(sample_dir, "incidents")
    parts = []
    for k in range(copies):
        part = base.copy()
        if k:
            part["occurred_at"] = part["occurred_at"] - pd.Timedelta(days=shift_days(k))
            part["incident_id"] = part["incident_id"] + f"-c{k}"
            part["case_number"] = part["case_number"] + f"-c{k}"
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True)
    del parts
    assert frame["incident_id"].is_unique
    store.commit("incidents", frame, Provenance(
        source=f"data/sample/incidents.parquet x{copies} (bench_scale: years shifted back)", rows_in=len(frame),
        rows_kept=len(frame), rows_rejected=0, author="bench", note="bench_scale synthetic-by-shift data set"))
    rows = len(frame)
    del frame
    sample.seed_store(store, sample_dir)
    with store.connect() as con:
        for dataset in ("incidents", "outreach"):
            con.execute(f"COPY {store.table(dataset, con)} TO '{folder / (dataset + '.csv')}' (HEADER)")  # noqa: S608
    store.close()
    info = {"rows": rows, "copies": copies, "build_s": round(time.perf_counter() - start, 1),
            "built_at": datetime.now().isoformat(timespec="seconds")}
    (folder / "built.json").write_text(json.dumps(info))
    return info


# ------------------------------------------------------------------------------------- query timing

_SQL = {"s": 0.0}
_SQL_LOCK = threading.Lock()


def _add_sql(seconds: float) -> None:
    with _SQL_LOCK:
        _SQL["s"] += seconds


class _TimedCursor:
    """A DuckDB cursor whose execute and fetch calls add their wall time to _SQL."""

    def __init__(self, cursor) -> None:
        self._cursor = cursor

    def _timed(self, name, *args, **kwargs):
        start = time.perf_counter()
        try:
            return getattr(self._cursor, name)(*args, **kwargs)
        finally:
            _add_sql(time.perf_counter() - start)

    def execute(self, *args, **kwargs):
        self._timed("execute", *args, **kwargs)
        return self

    def df(self):
        return self._timed("df")

    def fetchall(self):
        return self._timed("fetchall")

    def fetchone(self):
        return self._timed("fetchone")

    def __getattr__(self, name):
        return getattr(self._cursor, name)


def instrument_store() -> None:
    from dashboard.store import Store

    original = Store.connect

    @contextmanager
    def connect(self):
        with original(self) as cursor:
            yield _TimedCursor(cursor)

    Store.connect = connect


def record_map_sizes(sizes: dict) -> None:
    """Wrap ui.folium_map so the first drawing of each page's map records its HTML size (not timed)."""
    from dashboard import maps, ui

    original = ui.folium_map

    def folium_map(m, key, static_url, height=560):
        if sizes.get("_record"):
            sizes[sizes["_record"]] = round(maps.payload(m)["bytes"] / 1e6, 3)
        return original(m, key, static_url, height)

    ui.folium_map = folium_map


# -------------------------------------------------------------------------------------------- pages


def views(first: date, last: date, groups: list[str], repeat: int) -> list[dict]:
    """The base view, then ``repeat`` views unseen before: 28 days ending a week apart, one group left out."""
    out = [{"end": last, "groups": groups}]
    for i in range(repeat):
        end = last - timedelta(days=7 * (i + 1) + 3)
        out.append({"end": max(end, first + timedelta(days=400)), "groups": [g for g in groups if g != groups[i % len(groups)]]})
    return out


def apply_view(at, page: str, view: dict) -> None:
    from dashboard.ui import TRENDS_KEYS

    at.session_state["filter_dates"] = (view["end"] - timedelta(days=27), view["end"])
    at.session_state["filter_groups"] = view["groups"]
    if page.endswith("trends.py"):
        at.session_state[TRENDS_KEYS["anchor"]] = view["end"]


def run_pages(folder: Path, repeat: int) -> dict:
    os.environ["DASHBOARD_DATA_DIR"] = str(folder)
    instrument_store()
    sizes: dict = {}
    record_map_sizes(sizes)
    from streamlit.testing.v1 import AppTest

    from dashboard import config
    from dashboard.store import Store
    from tests.conftest import staff_token

    store = Store(config.load().store_path, idle_close=0)
    bounds = store.date_bounds()
    groups = store.offense_groups_present()
    store.close()
    assert bounds and groups, f"{folder} holds no incidents"
    first, last = bounds
    out = {}
    for page in PAGES:
        name = Path(page).stem
        at = AppTest.from_file(str(REPO / "app.py"), default_timeout=900)
        at.session_state["_session_token"] = staff_token(folder, "analyst")  # every page but the admin's
        at.run()
        at.switch_page(page)
        sizes["_record"] = name
        start = time.perf_counter()
        at.run()
        first_load = time.perf_counter() - start
        sizes["_record"] = None
        assert not at.exception, (page, at.exception)
        seen = views(first, last, groups, repeat)
        apply_view(at, page, seen[0])
        at.run()
        cold, warm, sql = [], [], []
        for view in seen[1:]:
            apply_view(at, page, view)
            _SQL["s"] = 0.0
            start = time.perf_counter()
            at.run()
            cold.append(time.perf_counter() - start)
            sql.append(_SQL["s"])
            assert not at.exception, (page, at.exception)
            apply_view(at, page, seen[0])
            start = time.perf_counter()
            at.run()
            warm.append(time.perf_counter() - start)
            assert not at.exception, (page, at.exception)
        cold_ms, sql_ms = statistics.median(cold) * 1000, statistics.median(sql) * 1000
        out[name] = {"first_load_ms": round(first_load * 1000), "cold_ms": round(cold_ms), "warm_ms": round(statistics.median(warm) * 1000),
                     "sql_ms": round(sql_ms, 1), "page_over_sql": round(cold_ms / sql_ms, 2) if sql_ms else None}
        if name in sizes:
            out[name]["map_html_mb"] = sizes[name]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"pages": out, "rss_peak_mb": round(peak), "views": [{"end": v["end"].isoformat(), "groups": v["groups"]} for v in views(first, last, groups, repeat)]}


# -------------------------------------------------------------------------------------------- naive


def run_naive(folder: Path, views_used: list[dict], repeat: int) -> dict:
    """The naive pattern per page: read the whole CSV export with pandas, filter, group."""
    import pandas as pd

    def read():
        return pd.read_csv(folder / "incidents.csv", parse_dates=["occurred_at"],
                           dtype={"community_area_id": str, "district_id": str, "beat_id": str})

    reads = []
    for _ in range(repeat if parse_size_rows(folder) < 3_000_000 else 1):
        start = time.perf_counter()
        df = read()
        reads.append(time.perf_counter() - start)
    start = time.perf_counter()
    outreach = pd.read_csv(folder / "outreach.csv", parse_dates=["starts_at"], dtype={"beat_id": str})
    outreach_read = time.perf_counter() - start
    view = views_used[1]
    end = pd.Timestamp(view["end"]) + pd.Timedelta(days=1)
    begin = end - pd.Timedelta(days=28)
    groups = view["groups"]

    def period(lo, hi):
        return df[(df["occurred_at"] >= lo) & (df["occurred_at"] < hi) & df["offense_group"].isin(groups)]

    year = pd.Timedelta(days=364)

    def overview():
        now, before = period(begin, end), period(begin - year, end - year)
        return (now.groupby("offense_group").size(), before.groupby("offense_group").size(),
                now.groupby(now["occurred_at"].dt.to_period("W")).size(), now.groupby("community_area_id").size())

    def trends():
        now, before = period(begin, end), period(begin - year, end - year)
        return (now.groupby(["community_area_id", "offense_group"]).size(),
                before.groupby(["community_area_id", "offense_group"]).size(),
                df.groupby([df["occurred_at"].dt.to_period("W"), "community_area_id"]).size())

    def area_map():
        now, before = period(begin, end), period(begin - year, end - year)
        return now.groupby("community_area_id").size(), before.groupby("community_area_id").size()

    def compare():
        now = period(begin, end)
        return area_map(), now.groupby([now["occurred_at"].dt.to_period("W"), "community_area_id"]).size()

    def hotspots():
        now = period(begin, end).dropna(subset=["latitude", "longitude"])
        return now.groupby([now["latitude"].round(3), now["longitude"].round(3)]).size()

    def outreach_page():
        o = outreach[(outreach["starts_at"] >= begin) & (outreach["starts_at"] < end)]
        return o.groupby("beat_id")["event_id"].nunique(), period(begin, end).groupby("beat_id").size()

    def impact():
        return df.groupby([df["occurred_at"].dt.to_period("W"), "beat_id"]).size()

    def data():
        return len(df), df["occurred_at"].min(), df["occurred_at"].max()

    def upload():
        return df.dtypes

    out = {"csv_mb": round((folder / "incidents.csv").stat().st_size / 1e6), "read_ms": round(min(reads) * 1000)}
    extra = {"outreach": outreach_read}
    for name, fn in [("overview", overview), ("trends", trends), ("map", area_map), ("compare", compare),
                     ("hotspots", hotspots), ("outreach", outreach_page), ("impact", impact), ("data", data),
                     ("upload", upload)]:
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        out[name] = round((min(reads) + extra.get(name, 0.0) + statistics.median(times)) * 1000)
    return out


def parse_size_rows(folder: Path) -> int:
    return json.loads((folder / "built.json").read_text())["rows"]


# ------------------------------------------------------------------------------------------- ingest


def run_ingest(rows: int) -> dict:
    import shutil
    import tempfile

    import bench_ingest

    folder = Path(tempfile.mkdtemp(prefix="bench_scale_ingest_"))
    try:
        path = folder / "incidents.csv"
        bench_ingest.build_csv(path, rows)
        # Each in this worker process, warm (second run), as bench_ingest measures them.
        result = {**bench_ingest._child("baseline", path, folder), **bench_ingest._child("upload", path, folder)}
        return {"rows": rows, **{k: round(v, 2) if isinstance(v, float) else v for k, v in result.items()}}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# ------------------------------------------------------------------------------------------- driver


def worker(args) -> None:
    """One step in its own process, so each peak RSS and timing is that step's alone."""
    folder = Path(args.cache) / args.size
    if args.worker == "build":
        result = build(folder, copies_for(parse_size(args.size)))
    elif args.worker == "pages":
        result = run_pages(folder, args.repeat)
    elif args.worker == "naive":
        result = run_naive(folder, json.loads(args.views), args.repeat)
    else:
        result = run_ingest(1_000_000)
    print("RESULT " + json.dumps(result, default=str))


def step(args, kind: str, size: str = "", views_json: str = "") -> dict:
    cmd = [sys.executable, __file__, "--worker", kind, "--size", size or "-", "--cache", str(args.cache),
           "--repeat", str(args.repeat), "--views", views_json or "[]"]
    print(f"[bench_scale] {kind} {size} ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if proc.returncode:
        raise SystemExit(f"{kind} {size} failed:\n{proc.stderr[-4000:]}")
    line = next(ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith("RESULT "))
    print(f"[bench_scale] {kind} {size} done in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    return json.loads(line[len("RESULT "):])


def run_size(args, size: str) -> dict:
    folder = Path(args.cache) / size
    saved = folder / f"result_r{args.repeat}.json"
    if saved.exists() and not args.rerun:
        return json.loads(saved.read_text())
    built = json.loads((folder / "built.json").read_text()) if (folder / "built.json").exists() else step(args, "build", size)
    pages = step(args, "pages", size)
    naive = step(args, "naive", size, json.dumps(pages["views"]))
    for name, row in pages["pages"].items():
        row["naive_ms"] = naive[name]
        row["naive_over_cold"] = round(naive[name] / row["cold_ms"], 1) if row["cold_ms"] else None
        row["naive_over_warm"] = round(naive[name] / row["warm_ms"], 1) if row["warm_ms"] else None
    result = {"size": size, **built, "rss_peak_mb": pages["rss_peak_mb"], "naive_csv_mb": naive["csv_mb"],
              "naive_read_ms": naive["read_ms"], "views": pages["views"], "pages": pages["pages"]}
    saved.write_text(json.dumps(result))
    return result


def table(report: dict) -> str:
    lines = []
    for r in report["sizes"]:
        lines.append(f"\n{r['size']}: {r['rows']:,} incidents ({r['copies']} copies), peak RSS {r['rss_peak_mb']:,} MB, "
                     f"naive CSV {r['naive_csv_mb']:,} MB read in {r['naive_read_ms']:,} ms")
        lines.append(f"{'page':<10}{'cold ms':>9}{'warm ms':>9}{'sql ms':>9}{'page/sql':>9}{'naive ms':>10}"
                     f"{'naive/cold':>11}{'naive/warm':>11}{'map MB':>8}")
        for name, p in r["pages"].items():
            ratio = "-" if p["page_over_sql"] is None else f"{p['page_over_sql']:.1f}"
            lines.append(f"{name:<10}{p['cold_ms']:>9,}{p['warm_ms']:>9,}{p['sql_ms']:>9.0f}{ratio:>9}"
                         f"{p['naive_ms']:>10,}{p['naive_over_cold']:>11.1f}{p['naive_over_warm']:>11.1f}"
                         f"{p.get('map_html_mb', ''):>8}")
    if report.get("ingest"):
        i = report["ingest"]
        lines.append(f"\ningest {i['rows']:,} rows: upload path {i['upload_s']:.1f} s (read {i['read_s']:.1f}, "
                     f"suggest {i['suggest_s']:.1f}, validate {i['validate_s']:.1f}, commit {i['commit_s']:.1f}); "
                     f"pyarrow + DuckDB baseline {i['baseline_s']:.1f} s: {i['upload_s'] / i['baseline_s']:.2f}x")
    lines.append(f"targets: {json.dumps(TARGETS)}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="537k,2M,10M")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cache", default=str(DEFAULT_CACHE))
    parser.add_argument("--no-ingest", action="store_true")
    parser.add_argument("--rerun", action="store_true", help="measure again even if a saved result exists")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--size", help=argparse.SUPPRESS)
    parser.add_argument("--views", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    report = {"machine": {"cpus": os.cpu_count()}, "repeat": args.repeat, "targets": TARGETS,
              "sizes": [run_size(args, s.strip()) for s in args.sizes.split(",")]}
    if not args.no_ingest:
        report["ingest"] = step(args, "ingest")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"scale_{datetime.now():%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps(report, indent=2))
    print(table(report))
    print(json.dumps(report))
    print(f"written to {out.relative_to(REPO)}", file=sys.stderr)


if __name__ == "__main__":
    main()
