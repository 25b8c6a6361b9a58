"""The live stream of changes (``GET /api/v2/stream``, server-sent events) against a real
``ristretto serve``, on both databases.

With two workers: a client reconnecting with ``Last-Event-ID`` after 100 missed changes gets all
of them in order, then live ones; writes spread over both workers reach a stream exactly once,
in ``seq`` order; a second user sees only what they may read (``Feed Note`` only on their own
documents, its level-1 ``secret`` never in ``fields``). With one worker: an open stream does
not hold the worker, the number of streams is capped (503), and a stream ends after its
lifetime. Every wait is bounded (httpx timeouts and deadlines).
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.api.test_changes_feed import HIDDEN, NOTE, READER, make_doctypes
from tests.conftest import BACKENDS, child_pids, configure_site, make_site, run_cli, start_server, stop_server

READER_PASSWORD = "reader-pw-123"


class SSE:
    """An open event stream read line by line (each read bounded by httpx's read timeout)."""

    def __init__(self, client: httpx.Client, params: dict | None = None, headers: dict | None = None):
        self._cm = client.stream("GET", "/api/v2/stream", params=params, headers=headers,
                                 timeout=httpx.Timeout(20, read=20))
        self.response = self._cm.__enter__()
        self._lines = self.response.iter_lines()
        self.comments: list[str] = []

    def ready(self) -> "SSE":
        """Wait for the stream's first comment: from now on it sees every change."""
        assert self.response.status_code == 200, self.response.read()
        assert self.response.headers["content-type"].startswith("text/event-stream")
        self._next_event(deadline=time.monotonic() + 20, until_comment=True)
        return self

    def _next_event(self, deadline: float, until_comment: bool = False) -> dict | None:
        fields: dict[str, str] = {}
        while time.monotonic() < deadline:
            line = next(self._lines)
            if line.startswith(":"):
                self.comments.append(line)
                if until_comment:
                    return None
                continue
            if line == "":
                if "data" in fields:
                    return {"id": int(fields["id"]), "event": fields["event"], "data": json.loads(fields["data"])}
                continue
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value
        raise AssertionError("no event in time")

    def events(self, count: int, seconds: float = 30) -> list[dict]:
        deadline = time.monotonic() + seconds
        return [self._next_event(deadline) for _ in range(count)]

    def until(self, name: str, seconds: float = 30) -> list[dict]:
        """Events up to and including the first about document ``name``."""
        deadline = time.monotonic() + seconds
        out: list[dict] = []
        while not out or out[-1]["data"]["name"] != name:
            out.append(self._next_event(deadline))
        return out

    def close(self) -> None:
        self._cm.__exit__(None, None, None)

    def __enter__(self) -> "SSE":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def prepare(tmp: Path, backend: str, request, **config) -> Path:
    site_dir = make_site(tmp, backend, request)
    if config:
        configure_site(site_dir, **config)
    return site_dir


def reader_client(server) -> httpx.Client:
    keys = json.loads(run_cli("--site", str(server.site_dir), "generate-keys", READER).stdout.strip())
    return server.client(headers={"Authorization": f"token {keys['api_key']}:{keys['api_secret']}"})


@pytest.fixture(scope="module", params=BACKENDS)
def pair(request, tmp_path_factory):
    """Two workers, the Feed DocTypes and the reader."""
    site_dir = prepare(tmp_path_factory.mktemp(f"stream2-{request.param}"), request.param, request)
    server = start_server(site_dir, request.param, workers=2)
    try:
        with server.admin() as admin:
            make_doctypes(admin)
        server.cli("add-user", READER, "--password", READER_PASSWORD, "--roles", "Feed Reader")
        yield server
    finally:
        stop_server(server.proc)


def _names(events: list[dict]) -> list[str]:
    return [e["data"]["name"] for e in events]


def test_reconnecting_with_last_event_id_after_100_missed_changes_gets_them_all_then_live_ones(pair):
    with pair.admin() as admin:
        with SSE(admin, params={"doctype": "ToDo"}).ready() as sse:
            first = admin.post("/api/v2/document/ToDo", json={"description": "before"}).json()["data"]["name"]
            (event,) = sse.events(1)
            assert event["event"] == "change" and event["data"]["name"] == first
            assert event["id"] == event["data"]["seq"]
        missed = [admin.post("/api/v2/document/ToDo", json={"description": f"missed {i}"}).json()["data"]["name"]
                  for i in range(100)]
        with SSE(admin, params={"doctype": "ToDo"}, headers={"Last-Event-ID": str(event["id"])}) as sse:
            assert sse.response.status_code == 200
            replayed = sse.events(100)
            assert _names(replayed) == missed
            ids = [e["id"] for e in replayed]
            assert ids == sorted(set(ids)) and ids[0] > event["id"]
            live = [admin.post("/api/v2/document/ToDo", json={"description": f"live {i}"}).json()["data"]["name"]
                    for i in range(3)]
            after = sse.events(3)
            assert _names(after) == live and after[0]["id"] > ids[-1]
        # ``last_event_id`` in the query does the same (for clients that cannot set headers).
        gap = [admin.post("/api/v2/document/ToDo", json={"description": f"gap {i}"}).json()["data"]["name"]
               for i in range(2)]
        with SSE(admin, params={"doctype": "ToDo", "last_event_id": str(after[-1]["id"])}) as sse:
            assert _names(sse.events(2)) == gap
        # Without it the stream starts at the head: nothing old is sent.
        with SSE(admin, params={"doctype": "ToDo"}).ready() as sse:
            now = admin.post("/api/v2/document/ToDo", json={"description": "now"}).json()["data"]["name"]
            assert _names(sse.events(1)) == [now]


def _proc_workers(server) -> list[int]:
    return child_pids(server.proc.pid)


def _worker_of(server, client_port: int) -> int | None:
    """The worker process holding the server side of the connection from ``client_port``."""
    server_port = int(server.base_url.rsplit(":", 1)[1])
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        local, remote = parts[1], parts[2]
        if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == client_port:
            inode = parts[9]
    if inode is None:
        return None
    for pid in _proc_workers(server):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    return None


def test_writes_through_both_workers_reach_a_stream_once_each_in_seq_order(pair):
    if not Path("/proc/net/tcp").exists():
        pytest.skip("needs Linux's /proc to tell the workers apart")
    written: list[str] = []
    workers: set[int] = set()
    with pair.admin() as admin, SSE(admin, params={"doctype": "ToDo"}).ready() as sse:
        # Each write on a connection of its own: the kernel hands connections to either worker.
        for i in range(60):
            with pair.admin() as client:
                r = client.post("/api/v2/document/ToDo", json={"description": f"spread {i}"})
                assert r.status_code == 200, r.text
                port = r.extensions["network_stream"].get_extra_info("client_addr")[1]
                worker = _worker_of(pair, port)
            written.append(r.json()["data"]["name"])
            if worker is not None:
                workers.add(worker)
            if len(workers) == 2 and i >= 19:
                break
        assert len(workers) == 2, "the writes should have gone through both workers"
        marker = admin.post("/api/v2/document/ToDo", json={"description": "marker"}).json()["data"]["name"]
        seen = sse.until(marker)
    assert _names(seen) == written + [marker]
    ids = [e["id"] for e in seen]
    assert ids == sorted(set(ids))


def test_the_stream_shows_a_user_only_what_they_may_read(pair):
    with pair.admin() as admin, reader_client(pair) as reader:
        with SSE(reader).ready() as sse:
            assert admin.post(f"/api/v2/document/{NOTE}", json={"title": "s-admin", "secret": "x"}).status_code == 200
            assert reader.post(f"/api/v2/document/{NOTE}", json={"title": "s-own"}).status_code == 200
            assert admin.patch(f"/api/v2/document/{NOTE}/s-own", json={"secret": "top"}).status_code == 200
            assert admin.post(f"/api/v2/document/{HIDDEN}", json={"title": "s-hidden"}).status_code == 200
            assert admin.post("/api/v2/document/ToDo", json={"description": "not the reader's"}).status_code == 200
            assert admin.delete(f"/api/v2/document/{NOTE}/s-admin").status_code == 202
            assert reader.patch(f"/api/v2/document/{NOTE}/s-own", json={"body": "b"}).status_code == 200
            assert reader.post(f"/api/v2/document/{NOTE}", json={"title": "s-end"}).status_code == 200
            seen = sse.until("s-end")
        assert [(e["data"]["doctype"], e["data"]["name"], e["data"]["action"], e["data"]["fields"]) for e in seen] == [
            (NOTE, "s-own", "insert", None), (NOTE, "s-own", "update", []), (NOTE, "s-admin", "delete", None),
            (NOTE, "s-own", "update", ["body"]), (NOTE, "s-end", "insert", None)]
        # The reader may not ask for a DocType they cannot read.
        r = reader.get("/api/v2/stream", params={"doctype": HIDDEN})
        assert r.status_code == 403, r.text
        r = reader.get("/api/v2/stream", headers={"Last-Event-ID": "x1"})
        assert r.status_code == 417 and "Last-Event-ID" in r.text


@pytest.fixture(scope="module", params=BACKENDS)
def single(request, tmp_path_factory):
    """One worker, at most two streams, each open four seconds."""
    site_dir = prepare(tmp_path_factory.mktemp(f"stream1-{request.param}"), request.param, request,
                       change_stream_max_open=2, change_stream_max_seconds=4)
    server = start_server(site_dir, request.param, workers=1)
    yield server
    stop_server(server.proc)


def test_open_streams_do_not_hold_the_worker(single):
    with single.admin() as admin, SSE(admin).ready() as one, SSE(admin).ready() as two:
        slowest = 0.0
        for i in range(20):
            started = time.monotonic()
            r = admin.get("/api/v2/document/ToDo", params={"limit": "5"})
            slowest = max(slowest, time.monotonic() - started)
            assert r.status_code == 200
        assert slowest < 1.0, slowest
        started = time.monotonic()
        name = admin.post("/api/v2/document/ToDo", json={"description": "wake"}).json()["data"]["name"]
        assert _names(one.until(name, 5))[-1] == name and _names(two.until(name, 5))[-1] == name
        # Woken by the commit itself (the poll is the fallback for other processes).
        assert time.monotonic() - started < 1.0


def test_streams_beyond_the_cap_are_refused_and_a_closed_one_frees_its_place(single):
    with single.admin() as admin:
        first = SSE(admin).ready()
        with SSE(admin).ready():
            r = admin.get("/api/v2/stream")
            assert r.status_code == 503, r.text
            assert r.json()["errors"][0]["type"] == "TooManyStreamsError" and r.headers["retry-after"]
            first.close()
            # The server notices the client went away; a new stream is then accepted.
            deadline = time.monotonic() + 10
            while True:
                with SSE(admin) as again:
                    if again.response.status_code == 200:
                        break
                assert time.monotonic() < deadline, "the closed stream's place was never freed"
                time.sleep(0.2)


def test_a_stream_ends_after_its_lifetime(single):
    with single.admin() as admin:
        started = time.monotonic()
        with SSE(admin).ready() as sse:
            rest = list(sse._lines)  # ends when the server ends the response
        elapsed = time.monotonic() - started
        assert 3.0 < elapsed < 15, elapsed
        assert all(line == "" or line.startswith(":") for line in rest)


def test_stopping_the_server_ends_open_streams(tmp_path, request):
    """A worker asked to stop ends its live streams (a clean end of the response) and exits,
    instead of waiting for the streams' lifetime."""
    import signal
    # (Lifetime and heartbeats bound the wait should the stream not end.)
    site_dir = prepare(tmp_path, "sqlite", request, change_stream_max_seconds=30)
    server = start_server(site_dir, "sqlite", workers=1)
    try:
        with server.admin() as admin, SSE(admin).ready() as sse:
            os.killpg(server.proc.pid, signal.SIGTERM)
            started = time.monotonic()
            for line in sse._lines:  # until the response ends
                assert line == "" or line.startswith(":")
                assert time.monotonic() - started < 10, "the stream outlived the server's shutdown"
        assert server.proc.wait(10) in (0, -signal.SIGTERM)  # exited (uvicorn re-raises the signal)
    finally:
        stop_server(server.proc)


def _feed_head(client: httpx.Client) -> int:
    since = 0
    while True:
        page = client.get("/api/v2/changes", params={"since": since, "limit": 1000}).json()
        since = int(page["next_cursor"])
        if not page["has_next_page"]:
            return since


def test_the_feed_read_during_concurrent_writes_of_both_workers_misses_nothing(pair):
    """Writers on both workers commit concurrently while a client pages the feed with a small
    limit: every change arrives exactly once, in seq order (on PostgreSQL, transactions commit
    out of the order they wrote in; the feed must never move past one still to come)."""
    marker = f"feed-{time.time_ns()}"
    with pair.admin() as admin:
        since = _feed_head(admin)
    written: list[str] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        for i in range(12):  # bounded
            with pair.admin() as client:  # a connection each: the kernel spreads them over the workers
                r = client.post("/api/v2/document/ToDo", json={"description": f"{marker} {n} {i}"})
                assert r.status_code == 200, r.text
                with lock:
                    written.append(r.json()["data"]["name"])

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    seen: list[tuple[int, str]] = []
    deadline = time.monotonic() + 60
    with pair.admin() as reader:
        while time.monotonic() < deadline:
            done = not any(t.is_alive() for t in threads)
            page = reader.get("/api/v2/changes", params={"since": since, "limit": 7, "doctype": "ToDo",
                                                         "include_docs": 1}).json()
            for change in page["data"]:
                if marker in ((change.get("doc") or {}).get("description") or ""):
                    seen.append((change["seq"], change["name"]))
            since = int(page["next_cursor"])
            if done and not page["has_next_page"] and len(seen) >= len(written):
                break
    for t in threads:
        t.join(10)
    assert len(written) == 72
    assert sorted(name for _, name in seen) == sorted(written)  # each once, none missed
    assert [seq for seq, _ in seen] == sorted(seq for seq, _ in seen)
