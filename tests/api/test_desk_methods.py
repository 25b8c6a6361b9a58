"""The desk's RPC methods (``frappe.desk.reportview.*``, ``frappe.desk.form.load.getdoc``,
``frappe.desk.form.save.savedocs``, ``frappe.client.validate_link``): Frappe's answer shapes,
the API's permission rules and the model's save rules, in process on both databases.

The site is tests/api/v2world.py's (Gadget with a permlevel-1 ``secret`` and ``parts`` rows;
users ``user``, ``manager``, ``reader``, ``outsider``) plus ``Desk Order``: submittable, with
child rows and an ``allow_on_submit`` field.
"""

from __future__ import annotations

import json

import pytest

from tests.api.v2world import GADGET_PERMS, build
from tests.conftest import BACKENDS
from tests.scenario import ABSENT, Scenario, Text, scenarios

M = "/api/method"
GET = f"{M}/frappe.desk.reportview.get"
COUNT = f"{M}/frappe.desk.reportview.get_count"
GROUPS = f"{M}/frappe.desk.reportview.get_group_by_count"
GETDOC = f"{M}/frappe.desk.form.load.getdoc"
SAVEDOCS = f"{M}/frappe.desk.form.save.savedocs"


@pytest.fixture(scope="module", params=BACKENDS)
def world(request, tmp_path_factory):
    w = build(tmp_path_factory.mktemp(f"desk-{request.param}"), request.param, request)
    w.admin("POST", "/api/resource/DocType", json={
        "name": "Desk Order Row", "module": "Custom", "custom": 1, "istable": 1, "fields": [
            {"fieldname": "item", "fieldtype": "Data", "label": "Item"},
            {"fieldname": "qty", "fieldtype": "Int", "label": "Qty"}]})
    w.admin("POST", "/api/resource/DocType", json={
        "name": "Desk Order", "module": "Custom", "custom": 1, "is_submittable": 1, "autoname": "field:title",
        "permissions": GADGET_PERMS, "fields": [
            {"fieldname": "title", "fieldtype": "Data", "label": "Title", "reqd": 1},
            {"fieldname": "note", "fieldtype": "Data", "label": "Note", "allow_on_submit": 1},
            {"fieldname": "items", "fieldtype": "Table", "label": "Items", "options": "Desk Order Row"}]})
    w.admin("POST", f"{M}/frappe.desk.form.utils.add_comment", json={
        "reference_doctype": "Gadget", "reference_name": "g-1", "content": "first remark"})
    yield w
    w.close()


def error(kind: str, *words: str):
    """Frappe's v1 error body of ``kind``, its message naming ``words``."""
    def check(body):
        assert body.get("exc_type") == kind, body
        assert "message" not in body and "docs" not in body, body
        messages = "".join(json.loads(m)["message"] for m in json.loads(body.get("_server_messages", "[]")))
        for w in words:
            assert w in messages, body
        return True
    return check


# --- frappe.desk.reportview.get / get_count / get_group_by_count ---------------------------------

