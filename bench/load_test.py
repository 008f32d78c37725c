"""Load test: N concurrent browser sessions work through the pages while an analyst commits an upload.

Run: .venv/bin/python bench/load_test.py [--contexts 20] [--pages overview,trends,...] [--rounds 1]
     [--data-dir DIR] [--timeout 300]

Starts the app as the README says (`make run PORT=...`, like tests/browser_support.py) with its own store
(a new temporary DASHBOARD_DATA_DIR seeded from the sample, or --data-dir), opens --contexts Playwright
contexts in one Debian Chromium (/usr/bin/chromium, the flags of tests/browser_support.py), and has each
sign in as an analyst through the sidebar (built-in staff users, as the browser tests add them) and then
follow the sidebar links through every page in --pages (each session starts at a different page, so all
pages are busy at once), --rounds times. Once about one page per session has been drawn, an analyst
commits 500 real sample rows under new ids with `python -m dashboard ingest ... --mode append` into the
same store, while the app is busy.

Time to a drawn page: from the click on the sidebar link until the page's title and the page's content (a chart, map frame,
table or uploader) are attached and Streamlit reports the run finished. Any Streamlit exception element or dashboard error box,
any uncaught page error, a failed ingest or a store that does not show the new version fails the run
(exit status 1). Prints one JSON report: p50 / p95 / max per page and overall, the ingest's time and
result, and the CPU seconds the app and the browsers used (on 2 cores, 20 Chromium tabs drawing plotly
and Leaflet compete with the app for the same CPUs). Not part of `make test` (minutes at 20 sessions on 2 cores); tests/test_load_test.py runs it small.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.browser_support import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    ERROR_BOXES,
    MAP_IFRAME,
    STAFF_PASSWORD,
    serve,
)

CHART = ".stPlotlyChart"
# page -> (URL path, its title, what shows once it is drawn)
PAGES = {
    "overview": ("/", "Overview", CHART),
    "trends": ("/trends", "Crime trends", CHART),
    "map": ("/map", "Neighborhood map", MAP_IFRAME),
    "compare": ("/compare", "Compare areas", CHART),
    "hotspots": ("/hotspots", "Hot spots", MAP_IFRAME),
    "outreach": ("/outreach", "Outreach", CHART),
    "impact": ("/impact", "Impact", CHART),
    "data": ("/data", "Data and sources", '[data-testid="stDataFrame"]'),
    "upload": ("/upload", "Upload data", '[data-testid="stFileUploader"]'),
}
DONE = '[data-testid="stApp"][data-test-script-state="notRunning"][data-test-connection-state="CONNECTED"]'
UPLOAD_ROWS = 500


def analyst_file(path: Path) -> None:
    """500 real sample incidents in the Chicago export layout, under ids no record has."""
    import pandas as pd

    rows = pd.read_parquet(REPO / "data" / "sample" / "incidents.parquet").tail(UPLOAD_ROWS)
    pd.DataFrame({
        "ID": [str(900_000_000 + i) for i in range(len(rows))],
        "Case Number": [f"LOAD{i:05d}" for i in range(len(rows))],
        "Date": rows["occurred_at"].dt.strftime("%m/%d/%Y %I:%M:%S %p").to_numpy(),
        "Primary Type": rows["offense"].to_numpy(), "Description": rows["offense_detail"].to_numpy(),
        "Beat": rows["beat_id"].to_numpy(), "District": rows["district_id"].to_numpy(),
        "Community Area": rows["community_area_id"].to_numpy(),
        "Latitude": rows["latitude"].to_numpy(), "Longitude": rows["longitude"].to_numpy(),
    }).to_csv(path, index=False)


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DASHBOARD_DATA_DIR": str(data_dir), "DASHBOARD_LOG_LEVEL": "WARNING"}
    return subprocess.run([str(REPO / ".venv" / "bin" / "python"), "-m", "dashboard", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)


async def session(browser, url: str, order: list[str], rounds: int, timeout_ms: int, out: dict) -> None:
    """One analyst's tab: open the Overview, sign in through the sidebar, then follow the sidebar links
    through ``order`` (staff pages need a sign-in, and a reload would drop it)."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(timeout_ms)  # also for fill and click: 20 tabs on 2 cores are slow to type in
    page = await context.new_page()
    page.on("pageerror", lambda exc: out["errors"].append(f"page error: {exc}"))
    try:
        await page.goto(url, wait_until="domcontentloaded", timeout=timeout_ms)
        await page.get_by_text("Staff sign-in").wait_for(timeout=timeout_ms)
        await page.wait_for_selector(DONE, state="attached", timeout=timeout_ms)
        user = page.get_by_label("User name")
        if not await user.is_visible():
            await page.get_by_text("Staff sign-in").click()
        await user.fill("browser-analyst")
        await user.press("Tab")
        await page.get_by_label("Password", exact=True).fill(STAFF_PASSWORD)
        await page.get_by_label("Password", exact=True).press("Enter")
        await page.get_by_text("Signed in as browser-analyst").wait_for(timeout=timeout_ms)
        await page.wait_for_selector(DONE, state="attached", timeout=timeout_ms)
    except Exception as exc:  # noqa: BLE001 - reported, and the run fails
        out["errors"].append(f"sign-in: {type(exc).__name__}: {str(exc).splitlines()[0]}")
        await context.close()
        return
    try:
        for _ in range(rounds):
            for name in order:
                path, title, ready = PAGES[name]
                start = time.perf_counter()
                try:
                    await page.locator(f'a[data-testid="stPageLink-NavLink"][href="{path.lstrip("/")}"]').first.click(
                        timeout=timeout_ms)
                    await page.locator(f'h1:has-text("{title}"), {ERROR_BOXES}').first.wait_for(
                        state="attached", timeout=timeout_ms)
                    await page.wait_for_selector(DONE, state="attached", timeout=timeout_ms)
                    await page.locator(f"{ready}, {ERROR_BOXES}").first.wait_for(state="attached", timeout=timeout_ms)
                except Exception as exc:  # noqa: BLE001 - a timeout is a result to report, not a crash
                    out["errors"].append(f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
                    continue
                elapsed = time.perf_counter() - start
                boxes = page.locator(ERROR_BOXES)
                if await boxes.count():
                    out["errors"].append(f"{name}: error box: {(await boxes.first.inner_text())[:300]}")
                out["times"].setdefault(name, []).append(elapsed)
    finally:
        await context.close()


def quantiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]  # noqa: E731
    return {"n": len(values), "p50_s": round(statistics.median(ordered), 2), "p95_s": round(pick(0.95), 2),
            "max_s": round(ordered[-1], 2)}


