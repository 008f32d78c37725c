"""Security and faults across modules: every download of every page defuses spreadsheet formulas (run on
the hostile store), downloads have one way out, an ingest killed with SIGKILL at 20 random points of its
commit leaves a consistent store, and a read-only or full data folder gives a clear error and loses
nothing."""

from __future__ import annotations

import csv
import io
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard import access
from dashboard.store import Store
from tests.conftest import REPO, staff_token
from tests.fixtures import hostile

APP = REPO / "app.py"

# ------------------------------------------------------------------------------ downloads


def test_downloads_have_one_way_out():
    """Only ui.py draws download buttons, and only ingest.safe_csv_bytes (ingest/report.py) writes CSV text for them."""
    sources = [*(REPO / "views").glob("*.py"), *(REPO / "src" / "dashboard").rglob("*.py"), REPO / "app.py"]
    for path in sources:
        text = path.read_text()
        if path.name != "ui.py":
            assert "download_button" not in text, f"{path.name} draws its own download button"
        # ingest/report.py holds safe_csv_bytes; sample.py writes data/sample/, not downloads.
        if path.relative_to(REPO).as_posix() not in ("src/dashboard/ingest/report.py", "src/dashboard/sample.py"):
            assert ".to_csv(" not in text and ".to_excel(" not in text, f"{path.name} writes CSV/Excel itself"
    ui = (REPO / "src" / "dashboard" / "ui.py").read_text()
    for call in re.findall(r"st\.download_button\((.*?)\)\n", ui, flags=re.S):
        assert "safe_csv" in call or "text/html" in call, f"a download that is not defused: {call[:80]}"


@pytest.fixture
def downloads(monkeypatch) -> list[tuple[str, str, bytes]]:
    """Every download button the app draws in this test: (label, file name, bytes)."""
    seen: list[tuple[str, str, bytes]] = []
    real = st.download_button

    def spy(label, data=None, file_name=None, *args, **kwargs):
        content = data() if callable(data) else data
        seen.append((label, file_name or "", content if isinstance(content, bytes) else str(content).encode()))
        return real(label, data, file_name, *args, **kwargs)

    monkeypatch.setattr(st, "download_button", spy)
    return seen


def formula_cells(data: bytes) -> list[str]:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    return [cell for row in rows for cell in row if cell[:1] in hostile.FORMULA_STARTS
            and not re.fullmatch(r"-?\d+(\.\d+)?(e-?\d+)?", cell)]  # negative numbers are numbers


def live_markup(text: str) -> list[str]:
    """Elements or attributes a payload would have created if it had not been escaped: ids starting
    "pwn", event-handler attributes, javascript: links, scripts mentioning __pwned."""
    from html.parser import HTMLParser

    found: list[str] = []

    class Finder(HTMLParser):
        in_script = False

        def handle_starttag(self, tag, attrs):
            self.in_script = tag == "script"
            for key, value in attrs:
                if (key == "id" and (value or "").startswith("pwn")) or key.startswith("on") or (
                        key in ("href", "src") and (value or "").lower().startswith("javascript:")):
                    found.append(f"<{tag} {key}={value!r}>")

        def handle_data(self, data):
            if self.in_script and "__pwned" in data:
                found.append(f"<script>{data[:60]}")

    Finder().feed(text)
    return found


def test_every_download_on_every_page_is_defused(hostile_data_dir, monkeypatch, downloads):
    from dashboard import loader

    monkeypatch.setenv("DASHBOARD_DATA_DIR", str(hostile_data_dir))
    monkeypatch.chdir(REPO)
    loader.store.clear()
    loader.clear_settings()
    try:
        at = AppTest.from_file(str(APP), default_timeout=180)
        at.session_state["_session_token"] = staff_token(hostile_data_dir, "admin")
        at.session_state["public_safe"] = False  # the full view shows the most text
        at.run()
        for page in access.PAGES:
            at.switch_page(f"views/{page.name}.py")
            at.run()
            assert not at.exception, (page.name, [e.message for e in at.exception])
            if page.name == "map":  # the area panel and its council brief
                at.selectbox(key="find_community_area").set_value("32").run()
            if page.name == "upload":
                name, data = hostile.upload_csv()
                at.file_uploader(key="upload_file").set_value((name, data, "text/csv")).run()
                assert not at.exception
        files = {name for _, name, _ in downloads}
        assert {"weekly_counts.csv", "community_area_map.csv", "audit_log.csv"} <= files, files
        salted = 0
        for label, name, data in downloads:
            assert re.fullmatch(r"[A-Za-z0-9._-]+", name), f"unsafe download file name {name!r}"
            if name.endswith(".csv"):
                assert formula_cells(data) == [], f"{label} ({name}) has live formula cells"
                salted += data.count(b"'=HYPERLINK")
            elif name.endswith(".html"):
                assert live_markup(data.decode("utf-8")) == [], f"{name}: a payload became markup"
        assert salted > 0, "no payload reached a download: the check above proved nothing"
    finally:
        loader.store.clear()
        loader.clear_settings()


