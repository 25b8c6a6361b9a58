"""``POST /api/v2/batch`` (ristretto.api.v2.batch): v2 document requests run in one transaction,
as the caller, answered in order; one failing step leaves nothing written and the answer names
it; malformed batches are clear 4xx answers that run nothing. In process, on both databases."""

from __future__ import annotations

import uuid

import pytest

from ristretto.site.install import add_user
from tests.conftest import BACKENDS
from tests.inprocess import InProcess, open_site

B = "/api/v2/batch"
D = "/api/v2/document"
CAP = 8
ORDER = "Batch Order"


@pytest.fixture(scope="module", params=BACKENDS)
def env(request, tmp_path_factory):
    from ristretto.api.app import App
    site = open_site(tmp_path_factory.mktemp(f"batch-{request.param}"), request.param, request,
                     max_batch_requests=CAP)
    # A user with no role of its own: a desk user, who may write Note but not ToDo.
    add_user(site, "clerk@batch.test", None, [])
    client = InProcess(App(site), keep_cookies=False)
    client.as_admin = client.token("Administrator")
    client.as_clerk = client.token("clerk@batch.test")
    r = client.post("/api/resource/DocType", headers=client.as_admin, json={
        "name": ORDER, "module": "Custom", "custom": 1, "is_submittable": 1, "autoname": "field:title",
        "permissions": [{"role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1, "submit": 1,
                         "cancel": 1}],
        "fields": [{"fieldname": "title", "fieldtype": "Data", "label": "Title"}]})
    assert r.status_code == 200, r.text
    yield client
    client.close()
    site.close()


def marker() -> str:
    return f"batch {uuid.uuid4().hex}"


def todos(c: InProcess, description: str) -> list[dict]:
    r = c.get(f"{D}/ToDo", headers=c.as_admin, params={"filters": f'{{"description": "{description}"}}',
                                                        "fields": '["name", "owner"]', "limit": 0})
    return r.json()["data"]


def new(c: InProcess, doctype: str, **values) -> dict:
    r = c.post(f"{D}/{doctype}", headers=c.as_admin, json=values)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def log_head(c: InProcess) -> int:
    from ristretto.model import changelog
    with c.site.db.connect() as conn:
        changelog.sequence(conn)
        return changelog.head(conn)


def read(c: InProcess, doctype: str, name: str):
    return c.get(f"{D}/{doctype}/{name}", headers=c.as_admin)


def test_steps_run_in_order_and_answer_in_order(env):
    c, d = env, marker()
    note = new(c, "Note", title=marker(), content="before")["name"]
    doomed = new(c, "ToDo", description=marker())["name"]
    order = f"order {uuid.uuid4().hex[:8]}"
    r = c.post(B, headers=c.as_admin, json={"requests": [
        {"method": "POST", "url": f"{D}/ToDo", "body": {"description": d}},
        {"method": "PUT", "url": f"{D}/Note/{note}", "body": {"content": "after"}},
        {"method": "GET", "url": f"{D}/Note/{note}"},  # sees the step before it
        {"method": "DELETE", "url": f"{D}/ToDo/{doomed}"},
        {"method": "POST", "url": f"{D}/{ORDER}", "body": {"title": order}},
        {"method": "POST", "url": f"{D}/{ORDER}/{order.replace(' ', '%20')}/method/submit"},
    ]})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert [s["status"] for s in data] == [200, 200, 200, 202, 200, 200]
    assert data[0]["body"]["data"]["description"] == d
    assert data[1]["body"]["data"]["content"] == "after"
    assert data[2]["body"]["data"]["content"] == "after"
    assert data[3]["body"] == {"data": "ok"}
    assert data[4]["body"]["data"]["name"] == order and data[4]["body"]["data"]["docstatus"] == 0
    assert data[5]["body"]["docs"][0]["docstatus"] == 1
    # All of it committed.
    assert [t["name"] for t in todos(c, d)] == [data[0]["body"]["data"]["name"]]
    assert read(c, "Note", note).json()["data"]["content"] == "after"
    assert read(c, "ToDo", doomed).status_code == 404
    assert read(c, ORDER, order).json()["data"]["docstatus"] == 1
    # Each step is in the change log, in order, as its own request would be.
    from ristretto.model import changelog
    with c.site.db.connect() as conn:
        changelog.sequence(conn)
        logged = [(ch.doctype, ch.action) for ch in changelog.read(conn, log_head(c) - 5, 5)]
    assert logged == [("ToDo", "insert"), ("Note", "update"), ("ToDo", "delete"), (ORDER, "insert"),
                      (ORDER, "submit")]


