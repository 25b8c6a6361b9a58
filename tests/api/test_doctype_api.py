"""DocTypes created and changed at run time through ``/api/resource/DocType``.

A custom DocType posted by an administrator is usable at once (its table exists when
the response is sent); changing its definition changes the table; naming rules,
child-table replace semantics and awkward names behave as in Frappe (validation errors,
optimistic concurrency and submission: the scenario table in ``test_resource_scenarios.py``).
Runs against a real server on SQLite and PostgreSQL (the ``server`` fixture).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest

from tests.http import ok, url

SM_PERMS = [{"role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1, "submit": 1,
             "cancel": 1, "amend": 1}]
CHILD = "RT Line"
PARENT = "RT Order"
YEAR = dt.date.today().strftime("%Y")




def fails(r, status: int, exc_type: str) -> dict:
    assert (r.status_code, r.json().get("exc_type")) == (status, exc_type), r.text[:2000]
    return r.json()


def make_doctype(admin, name: str, fields: list[dict], **kw) -> dict:
    body = {"name": name, "module": "Custom", "custom": 1, "fields": fields, "permissions": SM_PERMS, **kw}
    return ok(admin.post(url("DocType"), json=body))


def names(rows: list[dict]) -> list[Any]:
    return [r["name"] for r in rows]


def unstamped(rows: list[dict]) -> list[dict]:
    """Child rows without ``modified``/``modified_by``, which follow the parent's on every save."""
    return [{k: v for k, v in r.items() if k not in ("modified", "modified_by")} for r in rows]


def create_order_doctypes(admin) -> tuple[dict, dict]:
    """A child DocType and a parent using it, created over HTTP with the ``admin`` client."""
    child = make_doctype(admin, CHILD, [
        {"fieldname": "item", "fieldtype": "Data", "label": "Item", "reqd": 1, "in_list_view": 1},
        {"fieldname": "qty", "fieldtype": "Int", "label": "Qty"},
        {"fieldname": "note", "fieldtype": "Data", "label": "Note"},
        {"fieldname": "uom", "fieldtype": "Data", "label": "UOM", "default": "Nos"},
    ], istable=1, permissions=[])
    parent = make_doctype(admin, PARENT, [
        {"fieldname": "title", "fieldtype": "Data", "label": "Title", "reqd": 1},
        {"fieldname": "code", "fieldtype": "Data", "label": "Code", "length": 10, "unique": 1},
        {"fieldname": "qty", "fieldtype": "Int", "label": "Quantity"},
        {"fieldname": "status", "fieldtype": "Select", "label": "Status", "options": "\nOpen\nClosed"},
        {"fieldname": "user", "fieldtype": "Link", "label": "User", "options": "User"},
        {"fieldname": "lines", "fieldtype": "Table", "label": "Lines", "options": CHILD},
    ])
    return child, parent


@pytest.fixture(scope="module")
def order_doctypes(server):
    """The order DocTypes, created once per server."""
    with server.admin() as admin:
        return create_order_doctypes(admin)


# --- creating and reading definitions ---------------------------------------------------------

def test_post_doctype_returns_the_saved_definition(order_doctypes):
    child, parent = order_doctypes
    assert child["name"] == CHILD and child["istable"] == 1
    assert parent["name"] == PARENT and parent["custom"] == 1 and parent["module"] == "Custom"
    assert parent["is_submittable"] == 0 and parent["doctype"] == "DocType"
    assert [f["fieldname"] for f in parent["fields"]] == ["title", "code", "qty", "status", "user", "lines"]
    assert [f["idx"] for f in parent["fields"]] == [1, 2, 3, 4, 5, 6]
    assert parent["fields"][5]["fieldtype"] == "Table" and parent["fields"][5]["options"] == CHILD
    assert [p["role"] for p in parent["permissions"]] == ["System Manager"]
    assert parent["permissions"][0]["write"] == 1


