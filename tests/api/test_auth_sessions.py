"""Sessions, CSRF, API keys and login throttling over HTTP, on both databases.

Most tests share the module's ``server``. Expiry and lockout need settings of their own
(``session_expiry`` of two seconds, a lock after three failures for two seconds), so they
run on ``tight``, a server whose site_config sets them. Lockout counters are kept per login
name and per client address; each lockout test connects from its own loopback address
(127.0.0.x) so the tests do not lock each other out.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import time

import httpx
import pytest

from tests.conftest import configure_site, BACKENDS, make_site, start_server, stop_server

PASSWORD = "auth-pw-123"
WHO = "/api/method/frappe.auth.get_logged_user"
GENERATE = "/api/method/frappe.core.doctype.user.user.generate_keys"
CSRF = "/api/method/frappe.sessions.get_csrf_token"
_ids = itertools.count(1)


def new_user(srv, *roles: str, password: str = PASSWORD) -> str:
    email = f"auth{next(_ids)}-{srv.backend}@example.com"
    srv.cli("add-user", email, "--password", password, *(["--roles", ",".join(roles)] if roles else []))
    return email


def client(srv, local_address: str | None = None, **kw) -> httpx.Client:
    if local_address is None:
        return srv.client(**kw)
    return httpx.Client(base_url=srv.base_url, timeout=30, transport=httpx.HTTPTransport(local_address=local_address),
                        **kw)


def login(c: httpx.Client, usr: str, pwd: str = PASSWORD) -> httpx.Response:
    return c.post("/api/method/login", json={"usr": usr, "pwd": pwd})


def logged_in(srv, usr: str, pwd: str = PASSWORD) -> httpx.Client:
    c = client(srv)
    r = login(c, usr, pwd)
    assert r.status_code == 200 and r.json()["message"] == "Logged In", r.text
    return c


def with_sid(srv, sid: str) -> httpx.Client:
    c = client(srv)
    c.cookies.set("sid", sid)
    return c


def token_client(srv, key: str, secret: str) -> httpx.Client:
    return client(srv, headers={"Authorization": f"token {key}:{secret}"})


def set_cookie_headers(r: httpx.Response, name: str) -> list[str]:
    return [h for h in r.headers.get_list("set-cookie") if h.startswith(f"{name}=")]


def assert_expired(c: httpx.Client) -> None:
    r = c.get(WHO)
    assert r.status_code == 403, r.text
    assert r.json().get("session_expired") == 1


@pytest.fixture(scope="module", params=BACKENDS)
def tight(request, tmp_path_factory):
    """A server with a two-second sliding session expiry and a short login lockout."""
    site_dir = make_site(tmp_path_factory.mktemp(f"tight-{request.param}"), request.param, request)
    configure_site(site_dir, session_expiry="00:00:02", allow_consecutive_login_attempts=3,
                   allow_login_after_fail=2)
    srv = start_server(site_dir, request.param)
    yield srv
    stop_server(srv.proc)


# --- sessions ------------------------------------------------------------------------------------

def test_session_expiry_slides_with_each_request(tight):
    user = new_user(tight)
    r = login(client(tight), user)
    assert r.status_code == 200 and re.search(r"Max-Age=2\b", set_cookie_headers(r, "sid")[0]), r.headers
    sid = r.cookies["sid"]
    # (The sid is sent explicitly: a cookie jar would itself drop a cookie that is this short-lived.)
    # Four requests a second apart: 4 s after login, alive only because each one slides the expiry.
    for _ in range(4):
        time.sleep(1.0)
        r = with_sid(tight, sid).get(WHO)
        assert r.status_code == 200 and r.json() == {"message": user}, r.text
        # every response re-issues the cookie with a fresh Max-Age
        assert any(re.search(r"Max-Age=2\b", h) for h in set_cookie_headers(r, "sid")), r.headers
    time.sleep(3.0)
    assert_expired(with_sid(tight, sid))
    assert_expired(with_sid(tight, sid))  # and it stays gone


def test_logout_ends_the_session(server):
    user = new_user(server)
    for verb in ("POST", "GET"):  # any verb logs out (v15)
        c = logged_in(server, user)
        sid = c.cookies["sid"]
        r = c.request(verb, "/api/method/logout")
        assert r.status_code == 200, r.text
        assert any(re.match(r"sid=;|sid=\"\";", h) or "Max-Age=0" in h or "expires=Thu, 01 Jan 1970" in h
                   for h in set_cookie_headers(r, "sid")), r.headers
        assert_expired(with_sid(server, sid))
        r = client(server).get(WHO, params={"sid": sid})
        assert r.status_code == 403 and r.json().get("session_expired") == 1


def test_login_rotates_the_session_id(server):
    user, other = new_user(server), new_user(server)
    c = logged_in(server, user)
    first = c.cookies["sid"]
    r = login(c, user)  # sends the held sid cookie
    assert r.status_code == 200
    second = c.cookies["sid"]
    assert second != first and len(second) >= 32
    assert_expired(with_sid(server, first))
    assert with_sid(server, second).get(WHO).json() == {"message": user}
    # logging in as someone else while holding a session ends the held one too
    r = login(c, other)
    assert r.status_code == 200 and c.cookies["sid"] not in (first, second)
    assert_expired(with_sid(server, second))
    assert c.get(WHO).json() == {"message": other}


def test_password_change_and_disabling_end_sessions_and_keys(server, admin):
    user = new_user(server)
    sessions = [logged_in(server, user), logged_in(server, user)]
    r = admin.post(GENERATE, data={"user": user})
    assert r.status_code == 200, r.text
    key, secret = r.json()["message"]["api_key"], r.json()["message"]["api_secret"]
    keyed = token_client(server, key, secret)
    assert keyed.get(WHO).json() == {"message": user}

    r = admin.put(f"/api/resource/User/{user}", json={"new_password": "auth-pw-new"})
    assert r.status_code == 200, r.text
    for c in sessions:
        assert_expired(c)
    assert keyed.get(WHO).status_code == 200  # keys do not depend on the password (Frappe)
    assert login(client(server), user).status_code == 401
    fresh = logged_in(server, user, "auth-pw-new")

    r = admin.put(f"/api/resource/User/{user}", json={"enabled": 0})
    assert r.status_code == 200, r.text
    assert_expired(fresh)
    r = keyed.get(WHO)
    assert r.status_code == 401 and r.json()["exc_type"] == "AuthenticationError"
    basic = base64.b64encode(f"{key}:{secret}".encode()).decode()
    assert client(server).get(WHO, headers={"Authorization": f"Basic {basic}"}).status_code == 401
    r = login(client(server), user, "auth-pw-new")
    assert r.status_code == 401, r.text
    # the same answer as a wrong password: the right one does not reveal that the account is disabled
    assert r.json()["message"] == "Invalid login credentials" and r.json()["exc_type"] == "AuthenticationError"
    r = login(client(server), user, "wrong-password")
    assert r.status_code == 401 and r.json()["message"] == "Invalid login credentials"

    assert admin.put(f"/api/resource/User/{user}", json={"enabled": 1}).status_code == 200
    assert keyed.get(WHO).json() == {"message": user}
    logged_in(server, user, "auth-pw-new")


# --- CSRF ----------------------------------------------------------------------------------------

def test_csrf_token_is_required_once_the_session_has_one(server):
    user = new_user(server, "System Manager")
    c = logged_in(server, user)
    # an API-client session without a token is not checked
    r = c.post("/api/resource/ToDo", json={"description": "no token yet"})
    assert r.status_code == 200, r.text
    other_session = logged_in(server, user)

    r = c.post(CSRF)
    assert r.status_code == 200, r.text
    token = r.json()["message"]
    assert isinstance(token, str) and len(token) >= 16
    assert c.get(CSRF).status_code == 403  # minting is POST only

    def refused(r: httpx.Response) -> None:
        assert r.status_code == 400, r.text
        assert r.json()["exc_type"] == "CSRFTokenError"

    good = {"X-Frappe-CSRF-Token": token}
    refused(c.post("/api/resource/ToDo", json={"description": "no header"}))
    refused(c.post("/api/resource/ToDo", json={"description": "bad"}, headers={"X-Frappe-CSRF-Token": "x" + token}))
    r = c.post("/api/resource/ToDo", json={"description": "with header", "allocated_to": user}, headers=good)
    assert r.status_code == 200, r.text
    name = r.json()["data"]["name"]
    refused(c.put(f"/api/resource/ToDo/{name}", json={"status": "Closed"}))
    assert c.put(f"/api/resource/ToDo/{name}", json={"status": "Closed"}, headers=good).status_code == 200
    refused(c.post("/api/method/ping"))  # every unsafe verb, RPC included
    # GET is never checked
    assert c.get(f"/api/resource/ToDo/{name}").status_code == 200
    assert c.get(WHO).json() == {"message": user}
    # the token may come as a form argument instead of the header
    r = c.post("/api/resource/ToDo", data={"data": json.dumps({"description": "form"}), "csrf_token": token})
    assert r.status_code == 200, r.text
    # the same session named by the sid argument is checked as well
    refused(client(server).post("/api/resource/ToDo", json={"description": "x", "sid": c.cookies["sid"]}))
    # the token belongs to that session only
    assert other_session.post("/api/resource/ToDo", json={"description": "other session"}).status_code == 200
    refused(c.delete(f"/api/resource/ToDo/{name}"))
    assert c.delete(f"/api/resource/ToDo/{name}", headers=good).status_code == 202

    # token- and Basic-authenticated requests are exempt
    r = c.post(GENERATE, data={"user": user}, headers=good)
    assert r.status_code == 200, r.text
    key, secret = r.json()["message"]["api_key"], r.json()["message"]["api_secret"]
    r = token_client(server, key, secret).post("/api/resource/ToDo", json={"description": "by token"})
    assert r.status_code == 200, r.text
    basic = base64.b64encode(f"{key}:{secret}".encode()).decode()
    r = client(server).post("/api/resource/ToDo", json={"description": "basic"},
                            headers={"Authorization": f"Basic {basic}"})
    assert r.status_code == 200, r.text
    # ...but not a request that also carries the token-holding session cookie (v15)
    refused(c.post("/api/resource/ToDo", json={"description": "both"},
                   headers={"Authorization": f"token {key}:{secret}"}))


# --- API keys ------------------------------------------------------------------------------------

def test_generate_keys_rules(server):
    manager, alice, bob = new_user(server, "System Manager"), new_user(server), new_user(server)
    m, a = logged_in(server, manager), logged_in(server, alice)

    r = m.post(GENERATE, data={"user": alice})
    assert r.status_code == 200, r.text
    key, secret = r.json()["message"]["api_key"], r.json()["message"]["api_secret"]
    assert token_client(server, key, secret).get(WHO).json() == {"message": alice}

    # the user themself; the old secret stops working at once, the key stays
    r = a.post(GENERATE, data={"user": alice})
    assert r.status_code == 200, r.text
    assert r.json()["message"]["api_key"] == key and r.json()["message"]["api_secret"] != secret
    new_secret = r.json()["message"]["api_secret"]
    assert token_client(server, key, secret).get(WHO).status_code == 401
    assert token_client(server, key, new_secret).get(WHO).json() == {"message": alice}

    # another plain user, GET, Guest: refused
    r = a.post(GENERATE, data={"user": bob})
    assert r.status_code == 403 and r.json()["exc_type"] == "PermissionError"
    assert m.get(GENERATE, params={"user": alice}).status_code == 403
    assert a.get(GENERATE, params={"user": alice}).status_code == 403
    assert client(server).post(GENERATE, data={"user": alice}).status_code == 403
    assert token_client(server, key, new_secret).get(WHO).json() == {"message": alice}  # unchanged
    # bad arguments are client errors
    assert m.post(GENERATE, data={"user": "nobody@example.com"}).status_code == 404
    assert 400 <= m.post(GENERATE).status_code < 500

    # the secret is stored hashed and never read back
    user_doc = server.admin().get(f"/api/resource/User/{alice}").json()["data"]
    assert new_secret not in json.dumps(user_doc)


def test_regenerated_secret_is_refused_by_every_process(server):
    user = new_user(server)
    second = start_server(server.site_dir, server.backend)
    try:
        server.api_secret = second.api_secret  # start_server regenerated the Administrator's secret
        with server.admin() as admin:
            r = admin.post(GENERATE, data={"user": user})
            key, old = r.json()["message"]["api_key"], r.json()["message"]["api_secret"]
            for srv in (server, second):  # both processes cache the key
                assert token_client(srv, key, old).get(WHO).json() == {"message": user}
            r = admin.post(GENERATE, data={"user": user})
            new = r.json()["message"]["api_secret"]
        for srv in (second, server):
            assert token_client(srv, key, old).get(WHO).status_code == 401
            assert token_client(srv, key, new).get(WHO).json() == {"message": user}
    finally:
        stop_server(second.proc)


# --- login throttling ----------------------------------------------------------------------------

def _attempts(srv, address: str, usr: str, pwd: str, n: int) -> list[httpx.Response]:
    with client(srv, address) as c:
        return [login(c, usr, pwd) for _ in range(n)]


def _shape(r: httpx.Response) -> tuple:
    """Status, exception, keys and message texts (numbers blanked) of a response."""
    body = r.json()
    messages = [json.loads(m) for m in json.loads(body.get("_server_messages") or "[]")]
    texts = tuple(re.sub(r"\d+", "N", m.get("message", "")) for m in messages)
    return (r.status_code, body.get("exc_type"), tuple(sorted(body)), re.sub(r"\d+", "N", body.get("message", "")),
            texts, tuple(tuple(sorted(m)) for m in messages))


def test_lockout_after_consecutive_failures_hides_whether_the_user_exists(tight):
    user = new_user(tight)
    shapes = {}
    for usr, address in ((user, "127.0.0.11"), (f"ghost-{tight.backend}@example.com", "127.0.0.12")):
        for r in _attempts(tight, address, usr, "wrong-password", 3):
            assert r.status_code == 401 and r.json()["message"] == "Invalid login credentials", r.text
        locked = _attempts(tight, address, usr, "wrong-password", 1) + _attempts(tight, address, usr, PASSWORD, 1)
        for r in locked:
            assert r.status_code == 429, r.text
            assert "locked" in json.dumps(r.json())
        assert _shape(locked[0]) == _shape(locked[1])
        shapes[usr] = _shape(locked[0])
        # another address cannot help: the lock is also per user (checked at once: the lock is short)
        assert _attempts(tight, "127.0.0.13", usr, PASSWORD, 1)[0].status_code == 429
    assert len(set(shapes.values())) == 1, shapes  # existing and unknown users look the same
    time.sleep(2.5)
    r = _attempts(tight, "127.0.0.11", user, PASSWORD, 1)[0]
    assert r.status_code == 200 and r.json()["message"] == "Logged In", r.text
    r = _attempts(tight, "127.0.0.12", f"ghost-{tight.backend}@example.com", PASSWORD, 1)[0]
    assert r.status_code == 401


def test_lockout_is_also_per_client_address(tight):
    user = new_user(tight)
    for i in range(3):
        r = _attempts(tight, "127.0.0.21", f"nobody{i}-{tight.backend}@example.com", "wrong-password", 1)[0]
        assert r.status_code == 401
    # a fourth attempt from that address is refused, whoever it names
    assert _attempts(tight, "127.0.0.21", user, PASSWORD, 1)[0].status_code == 429
    assert _attempts(tight, "127.0.0.22", user, PASSWORD, 1)[0].status_code == 200
    time.sleep(2.5)
    assert _attempts(tight, "127.0.0.21", user, PASSWORD, 1)[0].status_code == 200
