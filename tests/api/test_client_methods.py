"""``frappe.client.*`` over HTTP on both databases (``08-client-methods.md``).

Each method with its quirks: argument shapes (JSON text or native values, ``fieldname``
as string / list / object, ``filters`` as a name / object / list), return shapes (full
documents *with* null fields, ``{}`` versus no ``message``), child rows saved through
their parent, the timestamp check of ``save``/``submit``, per-item failures of
``bulk_update``, renaming with Link repointing, and the JS SDK request shapes of
``10-real-client-traffic.md`` rows 146-171. Requests are made as Administrator (API
key), as Guest, and as a user holding no role on the test DocTypes.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest

SUBMITTABLE = "Conformance Submittable"
LINE = "RPC Line"
PARENT = "RPC Parent"
TARGET = "RPC Target"
SETTINGS = "RPC Settings"
SM_PERMS = [{"role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1, "submit": 1,
             "cancel": 1, "amend": 1}]


# --- helpers -------------------------------------------------------------------------------------

def rpc(client, method: str, verb: str = "GET", **kw):
    return client.request(verb, f"/api/method/frappe.client.{method}", **kw)


def message(r, status: int = 200) -> Any:
    assert r.status_code == status, f"{r.request.method} {r.request.url} -> {r.status_code}: {r.text[:1500]}"
    return r.json().get("message")


def fails(r, status: int, exc_type: str) -> dict:
    assert (r.status_code, r.json().get("exc_type")) == (status, exc_type), \
        f"{r.request.method} {r.request.url} -> {r.status_code}: {r.text[:1500]}"
    return r.json()


def messages(body: dict) -> list[str]:
    return [json.loads(m)["message"] for m in json.loads(body.get("_server_messages") or "[]")]


def url(doctype: str, name: Any = None) -> str:
    out = "/api/resource/" + quote(doctype, safe="")
    return out if name is None else out + "/" + quote(str(name), safe="")


def create(admin, doctype: str, **values) -> dict:
    r = admin.post(url(doctype), json=values)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def read(admin, doctype: str, name: Any) -> dict | None:
    r = admin.get(url(doctype, name))
    return r.json()["data"] if r.status_code == 200 else None


@pytest.fixture(scope="module")
def doctypes(server):
    """The DocTypes the tests use, created over HTTP once per server."""
    definitions = [
        {"name": SUBMITTABLE, "is_submittable": 1,
         "fields": [{"fieldname": "title", "fieldtype": "Data", "label": "Title"}]},
        {"name": TARGET, "autoname": "Prompt", "allow_rename": 1,
         "fields": [{"fieldname": "label", "fieldtype": "Data", "label": "Label"}]},
        {"name": LINE, "istable": 1, "permissions": [],
         "fields": [{"fieldname": "item", "fieldtype": "Data", "label": "Item", "reqd": 1},
                    {"fieldname": "qty", "fieldtype": "Int", "label": "Qty"},
                    {"fieldname": "target", "fieldtype": "Link", "label": "Target", "options": TARGET}]},
        {"name": PARENT,
         "fields": [{"fieldname": "title", "fieldtype": "Data", "label": "Title", "reqd": 1},
                    {"fieldname": "qty", "fieldtype": "Int", "label": "Qty"},
                    {"fieldname": "note", "fieldtype": "Data", "label": "Note"},
                    {"fieldname": "secret", "fieldtype": "Password", "label": "Secret"},
                    {"fieldname": "ref", "fieldtype": "Link", "label": "Ref", "options": TARGET},
                    {"fieldname": "lines", "fieldtype": "Table", "label": "Lines", "options": LINE}]},
        {"name": SETTINGS, "issingle": 1,
         "fields": [{"fieldname": "site_title", "fieldtype": "Data", "label": "Site Title"},
                    {"fieldname": "max_items", "fieldtype": "Int", "label": "Max Items"},
                    {"fieldname": "enabled", "fieldtype": "Check", "label": "Enabled"},
                    {"fieldname": "tagline", "fieldtype": "Data", "label": "Tagline"}]},
    ]
    with server.admin() as admin:
        for d in definitions:
            body = {"module": "Custom", "custom": 1, "permissions": SM_PERMS, **d}
            r = admin.post(url("DocType"), json=body)
            assert r.status_code == 200, r.text
    return SUBMITTABLE


@pytest.fixture(scope="module")
def plain(server, doctypes):
    """A logged-in client of a user holding no role on the test DocTypes."""
    server.cli("add-user", "client-plain@example.com", "--password", "client-plain-pw-1")
    with server.client() as c:
        r = c.post("/api/method/login", json={"usr": "client-plain@example.com", "pwd": "client-plain-pw-1"})
        assert r.status_code == 200, r.text
        yield c


def parent_doc(admin, title: str, **values) -> dict:
    return create(admin, PARENT, title=title, **values)


# --- get_list / get_count -------------------------------------------------------------------------

def test_get_list_shapes(server, admin, doctypes):
    marker = "gl-shapes"
    for i, prio in enumerate(("High", "Low", "High")):
        create(admin, "ToDo", description=f"{marker} {i}", priority=prio, date=f"2024-01-0{i + 1}")
    filters = [["description", "like", f"{marker}%"]]
    rows = message(rpc(admin, "get_list", params={"doctype": "ToDo", "fields": '["name", "date"]',
                                                  "filters": json.dumps(filters), "order_by": "date asc"}))
    assert [r["date"] for r in rows] == ["2024-01-01", "2024-01-02", "2024-01-03"]
    # JSON body with native values; limit_start / limit_page_length page; or_filters
    rows = message(rpc(admin, "get_list", "POST", json={
        "doctype": "ToDo", "fields": ["description"], "filters": filters, "order_by": "date asc",
        "limit_start": 1, "limit_page_length": 1}))
    assert rows == [{"description": f"{marker} 1"}]
    rows = message(rpc(admin, "get_list", params={
        "doctype": "ToDo", "fields": '["name"]', "filters": json.dumps(filters),
        "or_filters": json.dumps([["priority", "=", "Low"], ["date", "=", "2024-01-03"]])}))
    assert len(rows) == 2
    # limit / start / page_length are not parameters of this method: ignored (default 20 rows)
    rows = message(rpc(admin, "get_list", params={"doctype": "ToDo", "filters": json.dumps(filters),
                                                  "limit": 1, "page_length": 1, "start": 2}))
    assert len(rows) == 3
    rows = message(rpc(admin, "get_list", params={"doctype": "ToDo", "fields": '["name", "priority"]',
                                                  "filters": json.dumps(filters), "as_dict": "0",
                                                  "order_by": "date asc"}))
    assert [r[1] for r in rows] == ["High", "Low", "High"]
    groups = message(rpc(admin, "get_list", params={
        "doctype": "ToDo", "fields": '["priority", "count(name) as n"]', "filters": json.dumps(filters),
        "group_by": "priority", "order_by": "priority asc"}))
    assert groups == [{"priority": "High", "n": 2}, {"priority": "Low", "n": 1}]
    # the JS SDK / connector shape (rows 76, 167)
    rows = message(admin.get("/api/method/frappe.client.get_list", params={
        "doctype": "ToDo", "fields": '["name"]', "filters": json.dumps(filters),
        "or_filters": '[["priority","=","High"],["status","=","Cancelled"]]', "order_by": "date desc"}))
    assert len(rows) == 2
    fails(rpc(admin, "get_list", params={"doctype": "ToDo", "filters": '[["nope", "=", 1]]'}),
          417, "DataError")
    fails(rpc(admin, "get_list", params={"doctype": "No Such DocType"}), 404, "DoesNotExistError")


def test_get_list_of_child_rows_needs_a_parent(server, admin, doctypes):
    doc = parent_doc(admin, "gl-child", lines=[{"item": "gl-child-a"}, {"item": "gl-child-b"}])
    rows = message(rpc(admin, "get_list", params={"doctype": LINE, "parent": PARENT, "fields": '["item"]',
                                                  "filters": json.dumps({"parent": doc["name"]}),
                                                  "order_by": "idx asc"}))
    assert rows == [{"item": "gl-child-a"}, {"item": "gl-child-b"}]
    fails(rpc(admin, "get_list", params={"doctype": LINE}), 403, "PermissionError")
    fails(rpc(admin, "get_list", params={"doctype": LINE, "parent": "ToDo"}), 403, "PermissionError")


def test_get_count(server, admin, doctypes):
    marker = "gc-count"
    names = [create(admin, "ToDo", description=f"{marker} {i}", status="Open" if i else "Closed")["name"]
             for i in range(4)]
    like = [["description", "like", f"%{marker}%"]]
    # JS SDK rows 146 / 147
    assert message(admin.get("/api/method/frappe.client.get_count",
                             params={"doctype": "ToDo", "filters": json.dumps(like)})) == 4
    assert message(admin.get("/api/method/frappe.client.get_count", params={
        "doctype": "ToDo", "filters": json.dumps(like + [["status", "=", "Open"]])})) == 3
    assert message(rpc(admin, "get_count", params={"doctype": "ToDo",
                                                    "filters": json.dumps({"description": f"{marker} 0"})})) == 1
    # a plain string is a document name
    assert message(rpc(admin, "get_count", params={"doctype": "ToDo", "filters": names[2]})) == 1
    # or_filters, limit and distinct come from the whole request
    assert message(rpc(admin, "get_count", params={
        "doctype": "ToDo", "filters": json.dumps(like),
        "or_filters": json.dumps([["status", "=", "Closed"], ["name", "=", names[1]]])})) == 2
    assert message(rpc(admin, "get_count", params={"doctype": "ToDo", "filters": json.dumps(like),
                                                   "limit": 2})) == 2
    parent = parent_doc(admin, "gc-distinct", lines=[{"item": "gc-x"}, {"item": "gc-x"}, {"item": "gc-y"}])
    child_filter = json.dumps([[LINE, "item", "like", "gc-%"], [PARENT, "name", "=", parent["name"]]])
    assert message(rpc(admin, "get_count", params={"doctype": PARENT, "filters": child_filter,
                                                   "distinct": "1"})) == 1
    assert message(rpc(admin, "get_count", "POST", json={"doctype": "ToDo", "filters": like})) == 4


# --- get ---------------------------------------------------------------------------------------------

def test_get_returns_the_full_document_with_nulls(server, admin, doctypes):
    doc = parent_doc(admin, "get-full", qty=2, lines=[{"item": "get-a", "qty": 1}])
    full = message(rpc(admin, "get", params={"doctype": PARENT, "name": doc["name"]}))
    assert full["name"] == doc["name"] and full["doctype"] == PARENT
    assert "note" in full and full["note"] is None and full["ref"] is None  # nulls included
    assert [r["item"] for r in full["lines"]] == ["get-a"] and "target" in full["lines"][0]
    # by filters: a JSON object, also {} (first match), the connector's shape (row 74)
    by_filter = message(rpc(admin, "get", params={"doctype": PARENT,
                                                  "filters": json.dumps({"title": "get-full"})}))
    assert by_filter["name"] == doc["name"]
    assert message(rpc(admin, "get", params={"doctype": PARENT, "filters": "{}"}))["doctype"] == PARENT
    fails(rpc(admin, "get", params={"doctype": PARENT, "filters": json.dumps({"title": "no-such"})}),
          404, "DoesNotExistError")
    fails(rpc(admin, "get", params={"doctype": PARENT, "name": "no-such-doc"}), 404, "DoesNotExistError")
    # without name or filters: the Single's record; other DocTypes have none
    assert message(rpc(admin, "get", params={"doctype": SETTINGS}))["doctype"] == SETTINGS
    fails(rpc(admin, "get", params={"doctype": "ToDo"}), 404, "DoesNotExistError")


def test_get_child_row_through_its_parent(server, admin, doctypes):
    doc = parent_doc(admin, "get-child", lines=[{"item": "get-child-a"}])
    row_name = doc["lines"][0]["name"]
    row = message(rpc(admin, "get", params={"doctype": LINE, "name": row_name, "parent": PARENT}))
    assert row["item"] == "get-child-a" and row["parent"] == doc["name"]
    fails(rpc(admin, "get", params={"doctype": LINE, "name": row_name}), 403, "PermissionError")


# --- get_value / get_single_value ------------------------------------------------------------------

def test_get_value_argument_shapes(server, admin, doctypes):
    t = create(admin, "ToDo", description="gv-shapes", priority="High")
    name = t["name"]
    get = lambda **p: message(rpc(admin, "get_value", params={"doctype": "ToDo", **p}))  # noqa: E731
    # fieldname: one name, a JSON list; filters: a name, a dict, a list (rows 33, 75, 161)
    assert get(fieldname="status", filters=json.dumps({"name": name})) == {"status": "Open"}
    assert get(fieldname='["status", "priority"]', filters=name) == {"status": "Open", "priority": "High"}
    assert get(fieldname='["status","priority"]', filters=json.dumps([["name", "=", name]]), as_dict="true",
               debug="false") == {"status": "Open", "priority": "High"}
    assert get(fieldname="priority", filters=name, as_dict="0") == "High"
    assert get(fieldname='["status", "priority"]', filters=name, as_dict="0") == ["Open", "High"]
    assert get(fieldname="count(name) as n", filters=json.dumps({"description": "gv-shapes"})) == {"n": 1}
    # JSON body with native values
    assert message(rpc(admin, "get_value", "POST", json={
        "doctype": "ToDo", "fieldname": ["priority"], "filters": {"name": name}})) == {"priority": "High"}
    # nothing matches: {} with as_dict, else no message at all
    assert get(fieldname="status", filters="no-such-name") == {}
    r = rpc(admin, "get_value", params={"doctype": "ToDo", "fieldname": "status", "filters": "no-such",
                                        "as_dict": "false"})
    assert r.status_code == 200 and "message" not in r.json()
    fails(rpc(admin, "get_value", params={"doctype": "ToDo", "fieldname": "no_such_field", "filters": name}),
          417, "DataError")


def test_get_value_on_a_single_and_get_single_value(server, admin, doctypes):
    r = admin.put(url(SETTINGS, SETTINGS), json={"site_title": "Ristretto", "max_items": "7", "enabled": 1})
    assert r.status_code == 200, r.text
    assert message(rpc(admin, "get_value", params={"doctype": SETTINGS, "fieldname": '["site_title", "max_items"]'})) \
        == {"site_title": "Ristretto", "max_items": 7}
    assert message(rpc(admin, "get_value", params={"doctype": SETTINGS, "fieldname": "enabled",
                                                   "as_dict": "0"})) == 1
    assert message(rpc(admin, "get_value", params={"doctype": SETTINGS, "fieldname": "site_title",
                                                   "filters": json.dumps({"site_title": "Other"})})) == {}
    fails(rpc(admin, "get_value", params={"doctype": SETTINGS, "fieldname": "nope"}), 417, "ValidationError")
    single = lambda field: rpc(admin, "get_single_value", params={"doctype": SETTINGS, "field": field})  # noqa: E731
    assert message(single("max_items")) == 7
    assert message(single("site_title")) == "Ristretto"
    assert message(single("tagline")) == ""  # typed: empty text, not null
    fails(single("nope"), 417, "ValidationError")
    fails(rpc(admin, "get_single_value", params={"doctype": "ToDo", "field": "status"}), 417, "ValidationError")


def test_reads_are_permission_checked(server, plain, doctypes, admin):
    doc = parent_doc(admin, "perm-read")
    fails(rpc(plain, "get_value", params={"doctype": PARENT, "fieldname": "title", "filters": doc["name"]}),
          403, "PermissionError")
    fails(rpc(plain, "get", params={"doctype": PARENT, "name": doc["name"]}), 403, "PermissionError")
    fails(rpc(plain, "get_list", params={"doctype": PARENT}), 403, "PermissionError")
    fails(rpc(plain, "get_count", params={"doctype": PARENT}), 403, "PermissionError")
    fails(rpc(plain, "get_single_value", params={"doctype": SETTINGS, "field": "site_title"}),
          403, "PermissionError")


# --- permission reports -----------------------------------------------------------------------------

def test_has_permission_reports_and_never_throws(server, admin, plain, doctypes):
    doc = parent_doc(admin, "hp")
    ask = lambda c, **p: message(rpc(c, "has_permission", params={"doctype": PARENT, **p}))  # noqa: E731
    assert ask(admin, docname=doc["name"]) == {"has_permission": True}
    assert ask(admin, docname=doc["name"], perm_type="WRITE") == {"has_permission": True}
    assert ask(admin, docname="no-such-doc") == {"has_permission": False}
    assert message(rpc(admin, "has_permission", params={"doctype": "No Such", "docname": "x"})) == \
        {"has_permission": False}
    assert ask(plain, docname=doc["name"]) == {"has_permission": False}
    assert ask(plain, docname=doc["name"], perm_type="delete") == {"has_permission": False}


def test_get_doc_permissions(server, admin, plain, doctypes):
    doc = parent_doc(admin, "gdp")
    perms = message(rpc(admin, "get_doc_permissions", params={"doctype": PARENT, "docname": doc["name"]}))
    assert perms["permissions"]["read"] == 1 and perms["permissions"]["write"] == 1
    assert set(perms["permissions"]) >= {"select", "read", "write", "create", "delete", "share"}
    fails(rpc(admin, "get_doc_permissions", params={"doctype": PARENT, "docname": "nope"}), 404, "DoesNotExistError")
    fails(rpc(plain, "get_doc_permissions", params={"doctype": PARENT, "docname": doc["name"]}),
          403, "PermissionError")


def test_get_password(server, admin, plain, doctypes):
    doc = parent_doc(admin, "pw", secret="s3cret!")
    ask = lambda c, **p: rpc(c, "get_password", params={"doctype": PARENT, "name": doc["name"], **p})  # noqa: E731
    assert message(ask(admin, fieldname="secret")) == "s3cret!"
    fails(ask(admin, fieldname="title"), 417, "ValidationError")  # not a Password field
    blank = parent_doc(admin, "pw-blank")
    fails(rpc(admin, "get_password", params={"doctype": PARENT, "name": blank["name"], "fieldname": "secret"}),
          417, "ValidationError")
    # hashed secrets are not retrievable
    fails(rpc(admin, "get_password", params={"doctype": "User", "name": "Administrator",
                                             "fieldname": "api_secret"}), 417, "ValidationError")
    body = fails(ask(plain, fieldname="secret"), 403, "PermissionError")
    assert messages(body) == ["This action is only allowed for <b>System Manager</b>"]
    with server.client() as guest:
        fails(ask(guest, fieldname="secret"), 403, "PermissionError")


def test_get_time_zone_is_guest_callable(server):
    with server.client() as guest:
        tz = message(guest.get("/api/method/frappe.client.get_time_zone"))
    assert set(tz) == {"time_zone"} and isinstance(tz["time_zone"], str) and tz["time_zone"]


def test_validate_link(server, admin, doctypes):
    create(admin, TARGET, name="Alpha Target", label="first")
    def ask(verb: str = "GET", **params):
        return message(rpc(admin, "validate_link", verb, params={"doctype": TARGET, **params}))

    assert ask(docname="Alpha Target") == {"name": "Alpha Target"}
    assert ask(docname="alpha target") == {"name": "Alpha Target"}  # stored case, as MariaDB finds it
    assert ask(docname="Alpha Target", fields='["label"]') == {"name": "Alpha Target", "label": "first"}
    assert ask("POST", docname="Alpha Target") == {"name": "Alpha Target"}
    assert ask(docname="No Such Target") == {"name": None}  # Frappe sets values.name either way
    fails(rpc(admin, "validate_link", "PUT", params={"doctype": TARGET, "docname": "Alpha Target"}),
          403, "PermissionError")
    with server.client() as guest:
        fails(rpc(guest, "validate_link", params={"doctype": TARGET, "docname": "Alpha Target"}),
              403, "PermissionError")


# --- insert / insert_many --------------------------------------------------------------------------------

def test_insert_returns_the_document_with_nulls(server, admin, doctypes):
    doc = message(rpc(admin, "insert", "POST", json={"doc": {"doctype": PARENT, "title": "ins-1", "qty": "3"}}))
    assert doc["title"] == "ins-1" and doc["qty"] == 3 and doc["note"] is None and doc["lines"] == []
    # JSON text in a form field, as FrappeClient sends it
    doc2 = message(rpc(admin, "insert", "POST", data={"doc": json.dumps({"doctype": "ToDo",
                                                                         "description": "ins-form"})}))
    assert doc2["doctype"] == "ToDo" and doc2["status"] == "Open" and read(admin, "ToDo", doc2["name"])
    fails(rpc(admin, "insert", "POST", json={"doc": {"title": "no doctype"}}), 417, "ValidationError")
    fails(rpc(admin, "insert", "POST", json={"doc": [1, 2]}), 417, "DataError")
    fails(rpc(admin, "insert", "POST", data={"doc": "{not json"}), 417, "DataError")
    fails(rpc(admin, "insert", "POST", json={"doc": {"doctype": PARENT}}), 417, "MandatoryError")


def test_insert_child_row_appends_to_parent(server, admin, doctypes):
    doc = parent_doc(admin, "ins-child", lines=[{"item": "first"}])
    parent = message(rpc(admin, "insert", "POST", json={"doc": {
        "doctype": LINE, "parent": doc["name"], "parenttype": PARENT, "parentfield": "lines",
        "item": "second", "qty": 2}}))
    assert parent["doctype"] == PARENT and parent["name"] == doc["name"]
    assert [(r["item"], r["idx"]) for r in parent["lines"]] == [("first", 1), ("second", 2)]
    assert parent["lines"][0]["name"] == doc["lines"][0]["name"]  # the existing row is kept
    assert [r["item"] for r in read(admin, PARENT, doc["name"])["lines"]] == ["first", "second"]
    fails(rpc(admin, "insert", "POST", json={"doc": {"doctype": LINE, "item": "orphan"}}), 417, "ValidationError")
    fails(rpc(admin, "insert", "POST", json={"doc": {"doctype": LINE, "item": "x", "parent": doc["name"],
                                                     "parenttype": PARENT, "parentfield": "title"}}),
          417, "ValidationError")
    names = message(rpc(admin, "insert_many", "POST", json={"docs": [
        {"doctype": LINE, "parent": doc["name"], "parenttype": PARENT, "parentfield": "lines", "item": "third"}]}))
    assert names == [doc["name"]]


def test_insert_many(server, admin, doctypes):
    # the JS SDK's JSON shape (row 165) and FrappeClient's form shape (row 37)
    names = message(admin.post("/api/method/frappe.client.insert_many", json={"docs": [
        {"doctype": "ToDo", "description": "im js 0"}, {"doctype": "ToDo", "description": "im js 1"}]}))
    assert [read(admin, "ToDo", n)["description"] for n in names] == ["im js 0", "im js 1"]
    names = message(rpc(admin, "insert_many", "POST", data={"docs": json.dumps([
        {"doctype": PARENT, "title": "im a"}, {"doctype": PARENT, "title": "im b"}])}))
    assert len(names) == 2 and read(admin, PARENT, names[1])["title"] == "im b"
    body = fails(rpc(admin, "insert_many", "POST", json={"docs": [{"doctype": "ToDo", "description": "x"}] * 201}),
                 417, "ValidationError")
    assert messages(body) == ["Only 200 inserts allowed in one request"]
    fails(rpc(admin, "insert_many", "POST", json={"docs": {"doctype": "ToDo"}}), 417, "DataError")
    fails(rpc(admin, "insert_many", "POST", json={"docs": ["ToDo"]}), 417, "DataError")


def test_insert_many_is_all_or_nothing(server, admin, doctypes):
    before = message(rpc(admin, "get_count", params={"doctype": PARENT}))
    r = rpc(admin, "insert_many", "POST", json={"docs": [
        {"doctype": PARENT, "title": "im atomic 1"}, {"doctype": PARENT, "title": "im atomic 2"},
        {"doctype": PARENT}]})  # the third misses its mandatory title
    fails(r, 417, "MandatoryError")
    assert message(rpc(admin, "get_count", params={"doctype": PARENT})) == before


# --- save / set_value -------------------------------------------------------------------------------------

def test_save_replaces_the_document_with_timestamp_check(server, admin, doctypes):
    doc = parent_doc(admin, "save-1", qty=5, note="keep?", lines=[{"item": "a"}])
    current = message(rpc(admin, "get", params={"doctype": PARENT, "name": doc["name"]}))
    sent = {"doctype": PARENT, "name": doc["name"], "modified": current["modified"], "title": "save-2"}
    saved = message(rpc(admin, "save", "POST", json={"doc": sent}))
    # built from the dict alone: what it leaves out is cleared
    assert saved["title"] == "save-2" and saved["qty"] == 0 and saved["note"] is None and saved["lines"] == []
    assert read(admin, PARENT, doc["name"])["title"] == "save-2"
    # the same stale modified again, and no modified at all: TimestampMismatchError
    fails(rpc(admin, "save", "POST", json={"doc": sent}), 417, "TimestampMismatchError")
    fails(rpc(admin, "save", "PUT", data={"doc": json.dumps({**sent, "modified": None})}),
          417, "TimestampMismatchError")
    # the full dict as returned saves unchanged
    again = message(rpc(admin, "save", "POST", json={"doc": {**saved, "note": "back"}}))
    assert again["note"] == "back" and again["title"] == "save-2"
    # without a name: a new document
    new = message(rpc(admin, "save", "POST", json={"doc": {"doctype": PARENT, "title": "save-new"}}))
    assert read(admin, PARENT, new["name"])["title"] == "save-new"
    fails(rpc(admin, "save", "POST", json={"doc": {**sent, "name": "no-such-doc"}}), 404, "DoesNotExistError")


def test_set_value_shapes(server, admin, doctypes):
    doc = parent_doc(admin, "sv", qty=4, note="n")
    name = doc["name"]
    out = message(rpc(admin, "set_value", "POST", json={"doctype": PARENT, "name": name, "fieldname": "note",
                                                        "value": "changed"}))
    assert out["note"] == "changed" and out["secret"] is None  # the full dict, nulls included
    # fieldname as an object (JS SDK row 164) and as JSON text in a form
    out = message(rpc(admin, "set_value", "POST", json={"doctype": PARENT, "name": name,
                                                        "fieldname": {"qty": 9, "note": "both"}}))
    assert (out["qty"], out["note"]) == (9, "both")
    out = message(rpc(admin, "set_value", "PUT", data={"doctype": PARENT, "name": name,
                                                       "fieldname": json.dumps({"qty": 1})}))
    assert out["qty"] == 1
    # a falsy value with a plain fieldname clears the field
    out = message(rpc(admin, "set_value", "POST", json={"doctype": PARENT, "name": name, "fieldname": "note",
                                                        "value": ""}))
    assert out["note"] in (None, "")
    out = message(rpc(admin, "set_value", "POST", json={"doctype": PARENT, "name": name, "fieldname": "qty",
                                                        "value": 0}))
    assert out["qty"] == 0
    for field in ("name", "owner", "modified", "docstatus", "parent", "doctype"):
        body = fails(rpc(admin, "set_value", "POST", data={"doctype": PARENT, "name": name, "fieldname": field,
                                                           "value": "x"}), 417, "ValidationError")
        assert messages(body) == ["Cannot edit standard fields"]
    fails(rpc(admin, "set_value", "POST", json={"doctype": PARENT, "name": name, "fieldname": "[1, 2]"}),
          417, "ValidationError")
    fails(rpc(admin, "set_value", "POST", json={"doctype": PARENT, "name": "nope", "fieldname": "qty",
                                                "value": 1}), 404, "DoesNotExistError")
    # JS SDK row 163
    t = create(admin, "ToDo", description="sv js")
    out = message(admin.post("/api/method/frappe.client.set_value", json={
        "doctype": "ToDo", "name": t["name"], "fieldname": "status", "value": "Closed"}))
    assert out["status"] == "Closed"


def test_set_value_on_a_child_row_returns_the_parent(server, admin, doctypes):
    doc = parent_doc(admin, "sv-child", lines=[{"item": "a", "qty": 1}, {"item": "b", "qty": 2}])
    row = doc["lines"][1]["name"]
    out = message(rpc(admin, "set_value", "POST", json={"doctype": LINE, "name": row, "fieldname": "qty",
                                                        "value": 7}))
    assert out["doctype"] == PARENT and out["name"] == doc["name"]
    assert [(r["item"], r["qty"]) for r in out["lines"]] == [("a", 1), ("b", 7)]


def test_writes_are_permission_checked(server, admin, plain, doctypes):
    doc = parent_doc(admin, "perm-write")
    fails(rpc(plain, "set_value", "POST", json={"doctype": PARENT, "name": doc["name"], "fieldname": "note",
                                                "value": "x"}), 403, "PermissionError")
    fails(rpc(plain, "insert", "POST", json={"doc": {"doctype": PARENT, "title": "x"}}), 403, "PermissionError")
    fails(rpc(plain, "delete", "POST", data={"doctype": PARENT, "name": doc["name"]}), 403, "PermissionError")
    assert read(admin, PARENT, doc["name"]).get("note") is None


# --- submit / cancel / amended ------------------------------------------------------------------------------

def test_submit_and_cancel_js_sdk_shapes(server, admin, doctypes):
    """Rows 168-171: create, read, submit the full dict, cancel by name."""
    created = admin.post(url(SUBMITTABLE), json={"title": "js submit"}).json()["data"]
    current = admin.get(url(SUBMITTABLE, created["name"])).json()["data"]
    doc = {"name": current["name"], "owner": current["owner"], "creation": current["creation"],
           "modified": current["modified"], "modified_by": current["modified_by"], "docstatus": 0, "idx": 0,
           "title": "js submit", "amended_from": None, "doctype": SUBMITTABLE}
    submitted = message(admin.post("/api/method/frappe.client.submit", json={"doc": doc}))
    assert submitted["docstatus"] == 1 and submitted["amended_from"] is None  # nulls included
    # the same (now stale) dict again: the timestamp check refuses it
    fails(admin.post("/api/method/frappe.client.submit", json={"doc": doc}), 417, "TimestampMismatchError")
    cancelled = message(admin.post("/api/method/frappe.client.cancel",
                                   json={"doctype": SUBMITTABLE, "name": created["name"]}))
    assert cancelled["docstatus"] == 2
    assert read(admin, SUBMITTABLE, created["name"])["docstatus"] == 2
    fails(admin.post("/api/method/frappe.client.cancel", json={"doctype": SUBMITTABLE, "name": created["name"]}),
          417, "ValidationError")


def test_submit_and_cancel_connector_shapes(server, admin, doctypes):
    """Rows 77-81: the draft read back, submitted through cmd=, cancelled by form post."""
    created = admin.post(url(SUBMITTABLE), data={"data": json.dumps({"doctype": SUBMITTABLE,
                                                                      "title": "fcn submit"})}).json()["data"]
    current = admin.get(url(SUBMITTABLE, created["name"])).json()["data"]
    submitted = message(admin.post("/", data={"cmd": "frappe.client.submit", "doc": json.dumps(current)}))
    assert submitted["docstatus"] == 1
    cancelled = message(admin.post("/api/method/frappe.client.cancel",
                                   data={"doctype": SUBMITTABLE, "name": created["name"]}))
    assert cancelled["docstatus"] == 2


def test_cancel_refuses_a_draft_and_submit_a_non_submittable(server, admin, doctypes):
    draft = create(admin, SUBMITTABLE, title="draft")
    fails(rpc(admin, "cancel", "POST", json={"doctype": SUBMITTABLE, "name": draft["name"]}),
          417, "DocstatusTransitionError")
    t = read(admin, "ToDo", create(admin, "ToDo", description="not submittable")["name"])
    fails(rpc(admin, "submit", "POST", json={"doc": t}), 417, "ValidationError")
    # submit of a dict without name inserts it submitted
    new = message(rpc(admin, "submit", "POST", json={"doc": {"doctype": SUBMITTABLE, "title": "direct"}}))
    assert new["docstatus"] == 1 and read(admin, SUBMITTABLE, new["name"])["docstatus"] == 1


def test_is_document_amended(server, admin, doctypes):
    original = message(rpc(admin, "submit", "POST", json={"doc": {"doctype": SUBMITTABLE, "title": "amend me"}}))
    name = original["name"]
    ask = lambda dt=SUBMITTABLE, dn=name: message(rpc(admin, "is_document_amended",  # noqa: E731
                                                      params={"doctype": dt, "docname": dn}))
    assert ask() is False
    rpc(admin, "cancel", "POST", json={"doctype": SUBMITTABLE, "name": name})
    amended = create(admin, SUBMITTABLE, title="amended", amended_from=name)
    assert amended["amended_from"] == name
    assert ask() is True
    assert ask(dn="no-such") is False
    assert ask(dt="ToDo", dn="x") is False  # no amended_from on ToDo


# --- delete ------------------------------------------------------------------------------------------------

def test_delete(server, admin, doctypes):
    a, b = (create(admin, "ToDo", description=f"del {i}")["name"] for i in range(2))
    r = admin.delete("/api/method/frappe.client.delete", params={"doctype": "ToDo", "name": a})
    assert r.status_code == 200 and r.json() == {}
    assert read(admin, "ToDo", a) is None
    assert admin.post("/api/method/frappe.client.delete", data={"doctype": "ToDo", "name": b}).json() == {}
    assert read(admin, "ToDo", b) is None
    fails(rpc(admin, "delete", "POST", data={"doctype": "ToDo", "name": b}), 404, "DoesNotExistError")
    fails(rpc(admin, "delete", params={"doctype": "ToDo", "name": b}), 403, "PermissionError")


def test_delete_child_row_saves_the_parent(server, admin, doctypes):
    doc = parent_doc(admin, "del-child", lines=[{"item": "a"}, {"item": "b"}, {"item": "c"}])
    r = rpc(admin, "delete", "POST", json={"doctype": LINE, "name": doc["lines"][1]["name"]})
    assert r.status_code == 200 and r.json() == {}
    after = read(admin, PARENT, doc["name"])
    assert [(row["item"], row["idx"]) for row in after["lines"]] == [("a", 1), ("c", 2)]
    assert after["modified"] > doc["modified"]
    fails(rpc(admin, "delete", "POST", json={"doctype": LINE, "name": doc["lines"][1]["name"]}),
          404, "DoesNotExistError")


# --- bulk_update ---------------------------------------------------------------------------------------------

def test_bulk_update_collects_failures(server, admin, doctypes):
    good = parent_doc(admin, "bulk good")
    other = parent_doc(admin, "bulk other", qty=1)
    docs = [{"doctype": PARENT, "docname": good["name"], "note": "updated", "flags": {"x": 1}},
            {"doctype": PARENT, "docname": "no-such-doc", "note": "lost"},
            {"doctype": PARENT, "docname": other["name"], "qty": 2, "title": ""}]  # title is mandatory
    out = message(rpc(admin, "bulk_update", "POST", data={"docs": json.dumps(docs)}))
    assert [f["doc"]["docname"] for f in out["failed_docs"]] == ["no-such-doc", other["name"]]
    assert all(isinstance(f["exc"], str) and f["exc"] for f in out["failed_docs"])
    assert "flags" not in json.dumps(out)
    assert read(admin, PARENT, good["name"])["note"] == "updated"
    assert read(admin, PARENT, other["name"])["qty"] == 1  # the failed item left nothing behind
    ok = message(rpc(admin, "bulk_update", "PUT", json={"docs": [{"doctype": PARENT, "docname": other["name"],
                                                                  "qty": 5}]}))
    assert ok == {"failed_docs": []} and read(admin, PARENT, other["name"])["qty"] == 5
    fails(rpc(admin, "bulk_update", "POST", data={"docs": "{oops"}), 417, "DataError")


# --- rename_doc ----------------------------------------------------------------------------------------------

def test_rename_doc_repoints_links(server, admin, doctypes):
    create(admin, TARGET, name="Old Target", label="t")
    parent = parent_doc(admin, "rename links", ref="Old Target", lines=[{"item": "x", "target": "Old Target"}])
    todo = create(admin, "ToDo", description="rename dyn", reference_type=TARGET, reference_name="Old Target")
    new = message(rpc(admin, "rename_doc", "POST", json={"doctype": TARGET, "old_name": "Old Target",
                                                         "new_name": "New Target"}))
    assert new == "New Target"
    assert read(admin, TARGET, "Old Target") is None and read(admin, TARGET, "New Target")["label"] == "t"
    after = read(admin, PARENT, parent["name"])
    assert after["ref"] == "New Target" and after["lines"][0]["target"] == "New Target"
    assert read(admin, "ToDo", todo["name"])["reference_name"] == "New Target"
    # conflicts and refusals
    create(admin, TARGET, name="Taken Target")
    fails(rpc(admin, "rename_doc", "POST", json={"doctype": TARGET, "old_name": "New Target",
                                                 "new_name": "Taken Target"}), 409, "DuplicateEntryError")
    fails(rpc(admin, "rename_doc", "POST", json={"doctype": TARGET, "old_name": "Nope", "new_name": "X"}),
          404, "DoesNotExistError")
    t = create(admin, "ToDo", description="not renamable")
    fails(rpc(admin, "rename_doc", "POST", json={"doctype": "ToDo", "old_name": t["name"], "new_name": "x"}),
          417, "ValidationError")
    fails(rpc(admin, "rename_doc", "POST", json={"doctype": TARGET, "old_name": "New Target",
                                                 "new_name": "bad <name>"}), 409, "NameError")
    fails(rpc(admin, "rename_doc", params={"doctype": TARGET, "old_name": "New Target", "new_name": "Y"}),
          403, "PermissionError")
    r = rpc(admin, "rename_doc", "POST", json={"doctype": TARGET, "old_name": "New Target",
                                               "new_name": "New Target"})
    assert r.status_code == 200 and "message" not in r.json()


def test_rename_doc_merge(server, admin, doctypes):
    create(admin, TARGET, name="Merge From")
    create(admin, TARGET, name="Merge Into")
    parent = parent_doc(admin, "merge links", ref="Merge From")
    fails(rpc(admin, "rename_doc", "POST", data={"doctype": TARGET, "old_name": "Merge From",
                                                 "new_name": "Merge Nowhere", "merge": "1"}), 417, "ValidationError")
    assert message(rpc(admin, "rename_doc", "POST", data={"doctype": TARGET, "old_name": "Merge From",
                                                          "new_name": "Merge Into", "merge": "1"})) == "Merge Into"
    assert read(admin, TARGET, "Merge From") is None and read(admin, TARGET, "Merge Into") is not None
    assert read(admin, PARENT, parent["name"])["ref"] == "Merge Into"


# --- hostile arguments: always a 4xx, never a 5xx ----------------------------------------------------------

ODD_VALUES = [None, True, 7, 1.5, "", "\x00", "x" * 5000, '{"', "[[[", "null", {"a": {"b": [1]}}, [[1, 2]],
              ["=", "x"], {"name": ["in", [1, {"x": 1}]]}]


def test_hostile_argument_values_never_cause_a_server_error(server, admin, doctypes):
    t = create(admin, "ToDo", description="fuzz")["name"]
    p = parent_doc(admin, "fuzz", secret="x")["name"]
    doc = {"doctype": "ToDo", "description": "fuzz new"}
    base = {
        "get_list": {"doctype": "ToDo", "fields": ["name"], "filters": {}, "order_by": "modified desc"},
        "get_count": {"doctype": "ToDo", "filters": {}},
        "get": {"doctype": "ToDo", "name": t},
        "get_value": {"doctype": "ToDo", "fieldname": "status", "filters": t},
        "get_single_value": {"doctype": SETTINGS, "field": "site_title"},
        "has_permission": {"doctype": "ToDo", "docname": t, "perm_type": "read"},
        "get_doc_permissions": {"doctype": "ToDo", "docname": t},
        "get_password": {"doctype": PARENT, "name": p, "fieldname": "secret"},
        "is_document_amended": {"doctype": SUBMITTABLE, "docname": "x"},
        "validate_link": {"doctype": TARGET, "docname": "x", "fields": ["label"]},
        "insert": {"doc": doc},
        "insert_many": {"docs": [doc]},
        "save": {"doc": {**doc, "name": t}},
        "set_value": {"doctype": "ToDo", "name": t, "fieldname": "description", "value": "v"},
        "submit": {"doc": {"doctype": SUBMITTABLE, "name": "no-such"}},
        "cancel": {"doctype": SUBMITTABLE, "name": "no-such"},
        "delete": {"doctype": "ToDo", "name": "no-such"},
        "rename_doc": {"doctype": TARGET, "old_name": "No Such Target", "new_name": "Fuzz New", "merge": False},
        "bulk_update": {"docs": [{"doctype": "ToDo", "docname": t, "description": "b"}]},
    }
    errors = []
    for method, args in base.items():
        for key in args:
            for odd in ODD_VALUES:
                r = rpc(admin, method, "POST", json={**args, key: odd})
                if r.status_code >= 500:
                    errors.append(f"{method} {key}={odd!r:.40}: {r.status_code} {r.text[:300]}")
            # and as form text
            r = rpc(admin, method, "POST", data={**{k: json.dumps(v) if not isinstance(v, str) else v
                                                      for k, v in args.items()}, key: "\x00{"})
            if r.status_code >= 500:
                errors.append(f"{method} {key} form: {r.status_code} {r.text[:300]}")
    assert not errors, "\n".join(errors)


# --- the JS SDK session, as recorded ------------------------------------------------------------------------

def test_js_sdk_rows_146_to_171(server, doctypes):
    """frappe-js-sdk 1.14.1 (10-real-client-traffic.md rows 146-171): cookie session, JSON
    content type on every request (bodiless GET and DELETE included), compact JSON in queries."""
    from tests.conftest import ADMIN_PASSWORD
    marker = "jssdk-fx"
    headers = {"content-type": "application/json; charset=utf-8", "accept": "application/json"}
    with server.client(headers=headers) as c:
        assert message(c.post("/api/method/login", json={"usr": "Administrator", "pwd": ADMIN_PASSWORD})) \
            == "Logged In"
        for status in ("Open", "Open", "Closed"):
            assert c.post("/api/resource/ToDo", json={"description": f"{marker} {status}",
                                                      "status": status}).status_code == 200
        like = f'[["description","like","%{marker}%"]]'
        assert message(c.get("/api/method/frappe.client.get_count", params={"doctype": "ToDo",
                                                                            "filters": like})) == 3  # 146
        assert message(c.get("/api/method/frappe.client.get_count", params={
            "doctype": "ToDo", "filters": f'[["description","like","%{marker}%"],["status","=","Open"]]'})) == 2
        created = c.post("/api/resource/ToDo", json={"description": "jssdk create", "date": "2024-03-01",
                                                      "allocated_to": "Administrator"}).json()["data"]  # 148
        name = created["name"]
        assert c.get(f"/api/resource/ToDo/{name}").json()["data"]["date"] == "2024-03-01"  # 149
        assert c.put(f"/api/resource/ToDo/{name}", json={"priority": "High"}).json()["data"]["priority"] == "High"
        doomed = c.post("/api/resource/ToDo", json={"description": "jssdk delete"}).json()["data"]["name"]
        assert c.delete(f"/api/resource/ToDo/{doomed}").status_code == 202  # 153
        assert c.get(f"/api/resource/ToDo/{doomed}").status_code == 404
        note = c.post("/api/resource/Note", json={"title": "jssdk note", "content": "<p>js</p>",
                                                  "public": 1}).json()["data"]  # 155
        rows = c.get("/api/resource/Note", params={"fields": '["name","title"]', "order_by": "",
                                                   "filters": '[["title","=","jssdk note"]]',
                                                   "as_dict": "true"}).json()["data"]
        assert rows == [{"name": note["name"], "title": "jssdk note"}]
        assert c.delete(f"/api/resource/Note/{note['name']}").status_code == 202
        assert message(c.get("/api/method/frappe.auth.get_logged_user")) == "Administrator"  # 160
        value = message(c.get("/api/method/frappe.client.get_value", params={
            "doctype": "ToDo", "fieldname": '["status","priority"]', "filters": f'[["name","=","{name}"]]',
            "as_dict": "true", "debug": "false"}))  # 161
        assert value == {"status": "Open", "priority": "High"}
        target = c.post("/api/resource/ToDo", json={"description": "jssdk set_value"}).json()["data"]["name"]
        assert message(c.post("/api/method/frappe.client.set_value", json={
            "doctype": "ToDo", "name": target, "fieldname": "status", "value": "Closed"}))["status"] == "Closed"
        out = message(c.post("/api/method/frappe.client.set_value", json={
            "doctype": "ToDo", "name": target, "fieldname": {"priority": "Low", "date": "2024-04-01"}}))  # 164
        assert (out["priority"], out["date"]) == ("Low", "2024-04-01")
        names = message(c.post("/api/method/frappe.client.insert_many", json={"docs": [
            {"doctype": "ToDo", "description": "jssdk many 0"},
            {"doctype": "ToDo", "description": "jssdk many 1"}]}))  # 165
        assert c.get(f"/api/resource/ToDo/{names[0]}").status_code == 200
        rows = message(c.get("/api/method/frappe.client.get_list", params={
            "doctype": "ToDo", "fields": '["name"]', "filters": like,
            "or_filters": '[["priority","=","High"],["status","=","Cancelled"]]', "order_by": "date desc"}))
        assert rows == []  # 167: none of the fx rows is High or Cancelled
        draft = c.post(f"/api/resource/{quote(SUBMITTABLE)}", json={"title": "jssdk submit"}).json()["data"]
        current = c.get(f"/api/resource/{quote(SUBMITTABLE)}/{draft['name']}").json()["data"]  # 169
        doc = {k: current.get(k) for k in ("name", "owner", "creation", "modified", "modified_by", "docstatus",
                                            "idx", "title", "amended_from", "doctype")}
        assert message(c.post("/api/method/frappe.client.submit", json={"doc": doc}))["docstatus"] == 1  # 170
        assert message(c.post("/api/method/frappe.client.cancel",
                              json={"doctype": SUBMITTABLE, "name": draft["name"]}))["docstatus"] == 2  # 171
