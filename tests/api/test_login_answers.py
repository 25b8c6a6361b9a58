"""Login answers tell nothing about an account: the right password of a disabled account, a
wrong password and an unknown user get the same status and body, on both databases (in process).
A disabled account's right password still does not log in, and it counts towards the lock."""

from __future__ import annotations

import json

import pytest

from tests.conftest import BACKENDS
from tests.inprocess import InProcess, open_site

PASSWORD = "login-pw-123"
LIMIT = 3


@pytest.fixture(scope="module", params=BACKENDS)
def app(request, tmp_path_factory):
    from ristretto.api.app import App
    from ristretto.site.install import add_user
    site = open_site(tmp_path_factory.mktemp(f"login-{request.param}"), request.param, request,
                     allow_consecutive_login_attempts=LIMIT, allow_login_after_fail=300)
    for email in ("off@example.com", "off2@example.com", "on@example.com"):
        add_user(site, email, PASSWORD, [])
    yield site, App(site)
    site.close()


def set_enabled(site, user: str, enabled: int) -> None:
    from ristretto.model import document
    with site.admin() as ctx:
        document.update(ctx, "User", user, {"enabled": enabled})


def login(app, usr: str, pwd: str, address: str) -> tuple[InProcess, object]:
    client = InProcess(app, address=address)
    return client, client.post("/api/method/login", json={"usr": usr, "pwd": pwd})


def answer(r) -> tuple:
    """Status, body (message ids left out) and the cookies set: everything a client sees."""
    body = r.json()
    messages = [json.loads(m) for m in json.loads(body.pop("_server_messages", "[]"))]
    for m in messages:
        m.pop("__frappe_exc_id", None)
    return r.status_code, body, messages, sorted(r.headers.get_list("set-cookie"))


def test_disabled_account_answers_like_a_wrong_password(app):
    site, asgi = app
    user = "off@example.com"
    assert login(asgi, user, PASSWORD, "127.0.1.1")[1].status_code == 200   # the password is right
    set_enabled(site, user, 0)
    right = login(asgi, user, PASSWORD, "127.0.1.2")
    wrong = login(asgi, user, "wrong-password", "127.0.1.3")
    unknown = login(asgi, "nobody@example.com", PASSWORD, "127.0.1.4")
    assert right[1].status_code == 401, right[1].text
    assert answer(right[1]) == answer(wrong[1]) == answer(unknown[1])
    assert right[1].json()["message"] == "Invalid login credentials"
    # ...and it did not log in: the client is still a Guest
    client = right[0]
    assert client.get("/api/method/frappe.auth.get_logged_user").status_code in (401, 403)
    set_enabled(site, user, 1)
    assert login(asgi, user, PASSWORD, "127.0.1.5")[1].status_code == 200


def test_disabled_account_right_password_counts_towards_the_lock(app):
    site, asgi = app
    user = "off2@example.com"
    set_enabled(site, user, 0)
    for i in range(LIMIT):
        r = login(asgi, user, PASSWORD, f"127.0.2.{i + 1}")[1]
        assert r.status_code == 401, r.text
    r = login(asgi, user, PASSWORD, "127.0.2.99")[1]
    assert r.status_code == 429, r.text
    # enabled again, the lock still holds for its time
    set_enabled(site, user, 1)
    assert login(asgi, user, PASSWORD, "127.0.2.98")[1].status_code == 429
