"""The document lifecycle is one set of model rules, whichever route drives it: the same
sequence of submit, refused edits and deletes, cancel, amend (named from the original) and
rename gives the same outcomes through v1 (``frappe.client.submit`` / ``cancel``,
``run_method`` on ``/api/resource``) and through v2's document-method routes; v2's ``copy``
gives a document that posts back. In process, on both databases."""

from __future__ import annotations

import pytest

from tests.api.v2world import build
from tests.conftest import BACKENDS

ORDER = "Gadget Order"


@pytest.fixture(scope="module", params=BACKENDS)
def world(request, tmp_path_factory):
    w = build(tmp_path_factory.mktemp(f"v2life-{request.param}"), request.param, request, gadgets=2)
    r = w["admin"].post("/api/resource/DocType", json={
        "name": "Gizmo", "module": "Custom", "custom": 1, "autoname": "field:title", "allow_rename": 1,
        "fields": [{"fieldname": "title", "fieldtype": "Data", "label": "Title"}],
        "permissions": [{"role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1}]})
    assert r.status_code == 200, r.text
    yield w
    w.close()


class V1:
    """The lifecycle through v1: frappe.client methods and run_method on /api/resource."""

    def __init__(self, client):
        self.c = client

    def outcome(self, r):
        body = r.json()
        if r.status_code >= 400:
            return r.status_code, body["exc_type"], None
        data = body.get("message", body.get("data"))
        return r.status_code, None, data

    def create(self, doctype, values):
        return self.outcome(self.c.post(f"/api/resource/{doctype}", json=values))

    def submit(self, doctype, name):
        doc = self.c.get(f"/api/resource/{doctype}/{name}").json()["data"]
        return self.outcome(self.c.post("/api/method/frappe.client.submit", json={"doc": doc}))

    def cancel(self, doctype, name):
        return self.outcome(self.c.post("/api/method/frappe.client.cancel", json={"doctype": doctype, "name": name}))

    def method(self, doctype, docname, method, **kw):
        return self.outcome(self.c.post(f"/api/resource/{doctype}/{docname}", json={"run_method": method, **kw}))

    def update(self, doctype, name, values):
        return self.outcome(self.c.put(f"/api/resource/{doctype}/{name}", json=values))

    def delete(self, doctype, name):
        return self.outcome(self.c.delete(f"/api/resource/{doctype}/{name}"))


class V2(V1):
    """The same through v2's document and document-method routes."""

    def outcome(self, r):
        body = r.json()
        if r.status_code >= 400:
            return r.status_code, body["errors"][0]["type"], None
        if "docs" in body and not isinstance(body.get("data"), dict):
            return r.status_code, None, body["docs"][0]
        return r.status_code, None, body.get("data")

    def create(self, doctype, values):
        return self.outcome(self.c.post(f"/api/v2/document/{doctype}", json=values))

    def submit(self, doctype, name):
        return self.method(doctype, name, "submit")

    def cancel(self, doctype, name):
        return self.method(doctype, name, "cancel")

    def method(self, doctype, docname, method, **kw):
        return self.outcome(self.c.post(f"/api/v2/document/{doctype}/{docname}/method/{method}/", json=kw))

    def update(self, doctype, name, values):
        return self.outcome(self.c.request("PATCH", f"/api/v2/document/{doctype}/{name}/", json=values))

    def delete(self, doctype, name):
        return self.outcome(self.c.delete(f"/api/v2/document/{doctype}/{name}/"))


def lifecycle(api: V1, tag: str) -> list[tuple]:
    """One run of the lifecycle; each step's (status, exception type, the fields that matter)
    with the run's tag taken out of names, so two runs compare equal."""
    base = f"lc-{tag}"

    def keep(outcome):
        status, error, doc = outcome
        if isinstance(doc, dict):
            doc = {k: (v.replace(tag, "*") if isinstance(v, str) else v) for k, v in doc.items()
                   if k in ("name", "docstatus", "amended_from", "note", "title") and v is not None}
        return status, error, doc

    steps = [
        api.create(ORDER, {"title": base, "note": "first"}),
        api.method(ORDER, base, "amend"),              # a draft cannot be amended
        api.cancel(ORDER, base),                       # nor cancelled
        api.submit(ORDER, base),
        api.submit(ORDER, base),                       # again: a save of the submitted document, as in Frappe
        api.update(ORDER, base, {"note": "after submit"}),   # allow_on_submit
        api.delete(ORDER, base),                       # submitted: not deletable
        api.cancel(ORDER, base),
        api.update(ORDER, base, {"note": "cancelled"}),      # a cancelled document is final
        api.submit(ORDER, base),
        api.method(ORDER, base, "amend"),              # -> lc-*-1
        api.method(ORDER, base, "amend"),              # -> lc-*-2 (the next free number)
        api.submit(ORDER, f"{base}-1"),
        api.cancel(ORDER, f"{base}-1"),
        api.method(ORDER, f"{base}-1", "amend"),       # amending an amendment -> lc-*-3
        api.create("Gizmo", {"title": f"gz-{tag}"}),
        api.method("Gizmo", f"gz-{tag}", "rename", name=f"gz-{tag}-renamed"),
        api.method("Gizmo", f"gz-{tag}-renamed", "rename", name=f"gz-{tag}-renamed"),  # same name
    ]
    return [keep(s) for s in steps]


def test_v1_and_v2_drive_the_same_lifecycle(world):
    one = lifecycle(V1(world["admin"]), "v1")
    two = lifecycle(V2(world["admin"]), "v2")
    for i, (a, b) in enumerate(zip(one, two)):
        assert a == b, f"step {i}: v1 {a} / v2 {b}"
    # And the outcomes are Frappe's.
    statuses = [s[0] for s in one]
    assert statuses[:10] == [200, 417, 417, 200, 200, 200, 417, 200, 417, 417], one
    assert one[10][2]["name"] == "lc-*-1" and one[10][2]["amended_from"] == "lc-*"
    assert one[11][2]["name"] == "lc-*-2"
    assert one[14][2]["name"] == "lc-*-3" and one[14][2]["amended_from"] == "lc-*-1"
    assert one[16][:2] == (200, None)


def test_the_user_without_amend_right_is_refused_on_both(world):
    manager = world["manager"]  # submit and cancel, but no amend right
    for api, tag in ((V1(manager), "r1"), (V2(manager), "r2")):
        assert api.create(ORDER, {"title": f"na-{tag}"})[0] == 200
        assert api.submit(ORDER, f"na-{tag}")[0] == 200
        assert api.cancel(ORDER, f"na-{tag}")[0] == 200
        assert api.method(ORDER, f"na-{tag}", "amend")[:2] == (403, "PermissionError")


def test_copy_posts_back_as_a_new_document(world):
    admin = world["admin"]
    r = admin.get("/api/v2/document/Gadget/g-1/copy/")
    assert r.status_code == 200, r.text
    copy = r.json()["data"]
    for key in ("name", "owner", "creation", "modified", "modified_by", "docstatus", "amended_from"):
        assert key not in copy, key
    assert copy["doctype"] == "Gadget" and copy["qty"] == 1
    assert copy["parts"] and all("name" not in row and "parent" not in row for row in copy["parts"])
    copy["title"] = "g-1-copy"
    r = admin.post("/api/v2/document/Gadget", json=copy)
    assert r.status_code == 200, r.text
    made = r.json()["data"]
    assert made["name"] == "g-1-copy" and [p["code"] for p in made["parts"]] == ["p1"]
    original = admin.get("/api/v2/document/Gadget/g-1").json()["data"]
    assert made["parts"][0]["name"] != original["parts"][0]["name"]


def test_copy_needs_read_and_hides_what_the_user_may_not_read(world):
    r = world["outsider"].get("/api/v2/document/Gadget/g-1/copy")
    assert r.status_code == 403 and r.json()["errors"][0]["type"] == "PermissionError"
    r = world["user"].get("/api/v2/document/Gadget/g-1/copy")
    assert r.status_code == 200 and "secret" not in r.json()["data"]
    r = world["admin"].get("/api/v2/document/Gadget/nope/copy")
    assert r.status_code == 404
    r = world["admin"].post("/api/v2/document/Gadget/g-1/copy")
    assert r.status_code == 405 or r.status_code == 404