LIST_ROWS = [
    Scenario("compressed keys and values, filters, order and paging passed through", "GET", GET,
             params={"doctype": "Gadget", "fields": ["name", "qty", "status"], "filters": {"status": "Open"},
                     "order_by": "qty asc", "start": "1", "page_length": "2"},
             expect={"message": {"keys": ["name", "qty", "status"], "values": [["g-3", 3, "Open"], ["g-5", 5, "Open"]]}}),
    Scenario("POST with or_filters and list filters", "POST", GET,
             data={"doctype": "Gadget", "fields": '["name"]', "filters": '[["qty", ">", 1]]',
                   "or_filters": '[["status", "=", "Open"], ["qty", "=", 6]]', "order_by": "qty desc"},
             expect={"message": {"keys": ["name"], "values": [["g-6"], ["g-5"], ["g-3"]]}}),
    Scenario("with_comment_count counts each row's comments", "GET", GET,
             params={"doctype": "Gadget", "fields": ["name"], "filters": {"name": ["in", ["g-1", "g-2"]]},
                     "order_by": "name asc", "with_comment_count": "1"},
             expect={"message": {"keys": ["name", "_comment_count"], "values": [["g-1", 1], ["g-2", 0]]}}),
    Scenario("no row: Frappe's compress answers the empty result", "GET", GET,
             params={"doctype": "Gadget", "fields": ["name"], "filters": {"status": "Nope"}},
             expect={"message": []}),
    Scenario("page_length defaults to 20", "GET", GET, params={"doctype": "Gadget", "fields": ["name"]},
             expect={"message": {"keys": ["name"], "values": lambda v: len(v) == 6}}),
    Scenario("a field above the user's permlevel is left out", "GET", GET, user="user",
             params={"doctype": "Gadget", "fields": ["name", "secret"], "filters": {"name": "g-1"}},
             expect={"message": lambda m: "secret" not in m["keys"] and "s1" not in json.dumps(m)}),
    Scenario("the manager reads the level-1 field", "GET", GET, user="manager",
             params={"doctype": "Gadget", "fields": ["name", "secret"], "filters": {"name": "g-1"}},
             expect={"message": {"keys": ["name", "secret"], "values": [["g-1", "s1"]]}}),
    Scenario("a filter on a field above the permlevel is refused", "GET", GET, user="user",
             params={"doctype": "Gadget", "fields": ["name"], "filters": {"secret": "s1"}}, status=417,
             expect=Text(lacks=["g-1"])),
    Scenario("no read right: 403 and nothing of the records", "GET", GET, user="outsider",
             params={"doctype": "Gadget", "fields": ["name", "title"]}, status=403,
             expect=lambda b: error("PermissionError")(b) and "g-1" not in json.dumps(b)),
    Scenario("guest: 403", "GET", GET, user="guest", params={"doctype": "Gadget"}, status=403),
    Scenario("an unknown DocType", "GET", GET, params={"doctype": "No Such Thing"}, status=404,
             expect=error("DoesNotExistError")),
    Scenario("a bad page length is a 417", "GET", GET, params={"doctype": "Gadget", "page_length": "ten"},
             status=417),
    Scenario("get_count with filters", "GET", COUNT, params={"doctype": "Gadget", "filters": {"status": "Open"}},
             expect={"message": 3}),
    Scenario("get_count with or_filters", "POST", COUNT,
             data={"doctype": "Gadget", "or_filters": '{"qty": 2, "status": "Open"}'}, expect={"message": 4}),
    Scenario("get_count without read: 403", "GET", COUNT, user="outsider", params={"doctype": "Gadget"},
             status=403, expect=error("PermissionError")),
    Scenario("group counts, largest first", "GET", GROUPS,
             params={"doctype": "Gadget", "field": "status", "current_filters": [["qty", ">", 1]]},
             expect={"message": [{"count": 3, "name": "Closed"}, {"count": 2, "name": "Open"}]}),
    Scenario("group counts of a Link field and of a standard column", "GET", GROUPS,
             params={"doctype": "Gadget", "field": "related", "current_filters": {"name": ["like", "g-%"]}},
             expect={"message": [{"count": 6, "name": None}]}),
    Scenario("group counts of docstatus", "GET", GROUPS,
             params={"doctype": "Gadget", "field": "docstatus", "current_filters": {"name": ["like", "g-%"]}},
             expect={"message": [{"count": 6, "name": 0}]}),
    Scenario("every readable field with *", "GET", GET, user="user",
             params={"doctype": "Gadget", "fields": ["*"], "filters": {"name": "g-2"}},
             expect={"message": lambda m: {"name", "title", "qty"} <= set(m["keys"]) and "secret" not in m["keys"]
                     and len(m["values"]) == 1}),
    Scenario("group counts of a field above the permlevel are refused", "GET", GROUPS, user="user",
             params={"doctype": "Gadget", "field": "secret", "current_filters": {}}, status=417,
             expect=Text(lacks=["s1", "s2"])),
    Scenario("group counts of a field the DocType lacks", "GET", GROUPS,
             params={"doctype": "Gadget", "field": "qty) from x; --", "current_filters": {}}, status=417,
             expect=error("DataError")),
    Scenario("group counts without read: 403", "GET", GROUPS, user="outsider",
             params={"doctype": "Gadget", "field": "status"}, status=403, expect=error("PermissionError")),
]


