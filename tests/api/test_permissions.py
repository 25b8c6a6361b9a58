"""Role permissions over HTTP, checked against an oracle built from the DocPerm rows.

``test_permission_matrix`` is the acceptance test of the permissions issue: Note (``if_owner``
and permlevel rows), Sales Order (submit/cancel) and Contact (many roles, an ``All`` if_owner
row) are imported from the shared fixtures; one user per role named in their DocPerm rows,
a user with only the automatic roles, a Website User and Guest then try every route (list,
count, read, create, update, delete, submit, cancel, child rows) on documents they own and
documents someone else owns. The expected answer comes from ``Oracle``, which reads the
DocPerm rows of the fixture JSON and applies ``05-permissions.md`` § 3 on its own; it shares
no code with the server.

The other tests cover row and field visibility (if_owner, Frappe's ToDo rule, permlevels on
every response path, silently ignored writes), User Permissions and Custom DocPerm rows
(also seen by a second server process on the same site).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.conftest import FIXTURES, HAVE_SHARED, needs_shared, start_server, stop_server

# Sales Order is ERPNext's (not shipped): without the full fixture set, Note and Contact only.
FILES = ["frappe/note.json", "frappe/note_seen_by.json", "erpnext/sales_order.json",
         "erpnext/sales_order_item.json", "erpnext/sales_taxes_and_charges.json", "frappe/contact.json",
         "frappe/contact_email.json", "frappe/dynamic_link.json"]
FILES = [f for f in FILES if HAVE_SHARED or not f.startswith("erpnext/")]
DEFS = {d["name"]: d for d in (json.loads((FIXTURES / f).read_bytes()) for f in FILES)}
MATRIX = tuple(d for d in ("Note", "Sales Order", "Contact") if d in DEFS)
# Parent DocType -> (Table field, child DocType, a child field to update, its new value).
CHILD = {"Note": ("seen_by", "Note Seen By", "user", "other@perm.test"),
         "Sales Order": ("items", "Sales Order Item", "item_name", "renamed item"),
         "Contact": ("email_ids", "Contact Email", "email_id", "renamed@example.com")}
# A level-0 field each principal's update writes.
UPDATE_FIELD = {"Note": "content", "Sales Order": "po_no", "Contact": "last_name"}
# Frappe's Note rule: a note is for its owner unless it is public (the matrix's notes are private).
PRIVATE_UNLESS_PUBLIC = {"Note"}

PASSWORD = "perm-pw-123"
OTHER = "other@perm.test"   # owns the documents that are "someone else's"
AUTOMATIC = {"All", "Guest", "Administrator", "Desk User"}
RIGHTS = ("select", "read", "write", "create", "delete", "submit", "cancel", "amend", "print", "email",
          "report", "import", "export", "share")


# --- the oracle: DocPerm rows -> expected answers (05-permissions.md § 3, § 5, § 7) -------------

class Oracle:
    def __init__(self, definition: dict):
        self.rows = definition.get("permissions") or []
        self.submittable = bool(definition.get("is_submittable"))
        self.allow_import = bool(definition.get("allow_import"))

    def _rows(self, roles: set[str], level: int = 0) -> list[dict]:
        return [r for r in self.rows if r.get("role") in roles and int(r.get("permlevel") or 0) == level]

    def scope(self, roles: set[str], right: str) -> str:
        """'all', 'own' (only documents the user owns) or 'none'."""
        if right in ("submit", "cancel", "amend") and not self.submittable:
            return "none"
        if right == "import" and not self.allow_import:
            return "none"
        rows = self._rows(roles)
        plain = any(r.get(right) and not r.get("if_owner") for r in rows)
        by_owner = any(r.get(right) and r.get("if_owner") for r in rows)
        if plain or (by_owner and right == "create"):  # create is never owner-restricted
            return "all"
        return "own" if by_owner else "none"

    def allows(self, roles: set[str], right: str, mine: bool) -> bool:
        s = self.scope(roles, right)
        return s == "all" or (s == "own" and mine)

    def list_scope(self, roles: set[str]) -> str:
        read = self.scope(roles, "read")
        return read if read != "none" else self.scope(roles, "select")

    def levels(self, roles: set[str], right: str) -> set[int]:
        """Permlevels at which some row of the roles grants ``right``."""
        return {int(r.get("permlevel") or 0) for r in self.rows if r.get("role") in roles and r.get(right)}

    def readable(self, roles: set[str], definition: dict) -> set[str]:
        """Fields of ``definition`` (this DocType or one of its child tables) the roles may read."""
        levels = self.levels(roles, "read")
        return {f["fieldname"] for f in definition["fields"] if int(f.get("permlevel") or 0) in levels}

    def table_level(self, fieldname: str, definition: dict) -> int:
        return next(int(f.get("permlevel") or 0) for f in definition["fields"] if f["fieldname"] == fieldname)


ORACLES = {name: Oracle(d) for name, d in DEFS.items()}


# --- principals: one user per role in the rows, automatic roles only, Website User, Guest -------

@dataclass(frozen=True)
class Principal:
    key: str
    email: str | None
    role: str | None = None
    website: bool = False

    @property
    def roles(self) -> set[str]:
        if self.email is None:
            return {"Guest"}
        roles = {"All", "Guest"} | ({self.role} if self.role else set())
        if not self.website:
            roles.add("Desk User")  # System Users hold Desk User (05 § 1)
        return roles


def _slug(role: str) -> str:
    return role.lower().replace(" ", "-")


ROLES = sorted({r["role"] for dt in MATRIX for r in DEFS[dt]["permissions"]} - AUTOMATIC)
PRINCIPALS = ([Principal(_slug(r), f"{_slug(r)}@perm.test", r) for r in ROLES]
              + [Principal("automatic-roles-only", "plain@perm.test"),
                 Principal("website-user", "web@perm.test", website=True),
                 Principal("guest", None)])
BY_KEY = {p.key: p for p in PRINCIPALS}


def sample(doctype: str, tag: str) -> dict[str, Any]:
    """A valid new document (dangling Link targets are tolerated)."""
    if doctype == "Note":
        return {"title": f"note {tag}", "content": "text", "public": 0,
                "seen_by": [{"user": "Administrator"}]}
    if doctype == "Contact":
        return {"first_name": f"contact {tag}", "email_ids": [{"email_id": f"{tag}@example.com"}]}
    if doctype == "Sales Order":
        return {"naming_series": "SAL-ORD-.YYYY.-", "customer": "CUST-1", "company": "Co", "currency": "USD",
                "conversion_rate": 1, "selling_price_list": "Standard", "price_list_currency": "USD",
                "plc_conversion_rate": 1, "delivery_date": "2030-01-01", "po_no": f"po {tag}",
                "contact_person": None,
                # two rows: items is mandatory, so a row can be deleted only while another remains
                "items": [{"item_code": f"ITEM-{i}", "item_name": f"item {tag}", "qty": 1, "uom": "Nos",
                           "conversion_factor": 1, "delivery_date": "2030-01-01"} for i in (1, 2)]}
    raise AssertionError(doctype)


_tags = itertools.count(1)


@dataclass
class World:
    """The site of the module's server, with users, sessions and a seeding back door."""
    server: Any
    admin: httpx.Client
    clients: dict[str, httpx.Client] = field(default_factory=dict)
    site: Any = None

    def client(self, key: str) -> httpx.Client:
        return self.clients[key]

    def seed(self, owner: str, doctype: str, docstatus: int = 0, **values) -> str:
        """Insert a document owned by ``owner`` through the model layer (no permission checks),
        so that every principal, even one without ``create``, owns documents."""
        from ristretto.model import document
        site = self.site
        with site.db.connect() as conn:
            site.registry.ensure_fresh(conn)
            ctx = site.context(conn, user=owner)
            with conn.transaction():
                doc = document.insert(ctx, doctype, {**sample(doctype, str(next(_tags))), **values,
                                                     "docstatus": docstatus})
            return doc.name

    def cancel(self, doctype: str, name: str) -> None:
        """Cancel a submitted document through the model layer (no permission checks)."""
        from ristretto.model import lifecycle
        site = self.site
        with site.db.connect() as conn:
            site.registry.ensure_fresh(conn)
            with conn.transaction():
                lifecycle.cancel(site.context(conn), doctype, name)

    def all_docs(self, doctype: str, fields: str = '["name", "owner"]', parent: str | None = None) -> list[dict]:
        """Every row, read through the model layer without permission checks (Administrator's
        lists leave out other users' private notes, as Frappe's do)."""
        from ristretto.model import listing
        site = self.site
        with site.db.connect() as conn:
            site.registry.ensure_fresh(conn)
            # The model takes values: request text is decoded at the API edge.
            return listing.get_list(site.context(conn), doctype, fields=json.loads(fields), parent=parent,
                                    limit=None)

    def stored(self, doctype: str, name: str) -> dict | None:
        r = self.admin.get(f"/api/resource/{doctype}/{quote(str(name))}")
        if r.status_code == 404:
            return None
        assert r.status_code == 200, r.text
        return r.json()["data"]