def server_pid(app) -> int:
    """The `make run` process serve() started for ``app`` (a child of this one)."""
    import psutil

    port = app.url.rsplit(":", 1)[1]
    return next(c.pid for c in psutil.Process().children() if f"PORT={port}" in " ".join(c.cmdline()))


def cpu_seconds(server_pid: int) -> dict[str, float]:
    """CPU time used so far by the app (make and streamlit) and by everything else this script started
    (the Playwright driver and Chromium), to see where a slow page's time went."""
    import psutil

    def used(proc) -> float:
        try:
            t = proc.cpu_times()
            return t.user + t.system
        except psutil.Error:
            return 0.0

    server = psutil.Process(server_pid)
    server_tree = {server.pid, *(c.pid for c in server.children(recursive=True))}
    mine = psutil.Process().children(recursive=True)
    return {"app_cpu_s": round(sum(used(psutil.Process(pid)) for pid in server_tree), 1),
            "browser_cpu_s": round(sum(used(c) for c in mine if c.pid not in server_tree), 1)}


def rotated(names: list[str], i: int) -> list[str]:
    """Session i's page order: the list started at its i-th page, never at the Overview (where the
    session signs in already)."""
    order = names[i % len(names):] + names[:i % len(names)]
    return order[1:] + order[:1] if order[0] == "overview" else order


