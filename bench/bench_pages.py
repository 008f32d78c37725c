"""Page timings on the bundled sample: cold start to first drawn page, and warm reruns of every page.

Run: .venv/bin/python bench/bench_pages.py [--repeat 5] [--json]

- cold_start_*: `make run`-equivalent server start (streamlit run) until Chromium shows the Overview's
  charts; once with an empty data dir (includes seeding the store from data/sample), once with a
  seeded store (a restart).
- rerun_same_s: an AppTest rerun of a page with nothing changed (all aggregates cached).
- rerun_filter_change_s: an AppTest rerun after changing the date range to one not seen before
  (cache misses: the page's SQL aggregates run against DuckDB).
Prints numbers; asserts nothing (targets are read by people, not tests).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
PAGES = ["views/overview.py", "views/trends.py", "views/map.py", "views/compare.py", "views/hotspots.py",
         "views/outreach.py", "views/impact.py", "views/data.py", "views/upload.py"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cold_start(data_dir: Path) -> float:
    from playwright.sync_api import sync_playwright

    port = free_port()
    env = {**os.environ, "DASHBOARD_DATA_DIR": str(data_dir)}
    start = time.perf_counter()
    proc = subprocess.Popen([str(REPO / ".venv" / "bin" / "streamlit"), "run", "app.py", "--server.port",
                             str(port), "--server.headless", "true"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.05)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"])
            page = browser.new_page()
            page.goto(url)
            page.locator(".js-plotly-plot .main-svg path").first.wait_for(state="attached", timeout=180_000)
            elapsed = time.perf_counter() - start
            browser.close()
        return elapsed
    finally:
        os.killpg(proc.pid, 15)
        proc.wait()


def reruns(data_dir: Path, repeat: int) -> dict[str, dict[str, float]]:
    os.environ["DASHBOARD_DATA_DIR"] = str(data_dir)
    from streamlit.testing.v1 import AppTest

    from tests.conftest import staff_token

    out = {}
    for page in PAGES:
        at = AppTest.from_file(str(REPO / "app.py"), default_timeout=300)
        at.session_state["_session_token"] = staff_token(data_dir, "analyst")  # staff pages need a sign-in
        at.run()
        at.switch_page(page)
        at.run()
        same, changed = [], []
        for i in range(repeat):
            t = time.perf_counter()
            at.run()
            same.append(time.perf_counter() - t)
            end = date(2017, 12, 31) - timedelta(days=7 * (i + 1) + len(out) * 100)
            at.session_state["filter_dates"] = (end - timedelta(days=27), end)
            t = time.perf_counter()
            at.run()
            changed.append(time.perf_counter() - t)
            assert not at.exception, at.exception
        out[Path(page).stem] = {"rerun_same_s": statistics.median(same),
                                "rerun_filter_change_s": statistics.median(changed)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        report = {"cold_start_empty_store_s": cold_start(data_dir),
                  "cold_start_seeded_store_s": cold_start(data_dir),
                  "pages": reruns(data_dir, args.repeat)}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"cold start to first drawn page, empty store (seeds it): {report['cold_start_empty_store_s']:.2f} s")
    print(f"cold start to first drawn page, seeded store:           {report['cold_start_seeded_store_s']:.2f} s")
    print(f"{'page':<10} {'rerun, nothing changed':>24} {'rerun after filter change':>27}")
    for page, r in report["pages"].items():
        print(f"{page:<10} {r['rerun_same_s'] * 1000:>21.0f} ms {r['rerun_filter_change_s'] * 1000:>24.0f} ms")
    print(json.dumps(report))


if __name__ == "__main__":
    sys.exit(main())
