"""Group commit through the pipeline (SQLite, in process): the write requests a worker handles in
one turn of its event loop share a commit; no answer is sent before the commit that makes what
it says true; one request's failure leaves the others' work alone.

Requests go straight to the ASGI callable, many at once on one event loop, as in one server
worker; a separate SQLite connection (what another worker sees) checks what is committed at the
moment each answer is sent.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3

import pytest

from ristretto.api.app import App
from ristretto.site import Site
from ristretto.site.install import add_user, generate_keys, new_site
from tests.conftest import ADMIN_PASSWORD, configure_site


def _scope(method: str, path: str, auth: bytes, body: bytes = b"") -> dict:
    path, _, query = path.partition("?")
    headers = [(b"host", b"127.0.0.1"), (b"authorization", auth)]
    if body:
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    return {"type": "http", "method": method, "path": path, "raw_path": path.encode(), "query_string": query.encode(),
            "headers": headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8000), "scheme": "http",
            "http_version": "1.1", "root_path": ""}


class World:
    def __init__(self, tmp_path, **config):
        site_dir = tmp_path / "site"
        site, _ = new_site(site_dir, None, ADMIN_PASSWORD)
        add_user(site, "writer@example.com", "writer-pw-123", ["System Manager"])
        key, secret = generate_keys(site, "writer@example.com")
        site.close()
        if config:
            configure_site(site_dir, **config)
        self.app = App(Site(site_dir))
        self.auth = f"token {key}:{secret}".encode()
        self.db_path = self.app.site.db.path
        self.commits = 0
        self.loop = asyncio.new_event_loop()

    def count_commits(self) -> None:
        def trace(statement: str) -> None:
            if statement.strip().upper() == "COMMIT":
                self.commits += 1
        self.app.site.db.request_connection()._conn.set_trace_callback(trace)

    def committed_names(self, doctype: str = "ToDo") -> set[str]:
        other = sqlite3.connect(self.db_path, isolation_level=None)
        try:
            return {n for (n,) in other.execute(f'SELECT name FROM "tab{doctype}"')}
        finally:
            other.close()

    async def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict, set[str]]:
        """Status, JSON body and the committed ToDo names seen by another connection at the moment
        the answer's first byte was sent."""
        raw = json.dumps(body).encode() if body is not None else b""
        sent: dict = {}

        async def receive():
            return {"type": "http.request", "body": raw, "more_body": False}

        async def send(message):
            if message["type"] == "http.response.start":
                sent["status"] = message["status"]
                sent["committed"] = self.committed_names()
            elif message["type"] == "http.response.body":
                sent["body"] = sent.get("body", b"") + message.get("body", b"")

        await self.app(_scope(method, path, self.auth, raw), receive, send)
        return sent["status"], json.loads(sent["body"] or b"null"), sent["committed"]

    def run(self, *calls):
        async def together():
            return await asyncio.gather(*calls)
        return self.loop.run_until_complete(together())

    def close(self):
        self.loop.close()
        self.app.site.close()


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path)
    yield w
    w.close()


def test_concurrent_creates_share_commits_and_are_answered_only_once_committed(world):
    world.run(world.call("GET", "/api/method/ping"))  # warm up: metadata loaded, nothing open
    world.count_commits()
    results = world.run(*(world.call("POST", "/api/resource/ToDo", {"description": f"grouped {i}"})
                          for i in range(24)))
    names = set()
    for status, body, committed_then in results:
        assert status == 200, body
        name = body["data"]["name"]
        names.add(name)
        assert name in committed_then  # durable before its answer started
    assert len(names) == 24 and names <= world.committed_names()
    assert 1 <= world.commits < 24, world.commits  # shared commits, not one per request