def test_get_doctype_returns_fields_and_permissions(order_doctypes, admin):
    d = ok(admin.get(url("DocType", PARENT)))
    assert d["name"] == PARENT
    by_name = {f["fieldname"]: f for f in d["fields"]}
    assert by_name["code"]["length"] == 10 and by_name["code"]["unique"] == 1
    assert by_name["status"]["options"] == "\nOpen\nClosed"
    assert by_name["user"]["fieldtype"] == "Link" and by_name["user"]["options"] == "User"
    assert by_name["title"]["reqd"] == 1
    assert all(f["parent"] == PARENT and f["parenttype"] == "DocType" and f["parentfield"] == "fields"
               for f in d["fields"])
    perm = d["permissions"][0]
    assert perm["role"] == "System Manager" and perm["read"] == perm["create"] == perm["delete"] == 1
    r = admin.get(url("DocType", "RT No Such DocType"))
    fails(r, 404, "DoesNotExistError")
    # the new DocType is listed with the others
    rows = ok(admin.get(url("DocType"), params={"filters": json.dumps([["custom", "=", 1]]),
                                                "limit_page_length": 0}))
    assert {CHILD, PARENT} <= set(names(rows))


def test_crud_on_new_doctype_at_once(order_doctypes, admin):
    doc = ok(admin.post(url(PARENT), json={
        "title": "First order", "code": "C-1", "qty": 3, "status": "Open", "user": "Administrator",
        "lines": [{"item": "apple", "qty": 2}, {"item": "pear", "qty": 5, "note": "ripe"}]}))
    name = doc["name"]
    assert re.fullmatch(r"[0-9a-f]{10}", name)
    assert (doc["title"], doc["code"], doc["qty"], doc["status"], doc["user"]) == \
        ("First order", "C-1", 3, "Open", "Administrator")
    assert [(r["item"], r["qty"], r["idx"], r["parent"], r["parentfield"], r["parenttype"], r["doctype"])
            for r in doc["lines"]] == [("apple", 2, 1, name, "lines", PARENT, CHILD),
                                       ("pear", 5, 2, name, "lines", PARENT, CHILD)]
    got = ok(admin.get(url(PARENT, name)))
    assert got["lines"] == doc["lines"] and got["title"] == "First order"
    rows = ok(admin.get(url(PARENT), params={"filters": json.dumps([["code", "=", "C-1"]]),
                                             "fields": json.dumps(["name", "qty", "status"])}))
    assert rows == [{"name": name, "qty": 3, "status": "Open"}]
    child_rows = ok(admin.get(url(CHILD), params={"parent": PARENT, "fields": json.dumps(["item", "qty"]),
                                                  "filters": json.dumps([["parent", "=", name]]),
                                                  "order_by": "idx asc"}))
    assert child_rows == [{"item": "apple", "qty": 2}, {"item": "pear", "qty": 5}]
    updated = ok(admin.put(url(PARENT, name), json={"qty": 4, "status": "Closed"}))
    assert (updated["qty"], updated["status"], updated["title"]) == (4, "Closed", "First order")
    assert unstamped(updated["lines"]) == unstamped(doc["lines"])  # Table field not sent: rows kept
    assert {r["modified"] for r in updated["lines"]} == {updated["modified"]}
    assert ok(admin.get(url(PARENT, name)))["lines"] == updated["lines"]
    assert ok(admin.delete(url(PARENT, name)), 202) == "ok"
    fails(admin.get(url(PARENT, name)), 404, "DoesNotExistError")
    assert ok(admin.get(url(CHILD), params={"parent": PARENT, "filters": json.dumps([["parent", "=", name]])})) == []


def test_put_doctype_adding_fields_is_usable_at_once(admin, server):
    name = "RT Growing"
    make_doctype(admin, name, [{"fieldname": "title", "fieldtype": "Data", "label": "Title"}])
    before = ok(admin.post(url(name), json={"title": "before"}))
    definition = ok(admin.get(url("DocType", name)))
    fields = definition["fields"] + [
        {"fieldname": "extra", "fieldtype": "Data", "label": "Extra"},
        {"fieldname": "amount", "fieldtype": "Currency", "label": "Amount"},
        {"fieldname": "due", "fieldtype": "Date", "label": "Due"},
    ]
    changed = ok(admin.put(url("DocType", name), json={"fields": fields}))
    assert [f["fieldname"] for f in changed["fields"]] == ["title", "extra", "amount", "due"]
    assert changed["fields"][0]["name"] == definition["fields"][0]["name"]  # row kept, not re-created
    doc = ok(admin.post(url(name), json={"title": "after", "extra": "x", "amount": 12.5, "due": "2024-02-29"}))
    got = ok(admin.get(url(name, doc["name"])))
    assert (got["extra"], float(got["amount"]), got["due"]) == ("x", 12.5, "2024-02-29")
    # existing documents get the new columns too
    assert ok(admin.put(url(name, before["name"]), json={"extra": "late"}))["extra"] == "late"
    rows = ok(admin.get(url(name), params={"filters": json.dumps([["extra", "=", "late"]])}))
    assert names(rows) == [before["name"]]
    assert [f["fieldname"] for f in ok(admin.get(url("DocType", name)))["fields"]] == \
        ["title", "extra", "amount", "due"]


