"""Malformed input the fuzzer (or a probe) found: clear 4xx answers, never a 500 (both backends).

* More than 2,000 fields in a query string, an urlencoded form or a multipart body.
* A child row whose ``name`` is an object or a list, on every route that takes child rows
  (``/api/resource`` create and update, ``frappe.client.save`` / ``insert`` /
  ``insert_many``), and other JSON objects/lists where one value belongs (standard
  fields such as ``parent``, ``idx``, ``modified``, a document's ``name``, Data/Link values).
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import BACKENDS, make_site
from tests.inprocess import InProcess


@pytest.fixture(scope="module", params=BACKENDS)
def client(request, tmp_path_factory):
    c = InProcess.open(make_site(tmp_path_factory.mktemp("bad-input"), request.param, request),
                       keep_cookies=False)
    c.admin = c.token("Administrator")  # sent where a request names it
    yield c
    c.close()


def _refused(r, *words: str, status: int = 417) -> str:
    assert r.status_code == status, r.text[:1000]
    body = r.json()
    message = json.loads(json.loads(body["_server_messages"])[-1])["message"]
    for word in words:
        assert word in message, message
    return message


def _note(client) -> dict:
    r = client.request("POST", "/api/resource/Note", headers=client.admin,
                       json={"title": "with rows", "seen_by": [{"user": "Administrator"}]})
    assert r.status_code == 200, r.text
    return r.json()["data"]


# --- field-count caps --------------------------------------------------------------------------------

def test_too_many_query_fields_is_417(client):
    query = "&".join(f"f{i}=1" for i in range(2001))
    _refused(client.request("GET", "/api/resource/ToDo?" + query, headers=client.admin),
             "Too many fields", "query string")
    # At the cap, still fine.
    ok = client.request("GET", "/api/resource/ToDo?" + "&".join(f"f{i}=1" for i in range(2000)),
                        headers=client.admin)
    assert ok.status_code == 200


def test_too_many_form_fields_is_417(client):
    body = "&".join(f"f{i}=1" for i in range(2001))
    r = client.request("POST", "/api/resource/ToDo", content=body.encode(),
                       headers={**client.admin, "content-type": "application/x-www-form-urlencoded"})
    _refused(r, "Too many fields", "form body")


def test_too_many_multipart_fields_is_417(client):
    r = client.request("POST", "/api/method/upload_file", headers=client.admin,
                       data={f"f{i}": "1" for i in range(2001)}, files={"file": ("a.txt", b"a", "text/plain")})
    _refused(r, "Too many fields", "multipart")


def test_too_many_fields_for_guest_is_417_too(client):
    query = "&".join(f"f{i}=1" for i in range(2500))
    r = client.request("GET", "/api/method/ping?" + query)
    _refused(r, "Too many fields")


# --- non-scalar values where one value belongs -------------------------------------------------------------

@pytest.mark.parametrize("value", [{"a": 1}, [1, 2], []])
def test_child_row_name_object_on_resource_create_and_update(client, value):
    r = client.request("POST", "/api/resource/Note", headers=client.admin,
                       json={"title": "x", "seen_by": [{"name": value}]})
    _refused(r, "Row #1", "name")
    note = _note(client)
    r = client.request("PUT", f"/api/resource/Note/{note['name']}", headers=client.admin,
                       json={"seen_by": [{"name": value, "user": "Administrator"}]})
    _refused(r, "Row #1", "name")


def test_child_row_name_object_on_client_methods(client):
    note = _note(client)
    full = {**note, "seen_by": [{"name": {"a": 1}, "user": "Administrator"}]}
    r = client.request("POST", "/api/method/frappe.client.save", headers=client.admin,
                       json={"doc": full})
    _refused(r, "Row #1", "name")
    r = client.request("POST", "/api/method/frappe.client.insert", headers=client.admin,
                       json={"doc": {"doctype": "Note", "title": "y", "seen_by": [{"name": [1]}]}})
    _refused(r, "Row #1", "name")
    r = client.request("POST", "/api/method/frappe.client.insert_many", headers=client.admin,
                       json={"docs": [{"doctype": "Note", "title": "all or nothing"},
                                      {"doctype": "Note", "title": "z", "seen_by": [{"name": {"a": 1}}]}]})
    _refused(r, "Row #1", "name")
    # All or nothing: the first document of the batch was not kept.
    listed = client.request("GET", "/api/resource/Note", headers=client.admin,
                            params={"filters": json.dumps({"title": "all or nothing"})}).json()["data"]
    assert listed == []


@pytest.mark.parametrize("key", ["parent", "parenttype", "parentfield", "doctype", "idx", "docstatus",
                                 "modified", "owner", "creation", "modified_by"])
def test_standard_fields_given_as_objects_are_refused(client, key):
    r = client.request("POST", "/api/resource/Note", headers=client.admin,
                       json={"title": "x", "seen_by": [{"user": "Administrator", key: {"a": 1}}]})
    _refused(r, "Row #1", key)
    if key != "doctype":  # the URL names the DocType of a top-level document (Frappe's rule)
        r = client.request("POST", "/api/resource/Note", headers=client.admin, json={"title": "x", key: [1]})
        _refused(r, key)


def test_document_name_and_modified_given_as_objects_are_refused(client):
    r = client.request("POST", "/api/method/frappe.client.insert", headers=client.admin,
                       json={"doc": {"doctype": "ToDo", "name": {"a": 1}, "description": "x"}})
    _refused(r, "name")
    note = _note(client)
    r = client.request("PUT", f"/api/resource/Note/{note['name']}", headers=client.admin,
                       json={"title": "changed", "modified": {"a": 1}})
    _refused(r, "modified")


@pytest.mark.parametrize("field,value", [("description", {"a": 1}), ("allocated_to", ["Administrator"]),
                                         ("status", {"x": "Open"}), ("date", [2024])])
def test_data_and_link_values_given_as_objects_are_refused(client, field, value):
    r = client.request("POST", "/api/resource/ToDo", headers=client.admin,
                       json={"description": "x", field: value})
    assert r.status_code == 417, r.text[:500]


@pytest.mark.parametrize("key", ["parenttype", "parent", "parentfield"])
def test_child_row_insert_with_object_parent_is_refused(client, key):
    note = _note(client)
    row = {"doctype": "Note Seen By", "user": "Administrator", "parenttype": "Note", "parent": note["name"],
           "parentfield": "seen_by", key: {"a": 1}}
    r = client.request("POST", "/api/method/frappe.client.insert", headers=client.admin, json={"doc": row})
    _refused(r, key)


@pytest.mark.parametrize("body", [{"usr": "\x00"}, {"usr": "\x00", "pwd": "x"}, {"usr": "a\x00b", "pwd": "\x00"}])
def test_login_name_with_nul_is_401(client, body):
    # Found by the fuzzer: the failure counter's key reached PostgreSQL with a NUL (500).
    r = client.request("POST", "/api/method/login", data=body)
    assert r.status_code == 401 and r.json()["exc_type"] == "AuthenticationError", r.text[:500]


def test_nul_in_session_id_or_api_key_is_4xx(client):
    # Found by probing the fuzzer's raw family: PostgreSQL refused the NUL inside the lookup (500).
    import base64
    r = client.request("GET", "/api/method/frappe.auth.get_logged_user", params={"sid": "\x00"})
    assert r.status_code == 403, r.text[:500]
    basic = "Basic " + base64.b64encode(b"a\x00:b").decode()
    r = client.request("GET", "/api/method/frappe.auth.get_logged_user", headers={"Authorization": basic})
    assert r.status_code == 401, r.text[:500]


def test_json_field_nested_too_deeply_is_417(client):
    r = client.request("POST", "/api/resource/DocType", headers=client.admin, json={
        "name": "Bad Input JSON", "module": "Custom", "custom": 1,
        "fields": [{"fieldname": "payload", "fieldtype": "JSON", "label": "Payload"}],
        "permissions": [{"role": "System Manager", "read": 1, "write": 1, "create": 1}]})
    assert r.status_code == 200, r.text[:500]
    body = '{"payload": ' + "[" * 300 + "]" * 300 + "}"
    r = client.request("POST", "/api/resource/Bad Input JSON", content=body.encode(),
                       headers={**client.admin, "content-type": "application/json"})
    _refused(r, "Payload", "nested too deeply")


def test_answer_nested_too_deeply_is_417_and_rolls_back(client):
    # Found by the fuzzer: bulk_update echoes a failed item; orjson cannot write 300 levels (500),
    # and the items that had succeeded were already committed.
    note = _note(client)
    deep = "[" * 300 + "]" * 300
    body = ('{"docs": [{"doctype": "Note", "docname": "%s", "title": "bulk changed"}, '
            '{"doctype": "Note", "docname": "missing", "title": %s}]}' % (note["name"], deep))
    r = client.request("POST", "/api/method/frappe.client.bulk_update", content=body.encode(),
                       headers={**client.admin, "content-type": "application/json"})
    _refused(r, "nest")
    stored = client.request("GET", f"/api/resource/Note/{note['name']}", headers=client.admin).json()["data"]
    assert stored["title"] == "with rows"
