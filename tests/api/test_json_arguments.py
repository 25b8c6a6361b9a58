"""JSON arguments over HTTP (in process, both databases): every route decodes request text
with ``ristretto.api.jsonargs``, so broken or oversized JSON gets the same 417 naming the
argument wherever it is sent, and what v1 clients send keeps working (child tables as JSON
text in form fields included)."""

from __future__ import annotations

import json

import pytest

from ristretto.api.jsonargs import MAX_ARG_TEXT
from tests.conftest import BACKENDS
from tests.inprocess import InProcess, open_site, token_for

BROKEN = '[["status", "=", "Open"'


@pytest.fixture(scope="module", params=BACKENDS)
def admin(request, tmp_path_factory):
    from ristretto.api.app import App
    site = open_site(tmp_path_factory.mktemp(f"jsonargs-{request.param}"), request.param, request)
    client = InProcess(App(site), headers=token_for(site, "Administrator"))
    for body in (
        {"name": "Bin Part", "istable": 1, "fields": [{"fieldname": "code", "fieldtype": "Data", "label": "Code"}]},
        {"name": "Bin", "autoname": "field:title", "fields": [
            {"fieldname": "title", "fieldtype": "Data", "label": "Title"},
            {"fieldname": "parts", "fieldtype": "Table", "options": "Bin Part", "label": "Parts"}]},
    ):
        r = client.post("/api/resource/DocType", json={"module": "Custom", "custom": 1, **body})
        assert r.status_code == 200, r.text
    yield client
    site.close()


def _message(r) -> str:
    return json.loads(json.loads(r.json()["_server_messages"])[-1])["message"]


# (verb, path, how the argument is sent, the argument's name)
BROKEN_ARGUMENTS = [
    ("GET", "/api/resource/ToDo", {"params": {"filters": BROKEN}}, "filters"),
    ("GET", "/api/resource/ToDo", {"params": {"or_filters": BROKEN}}, "or_filters"),
    ("GET", "/api/resource/ToDo", {"params": {"fields": '["name"'}}, "fields"),
    ("GET", "/api/method/frappe.client.get_list", {"params": {"doctype": "ToDo", "filters": BROKEN}}, "filters"),
    ("GET", "/api/method/frappe.client.get_count", {"params": {"doctype": "ToDo", "or_filters": BROKEN}},
     "or_filters"),
    ("POST", "/api/method/frappe.client.insert", {"data": {"doc": "{broken"}}, "doc"),
    ("POST", "/api/method/frappe.client.save", {"data": {"doc": "{broken"}}, "doc"),
    ("POST", "/api/method/frappe.client.insert_many", {"data": {"docs": "[{"}}, "docs"),
    ("POST", "/api/method/frappe.client.bulk_update", {"data": {"docs": "[{"}}, "docs"),
    ("POST", "/api/method/frappe.client.validate_link",
     {"data": {"doctype": "User", "docname": "Administrator", "fields": '["full_name"'}}, "fields"),
    ("POST", "/api/method/run_doc_method", {"data": {"method": "submit", "docs": "{broken"}}, "docs"),
    ("POST", "/api/resource/ToDo", {"data": {"data": "{broken"}}, "data"),
    ("POST", "/api/resource/Bin", {"data": {"title": "broken rows", "parts": '[{"code": '}}, "parts"),
]


@pytest.mark.parametrize("verb, path, kw, name", BROKEN_ARGUMENTS)
def test_broken_json_is_the_same_417_on_every_route(admin, verb, path, kw, name):
    r = admin.request(verb, path, **kw)
    assert (r.status_code, r.json()["exc_type"]) == (417, "DataError"), r.text
    assert _message(r) == f"Invalid JSON in argument '{name}'"


@pytest.mark.parametrize("verb, path, args", [
    ("GET", "/api/resource/ToDo", {}),
    ("POST", "/api/method/frappe.client.get_list", {"doctype": "ToDo"}),
    ("POST", "/api/method/frappe.client.get_value", {"doctype": "ToDo", "fieldname": "name"}),
])
def test_an_oversized_argument_is_refused_naming_it(admin, verb, path, args):
    text = json.dumps([["description", "in", ["x" * MAX_ARG_TEXT]]])
    # in a JSON body: a query string this long would not get past an HTTP server's line limit
    r = admin.request(verb, path, json={**args, "filters": text})
    assert (r.status_code, r.json()["exc_type"]) == (417, "DataError"), r.text[:300]
    assert _message(r) == f"Argument 'filters' is longer than {MAX_ARG_TEXT} characters"


def test_v1_clients_keep_sending_text(admin):
    # child rows as JSON text in a form field, on create and update
    r = admin.post("/api/resource/Bin", data={"title": "form bin", "parts": '[{"code": "a"}, {"code": "b"}]'})
    assert r.status_code == 200 and [p["code"] for p in r.json()["data"]["parts"]] == ["a", "b"], r.text
    r = admin.put("/api/resource/Bin/form bin", data={"parts": '[{"code": "c"}]'})
    assert r.status_code == 200 and [p["code"] for p in r.json()["data"]["parts"]] == ["c"], r.text
    r = admin.put("/api/resource/Bin/form bin", data={"parts": ""})
    assert r.status_code == 200 and r.json()["data"].get("parts", []) == [], r.text
    # and inside a document argument of the client methods
    r = admin.post("/api/method/frappe.client.insert",
                   data={"doc": json.dumps({"doctype": "Bin", "title": "rpc bin", "parts": '[{"code": "d"}]'})})
    assert r.status_code == 200 and [p["code"] for p in r.json()["message"]["parts"]] == ["d"], r.text
    # filters and fields as text, in every shape Frappe accepts
    for params in ({"filters": '{"title": "form bin"}'}, {"filters": '[["title", "=", "form bin"]]'},
                   {"filters": '["title", "=", "form bin"]'}, {"filters": '[["Bin", "title", "=", "form bin"]]'}):
        r = admin.get("/api/resource/Bin", params={"fields": "name, title", **params})
        assert r.status_code == 200 and r.json()["data"] == [{"name": "form bin", "title": "form bin"}], (params, r.text)
    r = admin.get("/api/method/frappe.client.get_value",
                  params={"doctype": "Bin", "fieldname": '["title"]', "filters": "form bin"})
    assert r.json()["message"] == {"title": "form bin"}, r.text
