"""Shared fixtures: a real PostgreSQL cluster, sites on both databases, real servers.

``backend`` parametrises a test over SQLite and PostgreSQL. ``server`` starts
``ristretto serve`` as a subprocess on a loopback port for that backend (one per
test module) and stops it, by its pid, afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.pg import Cluster, free_port

ROOT = Path(__file__).resolve().parent.parent
# DocType fixtures. Frappe's own (MIT) ship with the tests; the full set (ERPNext, HRMS, Helpdesk,
# Press: GPL/AGPL, not shipped) is used when a ``shared`` folder sits beside the repository or
# RISTRETTO_FIXTURES names one. Tests needing files outside the shipped set are ``needs_shared``.
BUNDLED_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "doctypes"
SHARED_FIXTURES = Path(os.environ.get("RISTRETTO_FIXTURES") or ROOT.parent / "shared" / "fixtures" / "doctypes")
HAVE_SHARED = SHARED_FIXTURES.is_dir()
FIXTURES = SHARED_FIXTURES if HAVE_SHARED else BUNDLED_FIXTURES
needs_shared = pytest.mark.skipif(
    not HAVE_SHARED, reason="needs the ERPNext DocType fixtures (not shipped: GPL); put the fixture set in "
                            "../shared/fixtures/doctypes or name it in RISTRETTO_FIXTURES")
def wal_table(tmp_path: Path, *rows: tuple[str, str]) -> str:
    """A SQLite file in WAL mode with a table ``t (k TEXT PRIMARY KEY, v TEXT)`` holding ``rows``:
    its path (for tests of the SQLite connection, which open it as a worker would)."""
    import sqlite3
    path = str(tmp_path / "db.sqlite")
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", rows)
    finally:
        conn.close()
    return path


BACKENDS = ["sqlite", "postgres"]
ADMIN_PASSWORD = "admin-pw-123"


@pytest.fixture(scope="session")
def pg_cluster():
    cluster = Cluster()
    if not cluster.available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is required in CI but initdb/pg_ctl were not found")
        pytest.skip("PostgreSQL not installed")
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


def make_site(tmp_path: Path, backend: str, request) -> Path:
    """Create a site on the given backend; returns its folder."""
    from ristretto.site.install import new_site
    db_url = None
    if backend == "postgres":
        cluster = request.getfixturevalue("pg_cluster")
        db_url = cluster.create_database()
    site_dir = tmp_path / f"site-{backend}"
    site, _ = new_site(site_dir, db_url, ADMIN_PASSWORD)
    site.close()
    return site_dir


@pytest.fixture
def site_dir(tmp_path, backend, request) -> Path:
    return make_site(tmp_path, backend, request)


def configure_site(site_dir: Path, **values) -> None:
    """Set keys of a site's ``site_config.json`` (read when the site is opened)."""
    path = site_dir / "site_config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **values}, indent=2))


@dataclass
class Server:
    base_url: str
    site_dir: Path
    backend: str
    proc: subprocess.Popen
    api_key: str
    api_secret: str

    def client(self, **kw) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30, **kw)

    def admin(self) -> httpx.Client:
        """A client authenticated with the Administrator's API key."""
        return self.client(headers={"Authorization": f"token {self.api_key}:{self.api_secret}"})

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run_cli("--site", str(self.site_dir), *args, check=check)


def run_cli(*args: str, check: bool = True, env: dict | None = None, cwd: str | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "ristretto.cli.main", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"ristretto {' '.join(args)} failed: {proc.stdout}\n{proc.stderr}")
    return proc


def start_server(site_dir: Path, backend: str, workers: int = 1, args: tuple[str, ...] = ()) -> Server:
    """``ristretto serve`` (with extra ``args``) on a free port; its output goes to server.log."""
    port = free_port()
    log = open(site_dir / "server.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "ristretto.cli.main", "--site", str(site_dir), "serve",
                             "--port", str(port), "--workers", str(workers), *args],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while True:
        try:
            if httpx.get(f"{base}/api/method/ping", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            stop_server(proc)
            raise RuntimeError(f"server did not start: {(site_dir / 'server.log').read_text()[-2000:]}")
        time.sleep(0.1)
    keys = json.loads(run_cli("--site", str(site_dir), "generate-keys", "Administrator").stdout.strip())
    return Server(base, site_dir, backend, proc, keys["api_key"], keys["api_secret"])


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (a server's workers), read from Linux's /proc."""
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(entry))
    return children


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@pytest.fixture(scope="module", params=BACKENDS)
def server(request, tmp_path_factory):
    """A running server on a fresh site, one per test module and backend."""
    backend = request.param
    tmp = tmp_path_factory.mktemp(f"srv-{backend}")
    site_dir = make_site(tmp, backend, request)
    srv = start_server(site_dir, backend)
    yield srv
    stop_server(srv.proc)


@pytest.fixture
def admin(server) -> httpx.Client:
    with server.admin() as c:
        yield c
