"""The example requests of the seed documents, against a real server on both databases."""

from __future__ import annotations

import base64
import json

import pytest

from tests.conftest import ADMIN_PASSWORD


def _todo(admin, **values):
    r = admin.post("/api/resource/ToDo", json={"description": "seed todo", **values})
    assert r.status_code == 200, r.text
    return r.json()["data"]


def test_list_default_names_only(server, admin):
    for i in range(22):
        _todo(admin, description=f"list default {i}")
    r = admin.get("/api/resource/ToDo")
    assert r.status_code == 200
    data = r.json()["data"]
    assert len(data) == 20
    assert all(list(row) == ["name"] for row in data)


def test_list_newest_first_by_default(server, admin):
    a = _todo(admin, description="order a")
    b = _todo(admin, description="order b")
    names = [row["name"] for row in admin.get("/api/resource/ToDo", params={"limit_page_length": 0}).json()["data"]]
    assert names.index(b["name"]) < names.index(a["name"])


def test_fields_and_filters(server, admin):
    marker = "fx-filters-1"
    _todo(admin, description=f"{marker} open", priority="High")
    closed = _todo(admin, description=f"{marker} closed", status="Closed")
    r = admin.get("/api/resource/ToDo", params={
        "fields": json.dumps(["name", "description", "status"]),
        "filters": json.dumps([["description", "like", f"%{marker}%"], ["status", "=", "Closed"]])})
    assert r.status_code == 200, r.text
    assert r.json()["data"] == [{"name": closed["name"], "description": f"{marker} closed", "status": "Closed"}]
    # dict filters and 4-element filters
    r = admin.get("/api/resource/ToDo", params={"filters": json.dumps({"description": ["like", f"%{marker}%"],
                                                                       "status": "Closed"})})
    assert [x["name"] for x in r.json()["data"]] == [closed["name"]]
    r = admin.get("/api/resource/ToDo", params={"filters": json.dumps([["ToDo", "description", "like", f"%{marker}%"],
                                                                       ["ToDo", "priority", "=", "High"]])})
    assert len(r.json()["data"]) == 1


def test_order_by_and_paging(server, admin):
    marker = "fx-page-1"
    for day in (3, 1, 2, 5, 4):
        _todo(admin, description=f"{marker} {day}", date=f"2024-01-0{day}")
    base = {"fields": json.dumps(["name", "date"]), "filters": json.dumps([["description", "like", f"{marker}%"]])}
    asc = admin.get("/api/resource/ToDo", params={**base, "order_by": "date asc"}).json()["data"]
    assert [r["date"] for r in asc] == [f"2024-01-0{d}" for d in range(1, 6)]
    desc = admin.get("/api/resource/ToDo", params={**base, "order_by": "date desc"}).json()["data"]
    assert [r["date"] for r in desc] == [f"2024-01-0{d}" for d in range(5, 0, -1)]
    page = admin.get("/api/resource/ToDo", params={**base, "order_by": "date asc", "limit_start": 1,
                                                  "limit_page_length": 2}).json()["data"]
    assert [r["date"] for r in page] == ["2024-01-02", "2024-01-03"]
    alias = admin.get("/api/resource/ToDo", params={**base, "order_by": "date asc", "limit_start": 1,
                                                   "limit": 2}).json()["data"]
    assert alias == page


def test_as_dict_false_and_debug(server, admin):
    _todo(admin)
    r = admin.get("/api/resource/ToDo", params={"limit": 2, "as_dict": "False", "fields": '["name","status"]'})
    rows = r.json()["data"]
    assert len(rows) == 2 and all(isinstance(row, list) and len(row) == 2 for row in rows)
    r = admin.get("/api/resource/ToDo", params={"limit": 2, "debug": "True"})
    body = r.json()
    assert r.status_code == 200
    debug = json.loads(body["_debug_messages"])
    assert isinstance(debug, list) and any("tabToDo" in line for line in debug)
    assert "exc" not in body  # FrappeClient would treat a non-empty exc as a failure


def test_crud_cycle(server, admin):
    created = _todo(admin, description="New ToDo")
    assert set(created) >= {"name", "owner", "creation", "modified", "modified_by", "idx", "docstatus",
                            "status", "priority", "description", "doctype"}
    assert created["owner"] == "Administrator" and created["status"] == "Open" and created["priority"] == "Medium"
    assert created["doctype"] == "ToDo" and created["docstatus"] == 0 and created["idx"] == 0
    assert len(created["name"]) == 10 and all(c in "0123456789abcdef" for c in created["name"])
    assert None not in created.values()  # v1 omits null fields
    name = created["name"]
    r = admin.get(f"/api/resource/ToDo/{name}")
    assert r.status_code == 200 and r.json()["data"]["description"] == "New ToDo"
    r = admin.put(f"/api/resource/ToDo/{name}", json={"description": "New description"})
    assert r.status_code == 200
    updated = r.json()["data"]
    assert updated["description"] == "New description" and updated["modified"] > created["modified"]
    assert updated["creation"] == created["creation"]
    r = admin.delete(f"/api/resource/ToDo/{name}")
    assert r.status_code == 202
    assert r.json() == {"data": "ok", "message": "ok"}
    assert admin.get(f"/api/resource/ToDo/{name}").status_code == 404
    assert admin.delete(f"/api/resource/ToDo/{name}").status_code == 404