def test_a_failing_request_rolls_back_only_its_own_work(world):
    world.run(world.call("GET", "/api/method/ping"))
    calls = []
    for i in range(30):
        if i % 3 == 1:
            calls.append(world.call("POST", "/api/resource/ToDo", {"description": f"bad {i}", "status": "Nope"}))
        elif i % 3 == 2:
            calls.append(world.call("POST", "/api/resource/ToDo", {"status": "Open"}))  # description is mandatory
        else:
            calls.append(world.call("POST", "/api/resource/ToDo", {"description": f"good {i}"}))
    results = world.run(*calls)
    good = {body["data"]["name"] for status, body, _ in results if status == 200}
    assert [status for status, _, _ in results] == [200 if i % 3 == 0 else 417 for i in range(30)]
    assert world.committed_names() == good and len(good) == 10
    other = sqlite3.connect(world.db_path)
    try:
        logged = {n for (n,) in other.execute("SELECT name FROM __changes WHERE doctype = 'ToDo'")}
    finally:
        other.close()
    assert logged == good  # the change log holds exactly the committed writes


def test_a_read_answered_while_a_group_is_open_waits_for_its_commit(world):
    world.run(world.call("GET", "/api/method/ping"))
    created, listed = world.run(world.call("POST", "/api/resource/ToDo", {"description": "seen by a read"}),
                                world.call("GET", "/api/resource/ToDo"))
    assert created[0] == 200 and listed[0] == 200
    name = created[1]["data"]["name"]
    # The read ran after the create on the same loop turn, inside the open group: it lists the
    # new row, so it may be sent only once that row is committed.
    assert {"name": name} in listed[1]["data"]
    assert name in listed[2]


def test_updates_of_one_document_in_one_group_apply_in_order(world):
    status, body, _ = world.run(world.call("POST", "/api/resource/ToDo", {"description": "counted"}))[0]
    name = body["data"]["name"]
    results = world.run(*(world.call("PUT", f"/api/resource/ToDo/{name}", {"description": f"v{i}"})
                          for i in range(10)))
    assert all(status == 200 for status, _, _ in results)
    other = sqlite3.connect(world.db_path)
    try:
        assert other.execute('SELECT description FROM "tabToDo" WHERE name = ?', (name,)).fetchone()[0] == "v9"
    finally:
        other.close()


def test_a_count_read_inside_an_open_group_is_not_kept(world, monkeypatch):
    """The count cache (ristretto.model.countcache) must not keep a count that saw writes of the
    group not yet committed: a group that is then lost would leave it wrong."""
    from ristretto.model import countcache
    monkeypatch.setattr(countcache, "MIN_ROWS", 0)  # it keeps only large tables' counts otherwise
    count_url = "/api/method/frappe.client.get_count?doctype=ToDo"
    world.run(world.call("GET", "/api/method/ping"))
    meta = world.app.site.registry.get("ToDo")
    created, counted = world.run(world.call("POST", "/api/resource/ToDo", {"description": "uncommitted yet"}),
                                 world.call("GET", count_url))
    assert created[0] == 200 and counted[0] == 200 and counted[1]["message"] == 1
    assert "count_cache" not in meta.sql_cache
    alone = world.run(world.call("GET", count_url))[0]
    assert alone[1]["message"] == 1 and meta.sql_cache["count_cache"][1] == 1


def test_group_commit_can_be_turned_off(tmp_path):
    w = World(tmp_path, group_commit=False)
    try:
        w.run(w.call("GET", "/api/method/ping"))
        w.count_commits()
        results = w.run(*(w.call("POST", "/api/resource/ToDo", {"description": f"alone {i}"}) for i in range(8)))
        assert all(status == 200 for status, _, _ in results)
        assert w.commits == 8
    finally:
        w.close()


def _slow_write_method():
    """A whitelisted method whose one write statement runs far past a short query_timeout; SQLite
    then rolls back the whole shared transaction (an interrupted INSERT does), not only its own."""
    import types

    from ristretto.whitelist import whitelist

    @whitelist("tests.slow_write", methods=["POST"])
    def slow_write(call):
        call.ctx.db.execute(
            'INSERT INTO "tabToDo" (name, description) SELECT \'slow-\' || i, \'slow\' FROM '
            '(WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 50000000) '
            'SELECT i FROM c) WHERE i = -1')
        return "done"

    module = types.ModuleType("slow_write_methods")
    module.slow_write = slow_write
    return module