def test_submittable_doctype_gets_amended_from(admin):
    d = make_doctype(admin, "RT Voucher", [{"fieldname": "title", "fieldtype": "Data", "label": "Title"}],
                     is_submittable=1)
    assert d["is_submittable"] == 1
    amended = [f for f in d["fields"] if f["fieldname"] == "amended_from"]
    assert len(amended) == 1
    assert (amended[0]["fieldtype"], amended[0]["options"], amended[0]["read_only"], amended[0]["no_copy"]) == \
        ("Link", "RT Voucher", 1, 1)
    served = ok(admin.get(url("DocType", "RT Voucher")))
    assert [f["fieldname"] for f in served["fields"]] == ["title", "amended_from"]
    # the column exists
    doc = ok(admin.post(url("RT Voucher"), json={"title": "v"}))
    rows = ok(admin.get(url("RT Voucher"), params={"fields": json.dumps(["name", "amended_from"])}))
    assert rows == [{"name": doc["name"], "amended_from": None}]


def test_child_doctype_definition_is_readable(order_doctypes, admin):
    d = ok(admin.get(url("DocType", CHILD)))
    assert d["istable"] == 1 and d["permissions"] == []
    assert [f["fieldname"] for f in d["fields"]] == ["item", "qty", "note", "uom"]


@pytest.mark.parametrize("definition,status,exc_type", [
    ({"name": "RT Bad 1", "fields": [{"fieldname": "bad name!", "fieldtype": "Data"}]}, 417, "ValidationError"),
    ({"name": "RT Bad 2", "fields": [{"fieldname": "a", "fieldtype": "Data"},
                                     {"fieldname": "a", "fieldtype": "Int"}]}, 417, "ValidationError"),
    ({"name": "RT Bad 3", "fields": [{"fieldname": "name", "fieldtype": "Data"}]}, 417, "ValidationError"),
    ({"name": "RT Bad 4", "fields": [{"fieldname": "a", "fieldtype": "No Such Type"}]}, 417, "ValidationError"),
    ({"name": "RT <Bad>", "fields": []}, 409, "NameError"),
    ({"name": "", "fields": []}, 417, "ValidationError"),
    # SQLite column names are case-insensitive: one column
    ({"name": "RT Bad 5", "fields": [{"fieldname": "Title", "fieldtype": "Data"},
                                     {"fieldname": "title", "fieldtype": "Data"}]}, 417, "ValidationError"),
    # PostgreSQL identifiers stop at 63 characters
    ({"name": "RT Bad 6", "fields": [{"fieldname": "f" * 64, "fieldtype": "Data"}]}, 417, "ValidationError"),
    ({"name": "RT Bad 7", "fields": [{"fieldname": "a", "fieldtype": "Data", "length": -5}]}, 417,
     "ValidationError"),
    ({"name": "RT Bad 8", "fields": [{"fieldname": "a", "fieldtype": "Data", "length": 10**8}]}, 417,
     "ValidationError"),
    # a Table field must name a child DocType (an unknown one is tolerated, like in exports)
    ({"name": "RT Bad 9", "fields": [{"fieldname": "rows", "fieldtype": "Table", "options": "ToDo"}]}, 417,
     "ValidationError"),
    # tables that are not DocTypes' (sessions, series counters) cannot be taken over
    ({"name": "Sessions", "fields": [{"fieldname": "sid", "fieldtype": "Data"}]}, 409, "NameError"),
    ({"name": "Series", "fields": [{"fieldname": "current", "fieldtype": "Int"}]}, 409, "NameError"),
    ({"name": "singles", "fields": []}, 409, "NameError"),
    # DocType names are unique regardless of case (one table on SQLite; MariaDB in Frappe)
    ({"name": "todo", "fields": [{"fieldname": "x", "fieldtype": "Int"}]}, 409, "DuplicateEntryError"),
])
def test_invalid_definitions_are_client_errors(admin, definition, status, exc_type):
    body = {"module": "Custom", "custom": 1, "permissions": SM_PERMS, **definition}
    fails(admin.post(url("DocType"), json=body), status, exc_type)
    if definition["name"]:
        assert admin.get(url("DocType", definition["name"])).status_code == 404
    # nothing was half-created: the built-in ToDo is untouched
    assert ok(admin.post(url("ToDo"), json={"description": "still fine"}))["status"] == "Open"