def login(server, email: str, password: str = PASSWORD) -> httpx.Client:
    c = server.client()
    r = c.post("/api/method/login", json={"usr": email, "pwd": password})
    assert r.status_code == 200, r.text
    return c


@pytest.fixture(scope="module")
def world(server):
    from ristretto.site import Site
    server.cli("import-doctypes", *[str(FIXTURES / f) for f in FILES])
    server.cli("add-user", OTHER, "--password", PASSWORD)
    admin = server.admin()
    w = World(server, admin)
    for p in PRINCIPALS:
        if p.email is None:
            w.clients[p.key] = server.client()
            continue
        server.cli("add-user", p.email, "--password", PASSWORD, *(["--roles", p.role] if p.role else []))
        if p.website:
            r = admin.put(f"/api/resource/User/{p.email}", json={"user_type": "Website User"})
            assert r.status_code == 200, r.text
        w.clients[p.key] = login(server, p.email)
    w.site = Site(server.site_dir)
    yield w
    for c in w.clients.values():
        c.close()
    admin.close()
    w.site.close()


def _path(doctype: str, name: Any = None) -> str:
    return f"/api/resource/{doctype}" + (f"/{quote(str(name))}" if name is not None else "")


class Mismatches(list):
    """Every deviation from the oracle, reported together."""

    def expect(self, what: str, response: httpx.Response, allowed: bool, ok: int = 200, denied: int = 403):
        want = ok if allowed else denied
        if response.status_code != want:
            self.append(f"{what}: expected {want}, got {response.status_code} {response.text[:300]}")
            return False
        if want == 403 and response.json().get("exc_type") != "PermissionError":
            self.append(f"{what}: 403 without PermissionError: {response.text[:300]}")
        return True

    def check(self, what: str, condition: bool, detail: Any = ""):
        if not condition:
            self.append(f"{what}: {detail}")


# --- 1. the matrix -------------------------------------------------------------------------------