def test_requests_of_a_group_another_request_lost_run_again(world, caplog):
    """A write stopped by query_timeout ends the whole shared transaction: the requests that had
    joined the group are not answered 503 for another's failure, they run again in a new group;
    the stopped request alone gets its error, and nothing of it is saved."""
    world.app.methods.add_module(_slow_write_method())
    world.run(world.call("GET", "/api/method/ping"))
    world.app.site.db.set_query_timeout(0.2)
    world.count_commits()
    before = [world.call("POST", "/api/resource/ToDo", {"description": f"before {i}"}) for i in range(5)]
    after = [world.call("POST", "/api/resource/ToDo", {"description": f"after {i}"}) for i in range(5)]
    read = world.call("GET", "/api/resource/ToDo?fields=[\"description\"]&limit_page_length=100")
    results = world.run(*before, world.call("POST", "/api/method/tests.slow_write"), *after, read)
    slow = results[5]
    assert slow[0] == 508 and slow[1]["exc_type"] == "QueryTimeoutError", slow
    writes = results[:5] + results[6:11]
    assert [status for status, _, _ in writes] == [200] * 10, [b for _, b, _ in writes]
    names = {body["data"]["name"] for _, body, _ in writes}
    for _, body, committed_then in writes:
        assert body["data"]["name"] in committed_then  # durable before its answer started
    assert world.committed_names() == names  # every one saved once; nothing of the slow write
    status, listed, _ = results[11]
    assert status == 200 and all(row["description"] != "slow" for row in listed["data"])
    # The five earlier creates had joined the group the slow write lost (they ran again after).
    assert "ended a shared transaction of 6 write(s)" in caplog.text


def test_a_request_lost_more_often_than_allowed_is_answered_503(world, monkeypatch):
    """The re-runs are bounded (a loss that repeats, like a full disk, is not retried forever):
    past them the request learns that nothing of it was saved, with a 503 it may retry."""
    from ristretto.api import app as app_module
    monkeypatch.setattr(app_module, "LOST_GROUP_RETRIES", 0)
    world.app.methods.add_module(_slow_write_method())
    world.run(world.call("GET", "/api/method/ping"))
    world.app.site.db.set_query_timeout(0.2)
    created, slow = world.run(world.call("POST", "/api/resource/ToDo", {"description": "lost"}),
                              world.call("POST", "/api/method/tests.slow_write"))
    assert slow[0] == 508
    assert created[0] == 503 and created[1]["exc_type"] == "WriteNotCommitted", created
    assert world.committed_names() == set()


def test_a_webhook_made_earlier_in_the_same_group_fires_for_a_later_write(world):
    """Version tokens read at a request's start answer its later look-ups; inside an open group a
    request reads them from the group's own (uncommitted) writes, so a Webhook created by an
    earlier member is seen by the next member's write at once."""
    world.run(world.call("GET", "/api/method/ping"))
    hook, todo = world.run(
        world.call("POST", "/api/resource/Webhook", {
            "name": "same-group", "webhook_doctype": "ToDo", "webhook_docevent": "after_insert",
            "request_url": "http://127.0.0.1:9/hook"}),
        world.call("POST", "/api/resource/ToDo", {"description": "after the hook"}))
    assert hook[0] == 200 and todo[0] == 200, (hook, todo)
    other = sqlite3.connect(world.db_path)
    try:
        queued = other.execute('SELECT webhook, reference_document FROM "__webhook_queue"').fetchall()
    finally:
        other.close()
    assert queued == [("same-group", todo[1]["data"]["name"])]


def test_a_requests_tokens_do_not_outlive_it(world):
    """After a request, the worker's connection answers token look-ups from the database again:
    what the request read must not stand in for a change another worker made since."""
    from ristretto.db import state
    world.run(world.call("POST", "/api/resource/ToDo", {"description": "reads the tokens"}))
    other = sqlite3.connect(world.db_path, isolation_level=None)
    try:
        other.execute("INSERT OR REPLACE INTO __ristretto_state (key, value) VALUES (?, 'moved-elsewhere')",
                      (state.WEBHOOKS,))
    finally:
        other.close()
    assert state.value(world.app.site.db.request_connection(), state.WEBHOOKS) == "moved-elsewhere"