def test_form_encoded_data_argument(server, admin):
    """FrappeClient sends documents as a form field data=<JSON> (with doctype and name inside)."""
    r = admin.post("/api/resource/ToDo", data={"data": json.dumps({"doctype": "ToDo", "description": "form data",
                                                                   "priority": "High"})})
    assert r.status_code == 200, r.text
    name = r.json()["data"]["name"]
    r = admin.put(f"/api/resource/ToDo/{name}",
                  data={"data": json.dumps({"doctype": "ToDo", "name": name, "description": "form updated"})})
    assert r.status_code == 200 and r.json()["data"]["description"] == "form updated"
    # plain form fields are the document too
    r = admin.post("/api/resource/ToDo", data={"description": "plain form", "priority": "Low"})
    assert r.status_code == 200 and r.json()["data"]["priority"] == "Low"


def test_v1_prefix_and_trailing_slash(server, admin):
    name = _todo(admin)["name"]
    assert admin.get(f"/api/v1/resource/ToDo/{name}").json()["data"]["name"] == name
    assert admin.get(f"/api/resource/ToDo/{name}/").json()["data"]["name"] == name
    assert admin.get("/api/v1/resource/ToDo/").status_code == 200
    assert admin.get("/api/method/frappe.auth.get_logged_user/").json() == {"message": "Administrator"}


def test_login_cookie_jar(server):
    with server.client() as c:
        r = c.post("/api/method/login", json={"usr": "Administrator", "pwd": ADMIN_PASSWORD})
        assert r.status_code == 200
        assert r.json() == {"message": "Logged In", "home_page": "/app", "full_name": "Administrator"}
        cookie = r.headers.get_list("set-cookie")
        sid_cookie = next(h for h in cookie if h.startswith("sid="))
        assert "HttpOnly" in sid_cookie and "SameSite=Lax" in sid_cookie
        assert c.get("/api/method/frappe.auth.get_logged_user").json() == {"message": "Administrator"}
        assert c.post("/api/resource/ToDo", json={"description": "via cookie"}).status_code == 200
        c.get("/api/method/logout")
        assert c.get("/api/method/frappe.auth.get_logged_user").status_code == 403


def test_login_form_and_legacy_cmd(server):
    with server.client() as c:
        r = c.post("/api/method/login", data={"usr": "Administrator", "pwd": ADMIN_PASSWORD})
        assert r.json()["message"] == "Logged In"
    with server.client() as c:
        r = c.post("/", data={"cmd": "login", "usr": "Administrator", "pwd": ADMIN_PASSWORD})
        assert r.status_code == 200 and r.json()["message"] == "Logged In"
        assert c.get("/", params={"cmd": "frappe.auth.get_logged_user"}).json() == {"message": "Administrator"}
        assert c.get("/", params={"cmd": "logout"}).status_code == 200
        assert c.get("/api/method/frappe.auth.get_logged_user/").status_code == 403


@pytest.mark.parametrize("body,status,message", [
    ({"usr": "Administrator", "pwd": "wrong"}, 401, "Invalid login credentials"),
    ({"usr": "nobody@example.com", "pwd": "x"}, 401, "Invalid login credentials"),
    ({"usr": "Administrator"}, 401, "Incomplete login details"),
])
def test_login_failures(server, body, status, message):
    with server.client() as c:
        r = c.post("/api/method/login", json=body)
        assert r.status_code == status
        assert r.json()["message"] == message and r.json()["exc_type"] == "AuthenticationError"


def test_token_and_basic(server):
    with server.client() as c:
        ok = {"Authorization": f"token {server.api_key}:{server.api_secret}"}
        assert c.get("/api/method/frappe.auth.get_logged_user", headers=ok).json() == {"message": "Administrator"}
        basic = base64.b64encode(f"{server.api_key}:{server.api_secret}".encode()).decode()
        r = c.get("/api/method/frappe.auth.get_logged_user", headers={"Authorization": f"Basic {basic}"})
        assert r.json() == {"message": "Administrator"}
        r = c.get("/api/method/frappe.auth.get_logged_user",
                  headers={"Authorization": f"token {server.api_key}:wrong"})
        assert r.status_code == 401
        r = c.get("/api/method/frappe.auth.get_logged_user", headers={"Authorization": "token nokey:nosecret"})
        assert r.status_code == 401
        r = c.get("/api/method/frappe.auth.get_logged_user", headers={"Authorization": "Basic !!!notbase64"})
        assert r.status_code == 400 and r.json()["exc_type"] == "InvalidAuthorizationToken"
        r = c.get("/api/method/frappe.auth.get_logged_user", headers={"Authorization": "Negotiate abc"})
        assert r.status_code == 401


def test_anonymous_is_403(server):
    with server.client() as c:
        for path in ("/api/resource/ToDo", "/api/resource/Note"):
            r = c.get(path, params={"fields": '["name"]'})
            assert r.status_code == 403 and r.json()["exc_type"] == "PermissionError"
            assert "exc" not in r.json()  # no tracebacks for Guests


def test_ping_and_unknown_routes(server, admin):
    assert admin.get("/api/method/ping").json() == {"message": "pong"}
    assert admin.get("/api/rest").status_code == 404
    assert admin.get("/api/resource/User/NonExistent@s.com").status_code == 404
    r = admin.get("/api/resource/ToDo", params={"filters": '[["no_such_field_xyz", "=", "1"]]'})
    assert r.status_code == 417 and r.json()["exc_type"] == "DataError"