@pytest.mark.parametrize("failing,index,status,kind", [
    ({"method": "DELETE", "url": f"{D}/Note/no-such-note"}, 3, 404, "DoesNotExistError"),
    ({"method": "POST", "url": f"{D}/ToDo", "body": {"description": "x", "status": "Bogus"}}, 1, 417,
     "ValidationError"),
], ids=["missing document last", "invalid value in the middle"])
def test_one_failing_step_leaves_nothing_written(env, failing, index, status, kind):
    c, d = env, marker()
    note = new(c, "Note", title=marker(), content="kept")["name"]
    order = f"order {uuid.uuid4().hex[:8]}"
    steps = [{"method": "POST", "url": f"{D}/ToDo", "body": {"description": d}},
             {"method": "PATCH", "url": f"{D}/Note/{note}", "body": {"content": "changed"}},
             {"method": "POST", "url": f"{D}/{ORDER}", "body": {"title": order}}]
    steps.insert(index, failing)
    head = log_head(c)
    r = c.post(B, headers=c.as_admin, json={"requests": steps})
    assert r.status_code == status, r.text
    body = r.json()
    assert body["failed_step"] == {"index": index, "method": failing["method"], "url": failing["url"]}
    assert body["errors"][0]["type"] == kind and body["errors"][0]["message"]
    assert "data" not in body
    assert todos(c, d) == []
    assert read(c, "Note", note).json()["data"]["content"] == "kept"
    assert read(c, ORDER, order).status_code == 404
    assert log_head(c) == head  # nor anything in the change log


def notes(c: InProcess, title: str) -> list[dict]:
    # The clerk's own notes (private notes are listed to their owner only: Frappe's Note rule).
    r = c.get(f"{D}/Note", headers=c.as_clerk, params={"filters": f'{{"title": "{title}"}}',
                                                        "fields": '["name", "owner"]', "limit": 0})
    return r.json()["data"]


def test_permissions_apply_per_step(env):
    c, t = env, marker()
    # The clerk may write Note (a desk user) but not ToDo: the ToDo step fails and takes the Note with it.
    r = c.post(B, headers=c.as_clerk, json={"requests": [
        {"method": "POST", "url": f"{D}/Note", "body": {"title": t}},
        {"method": "POST", "url": f"{D}/ToDo", "body": {"description": marker()}}]})
    assert r.status_code == 403, r.text
    assert r.json()["failed_step"]["index"] == 1 and r.json()["errors"][0]["type"] == "PermissionError"
    assert notes(c, t) == []
    # A document of a DocType the clerk cannot read is masked as everywhere: 403, not 404.
    r = c.post(B, headers=c.as_clerk, json={"requests": [{"method": "DELETE", "url": f"{D}/{ORDER}/no-such-order"}]})
    assert r.status_code == 403 and r.json()["errors"][0]["type"] == "PermissionError", r.text
    # What the clerk may do runs as the clerk.
    r = c.post(B, headers=c.as_clerk, json={"requests": [{"method": "POST", "url": f"{D}/Note", "body": {"title": t}}]})
    assert r.status_code == 200, r.text
    assert [n["owner"] for n in notes(c, t)] == ["clerk@batch.test"]
    # Without credentials nothing runs.
    r = c.post(B, json={"requests": [{"method": "POST", "url": f"{D}/Note", "body": {"title": t}}]})
    assert r.status_code == 403, r.text
    assert len(notes(c, t)) == 1


def _ok(d: str) -> dict:
    return {"method": "POST", "url": f"{D}/ToDo", "body": {"description": d}}


def _nested(depth: int) -> dict:
    value: dict = {"description": "deep"}
    for _ in range(depth):
        value = {"a": value}
    return value


BAD = [
    # (name, body given the marker, status, words in the message, failed step index or None)
    ("no requests", lambda d: {}, 400, '"requests"', None),
    ("requests not a list", lambda d: {"requests": {"0": _ok(d)}}, 400, '"requests"', None),
    ("requests empty", lambda d: {"requests": []}, 400, "at least one", None),
    ("a step not an object", lambda d: {"requests": [_ok(d), "POST /api/v2/document/ToDo"]}, 400,
     "must be an object", 1),
    ("unknown method", lambda d: {"requests": [_ok(d), {**_ok(d), "method": "TRACE"}]}, 400,
     "method must be one of", 1),
    ("method not a string", lambda d: {"requests": [{**_ok(d), "method": 1}]}, 400, "method must be", 0),
    ("unknown key", lambda d: {"requests": [_ok(d), {**_ok(d), "headers": {}}]}, 400, "unknown keys: headers", 1),
    ("body not an object", lambda d: {"requests": [_ok(d), {**_ok(d), "body": [1]}]}, 400,
     "body must be a JSON object", 1),
    ("v1 URL", lambda d: {"requests": [_ok(d), {**_ok(d), "url": "/api/resource/ToDo"}]}, 400,
     "v2 document route", 1),
    ("v2 method URL", lambda d: {"requests": [_ok(d), {**_ok(d), "url": "/api/v2/method/frappe.client.insert"}]},
     400, "v2 document route", 1),
    ("v2 doctype URL", lambda d: {"requests": [_ok(d), {"method": "GET", "url": "/api/v2/doctype/ToDo/meta"}]},
     400, "v2 document route", 1),
    ("absolute URL", lambda d: {"requests": [_ok(d), {**_ok(d), "url": "http://example.org/api/v2/document/ToDo"}]},
     400, "v2 document route", 1),
    ("nested batch", lambda d: {"requests": [_ok(d), {"method": "POST", "url": B, "body": {"requests": [_ok(d)]}}]},
     400, "cannot contain a batch", 1),
    ("verb the route does not answer", lambda d: {"requests": [_ok(d), {"method": "PUT", "url": f"{D}/ToDo"}]},
     400, "does not answer PUT", 1),
    ("body nested too deeply", lambda d: {"requests": [_ok(d), {**_ok(d), "body": _nested(300)}]}, 417,
     "nests values too deeply", 1),
    ("too many steps", lambda d: {"requests": [_ok(d)] * (CAP + 1)}, 417, f"at most {CAP} requests", None),
    ("URL too long", lambda d: {"requests": [_ok(d), {**_ok(d), "url": f"{D}/ToDo/" + "x" * 5000}]}, 417,
     "longer than", 1),
]