@pytest.mark.parametrize("principal", [p.key for p in PRINCIPALS])
@pytest.mark.parametrize("doctype", MATRIX)
def test_permission_matrix(world, doctype, principal):
    p = BY_KEY[principal]
    oracle = ORACLES[doctype]
    roles = p.roles
    c = world.client(principal)
    bad = Mismatches()
    owners = {"own": p.email, "other": OTHER} if p.email else {"other": OTHER}

    def allowed(right: str, whose: str) -> bool:
        private = doctype in PRIVATE_UNLESS_PUBLIC and whose != "own"
        return oracle.allows(roles, right, whose == "own") and not private

    # Documents in play: one per (owner, purpose), seeded so that owning does not need ``create``.
    docs = {(whose, purpose): world.seed(owner, doctype)
            for whose, owner in owners.items() for purpose in ("read", "update", "delete", "child")}

    # list and count: 403 without read/select; otherwise exactly the rows the scope allows
    scope = oracle.list_scope(roles)

    def visible_now() -> set[str]:
        if doctype in PRIVATE_UNLESS_PUBLIC:
            return {d["name"] for d in world.all_docs(doctype, fields='["name", "owner", "public"]')
                    if scope != "none" and (d["owner"] == p.email or (scope == "all" and d["public"]))}
        return {d["name"] for d in world.all_docs(doctype)
                if scope == "all" or (scope == "own" and d["owner"] == p.email)}

    visible = visible_now()
    r = c.get(_path(doctype), params={"fields": '["name", "owner"]', "limit_page_length": 0})
    if bad.expect(f"list {doctype}", r, scope != "none") and r.status_code == 200:
        bad.check(f"list {doctype} rows", {d["name"] for d in r.json()["data"]} == visible,
                  f"got {sorted(d['name'] for d in r.json()['data'])}, expected {sorted(visible)}")
    r = c.get("/api/method/frappe.client.get_count", params={"doctype": doctype})
    if bad.expect(f"count {doctype}", r, scope != "none") and r.status_code == 200:
        bad.check(f"count {doctype}", r.json().get("message") == len(visible), f"{r.json()} != {len(visible)}")

    # read one (own / someone else's / missing: masked as 403 without DocType-level read)
    table, child_dt, child_field, child_value = CHILD[doctype]
    table_readable = oracle.table_level(table, DEFS[doctype]) in oracle.levels(roles, "read")
    for whose in owners:
        r = c.get(_path(doctype, docs[(whose, "read")]))
        if bad.expect(f"read {whose} {doctype}", r, allowed("read", whose)) and r.status_code == 200:
            data = r.json()["data"]
            bad.check(f"read {whose} {doctype} child rows", bool(data.get(table)) == table_readable, data.get(table))
    masked = 404 if oracle.scope(roles, "read") != "none" else 403
    for verb in ("GET", "PUT", "DELETE"):
        r = c.request(verb, _path(doctype, "no-such-document"), **({"json": {"title": "x"}} if verb == "PUT" else {}))
        bad.expect(f"{verb} missing {doctype}", r, False, denied=masked)

    # create (never owner-restricted)
    r = c.post(_path(doctype), json=sample(doctype, f"created-{next(_tags)}"))
    if bad.expect(f"create {doctype}", r, oracle.scope(roles, "create") != "none") and r.status_code == 200:
        bad.check(f"create {doctype} owner", r.json()["data"].get("owner") == p.email, r.json()["data"].get("owner"))

    # update one level-0 field; the stored value tells whether the write happened
    fieldname = UPDATE_FIELD[doctype]
    for whose in owners:
        name = docs[(whose, "update")]
        before = world.stored(doctype, name).get(fieldname)
        r = c.put(_path(doctype, name), json={fieldname: f"updated by {p.key}"})
        ok = allowed("write", whose)
        bad.expect(f"update {whose} {doctype}", r, ok)
        after = world.stored(doctype, name).get(fieldname)
        bad.check(f"update {whose} {doctype} stored", after == (f"updated by {p.key}" if ok else before), after)

    # delete
    for whose in owners:
        name = docs[(whose, "delete")]
        r = c.delete(_path(doctype, name))
        ok = allowed("delete", whose)
        bad.expect(f"delete {whose} {doctype}", r, ok, ok=202)
        bad.check(f"delete {whose} {doctype} stored", (world.stored(doctype, name) is None) == ok)

    # child rows: listed through the parent, read/updated/deleted as the parent document allows
    visible = visible_now()
    r = c.get(_path(child_dt), params={"parent": doctype, "fields": '["name", "parent"]', "limit_page_length": 0})
    if bad.expect(f"list {child_dt} (parent {doctype})", r, scope != "none" and oracle.scope(roles, "read") != "none"
                  and table_readable) and r.status_code == 200:
        rows = r.json()["data"]
        expected_rows = {row["name"] for row in world.all_docs(child_dt, parent=doctype,
                                                               fields='["name", "parent"]')
                         if row["parent"] in visible}
        bad.check(f"list {child_dt} rows", {row["name"] for row in rows} == expected_rows,
                  f"got {len(rows)} rows, expected {len(expected_rows)}; "
                  f"foreign parents: {sorted({row['parent'] for row in rows} - visible)}")
    r = c.get(_path(child_dt))
    bad.expect(f"list {child_dt} without parent", r, False)
    r = c.get(_path(child_dt, "no-such-row"))
    bad.expect(f"read missing {child_dt}", r, False)
    level = oracle.table_level(table, DEFS[doctype])
    for whose in owners:
        parent = docs[(whose, "child")]
        row = world.stored(doctype, parent)[table][0]["name"]
        r = c.get(_path(child_dt, row))
        bad.expect(f"read {whose} {child_dt}", r, allowed("read", whose) and level in oracle.levels(roles, "read"))
        r = c.put(_path(child_dt, row), json={child_field: child_value})
        ok = allowed("write", whose) and level in oracle.levels(roles, "write")
        bad.expect(f"update {whose} {child_dt}", r, ok)
        stored_rows = world.stored(doctype, parent)[table]
        bad.check(f"update {whose} {child_dt} stored",
                  (stored_rows[0].get(child_field) == child_value) == ok, stored_rows)
        # A row is deleted by saving the parent without it: ``write`` on the parent (else the
        # row is not found, which a user who may not read the child DocType sees as a 403),
        # and a table at a permlevel the user may not write is silently put back.
        r = c.delete(_path(child_dt, row))
        bad.expect(f"delete {whose} {child_dt}", r, allowed("write", whose), ok=202)
        gone = allowed("write", whose) and level in oracle.levels(roles, "write")
        bad.check(f"delete {whose} {child_dt} stored",
                  (row not in {x["name"] for x in world.stored(doctype, parent)[table]}) == gone)

    # submit and cancel (only on submittable DocTypes; write is needed as well)
    if oracle.submittable:
        for whose, owner in owners.items():
            draft = world.seed(owner, doctype)
            ok = allowed("write", whose) and allowed("submit", whose)
            r = c.put(_path(doctype, draft), json={"docstatus": 1})
            bad.expect(f"submit (docstatus 1) {whose} {doctype}", r, ok)
            bad.check(f"submit {whose} stored", world.stored(doctype, draft)["docstatus"] == (1 if ok else 0))
            draft = world.seed(owner, doctype)
            r = c.post(_path(doctype, draft), params={"run_method": "submit"})
            bad.expect(f"run_method=submit {whose} {doctype}", r, ok and allowed("read", whose))
            bad.check(f"run_method=submit {whose} stored",
                      world.stored(doctype, draft)["docstatus"] == (1 if ok and allowed("read", whose) else 0))
            ok = allowed("write", whose) and allowed("cancel", whose)
            submitted = world.seed(owner, doctype, docstatus=1)
            r = c.put(_path(doctype, submitted), json={"docstatus": 2})
            bad.expect(f"cancel (docstatus 2) {whose} {doctype}", r, ok)
            bad.check(f"cancel {whose} stored", world.stored(doctype, submitted)["docstatus"] == (2 if ok else 1))
            submitted = world.seed(owner, doctype, docstatus=1)
            r = c.post(_path(doctype, submitted), params={"run_method": "cancel"})
            bad.expect(f"run_method=cancel {whose} {doctype}", r, ok and allowed("read", whose))
        r = c.post(_path(doctype), json={**sample(doctype, f"submitted-{next(_tags)}"), "docstatus": 1})
        bad.expect(f"create submitted {doctype}", r,
                   oracle.scope(roles, "create") != "none" and oracle.scope(roles, "submit") != "none")

    assert not bad, f"{principal} on {doctype} (roles {sorted(roles)}):\n" + "\n".join(bad)