# ------------------------------------------------------------------------------------ faults


def cli(data_dir: Path, *args: str, **popen) -> subprocess.Popen:
    env = {**os.environ, "DASHBOARD_DATA_DIR": str(data_dir), "DASHBOARD_LOG_LEVEL": "INFO",
           "DASHBOARD_LOCK_TIMEOUT": "60"}
    return subprocess.Popen([sys.executable, "-m", "dashboard", *args], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)


def chicago_export(path: Path, rows: pd.DataFrame) -> Path:
    """Real sample rows written back in the Chicago portal's export layout (what analysts upload)."""
    out = pd.DataFrame({
        "ID": rows["incident_id"], "Case Number": rows["case_number"],
        "Date": rows["occurred_at"].dt.strftime("%m/%d/%Y %I:%M:%S %p"), "Primary Type": rows["offense"],
        "Description": rows["offense_detail"], "Beat": rows["beat_id"], "District": rows["district_id"],
        "Community Area": rows["community_area_id"], "Latitude": rows["latitude"], "Longitude": rows["longitude"],
    })
    out.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> tuple[Path, Path]:
    incidents = pd.read_parquet(REPO / "data" / "sample" / "incidents.parquet")
    folder = tmp_path_factory.mktemp("exports")
    first = chicago_export(folder / "a.csv", incidents.iloc[:60_000])
    second = chicago_export(folder / "b.csv", incidents.iloc[30_000:100_000])  # overlaps: append de-duplicates
    return first, second


def store_state(data_dir: Path) -> tuple[list[str], pd.DataFrame, dict[str, int]]:
    store = Store(data_dir / "dashboard.duckdb", idle_close=0)
    try:
        return store.verify(), store.versions()[["dataset", "version", "row_count", "content_hash"]], \
            store.active_versions()
    finally:
        store.close()


def test_sigkill_at_20_random_points_of_commits_leaves_old_or_new_version(tmp_path, exports):
    """Each round starts an append ingest, waits for its "committing" log line (the transaction has
    begun) plus a random part of the commit's measured length, and kills it with SIGKILL. The store
    must then open, verify (every version's table, row count and content hash), and have either the
    version it had or one more, complete."""
    data_dir = tmp_path / "store"
    first, second = exports
    setup = cli(data_dir, "ingest", str(first), "--kind", "incidents", "--mode", "replace")
    assert setup.wait(timeout=600) == 0, setup.stderr.read()
    # one full run, timed from "committing" to the end, sets the range the kills are spread over
    timing = cli(data_dir, "ingest", str(second), "--kind", "incidents")
    started = None
    for line in timing.stderr:
        if "committing incidents" in line:
            started = time.monotonic()
    assert timing.wait(timeout=600) == 0 and started is not None
    commit_s = max(time.monotonic() - started, 0.05)

    rng = random.Random(20261124)
    outcomes = {"old": 0, "new": 0}
    for round_ in range(20):
        problems, before, active_before = store_state(data_dir)
        assert problems == []
        source = (first, second)[round_ % 2]
        proc = cli(data_dir, "ingest", str(source), "--kind", "incidents", "--mode", "append")
        for line in proc.stderr:
            if "committing incidents" in line:
                break
        time.sleep(rng.uniform(0, commit_s))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        proc.stderr.close()
        proc.stdout.close()
        problems, after, active_after = store_state(data_dir)
        assert problems == [], f"round {round_}: {problems}"
        old, new = active_before["incidents"], active_before["incidents"] + 1
        assert active_after["incidents"] in (old, new), f"round {round_}: active {active_after}"
        outcomes["old" if active_after["incidents"] == old else "new"] += 1
        kept = after.merge(before, on=["dataset", "version"], suffixes=("", "_before"))
        assert (kept["row_count"] == kept["row_count_before"]).all(), "an earlier version changed"
        assert (kept["content_hash"] == kept["content_hash_before"]).all(), "an earlier version changed"
        assert len(after) - len(before) in (0, 1)
    print(f"SIGKILL outcomes over 20 rounds: {outcomes}; commit took {commit_s:.2f} s")
    # a normal ingest after all that works
    again = cli(data_dir, "ingest", str(first), "--kind", "incidents")
    assert again.wait(timeout=600) == 0
    assert store_state(data_dir)[0] == []


