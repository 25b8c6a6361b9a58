"""A child DocType's fields are readable only through a Table field the user may read, on every
route, over HTTP on both databases (in process); likewise a linked document's fields only
through a readable Link field.

``Kit`` has two Table fields of the same child DocType ``Kit Part``: ``parts`` at permlevel 1
and ``open_parts`` at permlevel 0. A user with level 0 only must never see a value of a
``parts`` row, whether asked through dot-notation, a ``tab`` qualifier, filters, ordering,
grouping, aggregates, counts, ``get_value`` / ``get_list``, document reads or child lists; a
user with level 1 reads them on the same routes. ``Kit.approver`` is a level-1 Link to Kit.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import BACKENDS
from tests.inprocess import InProcess, open_site, token_for

LEVEL0, LEVEL1 = "level0@example.com", "level1@example.com"
SECRET, OPEN = "SECRET-CODE", "OPEN-CODE"
KIT_PERMS = [{"role": "Kit User", "read": 1, "write": 1, "create": 1},
             {"role": "Kit Manager", "read": 1, "write": 1, "create": 1},
             {"role": "Kit Manager", "permlevel": 1, "read": 1, "write": 1}]


@pytest.fixture(scope="module", params=BACKENDS)
def kits(request, tmp_path_factory):
    from ristretto.api.app import App
    from ristretto.site.install import add_user
    site = open_site(tmp_path_factory.mktemp(f"kits-{request.param}"), request.param, request)
    app = App(site)
    admin = InProcess(app, headers=token_for(site, "Administrator"))
    for role in ("Kit User", "Kit Manager"):
        assert admin.post("/api/resource/Role", json={"role_name": role}).status_code == 200
    for body in (
        {"name": "Kit Part", "istable": 1, "fields": [
            {"fieldname": "code", "fieldtype": "Data", "label": "Code"},
            {"fieldname": "qty", "fieldtype": "Int", "label": "Qty"}]},
        {"name": "Kit", "autoname": "field:title", "permissions": KIT_PERMS, "fields": [
            {"fieldname": "title", "fieldtype": "Data", "label": "Title"},
            {"fieldname": "parts", "fieldtype": "Table", "options": "Kit Part", "label": "Parts", "permlevel": 1},
            {"fieldname": "open_parts", "fieldtype": "Table", "options": "Kit Part", "label": "Open Parts"},
            {"fieldname": "approver", "fieldtype": "Link", "options": "Kit", "label": "Approver", "permlevel": 1}]},
        {"name": "Sealed Kit", "autoname": "field:title", "permissions": KIT_PERMS, "fields": [
            {"fieldname": "title", "fieldtype": "Data", "label": "Title"},
            {"fieldname": "parts", "fieldtype": "Table", "options": "Kit Part", "label": "Parts", "permlevel": 1}]},
    ):
        r = admin.post("/api/resource/DocType", json={"module": "Custom", "custom": 1, **body})
        assert r.status_code == 200, r.text
    r = admin.post("/api/resource/Kit", json={"title": "kit-1", "parts": [{"code": SECRET, "qty": 7}],
                                              "open_parts": [{"code": OPEN, "qty": 1}]})
    assert r.status_code == 200, r.text
    r = admin.post("/api/resource/Kit", json={"title": "kit-2", "approver": "kit-1"})
    assert r.status_code == 200, r.text
    r = admin.post("/api/resource/Sealed Kit", json={"title": "sealed-1", "parts": [{"code": SECRET, "qty": 7}]})
    assert r.status_code == 200, r.text
    add_user(site, LEVEL0, None, ["Kit User"])
    add_user(site, LEVEL1, None, ["Kit Manager"])
    yield site, {user: InProcess(app, headers=token_for(site, user)) for user in (LEVEL0, LEVEL1)}
    site.close()


def _params(value: dict[str, Any]) -> dict[str, str]:
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}


# Requests that read rows of Kit Part through Kit. Each either answers with the parts row's
# values (level 1) or must not reveal them (level 0).
LIST_QUERIES = {
    "dot field": {"fields": ["name", "parts.code"]},
    "dot field of the other table": {"fields": ["name", "open_parts.code"]},
    "tab qualifier": {"fields": ["name", "`tabKit Part`.`code`"]},
    "aggregate": {"fields": ["max(parts.code) as m"]},
    "filter on the child DocType": {"fields": ["name"], "filters": [["Kit Part", "code", "=", SECRET]]},
    "filter re-targeted": {"fields": ["name"], "filters": {"code": SECRET}},
    "dotted filter": {"fields": ["name"], "filters": {"parts.code": SECRET}},
    "or_filters": {"fields": ["name"], "or_filters": [["Kit Part", "code", "like", "SECRET%"]]},
    "order by": {"fields": ["name"], "order_by": "parts.code desc"},
    "group by": {"fields": ["count(name) as n"], "group_by": "parts.code"},
}


def _leaks(r) -> bool:
    return r.status_code == 200 and SECRET in r.text


def _matched(r) -> bool:
    """A filter on the secret value matched (the answer differs from 'no rows')."""
    return r.status_code == 200 and bool(r.json().get("data") or r.json().get("message"))


def test_level0_never_reads_rows_of_a_level1_table(kits):
    site, clients = kits
    c = clients[LEVEL0]
    for what, query in LIST_QUERIES.items():
        r = c.get("/api/resource/Kit", params=_params(query))
        assert r.status_code < 500, (what, r.text)
        assert not _leaks(r), (what, r.text)
        if "filter" in what:
            assert not _matched(r), (what, r.text)
        r = c.get("/api/method/frappe.client.get_list", params=_params({"doctype": "Kit", **query}))
        assert not _leaks(r) and r.status_code < 500, (what, r.text)
        if "filter" in what:
            assert not _matched(r), (what, r.text)
            count = c.get("/api/method/frappe.client.get_count",
                          params=_params({"doctype": "Kit", "filters": query.get("filters") or
                                          query.get("or_filters")}))
            assert count.status_code < 500 and not (count.status_code == 200 and count.json()["message"]), \
                (what, count.text)
    r = c.get("/api/method/frappe.client.get_value",
              params={"doctype": "Kit", "fieldname": '["parts.code"]', "filters": "kit-1"})
    assert not _leaks(r) and r.status_code < 500, r.text
    # the open table (level 0) stays readable, without the other table's rows
    r = c.get("/api/resource/Kit", params=_params({"fields": ["name", "open_parts.code"],
                                                   "filters": {"name": "kit-1"}}))
    assert r.status_code == 200 and [row["code"] for row in r.json()["data"]] == [OPEN], r.text
    r = c.get("/api/resource/Kit", params=_params({"fields": ["name"], "filters": {"code": OPEN}}))
    assert [row["name"] for row in r.json()["data"]] == ["kit-1"], r.text
    # document reads and child lists
    for r in (c.get("/api/resource/Kit/kit-1"),
              c.get("/api/method/frappe.client.get", params={"doctype": "Kit", "name": "kit-1"})):
        assert r.status_code == 200 and SECRET not in r.text and OPEN in r.text, r.text
    r = c.get("/api/resource/Kit Part", params={"parent": "Kit", "fields": '["code", "parentfield"]'})
    assert r.status_code == 200 and [row["code"] for row in r.json()["data"]] == [OPEN], r.text


def test_level1_reads_the_same_routes(kits):
    site, clients = kits
    c = clients[LEVEL1]
    for what in ("dot field", "tab qualifier", "aggregate"):
        r = c.get("/api/resource/Kit", params=_params(LIST_QUERIES[what]))
        assert r.status_code == 200 and SECRET in r.text, (what, r.text)
    for what in ("filter on the child DocType", "filter re-targeted", "dotted filter", "or_filters"):
        r = c.get("/api/resource/Kit", params=_params(LIST_QUERIES[what]))
        assert r.status_code == 200 and [row["name"] for row in r.json()["data"]] == ["kit-1"], (what, r.text)
    r = c.get("/api/method/frappe.client.get_value",
              params={"doctype": "Kit", "fieldname": '["parts.code"]', "filters": "kit-1"})
    assert r.status_code == 200 and r.json()["message"] == {"code": SECRET}, r.text
    r = c.get("/api/resource/Kit/kit-1")
    assert r.status_code == 200 and SECRET in r.text, r.text
    r = c.get("/api/resource/Kit Part", params={"parent": "Kit", "fields": '["code"]'})
    assert sorted(row["code"] for row in r.json()["data"]) == [OPEN, SECRET], r.text


def test_without_a_readable_table_the_child_fields_are_refused(kits):
    """Sealed Kit has only the level-1 table: a level-0 user's query naming its rows is refused
    with a message naming the Table field (a 417, never a 500); a level-1 user gets the rows."""
    site, clients = kits
    queries = {k: v for k, v in LIST_QUERIES.items() if "other table" not in k}
    for what, query in queries.items():
        r = clients[LEVEL0].get("/api/resource/Sealed Kit", params=_params(query))
        assert r.status_code == 417 and SECRET not in r.text, (what, r.text)
        assert "parts" in r.json()["_server_messages"] or "Kit Part" in r.json()["_server_messages"], (what, r.text)
        r = clients[LEVEL1].get("/api/resource/Sealed Kit", params=_params(query))
        assert r.status_code == 200 and (SECRET in r.text or r.json()["data"]), (what, r.text)
    r = clients[LEVEL0].get("/api/method/frappe.client.get_count",
                            params=_params({"doctype": "Sealed Kit", "filters": {"parts.code": SECRET}}))
    assert r.status_code == 417, r.text
    r = clients[LEVEL0].get("/api/resource/Sealed Kit/sealed-1")
    assert r.status_code == 200 and "parts" not in r.json()["data"] and SECRET not in r.text, r.text
    r = clients[LEVEL0].get("/api/resource/Kit Part", params={"parent": "Sealed Kit"})
    assert r.status_code == 403, r.text


def test_level1_link_fields_are_not_followed(kits):
    """kit-2's approver (level 1) is kit-1: a level-0 user learns it neither from the Link's
    value nor from the linked document's fields."""
    site, clients = kits
    queries = {"link.name": {"fields": ["name", "approver.name as a"]},
               "link.field": {"fields": ["name", "approver.title as a"]},
               "link filter": {"fields": ["name"], "filters": {"approver.title": "kit-1"}},
               "link order": {"fields": ["name"], "order_by": "approver.title desc"}}
    for what, query in queries.items():
        r = clients[LEVEL0].get("/api/resource/Kit", params=_params(query))
        if what.startswith("link."):
            # Selected through an unreadable Link: dropped, like any unreadable field.
            assert r.status_code == 200 and all(set(row) == {"name"} for row in r.json()["data"]), (what, r.text)
        else:
            # Used as a term: refused, naming it.
            assert r.status_code == 417 and "kit-1" not in r.text and "approver.title" in r.text, (what, r.text)
        r = clients[LEVEL1].get("/api/resource/Kit", params=_params(query))
        assert r.status_code == 200, (what, r.text)
    r = clients[LEVEL1].get("/api/resource/Kit", params=_params(queries["link.field"]))
    assert {"name": "kit-2", "a": "kit-1"} in r.json()["data"], r.text
