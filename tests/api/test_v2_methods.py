"""API v2 method routes as scenario tables: ping, dotted methods, ``<DocType>/<method>``,
``run_doc_method``, upload_file and logout (POST only). In process, on both databases."""

from __future__ import annotations

import json

import pytest

from tests.api.v2world import build, v2_error
from tests.conftest import ADMIN_PASSWORD, BACKENDS
from tests.scenario import ABSENT, Scenario, scenarios
from tests.inprocess import InProcess

M = "/api/v2/method"


@pytest.fixture(scope="module", params=BACKENDS)
def world(request, tmp_path_factory):
    w = build(tmp_path_factory.mktemp(f"v2methods-{request.param}"), request.param, request)
    w.gadget("rdm-close", status="Open")
    w.gadget("rdm-stale", status="Open")
    w.gadget("rdm-delete")
    yield w
    w.close()


def stored(name: str, **values):
    return {"doctype": "Gadget", "name": name, **values}


METHODS = [
    Scenario("ping", "GET", M + "/ping", user="guest", expect={"data": "pong"}),
    Scenario("ping with a trailing slash", "POST", M + "/ping/", user="guest", expect={"data": "pong"}),
    Scenario("dotted method", "GET", M + "/frappe.client.get_count",
             params={"doctype": "Gadget", "filters": {"title": ["like", "g-%"]}}, expect={"data": 6}),
    Scenario("dotted method with a trailing slash", "GET", M + "/frappe.auth.get_logged_user/", user="user",
             expect={"data": "user@v2.test"}),
    Scenario("a method returning nothing answers {}", "POST", M + "/frappe.client.delete",
             json={"doctype": "Gadget", "name": "rdm-delete"}, expect=lambda b: b == {}),
    Scenario("unknown method", "GET", M + "/no.such.method", status=417, expect=v2_error("ValidationError")),
    Scenario("a method refusing the verb", "GET", M + "/frappe.client.insert", status=403,
             expect=v2_error("PermissionError")),
    Scenario("DocType controller module function", "GET", M + "/Gadget/stock_total",
             expect={"data": 1 + 3 + 5}),
    Scenario("... with arguments and a trailing slash", "GET", M + "/Gadget/stock_total/",
             params={"status": "Closed"}, expect={"data": 2 + 4 + 6}),
    Scenario("... its own verbs", "POST", M + "/Gadget/stock_total", status=403,
             expect=v2_error("PermissionError")),
    Scenario("... permissions of what it reads", "GET", M + "/Gadget/stock_total", user="outsider", status=403,
             expect=v2_error("PermissionError")),
    Scenario("... only registered functions", "GET", M + "/Gadget/write_app", status=417,
             expect=v2_error("ValidationError")),
    Scenario("... a DocType without an app controller", "GET", M + "/ToDo/stock_total", status=417,
             expect=v2_error("ValidationError")),
    Scenario("... an unknown DocType", "GET", M + "/Nothing Here/stock_total", status=404,
             expect=v2_error("DoesNotExistError")),
    Scenario("run_doc_method GET on a stored document", "GET", M + "/run_doc_method",
             params={"method": "describe", "document": stored("g-1"), "kwargs": {"suffix": "!", "junk": 1}},
             expect={"data": "g-1:Open!", "docs": [{"name": "g-1", "qty": 1}]}),
    Scenario("run_doc_method on an in-memory document", "POST", M + "/run_doc_method/",
             json={"method": "describe", "document": {"doctype": "Gadget", "title": "draft", "status": "Closed"}},
             expect={"data": "draft:Closed", "docs": [{"title": "draft"}]}),
    Scenario("run_doc_method with the document as JSON text", "POST", M + "/run_doc_method",
             json={"method": "describe", "document": json.dumps(stored("g-3"))}, expect={"data": "g-3:Open"}),
    Scenario("run_doc_method POST writes", "POST", M + "/run_doc_method",
             json={"method": "close", "document": stored("rdm-close")},
             expect={"data": ABSENT, "docs": [{"name": "rdm-close", "status": "Closed"}]}),
    Scenario("run_doc_method checks modified", "POST", M + "/run_doc_method",
             json={"method": "describe", "document": stored("rdm-stale", modified="2001-01-01 00:00:00")},
             status=417, expect=v2_error("TimestampMismatchError")),
    Scenario("run_doc_method needs a document", "POST", M + "/run_doc_method", json={"method": "describe"},
             status=417, expect=v2_error("FrappeValueError", "'document' must be a dictionary")),
    Scenario("run_doc_method document of the wrong shape", "POST", M + "/run_doc_method",
             json={"method": "describe", "document": [1]}, status=417, expect=v2_error("FrappeValueError")),
    Scenario("run_doc_method of a method not whitelisted", "POST", M + "/run_doc_method",
             json={"method": "hidden", "document": stored("g-1")}, status=403, expect=v2_error("PermissionError")),
    Scenario("run_doc_method POST needs write", "POST", M + "/run_doc_method", user="reader",
             json={"method": "describe", "document": stored("g-1")}, status=403, expect=v2_error("PermissionError")),
    Scenario("run_doc_method GET needs read", "GET", M + "/run_doc_method", user="outsider",
             params={"method": "describe", "document": stored("g-1")}, status=403,
             expect=v2_error("PermissionError")),
    Scenario("run_doc_method GET as a reader", "GET", M + "/run_doc_method", user="reader",
             params={"method": "describe", "document": stored("g-1")}, expect={"data": "g-1:Open"}),
    Scenario("run_doc_method refuses other verbs", "PUT", M + "/run_doc_method", json={}, status=403,
             expect=v2_error("PermissionError")),
    Scenario("upload_file refuses GET", "GET", M + "/upload_file", status=403, expect=v2_error("PermissionError")),
    Scenario("logout refuses GET", "GET", M + "/logout", status=403, expect=v2_error("PermissionError")),
    Scenario("bulk_update refuses GET", "GET", M + "/bulk_update", status=403, expect=v2_error("PermissionError")),
    Scenario("search_link", "GET", M + "/frappe.desk.search.search_link", params={"doctype": "Gadget", "txt": "g-5"},
             expect={"data": [{"value": "g-5", "label": "g-5", "description": "Open"}]}),
    Scenario("search_link of DocTypes, as frappectl lists them", "GET", M + "/frappe.desk.search.search_link",
             params={"doctype": "DocType", "txt": "", "filters": {"custom": 1}, "page_length": "10000"},
             expect={"data": lambda rows: {"Gadget", "Gadget Order", "Gadget Part"} <= {r["value"] for r in rows}}),
    Scenario("search_link needs read", "GET", M + "/frappe.desk.search.search_link", user="outsider",
             params={"doctype": "Gadget"}, status=403, expect=v2_error("PermissionError")),
    Scenario("unknown v2 path", "GET", "/api/v2/nothing/here", status=404, expect=v2_error("DoesNotExistError")),
]


@scenarios(*METHODS)
def test_methods(world, scenario):
    scenario.run(world)


def test_upload_file(world):
    r = world["admin"].post(M + "/upload_file", files={"file": ("hello.txt", b"hello v2", "text/plain")},
                            data={"is_private": "1", "doctype": "Gadget", "docname": "g-1"})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["file_name"] == "hello.txt" and data["is_private"] == 1
    assert data["attached_to_doctype"] == "Gadget" and data["attached_to_name"] == "g-1"
    assert world["admin"].get(data["file_url"]).content == b"hello v2"


def test_logout_is_post_only_and_ends_the_session(world):
    client = InProcess(world.app)
    r = client.post(M + "/login", json={"usr": "Administrator", "pwd": ADMIN_PASSWORD})
    assert r.status_code == 200, r.text
    assert client.get(M + "/logout").status_code == 403
    assert client.get(M + "/frappe.auth.get_logged_user").json() == {"data": "Administrator"}
    r = client.post(M + "/logout")
    assert r.status_code == 200 and r.json() == {}, r.text
    r = client.get(M + "/frappe.auth.get_logged_user")
    assert r.status_code == 403, r.text