@needs_shared
def test_oracle_reads_the_rows_as_the_spec_says():
    """Spot checks of the oracle itself against 05-permissions.md, so the matrix means something."""
    note, so, contact = ORACLES["Note"], ORACLES["Sales Order"], ORACLES["Contact"]
    desk = {"All", "Guest", "Desk User"}
    assert note.scope(desk, "read") == "all" and note.scope(desk, "write") == "own"
    assert note.scope(desk, "create") == "all" and note.levels(desk, "read") == {0, 1}
    assert note.scope({"All", "Guest"}, "read") == "none"           # Website User
    assert contact.scope({"All", "Guest"}, "read") == "own"         # the All if_owner row
    assert contact.scope({"Sales User", "All"}, "delete") == "own"  # delete only through if_owner
    assert contact.scope({"Sales User", "All"}, "write") == "all"
    assert so.scope({"Sales User"}, "submit") == "all" and so.scope({"Stock User"}, "write") == "none"
    assert so.scope({"System Manager"}, "read") == "none"           # no row for it
    assert contact.scope({"Sales User"}, "submit") == "none"        # not submittable


# --- 2. rows and fields ------------------------------------------------------------------------

def test_filters_cannot_widen_if_owner_rows(world):
    """The owner condition is ANDed with the client's filters: or_filters cannot reach other rows."""
    c = world.client("automatic-roles-only")           # Contact: only the ``All`` if_owner row
    mine, theirs = world.seed("plain@perm.test", "Contact"), world.seed(OTHER, "Contact")
    own_names = {d["name"] for d in world.all_docs("Contact") if d["owner"] == "plain@perm.test"}
    for params in ({"or_filters": json.dumps([["owner", "=", OTHER], ["name", "=", theirs]])},
                   {"filters": json.dumps([["name", "in", [mine, theirs]]])},
                   {"filters": json.dumps({"owner": OTHER})}):
        r = c.get("/api/resource/Contact", params={**params, "limit_page_length": 0})
        assert r.status_code == 200, r.text
        names = {d["name"] for d in r.json()["data"]}
        assert names <= own_names and theirs not in names
        r = c.get("/api/method/frappe.client.get_count", params={"doctype": "Contact", **params})
        assert r.status_code == 200 and r.json()["message"] == len(names)
    assert c.get(_path("Contact", theirs)).status_code == 403
    assert c.get(_path("Contact", mine)).status_code == 200


def test_todo_rule_rows_and_documents(world):
    """Without a ToDo role of their own, users see and handle only ToDos allocated to them or
    assigned by them (Frappe's ToDo permission hooks)."""
    admin, plain = world.admin, world.client("automatic-roles-only")
    me = "plain@perm.test"

    def todo(**values) -> str:
        r = admin.post("/api/resource/ToDo", json={"description": "todo", **values})
        assert r.status_code == 200, r.text
        return r.json()["data"]["name"]

    allocated = todo(allocated_to=me)
    assigned = todo(assigned_by=me, allocated_to=OTHER)
    foreign = todo(allocated_to=OTHER)
    mine = {d["name"] for d in world.all_docs("ToDo", fields='["name", "allocated_to", "assigned_by"]')
            if me in (d.get("allocated_to"), d.get("assigned_by"))}
    assert {allocated, assigned} <= mine and foreign not in mine
    r = plain.get("/api/resource/ToDo", params={"limit_page_length": 0})
    assert r.status_code == 200 and {d["name"] for d in r.json()["data"]} == mine
    r = plain.get("/api/method/frappe.client.get_count", params={"doctype": "ToDo"})
    assert r.json()["message"] == len(mine)
    assert plain.get(_path("ToDo", allocated)).status_code == 200
    assert plain.get(_path("ToDo", foreign)).status_code == 403
    assert plain.put(_path("ToDo", foreign), json={"status": "Closed"}).status_code == 403
    assert plain.delete(_path("ToDo", foreign)).status_code == 403
    assert plain.put(_path("ToDo", assigned), json={"status": "Closed"}).status_code == 200
    r = plain.post("/api/resource/ToDo", json={"description": "for me", "allocated_to": me})
    assert r.status_code == 200, r.text
    # System Manager has a ToDo row of its own: every ToDo
    sm = world.client("system-manager")
    r = sm.get("/api/resource/ToDo", params={"limit_page_length": 0})
    assert {allocated, assigned, foreign} <= {d["name"] for d in r.json()["data"]}
    assert sm.get(_path("ToDo", foreign)).status_code == 200


