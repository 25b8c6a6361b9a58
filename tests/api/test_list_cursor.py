"""Keyset paging of v2 lists (``after=<next_cursor>``), in process, on both databases.

Paging through a listing with the cursor each page gives must return every row once, in the
listing's order, whatever the order (the default ``modified desc``, ascending, descending,
mixed, and on columns holding NULLs and duplicates); with filters and with a permission rule
(ToDo's); and every misuse of a cursor is a clear 417, never a 500.
"""

from __future__ import annotations

import base64
import json

import pytest

from tests.conftest import BACKENDS, make_site
from tests.inprocess import InProcess

ITEM = "KS Item"
L = "/api/v2/document/KS%20Item"
READER = "reader@ks.test"
PLAIN = "plain@ks.test"
N = 23


@pytest.fixture(scope="module", params=BACKENDS)
def world(request, tmp_path_factory):
    from ristretto.site.install import add_user
    site_dir = make_site(tmp_path_factory.mktemp(f"cursor-{request.param}"), request.param, request)
    client = InProcess.open(site_dir)
    admin = client.token("Administrator")
    r = client.post("/api/resource/DocType", headers=admin, json={
        "name": "KS Part", "module": "Custom", "custom": 1, "istable": 1,
        "fields": [{"fieldname": "code", "fieldtype": "Data", "label": "Code"}]})
    assert r.status_code == 200, r.text
    r = client.post("/api/resource/DocType", headers=admin, json={
        "name": ITEM, "module": "Custom", "custom": 1, "autoname": "field:title",
        "permissions": [{"role": "KS Reader", "read": 1},
                        {"role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1}],
        "fields": [{"fieldname": "title", "fieldtype": "Data", "label": "Title"},
                   {"fieldname": "rank", "fieldtype": "Int", "label": "Rank"},
                   {"fieldname": "label", "fieldtype": "Data", "label": "Label"},
                   {"fieldname": "day", "fieldtype": "Date", "label": "Day"},
                   {"fieldname": "secret", "fieldtype": "Data", "label": "Secret", "permlevel": 1},
                   {"fieldname": "parts", "fieldtype": "Table", "label": "Parts", "options": "KS Part"}]})
    assert r.status_code == 200, r.text
    for i in range(N):
        # Duplicates everywhere, NULLs in ``label`` and ``day``: only ``name`` is unique.
        doc = {"title": f"k-{i:02d}", "rank": i % 4, "label": None if i % 3 == 0 else f"L{i % 5}",
               "day": None if i % 4 == 1 else f"2025-01-{i % 6 + 1:02d}", "secret": f"s{i}",
               "parts": [{"code": "p"}, {"code": "p"}] if i < 3 else []}
        assert client.post(L, headers=admin, json=doc).status_code == 200
    add_user(client.site, READER, "pw-ks-123", ["KS Reader"])
    add_user(client.site, PLAIN, "pw-ks-123", [])
    for i in range(9):
        todo = {"description": f"todo {i}", "allocated_to": PLAIN if i % 2 else None}
        assert client.post("/api/v2/document/ToDo", headers=admin, json=todo).status_code == 200
    client.users = {"admin": admin, "reader": client.token(READER), "plain": client.token(PLAIN)}
    yield client
    client.close()


def _get(c, url, headers, **params):
    return c.get(url, headers=headers, params={k: v if isinstance(v, str) else json.dumps(v)
                                               for k, v in params.items()})


def _walk(c, url, headers, limit=4, **params) -> list[str]:
    """Every name, page by page with the cursors (bounded: a loop would show as a repeat)."""
    out: list[str] = []
    cursor = None
    for _ in range(100):
        extra = {"after": cursor} if cursor else {}
        r = _get(c, url, headers, limit=limit, **params, **extra)
        assert r.status_code == 200, r.text
        body = r.json()
        out += [row["name"] for row in body["data"]]
        assert (body["next_cursor"] is not None) == body["has_next_page"]
        cursor = body["next_cursor"]
        if cursor is None:
            return out
    raise AssertionError("paging did not end")


ORDERS = [None, "modified asc", "rank asc", "rank desc", "label asc", "label desc", "day desc",
          "rank asc, label desc", "day asc, label asc, rank desc", "name asc"]


@pytest.mark.parametrize("order", ORDERS)
def test_paging_with_cursors_returns_every_row_once_in_order(world, order):
    headers = world.users["admin"]
    params = {"fields": ["name"], "filters": [["title", "like", "k-%"]]}
    if order:
        params["order_by"] = order
    walked = _walk(world, L, headers, **params)
    last = (order or "modified desc").split(",")[-1].split()[-1]
    tie = "" if order == "name asc" else f", name {last}"
    full = _get(world, L, headers, limit=0, **{**params, "order_by": (order or "modified desc") + tie}).json()
    assert len(walked) == N and len(set(walked)) == N
    assert walked == [row["name"] for row in full["data"]]


def test_a_cursor_follows_filters_and_the_permission_rule(world):
    admin, plain = world.users["admin"], world.users["plain"]
    mine = _walk(world, "/api/v2/document/ToDo", plain, limit=2)
    everything = _get(world, "/api/v2/document/ToDo", admin, limit=0,
                      fields=["name", "allocated_to"]).json()["data"]
    assert sorted(mine) == sorted(r["name"] for r in everything if r["allocated_to"] == PLAIN) and len(mine) == 4
    ranked = _walk(world, L, admin, limit=3, order_by="rank asc", filters=[["rank", ">=", 2]])
    assert len(ranked) == len([i for i in range(N) if i % 4 >= 2]) and len(set(ranked)) == len(ranked)


def _refused(r, words: str) -> None:
    assert r.status_code == 417, r.text
    assert words in r.json()["errors"][0]["message"], r.text


def _cursor(world, **params) -> str:
    body = _get(world, L, world.users["admin"], limit=2, **params).json()
    assert body["next_cursor"]
    return body["next_cursor"]


def _forge(body) -> str:
    return base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()


def test_misused_cursors_are_refused_clearly(world):
    admin = world.users["admin"]
    cursor = _cursor(world, order_by="rank asc")
    _refused(_get(world, L, admin, after=cursor, order_by="rank asc", start="2"), "cannot be combined")
    _refused(_get(world, L, admin, after=cursor, order_by="rank asc", limit_start="2"), "cannot be combined")
    _refused(_get(world, L, admin, after=cursor), "another order_by")
    _refused(_get(world, L, admin, after=cursor, order_by="rank desc"), "another order_by")
    _refused(_get(world, "/api/v2/document/ToDo", admin, after=cursor, order_by="rank asc"), "another DocType")
    _refused(_get(world, L, admin, after="not a cursor!", order_by="rank asc"), "Invalid cursor")
    _refused(_get(world, L, admin, after=cursor[:-7], order_by="rank asc"), "Invalid cursor")
    _refused(_get(world, L, admin, after="A" * 5000, order_by="rank asc"), "longer than")
    _refused(_get(world, L, admin, after=_forge([1, 2]), order_by="rank asc"), "Invalid cursor")
    for values in (["x", "k-01"], [1], [None, "k-01"], [True, "k-01"], [1, None], [1, {"a": 1}], [2**70, "k-01"]):
        forged = _forge({"d": ITEM, "o": "rank asc,name asc", "v": values})
        _refused(_get(world, L, admin, after=forged, order_by="rank asc"), "Invalid cursor")
    forged = _forge({"d": ITEM, "o": "day asc,name asc", "v": ["not a date", "k-01"]})
    _refused(_get(world, L, admin, after=forged, order_by="day asc"), "Invalid cursor")
    grouped = {"fields": ["rank", "count(name) as n"], "group_by": "rank", "order_by": "rank asc"}
    body = _get(world, L, admin, limit=2, **grouped).json()
    assert body["has_next_page"] and body["next_cursor"] is None
    _refused(_get(world, L, admin, after=cursor, **grouped), "needs a listing ordered by columns")
    # A filter on a child table joins it, which repeats rows: no cursor for such a listing.
    joined = {"order_by": "rank asc", "filters": [["KS Part", "code", "=", "p"]]}
    body = _get(world, L, admin, limit=2, **joined).json()
    assert body["has_next_page"] and body["next_cursor"] is None
    _refused(_get(world, L, admin, after=cursor, **joined), "needs a listing ordered by columns")


def test_a_cursor_cannot_sort_by_a_field_the_user_may_not_read(world):
    reader = world.users["reader"]
    r = _get(world, L, reader, limit=2, order_by="secret asc")
    assert r.status_code == 417 and "secret" in r.text
    forged = _forge({"d": ITEM, "o": "secret asc,name asc", "v": ["s5", "k-05"]})
    r = _get(world, L, reader, limit=2, order_by="secret asc", after=forged)
    assert r.status_code == 417 and "secret" in r.text
    assert len(_walk(world, L, reader, limit=5, order_by="label asc")) == N


def test_the_openapi_description_tells_of_the_cursor(world):
    spec = world.get("/api/openapi.json", headers=world.users["admin"]).json()
    op = spec["paths"]["/api/v2/document/KS%20Item"]["get"]
    assert {"$ref": "#/components/parameters/after"} in op["parameters"] and "next_cursor" in op["description"]
    answer = op["responses"]["200"]["content"]["application/json"]["schema"]["properties"]
    assert set(answer) >= {"data", "has_next_page", "next_cursor"}
    assert "next_cursor" in spec["components"]["parameters"]["after"]["description"]


def test_streamed_pages_give_the_cursor_after_their_rows(world, monkeypatch):
    """Above the streaming threshold the rows are streamed; ``next_cursor`` follows them."""
    from ristretto.model import listing
    monkeypatch.setattr(listing, "STREAM_ABOVE", 2)
    admin = world.users["admin"]
    params = {"fields": ["name"], "filters": [["title", "like", "k-%"]], "order_by": "rank desc"}
    r = _get(world, L, admin, limit=5, **params)
    assert "content-length" not in r.headers  # chunked: the stream
    assert r.json()["next_cursor"]
    walked = _walk(world, L, admin, limit=5, **params)
    assert len(walked) == N and len(set(walked)) == N


def test_deep_offsets_give_the_same_pages(world, monkeypatch):
    """Offsets past ``paging.LATE_ROWS_FROM`` (lowered here) take PostgreSQL's two-step shape:
    the same pages as a walk with cursors, filters and the permission rule included."""
    from ristretto.db import paging
    monkeypatch.setattr(paging, "LATE_ROWS_FROM", 2)
    admin = world.users["admin"]
    for order in ("rank asc, name asc", "label desc, name desc", "modified desc, name desc"):
        params = {"fields": ["name", "label"], "filters": [["title", "like", "k-%"]], "order_by": order}
        walked = _walk(world, L, admin, limit=4, **params)
        paged = []
        for start in range(0, N, 4):
            r = _get(world, L, admin, limit=4, start=str(start), **params)
            assert r.status_code == 200, r.text
            paged += [row["name"] for row in r.json()["data"]]
        assert paged == walked
    plain = world.users["plain"]
    mine = [r["name"] for r in _get(world, "/api/v2/document/ToDo", plain, limit=0).json()["data"]]
    deep = _get(world, "/api/v2/document/ToDo", plain, limit=1, start="3").json()["data"]
    assert [r["name"] for r in deep] == mine[3:4]