def test_put_doctype_changing_field_types(admin):
    name = "RT Changing"
    make_doctype(admin, name, [
        {"fieldname": "code", "fieldtype": "Data", "length": 10},
        {"fieldname": "word", "fieldtype": "Data"},
        {"fieldname": "score", "fieldtype": "Rating"},
        {"fieldname": "kind", "fieldtype": "Select", "options": "A\nB"},
    ])
    old = ok(admin.post(url(name), json={"code": "0123456789", "word": "hello", "score": 0.5, "kind": "A"}))
    fields = ok(admin.get(url("DocType", name)))["fields"]
    by_name = {f["fieldname"]: f for f in fields}

    # a storage-incompatible change is refused, and nothing changes
    by_name["word"]["fieldtype"] = "Int"
    body = fails(admin.put(url("DocType", name), json={"fields": fields}), 417, "ValidationError")
    assert "word" in body["_server_messages"].lower()
    by_name["word"]["fieldtype"] = "Data"
    assert {f["fieldname"]: f["fieldtype"] for f in ok(admin.get(url("DocType", name)))["fields"]}["word"] == "Data"

    # widening changes take effect at once: longer Data, Rating to Float, Select to Data, Data to Text
    by_name["code"]["length"] = 20
    by_name["score"]["fieldtype"] = "Float"
    by_name["kind"]["fieldtype"] = "Data"
    by_name["word"]["fieldtype"] = "Small Text"
    ok(admin.put(url("DocType", name), json={"fields": fields}))
    doc = ok(admin.post(url(name), json={"code": "x" * 15, "score": 12.5, "kind": "free text",
                                         "word": "w" * 300}))
    got = ok(admin.get(url(name, doc["name"])))
    assert (got["code"], float(got["score"]), got["kind"], got["word"]) == ("x" * 15, 12.5, "free text", "w" * 300)
    fails(admin.post(url(name), json={"code": "x" * 21}), 417, "CharacterLengthExceededError")
    got = ok(admin.get(url(name, old["name"])))
    assert (got["code"], float(got["score"]), got["kind"], got["word"]) == ("0123456789", 0.5, "A", "hello")

    # a shorter length applies to new values; stored ones are kept
    by_name["code"]["length"] = 5
    ok(admin.put(url("DocType", name), json={"fields": fields}))
    fails(admin.post(url(name), json={"code": "x" * 6}), 417, "CharacterLengthExceededError")
    assert ok(admin.get(url(name, doc["name"])))["code"] == "x" * 15
    assert ok(admin.post(url(name), json={"code": "abcde"}))["code"] == "abcde"


def test_autoincrement_naming_rule_changes(admin):
    make_doctype(admin, "RT Numbered Later", [{"fieldname": "title", "fieldtype": "Data"}])
    ok(admin.put(url("DocType", "RT Numbered Later"), json={"autoname": "autoincrement"}))
    assert [ok(admin.post(url("RT Numbered Later"), json={"title": t}))["name"] for t in "ab"] == [1, 2]
    assert ok(admin.get(url("RT Numbered Later", 1)))["title"] == "a"
    # with documents, the type of `name` cannot change any more (Frappe refuses too)
    fails(admin.put(url("DocType", "RT Numbered Later"), json={"autoname": "hash"}), 417, "ValidationError")
    assert ok(admin.get(url("DocType", "RT Numbered Later")))["autoname"] == "autoincrement"
    assert ok(admin.post(url("RT Numbered Later"), json={"title": "c"}))["name"] == 3


def test_nul_characters_are_client_errors(order_doctypes, admin):
    fails(admin.post(url(PARENT), json={"title": "a\x00b"}), 417, "ValidationError")
    fails(admin.get(url(PARENT) + "/a%00b"), 404, "DoesNotExistError")
    fails(admin.put(url(PARENT) + "/a%00b", json={"qty": 1}), 404, "DoesNotExistError")
    fails(admin.post(url(PARENT), json={"title": "t", "lines": [{"item": "\x00"}]}), 417, "ValidationError")