@scenarios(*LIST_ROWS)
def test_list_methods(world, scenario):
    scenario.run(world)


def test_group_counts_by_owner_put_the_callers_group_first(world):
    world.client("user").post("/api/resource/Gadget", json={"title": "mine-1"}).raise_for_status()
    r = world.client("user").get(GROUPS, params={"doctype": "Gadget", "field": "owner"})
    assert r.status_code == 200, r.text
    groups = r.json()["message"]
    assert groups[0] == {"count": 1, "name": "user@v2.test"}
    assert groups[1]["name"] == "Administrator" and groups[1]["count"] >= 6


def test_group_counts_are_capped(world):
    for i in range(55):
        world.admin("POST", "/api/resource/Gadget", json={"title": f"cap-{i}", "qty": 1000 + i})
    r = world.client("admin").get(GROUPS, params={"doctype": "Gadget", "field": "qty"})
    assert r.status_code == 200, r.text
    assert len(r.json()["message"]) == 50


# --- frappe.desk.form.load.getdoc -----------------------------------------------------------------

def _has_docinfo(body):
    info = body["docinfo"]
    assert {"attachments", "comments", "versions", "permissions"} <= set(info), info
    assert [c["content"] for c in info["comments"]] == ["first remark"]
    assert set(info["comments"][0]) == {"name", "creation", "content", "owner", "comment_type"}
    return True


GETDOC_ROWS = [
    Scenario("docs and docinfo at the top level, child rows included", "GET", GETDOC,
             params={"doctype": "Gadget", "name": "g-1"},
             expect={"message": ABSENT, "docs": [{"name": "g-1", "doctype": "Gadget", "secret": "s1",
                                                  "parts": [{"code": "p1", "qty": 1, "doctype": "Gadget Part"}]}],
                     "docinfo": {"permissions": {"read": 1, "write": 1}}}),
    Scenario("comments in docinfo", "GET", GETDOC, params={"doctype": "Gadget", "name": "g-1"}, expect=_has_docinfo),
    Scenario("the user's rights on this document", "GET", GETDOC, user="reader",
             params={"doctype": "Gadget", "name": "g-1"},
             expect={"docs": [{"name": "g-1", "secret": ABSENT}],
                     "docinfo": {"permissions": {"read": 1, "write": 0, "delete": 0}}}),
    Scenario("a field above the permlevel is absent", "GET", GETDOC, user="user",
             params={"doctype": "Gadget", "name": "g-2"},
             expect=lambda b: b["docs"][0]["title"] == "g-2" and "secret" not in b["docs"][0]
             and "s2" not in json.dumps(b)),
    Scenario("no read right: 403 and nothing of the document", "GET", GETDOC, user="outsider",
             params={"doctype": "Gadget", "name": "g-1"}, status=403,
             expect=lambda b: error("PermissionError")(b) and "s1" not in json.dumps(b)
             and "first remark" not in json.dumps(b)),
    Scenario("no read right: a missing document is the same 403", "GET", GETDOC, user="outsider",
             params={"doctype": "Gadget", "name": "no-such"}, status=403, expect=error("PermissionError")),
    Scenario("a reader learns a document is missing: 404", "GET", GETDOC, user="reader",
             params={"doctype": "Gadget", "name": "no-such"}, status=404, expect=error("DoesNotExistError")),
    Scenario("a Single DocType's record", "GET", GETDOC, params={"doctype": "OAuth Settings", "name": "OAuth Settings"},
             expect={"docs": [{"name": "OAuth Settings", "doctype": "OAuth Settings"}], "docinfo": {"permissions": {"read": 1}}}),
    Scenario("name is required", "GET", GETDOC, params={"doctype": "Gadget"}, status=417),
]


