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

from tests.conftest import FIXTURES, start_server, stop_server

FILES = ["frappe/note.json", "frappe/note_seen_by.json", "erpnext/sales_order.json",
         "erpnext/sales_order_item.json", "erpnext/sales_taxes_and_charges.json", "frappe/contact.json",
         "frappe/contact_email.json", "frappe/dynamic_link.json"]
DEFS = {d["name"]: d for d in (json.loads((FIXTURES / f).read_bytes()) for f in FILES)}
MATRIX = ("Note", "Sales Order", "Contact")
# Parent DocType -> (Table field, child DocType, a child field to update, its new value).
CHILD = {"Note": ("seen_by", "Note Seen By", "user", "other@perm.test"),
         "Sales Order": ("items", "Sales Order Item", "item_name", "renamed item"),
         "Contact": ("email_ids", "Contact Email", "email_id", "renamed@example.com")}
# A level-0 field each principal's update writes.
UPDATE_FIELD = {"Note": "content", "Sales Order": "po_no", "Contact": "last_name"}

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
                "items": [{"item_code": "ITEM-1", "item_name": f"item {tag}", "qty": 1, "uom": "Nos",
                           "conversion_factor": 1, "delivery_date": "2030-01-01"}]}
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

    def all_docs(self, doctype: str, **params) -> list[dict]:
        r = self.admin.get(f"/api/resource/{doctype}",
                           params={"fields": '["name", "owner"]', "limit_page_length": 0, **params})
        assert r.status_code == 200, r.text
        return r.json()["data"]

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
        return oracle.allows(roles, right, whose == "own")

    # Documents in play: one per (owner, purpose), seeded so that owning does not need ``create``.
    docs = {(whose, purpose): world.seed(owner, doctype)
            for whose, owner in owners.items() for purpose in ("read", "update", "delete", "child")}

    # list and count: 403 without read/select; otherwise exactly the rows the scope allows
    scope = oracle.list_scope(roles)
    visible = {d["name"] for d in world.all_docs(doctype) if scope == "all" or (scope == "own" and d["owner"] == p.email)}
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
    r = c.get(_path(doctype, "no-such-document"))
    bad.expect(f"read missing {doctype}", r, False, denied=404 if oracle.scope(roles, "read") != "none" else 403)

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
    visible = {d["name"] for d in world.all_docs(doctype) if scope == "all" or (scope == "own" and d["owner"] == p.email)}
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
        r = c.delete(_path(child_dt, row))
        ok = allowed("delete", whose) and level in oracle.levels(roles, "delete")
        bad.expect(f"delete {whose} {child_dt}", r, ok, ok=202)
        bad.check(f"delete {whose} {child_dt} stored",
                  (row not in {x["name"] for x in world.stored(doctype, parent)[table]}) == ok)

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
