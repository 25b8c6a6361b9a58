"""A throwaway PostgreSQL cluster for the test run (loopback only, removed afterwards).

Uses ``RISTRETTO_TEST_PG_URL`` when set (an existing server the tests may create
databases on). Otherwise it runs ``initdb`` + ``pg_ctl`` from the PostgreSQL
installation into a temporary folder, on a free loopback port, as the
``postgres`` system user when running as root.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


class Cluster:
    """A throwaway PostgreSQL cluster. Tests run it with ``fsync=off`` (nothing of it outlives
    the run); ``durable=True`` keeps PostgreSQL's own defaults (``fsync``, ``synchronous_commit``
    on), what a benchmark must measure."""

    def __init__(self, durable: bool = False) -> None:
        self.url: str | None = os.environ.get("RISTRETTO_TEST_PG_URL")
        self.dir: str | None = None
        self.durable = durable
        self._as: list[str] = []

    def postmaster_pid(self) -> int | None:
        """The cluster's postmaster (its backends are its children), when this object started it."""
        if self.dir is None:
            return None
        try:
            with open(os.path.join(self.dir, "data", "postmaster.pid")) as f:
                return int(f.readline())
        except (OSError, ValueError):
            return None

    def available(self) -> bool:
        return bool(self.url) or (_pg_bin("initdb") is not None and _pg_bin("pg_ctl") is not None)

    def start(self) -> str:
        if self.url:
            return self.url
        initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        self.dir = tempfile.mkdtemp(prefix="ristretto-pg-")
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]
        data = os.path.join(self.dir, "data")
        subprocess.run(self._as + [initdb, "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        port = free_port()
        opts = f"-p {port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=200"
        if not self.durable:
            opts += " -c fsync=off"
        subprocess.run(self._as + [pg_ctl, "-D", data, "-o", opts, "-l", os.path.join(self.dir, "log"),
                                   "-w", "start"], check=True, stdout=subprocess.DEVNULL)
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        return self.url

    def create_database(self) -> str:
        import psycopg
        assert self.url
        name = "rt_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        base = self.url.rsplit("/", 1)[0]
        return f"{base}/{name}"

    def stop(self) -> None:
        if self.dir is None:
            return
        pg_ctl = _pg_bin("pg_ctl")
        subprocess.run(self._as + [pg_ctl, "-D", os.path.join(self.dir, "data"), "-m", "immediate", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(50):
            if not os.path.exists(os.path.join(self.dir, "data", "postmaster.pid")):
                break
            time.sleep(0.1)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None
