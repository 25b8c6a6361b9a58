"""Delta sync (``GET /api/v2/changes``) on both databases, in process.

``Feed Note`` is readable by ``Feed Reader`` only on their own documents (``if_owner``) and its
``secret`` field only at permlevel 1 (not theirs); ``Feed Hidden`` is not readable by them at
all. The reader must get, in order and page by page, exactly the changes of documents they may
read now, the tombstones of every deleted Feed Note, nothing of Feed Hidden, and ``fields``
without ``secret``; a page may come back short after filtering but its cursor always advances.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time

import httpx

import pytest

from tests.conftest import BACKENDS
from tests.inprocess import InProcess, open_site, token_for

READER = "feed-reader@example.com"
NOTE, HIDDEN = "Feed Note", "Feed Hidden"


def make_doctypes(admin) -> None:
    assert admin.post("/api/resource/Role", json={"role_name": "Feed Reader"}).status_code == 200
    for body in (
        {"name": NOTE, "autoname": "field:title", "permissions": [
            {"role": "Feed Reader", "read": 1, "write": 1, "create": 1, "delete": 1, "if_owner": 1}],
         "fields": [{"fieldname": "title", "fieldtype": "Data", "label": "Title"},
                    {"fieldname": "body", "fieldtype": "Data", "label": "Body"},
                    {"fieldname": "secret", "fieldtype": "Data", "label": "Secret", "permlevel": 1}]},
        {"name": HIDDEN, "autoname": "field:title", "permissions": [],
         "fields": [{"fieldname": "title", "fieldtype": "Data", "label": "Title"}]},
    ):
        r = admin.post("/api/resource/DocType", json={"module": "Custom", "custom": 1, **body})
        assert r.status_code == 200, r.text


@pytest.fixture(scope="module", params=BACKENDS)
def feed(request, tmp_path_factory):
    from ristretto.api.app import App
    from ristretto.site.install import add_user
    site = open_site(tmp_path_factory.mktemp(f"feed-{request.param}"), request.param, request)
    app = App(site)
    admin = InProcess(app, headers=token_for(site, "Administrator"))
    make_doctypes(admin)
    add_user(site, READER, None, ["Feed Reader"])
    reader = InProcess(app, headers=token_for(site, READER))
    yield site, admin, reader
    admin.close()
    reader.close()
    site.close()


def head(site) -> int:
    from ristretto.model import changelog
    with site.db.connect() as conn:
        changelog.sequence(conn)
        return changelog.head(conn)


def pages(client, since: int, limit: int, **params) -> tuple[list[dict], list[dict]]:
    """Every change after ``since`` through pages of ``limit``; (changes, page bodies)."""
    out, bodies, cursor = [], [], since
    for _ in range(500):  # bounded: a cursor that did not advance would loop here
        r = client.get("/api/v2/changes", params={"since": str(cursor), "limit": str(limit), **params})
        assert r.status_code == 200, r.text
        body = r.json()
        bodies.append(body)
        assert len(body["data"]) <= limit
        out.extend(body["data"])
        assert int(body["next_cursor"]) >= cursor
        if not body["has_next_page"]:
            return out, bodies
        assert int(body["next_cursor"]) > cursor, "a page with more to come must move the cursor"
        cursor = int(body["next_cursor"])
    raise AssertionError("paging did not end")


def test_delta_sync_after_deletes_reports_tombstones_and_pages_correctly(feed):
    site, admin, reader = feed
    start = head(site)
    # Admin's notes (unreadable by the reader: if_owner) come between the reader's own.
    for i in range(4):
        assert admin.post(f"/api/v2/document/{NOTE}", json={"title": f"a{i}", "secret": "s"}).status_code == 200
        assert reader.post(f"/api/v2/document/{NOTE}", json={"title": f"r{i}"}).status_code == 200
        assert admin.post(f"/api/v2/document/{HIDDEN}", json={"title": f"h{i}"}).status_code == 200
    assert reader.patch(f"/api/v2/document/{NOTE}/r1", json={"body": "edited"}).status_code == 200
    assert admin.patch(f"/api/v2/document/{NOTE}/r1", json={"secret": "top"}).status_code == 200
    assert admin.patch(f"/api/v2/document/{NOTE}/a0", json={"body": "x"}).status_code == 200
    for path in (f"{NOTE}/r2", f"{NOTE}/a1", f"{HIDDEN}/h0"):
        assert admin.delete(f"/api/v2/document/{path}").status_code == 202
    # r3 stays, then is deleted: its insert is no longer readable, its tombstone is.
    assert reader.delete(f"/api/v2/document/{NOTE}/r3").status_code == 202

    everything, _ = pages(admin, start, 1000)
    got = [(c["doctype"], c["name"], c["action"]) for c in everything]
    assert (NOTE, "a1", "insert") not in got  # deleted since: not readable now, even by Administrator
    assert got[-4:] == [(NOTE, "r2", "delete"), (NOTE, "a1", "delete"), (HIDDEN, "h0", "delete"),
                        (NOTE, "r3", "delete")]
    assert [c["seq"] for c in everything] == sorted({c["seq"] for c in everything})

    expected = [(NOTE, "r0", "insert"), (NOTE, "r1", "insert"), (NOTE, "r1", "update"), (NOTE, "r1", "update"),
                (NOTE, "r2", "delete"), (NOTE, "a1", "delete"), (NOTE, "r3", "delete")]
    whole, _ = pages(reader, start, 1000)
    assert [(c["doctype"], c["name"], c["action"]) for c in whole] == expected
    for limit in (1, 2, 3):
        paged, bodies = pages(reader, start, limit)
        assert paged == whole, limit
        # Filtered rows between readable ones: some pages come back short, yet paging ends.
        assert len(bodies) >= len(expected) // limit
    updates = [c for c in whole if c["action"] == "update"]
    assert [u["fields"] for u in updates] == [["body"], []]  # ``secret`` is above the reader's level
    admin_updates = [c for c in everything if c["name"] == "r1" and c["action"] == "update"]
    assert [u["fields"] for u in admin_updates] == [["body"], ["secret"]]
    tomb = whole[-1]
    assert tomb["user"] == READER and tomb["fields"] is None


def test_doctype_filter_and_include_docs(feed):
    site, admin, reader = feed
    start = head(site)
    assert reader.post(f"/api/v2/document/{NOTE}", json={"title": "inc", "secret": "nope"}).status_code == 200
    assert admin.patch(f"/api/v2/document/{NOTE}/inc", json={"secret": "hidden"}).status_code == 200
    assert admin.post(f"/api/v2/document/{HIDDEN}", json={"title": "inc-h"}).status_code == 200
    assert admin.post("/api/v2/document/ToDo", json={"description": "feed todo"}).status_code == 200
    assert reader.delete(f"/api/v2/document/{NOTE}/inc").status_code == 202
    assert reader.post(f"/api/v2/document/{NOTE}", json={"title": "inc2"}).status_code == 200

    rows, _ = pages(reader, start, 10, doctype=NOTE, include_docs="1")
    assert [(c["name"], c["action"]) for c in rows] == [("inc", "delete"), ("inc2", "insert")]
    assert rows[0]["doc"] is None
    assert rows[1]["doc"]["title"] == "inc2" and "secret" not in rows[1]["doc"]
    admin_rows, _ = pages(admin, start, 10, include_docs="1")
    by_name = {c["name"]: c for c in admin_rows}
    assert by_name["inc2"]["doc"]["secret"] is None and "secret" in by_name["inc2"]["doc"]
    # Several DocTypes: repeated in the query string, or a JSON list.
    repeated = admin.get(f"/api/v2/changes?since={start}&doctype={NOTE}&doctype=ToDo").json()["data"]
    listed, _ = pages(admin, start, 100, doctype=json.dumps([NOTE, "ToDo"]))
    assert repeated == listed
    assert {c["doctype"] for c in listed} == {NOTE, "ToDo"}


BAD_REQUESTS = {
    "cursor not a number": ({"since": "abc"}, 417, "cursor"),
    "negative cursor": ({"since": "-1"}, 417, "cursor"),
    "cursor too long": ({"since": "9" * 40}, 417, "cursor"),
    "limit zero": ({"limit": "0"}, 417, "limit"),
    "limit above the cap": ({"limit": "1001"}, 417, "limit"),
    "limit not a number": ({"limit": "ten"}, 417, "limit"),
    # (Who may not read DocType gets the masked 403 instead, as on every route.)
    "unknown DocType": ({"doctype": "No Such Thing"}, 404, "No Such Thing"),
    "DocType not readable": ({"doctype": HIDDEN}, 403, HIDDEN),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_requests_are_clear_4xx(feed, case):
    site, admin, reader = feed
    params, status, word = BAD_REQUESTS[case]
    r = (admin if status == 404 else reader).get("/api/v2/changes", params=params)
    assert r.status_code == status, r.text
    assert word in r.text


def test_guests_may_not_hold_a_stream(feed):
    site, admin, reader = feed
    admin.app.changes.max_seconds = 2  # a stream opened by mistake ends soon
    try:
        with InProcess(admin.app) as guest:
            r = guest.get("/api/v2/stream")
            assert r.status_code == 403 and "Log in" in r.text, r.text
    finally:
        admin.app.changes.max_seconds = 3600


def test_a_cursor_older_than_the_retention_answers_resync(feed):
    from ristretto.model import changelog
    site, admin, reader = feed
    assert admin.post("/api/v2/document/ToDo", json={"description": "before pruning"}).status_code == 200
    newest = head(site)
    with site.db.connect() as conn:
        assert changelog.prune(conn, 1, now=dt.datetime.now() + dt.timedelta(days=2)) > 0
        horizon = changelog.horizon(conn)
    assert horizon == newest - 1
    for client in (admin, reader):
        r = client.get("/api/v2/changes", params={"since": "0"})
        assert r.status_code == 410, r.text
        error = r.json()["errors"][0]
        assert error["type"] == "ChangeLogExpiredError" and "resync" in error["message"]
    r = reader.get("/api/v2/changes", params={"since": str(horizon - 1)})
    assert r.status_code == 410
    r = admin.get("/api/v2/changes", params={"since": str(horizon)})
    assert r.status_code == 200 and [c["seq"] for c in r.json()["data"]] == [newest]
    assert admin.get("/api/v2/changes", params={"since": str(newest)}).json()["data"] == []
    # A cursor this log never handed out (a restored database, another site): resync too.
    r = admin.get("/api/v2/changes", params={"since": str(newest + 1000)})
    assert r.status_code == 410 and "ahead" in r.json()["errors"][0]["message"], r.text
    # The stream's replay likewise (refused before it starts; a stream accepted by mistake would
    # end after two seconds).
    reader.app.changes.max_seconds = 2
    try:
        for params, headers in (({}, {"Last-Event-ID": "0"}), ({"last_event_id": str(horizon - 1)}, {})):
            r = reader.get("/api/v2/stream", params=params, headers=headers)
            assert r.status_code == 410 and r.json()["errors"][0]["type"] == "ChangeLogExpiredError", r.text
    finally:
        reader.app.changes.max_seconds = 3600


def test_a_page_of_filtered_rows_ends_early_and_moves_on(feed):
    """Rows the caller may not read are read but not shown: a page stops after reading
    ``max_scan`` of them, empty, with a cursor past them and ``has_next_page``."""
    from ristretto.model import changefeed
    site, admin, reader = feed
    start = head(site)
    for i in range(5):
        assert admin.post(f"/api/v2/document/{HIDDEN}", json={"title": f"scan{i}"}).status_code == 200
    assert reader.post(f"/api/v2/document/{NOTE}", json={"title": "after-scan"}).status_code == 200
    with site.db.connect() as conn:
        ctx = site.context(conn, user=READER, roles=frozenset({"Feed Reader", "All", "Guest"}),
                           perms=reader.app.policy)
        first = changefeed.page(ctx, start, 10, max_scan=3)
        assert first.data == [] and first.has_next_page and first.next_cursor > start
        second = changefeed.page(ctx, first.next_cursor, 10, max_scan=3)
        assert [c["name"] for c in second.data] == ["after-scan"] and not second.has_next_page


class RawStream:
    """``/api/v2/stream`` driven through the App's ASGI interface on the caller's loop (httpx's
    ASGI transport would wait for the whole response): the messages sent, and a disconnect."""

    def __init__(self, app, token: str, query: bytes = b"doctype=ToDo"):
        self.sent: asyncio.Queue = asyncio.Queue()
        self.gone = asyncio.Event()
        self._requested = False
        scope = {"type": "http", "method": "GET", "path": "/api/v2/stream", "query_string": query,
                 "headers": [(b"authorization", token.encode())], "client": ("127.0.0.1", 40001),
                 "scheme": "http", "http_version": "1.1"}
        self.task = asyncio.ensure_future(app(scope, self._receive, self.sent.put))

    async def _receive(self):
        if not self._requested:
            self._requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def next(self, seconds: float) -> dict:
        return await asyncio.wait_for(self.sent.get(), seconds)

    async def started(self) -> None:
        start = await self.next(5)
        assert start["type"] == "http.response.start" and start["status"] == 200
        assert b"retry:" in (await self.next(5))["body"]

    async def close(self) -> None:
        self.gone.set()
        await asyncio.wait_for(asyncio.gather(self.task, return_exceptions=True), 5)


def run(coro):
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def test_a_commit_wakes_the_streams_of_its_worker_and_a_disconnect_ends_them(feed, monkeypatch):
    """In process, with the poll for other workers' changes slowed to a minute: a write through the
    same App reaches an open stream at once (the commit's own wake-up), a heartbeat follows when
    nothing happens, and the stream ends as soon as its client disconnects."""
    from ristretto.api import events
    site, admin, reader = feed
    monkeypatch.setattr(events, "POLL_SECONDS", 60.0)
    monkeypatch.setattr(events, "HEARTBEAT_SECONDS", 0.3)
    app, token = admin.app, admin.headers["Authorization"]

    async def scenario() -> tuple[bytes, float]:
        stream = RawStream(app, token)
        try:
            await stream.started()
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1",
                                         headers={"Authorization": token}) as client:
                r = await client.post("/api/v2/document/ToDo", json={"description": "wake me"})
                assert r.status_code == 200, r.text
                written = time.monotonic()
                event = await stream.next(2)
                latency = time.monotonic() - written
            assert r.json()["data"]["name"].encode() in event["body"]
            assert (await stream.next(2))["body"] == b": heartbeat\n\n"
            stream.gone.set()
            await asyncio.wait_for(stream.task, 5)  # the disconnect ends the stream
            return event["body"], latency
        finally:
            await stream.close()

    body, latency = run(scenario())
    assert body.startswith(b"id: ") and b"\nevent: change\ndata: {" in body
    assert latency < 1.0


def test_a_stream_never_sends_a_change_before_its_commit(feed, monkeypatch):
    """A write transaction still open on the worker's connection (a handler thread in the middle
    of a request, with ``threaded_requests``) is invisible to the stream; its change is sent
    only if and when it commits."""
    from ristretto.api import events
    from ristretto.model import document
    site, admin, reader = feed
    monkeypatch.setattr(events, "POLL_SECONDS", 0.05)
    app, token = admin.app, admin.headers["Authorization"]

    async def scenario() -> list[bytes]:
        stream = RawStream(app, token)
        try:
            await stream.started()
            bodies = []
            for outcome in ("rollback", "commit"):
                with site.db.connect() as conn:
                    ctx = site.context(conn)
                    conn.begin()
                    name = document.insert(ctx, "ToDo", {"description": f"pending {outcome}"}).name
                    app.changes.notify()
                    with pytest.raises(asyncio.TimeoutError):
                        await stream.next(0.5)  # several polls and a wake-up: nothing sent
                    getattr(conn, outcome)()
                if outcome == "commit":
                    bodies.append((await stream.next(2))["body"])
                    assert name.encode() in bodies[-1]
                else:
                    with pytest.raises(asyncio.TimeoutError):
                        await stream.next(0.5)
            return bodies
        finally:
            await stream.close()

    assert len(run(scenario())) == 1