def test_existence_is_not_revealed_to_users_without_the_doctype(world):
    """A user without any right on Note gets the same answer for an existing and a missing note."""
    c = world.client("website-user")
    existing = world.seed(OTHER, "Note")
    for verb, kwargs in (("GET", {}), ("PUT", {"json": {"content": "x"}}), ("DELETE", {})):
        answers = []
        for name in (existing, "no-such-note"):
            r = c.request(verb, _path("Note", name), **kwargs)
            body = r.json()
            answers.append((r.status_code, body.get("exc_type"), body.get("_error_message")))
        assert answers[0] == answers[1] == (403, "PermissionError", "No permission for Note"), (verb, answers)


@needs_shared
def test_role_changes_apply_at_once(world):
    server, admin = world.server, world.admin
    email = "role-change@perm.test"
    server.cli("add-user", email, "--password", PASSWORD, "--roles", "Stock User")
    c = login(server, email)
    order = world.seed(OTHER, "Sales Order")
    assert c.get(_path("Sales Order", order)).status_code == 200
    assert c.put(_path("Sales Order", order), json={"po_no": "x"}).status_code == 403
    r = admin.put(f"/api/resource/User/{email}", json={"roles": [{"role": "Sales User"}]})
    assert r.status_code == 200, r.text
    assert c.put(_path("Sales Order", order), json={"po_no": "x"}).status_code == 200
    r = admin.put(f"/api/resource/User/{email}", json={"roles": []})
    assert r.status_code == 200, r.text
    assert c.get(_path("Sales Order", order)).status_code == 403
    assert c.get("/api/resource/Sales Order").status_code == 403


HIDDEN_SO = "ignore_pricing_rule"  # Sales Order, permlevel 1: only Sales Manager has a row there


def _keys_everywhere(value: Any) -> set[str]:
    """Every key anywhere in a JSON value."""
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys_everywhere(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys_everywhere(v)}
    return set()


@needs_shared
def test_permlevel_fields_never_reach_a_user_without_the_level(world):
    """Sales User has no permlevel-1 row on Sales Order: ignore_pricing_rule is absent from every
    response; Sales Manager (level 1 read) gets it on the same paths."""
    user, manager = world.client("sales-user"), world.client("sales-manager")
    own = world.seed("sales-user@perm.test", "Sales Order", ignore_pricing_rule=1)
    # only a cancelled document can be amended
    original = world.seed("sales-user@perm.test", "Sales Order", docstatus=1, ignore_pricing_rule=1)
    world.cancel("Sales Order", original)
    amended = world.seed("sales-user@perm.test", "Sales Order", amended_from=original)

    def responses(c: httpx.Client, draft: str) -> dict[str, Any]:
        out = {
            "read": c.get(_path("Sales Order", own)),
            "list *": c.get("/api/resource/Sales Order", params={"fields": '["*"]', "limit_page_length": 0}),
            "list fields": c.get("/api/resource/Sales Order", params={"fields": f'["name", "{HIDDEN_SO}"]'}),
            "list as list": c.get("/api/resource/Sales Order",
                                  params={"fields": f'["name", "{HIDDEN_SO}"]', "as_dict": 0}),
            "list link.field": c.get("/api/resource/Sales Order", params={
                "fields": f'["name", "amended_from.{HIDDEN_SO}"]', "filters": json.dumps({"name": amended})}),
            "list aggregate": c.get("/api/resource/Sales Order", params={"fields": f'["max({HIDDEN_SO}) as m"]'}),
            "create": c.post("/api/resource/Sales Order", json={**sample("Sales Order", "fields"), HIDDEN_SO: 1}),
            "update": c.put(_path("Sales Order", own), json={"po_no": "changed"}),
            "client.get": c.get("/api/method/frappe.client.get", params={"doctype": "Sales Order", "name": own}),
            "client.get_list": c.get("/api/method/frappe.client.get_list",
                                     params={"doctype": "Sales Order", "fields": '["*"]'}),
            "submit": c.post(_path("Sales Order", draft), params={"run_method": "submit"}),
        }
        return out

    for what, r in responses(user, world.seed("sales-user@perm.test", "Sales Order")).items():
        if what == "list aggregate":
            # an aggregate reveals values (max, min, sum...): refused, naming the field
            assert r.status_code == 417 and f"Field not permitted in query: {HIDDEN_SO}" in r.text, (what, r.text)
            continue
        assert r.status_code == 200, (what, r.text)
        body = r.json()
        assert HIDDEN_SO not in _keys_everywhere(body), (what, body)
        if what == "list as list":
            assert all(len(row) == 1 for row in body["data"]), body
        if what == "list link.field":
            assert all(set(row) <= {"name"} for row in body["data"]), body
    for what, r in responses(manager, world.seed("sales-manager@perm.test", "Sales Order")).items():
        assert r.status_code == 200, (what, r.text)
        if what in ("read", "update", "client.get", "create", "submit"):
            assert HIDDEN_SO in _keys_everywhere(r.json()), (what, r.json())