@pytest.mark.parametrize("name,body,status,words,index", BAD, ids=[b[0] for b in BAD])
def test_bad_batch_is_a_clear_4xx_and_runs_nothing(env, name, body, status, words, index):
    c, d = env, marker()
    r = c.post(B, headers=c.as_admin, json=body(d))
    assert r.status_code == status, r.text
    out = r.json()
    assert words in out["errors"][0]["message"], out
    assert out.get("failed_step", {}).get("index") == index
    assert todos(c, d) == []


def test_batch_body_must_be_json_object(env):
    c = env
    r = c.post(B, headers={**c.as_admin, "Content-Type": "application/json"}, content=b'[{"method": "POST"}]')
    assert r.status_code == 400 and '"requests"' in r.json()["errors"][0]["message"], r.text
    assert c.get(B, headers=c.as_admin).status_code == 405


def test_idempotency_key_on_a_batch(env):
    c, d = env, marker()
    headers = {**c.as_admin, "Idempotency-Key": f"batch-{uuid.uuid4().hex}"}
    body = {"requests": [_ok(d), _ok(d)]}
    first = c.post(B, headers=headers, json=body)
    assert first.status_code == 200, first.text
    again = c.post(B, headers=headers, json=body)
    assert again.status_code == 200 and again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert len(todos(c, d)) == 2
    assert c.post(B, headers=headers, json={"requests": [_ok(d)]}).status_code == 422


@pytest.fixture(scope="module", params=BACKENDS)
def world(request, tmp_path_factory):
    from tests.api.v2world import build
    w = build(tmp_path_factory.mktemp(f"batch-world-{request.param}"), request.param, request, gadgets=2)
    yield w
    w.close()


def test_read_steps_never_write(world):
    """A GET document method may write (``touch`` sets qty 999): as a step it is undone, as a GET
    request is rolled back; the writes of the other steps stand."""
    c = world.client("admin")
    r = c.post(B, json={"requests": [
        {"method": "PATCH", "url": f"{D}/Gadget/g-1", "body": {"status": "Closed"}},
        {"method": "GET", "url": f"{D}/Gadget/g-1/method/touch"},
        {"method": "GET", "url": f"{D}/Gadget/g-1"},
        {"method": "POST", "url": f"{D}/Gadget/g-2/method/describe", "body": {"suffix": "!"}}]})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert [s["status"] for s in data] == [200, 200, 200, 200]
    assert data[1]["body"]["data"] == "touched"
    assert data[2]["body"]["data"]["qty"] == 1 and data[2]["body"]["data"]["status"] == "Closed"
    assert data[3]["body"]["data"] == "g-2:Closed!"
    after = c.get(f"{D}/Gadget/g-1").json()["data"]
    assert (after["qty"], after["status"]) == (1, "Closed")


def test_a_listing_step_sees_the_earlier_steps_and_is_bounded(env):
    """A listing is a step too: it reads in the batch's transaction (the documents the batch
    created are there), never streamed, at most a bounded page with has_next_page."""
    from ristretto.model import document, listing
    c, d = env, marker()
    filters = f'{{"description": "{d}"}}'
    many = marker()
    with c.site.admin() as ctx:
        for _ in range(listing.STREAM_ABOVE + 1):
            document.insert(ctx, "ToDo", {"description": many})
    many_filters = f'{{"description": "{many}"}}'
    r = c.post(B, headers=c.as_admin, json={"requests": [
        _ok(d), _ok(d),
        {"method": "GET", "url": f"{D}/ToDo?filters={filters}&fields=[\"name\",\"description\"]&limit=0"},
        {"method": "GET", "url": f"{D}/ToDo?filters={many_filters}&limit=0&fields=[\"name\"]"}]})
    assert r.status_code == 200, r.text
    steps = r.json()["data"]
    created = {steps[0]["body"]["data"]["name"], steps[1]["body"]["data"]["name"]}
    listed = steps[2]["body"]
    assert steps[2]["status"] == 200 and {row["name"] for row in listed["data"]} == created
    assert listed["has_next_page"] is False
    bounded = steps[3]["body"]
    assert len(bounded["data"]) == listing.STREAM_ABOVE and bounded["has_next_page"] is True
