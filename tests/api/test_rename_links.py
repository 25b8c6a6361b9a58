"""Renaming (and merging) a document repoints every reference to it in every DocType, over v1
HTTP, in process, on both databases.

``RN Target`` is renamed. It is referenced by a Link field of ``RN Holder``, a Link field of the
child rows ``RN Line`` of ``RN Holder``, a Dynamic Link of ``RN Dyn`` (only where its DocType
field names ``RN Target``: a Dynamic Link to an ``RN Fixed`` of the same name stays) and a Link
of the single ``RN Settings``. Renaming needs ``allow_rename`` and write; merging also delete.
"""

from __future__ import annotations

import pytest

from tests.conftest import BACKENDS
from tests.inprocess import InProcess, open_site, token_for

EDITOR, READER = "editor@rn.test", "reader@rn.test"
_NONE = {"read": 0, "write": 0, "create": 0, "delete": 0}
PERMS = [{**_NONE, "role": "RN Editor", "read": 1, "write": 1, "create": 1},
         {**_NONE, "role": "RN Reader", "read": 1}]
DOCTYPES = [
    {"name": "RN Target", "autoname": "Prompt", "allow_rename": 1, "permissions": PERMS, "fields": [
        {"fieldname": "title", "fieldtype": "Data", "label": "Title"},
        {"fieldname": "parts", "fieldtype": "Table", "options": "RN Line", "label": "Parts"}]},
    {"name": "RN Fixed", "autoname": "Prompt", "allow_rename": 0, "permissions": PERMS, "fields": [
        {"fieldname": "title", "fieldtype": "Data", "label": "Title"}]},
    {"name": "RN Line", "istable": 1, "fields": [
        {"fieldname": "target", "fieldtype": "Link", "options": "RN Target", "label": "Target"},
        {"fieldname": "note", "fieldtype": "Data", "label": "Note"}]},
    {"name": "RN Holder", "permissions": PERMS, "fields": [
        {"fieldname": "main", "fieldtype": "Link", "options": "RN Target", "label": "Main"},
        {"fieldname": "lines", "fieldtype": "Table", "options": "RN Line", "label": "Lines"}]},
    {"name": "RN Dyn", "permissions": PERMS, "fields": [
        {"fieldname": "ref_type", "fieldtype": "Link", "options": "DocType", "label": "Ref Type"},
        {"fieldname": "ref_name", "fieldtype": "Dynamic Link", "options": "ref_type", "label": "Ref Name"}]},
    {"name": "RN Settings", "issingle": 1, "permissions": PERMS, "fields": [
        {"fieldname": "default_target", "fieldtype": "Link", "options": "RN Target", "label": "Default"}]},
]


@pytest.fixture(scope="module", params=BACKENDS)
def rn(request, tmp_path_factory):
    from ristretto.api.app import App
    from ristretto.site.install import add_user
    site = open_site(tmp_path_factory.mktemp(f"rename-{request.param}"), request.param, request)
    app = App(site)
    admin = InProcess(app, headers=token_for(site, "Administrator"))
    for role in ("RN Editor", "RN Reader"):
        assert admin.post("/api/resource/Role", json={"role_name": role}).status_code == 200
    for body in sorted(DOCTYPES, key=lambda d: not d.get("istable")):
        r = admin.post("/api/resource/DocType", json={"module": "Custom", "custom": 1, **body})
        assert r.status_code == 200, r.text
    add_user(site, EDITOR, None, ["RN Editor"])
    add_user(site, READER, None, ["RN Reader"])
    clients = {u: InProcess(app, headers=token_for(site, u)) for u in (EDITOR, READER)}
    clients["Administrator"] = admin
    yield clients
    site.close()


def _create(c: InProcess, doctype: str, **values) -> dict:
    r = c.post(f"/api/resource/{doctype}", json=values)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def _read(c: InProcess, doctype: str, name: str) -> dict:
    r = c.get(f"/api/resource/{doctype}/{name}")
    assert r.status_code == 200, r.text
    return r.json()["data"]


def _world(c: InProcess, tag: str) -> dict:
    """A target referenced from everywhere, and a same-named RN Fixed behind a Dynamic Link."""
    old = f"T-{tag}"
    _create(c, "RN Target", name=old, title=tag, parts=[{"note": "own row"}])
    _create(c, "RN Fixed", name=old, title="same name, other DocType")
    holder = _create(c, "RN Holder", main=old, lines=[{"target": old, "note": "a"}, {"target": old, "note": "b"}])
    dyn = _create(c, "RN Dyn", ref_type="RN Target", ref_name=old)
    other = _create(c, "RN Dyn", ref_type="RN Fixed", ref_name=old)
    assert c.put("/api/resource/RN Settings/RN Settings", json={"default_target": old}).status_code == 200
    return {"old": old, "holder": holder["name"], "dyn": dyn["name"], "other": other["name"]}