def test_existing_doctype_name_is_409(order_doctypes, admin):
    body = {"name": PARENT, "module": "Custom", "custom": 1, "fields": [], "permissions": SM_PERMS}
    fails(admin.post(url("DocType"), json=body), 409, "DuplicateEntryError")
    # the original definition is intact
    assert len(ok(admin.get(url("DocType", PARENT)))["fields"]) == 6


def test_deleted_doctype_is_gone(admin):
    make_doctype(admin, "RT Temporary", [{"fieldname": "title", "fieldtype": "Data"}])
    ok(admin.post(url("RT Temporary"), json={"title": "x"}))
    assert ok(admin.delete(url("DocType", "RT Temporary")), 202) == "ok"
    fails(admin.get(url("DocType", "RT Temporary")), 404, "DoesNotExistError")
    fails(admin.get(url("RT Temporary")), 404, "DoesNotExistError")
    # the name can be used again, with a different shape
    make_doctype(admin, "RT Temporary", [{"fieldname": "other", "fieldtype": "Int"}])
    doc = ok(admin.post(url("RT Temporary"), json={"other": 5}))
    assert doc["other"] == 5 and "title" not in doc


# --- naming ---------------------------------------------------------------------------------------

def test_naming_by_field(admin):
    make_doctype(admin, "RT By Title", [{"fieldname": "title", "fieldtype": "Data", "label": "Title", "reqd": 1}],
                 autoname="field:title", naming_rule="By fieldname")
    doc = ok(admin.post(url("RT By Title"), json={"title": "  Hello World  ", "name": "ignored"}))
    assert doc["name"] == "Hello World"
    assert ok(admin.get(url("RT By Title", "Hello World")))["name"] == "Hello World"
    r = admin.post(url("RT By Title"), json={"title": "Hello World"})
    body = fails(r, 409, "DuplicateEntryError")
    assert "Hello World" in json.dumps(body)
    fails(admin.post(url("RT By Title"), json={}), 417, "ValidationError")  # "Title is required"


def test_naming_by_format(admin):
    make_doctype(admin, "RT Invoice", [{"fieldname": "customer", "fieldtype": "Data"}],
                 autoname="format:INV-{YYYY}-{####}", naming_rule="Expression")
    first = ok(admin.post(url("RT Invoice"), json={"customer": "a"}))["name"]
    second = ok(admin.post(url("RT Invoice"), json={"customer": "b", "name": "ignored"}))["name"]
    assert (first, second) == (f"INV-{YEAR}-0001", f"INV-{YEAR}-0002")
    make_doctype(admin, "RT Invoice By Customer", [{"fieldname": "customer", "fieldtype": "Data"}],
                 autoname="format:BILL-{customer}-{###}", naming_rule="Expression")
    got = [ok(admin.post(url("RT Invoice By Customer"), json={"customer": c}))["name"] for c in ("A", "B", "A")]
    assert got == ["BILL-A-001", "BILL-B-001", "BILL-A-002"]


def test_naming_by_old_style_series_counts_per_prefix(admin):
    fields = [{"fieldname": "subject", "fieldtype": "Data"}, {"fieldname": "team", "fieldtype": "Data"}]
    make_doctype(admin, "RT Task", fields, autoname="TASK-.YYYY.-.#####", naming_rule="Expression (old style)")
    make_doctype(admin, "RT Task Copy", fields, autoname="TASK-.YYYY.-.#####",
                 naming_rule="Expression (old style)")
    make_doctype(admin, "RT Team Task", fields, autoname="TT-.team.-.###", naming_rule="Expression (old style)")
    a = [ok(admin.post(url("RT Task"), json={"subject": str(i)}))["name"] for i in range(2)]
    assert a == [f"TASK-{YEAR}-00001", f"TASK-{YEAR}-00002"]
    # another DocType with the same prefix continues the same counter (tabSeries is keyed by prefix)
    assert ok(admin.post(url("RT Task Copy"), json={"subject": "x"}))["name"] == f"TASK-{YEAR}-00003"
    got = [ok(admin.post(url("RT Team Task"), json={"team": t}))["name"] for t in ("red", "blue", "red")]
    assert got == ["TT-red-001", "TT-blue-001", "TT-red-002"]
    # deleting the last document issued gives its number back; deleting an earlier one does not
    assert ok(admin.delete(url("RT Team Task", "TT-red-002")), 202) == "ok"
    assert ok(admin.post(url("RT Team Task"), json={"team": "red"}))["name"] == "TT-red-002"
    assert ok(admin.delete(url("RT Task", a[0])), 202) == "ok"
    assert ok(admin.post(url("RT Task"), json={"subject": "y"}))["name"] == f"TASK-{YEAR}-00004"