@scenarios(*GETDOC_ROWS)
def test_getdoc(world, scenario):
    scenario.run(world)


# --- frappe.desk.form.save.savedocs -----------------------------------------------------------------

def savedocs(world, user, doc, action):
    return world.client(user).post(SAVEDOCS, data={"doc": json.dumps(doc), "action": action})


def saved(r):
    assert r.status_code == 200, r.text
    body = r.json()
    assert "message" not in body and len(body["docs"]) == 1 and "permissions" in body["docinfo"], body
    return body["docs"][0]


def test_savedocs_save_submit_update_cancel_with_child_rows(world):
    new = {"doctype": "Desk Order", "name": "new-desk-order-abc", "__islocal": 1, "__unsaved": 1,
           "title": "order-1", "note": "n0",
           "items": [{"doctype": "Desk Order Row", "name": "new-desk-order-row-x", "__islocal": 1,
                      "item": "bolt", "qty": 3}]}
    doc = saved(savedocs(world, "manager", new, "Save"))
    assert doc["name"] == "order-1" and doc["docstatus"] == 0 and doc["localname"] == "new-desk-order-abc"
    assert [(r["item"], r["qty"]) for r in doc["items"]] == [("bolt", 3)]
    assert doc["items"][0]["name"] != "new-desk-order-row-x" and doc["items"][0]["parent"] == "order-1"
    assert "__islocal" not in doc and "__unsaved" not in doc

    doc["items"].append({"doctype": "Desk Order Row", "__islocal": 1, "name": "new-row-2", "item": "nut", "qty": 5})
    doc = saved(savedocs(world, "manager", doc, "Submit"))
    assert doc["docstatus"] == 1 and [r["item"] for r in doc["items"]] == ["bolt", "nut"]
    assert all(r["docstatus"] == 1 for r in doc["items"])

    doc["note"] = "after submit"
    doc = saved(savedocs(world, "manager", doc, "Update"))
    assert doc["docstatus"] == 1 and doc["note"] == "after submit"

    stale = dict(doc, title="changed")
    r = savedocs(world, "manager", stale, "Update")
    assert r.status_code == 417 and error("UpdateAfterSubmitError", "Title")(r.json()), r.text

    # A cancel moves only the docstatus: other values sent along do not change what was submitted.
    doc = saved(savedocs(world, "manager", dict(doc, title="sneaky", items=[]), "Cancel"))
    assert doc["docstatus"] == 2
    stored = world.admin("GET", "/api/resource/Desk Order/order-1")
    assert stored["docstatus"] == 2 and stored["title"] == "order-1" and stored["note"] == "after submit"
    assert [(r["item"], r["docstatus"]) for r in stored["items"]] == [("bolt", 2), ("nut", 2)]


def test_savedocs_submits_a_new_document_at_once(world):
    doc = saved(savedocs(world, "manager", {"doctype": "Desk Order", "__islocal": 1, "name": "new-desk-order-1",
                                            "title": "order-direct", "items": [{"item": "x", "qty": 1}]}, "Submit"))
    assert doc["name"] == "order-direct" and doc["docstatus"] == 1


def test_savedocs_refuses_a_stale_modified(world):
    doc = saved(savedocs(world, "manager", {"doctype": "Desk Order", "title": "order-stale"}, "Save"))
    fresh = saved(savedocs(world, "manager", dict(doc, note="first"), "Save"))
    assert fresh["modified"] != doc["modified"]
    r = savedocs(world, "manager", dict(doc, note="second"), "Save")
    assert r.status_code == 417, r.text
    assert error("TimestampMismatchError", "modified after you have opened it")(r.json())
    r = savedocs(world, "manager", {k: v for k, v in fresh.items() if k != "modified"}, "Cancel")
    assert r.status_code == 417 and error("TimestampMismatchError")(r.json()), r.text
    r = savedocs(world, "manager", dict(doc, docstatus=1), "Cancel")
    assert r.status_code == 417 and error("TimestampMismatchError")(r.json()), r.text
    assert world.admin("GET", "/api/resource/Desk Order/order-stale")["note"] == "first"


