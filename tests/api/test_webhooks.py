"""Webhooks through the API, in process, on both databases.

Webhooks are managed over REST by System Managers; a change queues a delivery in its own
transaction (none for a rolled-back write), only for the events Frappe fires for it and only
when the condition holds; the body is rendered from the saved document (JSON template or
selected fields); deliveries are sent by a delivery task (here in a thread, as another worker
would), signed, and recorded in Webhook Request Log, which System Managers read over REST and
can replay. The cache of webhooks follows changes made by another process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading

import pytest

from ristretto.db.dialects import quote
from ristretto.model import changelog, document, lifecycle
from ristretto.site import Site
from ristretto.site.install import add_user, migrate
from ristretto.webhooks import delivery, queue
from tests.conftest import configure_site
from tests.inprocess import InProcess, token_for
from tests.webhook_receiver import wait_until

SECRET = "webhook-secret-1"
ORDER = "Hook Order"


@pytest.fixture
def hooked(site_dir):
    configure_site(site_dir, webhook_poll_interval=0.1, webhook_retry_backoff=0.2, webhook_max_attempts=3,
                   webhook_lease_seconds=1)
    site = Site(site_dir)
    add_user(site, "clerk@example.com", "clerk-pw-123", ["Desk User"])
    with site.admin() as ctx:
        document.insert(ctx, "DocType", {
            "module": "Custom", "custom": 1, "is_submittable": 1,
            "fields": [{"fieldname": "title", "fieldtype": "Data", "label": "Title"},
                       {"fieldname": "qty", "fieldtype": "Int", "label": "Qty"}],
            "permissions": [{"role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1,
                             "submit": 1, "cancel": 1, "amend": 1}]}, name=ORDER, force_name=True)
    site.close()
    client = InProcess.open(site_dir)
    client.headers.update(client.token("Administrator"))
    yield client
    client.close()


@contextlib.contextmanager
def delivering(site_dir):
    """A delivery task on a Site of its own, in a thread with its own event loop (another worker)."""
    site = Site(site_dir)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box: dict = {}

    def run() -> None:
        asyncio.set_event_loop(loop)

        async def main() -> None:
            box["stop"] = asyncio.Event()
            box["deliverer"] = delivery.start(site)
            ready.set()
            await box["stop"].wait()
            await delivery.stop(box["deliverer"])

        loop.run_until_complete(main())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield box["deliverer"]
    finally:
        loop.call_soon_threadsafe(box["stop"].set)
        thread.join(10)
        loop.close()
        site.close()


def _webhook(client, name: str, **values) -> dict:
    r = client.post("/api/resource/Webhook", json={"name": name, **values})
    assert r.status_code == 200, r.text
    return r.json()["data"]


def _queued(site) -> list[dict]:
    cols = ("webhook", "reference_doctype", "reference_document", "event", "url", "body")
    with site.db.connect() as conn:
        rows = conn.sql(f"SELECT {', '.join(quote(c) for c in cols)} FROM {quote(queue.TABLE)} ORDER BY created")
    return [dict(zip(cols, r)) for r in rows]


def _logs(client, **filters) -> list[dict]:
    r = client.get("/api/resource/Webhook Request Log", params={
        "fields": json.dumps(["name", "webhook", "reference_doctype", "reference_document", "url", "data",
                              "headers", "response", "error"]),
        "filters": json.dumps(filters), "order_by": "creation asc", "limit_page_length": 0})
    assert r.status_code == 200, r.text
    return r.json()["data"]


def test_system_managers_manage_webhooks_and_read_their_logs(hooked, receiver):
    hook = _webhook(hooked, "todo-insert", webhook_doctype="ToDo", webhook_docevent="after_insert",
                    request_url=receiver.url + "/in", enable_security=1, webhook_secret=SECRET,
                    webhook_headers=[{"key": "X-Api-Key", "value": "abc"}])
    assert hook["webhook_secret"] == "*" * len(SECRET)  # stored encrypted, shown masked
    assert hook["enabled"] == 1 and hook["timeout"] == 5 and hook["request_method"] == "POST"
    r = hooked.get("/api/resource/Webhook/todo-insert")
    assert r.status_code == 200 and SECRET not in r.text
    clerk = token_for(hooked.site, "clerk@example.com")
    assert hooked.get("/api/resource/Webhook", headers=clerk).status_code == 403
    assert hooked.post("/api/resource/Webhook", headers=clerk, json={
        "name": "x", "webhook_doctype": "ToDo", "webhook_docevent": "on_update",
        "request_url": receiver.url}).status_code == 403
    assert hooked.get("/api/resource/Webhook Request Log", headers=clerk).status_code == 403


@pytest.mark.parametrize("values, message", [
    ({"request_url": "ftp://127.0.0.1/x"}, "Check Request URL"),
    ({"request_url": "not a url"}, "Check Request URL"),
    ({"webhook_docevent": "on_submit"}, "DocType must be Submittable"),
    ({"condition": "doc.status =="}, "Invalid Condition"),
    ({"condition": "doc.x == 1" + " " * 3000}, "Invalid Condition"),
    ({"request_structure": "JSON", "webhook_json": "{% macro f() %}{% endmacro %}"}, "Invalid JSON Request Body"),
    ({"request_structure": "JSON", "webhook_json": "{{ x " + "~ x " * 20000 + "}}"}, "Invalid JSON Request Body"),
    ({"webhook_data": [{"fieldname": "status", "key": "a"}, {"fieldname": "status", "key": "b"}]},
     "Same Field is entered more than once"),
    ({"webhook_data": [{"fieldname": "no_such_field", "key": "a"}]}, "not a field of ToDo"),
    ({"enable_security": 1}, "Invalid Webhook Secret"),
    ({"webhook_headers": [{"key": "Bad Header", "value": "1"}]}, "is not valid"),
    ({"timeout": 600}, "Request Timeout"),
])
def test_invalid_webhooks_are_refused(hooked, receiver, values, message):
    body = {"name": "bad", "webhook_doctype": "ToDo", "webhook_docevent": "on_update",
            "request_url": receiver.url, **values}
    r = hooked.post("/api/resource/Webhook", json=body)
    assert r.status_code == 417, r.text
    assert message in r.text


def test_condition_template_and_signature(hooked, receiver):
    _webhook(hooked, "open-todos", webhook_doctype="ToDo", webhook_docevent="after_insert",
             condition='doc.status == "Open" and doc.priority in ("High", "Medium")',
             request_url=receiver.url + "/todo", request_structure="JSON",
             webhook_json='{"id": "{{ doc.name }}", "what": {{ doc.description | tojson }}, '
                          '"n": {{ doc.description | length }}}',
             enable_security=1, webhook_secret=SECRET, webhook_headers=[{"key": "X-Api-Key", "value": "abc"}])
    _webhook(hooked, "selected-fields", webhook_doctype="ToDo", webhook_docevent="on_update",
             request_url=receiver.url + "/fields",
             webhook_data=[{"fieldname": "name", "key": "id"}, {"fieldname": "priority", "key": "level"}])
    names = {}
    for description, status, priority in (("ship it", "Open", "High"), ("done", "Closed", "High"),
                                           ("later", "Open", "Low")):
        r = hooked.post("/api/resource/ToDo", json={"description": description, "status": status,
                                                     "priority": priority})
        assert r.status_code == 200, r.text
        names[description] = r.json()["data"]["name"]
    with delivering(hooked.site.path):
        got = receiver.wait_for(lambda rs: len(rs) >= 4)
        logs = wait_until(lambda: len(_logs(hooked)) == 4 and _logs(hooked), what="4 logged attempts")
    todo = [g for g in got if g.path == "/todo"]
    assert [g.json for g in todo] == [{"id": names["ship it"], "what": "ship it", "n": 7}]
    assert todo[0].signed_with(SECRET) and not todo[0].signed_with("another secret")
    assert todo[0].headers["x-api-key"] == "abc" and todo[0].headers["content-type"] == "application/json"
    # Frappe's body bytes: json.dumps of the parsed template
    assert todo[0].body == json.dumps(todo[0].json).encode()
    fields = sorted((g.json["id"], g.json["level"]) for g in got if g.path == "/fields")
    assert fields == sorted((names[d], p) for d, p in (("ship it", "High"), ("done", "High"), ("later", "Low")))
    assert all("x-frappe-webhook-signature" not in g.headers for g in got if g.path == "/fields")
    first = next(entry for entry in logs if entry["webhook"] == "open-todos")
    assert first["reference_doctype"] == "ToDo" and first["reference_document"] == names["ship it"]
    assert first["error"] is None and json.loads(first["response"]) == {"ok": True}
    assert first["data"] == todo[0].body.decode() and first["url"] == receiver.url + "/todo"
    logged = json.loads(first["headers"])
    assert logged["X-Frappe-Webhook-Signature"] == todo[0].headers["x-frappe-webhook-signature"]
    assert logged["X-Api-Key"] == "*****"  # a credential header is not copied into every log row
    assert _queued(hooked.site) == []


# action -> the events Frappe fires (and its webhooks see) for it
LIFECYCLE = [
    ("insert", {"after_insert", "on_update"}),
    ("update", {"on_update", "on_change"}),
    ("submit", {"on_update", "on_submit", "on_change"}),
    ("update after submit", {"on_update_after_submit", "on_change"}),
    ("cancel", {"on_cancel", "on_change"}),
    ("amend", {"after_insert", "on_update"}),
    ("delete", {"on_trash"}),
]
EVENTS = ("after_insert", "on_update", "on_submit", "on_cancel", "on_trash", "on_update_after_submit", "on_change")


def test_each_action_fires_the_events_frappe_runs(hooked, receiver):
    for event in EVENTS:
        _webhook(hooked, f"order-{event}", webhook_doctype=ORDER, webhook_docevent=event,
                 request_url=f"{receiver.url}/{event}")
    site = hooked.site
    seen = []

    def step(label, fn):
        before = len(_queued(site))
        with site.admin() as ctx:
            fn(ctx)
        seen.append((label, {row["event"] for row in _queued(site)[before:]}))

    box = {}
    step("insert", lambda ctx: box.update(name=document.insert(ctx, ORDER, {"title": "a", "qty": 1}).name))
    step("update", lambda ctx: document.update(ctx, ORDER, box["name"], {"qty": 2}))
    step("submit", lambda ctx: lifecycle.submit(ctx, ORDER, box["name"]))
    step("update after submit", lambda ctx: document.update(ctx, ORDER, box["name"], {}))
    step("cancel", lambda ctx: lifecycle.cancel(ctx, ORDER, box["name"]))
    step("amend", lambda ctx: box.update(amended=lifecycle.amend(ctx, ORDER, box["name"]).name))
    step("delete", lambda ctx: document.delete(ctx, ORDER, box["amended"]))
    assert seen == LIFECYCLE
    rows = _queued(site)
    assert all(row["url"] == f"{receiver.url}/{row['event']}" and row["webhook"] == f"order-{row['event']}"
               for row in rows)
    # the body is rendered from the document at the event: the on_trash one as it was deleted
    trash = [row for row in rows if row["event"] == "on_trash"]
    assert [row["reference_document"] for row in trash] == [box["amended"]]


def test_a_rolled_back_write_queues_nothing(hooked, receiver):
    _webhook(hooked, "todo-any", webhook_doctype="ToDo", webhook_docevent="after_insert", request_url=receiver.url)
    site = hooked.site
    with pytest.raises(RuntimeError):
        with site.admin() as ctx:
            document.insert(ctx, "ToDo", {"description": "lost"})
            assert len(_queued_in(ctx)) == 1  # queued in the transaction...
            raise RuntimeError("the request failed after the insert")
    assert _queued(site) == []  # ...and gone with it


def test_a_failed_batch_queues_nothing_and_a_good_one_queues_each_document_once(hooked, receiver):
    _webhook(hooked, "todo-saved", webhook_doctype="ToDo", webhook_docevent="on_update", request_url=receiver.url,
             request_structure="JSON", webhook_json='{"d": "{{ doc.description }}"}')
    r = hooked.post("/api/v2/batch", json={"requests": [
        {"method": "POST", "url": "/api/v2/document/ToDo", "body": {"description": "written first"}},
        {"method": "POST", "url": "/api/v2/document/ToDo", "body": {"description": "x", "status": "Bogus"}}]})
    assert r.status_code == 417, r.text
    assert _queued(hooked.site) == []  # the first step's delivery went with its rollback
    name = hooked.post("/api/v2/document/ToDo", json={"description": "one"}).json()["data"]["name"]
    r = hooked.post("/api/v2/batch", json={"requests": [
        {"method": "PUT", "url": f"/api/v2/document/ToDo/{name}", "body": {"description": "two"}},
        {"method": "PUT", "url": f"/api/v2/document/ToDo/{name}", "body": {"description": "three"}}]})
    assert r.status_code == 200, r.text
    assert [row["body"] for row in _queued(hooked.site)] == ['{"d": "one"}', '{"d": "three"}']


def _queued_in(ctx) -> list:
    return ctx.db.sql(f"SELECT name FROM {quote(queue.TABLE)}")


def test_one_delivery_per_document_and_transaction_with_its_last_state(hooked, receiver):
    _webhook(hooked, "todo-update", webhook_doctype="ToDo", webhook_docevent="on_update", request_url=receiver.url,
             request_structure="JSON", webhook_json='{"d": "{{ doc.description }}"}')
    with hooked.site.admin() as ctx:
        name = document.insert(ctx, "ToDo", {"description": "first"}).name
        document.update(ctx, "ToDo", name, {"description": "second"})
    assert [(row["reference_document"], row["body"]) for row in _queued(hooked.site)] == [(name, '{"d": "second"}')]


def test_a_condition_that_fails_is_logged_and_the_write_stands(hooked, receiver):
    _webhook(hooked, "bad-condition", webhook_doctype="ToDo", webhook_docevent="after_insert",
             request_url=receiver.url, condition="doc.description > 3")
    r = hooked.post("/api/resource/ToDo", json={"description": "text"})
    assert r.status_code == 200, r.text
    (entry,) = _logs(hooked)
    assert entry["webhook"] == "bad-condition" and entry["reference_document"] == r.json()["data"]["name"]
    assert "could not be evaluated" in entry["error"] and "TypeError" in entry["error"]
    assert _queued(hooked.site) == []


def test_disabled_webhooks_and_other_workers_changes(hooked, receiver):
    other = Site(hooked.site.path)  # another worker: its cache must follow changes made here
    try:
        with other.admin() as ctx:
            document.insert(ctx, "ToDo", {"description": "before"})  # loads its (empty) cache
        _webhook(hooked, "late", webhook_doctype="ToDo", webhook_docevent="after_insert", request_url=receiver.url)
        with other.admin() as ctx:
            name = document.insert(ctx, "ToDo", {"description": "after"}).name
        assert [row["reference_document"] for row in _queued(other)] == [name]
        assert hooked.put("/api/resource/Webhook/late", json={"enabled": 0}).status_code == 200
        with other.admin() as ctx:
            document.insert(ctx, "ToDo", {"description": "disabled"})
        assert len(_queued(other)) == 1
        assert hooked.delete("/api/resource/Webhook/late").status_code == 202
    finally:
        other.close()


def test_a_deleted_webhook_keeps_its_logs_and_sends_nothing_more(hooked, receiver):
    _webhook(hooked, "gone", webhook_doctype="ToDo", webhook_docevent="after_insert", request_url=receiver.url,
             condition='doc.priority == "High" or doc.description > 3')
    assert hooked.post("/api/resource/ToDo", json={"description": "a", "priority": "Low"}).status_code == 200
    assert hooked.post("/api/resource/ToDo", json={"description": "b", "priority": "High"}).status_code == 200
    assert len(_logs(hooked)) == 1 and len(_queued(hooked.site)) == 1
    # Its log links to it, as in Frappe that does not stop the delete.
    r = hooked.delete("/api/resource/Webhook/gone")
    assert r.status_code == 202, r.text
    with delivering(hooked.site.path):
        wait_until(lambda: len(_logs(hooked)) == 2, what="the undeliverable attempt logged")
    assert _logs(hooked)[1]["error"] == "Not sent: Webhook gone no longer exists"
    assert _queued(hooked.site) == [] and receiver.received == []


class _Counting:
    """A connection that counts the statements run through it."""

    def __init__(self, conn):
        self.conn, self.statements = conn, []

    def __getattr__(self, name):
        attr = getattr(self.conn, name)
        if name in ("sql", "one", "value", "execute", "executemany"):
            def counted(query, *args, **kw):
                self.statements.append(query)
                return attr(query, *args, **kw)
            return counted
        return attr


def test_a_change_no_webhook_watches_costs_one_primary_key_read(hooked, receiver):
    from dataclasses import replace
    _webhook(hooked, "todo-only", webhook_doctype="ToDo", webhook_docevent="on_update", request_url=receiver.url)
    site = hooked.site
    with site.admin() as ctx:
        document.insert(ctx, "Note", {"title": "warm the cache"})
        note = document.insert(ctx, "Note", {"title": "n"})
        todo = document.insert(ctx, "ToDo", {"description": "t"})
        for doc, action, watched in ((note, "update", False), (todo, "delete", False), (todo, "update", True)):
            counting = _Counting(ctx.db)
            change = changelog.Change(None, doc.meta.name, str(doc.name), action, "", ctx.user, None, None, 0)
            site.webhooks.on_change(replace(ctx, db=counting), change, doc)
            # The token: a primary-key read on SQLite; on PostgreSQL the tokens the connection
            # read at its start answer (ristretto.db.state).
            tokens = [s for s in counting.statements if "__ristretto_state" in s]
            assert len(tokens) == (0 if site.db.dialect.name == "postgres" else 1), counting.statements
            if watched:  # queued (replacing the insert's delivery: one per document and transaction)
                assert len(counting.statements) > len(tokens)
            else:  # nothing watches it: the token, nothing else
                assert counting.statements == tokens


def test_replay_by_a_system_manager_only(hooked, receiver):
    _webhook(hooked, "replayed", webhook_doctype="ToDo", webhook_docevent="after_insert",
             request_url=receiver.url + "/r", enable_security=1, webhook_secret=SECRET,
             request_structure="JSON", webhook_json='{"id": "{{ doc.name }}"}')
    name = hooked.post("/api/resource/ToDo", json={"description": "again"}).json()["data"]["name"]
    with delivering(hooked.site.path):
        receiver.wait_for(lambda rs: len(rs) == 1)
        (entry,) = wait_until(lambda: _logs(hooked), what="the first attempt logged")
        clerk = token_for(hooked.site, "clerk@example.com")
        r = hooked.post("/api/method/ristretto.webhooks.replay", headers=clerk, data={"name": entry["name"]})
        assert r.status_code == 403, r.text
        assert hooked.get("/api/method/ristretto.webhooks.replay", params={"name": entry["name"]}).status_code \
            in (403, 405)
        r = hooked.post("/api/method/ristretto.webhooks.replay", data={"name": "no-such-log"})
        assert r.status_code == 404, r.text
        r = hooked.post("/api/method/ristretto.webhooks.replay", data={"name": entry["name"]})
        assert r.status_code == 200, r.text
        assert r.json()["message"]["delivery"]
        got = receiver.wait_for(lambda rs: len(rs) == 2)
    assert got[1].json == got[0].json == {"id": name}
    assert got[1].signed_with(SECRET)
    assert got[0].headers["x-ristretto-webhook-delivery"] != got[1].headers["x-ristretto-webhook-delivery"]
    assert len(_logs(hooked)) == 2


def test_a_stopping_worker_finishes_the_delivery_under_way(hooked, receiver):
    _webhook(hooked, "slow", webhook_doctype="ToDo", webhook_docevent="after_insert", request_url=receiver.url)
    receiver.hold.set()
    name = hooked.post("/api/resource/ToDo", json={"description": "slow"}).json()["data"]["name"]
    with delivering(hooked.site.path):
        wait_until(lambda: receiver.arrived == 1, what="the delivery under way")
        threading.Timer(0.5, receiver.released.set).start()
    # Leaving the block stopped the worker while the receiver was still answering.
    (entry,) = _logs(hooked)
    assert entry["reference_document"] == name and entry["error"] is None, entry
    assert _queued(hooked.site) == []


def test_migrate_installs_the_webhook_doctypes(site_dir):
    names = ("Webhook", "Webhook Data", "Webhook Header", "Webhook Request Log")
    site = Site(site_dir)
    try:
        with site.db.connect() as conn, conn.transaction():
            for name in names:
                for table in ("tabDocType", "tabDocField", "tabDocPerm"):
                    conn.execute(f"DELETE FROM {quote(table)} WHERE {'name' if table == 'tabDocType' else 'parent'}"
                                 f" = ?", (name,))
                conn.execute(f"DROP TABLE {quote('tab' + name)}")
    finally:
        site.close()
    site = Site(site_dir)
    try:
        with site.admin() as ctx:  # an older site: writes work, nothing is queued
            document.insert(ctx, "ToDo", {"description": "old site"})
        done = migrate(site)
        assert {f"installed built-in DocType {n}" for n in names} <= set(done), done
        assert not [line for line in migrate(site) if "Webhook" in line]
    finally:
        site.close()
    with InProcess.open(site_dir) as c:
        c.headers.update(c.token("Administrator"))
        r = c.post("/api/resource/Webhook", json={"name": "after-migrate", "webhook_doctype": "ToDo",
                                                  "webhook_docevent": "on_update",
                                                  "request_url": "http://127.0.0.1:9/x"})
        assert r.status_code == 200, r.text
        assert c.get("/api/resource/Webhook Request Log").status_code == 200
