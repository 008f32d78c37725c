"""Ingest throughput: a 1M-row incident CSV validated and committed through the upload path, against a
plain pyarrow read plus DuckDB insert of the same file.

Run: .venv/bin/python bench/bench_ingest.py [--rows 1000000] [--repeat 3] [--json]

The CSV is built from the REAL Chicago rows of 2016-2017 (../shared/data/real/chicago, 536,605 rows in
the raw export layout): copies of them with the year moved back by 4, 8, ... years (a multiple of 4 keeps
29 February valid) and the id and case number made unique per copy, until --rows rows. It is written
to a temporary folder (about 160 MB) and deleted afterwards.

- baseline_s: pyarrow.csv.read_csv (types inferred) + CREATE TABLE AS in a new DuckDB file.
- upload_s: what the page and `python -m dashboard ingest` do: read_upload (bytes in), mapping.suggest,
  prepare_mapped (dates, coordinates, area ids matched to the boundaries, offense groups, duplicates,
  pandera schema) and commit_prepared into a store holding the sample's boundaries (one transaction,
  content hash). Steps are timed separately.
- *_cpu_s, ratio_cpu: process CPU time of the same runs (all threads), steadier under load.
- ratio: upload_s / baseline_s of each run (a baseline and an upload back to back, so both see the same
  load on a shared machine); the median over --repeat runs is the headline, with the stage times of
  the median run, and the best-of-runs ratio beside it.
- ratio_no_suggest: the same without mapping.suggest (read + validate + commit): a load with a saved
  mapping profile, as `python -m dashboard ingest --profile` runs nightly.
Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHICAGO = REPO.parent / "shared" / "data" / "real" / "chicago"
sys.path.insert(0, str(REPO / "src"))


def build_csv(path: Path, rows: int) -> None:
    import pandas as pd

    base = pd.concat([pd.read_csv(CHICAGO / f"chicago_crimes_{y}.csv.gz", dtype=str, keep_default_na=False)
                      for y in (2016, 2017)], ignore_index=True)
    parts, total, copy = [], 0, 0
    while total < rows:
        part = base.copy()
        if copy:
            part["ID"] = (part["ID"].astype("int64") + copy * 100_000_000).astype(str)
            part["Case Number"] = part["Case Number"] + f"-{copy}"
            year = part["Date"].str.slice(6, 10).astype(int) - 4 * copy
            part["Date"] = part["Date"].str.slice(0, 6) + year.astype(str) + part["Date"].str.slice(10)
        parts.append(part)
        total += len(part)
        copy += 1
    pd.concat(parts, ignore_index=True).head(rows).to_csv(path, index=False)


def baseline(path: Path, folder: Path) -> float:
    import duckdb
    import pyarrow.csv as pacsv

    db = folder / "baseline.duckdb"
    db.unlink(missing_ok=True)
    start, cpu = time.perf_counter(), time.process_time()
    table = pacsv.read_csv(path)
    con = duckdb.connect(str(db))
    con.register("incoming", table)
    con.execute("CREATE TABLE incidents AS SELECT * FROM incoming")
    con.close()
    return time.perf_counter() - start, time.process_time() - cpu


def upload(path: Path, folder: Path) -> dict[str, float]:
    from dashboard import geo, ingest, mapping, sample, schema
    from dashboard.store import Provenance, Store

    db = folder / "store.duckdb"
    for p in folder.glob("store.duckdb*"):
        p.unlink()
    store = Store(db, idle_close=0)
    store.commit("areas", sample.read_sample(REPO / "data" / "sample", "areas"), Provenance("sample"))
    areas = {lv: geo.from_store(store.areas(lv)) for lv in schema.LEVELS}
    times: dict[str, float] = {}
    start, cpu = time.perf_counter(), time.process_time()
    mark = [start, cpu]

    def stage(name: str) -> None:
        now, now_cpu = time.perf_counter(), time.process_time()
        times[f"{name}_s"], times[f"{name}_cpu_s"] = now - mark[0], now_cpu - mark[1]
        mark[:] = [now, now_cpu]

    data = path.read_bytes()
    up = ingest.read_upload(data, path.name, max_mb=1000)
    stage("read")
    plan = mapping.suggest(up.frame, kind="incidents", areas=areas).plan
    stage("suggest")
    prepared = ingest.prepare_mapped(up, plan, areas=areas)
    stage("validate")
    ingest.commit_prepared(store, prepared, mode="replace", author="bench")
    stage("commit")
    times["upload_s"] = time.perf_counter() - start
    times["upload_cpu_s"] = time.process_time() - cpu
    times["rows_kept"] = prepared.report.rows_kept
    times["rows_rejected"] = prepared.report.rows_rejected
    store.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench_ingest_"))
    try:
        path = folder / "chicago_1m.csv"
        build_csv(path, args.rows)
        runs = []
        for _ in range(args.repeat):
            base, base_cpu = baseline(path, folder)
            run = upload(path, folder)
            runs.append(run | {"baseline_s": base, "baseline_cpu_s": base_cpu, "ratio": run["upload_s"] / base,
                               "ratio_cpu": run["upload_cpu_s"] / base_cpu,
                               "ratio_no_suggest": (run["upload_s"] - run["suggest_s"]) / base})
        runs.sort(key=lambda r: r["ratio"])
        median = runs[len(runs) // 2]
        out = {"rows": args.rows, "file_mb": round(path.stat().st_size / 1e6, 1), "runs": len(runs),
               **{k: round(v, 3) if isinstance(v, float) else v for k, v in median.items()},
               "ratio": round(statistics.median(r["ratio"] for r in runs), 2),
               "ratio_best": round(min(r["upload_s"] for r in runs) / min(r["baseline_s"] for r in runs), 2),
               "ratios": [round(r["ratio"], 2) for r in runs],
               "ratio_cpu": round(statistics.median(r["ratio_cpu"] for r in runs), 2),
               "ratio_no_suggest": round(statistics.median(r["ratio_no_suggest"] for r in runs), 2)}
        if args.json:
            print(json.dumps(out, indent=2))
        else:
            print(f"{out['rows']:,} rows ({out['file_mb']} MB CSV, real Chicago rows, years shifted)")
            print(f"median run of {out['runs']} (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores):")
            print(f"baseline  pyarrow read + DuckDB insert : {out['baseline_s']:.2f} s")
            print(f"upload    read {out['read_s']:.2f} + suggest {out['suggest_s']:.2f} + validate "
                  f"{out['validate_s']:.2f} + commit {out['commit_s']:.2f} = {out['upload_s']:.2f} s "
                  f"({out['rows_kept']:,} kept, {out['rows_rejected']:,} rejected)")
            print(f"ratio     median {out['ratio']:.2f}x (runs: {out['ratios']}); best upload / best baseline "
                  f"{out['ratio_best']:.2f}x")
            print(f"without the mapping suggestion (saved profile): median {out['ratio_no_suggest']:.2f}x")
            print(f"CPU time  read {out['read_cpu_s']:.2f} + suggest {out['suggest_cpu_s']:.2f} + validate "
                  f"{out['validate_cpu_s']:.2f} + commit {out['commit_cpu_s']:.2f} s")
            print(f"CPU time  baseline {out['baseline_cpu_s']:.2f} s, upload {out['upload_cpu_s']:.2f} s: median ratio "
                  f"{out['ratio_cpu']:.2f}x (steadier than wall time on a loaded machine; both use threads)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
