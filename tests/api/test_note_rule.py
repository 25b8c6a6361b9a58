"""Frappe's Note rule over HTTP on both databases (in process): a note is for its owner unless
it is public, in lists, counts, child lists and per document. Every Desk User may read Note by
its DocPerm rows; the rule takes private notes of others away, from System Managers too.
Administrator opens any note by name but lists, like everyone, only own and public ones."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import BACKENDS
from tests.inprocess import InProcess, open_site, token_for

OWNER, OTHER, MANAGER = "owner@example.com", "other@example.com", "manager@example.com"


def seed(site, owner: str, **values: Any) -> str:
    """A Note owned by ``owner``, written through the model layer without permission checks."""
    from ristretto.model import document
    with site.db.connect() as conn:
        site.registry.ensure_fresh(conn)
        ctx = site.context(conn, user=owner)
        with conn.transaction():
            return document.insert(ctx, "Note", {"content": "text", **values}).name


@pytest.fixture(scope="module", params=BACKENDS)
def notes(request, tmp_path_factory):
    from ristretto.api.app import App
    from ristretto.site.install import add_user
    site = open_site(tmp_path_factory.mktemp(f"notes-{request.param}"), request.param, request)
    add_user(site, OWNER, None, [])
    add_user(site, OTHER, None, [])
    add_user(site, MANAGER, None, ["System Manager"])
    app = App(site)
    clients = {user: InProcess(app, headers=token_for(site, user)) for user in (OWNER, OTHER, MANAGER)}
    clients["Administrator"] = InProcess(app, headers=token_for(site, "Administrator"))
    names = {
        "private": seed(site, OWNER, title="owner private", public=0, seen_by=[{"user": OTHER}]),
        "public": seed(site, OWNER, title="owner public", public=1, seen_by=[{"user": OTHER}]),
        "admin private": seed(site, "Administrator", title="admin private", public=0),
    }
    yield site, clients, names
    site.close()


def listed(client: InProcess, doctype: str = "Note", **params: Any) -> set[str]:
    r = client.get(f"/api/resource/{doctype}", params={"limit_page_length": 0, **params})
    assert r.status_code == 200, r.text
    return {row["name"] for row in r.json()["data"]}


def count(client: InProcess) -> int:
    r = client.get("/api/method/frappe.client.get_count", params={"doctype": "Note"})
    assert r.status_code == 200, r.text
    return r.json()["message"]


def test_private_notes_are_hidden_from_other_users(notes):
    site, clients, names = notes
    private, public = names["private"], names["public"]
    for user in (OTHER, MANAGER):
        c = clients[user]
        seen = listed(c)
        assert public in seen and private not in seen and names["admin private"] not in seen, (user, seen)
        assert count(c) == len(seen)
        r = c.get("/api/method/frappe.client.get_list", params={"doctype": "Note", "fields": '["name"]',
                                                                "limit_page_length": 0})
        assert {row["name"] for row in r.json()["message"]} == seen
        assert c.get(f"/api/resource/Note/{private}").status_code == 403
        assert c.get(f"/api/resource/Note/{public}").status_code == 200
        r = c.get("/api/method/frappe.client.get_value",
                  params={"doctype": "Note", "fieldname": "title", "filters": private})
        assert r.status_code == 200 and r.json()["message"] == {}, r.text
        r = c.get("/api/method/frappe.client.get", params={"doctype": "Note", "name": private})
        assert r.status_code == 403, r.text
        # the child rows of a private note are not listed through Note either
        rows = c.get("/api/resource/Note Seen By", params={"parent": "Note", "fields": '["name", "parent"]',
                                                           "limit_page_length": 0}).json()["data"]
        assert private not in {row["parent"] for row in rows} and public in {row["parent"] for row in rows}
        # nor written or deleted (a System Manager could before the rule)
        r = c.put(f"/api/resource/Note/{private}", json={"content": f"changed by {user}"})
        assert r.status_code == 403, r.text
        assert c.delete(f"/api/resource/Note/{private}").status_code == 403
    assert clients[OWNER].get(f"/api/resource/Note/{private}").json()["data"]["content"] == "text"
    # a System Manager still edits public notes; a Desk User writes only own notes (if_owner row)
    assert clients[MANAGER].put(f"/api/resource/Note/{public}", json={"content": "edited"}).status_code == 200
    assert clients[OTHER].put(f"/api/resource/Note/{public}", json={"content": "x"}).status_code == 403


def test_owners_see_and_change_their_private_notes(notes):
    site, clients, names = notes
    c, private = clients[OWNER], names["private"]
    seen = listed(c)
    assert {private, names["public"]} <= seen and names["admin private"] not in seen
    assert count(c) == len(seen)
    assert c.get(f"/api/resource/Note/{private}").status_code == 200
    r = c.get("/api/method/frappe.client.get_value", params={"doctype": "Note", "fieldname": "title",
                                                               "filters": private})
    assert r.json()["message"] == {"title": "owner private"}
    r = c.put(f"/api/resource/Note/{private}", json={"content": "mine"})
    assert r.status_code == 200 and r.json()["data"]["content"] == "mine"
    # a note created over HTTP belongs to its creator
    r = c.post("/api/resource/Note", json={"title": "fresh note", "content": "x"})
    assert r.status_code == 200, r.text
    fresh = r.json()["data"]["name"]
    assert fresh in listed(c) and fresh not in listed(clients[OTHER])
    assert c.delete(f"/api/resource/Note/{fresh}").status_code == 202


def test_administrator_opens_any_note_but_lists_own_and_public(notes):
    site, clients, names = notes
    admin = clients["Administrator"]
    seen = listed(admin)
    assert {names["public"], names["admin private"]} <= seen and names["private"] not in seen
    assert count(admin) == len(seen)
    assert admin.get(f"/api/resource/Note/{names['private']}").status_code == 200
    r = admin.get("/api/resource/Note", params={"filters": json.dumps({"name": names["private"]})})
    assert r.json()["data"] == []
