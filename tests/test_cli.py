"""cli: status and ingest through `python -m dashboard`, the same code path nightly scripts use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

CSV = ("ID,Case Number,Date,Primary Type,Description,Beat,District,Community Area,Latitude,Longitude\n"
       "900000001,JA1,12/31/2017 11:00:00 PM,THEFT,RETAIL,0111,001,32,41.88,-87.63\n"
       "900000002,JA2,not a date,THEFT,RETAIL,0111,001,32,41.88,-87.63\n")


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DASHBOARD_DATA_DIR": str(data_dir), "DASHBOARD_LOG_LEVEL": "WARNING"}
    return subprocess.run([sys.executable, "-m", "dashboard", *args], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=300)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli")
    assert cli(path, "prepare").returncode == 0
    return path


def test_status_json_reports_every_dataset(data_dir):
    out = json.loads(cli(data_dir, "status", "--json").stdout)
    status = {d["dataset"]: d for d in out["datasets"]}
    assert status["incidents"]["rows"] == 536_605
    assert status["incidents"]["min_date"].startswith("2016-01-01")
    assert status["incidents"]["max_date"].startswith("2017-12-31")
    assert status["outreach"]["rows"] > 0 and status["areas"]["rows"] == 375
    assert status["population"]["rows"] == 77 and status["surveys"]["version"] is None
    assert all(status[d]["loaded_at"] for d in ("incidents", "outreach", "areas", "population"))


def test_ingest_dry_run_then_commit_then_rollback(data_dir, tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(CSV)
    dry = cli(data_dir, "ingest", str(path), "--kind", "incidents", "--dry-run", "--json")
    report = json.loads(dry.stdout)
    assert dry.returncode == 0 and report["committed"] is False
    assert (report["rows_in"], report["rows_kept"], report["rows_rejected"]) == (2, 1, 1)
    assert report["rejected_by_reason"] == {"unparseable date": 1}
    assert json.loads(cli(data_dir, "status", "--json").stdout)["datasets"][0]["version"] == 1

    done = json.loads(cli(data_dir, "ingest", str(path), "--kind", "incidents", "--json").stdout)
    assert done["committed"] and done["version"] == 2
    status = json.loads(cli(data_dir, "status", "--json").stdout)["datasets"][0]
    assert status["rows"] == 536_606  # appended, de-duplicated by id

    assert cli(data_dir, "rollback", "incidents", "1").returncode == 0
    assert json.loads(cli(data_dir, "status", "--json").stdout)["datasets"][0]["rows"] == 536_605


def test_bad_file_exits_2_with_a_fix_and_changes_nothing(data_dir, tmp_path):
    before = cli(data_dir, "status", "--json").stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("foo,bar\n1,2\n")
    result = cli(data_dir, "ingest", str(bad), "--kind", "incidents")
    assert result.returncode == 2
    assert "Required incidents columns not found" in result.stderr and "fix:" in result.stderr
    assert "Traceback" not in result.stderr
    as_json = json.loads(cli(data_dir, "ingest", str(bad), "--kind", "incidents", "--json").stdout)
    assert as_json["title"] == "Required incidents columns not found" and as_json["hint"]
    missing = cli(data_dir, "ingest", str(tmp_path / "nope.csv"), "--kind", "incidents")
    assert missing.returncode == 2 and "File could not be opened" in missing.stderr
    assert cli(data_dir, "status", "--json").stdout == before


LAPD_CSV = ("DR_NO,DATE OCC,TIME OCC,AREA ,Rpt Dist No,Crm Cd Desc,LAT,LON\n"
            "990000001,12/30/2017 12:00:00 AM,2130,1,0111,THEFT,41.8837,-87.6278\n"
            "990000002,12/30/2017 12:00:00 AM,0845,1,0111,LOUD PARTY,0,0\n")


def test_ingest_other_city_layout_then_saved_profile_for_nightly_loads(data_dir, tmp_path):
    path = tmp_path / "lapd.csv"
    path.write_text(LAPD_CSV)
    first = cli(data_dir, "ingest", str(path), "--kind", "incidents", "--dry-run", "--json",
                "--timezone", "America/Chicago")
    report = json.loads(first.stdout)
    assert first.returncode == 0 and report["rows_kept"] == 2
    assert report["mapping"]["columns"]["occurred_time"] == "TIME OCC"
    assert report["mapping"]["timezone"] == "America/Chicago"
    assert report["unmapped_offenses"] == {"LOUD PARTY": 1}
    saved = cli(data_dir, "ingest", str(path), "--json", "--save-profile", "lapd nightly", "--mode", "append")
    out = json.loads(saved.stdout)
    assert out["committed"] and out["profile"].endswith("lapd-nightly.json")
    profile = json.loads(Path(out["profile"]).read_text())
    assert profile["name"] == "lapd nightly" and profile["kind"] == "incidents"
    # The nightly script names the profile; a wrong path or name is a clear error.
    nightly = cli(data_dir, "ingest", str(path), "--profile", "lapd nightly", "--dry-run", "--json")
    assert json.loads(nightly.stdout)["mapping"]["name"] == "lapd nightly"
    missing = cli(data_dir, "ingest", str(path), "--profile", "nope")
    assert missing.returncode == 2 and "Mapping profile not found" in missing.stderr
    assert cli(data_dir, "rollback", "incidents", "1").returncode == 0


def test_rejected_csv_is_defused(data_dir, tmp_path):
    path = tmp_path / "hostile.csv"
    path.write_text("ID,Date,Primary Type\n=1+1,not a date,THEFT\n2,12/31/2017 11:00:00 PM,THEFT\n")
    out = tmp_path / "rejected.csv"
    result = cli(data_dir, "ingest", str(path), "--kind", "incidents", "--dry-run", "--rejected-csv", str(out))
    assert result.returncode == 0
    assert "'=1+1" in out.read_text()


def test_users_commands_manage_accounts_without_secrets_in_argv_or_output(data_dir):
    env = {**os.environ, "DASHBOARD_DATA_DIR": str(data_dir)}

    def users(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "dashboard", "users", *args], input=stdin, capture_output=True,
                              text=True, env=env, timeout=120)

    added = users("add", "Ana", "--role", "analyst", "--password-stdin", stdin="a long enough passphrase\n")
    assert added.returncode == 0, added.stderr
    assert users("add", "chief@city.gov", "--role", "command", "--oidc").returncode == 0
    short = users("add", "bob", "--password-stdin", stdin="short\n")
    assert short.returncode == 2 and "at least 12" in short.stderr and "Traceback" not in short.stderr
    assert users("set-role", "ana", "--role", "admin").returncode == 0
    listed = json.loads(users("list", "--json").stdout)
    assert {(u["username"], u["role"], u["sign_in"]) for u in listed} == {
        ("ana", "admin", "password"), ("chief@city.gov", "command", "OpenID Connect")}
    assert "passphrase" not in json.dumps(listed) and "scrypt" not in json.dumps(listed)
    missing = users("remove", "nobody")
    assert missing.returncode == 2 and "no user 'nobody'" in missing.stderr
    assert users("remove", "ana").returncode == 0
    from dashboard.store import Store

    log = Store(data_dir / "dashboard.duckdb").audit_log()
    changes = log[log["action"].str.startswith("user_")]
    assert set(changes["action"]) == {"user_add", "user_set_role", "user_remove"}
    assert changes["actor"].str.startswith("cli:").all() and len(changes) == 4