def test_naming_series_field(admin):
    make_doctype(admin, "RT Quote", [
        {"fieldname": "naming_series", "fieldtype": "Select", "label": "Series", "options": "QTN-.YYYY.-\nSQ-.####",
         "reqd": 1},
        {"fieldname": "title", "fieldtype": "Data"},
    ], autoname="naming_series:", naming_rule='By "Naming Series" field')
    got = [ok(admin.post(url("RT Quote"), json=body))["name"] for body in (
        {"title": "default series"}, {"naming_series": "SQ-.####"}, {"naming_series": "QTN-.YYYY.-"},
        {"naming_series": "SQ-.####"})]
    assert got == [f"QTN-{YEAR}-00001", "SQ-0001", f"QTN-{YEAR}-00002", "SQ-0002"]
    doc = ok(admin.get(url("RT Quote", got[0])))
    assert doc["naming_series"] == "QTN-.YYYY.-"
    assert ok(admin.delete(url("RT Quote", "SQ-0002")), 202) == "ok"
    assert ok(admin.post(url("RT Quote"), json={"naming_series": "SQ-.####"}))["name"] == "SQ-0002"


def test_naming_autoincrement_returns_integers(admin):
    make_doctype(admin, "RT Counter", [{"fieldname": "title", "fieldtype": "Data"}],
                 autoname="autoincrement", naming_rule="Autoincrement")
    first = ok(admin.post(url("RT Counter"), json={"title": "one"}))
    second = ok(admin.post(url("RT Counter"), json={"title": "two", "name": 99}))
    assert (first["name"], second["name"]) == (1, 2)
    assert ok(admin.get(url("RT Counter", 2)))["title"] == "two"
    rows = ok(admin.get(url("RT Counter"), params={"fields": json.dumps(["name", "title"]),
                                                   "order_by": "name asc"}))
    assert rows == [{"name": 1, "title": "one"}, {"name": 2, "title": "two"}]
    assert ok(admin.put(url("RT Counter", 1), json={"title": "uno"}))["name"] == 1
    fails(admin.get(url("RT Counter", "not-a-number")), 404, "DoesNotExistError")
    assert ok(admin.delete(url("RT Counter", 1)), 202) == "ok"


def test_naming_by_prompt_uses_the_client_name(admin):
    make_doctype(admin, "RT Named", [{"fieldname": "title", "fieldtype": "Data"}],
                 autoname="Prompt", naming_rule="Set by user")
    assert ok(admin.post(url("RT Named"), json={"name": "Chosen Name", "title": "t"}))["name"] == "Chosen Name"
    fails(admin.post(url("RT Named"), json={"name": "Chosen Name"}), 409, "DuplicateEntryError")
    fails(admin.post(url("RT Named"), json={"title": "no name"}), 417, "ValidationError")


def test_names_with_slash_and_spaces_in_urls(admin):
    make_doctype(admin, "RT Path", [{"fieldname": "title", "fieldtype": "Data"}],
                 autoname="Prompt", naming_rule="Set by user")
    for name in ("a/b", "with space", "x/y z/w", "Tab 2024/001"):
        created = ok(admin.post(url("RT Path"), json={"name": name, "title": name}))
        assert created["name"] == name
        assert ok(admin.get(url("RT Path", name)))["title"] == name
        # spaces may also come as '+'-free %20 encoding or raw in the path; '/' stays as is
        assert ok(admin.get("/api/resource/RT%20Path/" + name.replace(" ", "%20")))["name"] == name
        assert ok(admin.put(url("RT Path", name), json={"title": name + "!"}))["title"] == name + "!"
        rows = ok(admin.get(url("RT Path"), params={"filters": json.dumps([["name", "=", name]])}))
        assert names(rows) == [name]
        assert ok(admin.delete(url("RT Path", name)), 202) == "ok"
        fails(admin.get(url("RT Path", name)), 404, "DoesNotExistError")


