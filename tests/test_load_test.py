"""bench/load_test.py stays runnable: the load test run small (2 browser sessions signing in and moving
between two pages, the analyst's CLI upload in between) must finish clean and report its timings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_load_test_runs_small_and_clean():
    done = subprocess.run([sys.executable, str(REPO / "bench" / "load_test.py"), "--contexts", "2", "--pages",
                           "overview,data"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["errors"] == []
    assert report["per_page"]["overview"]["n"] == report["per_page"]["data"]["n"] == 2
    assert 0 < report["overall"]["p50_s"] <= report["overall"]["p95_s"]
    assert report["ingest"]["committed"] is True and report["ingest"]["rows_kept"] == 500
    assert report["incidents_rows_after"] == 536_605 + 500