def test_child_fields_follow_the_parent_permlevels(world):
    """Note Seen By.user is permlevel 2 (System Manager only): a Desk User gets the rows without it,
    on every path that returns child rows; a System Manager gets it."""
    desk, sm = world.client("automatic-roles-only"), world.client("system-manager")
    note = world.seed("plain@perm.test", "Note", public=1, seen_by=[{"user": OTHER}])
    row = world.stored("Note", note)["seen_by"][0]["name"]

    def bodies(c: httpx.Client) -> dict[str, Any]:
        out = {
            "read": c.get(_path("Note", note)),
            "child read": c.get(_path("Note Seen By", row)),
            "child list *": c.get("/api/resource/Note Seen By", params={"parent": "Note", "fields": '["*"]'}),
            "child list fields": c.get("/api/resource/Note Seen By",
                                       params={"parent": "Note", "fields": '["name", "user"]'}),
            "list child.field": c.get("/api/resource/Note", params={"fields": '["name", "seen_by.user"]'}),
            "list `tab`.field": c.get("/api/resource/Note", params={"fields": '["name", "`tabNote Seen By`.`user`"]'}),
            "update": c.put(_path("Note", note), json={"content": "seen"}),
            "client.get": c.get("/api/method/frappe.client.get", params={"doctype": "Note", "name": note}),
            "client.get_list": c.get("/api/method/frappe.client.get_list",
                                     params={"doctype": "Note Seen By", "parent": "Note", "fields": '["*"]'}),
        }
        return out

    for what, r in bodies(desk).items():
        assert r.status_code == 200, (what, r.text)
        keys = _keys_everywhere(r.json())
        assert "user" not in keys, (what, r.json())
    assert desk.get(_path("Note", note)).json()["data"]["seen_by"][0]["name"] == row
    for what, r in bodies(sm).items():
        assert r.status_code == 200, (what, r.text)
        if what in ("read", "child read", "child list *", "child list fields", "client.get", "update"):
            assert OTHER in json.dumps(r.json()), (what, r.json())


@needs_shared
def test_unwritable_permlevel_values_are_silently_kept(world):
    admin = world.admin
    user, manager = world.client("sales-user"), world.client("sales-manager")
    r = user.post("/api/resource/Sales Order", json={**sample("Sales Order", "w1"), HIDDEN_SO: 1})
    assert r.status_code == 200, r.text
    name = r.json()["data"]["name"]
    assert world.stored("Sales Order", name)[HIDDEN_SO] == 0
    r = user.put(_path("Sales Order", name), json={HIDDEN_SO: 1, "po_no": "kept"})
    assert r.status_code == 200, r.text
    stored = world.stored("Sales Order", name)
    assert stored[HIDDEN_SO] == 0 and stored["po_no"] == "kept"
    r = manager.put(_path("Sales Order", name), json={HIDDEN_SO: 1})
    assert r.status_code == 200 and world.stored("Sales Order", name)[HIDDEN_SO] == 1
    r = user.put(_path("Sales Order", name), json={HIDDEN_SO: 0})
    assert r.status_code == 200 and world.stored("Sales Order", name)[HIDDEN_SO] == 1

    # Note: a Desk User reads permlevel 1 (public, seen_by) but may not write it
    desk = world.client("automatic-roles-only")
    r = desk.post("/api/resource/Note", json={"title": "mine", "public": 1, "seen_by": [{"user": OTHER}]})
    assert r.status_code == 200, r.text
    note = r.json()["data"]["name"]
    stored = world.stored("Note", note)
    assert stored["public"] == 0 and stored["seen_by"] == []
    r = admin.put(_path("Note", note), json={"seen_by": [{"user": OTHER}]})
    assert r.status_code == 200
    r = desk.put(_path("Note", note), json={"public": 1, "seen_by": [], "content": "new"})
    assert r.status_code == 200, r.text
    stored = world.stored("Note", note)
    assert stored["public"] == 0 and [x["user"] for x in stored["seen_by"]] == [OTHER]
    assert stored["content"] == "new"


@needs_shared
def test_rows_of_a_submitted_document_cannot_be_deleted(world):
    c = world.client("sales-user")
    order = world.seed("sales-user@perm.test", "Sales Order", docstatus=1)
    row = world.stored("Sales Order", order)["items"][0]["name"]
    r = c.delete(_path("Sales Order Item", row))
    assert r.status_code == 417, r.text
    assert row in {x["name"] for x in world.stored("Sales Order", order)["items"]}


@needs_shared
def test_child_lists_need_a_real_readable_parent(world):
    """Child tables: no parent, a parent without that table, or an unknown parent → 403 (never 500)."""
    c = world.client("sales-user")
    for params in ({}, {"parent": "Contact"}, {"parent": "No Such DocType"}, {"parent": "Sales Order Item"},
                   {"parent": '["Sales Order"]'}):
        r = c.get("/api/resource/Sales Order Item", params=params)
        assert r.status_code == 403, (params, r.text)
        r = c.get("/api/method/frappe.client.get_count", params={"doctype": "Sales Order Item", **params})
        assert r.status_code == 403, (params, r.text)
    # a Website User cannot read Sales Order, so not its rows either
    r = world.client("website-user").get("/api/resource/Sales Order Item", params={"parent": "Sales Order"})
    assert r.status_code == 403


def _make_doctype(admin: httpx.Client, name: str, fields: list[dict], permissions: list[dict], **kw) -> None:
    r = admin.get(f"/api/resource/DocType/{quote(name)}")
    if r.status_code == 200:
        return  # made by the other test of this module
    body = {"name": name, "module": "Custom", "custom": 1, "fields": fields, "permissions": permissions, **kw}
    r = admin.post("/api/resource/DocType", json=body)
    assert r.status_code == 200, r.text


LEVELLED_PERMS = [{"role": "Sales User", "read": 1, "write": 1, "create": 1, "delete": 1},
                  {"role": "Sales Manager", "read": 1, "write": 1, "create": 1, "delete": 1},
                  {"role": "Sales Manager", "permlevel": 1, "read": 1, "write": 1}]