def test_child_table_replace_semantics(order_doctypes, admin):
    doc = ok(admin.post(url(PARENT), json={"title": "rows", "lines": [
        {"item": "a", "qty": 1, "note": "first"}, {"item": "b", "qty": 2}, {"item": "c", "qty": 3}]}))
    name = doc["name"]
    a, b, c = doc["lines"]
    # keep c (sent partially: omitted columns are cleared), drop a and b, add d
    updated = ok(admin.put(url(PARENT, name), json={"lines": [
        {"name": c["name"], "item": "c2"}, {"item": "d", "qty": 4}]}))
    rows = updated["lines"]
    assert [r["item"] for r in rows] == ["c2", "d"] and [r["idx"] for r in rows] == [1, 2]
    assert rows[0]["name"] == c["name"] and rows[0].get("qty") in (None, 0) and "note" not in rows[0]
    assert "uom" not in rows[0]  # a default is for new rows, not for columns left out of a sent row
    assert rows[1]["uom"] == "Nos" and c["uom"] == "Nos"
    assert rows[1]["name"] not in {a["name"], b["name"], c["name"]}
    got = ok(admin.get(url(PARENT, name)))
    assert got["lines"] == rows
    gone = ok(admin.get(url(CHILD), params={"parent": PARENT,
                                            "filters": json.dumps([["name", "in", [a["name"], b["name"]]]])}))
    assert gone == []
    # a row sent with its full values is overwritten with them
    full = {**rows[1], "qty": 40, "note": "n"}
    updated = ok(admin.put(url(PARENT, name), json={"lines": [rows[0], full]}))
    assert [(r["item"], r["qty"], r.get("note")) for r in updated["lines"]] == [("c2", 0, None), ("d", 40, "n")]
    # an empty list removes every row; omitting the field keeps them
    assert unstamped(ok(admin.put(url(PARENT, name), json={"title": "still"}))["lines"]) == \
        unstamped(updated["lines"])
    assert ok(admin.put(url(PARENT, name), json={"lines": []}))["lines"] == []
    assert ok(admin.get(url(PARENT, name)))["lines"] == []


def test_reserved_word_fieldnames(admin):
    words = ["select", "order", "key", "from", "where", "group", "desc", "default", "unique", "table"]
    fields = [{"fieldname": w, "fieldtype": "Int" if w == "order" else "Data", "label": w.title()} for w in words]
    fields[0] = {"fieldname": "select", "fieldtype": "Select", "label": "Select", "options": "A\nB"}
    make_doctype(admin, "RT Reserved", fields, autoname="field:key", naming_rule="By fieldname",
                 sort_field="order", sort_order="ASC")
    values = {w: f"{w}-1" for w in words} | {"select": "B", "order": 2}
    doc = ok(admin.post(url("RT Reserved"), json=values))
    assert doc["name"] == "key-1" and all(doc[k] == v for k, v in values.items())
    ok(admin.post(url("RT Reserved"), json={**{w: f"{w}-2" for w in words}, "select": "A", "order": 1}))
    got = ok(admin.get(url("RT Reserved", "key-1")))
    assert all(got[k] == v for k, v in values.items())
    rows = ok(admin.get(url("RT Reserved"), params={"fields": json.dumps(["name", "select", "order", "key"]),
                                                    "filters": json.dumps([["select", "=", "B"]])}))
    assert rows == [{"name": "key-1", "select": "B", "order": 2, "key": "key-1"}]
    rows = ok(admin.get(url("RT Reserved"), params={"fields": json.dumps(["key"]), "order_by": "`order` desc"}))
    assert [r["key"] for r in rows] == ["key-1", "key-2"]
    rows = ok(admin.get(url("RT Reserved"), params={"fields": json.dumps(["key"])}))  # DocType sort: order asc
    assert [r["key"] for r in rows] == ["key-2", "key-1"]
    updated = ok(admin.put(url("RT Reserved", "key-1"), json={"order": 5, "from": "changed", "select": "A"}))
    assert (updated["order"], updated["from"], updated["select"]) == (5, "changed", "A")
    assert ok(admin.delete(url("RT Reserved", "key-1")), 202) == "ok"
