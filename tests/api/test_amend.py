"""Amending cancelled documents over v1 HTTP, in process, on both databases.

Only a cancelled document can be amended; the amendment is a new draft named from the
original (``SOX-2026-0001`` -> ``SOX-2026-0001-1``, amending that -> ``SOX-2026-0001-2``),
with ``amended_from`` set, child rows copied under new names and the original's attachments
copied. The same rules hold for the built-in method ``amend`` and for a client inserting a copy
with ``amended_from`` set (how Frappe's desk amends); both need the ``amend`` right.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.conftest import BACKENDS
from tests.inprocess import InProcess, open_site, token_for

CLERK, MANAGER, BLIND = "clerk@amend.test", "manager@amend.test", "blind@amend.test"
_NONE = {"read": 0, "write": 0, "create": 0, "delete": 0, "submit": 0, "cancel": 0, "amend": 0}
PERMS = [{**_NONE, "role": "SOX Clerk", "read": 1, "write": 1, "create": 1, "submit": 1, "cancel": 1},
         {**_NONE, "role": "SOX Manager", "read": 1, "write": 1, "create": 1, "submit": 1, "cancel": 1,
          "amend": 1},
         # may amend and create, but not read: an amendment would copy what they cannot see
         {**_NONE, "role": "SOX Blind", "create": 1, "amend": 1}]
YEAR = dt.date.today().year


@pytest.fixture(scope="module", params=BACKENDS)
def sox(request, tmp_path_factory):
    from ristretto.api.app import App
    from ristretto.site.install import add_user
    site = open_site(tmp_path_factory.mktemp(f"amend-{request.param}"), request.param, request)
    app = App(site)
    admin = InProcess(app, headers=token_for(site, "Administrator"))
    for role in ("SOX Clerk", "SOX Manager", "SOX Blind"):
        assert admin.post("/api/resource/Role", json={"role_name": role}).status_code == 200
    for body in (
        {"name": "SOX Item", "istable": 1, "fields": [
            {"fieldname": "code", "fieldtype": "Data", "label": "Code"},
            {"fieldname": "qty", "fieldtype": "Int", "label": "Qty"}]},
        {"name": "SOX", "is_submittable": 1, "autoname": "format:SOX-{YYYY}-{####}", "permissions": PERMS,
         "fields": [
             {"fieldname": "title", "fieldtype": "Data", "label": "Title"},
             {"fieldname": "ref_no", "fieldtype": "Data", "label": "Ref No", "no_copy": 1},
             {"fieldname": "items", "fieldtype": "Table", "options": "SOX Item", "label": "Items"}]},
    ):
        r = admin.post("/api/resource/DocType", json={"module": "Custom", "custom": 1, **body})
        assert r.status_code == 200, r.text
    add_user(site, CLERK, None, ["SOX Clerk"])
    add_user(site, MANAGER, None, ["SOX Manager"])
    add_user(site, BLIND, None, ["SOX Blind"])
    clients = {u: InProcess(app, headers=token_for(site, u)) for u in (CLERK, MANAGER, BLIND)}
    clients["Administrator"] = admin
    yield clients
    site.close()


def _path(name: str) -> str:
    return f"/api/resource/SOX/{name}"


def _new(c: InProcess, **values) -> dict:
    body = {"title": "order", "ref_no": "R-1", "items": [{"code": "A", "qty": 1}, {"code": "B", "qty": 2}]}
    r = c.post("/api/resource/SOX", json={**body, **values})
    assert r.status_code == 200, r.text
    return r.json()["data"]


def _run(c: InProcess, name: str, method: str) -> Any:
    return c.post(_path(name), json={"run_method": method})


def _cancelled(c: InProcess, name: str | None = None) -> dict:
    name = name or _new(c)["name"]
    assert _run(c, name, "submit").status_code == 200
    r = _run(c, name, "cancel")
    assert r.status_code == 200, r.text
    return r.json()["data"]


def _refused(r, status: int, exc_type: str, text: str = "") -> None:
    assert r.status_code == status, r.text
    assert r.json()["exc_type"] == exc_type, r.text
    assert text in r.text, r.text


def test_amendment_names_follow_the_original(sox):
    admin = sox["Administrator"]
    original = _cancelled(admin)
    # a series name ending in digits keeps them: the suffix is added, never counted up
    assert original["name"].startswith(f"SOX-{YEAR}-")
    r = _run(admin, original["name"], "amend")
    assert r.status_code == 200, r.text
    first = r.json()["data"]
    assert first["name"] == f"{original['name']}-1"
    assert first["amended_from"] == original["name"] and first["docstatus"] == 0
    # amending the amendment counts its suffix up
    _cancelled(admin, first["name"])
    second = _run(admin, first["name"], "amend").json()["data"]
    assert second["name"] == f"{original['name']}-2" and second["amended_from"] == first["name"]
    # the original may be amended again: the next free number
    third = _run(admin, original["name"], "amend").json()["data"]
    assert third["name"] == f"{original['name']}-3" and third["amended_from"] == original["name"]
    # all stored, the originals untouched
    for name, status in ((original["name"], 2), (first["name"], 2), (second["name"], 0), (third["name"], 0)):
        assert admin.get(_path(name)).json()["data"]["docstatus"] == status


def test_amendment_copies_values_and_rows(sox):
    manager = sox[MANAGER]
    original = _cancelled(manager, _new(manager, title="copied", ref_no="NC-1")["name"])
    r = _run(manager, original["name"], "amend")
    assert r.status_code == 200, r.text
    amended = r.json()["data"]
    assert amended["title"] == "copied" and amended["ref_no"] == "NC-1"  # no_copy fields too, as Frappe amends
    assert amended["owner"] == MANAGER and amended["creation"] != original["creation"]
    assert [(i["code"], i["qty"], i["idx"], i["docstatus"]) for i in amended["items"]] == \
        [("A", 1, 1, 0), ("B", 2, 2, 0)]
    assert all(i["parent"] == amended["name"] for i in amended["items"])
    assert not {i["name"] for i in amended["items"]} & {i["name"] for i in original["items"]}
    stored = sox["Administrator"].get(_path(original["name"])).json()["data"]
    assert [i["name"] for i in stored["items"]] == [i["name"] for i in original["items"]]


def test_amendment_copies_attachments(sox):
    admin = sox["Administrator"]
    original = _new(admin)
    for i, private in enumerate((0, 1)):
        r = admin.post("/api/method/upload_file", files={"file": (f"att-{i}.txt", f"bytes {i}".encode(), "text/plain")},
                       data={"doctype": "SOX", "docname": original["name"], "is_private": str(private)})
        assert r.status_code == 200, r.text
    _cancelled(admin, original["name"])
    amended = _run(admin, original["name"], "amend").json()["data"]

    def files(name: str) -> list[tuple]:
        r = admin.get("/api/resource/File", params={
            "fields": '["file_url", "file_name", "is_private", "folder"]', "order_by": "file_name asc",
            "filters": f'[["attached_to_doctype", "=", "SOX"], ["attached_to_name", "=", "{name}"]]'})
        assert r.status_code == 200, r.text
        return [tuple(f.values()) for f in r.json()["data"]]

    before = files(original["name"])
    assert len(before) == 2 and files(amended["name"]) == before
    assert all(f[3] == "Home/Attachments" for f in before)
    # the copy shares the bytes
    private_url = [f[0] for f in before if f[2] == 1][0]
    assert admin.get(private_url).content == b"bytes 1"


@pytest.mark.parametrize("state", ["draft", "submitted"])
def test_only_a_cancelled_document_can_be_amended(sox, state):
    admin = sox["Administrator"]
    doc = _new(admin)
    if state == "submitted":
        assert _run(admin, doc["name"], "submit").status_code == 200
    _refused(_run(admin, doc["name"], "amend"), 417, "ValidationError",
             f"SOX {doc['name']} cannot be amended because it is not cancelled")
    # a client inserting the copy itself gets the same answer
    r = admin.post("/api/resource/SOX", json={"title": "copy", "amended_from": doc["name"]})
    _refused(r, 417, "ValidationError", "cannot be amended because it is not cancelled")
    r = admin.post("/api/method/frappe.client.insert",
                   json={"doc": {"doctype": "SOX", "title": "copy", "amended_from": doc["name"]}})
    _refused(r, 417, "ValidationError", "cannot be amended because it is not cancelled")
    r = admin.get("/api/resource/SOX", params={"filters": f'[["amended_from", "=", "{doc["name"]}"]]'})
    assert r.json()["data"] == []


def test_client_insert_of_an_amendment(sox):
    """Frappe's desk amends by inserting a copy with ``amended_from``: named and checked alike."""
    manager = sox[MANAGER]
    original = _cancelled(manager)
    r = manager.post("/api/resource/SOX", json={"title": "by copy", "amended_from": original["name"],
                                                "items": [{"code": "C", "qty": 3}]})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["name"] == f"{original['name']}-1"
    r = manager.post("/api/method/frappe.client.insert",
                     json={"doc": {"doctype": "SOX", "title": "again", "amended_from": original["name"]}})
    assert r.status_code == 200 and r.json()["message"]["name"] == f"{original['name']}-2", r.text


def test_amend_needs_the_amend_right(sox):
    clerk = sox[CLERK]
    original = _cancelled(clerk)  # the clerk may submit and cancel, not amend
    _refused(_run(clerk, original["name"], "amend"), 403, "PermissionError")
    _refused(clerk.post("/api/resource/SOX", json={"title": "copy", "amended_from": original["name"]}),
             403, "PermissionError")
    # without read on the original, neither: its values would be copied
    _refused(_run(sox[BLIND], original["name"], "amend"), 403, "PermissionError")
    r = _run(sox[MANAGER], original["name"], "amend")
    assert r.status_code == 200, r.text


def test_amend_of_missing_or_non_submittable_documents(sox):
    admin = sox["Administrator"]
    assert _run(admin, "SOX-none", "amend").status_code == 404
    todo = admin.post("/api/resource/ToDo", json={"description": "not submittable"}).json()["data"]
    r = admin.post(f"/api/resource/ToDo/{todo['name']}", json={"run_method": "amend"})
    _refused(r, 417, "ValidationError", "ToDo is not submittable")
