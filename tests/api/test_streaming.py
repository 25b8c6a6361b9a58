"""Every-row listings through a real server on both databases: bounded worker memory,
a complete and valid body, and a client that goes away stops the work.

250,000 ToDo rows are written straight into the site's database; the server runs one
worker, found as the child of the served process, whose memory (``VmHWM``, reset
before the request through ``/proc/<pid>/clear_refs``, and sampled ``VmRSS``) and CPU
time are read from ``/proc``. Before streaming, listing every field of these rows
took over 500 MiB of worker memory.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from tests.bulk import load_todos
from tests.conftest import child_pids

ROWS = 250_000
MIB = 1024 * 1024
ALL_FIELDS = {"fields": '["*"]', "limit_page_length": "0"}


@pytest.fixture(scope="module")
def big(server):
    load_todos(server.site_dir, ROWS)
    return server


def worker_pid(server) -> int:
    """The process that serves requests: with one worker, the server process itself; with a
    supervisor (several workers), its only child."""
    children = child_pids(server.proc.pid)
    assert len(children) <= 1, children
    return children[0] if children else server.proc.pid


def status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{key} not in /proc/{pid}/status")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class PeakRSS:
    """Highest resident size of a process while the block runs (KiB)."""

    def __init__(self, pid: int):
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS
            self.hwm = True
        except OSError:
            self.hwm = False

    def _sample(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, status_kib(self.pid, "VmRSS"))

    def __enter__(self):
        self.base = status_kib(self.pid, "VmRSS")
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        if self.hwm:
            self.peak = max(self.peak, status_kib(self.pid, "VmHWM"))

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.base) / 1024


def test_every_row_listing_keeps_worker_memory_bounded(big):
    pid = worker_pid(big)
    marker = b'{"name":"bulk-'
    with big.admin() as client:
        # Warm up: the stream path once (PostgreSQL opens its stream pool here).
        warm = client.get("/api/resource/ToDo", params={"fields": '["*"]', "limit_page_length": "600"})
        assert warm.status_code == 200 and len(warm.json()["data"]) == 600
        with PeakRSS(pid) as mem:
            rows = size = 0
            head, tail = b"", b""
            with client.stream("GET", "/api/resource/ToDo", params=ALL_FIELDS, timeout=300) as r:
                assert r.status_code == 200
                chunked = r.headers.get("transfer-encoding") == "chunked"
                for chunk in r.iter_bytes():
                    joined = tail + chunk
                    # A marker split across two chunks is counted once, in the joined text.
                    rows += joined.count(marker) - tail.count(marker)
                    head = head or chunk[:32]
                    tail = joined[-(len(marker) - 1):]
                    size += len(chunk)
    assert mem.growth_mib < 64, f"worker grew {mem.growth_mib:.1f} MiB for a {size / MIB:.0f} MiB listing"
    assert chunked
    assert head.startswith(b'{"data":[{"name":"bulk-')
    assert tail.endswith(b"}]}")
    assert rows == ROWS
    print(f"\n{big.backend}: {ROWS:,} rows, {size / MIB:.0f} MiB body, worker grew {mem.growth_mib:.1f} MiB")


def test_every_row_listing_is_valid_json_with_every_row(big):
    with big.admin() as client:
        r = client.get("/api/resource/ToDo", params={"fields": '["name"]', "limit_page_length": "0"})
        assert r.status_code == 200
        names = [row["name"] for row in r.json()["data"]]
        assert len(names) == ROWS and set(names) == {f"bulk-{i}" for i in range(1, ROWS + 1)}
        r = client.get("/api/method/frappe.client.get_list",
                       params={"doctype": "ToDo", "fields": '["name"]', "limit_page_length": "0",
                               "filters": json.dumps([["name", "like", "bulk-1%"]])})
        assert r.status_code == 200
        assert len(r.json()["message"]) == sum(1 for i in range(1, ROWS + 1) if str(i).startswith("1"))


def open_streams(server, pid: int) -> int:
    """Streams holding a database snapshot. SQLite: read transactions of the worker, seen
    as its locks on the WAL index's reader slots (bytes 123-127 of ``site.db-shm``, which
    an idle connection does not hold). PostgreSQL: backends inside a stream's transaction."""
    if server.backend == "sqlite":
        inode = os.stat(server.site_dir / "site.db-shm").st_ino
        held = 0
        for line in Path("/proc/locks").read_text().splitlines():
            parts = line.split()  # id: POSIX ADVISORY READ pid maj:min:inode start end
            if (len(parts) >= 8 and parts[1] == "POSIX" and parts[4] == str(pid)
                    and parts[5].endswith(f":{inode}") and 123 <= int(parts[6]) <= 127):
                held += 1
        return held
    import psycopg
    url = json.loads((server.site_dir / "site_config.json").read_text())["db_url"]
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                            "AND state IN ('active', 'idle in transaction') AND query LIKE 'FETCH%'"
                            ).fetchone()[0]


def test_client_that_goes_away_stops_the_stream_and_frees_its_connection(big):
    pid = worker_pid(big)
    with big.admin() as client:
        before = cpu_seconds(pid)
        with client.stream("GET", "/api/resource/ToDo", params=ALL_FIELDS, timeout=300) as r:
            for _ in r.iter_bytes():
                pass
        full = cpu_seconds(pid) - before

        before = cpu_seconds(pid)
        with client.stream("GET", "/api/resource/ToDo", params=ALL_FIELDS, timeout=300) as r:
            assert r.status_code == 200
            body = r.iter_raw()  # kept: a discarded iterator would close the response at once
            assert next(body).startswith(b'{"data":[')
            assert open_streams(big, pid) == 1
        # Leaving the block closes the connection with most of the body unread.
        deadline = time.monotonic() + 30
        while open_streams(big, pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert open_streams(big, pid) == 0
        spent = cpu_seconds(pid) - before
        assert spent < full / 3, f"the worker spent {spent:.2f} s of CPU after the client left (full: {full:.2f} s)"
        assert client.get("/api/resource/ToDo").status_code == 200