@pytest.fixture(scope="module")
def levelled(world):
    """A DocType with a permlevel-1 field and a level-0 table whose rows have a permlevel-1 field,
    and a Single with a permlevel-1 field."""
    admin = world.admin
    _make_doctype(admin, "Perm Line", [{"fieldname": "item", "fieldtype": "Data", "label": "Item"},
                                       {"fieldname": "cost", "fieldtype": "Int", "label": "Cost", "permlevel": 1}],
                  [], istable=1)
    _make_doctype(admin, "Perm Ledger", [
        {"fieldname": "title", "fieldtype": "Data", "label": "Title"},
        {"fieldname": "salary", "fieldtype": "Int", "label": "Salary", "permlevel": 1},
        {"fieldname": "lines", "fieldtype": "Table", "options": "Perm Line", "label": "Lines"}], LEVELLED_PERMS)
    _make_doctype(admin, "Perm Settings", [
        {"fieldname": "open_value", "fieldtype": "Data", "label": "Open"},
        {"fieldname": "secret_value", "fieldtype": "Data", "label": "Secret", "permlevel": 1}],
        LEVELLED_PERMS, issingle=1)
    return world


def test_permlevel_fields_of_rows_and_singles(levelled):
    world = levelled
    user, manager = world.client("sales-user"), world.client("sales-manager")
    r = user.post("/api/resource/Perm Ledger", json={"title": "t", "salary": 100,
                                                     "lines": [{"item": "a", "cost": 5}]})
    assert r.status_code == 200, r.text
    assert {"salary", "cost"}.isdisjoint(_keys_everywhere(r.json())), r.json()
    name = r.json()["data"]["name"]
    stored = world.stored("Perm Ledger", name)
    assert not stored.get("salary") and not stored["lines"][0].get("cost")  # silently not written

    r = manager.put(_path("Perm Ledger", name), json={"salary": 100, "lines": [
        {**stored["lines"][0], "cost": 5}, {"item": "b", "cost": 7}]})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["salary"] == 100 and [x["cost"] for x in r.json()["data"]["lines"]] == [5, 7]
    rows = world.stored("Perm Ledger", name)["lines"]

    # the Sales User never receives salary or cost
    responses = {
        "read": user.get(_path("Perm Ledger", name)),
        "list *": user.get("/api/resource/Perm Ledger", params={"fields": '["*"]'}),
        "list fields": user.get("/api/resource/Perm Ledger", params={"fields": '["name", "salary", "lines.cost"]'}),
        "child list": user.get("/api/resource/Perm Line", params={"parent": "Perm Ledger", "fields": '["*"]'}),
        "child read": user.get(_path("Perm Line", rows[0]["name"])),
        # rows edited by the Sales User keep their cost; a new row gets none
        "update": user.put(_path("Perm Ledger", name), json={"title": "t2", "salary": 1, "lines": [
            {"name": rows[0]["name"], "item": "a2", "cost": 0}, {"name": rows[1]["name"], "item": "b"},
            {"item": "c", "cost": 9}]}),
    }
    for what, r in responses.items():
        assert r.status_code == 200, (what, r.text)
        assert {"salary", "cost"}.isdisjoint(_keys_everywhere(r.json())), (what, r.json())
    stored = world.stored("Perm Ledger", name)
    assert stored["salary"] == 100 and stored["title"] == "t2"
    assert [(x["item"], x.get("cost")) for x in stored["lines"]] == [("a2", 5), ("b", 7), ("c", 0)]

    # a Single: the level-0 field is written, the level-1 field kept and never shown
    single = _path("Perm Settings", "Perm Settings")
    assert manager.put(single, json={"open_value": "o", "secret_value": "s"}).status_code == 200
    r = user.put(single, json={"open_value": "o2", "secret_value": "hacked"})
    assert r.status_code == 200, r.text
    assert "secret_value" not in r.json()["data"]
    data = user.get(single).json()["data"]
    assert data["open_value"] == "o2" and "secret_value" not in data
    assert world.stored("Perm Settings", "Perm Settings")["secret_value"] == "s"


# --- 3. User Permissions ---------------------------------------------------------------------------

def _user_permission(admin: httpx.Client, **values) -> str:
    r = admin.post("/api/resource/User Permission", json=values)
    assert r.status_code == 200, r.text
    return r.json()["data"]["name"]


def _names(r: httpx.Response) -> set[str]:
    assert r.status_code == 200, r.text
    return {d["name"] for d in r.json()["data"]}


