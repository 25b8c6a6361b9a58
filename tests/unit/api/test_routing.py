"""The router: patterns, verbs, 405, fallbacks, trailing slashes, specificity; the site's table."""

from __future__ import annotations

import pytest

from ristretto.api.routes import router as site_router
from ristretto.api.routing import MethodNotAllowed, Router, route, with_trailing_slash


def h(call, **kw):
    return kw


ROUTER = Router([
    *with_trailing_slash([
        route("/api/v2/document/{doctype}", ("GET", "POST"), h),
        route("/api/v2/document/{doctype}/{name:path}", ("GET", "PUT", "DELETE"), h),
        route("/api/v2/document/{doctype}/{name:path}/copy", "GET", h),
        route("/api/v2/document/{doctype}/{name:path}/method/{method}", ("GET", "POST"), h),
        route("/api/v2/document/{doctype}/bulk_delete", "POST", h),
        route("/api/method/login", "*", h, login=True),
        route("/api/method/{name}", "*", h),
    ]),
    route("/api/v2/{rest:path}", "*", h, fallback=True, api="v2"),
    route("/api/{rest:path}", "*", h, fallback=True),
    route("/", "*", h),
])


@pytest.mark.parametrize("verb,path,pattern,params", [
    ("GET", "/api/v2/document/ToDo", "/api/v2/document/{doctype}", {"doctype": "ToDo"}),
    ("GET", "/api/v2/document/ToDo/", "/api/v2/document/{doctype}/", {"doctype": "ToDo"}),
    ("GET", "/api/v2/document/ToDo/a1", "/api/v2/document/{doctype}/{name:path}", {"doctype": "ToDo", "name": "a1"}),
    ("GET", "/api/v2/document/ToDo/a1/", "/api/v2/document/{doctype}/{name:path}/",
     {"doctype": "ToDo", "name": "a1"}),
    # Names may hold slashes.
    ("GET", "/api/v2/document/ToDo/a/b", "/api/v2/document/{doctype}/{name:path}", {"doctype": "ToDo", "name": "a/b"}),
    ("GET", "/api/v2/document/ToDo/a1/copy", "/api/v2/document/{doctype}/{name:path}/copy",
     {"doctype": "ToDo", "name": "a1"}),
    ("POST", "/api/v2/document/ToDo/a1/method/submit/",
     "/api/v2/document/{doctype}/{name:path}/method/{method}/", {"doctype": "ToDo", "name": "a1", "method": "submit"}),
    ("POST", "/api/v2/document/ToDo/bulk_delete", "/api/v2/document/{doctype}/bulk_delete", {"doctype": "ToDo"}),
    # A GET of a document named like a POST-only route reads the document.
    ("GET", "/api/v2/document/ToDo/bulk_delete", "/api/v2/document/{doctype}/{name:path}",
     {"doctype": "ToDo", "name": "bulk_delete"}),
    ("POST", "/api/method/login", "/api/method/login", {}),
    ("GET", "/api/method/login/", "/api/method/login/", {}),
    ("GET", "/api/method/frappe.client.get_list", "/api/method/{name}", {"name": "frappe.client.get_list"}),
    ("GET", "/api/v2/nothing/here", "/api/v2/{rest:path}", {"rest": "nothing/here"}),
    ("GET", "/api/nothing", "/api/{rest:path}", {"rest": "nothing"}),
    ("DELETE", "/", "/", {}),
])
def test_match(verb, path, pattern, params):
    r, got = ROUTER.match(path, verb)
    assert (r.pattern, got) == (pattern, params)


def test_login_flag_only_on_the_login_route():
    assert ROUTER.match("/api/method/login", "POST")[0].login
    assert not ROUTER.match("/api/method/logout", "POST")[0].login


@pytest.mark.parametrize("verb,path", [
    ("PATCH", "/api/v2/document/ToDo/a1"),
    ("DELETE", "/api/v2/document/ToDo"),
    ("POST", "/api/v2/document/ToDo/a1/copy/"),
])
def test_verb_not_allowed_is_405_not_the_fallback(verb, path):
    with pytest.raises(MethodNotAllowed):
        ROUTER.match(path, verb)


@pytest.mark.parametrize("path", ["/nothing", "/files", ""])
def test_no_route(path):
    assert ROUTER.match(path, "GET") is None


def test_site_table_sends_each_version_to_its_envelope():
    table = site_router()
    assert table.match("/api/v2/method/login", "POST")[0].login
    assert table.match("/api/v2/method/login", "POST")[0].api == "v2"
    assert table.match("/api/v1/method/login/", "POST")[0].login
    assert table.match("/api/v2/unknown", "GET")[0].api == "v2"
    assert table.match("/api/unknown", "GET")[0].api == "v1"
    assert table.match("/api/resource/ToDo/x", "DELETE")[0].status == 202
    # Document reads run without a transaction; writes and methods in one.
    assert not table.match("/api/resource/ToDo/x", "GET")[0].transaction
    assert table.match("/api/resource/ToDo", "POST")[0].transaction
    assert table.match("/api/method/ping", "GET")[0].transaction
    with pytest.raises(MethodNotAllowed):
        table.match("/api/resource/ToDo/x", "PATCH")


def test_pattern_must_be_absolute():
    with pytest.raises(ValueError):
        route("api/x", "GET", h)
