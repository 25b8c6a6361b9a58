"""The document lifecycle over v1 HTTP, in process, on both databases.

Every refused docstatus transition answers with Frappe's exception type and status and leaves
the document as it was; ``allow_on_submit`` fields stay editable after submit; a document is
not cancelled while a submitted document links to it (through a Link field, a Link in a child
row of a submitted parent, or a Dynamic Link), nor deleted while a live one does; the built-in
document methods need read (GET) or, for POST, write or their own right (submit, cancel, amend).
``frappe.client.submit`` / ``cancel`` give the same results as ``run_method``. The last tests
run the lifecycle on ERPNext's Sales Order (with items) and Journal Entry from the fixtures.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import BACKENDS, HAVE_SHARED, SHARED_FIXTURES
from tests.inprocess import InProcess, open_site, token_for

CLERK, MANAGER, READER = "clerk@lc.test", "manager@lc.test", "reader@lc.test"
# DocPerm's defaults grant write, create and delete: every right is spelled out.
_NONE = {"read": 0, "write": 0, "create": 0, "delete": 0, "submit": 0, "cancel": 0, "amend": 0}
PERMS = [{**_NONE, "role": "LC Clerk", "read": 1, "write": 1, "create": 1, "submit": 1},
         {**_NONE, "role": "LC Manager", "read": 1, "write": 1, "create": 1, "submit": 1, "cancel": 1,
          "amend": 1, "delete": 1},
         {**_NONE, "role": "LC Manager", "permlevel": 1, "read": 1, "write": 1},
         {**_NONE, "role": "LC Reader", "read": 1}]
DOCTYPES = [
    {"name": "LC Part", "istable": 1, "fields": [
        {"fieldname": "code", "fieldtype": "Data", "label": "Code"},
        {"fieldname": "qty", "fieldtype": "Int", "label": "Qty"},
        {"fieldname": "order", "fieldtype": "Link", "options": "LC Order", "label": "Order"}]},
    {"name": "LC Order", "is_submittable": 1, "autoname": "format:LCO-{YYYY}-{####}", "permissions": PERMS,
     "fields": [
         {"fieldname": "title", "fieldtype": "Data", "label": "Title"},
         {"fieldname": "remark", "fieldtype": "Data", "label": "Remark", "allow_on_submit": 1},
         {"fieldname": "ref_no", "fieldtype": "Data", "label": "Ref No", "no_copy": 1},
         {"fieldname": "secret_note", "fieldtype": "Data", "label": "Secret Note", "permlevel": 1},
         {"fieldname": "items", "fieldtype": "Table", "options": "LC Part", "label": "Items"}]},
    # Links to LC Order: a Link field, a Link in child rows, a Dynamic Link.
    {"name": "LC Ref", "is_submittable": 1, "permissions": PERMS, "fields": [
        {"fieldname": "order", "fieldtype": "Link", "options": "LC Order", "label": "Order"}]},
    {"name": "LC Bundle", "is_submittable": 1, "permissions": PERMS, "fields": [
        {"fieldname": "lines", "fieldtype": "Table", "options": "LC Part", "label": "Lines"}]},
    {"name": "LC Dyn", "is_submittable": 1, "permissions": PERMS, "fields": [
        {"fieldname": "ref_type", "fieldtype": "Link", "options": "DocType", "label": "Ref Type"},
        {"fieldname": "ref_name", "fieldtype": "Dynamic Link", "options": "ref_type", "label": "Ref Name"}]},
    # Named like LC Order documents, so a Dynamic Link to it shares their values.
    {"name": "LC Other", "autoname": "Prompt", "permissions": PERMS, "fields": [
        {"fieldname": "title", "fieldtype": "Data", "label": "Title"}]},
]


class Site:
    def __init__(self, site: Any, clients: dict[str, InProcess], app: Any):
        self.site, self.clients, self.app = site, clients, app
        self.admin = clients["Administrator"]

    def as_(self, user: str) -> InProcess:
        return self.clients[user]

    def new(self, doctype: str = "LC Order", user: str = "Administrator", **values) -> dict:
        body = {"title": "order", "items": [{"code": "A", "qty": 1}, {"code": "B", "qty": 2}]} \
            if doctype == "LC Order" else {}
        r = self.as_(user).post(f"/api/resource/{doctype}", json={**body, **values})
        assert r.status_code == 200, r.text
        return r.json()["data"]

    def read(self, doctype: str, name: str) -> dict:
        r = self.admin.get(f"/api/resource/{doctype}/{name}")
        assert r.status_code == 200, r.text
        return r.json()["data"]

    def method(self, name: str, method: str, user: str = "Administrator", doctype: str = "LC Order",
               verb: str = "POST", **args) -> Any:
        c = self.as_(user)
        path = f"/api/resource/{doctype}/{name}"
        if verb == "GET":
            return c.get(path, params={"run_method": method, **args})
        return c.post(path, json={"run_method": method, **args})

    def submitted(self, doctype: str = "LC Order", **values) -> dict:
        doc = self.new(doctype, **values)
        assert self.method(doc["name"], "submit", doctype=doctype).status_code == 200
        return self.read(doctype, doc["name"])

    def cancelled(self, doctype: str = "LC Order", **values) -> dict:
        doc = self.submitted(doctype, **values)
        r = self.method(doc["name"], "cancel", doctype=doctype)
        assert r.status_code == 200, r.text
        return self.read(doctype, doc["name"])


@pytest.fixture(scope="module", params=BACKENDS)
def lc(request, tmp_path_factory):
    from ristretto.api.app import App
    from ristretto.site.install import add_user
    site = open_site(tmp_path_factory.mktemp(f"lifecycle-{request.param}"), request.param, request)
    app = App(site)
    admin = InProcess(app, headers=token_for(site, "Administrator"))
    for role in ("LC Clerk", "LC Manager", "LC Reader"):
        assert admin.post("/api/resource/Role", json={"role_name": role}).status_code == 200
    for body in DOCTYPES:
        r = admin.post("/api/resource/DocType", json={"module": "Custom", "custom": 1, **body})
        assert r.status_code == 200, r.text
    for user, role in ((CLERK, "LC Clerk"), (MANAGER, "LC Manager"), (READER, "LC Reader")):
        add_user(site, user, None, [role])
    clients = {user: InProcess(app, headers=token_for(site, user)) for user in (CLERK, MANAGER, READER)}
    clients["Administrator"] = admin
    yield Site(site, clients, app)
    site.close()


def refused(r, status: int, exc_type: str, text: str = "") -> None:
    assert r.status_code == status, r.text
    assert r.json()["exc_type"] == exc_type, r.text
    assert text in r.text, r.text


# --- refused transitions: a scenario table ------------------------------------------------------

# (name, state of the document, request, expected status, exception type, message fragment)
TRANSITIONS = [
    ("draft to cancelled by save", 0, ("PUT", {"docstatus": 2}), 417, "DocstatusTransitionError",
     "Cannot change docstatus from 0 (Draft) to 2 (Cancelled)"),
    ("cancel a draft", 0, ("run_method", "cancel"), 417, "DocstatusTransitionError", "from 0 (Draft) to 2"),
    ("client.cancel of a draft", 0, ("client.cancel", None), 417, "DocstatusTransitionError", "from 0 (Draft)"),
    ("amend a draft", 0, ("run_method", "amend"), 417, "ValidationError", "cannot be amended because it is not cancelled"),
    ("submitted back to draft", 1, ("PUT", {"docstatus": 0}), 417, "DocstatusTransitionError",
     "Cannot change docstatus from 1 (Submitted) to 0 (Draft)"),
    ("change a field after submit", 1, ("PUT", {"title": "changed"}), 417, "UpdateAfterSubmitError",
     "Not allowed to change Title after submission from order to changed"),
    ("change child rows after submit", 1, ("PUT", {"items": [{"code": "Z", "qty": 9}]}), 417,
     "UpdateAfterSubmitError", "Not allowed to change Items after submission"),
    ("delete a submitted document", 1, ("DELETE", None), 417, "ValidationError",
     "Submitted Record cannot be deleted. You must Cancel it first."),
    ("amend a submitted document", 1, ("run_method", "amend"), 417, "ValidationError", "cannot be amended"),
    ("save a cancelled document", 2, ("PUT", {"title": "changed"}), 417, "ValidationError",
     "Cannot edit cancelled document"),
    ("submit a cancelled document", 2, ("run_method", "submit"), 417, "ValidationError",
     "Cannot edit cancelled document"),
    ("client.submit of a cancelled document", 2, ("client.submit", None), 417, "ValidationError",
     "Cannot edit cancelled document"),
    ("cancel a cancelled document", 2, ("run_method", "cancel"), 417, "ValidationError",
     "Cannot edit cancelled document"),
    ("cancelled back to draft", 2, ("PUT", {"docstatus": 0}), 417, "ValidationError", "Cannot edit cancelled"),
]


def _send(lc: Site, doc: dict, request: tuple) -> Any:
    kind, arg = request
    path = f"/api/resource/LC Order/{doc['name']}"
    if kind == "PUT":
        return lc.admin.put(path, json=arg)
    if kind == "DELETE":
        return lc.admin.delete(path)
    if kind == "run_method":
        return lc.method(doc["name"], arg)
    if kind == "client.cancel":
        return lc.admin.post("/api/method/frappe.client.cancel", json={"doctype": "LC Order", "name": doc["name"]})
    return lc.admin.post("/api/method/frappe.client.submit", json={"doc": json.dumps(doc)})


@pytest.mark.parametrize("case", TRANSITIONS, ids=[c[0] for c in TRANSITIONS])
def test_refused_transitions(lc, case):
    _, state, request, status, exc_type, text = case
    doc = {0: lc.new, 1: lc.submitted, 2: lc.cancelled}[state]()
    refused(_send(lc, doc, request), status, exc_type, text)
    after = lc.read("LC Order", doc["name"])
    assert after["docstatus"] == state and after["modified"] == doc["modified"], after
    assert [(r["code"], r["qty"]) for r in after["items"]] == [("A", 1), ("B", 2)]


def test_new_document_cannot_start_cancelled(lc):
    r = lc.admin.post("/api/resource/LC Order", json={"title": "x", "docstatus": 2})
    refused(r, 417, "DocstatusTransitionError", "Cannot change docstatus from 0 (Draft) to 2 (Cancelled)")


def test_allow_on_submit_field_is_editable_after_submit(lc):
    doc = lc.submitted()
    r = lc.admin.put(f"/api/resource/LC Order/{doc['name']}", json={"remark": "after submit"})
    assert r.status_code == 200, r.text
    assert lc.read("LC Order", doc["name"])["remark"] == "after submit"
    # the clerk holds write and submit: the update after submit is theirs to make too
    r = lc.as_(CLERK).put(f"/api/resource/LC Order/{doc['name']}", json={"remark": "clerk"})
    assert r.status_code == 200, r.text


def test_cancelled_document_can_be_deleted(lc):
    doc = lc.cancelled()
    assert lc.admin.delete(f"/api/resource/LC Order/{doc['name']}").status_code == 202
    assert lc.admin.get(f"/api/resource/LC Order/{doc['name']}").status_code == 404


def test_run_method_and_client_methods_agree(lc):
    a, b = lc.new(), lc.new()
    ra = lc.method(a["name"], "submit")
    rb = lc.admin.post("/api/method/frappe.client.submit", json={"doc": json.dumps(b)})
    assert ra.status_code == rb.status_code == 200, (ra.text, rb.text)
    da, db = ra.json()["data"], rb.json()["message"]
    assert da["docstatus"] == db["docstatus"] == 1
    assert [r["docstatus"] for r in da["items"]] == [r["docstatus"] for r in db["items"]] == [1, 1]
    ra = lc.method(a["name"], "cancel")
    rb = lc.admin.post("/api/method/frappe.client.cancel", json={"doctype": "LC Order", "name": b["name"]})
    assert ra.status_code == rb.status_code == 200, (ra.text, rb.text)
    assert ra.json()["data"]["docstatus"] == rb.json()["message"]["docstatus"] == 2


# --- links block cancel and delete ---------------------------------------------------------------

def _linking(lc: Site, kind: str, order: str, docstatus: int) -> tuple[str, str]:
    """A document of ``kind`` linking to ``order``, left at ``docstatus``: (its DocType, name)."""
    doctype, values = {
        "link": ("LC Ref", {"order": order}),
        "child row": ("LC Bundle", {"lines": [{"code": "L", "qty": 1, "order": order}]}),
        "dynamic link": ("LC Dyn", {"ref_type": "LC Order", "ref_name": order}),
    }[kind]
    doc = lc.new(doctype, **values)
    if docstatus:
        assert lc.method(doc["name"], "submit", doctype=doctype).status_code == 200
    return doctype, doc["name"]


@pytest.mark.parametrize("kind", ["link", "child row", "dynamic link"])
def test_cancel_refused_while_a_submitted_document_links(lc, kind):
    order = lc.submitted()["name"]
    doctype, name = _linking(lc, kind, order, docstatus=1)
    r = lc.method(order, "cancel")
    refused(r, 417, "LinkExistsError", f"is linked with {doctype} {name}")
    assert lc.read("LC Order", order)["docstatus"] == 1
    refused(lc.admin.put(f"/api/resource/LC Order/{order}", json={"docstatus": 2}), 417, "LinkExistsError")
    # once the linking document is cancelled, the order can be cancelled
    assert lc.method(name, "cancel", doctype=doctype).status_code == 200
    r = lc.method(order, "cancel")
    assert r.status_code == 200 and r.json()["data"]["docstatus"] == 2, r.text


@pytest.mark.parametrize("kind", ["link", "child row", "dynamic link"])
def test_draft_links_do_not_block_cancel_but_block_delete(lc, kind):
    order = lc.submitted()["name"]
    doctype, name = _linking(lc, kind, order, docstatus=0)
    r = lc.method(order, "cancel")
    assert r.status_code == 200, r.text
    r = lc.admin.delete(f"/api/resource/LC Order/{order}")
    refused(r, 417, "LinkExistsError", f"is linked with {doctype} {name}")
    assert lc.admin.delete(f"/api/resource/{doctype}/{name}").status_code == 202
    assert lc.admin.delete(f"/api/resource/LC Order/{order}").status_code == 202


def test_dynamic_link_to_another_doctype_with_the_same_name_does_not_block(lc):
    order = lc.submitted()["name"]
    assert lc.admin.post("/api/resource/LC Other", json={"name": order, "title": "same name"}).status_code == 200
    dyn = lc.new("LC Dyn", ref_type="LC Other", ref_name=order)
    assert lc.method(dyn["name"], "submit", doctype="LC Dyn").status_code == 200
    r = lc.method(order, "cancel")
    assert r.status_code == 200, r.text


# --- rights of the built-in methods --------------------------------------------------------------

def test_builtin_methods_need_their_own_right(lc):
    draft = lc.new(user=CLERK)["name"]
    # the reader may read, but POST needs write or the method's right
    refused(lc.method(draft, "submit", user=READER), 403, "PermissionError")
    refused(lc.method(draft, "add_comment", user=READER, text="hi"), 403, "PermissionError")
    # GET never runs a POST-only built-in
    refused(lc.method(draft, "submit", verb="GET"), 403, "PermissionError")
    r = lc.method(draft, "submit", user=CLERK)
    assert r.status_code == 200 and r.json()["data"]["docstatus"] == 1, r.text
    # the clerk has no cancel right, the manager has
    refused(lc.method(draft, "cancel", user=CLERK), 403, "PermissionError")
    assert lc.read("LC Order", draft)["docstatus"] == 1
    assert lc.method(draft, "cancel", user=MANAGER).status_code == 200
    # amend needs the amend right
    refused(lc.method(draft, "amend", user=CLERK), 403, "PermissionError")
    r = lc.method(draft, "amend", user=MANAGER)
    assert r.status_code == 200 and r.json()["data"]["amended_from"] == draft, r.text
    # add_comment takes text and needs write
    r = lc.method(draft, "add_comment", user=CLERK, text="a note")
    assert r.status_code == 200 and r.json()["data"]["content"] == "a note", r.text


def test_required_right_rule():
    from ristretto.api.docmethods import required_right
    assert [required_right(m, "GET") for m in ("submit", "cancel", "amend", "rename", "x")] == ["read"] * 5
    assert [required_right(m, "POST") for m in ("submit", "cancel", "amend", "rename", "add_comment", "x")] == \
        ["submit", "cancel", "amend", "write", "write", "write"]


# --- copy (the model function behind v2's GET .../copy) --------------------------------------------

def _copy_as(lc: Site, user: str, role: str, name: str) -> dict:
    from ristretto.model import lifecycle
    site = lc.site
    with site.db.connect() as conn:
        site.registry.ensure_fresh(conn)
        ctx = site.context(conn, user=user, roles=frozenset({role, "All", "Guest", "Desk User"}),
                           perms=lc.app.policy)
        return lifecycle.copy_doc(ctx, "LC Order", name)


def test_copy_doc(lc):
    from ristretto.exceptions import DoesNotExistError, PermissionError
    original = lc.cancelled(title="to copy", ref_no="NC-7", secret_note="level one")
    amended = lc.method(original["name"], "amend").json()["data"]
    out = _copy_as(lc, MANAGER, "LC Manager", amended["name"])
    for key in ("name", "owner", "creation", "modified", "modified_by", "docstatus", "amended_from",
                "amendment_date", "remark"):  # remark: null values are omitted
        assert key not in out, key
    assert out["doctype"] == "LC Order" and out["title"] == "to copy"
    assert out["ref_no"] == "NC-7" and out["secret_note"] == "level one"  # no_copy copied too
    assert [(r["code"], r["qty"], r["idx"]) for r in out["items"]] == [("A", 1, 1), ("B", 2, 2)]
    for row in out["items"]:
        assert not {"name", "parent", "owner", "creation", "modified", "modified_by", "docstatus"} & set(row)
        assert row["doctype"] == "LC Part" and row["parentfield"] == "items"
    # posted back, it is a new draft with the same values
    r = lc.admin.post("/api/resource/LC Order", json=out)
    assert r.status_code == 200, r.text
    again = r.json()["data"]
    assert again["name"] != amended["name"] and again["docstatus"] == 0 and "amended_from" not in again
    assert [(i["code"], i["qty"]) for i in again["items"]] == [("A", 1), ("B", 2)]
    # fields the user cannot read are dropped first; without read there is no copy
    assert "secret_note" not in _copy_as(lc, CLERK, "LC Clerk", amended["name"])
    with pytest.raises(PermissionError):
        _copy_as(lc, "nobody@lc.test", "LC Nobody", amended["name"])
    with pytest.raises(DoesNotExistError):
        _copy_as(lc, MANAGER, "LC Manager", "LCO-none")


# --- ERPNext: Sales Order (with items) and Journal Entry ------------------------------------------

ERPNEXT = SHARED_FIXTURES / "erpnext"
needs_erpnext = pytest.mark.skipif(not (HAVE_SHARED and (ERPNEXT / "sales_order.json").is_file()),
                                   reason="needs the ERPNext DocType fixtures (not shipped)")
SALES_ORDER = {"naming_series": "SAL-ORD-.YYYY.-", "customer": "CUST-1", "company": "Co", "currency": "USD",
               "conversion_rate": 1, "selling_price_list": "Standard", "price_list_currency": "USD",
               "plc_conversion_rate": 1, "transaction_date": "2026-01-05", "delivery_date": "2030-01-01",
               "order_type": "Sales", "status": "Draft",
               "items": [{"item_code": f"ITEM-{i}", "item_name": f"item {i}", "qty": i, "uom": "Nos",
                          "conversion_factor": 1, "delivery_date": "2030-01-01"} for i in (1, 2)]}


@pytest.fixture(scope="module", params=BACKENDS)
def erp(request, tmp_path_factory):
    if not (HAVE_SHARED and (ERPNEXT / "sales_order.json").is_file()):
        pytest.skip("needs the ERPNext DocType fixtures (not shipped)")
    from ristretto.api.app import App
    from ristretto.site.install import import_doctypes
    site = open_site(tmp_path_factory.mktemp(f"erp-{request.param}"), request.param, request)
    import_doctypes(site, [ERPNEXT / f for f in ("sales_order.json", "sales_order_item.json",
                                                 "sales_taxes_and_charges.json", "journal_entry.json",
                                                 "journal_entry_account.json")])
    yield InProcess(App(site), headers=token_for(site, "Administrator"))
    site.close()


def _journal_entry(order: str | None = None) -> dict:
    row = {"account": "Debtors - Co", "debit_in_account_currency": 100, "debit": 100}
    if order:
        row.update(reference_type="Sales Order", reference_name=order)
    return {"voucher_type": "Journal Entry", "naming_series": "ACC-JV-.YYYY.-", "posting_date": "2026-01-05",
            "company": "Co", "accounts": [row, {"account": "Sales - Co", "credit_in_account_currency": 100,
                                                "credit": 100}]}


@needs_erpnext
def test_sales_order_and_journal_entry_lifecycle(erp):
    so = erp.post("/api/resource/Sales Order", json=SALES_ORDER)
    assert so.status_code == 200, so.text
    so = so.json()["data"]
    path = f"/api/resource/Sales Order/{so['name']}"
    r = erp.post(path, json={"run_method": "submit"})
    assert r.status_code == 200 and r.json()["data"]["docstatus"] == 1, r.text
    assert [row["docstatus"] for row in r.json()["data"]["items"]] == [1, 1]
    # po_no is allow_on_submit on Sales Order, customer is not
    assert erp.put(path, json={"po_no": "PO-after"}).status_code == 200
    refused(erp.put(path, json={"customer": "CUST-2"}), 417, "UpdateAfterSubmitError", "Customer")
    # a submitted Journal Entry whose account row references the order blocks its cancel
    je = erp.post("/api/resource/Journal Entry", json=_journal_entry(so["name"]))
    assert je.status_code == 200, je.text
    je = je.json()["data"]
    je_path = f"/api/resource/Journal Entry/{je['name']}"
    assert erp.post("/api/method/frappe.client.submit", json={"doc": json.dumps(je)}).status_code == 200
    refused(erp.post(path, json={"run_method": "cancel"}), 417, "LinkExistsError", f"Journal Entry {je['name']}")
    r = erp.post("/api/method/frappe.client.cancel", json={"doctype": "Journal Entry", "name": je["name"]})
    assert r.status_code == 200 and r.json()["message"]["docstatus"] == 2, r.text
    r = erp.post(path, json={"run_method": "cancel"})
    assert r.status_code == 200 and r.json()["data"]["docstatus"] == 2, r.text
    # amend: the new draft is named from the original, items copied under new names
    r = erp.post(path, json={"run_method": "amend"})
    assert r.status_code == 200, r.text
    amended = r.json()["data"]
    assert amended["name"] == f"{so['name']}-1" and amended["amended_from"] == so["name"]
    assert amended["docstatus"] == 0
    assert [(i["item_code"], i["qty"]) for i in amended["items"]] == [("ITEM-1", 1), ("ITEM-2", 2)]
    assert not {i["name"] for i in amended["items"]} & {i["name"] for i in so["items"]}
    # the Journal Entry too
    r = erp.post(je_path, json={"run_method": "amend"})
    assert r.status_code == 200 and r.json()["data"]["name"] == f"{je['name']}-1", r.text
    assert len(r.json()["data"]["accounts"]) == 2
