"""A flood of wrong-password logins must not stall other requests (real server, both databases).

A password check is ~0.1-0.5 s of Argon2 CPU. It runs in a thread pool, outside any
transaction, so while logins are being checked the event loop keeps serving other requests
and writers do not wait for the database write lock. Measured against one Argon2 check
made here, under the same machine load: a GET or a write that had to wait behind the
checks would take at least about one check; here the typical one takes a small fraction.
"""

from __future__ import annotations

import statistics
import threading
import time

import httpx
from argon2 import PasswordHasher
from argon2.exceptions import VerificationError

FLOODERS = 6
LOGINS_EACH = 2


def one_check_seconds() -> float:
    """The median time of one Argon2 verification with the server's parameters, measured now."""
    hasher = PasswordHasher()
    stored = hasher.hash("flood-right-password")
    times = []
    for _ in range(3):
        start = time.perf_counter()
        try:
            hasher.verify(stored, "flood-wrong-password")
        except VerificationError:
            pass
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def timed(fn) -> float:
    start = time.perf_counter()
    r = fn()
    elapsed = time.perf_counter() - start
    assert r.status_code == 200, r.text
    return elapsed


def test_login_flood_does_not_stall_reads_or_writes(server, admin):
    statuses: list[int] = []

    def flood(i: int) -> None:
        # Each flooder its own address and unknown users: nothing is throttled, every login is checked.
        transport = httpx.HTTPTransport(local_address=f"127.0.4.{i + 1}")
        with httpx.Client(base_url=server.base_url, timeout=120, transport=transport) as c:
            for k in range(LOGINS_EACH):
                r = c.post("/api/method/login", json={"usr": f"flood{i}-{k}-{server.backend}@example.com",
                                                      "pwd": "wrong-password"})
                statuses.append(r.status_code)

    writes: list[float] = []
    done = threading.Event()

    def write() -> None:
        with server.admin() as w:
            while not done.is_set():
                writes.append(timed(lambda: w.post("/api/resource/ToDo", json={"description": "during flood"})))

    for _ in range(3):  # warm up both paths
        timed(lambda: admin.get("/api/resource/ToDo", params={"limit_page_length": 1}))
    check = one_check_seconds()
    threads = [threading.Thread(target=flood, args=(i,)) for i in range(FLOODERS)]
    writer = threading.Thread(target=write)
    start = time.perf_counter()
    for t in threads:
        t.start()
    writer.start()
    reads: list[float] = []
    try:
        while any(t.is_alive() for t in threads) and time.perf_counter() - start < 120:
            reads.append(timed(lambda: admin.get("/api/resource/ToDo", params={"limit_page_length": 1})))
    finally:
        for t in threads:
            t.join(120)
        done.set()
        writer.join(120)
    flood_time = time.perf_counter() - start

    assert statuses == [401] * (FLOODERS * LOGINS_EACH), statuses  # every login was checked
    summary = (f"one check {check * 1000:.0f} ms; flood {flood_time:.2f} s; "
               f"reads n={len(reads)} median {statistics.median(reads) * 1000:.1f} ms "
               f"mean {statistics.mean(reads) * 1000:.1f} ms; writes n={len(writes)} "
               f"median {statistics.median(writes) * 1000:.1f} ms max {max(writes or [0]) * 1000:.1f} ms")
    print(summary)
    # Requests queued behind the checks wait about a whole check or more, often several.
    assert statistics.median(reads) < check / 2 and statistics.mean(reads) < check / 4, summary
    assert writes and statistics.median(writes) < check / 2, summary
    assert max(writes) < flood_time / 2, summary
