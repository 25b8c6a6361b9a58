"""Comments on documents and Version records of tracked DocTypes, through HTTP."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="module")
def tracked(server):
    with server.admin() as c:
        r = c.post("/api/resource/DocType", json={
            "name": "Tracked Row", "module": "Custom", "custom": 1, "istable": 1,
            "fields": [{"fieldname": "item", "fieldtype": "Data", "label": "Item"},
                       {"fieldname": "qty", "fieldtype": "Int", "label": "Qty"}]})
        assert r.status_code == 200, r.text
        r = c.post("/api/resource/DocType", json={
            "name": "Tracked Thing", "module": "Custom", "custom": 1, "track_changes": 1,
            "fields": [{"fieldname": "title", "fieldtype": "Data", "label": "Title"},
                       {"fieldname": "amount", "fieldtype": "Currency", "label": "Amount"},
                       {"fieldname": "rows", "fieldtype": "Table", "label": "Rows", "options": "Tracked Row"}],
            "permissions": [{"role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1}]})
        assert r.status_code == 200, r.text
    return "Tracked Thing"


def _versions(admin, doctype, name):
    r = admin.get("/api/resource/Version", params={
        "filters": json.dumps({"ref_doctype": doctype, "docname": name}),
        "fields": json.dumps(["name", "data"]), "order_by": "creation asc", "limit_page_length": 0})
    assert r.status_code == 200, r.text
    return [json.loads(v["data"]) for v in r.json()["data"]]


def test_each_save_of_a_tracked_doctype_records_its_diff(admin, tracked):
    doc = admin.post(f"/api/resource/{tracked}", json={"title": "first", "amount": 5,
                                                       "rows": [{"item": "a", "qty": 1}]}).json()["data"]
    name = doc["name"]
    assert _versions(admin, tracked, name) == []
    admin.put(f"/api/resource/{tracked}/{name}", json={"title": "second", "amount": 7})
    rows = admin.get(f"/api/resource/{tracked}/{name}").json()["data"]["rows"]
    rows[0]["qty"] = 3
    admin.put(f"/api/resource/{tracked}/{name}", json={"rows": rows + [{"item": "b", "qty": 2}]})
    admin.put(f"/api/resource/{tracked}/{name}", json={"title": "second"})  # no change: no version
    versions = _versions(admin, tracked, name)
    assert len(versions) == 2
    assert sorted(map(tuple, versions[0]["changed"])) == [("amount", 5.0, 7.0), ("title", "first", "second")]
    assert versions[1]["changed"] == []
    assert versions[1]["row_changed"][0][0] == "rows" and versions[1]["row_changed"][0][3] == [["qty", 1, 3]]
    assert versions[1]["added"][0][0] == "rows" and versions[1]["added"][0][1]["item"] == "b"


def test_untracked_doctype_records_nothing(admin):
    r = admin.post("/api/resource/DocType", json={
        "name": "Untracked Thing", "module": "Custom", "custom": 1,
        "fields": [{"fieldname": "title", "fieldtype": "Data", "label": "Title"}],
        "permissions": [{"role": "System Manager", "read": 1, "write": 1, "create": 1}]})
    assert r.status_code == 200, r.text
    name = admin.post("/api/resource/Untracked Thing", json={"title": "a"}).json()["data"]["name"]
    admin.put(f"/api/resource/Untracked Thing/{name}", json={"title": "b"})
    assert _versions(admin, "Untracked Thing", name) == []
    # ToDo tracks changes, as in Frappe
    todo = admin.post("/api/resource/ToDo", json={"description": "tracked"}).json()["data"]["name"]
    admin.put(f"/api/resource/ToDo/{todo}", json={"description": "changed"})
    assert _versions(admin, "ToDo", todo)[0]["changed"] == [["description", "tracked", "changed"]]


def test_failed_save_leaves_no_version(admin, tracked):
    name = admin.post(f"/api/resource/{tracked}", json={"title": "x"}).json()["data"]["name"]
    r = admin.put(f"/api/resource/{tracked}/{name}", json={"title": "y", "amount": "1e30"})
    assert r.status_code == 417
    assert _versions(admin, tracked, name) == []


def test_add_and_delete_comment(server, admin):
    name = admin.post("/api/resource/ToDo", json={"description": "commented"}).json()["data"]["name"]
    r = admin.post("/api/method/frappe.desk.form.utils.add_comment",
                   json={"reference_doctype": "ToDo", "reference_name": name, "content": "<p>Nice</p>",
                         "comment_email": "Administrator", "comment_by": "Administrator"})
    assert r.status_code == 200, r.text
    comment = r.json()["message"]
    assert comment["comment_type"] == "Comment" and comment["reference_name"] == name
    listed = admin.get("/api/resource/Comment", params={
        "filters": json.dumps([["reference_doctype", "=", "ToDo"], ["reference_name", "=", name]]),
        "fields": json.dumps(["name", "content", "comment_email"])}).json()["data"]
    assert listed == [{"name": comment["name"], "content": "<p>Nice</p>", "comment_email": "Administrator"}]
    # GET is not allowed for this writer; empty comments are refused
    assert admin.get("/api/method/frappe.desk.form.utils.add_comment",
                     params={"reference_doctype": "ToDo", "reference_name": name, "content": "x"}).status_code == 403
    r = admin.post("/api/method/frappe.desk.form.utils.add_comment",
                   json={"reference_doctype": "ToDo", "reference_name": name, "content": "  "})
    assert r.status_code == 417
    r = admin.post("/api/method/frappe.desk.form.utils.add_comment",
                   json={"reference_doctype": "ToDo", "reference_name": "missing", "content": "x"})
    assert r.status_code == 404
    assert admin.post("/api/method/frappe.client.delete_comment", json={"name": comment["name"]}).status_code == 200
    assert admin.get(f"/api/resource/Comment/{comment['name']}").status_code == 404


def test_comment_needs_read_permission_on_the_document(server, admin):
    server.cli("add-user", "reader@example.com", "--password", "reader-pw-1")
    admin.put("/api/resource/User/reader@example.com", json={"user_type": "Website User"})
    name = admin.post("/api/resource/ToDo", json={"description": "private"}).json()["data"]["name"]
    with server.client() as c:
        c.post("/api/method/login", json={"usr": "reader@example.com", "pwd": "reader-pw-1"})
        r = c.post("/api/method/frappe.desk.form.utils.add_comment",
                   json={"reference_doctype": "ToDo", "reference_name": name, "content": "sneaky"})
        assert r.status_code == 403


def test_add_comment_as_document_method(admin):
    name = admin.post("/api/resource/ToDo", json={"description": "doc method comment"}).json()["data"]["name"]
    r = admin.post(f"/api/resource/ToDo/{name}", json={"run_method": "add_comment", "text": "hello"})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["content"] == "hello" and r.json()["data"]["reference_name"] == name
    assert admin.get(f"/api/resource/ToDo/{name}", params={"run_method": "add_comment", "text": "x"}).status_code == 403