def store_bytes(data_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(data_dir.iterdir()) if p.is_file()}


def test_read_only_data_folder_gives_a_clear_error_and_changes_nothing(tmp_path, exports):
    """The data folder made read-only the way a deployment would: a read-only (bind) mount when running
    as root, which ignores file modes; file modes otherwise."""
    first, _ = exports
    data_dir = tmp_path / "ro"
    setup = cli(data_dir, "ingest", str(first), "--kind", "incidents", "--mode", "replace")
    assert setup.wait(timeout=600) == 0
    before = store_bytes(data_dir)
    versions_before = store_state(data_dir)[1]
    undo = _make_read_only(data_dir)
    try:
        proc = cli(data_dir, "ingest", str(first), "--kind", "incidents")
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 2, (out, err[-2000:])
        assert "Traceback" not in err and "writable" in err, err[-2000:]
        assert store_bytes(data_dir) == before
    finally:
        undo()
    problems, versions_after, _ = store_state(data_dir)
    assert problems == []
    pd.testing.assert_frame_equal(versions_after, versions_before)


def _make_read_only(folder: Path):
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [folder, *folder.iterdir()]}
        for path in modes:
            path.chmod(0o555 if path.is_dir() else 0o444)
        return lambda: [path.chmod(mode) for path, mode in modes.items()]
    bind = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True, text=True)
    remount = bind.returncode == 0 and subprocess.run(
        ["mount", "-o", "remount,ro,bind", str(folder)], capture_output=True, text=True).returncode == 0
    if not remount:
        if bind.returncode == 0:
            subprocess.run(["umount", str(folder)], check=True)
        pytest.fail(f"running as root without mount rights: cannot make a read-only folder ({bind.stderr.strip()})")
    return lambda: subprocess.run(["umount", str(folder)], check=True)


def test_full_disk_gives_a_clear_error_and_keeps_the_previous_version(tmp_path, exports):
    """The data folder on a small tmpfs (a real full disk) when this machine may mount one; otherwise a
    file-size limit on the ingest process (RLIMIT_FSIZE), which fails DuckDB's writes the same way."""
    first, second = exports
    data_dir = tmp_path / "small"
    data_dir.mkdir()
    setup = cli(data_dir, "ingest", str(first), "--kind", "incidents", "--mode", "replace")
    assert setup.wait(timeout=600) == 0
    problems, versions, active = store_state(data_dir)
    used = sum(p.stat().st_size for p in data_dir.iterdir())
    mounted = _mount_small_tmpfs(data_dir, used)
    try:
        limit = {} if mounted else {"preexec_fn": lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (used + 2**20,) * 2)}
        proc = cli(data_dir, "ingest", str(second), "--kind", "incidents", "--mode", "replace", **limit)
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 2, (out, err[-2000:])
        assert "Traceback" not in err and ("disk" in err or "writable" in err), err[-2000:]
    finally:
        if mounted:
            _unmount(data_dir)
    problems_after, versions_after, active_after = store_state(data_dir)
    assert problems_after == [] and active_after == active
    pd.testing.assert_frame_equal(versions_after, versions)


def _mount_small_tmpfs(data_dir: Path, used: int) -> bool:
    """Move the store onto a tmpfs with room for it and ~1 MB more; False when mounting is not allowed."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    keep = data_dir.with_name("keep")
    shutil.copytree(data_dir, keep)
    size_kb = (used + 2**20) // 1024 + 64
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(data_dir)],
                      capture_output=True).returncode != 0:
        shutil.rmtree(keep)
        return False
    for path in keep.iterdir():
        shutil.copy2(path, data_dir / path.name)
    shutil.rmtree(keep)
    return True


def _unmount(data_dir: Path) -> None:
    keep = data_dir.with_name("keep")
    shutil.copytree(data_dir, keep)
    subprocess.run(["umount", str(data_dir)], check=True)
    for path in keep.iterdir():
        shutil.copy2(path, data_dir / path.name)
    shutil.rmtree(keep)
