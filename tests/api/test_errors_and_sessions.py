"""Error bodies, bad input (always 4xx), and session details (sid argument, stale sid)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ADMIN_PASSWORD


def _messages(body):
    return [json.loads(m) for m in json.loads(body["_server_messages"])]


@pytest.mark.parametrize("method,path,kwargs,status,exc_type", [
    ("GET", "/api/resource/No Such DocType", {}, 404, "DoesNotExistError"),
    ("GET", "/api/resource/ToDo/does-not-exist", {}, 404, "DoesNotExistError"),
    ("POST", "/api/resource/ToDo", {"json": {}}, 417, "MandatoryError"),
    ("POST", "/api/resource/ToDo", {"json": {"description": "x", "status": "Bogus"}}, 417, "ValidationError"),
    ("POST", "/api/resource/ToDo", {"json": {"description": "x", "date": "not-a-date"}}, 417, "ValidationError"),
    ("POST", "/api/resource/ToDo", {"json": {"description": "x", "allocated_to": "ghost@example.com"}},
     417, "LinkValidationError"),
    ("POST", "/api/resource/ToDo", {"json": {"description": ["a", "list"]}}, 417, "ValidationError"),
    ("POST", "/api/resource/ToDo", {"data": {"data": "{broken"}}, 417, "DataError"),
    ("GET", "/api/resource/ToDo", {"params": {"limit_page_length": "ten"}}, 417, "ValidationError"),
    ("GET", "/api/resource/ToDo", {"params": {"limit_start": "-5"}}, 417, "ValidationError"),
    ("GET", "/api/resource/ToDo", {"params": {"fields": "[\"name\""}}, 417, "DataError"),
    ("GET", "/api/resource/ToDo", {"params": {"filters": "[[\"status\", \"~~\", \"Open\"]]"}}, 417, "ValidationError"),
    ("GET", "/api/resource/ToDo", {"params": {"filters": "[[\"status\"]]"}}, 417, "ValidationError"),
    ("GET", "/api/resource/ToDo", {"params": {"filters": "[[\"date\", \">\", \"yesterday-ish\"]]"}}, 417, "DataError"),
    ("GET", "/api/method/no.such.method", {}, 417, "ValidationError"),
    ("GET", "/api/method/os.system", {"params": {"command": "true"}}, 417, "ValidationError"),
    ("DELETE", "/api/resource/User/Administrator", {}, 417, "ValidationError"),
])
def test_bad_input_is_a_4xx_with_frappe_body(admin, method, path, kwargs, status, exc_type):
    r = admin.request(method, path, **kwargs)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["exc_type"] == exc_type
    if status == 404:
        assert "exc" not in body and "exception" not in body
    else:
        # Administrator is a System User: tracebacks are included, double-encoded messages decode.
        assert "Traceback" in json.loads(body["exc"])[0]
        assert body["exception"].startswith(f"frappe.exceptions.{exc_type}")
        assert _messages(body)[-1]["indicator"] == "red"


def test_unparseable_json_body_is_417(admin):
    # The body is parsed before the caller is known, so no traceback is attached.
    r = admin.post("/api/resource/ToDo", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 417 and r.json()["exc_type"] == "DataError"


def test_verb_not_allowed_is_405(admin):
    assert admin.patch("/api/resource/ToDo/x").status_code == 405


def test_body_too_large_is_413(server):
    with server.admin() as c:
        r = c.post("/api/resource/ToDo", content=b"x" * (26 * 1024 * 1024),
                   headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 413


def test_sid_argument_wins_over_cookie_and_stale_sid_is_guest(server):
    with server.client() as c:
        sid = c.post("/api/method/login", json={"usr": "Administrator", "pwd": ADMIN_PASSWORD}).cookies["sid"]
    with server.client() as c:
        assert c.get("/api/method/frappe.auth.get_logged_user", params={"sid": sid}).json() == \
            {"message": "Administrator"}
        r = c.post("/api/resource/ToDo", json={"description": "sid in body", "sid": sid})
        assert r.status_code == 200 and r.json()["data"]["owner"] == "Administrator"
        r = c.get("/api/method/frappe.auth.get_logged_user", params={"sid": "0" * 56})
        assert r.status_code == 403 and r.json()["session_expired"] == 1
        c.cookies.set("sid", "f" * 56)
        r = c.get("/api/method/ping")
        assert r.json() == {"message": "pong", "session_expired": 1}
        assert any(h.startswith("sid=;") for h in r.headers.get_list("set-cookie"))


def test_guest_gets_sid_guest_cookie(server):
    with server.client() as c:
        r = c.get("/api/method/ping")
        assert r.json() == {"message": "pong"}
        assert any(h.startswith("sid=Guest") for h in r.headers.get_list("set-cookie"))


def test_user_without_any_right_is_refused_and_masked(server, admin):
    """A Website User holds only Guest/All: no DocPerm row of Role grants them anything."""
    server.cli("add-user", "plain@example.com", "--password", "plain-pw-1")
    admin.put("/api/resource/User/plain@example.com", json={"user_type": "Website User"})
    with server.client() as c:
        assert c.post("/api/method/login", json={"usr": "plain@example.com", "pwd": "plain-pw-1"}).status_code == 200
        assert c.get("/api/method/frappe.auth.get_logged_user").json() == {"message": "plain@example.com"}
        r = c.get("/api/resource/Role")
        assert r.status_code == 403 and r.json()["_error_message"] == "No permission for Role"
        # a missing document of a DocType the user cannot read is masked as 403
        r = c.get("/api/resource/Role/no-such-name")
        assert r.status_code == 403 and r.json()["exc_type"] == "PermissionError"
        assert c.post("/api/resource/Role", json={"role_name": "x"}).status_code == 403


def test_system_manager_user_may_do_everything(server):
    server.cli("add-user", "sm@example.com", "--password", "sm-pw-1", "--roles", "System Manager")
    with server.client() as c:
        c.post("/api/method/login", json={"usr": "sm@example.com", "pwd": "sm-pw-1"})
        r = c.post("/api/resource/ToDo", json={"description": "by sm"})
        assert r.status_code == 200 and r.json()["data"]["owner"] == "sm@example.com"


def test_password_change_ends_sessions(server):
    server.cli("add-user", "pw@example.com", "--password", "pw-old-1", "--roles", "System Manager")
    with server.client() as c:
        c.post("/api/method/login", json={"usr": "pw@example.com", "pwd": "pw-old-1"})
        assert c.get("/api/method/frappe.auth.get_logged_user").status_code == 200
        server.cli("set-password", "pw@example.com", "pw-new-1")
        assert c.get("/api/method/frappe.auth.get_logged_user").status_code == 403
        assert c.post("/api/method/login", json={"usr": "pw@example.com", "pwd": "pw-new-1"}).status_code == 200


def test_regenerated_key_invalidates_old_secret(server):
    old = (server.api_key, server.api_secret)
    keys = json.loads(server.cli("generate-keys", "Administrator").stdout)
    assert keys["api_key"] == old[0]
    with server.client() as c:
        r = c.get("/api/method/frappe.auth.get_logged_user", headers={"Authorization": f"token {old[0]}:{old[1]}"})
        assert r.status_code == 401
        r = c.get("/api/method/frappe.auth.get_logged_user",
                  headers={"Authorization": f"token {keys['api_key']}:{keys['api_secret']}"})
        assert r.status_code == 200
    server.api_secret = keys["api_secret"]


def test_secrets_never_come_back(admin):
    user = admin.get("/api/resource/User/Administrator").json()["data"]
    assert "new_password" not in user
    assert set(user.get("api_secret", "*")) == {"*"}
