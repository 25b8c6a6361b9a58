"""Compiled list queries are kept per role set: a second identical listing by a user who is not
Administrator reuses the compiled query, and a user with other roles never gets a query
compiled for someone who may read more. In process, on both databases."""

from __future__ import annotations

import pytest

from tests.api.v2world import build
from tests.conftest import BACKENDS

FIELDS = '["name","secret","qty"]'


@pytest.fixture(scope="module", params=BACKENDS)
def world(request, tmp_path_factory):
    w = build(tmp_path_factory.mktemp(f"listcache-{request.param}"), request.param, request, gadgets=3)
    yield w
    w.close()


def compiled(world) -> dict:
    return world.site.registry.get("Gadget").sql_cache.get("list", {})


def test_a_repeated_listing_reuses_its_compiled_query(world):
    params = {"fields": '["name","qty"]', "filters": '[["qty", ">", 1]]'}
    first = len(compiled(world))
    assert world["user"].get("/api/resource/Gadget", params=params).status_code == 200
    before = len(compiled(world))
    assert before == first + 1  # kept for the next request
    for _ in range(3):
        r = world["user"].get("/api/resource/Gadget", params=params)
        assert r.status_code == 200 and len(r.json()["data"]) == 2
    assert len(compiled(world)) == before


def test_a_query_compiled_for_more_rights_is_never_reused(world):
    # The manager reads the permlevel-1 field; the plain user may not select it.
    r = world["manager"].get("/api/resource/Gadget", params={"fields": FIELDS})
    assert r.status_code == 200 and all("secret" in row for row in r.json()["data"]), r.text
    # The field above the user's level is left out of the user's rows, as Frappe does.
    for url in ("/api/resource/Gadget", "/api/v2/document/Gadget"):
        r = world["user"].get(url, params={"fields": FIELDS})
        assert r.status_code == 200, r.text
        rows = r.json()["data"]
        assert rows and all("secret" not in row and "qty" in row for row in rows), r.text
        assert "s1" not in r.text
