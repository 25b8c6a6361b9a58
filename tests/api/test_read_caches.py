"""What a worker keeps between requests never outlives the change that makes it stale.

The version tokens (``ristretto.db.state.read``, kept per SQLite connection while no connection
committed and this one changed nothing), the ToDo rule's role test and the readable fields per
permission level (kept per DocType definition and role set) are checked here against changes made
by this worker's own connection and by another one (``other``: a second ``Site`` on the same
folder, as another worker), in process on both databases.
"""

from __future__ import annotations

import pytest

from ristretto.db import state
from ristretto.model import document
from ristretto.site import Site
from ristretto.site.install import add_user
from tests.conftest import BACKENDS
from tests.inprocess import InProcess, open_site, token_for

USER = "cache-probe@example.com"
PM = "/api/method/frappe.core.page.permission_manager.permission_manager"


@pytest.fixture(scope="module", params=BACKENDS)
def env(request, tmp_path_factory):
    from ristretto.api.app import App
    site = open_site(tmp_path_factory.mktemp(f"readcaches-{request.param}"), request.param, request)
    add_user(site, USER, None, ["System Manager"])
    admin = InProcess(App(site), headers=token_for(site, "Administrator"))
    assert admin.post("/api/resource/Role", json={"role_name": "Cache Prober"}).status_code == 200
    other = Site(site.path)  # another connection to the same database: another worker's
    yield admin, other
    other.close()
    admin.close()
    site.close()


def _update(site: Site, doctype: str, name: str, values: dict) -> None:
    with site.admin() as ctx:
        document.update(ctx, doctype, name, values)


def test_state_tokens_follow_every_connection(env):
    admin, other = env
    with admin.site.db.connect() as conn:
        first = state.read(conn)
        assert state.read(conn) == first
        with other.db.connect() as theirs, theirs.transaction():
            theirs_token = state.bump(theirs, state.WEBHOOKS)
        assert state.read(conn)[state.WEBHOOKS] == theirs_token  # committed by another connection
        with conn.transaction():
            own = state.bump(conn, state.WEBHOOKS)
        assert state.read(conn)[state.WEBHOOKS] == own  # committed by this one
        conn.begin()
        undone = state.bump(conn, state.WEBHOOKS)
        assert state.read(conn)[state.WEBHOOKS] == undone  # its own transaction sees its write
        conn.rollback()
        assert state.read(conn)[state.WEBHOOKS] == own  # rolled back: the committed token stands
        state.read(conn)[state.WEBHOOKS] = "changed by a caller"
        assert state.read(conn)[state.WEBHOOKS] == own  # every caller gets its own dict


def test_key_revoked_and_user_disabled_elsewhere_take_effect_at_once(env):
    admin, other = env
    old = token_for(admin.site, USER)
    assert admin.get("/api/resource/ToDo", headers=old).status_code == 200
    new = token_for(other, USER)  # a new secret, saved by another worker
    assert admin.get("/api/resource/ToDo", headers=old).status_code == 401
    assert admin.get("/api/resource/ToDo", headers=new).status_code == 200
    _update(other, "User", USER, {"enabled": 0})
    assert admin.get("/api/resource/ToDo", headers=new).status_code == 401
    _update(other, "User", USER, {"enabled": 1})
    assert admin.get("/api/resource/ToDo", headers=new).status_code == 200


