"""Deleting a child row follows one rule on every route, on both databases (in process).

``DELETE /api/resource/<child>/<row>`` and ``frappe.client.delete`` both remove the row
through its parent: the user needs ``write`` on the parent document, else the row is
reported as not found, whether or not the user may read the parent; the parent is saved
without the row (its rules apply: a submitted parent refuses). A row that is not stored in
a Table field of its parent is not found either.

"Not found" is the answer to a missing row: 404, or for a user who may not read the child
DocType (every user but Administrator, as child DocTypes carry no permissions of their
own) the masked 403 of a DocType they may not read. Either way it is the same answer for a
row that exists and one that does not, so the answer tells nothing about other documents.
"""

from __future__ import annotations

import pytest

from tests.conftest import BACKENDS
from tests.inprocess import InProcess, open_site, token_for

READER, WRITER, STRANGER = "reader@crates.test", "writer@crates.test", "stranger@crates.test"
# DocPerm's defaults grant write, create and delete: the reader's row says no to them.
CRATE_PERMS = [{"role": "Crate Reader", "read": 1, "write": 0, "create": 0, "delete": 0},
               {"role": "Crate Writer", "read": 1, "write": 1, "create": 1, "submit": 1, "cancel": 1}]
ROUTES = ("rest", "rpc")
NOT_FOUND = (403, "PermissionError", "No permission for Crate Part")  # missing, as a non-admin sees it
OK = {"rest": 202, "rpc": 200}


@pytest.fixture(scope="module", params=BACKENDS)
def crates(request, tmp_path_factory):
    from ristretto.api.app import App
    from ristretto.site.install import add_user
    site = open_site(tmp_path_factory.mktemp(f"crates-{request.param}"), request.param, request)
    app = App(site)
    admin = InProcess(app, headers=token_for(site, "Administrator"))
    for role in ("Crate Reader", "Crate Writer", "Bystander"):
        assert admin.post("/api/resource/Role", json={"role_name": role}).status_code == 200
    for body in (
        {"name": "Crate Part", "istable": 1, "fields": [{"fieldname": "code", "fieldtype": "Data", "label": "Code"}]},
        {"name": "Crate", "autoname": "field:title", "is_submittable": 1, "permissions": CRATE_PERMS, "fields": [
            {"fieldname": "title", "fieldtype": "Data", "label": "Title"},
            {"fieldname": "parts", "fieldtype": "Table", "options": "Crate Part", "label": "Parts"}]},
    ):
        r = admin.post("/api/resource/DocType", json={"module": "Custom", "custom": 1, **body})
        assert r.status_code == 200, r.text
    add_user(site, READER, None, ["Crate Reader"])
    add_user(site, WRITER, None, ["Crate Writer"])
    add_user(site, STRANGER, None, ["Bystander"])
    clients = {user: InProcess(app, headers=token_for(site, user)) for user in (READER, WRITER, STRANGER)}
    yield admin, clients, site
    site.close()


def _crate(admin: InProcess, title: str, *, docstatus: int = 0) -> dict:
    r = admin.post("/api/resource/Crate", json={"title": title, "docstatus": docstatus,
                                                "parts": [{"code": "a"}, {"code": "b"}, {"code": "c"}]})
    assert r.status_code == 200, r.text
    return r.json()["data"]


def _delete(client: InProcess, route: str, name: str):
    if route == "rest":
        return client.delete(f"/api/resource/Crate Part/{name}")
    return client.post("/api/method/frappe.client.delete", json={"doctype": "Crate Part", "name": name})


def _answer(r) -> tuple:
    body = r.json()
    return r.status_code, body.get("exc_type"), body.get("_error_message")


def _codes(admin: InProcess, title: str) -> list[tuple[str, int]]:
    return [(row["code"], row["idx"]) for row in admin.get(f"/api/resource/Crate/{title}").json()["data"]["parts"]]


@pytest.mark.parametrize("route", ROUTES)
def test_a_writer_deletes_the_row_and_the_parent_is_saved(crates, route):
    admin, clients, _ = crates
    crate = _crate(admin, f"writer-{route}")
    r = _delete(clients[WRITER], route, crate["parts"][1]["name"])
    assert r.status_code == OK[route], r.text
    assert _codes(admin, crate["name"]) == [("a", 1), ("c", 2)]
    after = admin.get(f"/api/resource/Crate/{crate['name']}").json()["data"]
    assert after["modified"] > crate["modified"] and after["modified_by"] == WRITER
    # the same row again: gone
    assert _answer(_delete(clients[WRITER], route, crate["parts"][1]["name"])) == NOT_FOUND
    r = _delete(admin, route, crate["parts"][1]["name"])
    assert r.status_code == 404 and r.json()["exc_type"] == "DoesNotExistError", r.text


@pytest.mark.parametrize("user", [READER, STRANGER])
@pytest.mark.parametrize("route", ROUTES)
def test_a_row_whose_parent_is_not_writable_is_not_found(crates, route, user):
    admin, clients, _ = crates
    crate = _crate(admin, f"locked-{route}-{user.split('@')[0]}")
    row = crate["parts"][0]["name"]
    # the answer to a row that does not exist: nothing tells them apart
    assert _answer(_delete(clients[user], route, "no-such-row")) == NOT_FOUND
    r = _delete(clients[user], route, row)
    assert _answer(r) == NOT_FOUND, r.text
    assert _codes(admin, crate["name"]) == [("a", 1), ("b", 2), ("c", 3)]


@pytest.mark.parametrize("route", ROUTES)
def test_a_row_of_a_submitted_parent_stays(crates, route):
    admin, clients, _ = crates
    crate = _crate(admin, f"submitted-{route}", docstatus=1)
    r = _delete(clients[WRITER], route, crate["parts"][0]["name"])
    assert r.status_code == 417 and r.json()["exc_type"] == "UpdateAfterSubmitError", r.text
    assert _codes(admin, crate["name"]) == [("a", 1), ("b", 2), ("c", 3)]


@pytest.mark.parametrize("route", ROUTES)
def test_a_row_outside_a_table_of_its_parent_is_not_found(crates, route):
    admin, _, site = crates
    crate = _crate(admin, f"stray-{route}")
    stray = crate["parts"][0]["name"]
    with site.admin() as ctx:
        ctx.db.execute('UPDATE "tabCrate Part" SET parentfield = ? WHERE name = ?', ("bogus", stray))
    r = _delete(admin, route, stray)
    assert r.status_code == 404 and r.json()["exc_type"] == "DoesNotExistError", r.text
    with site.admin() as ctx:
        assert ctx.db.one('SELECT parentfield FROM "tabCrate Part" WHERE name = ?', (stray,)) == ("bogus",)
