"""A throw-away PostgreSQL cluster for the tests: initdb into a temporary folder, started on a free
local port (and a unix socket in that folder) for the test session, stopped and removed at the end.

Needs Debian's postgresql (`apt-get install -y postgresql`; `make test` installs it). PostgreSQL refuses
to run as root, so as root the cluster runs as the `postgres` system user. Without PostgreSQL these tests
are skipped locally and fail on CI (CI=true).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

MISSING = "PostgreSQL is missing: install it with `apt-get install -y postgresql` (`make test` does it)."


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class PgServer:
    port: int
    folder: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://dashboard@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh empty database; returns its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as con:
            con.execute(f"CREATE DATABASE {name}")
        return self.url(name)


class ClusterError(RuntimeError):
    pass


@contextmanager
def throwaway_cluster() -> Iterator[PgServer]:
    """Start a new PostgreSQL cluster in a temporary folder; stop it and delete the folder on exit."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        raise FileNotFoundError(MISSING)
    folder = Path(tempfile.mkdtemp(prefix="dashboard-pg-"))  # /tmp, not pytest's root-only tmp tree
    prefix: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(folder, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, log = folder / "data", folder / "server.log"
    port = _free_port()

    def run(*args: str) -> None:
        done = subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise ClusterError(f"{' '.join(args[:2])} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}\n{tail}")

    try:
        run(str(bin_dir / "initdb"), "-D", str(data), "-U", "dashboard", "--auth=trust", "-E", "UTF8",
            "--no-sync", "--no-instructions")
        # Durability is not under test here (commit atomicity is, and that holds with fsync off).
        options = (f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start")
        yield PgServer(port, folder)
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                           capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    if _bin_dir() is None:
        if os.environ.get("CI") == "true":
            pytest.fail(MISSING)
        pytest.skip(MISSING)
    try:
        with throwaway_cluster() as server:
            yield server
    except ClusterError as exc:
        pytest.fail(str(exc))


@pytest.fixture
def pg_database(pg_server: PgServer) -> Callable[[], str]:
    """Makes fresh databases on the session's server; each call returns a new URL."""
    return pg_server.new_database