async def drive(url: str, args, data_dir: Path, upload: Path, app_pid: int) -> dict:
    from playwright.async_api import async_playwright

    names = args.pages
    out: dict = {"times": {}, "errors": []}
    ingest: dict = {}

    async def analyst() -> None:
        # Commit while the sessions are busy: once about one page per session has been drawn.
        waited = time.monotonic()
        while sum(map(len, out["times"].values())) < args.contexts and time.monotonic() - waited < 120:
            await asyncio.sleep(0.5)
        start = time.perf_counter()
        done = await asyncio.to_thread(cli, data_dir, "ingest", str(upload), "--kind", "incidents",
                                       "--mode", "append", "--author", "load-test", "--json")
        ingest.update({"seconds": round(time.perf_counter() - start, 1), "returncode": done.returncode})
        try:
            report = json.loads(done.stdout)
            ingest.update({k: report.get(k) for k in ("committed", "version", "rows_kept", "rows_rejected")})
        except json.JSONDecodeError:
            ingest["output"] = (done.stdout + done.stderr)[-1000:]

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        start = time.perf_counter()
        await asyncio.gather(analyst(), *(
            session(browser, url, rotated(names, i), args.rounds, args.timeout * 1000, out)
            for i in range(args.contexts)))
        wall = time.perf_counter() - start
        cpu = cpu_seconds(app_pid)
        await browser.close()
    every = [t for ts in out["times"].values() for t in ts]
    status = json.loads(cli(data_dir, "status", "--json").stdout)
    incidents = next(d for d in status["datasets"] if d["dataset"] == "incidents")
    if not ingest.get("committed") or incidents["version"] != ingest.get("version"):
        out["errors"].append(f"analyst upload not committed or not active: {ingest}, store shows {incidents}")
    return {"contexts": args.contexts, "pages": names, "rounds": args.rounds, "cpus": os.cpu_count(),
            "wall_s": round(wall, 1), **cpu, "overall": quantiles(every) if every else None,
            "per_page": {name: quantiles(ts) for name, ts in out["times"].items()},
            "ingest": ingest, "incidents_rows_after": incidents["rows"], "errors": out["errors"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contexts", type=int, default=20)
    parser.add_argument("--pages", default=",".join(PAGES), help=f"comma-separated, of {', '.join(PAGES)}")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--data-dir", help="store to use (default: a new temporary one seeded from the sample)")
    parser.add_argument("--timeout", type=int, default=300, help="seconds a page may take before it counts as an error")
    args = parser.parse_args()
    args.pages = [p.strip() for p in args.pages.split(",") if p.strip()]
    unknown = [p for p in args.pages if p not in PAGES]
    if unknown:
        parser.error(f"unknown pages {unknown}; use some of {', '.join(PAGES)}")
    if not CHROMIUM.exists():
        parser.error(f"{CHROMIUM} is missing: apt-get install -y chromium (make test installs it)")
    if len(args.pages) < 2:
        parser.error("give at least two pages: sessions move between pages through the sidebar")
    work = Path(tempfile.mkdtemp(prefix="load_test_"))
    data_dir = Path(args.data_dir) if args.data_dir else work / "store"
    data_dir.mkdir(parents=True, exist_ok=True)
    upload = work / "analyst_incidents.csv"
    analyst_file(upload)
    log_path = work / "make-run.log"
    try:
        # The README's `make run`, on a free port, with built-in staff users (tests/browser_support.py).
        with serve(data_dir, log_path) as app:
            report = asyncio.run(drive(app.url, args, data_dir, upload, server_pid(app)))
        app_log = log_path.read_text(errors="replace")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    tracebacks = app_log.count("Traceback (most recent call last)")
    if tracebacks:
        report["errors"].append(f"{tracebacks} traceback(s) in the app log")
    print(json.dumps(report, indent=2))
    return 1 if report["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