def _assert_points_at(c: InProcess, w: dict, name: str) -> None:
    holder = _read(c, "RN Holder", w["holder"])
    assert holder["main"] == name
    assert [row["target"] for row in holder["lines"]] == [name, name]
    assert _read(c, "RN Dyn", w["dyn"])["ref_name"] == name
    assert _read(c, "RN Settings", "RN Settings")["default_target"] == name
    # the Dynamic Link whose DocType field names another DocType keeps its value
    assert _read(c, "RN Dyn", w["other"])["ref_name"] == w["old"]
    assert _read(c, "RN Fixed", w["old"])["name"] == w["old"]


def test_rename_doc_repoints_every_reference(rn):
    admin = rn["Administrator"]
    w = _world(admin, "client")
    r = admin.post("/api/method/frappe.client.rename_doc",
                   json={"doctype": "RN Target", "old_name": w["old"], "new_name": "T-client-new"})
    assert r.status_code == 200 and r.json()["message"] == "T-client-new", r.text
    assert admin.get(f"/api/resource/RN Target/{w['old']}").status_code == 404
    renamed = _read(admin, "RN Target", "T-client-new")
    assert renamed["title"] == "client" and [p["note"] for p in renamed["parts"]] == ["own row"]
    assert renamed["parts"][0]["parent"] == "T-client-new"
    _assert_points_at(admin, w, "T-client-new")


def test_rename_document_method(rn):
    editor = rn[EDITOR]
    w = _world(rn["Administrator"], "method")
    r = editor.post(f"/api/resource/RN Target/{w['old']}", json={"run_method": "rename", "name": "T-method-new"})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["name"] == "T-method-new" and r.json()["data"]["title"] == "method"
    _assert_points_at(rn["Administrator"], w, "T-method-new")


def test_merge_into_an_existing_document(rn):
    admin = rn["Administrator"]
    w = _world(admin, "merge")
    _create(admin, "RN Target", name="T-merge-into", title="survivor", parts=[{"note": "survivor row"}])
    r = admin.post(f"/api/resource/RN Target/{w['old']}", json={"run_method": "rename", "name": "T-merge-into",
                                                              "merge": 1})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["title"] == "survivor"
    assert admin.get(f"/api/resource/RN Target/{w['old']}").status_code == 404
    assert [p["note"] for p in _read(admin, "RN Target", "T-merge-into")["parts"]] == ["survivor row"]
    _assert_points_at(admin, w, "T-merge-into")


def test_rename_refusals(rn):
    admin, editor, reader = rn["Administrator"], rn[EDITOR], rn[READER]
    _create(admin, "RN Target", name="T-ref-a", title="a")
    _create(admin, "RN Target", name="T-ref-b", title="b")

    def rename(c, old, new, merge=0, doctype="RN Target"):
        return c.post("/api/method/frappe.client.rename_doc",
                      json={"doctype": doctype, "old_name": old, "new_name": new, "merge": merge})

    # onto an existing name without merge
    r = rename(admin, "T-ref-a", "T-ref-b")
    assert r.status_code == 409 and r.json()["exc_type"] == "DuplicateEntryError", r.text
    # merging into a document that does not exist
    r = rename(admin, "T-ref-a", "T-ref-none", merge=1)
    assert r.status_code == 417 and r.json()["exc_type"] == "ValidationError", r.text
    # a DocType without allow_rename
    _create(admin, "RN Fixed", name="F-1", title="fixed")
    r = rename(admin, "F-1", "F-2", doctype="RN Fixed")
    assert r.status_code == 417 and "not allowed to be renamed" in r.text, r.text
    # read only: no rename, neither by RPC nor as a document method
    assert rename(reader, "T-ref-a", "T-ref-c").status_code == 403
    r = reader.post("/api/resource/RN Target/T-ref-a", json={"run_method": "rename", "name": "T-ref-c"})
    assert r.status_code == 403 and r.json()["exc_type"] == "PermissionError", r.text
    # write without delete: renaming yes, merging (which deletes the old document) no
    r = editor.post("/api/resource/RN Target/T-ref-a", json={"run_method": "rename", "name": "T-ref-b", "merge": 1})
    assert r.status_code == 403, r.text
    for name in ("T-ref-a", "T-ref-b"):
        assert _read(admin, "RN Target", name)["name"] == name
    assert admin.get("/api/resource/RN Target/T-ref-c").status_code == 404
