"""Acknowledged writes survive kill -9 of the server (both backends)."""

from __future__ import annotations

import os
import signal
import threading
import time

import httpx

from tests.conftest import start_server, stop_server


def test_acknowledged_creates_survive_kill_9(site_dir, backend):
    server = start_server(site_dir, backend, workers=2)
    auth = {"Authorization": f"token {server.api_key}:{server.api_secret}"}
    acknowledged: list[str] = []
    stop = threading.Event()

    def writer(n: int) -> None:
        with httpx.Client(base_url=server.base_url, headers=auth, timeout=5) as c:
            for i in range(400):  # bounded: at most 400 requests per writer
                if stop.is_set():
                    return
                try:
                    r = c.post("/api/resource/ToDo", json={"description": f"durable {n}-{i}"})
                except httpx.HTTPError:
                    return  # the server died mid-request: that write was never acknowledged
                if r.status_code == 200:
                    acknowledged.append(r.json()["data"]["name"])

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    deadline = time.time() + 10
    while len(acknowledged) < 150 and time.time() < deadline:
        time.sleep(0.02)
    os.killpg(server.proc.pid, signal.SIGKILL)  # no shutdown, no flush: the process group dies now
    server.proc.wait(10)
    stop.set()
    for t in threads:
        t.join(10)
    assert len(acknowledged) >= 50

    restarted = start_server(site_dir, backend)
    try:
        with httpx.Client(base_url=restarted.base_url, timeout=30,
                          headers={"Authorization": f"token {restarted.api_key}:{restarted.api_secret}"}) as c:
            names = {row["name"] for row in c.get("/api/resource/ToDo",
                                                  params={"limit_page_length": 0}).json()["data"]}
        missing = [n for n in acknowledged if n not in names]
        assert missing == []
        if backend == "sqlite":
            import sqlite3
            with sqlite3.connect(site_dir / "site.db") as db:
                assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        stop_server(restarted.proc)


def test_concurrent_creates_commit_exactly_the_valid_ones(site_dir, backend):
    """Creates sent at once to two workers, a third failing a value check and a third missing a
    mandatory field: exactly the accepted ones are stored, each once in the change log, and
    nothing of the refused ones (issue 13: a failing write undoes only its own work, with
    SQLite's group commit and on PostgreSQL alike)."""
    import asyncio

    server = start_server(site_dir, backend, workers=2)
    auth = {"Authorization": f"token {server.api_key}:{server.api_secret}"}

    def body(i: int) -> dict:
        if i % 3 == 1:
            return {"description": f"refused {i}", "status": "Nope"}   # not one of the Select's options
        if i % 3 == 2:
            return {"status": "Open"}                                 # description is mandatory
        return {"description": f"accepted {i}"}

    async def send_all() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=24)
        async with httpx.AsyncClient(base_url=server.base_url, headers=auth, timeout=30, limits=limits) as c:
            return await asyncio.gather(*(c.post("/api/resource/ToDo", json=body(i)) for i in range(90)))

    try:
        with httpx.Client(base_url=server.base_url, headers=auth, timeout=30) as c:
            since = c.get("/api/v2/changes", params={"since": "0", "limit": "1000"}).json()["next_cursor"]
        answers = asyncio.run(send_all())
        assert [r.status_code for r in answers] == [200 if i % 3 == 0 else 417 for i in range(90)], \
            [r.text for r in answers if r.status_code not in (200, 417)][:3]
        accepted = {r.json()["data"]["name"] for r in answers if r.status_code == 200}
        assert len(accepted) == 30
        with httpx.Client(base_url=server.base_url, headers=auth, timeout=30) as c:
            rows = c.get("/api/resource/ToDo", params={"fields": '["name","description"]',
                                                       "limit_page_length": 0}).json()["data"]
            changes = c.get("/api/v2/changes", params={"since": str(since), "limit": "1000",
                                                       "doctype": "ToDo"}).json()["data"]
        assert {row["name"] for row in rows} == accepted
        assert all(row["description"].startswith("accepted ") for row in rows)
        logged = [c["name"] for c in changes]
        assert sorted(logged) == sorted(accepted)  # each accepted create logged once, nothing else
    finally:
        stop_server(server.proc)