def test_todo_rule_follows_roles_and_permission_rules(env):
    admin, other = env
    user = token_for(admin.site, USER)
    r = admin.post("/api/resource/ToDo", json={"description": "the administrator's own"})
    assert r.status_code == 200, r.text
    name = r.json()["data"]["name"]

    def sees() -> tuple[int, bool]:
        listed = admin.get("/api/resource/ToDo", headers=user, params={"limit_page_length": 0}).json()["data"]
        return (admin.get(f"/api/resource/ToDo/{name}", headers=user).status_code,
                name in {row["name"] for row in listed})

    # System Manager has a ToDo rule of its own: the user sees every ToDo.
    assert sees() == (200, True)
    _update(other, "User", USER, {"roles": [{"role": "Cache Prober"}]})  # another worker takes the role away
    assert sees() == (403, False)  # only ToDos allocated to or assigned by the user
    _update(other, "User", USER, {"roles": [{"role": "System Manager"}]})
    assert sees() == (200, True)
    # System Manager's rule on ToDo removed (All's stays): the role no longer lifts the rule.
    r = admin.post(f"{PM}.remove", json={"doctype": "ToDo", "role": "System Manager", "permlevel": 0})
    assert r.status_code == 200, r.text
    try:
        assert sees() == (403, False)
    finally:
        assert admin.post(f"{PM}.reset", json={"doctype": "ToDo"}).status_code == 200
    assert sees() == (200, True)


def test_readable_fields_follow_a_doctype_change(env):
    admin, other = env
    r = admin.post("/api/resource/DocType", json={
        "name": "Cache Probe", "module": "Custom", "custom": 1, "autoname": "field:title",
        "permissions": [{"role": "System Manager", "permlevel": 0, "read": 1, "write": 1, "create": 1}],
        "fields": [{"fieldname": "title", "fieldtype": "Data", "label": "Title"},
                   {"fieldname": "secret", "fieldtype": "Data", "label": "Secret"},
                   {"fieldname": "clock", "fieldtype": "Time", "label": "Clock"}]})
    assert r.status_code == 200, r.text
    r = admin.post("/api/resource/Cache Probe", json={"title": "p1", "secret": "s1", "clock": "09:05:00"})
    assert r.status_code == 200, r.text
    user = token_for(admin.site, USER)

    def visible() -> set[str]:
        r = admin.get("/api/resource/Cache Probe/p1", headers=user)
        assert r.status_code == 200, r.text
        assert r.json()["data"]["clock"] == "9:05:00"  # Frappe's form of a time, whatever is hidden
        return set(r.json()["data"])

    assert {"title", "secret"} <= visible()
    # The field moved to permlevel 1, where System Manager has no rule: no longer shown.
    with other.admin() as ctx:
        doctype = document.get_doc(ctx, "DocType", "Cache Probe").as_dict()
    fields = [{**f, "permlevel": 1} if f["fieldname"] == "secret" else f for f in doctype["fields"]]
    r = admin.put("/api/resource/DocType/Cache Probe", json={"fields": fields})
    assert r.status_code == 200, r.text
    shown = visible()
    assert "title" in shown and "secret" not in shown
    # Back at permlevel 0, changed by another worker this time.
    with other.admin() as ctx:
        doctype = document.get_doc(ctx, "DocType", "Cache Probe").as_dict()
        document.update(ctx, "DocType", "Cache Probe", {"fields": [
            {**f, "permlevel": 0} for f in doctype["fields"]]})
    assert {"title", "secret"} <= visible()


def test_a_time_field_added_later_is_shown_in_frappes_form(env):
    admin, other = env
    fields = [{"fieldname": "title", "fieldtype": "Data", "label": "Title"}]
    r = admin.post("/api/resource/DocType", json={
        "name": "Clock Probe", "module": "Custom", "custom": 1, "autoname": "field:title", "fields": fields})
    assert r.status_code == 200, r.text
    assert admin.post("/api/resource/Clock Probe", json={"title": "c1"}).status_code == 200
    assert "starts" not in admin.get("/api/resource/Clock Probe/c1").json()["data"]
    with other.admin() as ctx:  # another worker adds a Time field
        document.update(ctx, "DocType", "Clock Probe", {"fields": [
            *fields, {"fieldname": "starts", "fieldtype": "Time", "label": "Starts"}]})
    assert admin.put("/api/resource/Clock Probe/c1", json={"starts": "07:30:00"}).status_code == 200
    assert admin.get("/api/resource/Clock Probe/c1").json()["data"]["starts"] == "7:30:00"