@needs_shared
def test_user_permissions_restrict_names_and_links(world):
    admin, c = world.admin, world.client("sales-user")
    me = "sales-user@perm.test"
    a, b = world.seed(OTHER, "Contact"), world.seed(OTHER, "Contact")
    so_a = world.seed(OTHER, "Sales Order", contact_person=a)
    so_b = world.seed(OTHER, "Sales Order", contact_person=b)
    so_none = world.seed(OTHER, "Sales Order")
    all_so = {d["name"] for d in world.all_docs("Sales Order")}
    linked_elsewhere = {d["name"] for d in world.all_docs("Sales Order", fields='["name", "contact_person"]')
                        if d.get("contact_person") not in (None, "", a)}

    def count(doctype: str) -> int:
        r = c.get("/api/method/frappe.client.get_count", params={"doctype": doctype})
        assert r.status_code == 200, r.text
        return r.json()["message"]

    everywhere = _user_permission(admin, user=me, allow="Contact", for_value=a)
    try:
        # Contact itself: only the allowed name
        assert _names(c.get("/api/resource/Contact", params={"limit_page_length": 0})) == {a}
        assert count("Contact") == 1
        assert c.get(_path("Contact", a)).status_code == 200
        assert c.get(_path("Contact", b)).status_code == 403
        assert c.put(_path("Contact", b), json={"last_name": "x"}).status_code == 403
        # Sales Order: contact_person empty or allowed
        visible = _names(c.get("/api/resource/Sales Order", params={"limit_page_length": 0}))
        assert {so_a, so_none} <= visible and so_b not in visible
        assert visible == all_so - linked_elsewhere
        assert count("Sales Order") == len(visible)
        assert c.get(_path("Sales Order", so_a)).status_code == 200
        assert c.get(_path("Sales Order", so_b)).status_code == 403
        assert c.put(_path("Sales Order", so_b), json={"po_no": "x"}).status_code == 403
        # nor can a visible document be moved to a value the user may not see
        r = c.put(_path("Sales Order", so_a), json={"contact_person": b})
        assert r.status_code == 403, r.text
        assert world.stored("Sales Order", so_a)["contact_person"] == a
        # a new document must satisfy them too
        r = c.post("/api/resource/Sales Order", json={**sample("Sales Order", "up"), "contact_person": b})
        assert r.status_code == 403, r.text
    finally:
        assert admin.delete(_path("User Permission", everywhere)).status_code == 202
    # removing it takes effect at once
    assert b in _names(c.get("/api/resource/Contact", params={"limit_page_length": 0}))
    assert c.get(_path("Sales Order", so_b)).status_code == 200

    # applicable_for: only Sales Order is restricted, Contact itself is not
    only_so = _user_permission(admin, user=me, allow="Contact", for_value=a, applicable_for="Sales Order")
    try:
        assert {a, b} <= _names(c.get("/api/resource/Contact", params={"limit_page_length": 0}))
        assert c.get(_path("Contact", b)).status_code == 200
        visible = _names(c.get("/api/resource/Sales Order", params={"limit_page_length": 0}))
        assert so_a in visible and so_b not in visible
        assert c.get(_path("Sales Order", so_b)).status_code == 403
    finally:
        assert admin.delete(_path("User Permission", only_so)).status_code == 202


def test_user_permissions_apply_to_child_row_links(world):
    """A document whose child rows link to a value the user is not allowed is not readable."""
    admin, c = world.admin, world.client("automatic-roles-only")
    me = "plain@perm.test"
    mine = world.seed(OTHER, "Note", public=1, seen_by=[{"user": me}])
    foreign = world.seed(OTHER, "Note", public=1, seen_by=[{"user": OTHER}])
    empty = world.seed(OTHER, "Note", public=1, seen_by=[])
    up = _user_permission(admin, user=me, allow="User", for_value=me)
    try:
        assert c.get(_path("Note", mine)).status_code == 200
        assert c.get(_path("Note", empty)).status_code == 200
        assert c.get(_path("Note", foreign)).status_code == 403
    finally:
        assert admin.delete(_path("User Permission", up)).status_code == 202
    assert c.get(_path("Note", foreign)).status_code == 200


# --- 4. Custom DocPerm, Guest rows, and a second server process ------------------------------------

def _custom_docperm(admin: httpx.Client, **values) -> str:
    """A Custom DocPerm row granting exactly ``values`` (DocPerm's own defaults grant a lot)."""
    row = {"permlevel": 0, "if_owner": 0, **{right: 0 for right in RIGHTS}, **values}
    r = admin.post("/api/resource/Custom DocPerm", json=row)
    assert r.status_code == 200, r.text
    assert r.json()["data"].get("parent") == values["parent"], r.json()
    return r.json()["data"]["name"]


def test_custom_docperm_rows_replace_the_doctype_rows_in_every_process(world):
    server = world.server
    second = start_server(server.site_dir, server.backend)
    try:
        # start_server regenerated the Administrator's secret: use the new one everywhere
        server.api_secret = second.api_secret
        world.admin.headers["Authorization"] = f"token {second.api_key}:{second.api_secret}"
        admin = world.admin

        def as_(key: str, srv) -> httpx.Client:
            return httpx.Client(base_url=srv.base_url, cookies=world.client(key).cookies, timeout=30)

        pairs = {key: (world.client(key), as_(key, second))
                 for key in ("purchase-user", "automatic-roles-only", "guest")}
        note = world.seed(OTHER, "Note", public=1)

        def statuses() -> dict[str, list[int]]:
            return {key: [c.get("/api/resource/Note").status_code for c in clients]
                    for key, clients in pairs.items()}

        before = statuses()  # also warms the second process's metadata cache
        assert before == {"purchase-user": [200, 200], "automatic-roles-only": [200, 200], "guest": [403, 403]}
        rows = [_custom_docperm(admin, parent="Note", role="Purchase User", read=1, write=1)]
        try:
            # the Note rows are replaced: Desk User has none left
            assert statuses() == {"purchase-user": [200, 200], "automatic-roles-only": [403, 403], "guest": [403, 403]}
            for c in pairs["purchase-user"]:
                data = c.get(_path("Note", note)).json()["data"]
                assert "public" not in data  # no permlevel-1 row among the custom rows
                assert c.put(_path("Note", note), json={"content": "by stock user"}).status_code == 200
                assert c.delete(_path("Note", note)).status_code == 403
                assert c.post("/api/resource/Note", json={"title": "no create"}).status_code == 403
            # a Guest row: anonymous callers (and every user: all hold Guest) may read, nothing more
            rows.append(_custom_docperm(admin, parent="Note", role="Guest", read=1))
            assert statuses() == {"purchase-user": [200, 200], "automatic-roles-only": [200, 200], "guest": [200, 200]}
            for c in pairs["guest"]:
                assert c.get(_path("Note", note)).status_code == 200
                assert c.post("/api/resource/Note", json={"title": "guest note"}).status_code == 403
                assert c.put(_path("Note", note), json={"content": "guest"}).status_code == 403
                assert c.delete(_path("Note", note)).status_code == 403
        finally:
            for name in rows:
                assert admin.delete(_path("Custom DocPerm", name)).status_code == 202
        assert statuses() == before
        for _, c in pairs.values():
            c.close()
    finally:
        stop_server(second.proc)
