"""API v2 DocType routes as scenario tables: meta, count and link search. In process, on both
databases."""

from __future__ import annotations

import pytest

from tests.api.v2world import build, v2_error
from tests.conftest import BACKENDS
from tests.scenario import ABSENT, Scenario, scenarios

D = "/api/v2/doctype/Gadget"


@pytest.fixture(scope="module", params=BACKENDS)
def world(request, tmp_path_factory):
    w = build(tmp_path_factory.mktemp(f"v2doctypes-{request.param}"), request.param, request)
    yield w
    w.close()


def fieldnames(*wanted: str, missing: tuple[str, ...] = ()):
    def check(fields):
        names = {f["fieldname"] for f in fields}
        return set(wanted) <= names and not names & set(missing)
    return check


META = [
    Scenario("meta of a DocType", "GET", D + "/meta",
             expect={"data": {"name": "Gadget", "autoname": "field:title",
                              "fields": fieldnames("title", "status", "secret", "parts"),
                              "permissions": lambda p: {r["role"] for r in p} >= {"Gadget User"}}}),
    Scenario("meta with a trailing slash", "GET", D + "/meta/", expect={"data": {"name": "Gadget"}}),
    Scenario("fields above the user's levels are left out", "GET", D + "/meta", user="user",
             expect={"data": {"fields": fieldnames("title", "parts", missing=("secret",))}}),
    Scenario("a user with the level sees them", "GET", D + "/meta", user="manager",
             expect={"data": {"fields": fieldnames("title", "secret")}}),
    Scenario("a child table through a readable parent", "GET", "/api/v2/doctype/Gadget Part/meta",
             user="reader", expect={"data": {"name": "Gadget Part", "istable": 1}}),
    Scenario("Guest may not read meta", "GET", D + "/meta", user="guest", status=403,
             expect=v2_error("PermissionError")),
    Scenario("a user without read may not", "GET", D + "/meta", user="outsider", status=403,
             expect=v2_error("PermissionError", "No permission for Gadget")),
    Scenario("nor of its child table", "GET", "/api/v2/doctype/Gadget Part/meta", user="outsider",
             status=403, expect=v2_error("PermissionError")),
    Scenario("meta of an unknown DocType", "GET", "/api/v2/doctype/Nothing Here/meta", status=404,
             expect=v2_error("DoesNotExistError")),
    Scenario("meta is GET only", "POST", D + "/meta", status=405),
]

COUNT = [
    Scenario("count everything", "GET", D + "/count", expect={"data": 6}),
    Scenario("count with a trailing slash", "GET", D + "/count/", expect={"data": 6}),
    Scenario("count with dict filters", "GET", D + "/count", params={"filters": {"status": "Open"}},
             expect={"data": 3}),
    Scenario("count with list filters", "GET", D + "/count", params={"filters": [["qty", ">", 4]]},
             expect={"data": 2}),
    Scenario("count with or_filters", "GET", D + "/count", params={"or_filters": [["qty", "=", 1], ["qty", "=", 2]]},
             expect={"data": 2}),
    Scenario("count distinct over a child filter", "GET", D + "/count",
             params={"filters": [["Gadget Part", "qty", ">", 0]], "distinct": "1"}, expect={"data": 6}),
    Scenario("count up to a limit", "GET", D + "/count", params={"limit": "4"}, expect={"data": 4}),
    Scenario("count of a child DocType through its parent", "GET", "/api/v2/doctype/Gadget Part/count",
             params={"parent": "Gadget"}, expect={"data": 6}),
    Scenario("count with QUERY", "QUERY", D + "/count", json={"filters": {"status": "Closed"}}, expect={"data": 3}),
    Scenario("count as a reader", "GET", D + "/count", user="reader", expect={"data": 6}),
    Scenario("filters of the wrong shape", "GET", D + "/count", params={"filters": "7"}, status=417,
             expect=v2_error("FrappeValueError", "'filters' must be a list or dictionary")),
    Scenario("count needs read", "GET", D + "/count", user="outsider", status=403,
             expect=v2_error("PermissionError")),
    Scenario("count of an unknown DocType", "GET", "/api/v2/doctype/Nothing Here/count", status=404,
             expect=v2_error("DoesNotExistError")),
]

SEARCH = [
    Scenario("search by name", "GET", D + "/search", params={"txt": "g-3"},
             expect={"data": [{"value": "g-3", "label": "g-3", "description": "Open"}]}),
    Scenario("search matches search fields", "GET", D + "/search",
             params={"txt": "Closed", "filters": {"qty": ["<", 5]}},
             expect={"data": lambda rows: sorted(r["value"] for r in rows) == ["g-2", "g-4"]}),
    Scenario("search pages", "GET", D + "/search/", params={"txt": "g-", "limit": "2", "start": "1"},
             expect={"data": lambda rows: len(rows) == 2}),
    Scenario("search default page is 10", "GET", D + "/search", expect={"data": lambda rows: len(rows) == 6}),
    Scenario("search needs read", "GET", D + "/search", params={"txt": "g"}, user="outsider", status=403,
             expect=v2_error("PermissionError")),
    Scenario("custom queries are refused", "GET", D + "/search", params={"query": "some.method"}, status=417,
             expect=v2_error("FrappeValueError")),
    Scenario("too long a text", "GET", D + "/search", params={"txt": "x" * 1001}, status=417,
             expect=v2_error("ValidationError", "too long")),
    Scenario("search as Guest", "GET", D + "/search", user="guest", status=403,
             expect={"errors": [{"type": "PermissionError", "exception": ABSENT}]}),
]


@scenarios(*META)
def test_meta(world, scenario):
    scenario.run(world)


@scenarios(*COUNT)
def test_count(world, scenario):
    scenario.run(world)


@scenarios(*SEARCH)
def test_search(world, scenario):
    scenario.run(world)