def test_savedocs_rights(world):
    doc = saved(savedocs(world, "user", {"doctype": "Desk Order", "title": "order-user"}, "Save"))
    # Gadget User may write but not submit.
    r = savedocs(world, "user", doc, "Submit")
    assert r.status_code == 403 and error("PermissionError")(r.json()), r.text
    r = savedocs(world, "reader", dict(doc, note="x"), "Save")
    assert r.status_code == 403 and error("PermissionError")(r.json()), r.text
    r = savedocs(world, "outsider", {"doctype": "Desk Order", "title": "order-out"}, "Save")
    assert r.status_code == 403 and error("PermissionError")(r.json()), r.text
    assert world.admin("GET", "/api/resource/Desk Order/order-user")["docstatus"] == 0
    # A user without the level-1 right cannot set the field: its value is put back (Frappe's rule).
    gadget = saved(savedocs(world, "user", {"doctype": "Gadget", "__islocal": 1, "name": "new-gadget-1",
                                            "title": "g-user", "secret": "mine"}, "Save"))
    assert "secret" not in gadget
    assert world.admin("GET", "/api/resource/Gadget/g-user").get("secret") is None


SAVEDOCS_ROWS = [
    Scenario("an unknown action", "POST", SAVEDOCS, data={"doc": '{"doctype": "Desk Order", "title": "a"}',
                                                          "action": "Delete"}, status=417, expect=error("ValidationError", "action")),
    Scenario("doc must be a JSON object", "POST", SAVEDOCS, data={"doc": "[1]", "action": "Save"}, status=417),
    Scenario("doc must be JSON", "POST", SAVEDOCS, data={"doc": "{nope", "action": "Save"}, status=417),
    Scenario("cancelling a draft is refused", "POST", SAVEDOCS, before=lambda env: {
        "doc": json.dumps(env.admin("POST", "/api/resource/Desk Order", json={"title": "draft-cancel"}))},
        data=lambda env: {"doc": env.vars["doc"], "action": "Cancel"}, status=417,
        expect=error("DocstatusTransitionError")),
    Scenario("a mandatory field missing", "POST", SAVEDOCS, data={"doc": '{"doctype": "Desk Order", "note": "x"}',
                                                                 "action": "Save"}, status=417,
             expect=error("ValidationError", "Title")),
    Scenario("GET is not allowed", "GET", SAVEDOCS, params={"doc": '{"doctype": "Desk Order"}', "action": "Save"},
             status=403),
]


@scenarios(*SAVEDOCS_ROWS)
def test_savedocs_errors(world, scenario):
    scenario.run(world)


# --- frappe.client.validate_link ------------------------------------------------------------------

VALIDATE_LINK = f"{M}/frappe.client.validate_link"


@scenarios(
    Scenario("a stored name", "GET", VALIDATE_LINK, params={"doctype": "Gadget", "docname": "g-1"},
             expect={"message": {"name": "g-1"}}),
    Scenario("with fields", "GET", VALIDATE_LINK,
             params={"doctype": "Gadget", "docname": "g-1", "fields": ["status", "qty"]},
             expect={"message": {"name": "g-1", "status": "Open", "qty": 1}}),
    Scenario("missing: Frappe's name null", "GET", VALIDATE_LINK, params={"doctype": "Gadget", "docname": "zz"},
             expect={"message": {"name": None}}),
    Scenario("no read right: 403", "GET", VALIDATE_LINK, user="outsider",
             params={"doctype": "Gadget", "docname": "g-1"}, status=403),
)
def test_validate_link(world, scenario):
    scenario.run(world)
