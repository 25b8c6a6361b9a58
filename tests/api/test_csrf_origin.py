"""Cross-site writes with a cookie session are refused, over HTTP on both databases.

A session logged in by an API client has no CSRF token, so Frappe's token check never
applies to it; a page on another site could still make the browser post with its cookie.
Browsers say where a request comes from (``Origin``, ``Sec-Fetch-Site``); API clients send
neither and keep working. The site here allows one other origin (``allow_cors``) and trusts
one reverse proxy (``PROXY``), whose ``X-Forwarded-Host``/``-Proto`` then count.
"""

from __future__ import annotations

import base64
import itertools
import json
import uuid

import httpx
import pytest

from tests.conftest import configure_site, BACKENDS, make_site, start_server, stop_server

PASSWORD = "csrf-pw-1"
ALLOWED = "https://app.example.org"
PROXY = "127.0.9.1"
TODO = "/api/resource/ToDo"
_ids = itertools.count(1)


@pytest.fixture(scope="module", params=BACKENDS)
def srv(request, tmp_path_factory):
    site_dir = make_site(tmp_path_factory.mktemp(f"csrf-{request.param}"), request.param, request)
    configure_site(site_dir, allow_cors=[ALLOWED, "*"], trusted_proxies=[PROXY])
    server = start_server(site_dir, request.param)
    yield server
    stop_server(server.proc)


def session(srv, address: str | None = None) -> tuple[httpx.Client, str]:
    """A cookie session of a new System Manager, as an API client logs in (no CSRF token)."""
    user = f"csrf{next(_ids)}-{srv.backend}@example.com"
    srv.cli("add-user", user, "--password", PASSWORD, "--roles", "System Manager")
    kw = {"transport": httpx.HTTPTransport(local_address=address)} if address else {}
    c = httpx.Client(base_url=srv.base_url, timeout=30, **kw)
    r = c.post("/api/method/login", json={"usr": user, "pwd": PASSWORD})
    assert r.status_code == 200, r.text
    return c, user


def form_post(c: httpx.Client, headers: dict[str, str], **kw) -> tuple[httpx.Response, str]:
    """What an HTML form on a page posts: urlencoded fields, the browser's cookie and headers."""
    marker = f"csrf-{uuid.uuid4().hex[:10]}"
    r = c.post(TODO, data={"data": json.dumps({"description": marker})}, headers=headers, **kw)
    return r, marker


def created(srv, marker: str) -> int:
    with srv.admin() as a:
        r = a.get(TODO, params={"filters": json.dumps([["description", "=", marker]]), "fields": '["name"]'})
        assert r.status_code == 200, r.text
        return len(r.json()["data"])


def refused(srv, r: httpx.Response, marker: str) -> None:
    assert r.status_code == 400, r.text
    assert r.json()["exc_type"] == "CSRFTokenError" and "exc" not in r.json()
    assert created(srv, marker) == 0


def accepted(srv, r: httpx.Response, marker: str) -> None:
    assert r.status_code == 200, r.text
    assert created(srv, marker) == 1


def test_cross_site_cookie_writes_are_refused(srv):
    c, _ = session(srv)
    for headers in ({"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
                    {"Origin": "https://evil.example"},
                    {"Sec-Fetch-Site": "cross-site"},
                    {"Sec-Fetch-Site": "same-site"},
                    {"Origin": "null"},
                    {"Origin": srv.base_url.replace("http:", "https:")},  # another scheme is another origin
                    {"Origin": ALLOWED + ".evil.example"},
                    {"Origin": "*"}):
        r, marker = form_post(c, headers)
        refused(srv, r, marker)
    # every unsafe verb, JSON bodies and methods included
    r = c.post(TODO, json={"description": "x"}, headers={"Origin": "https://evil.example"})
    assert r.status_code == 400 and r.json()["exc_type"] == "CSRFTokenError"
    r = c.post("/api/method/frappe.client.insert", headers={"Origin": "https://evil.example"},
               data={"doc": json.dumps({"doctype": "ToDo", "description": "x"})})
    assert r.status_code == 400 and r.json()["exc_type"] == "CSRFTokenError"
    # safe verbs are not checked
    r = c.get("/api/method/frappe.auth.get_logged_user", headers={"Origin": "https://evil.example"})
    assert r.status_code == 200, r.text


def test_same_origin_and_api_clients_keep_working(srv):
    c, _ = session(srv)
    for headers in ({},  # an API client: no Origin, no Sec-Fetch-Site
                    {"Origin": srv.base_url, "Sec-Fetch-Site": "same-origin"},
                    {"Origin": srv.base_url},
                    {"Origin": "HTTP" + srv.base_url[4:]},
                    {"Sec-Fetch-Site": "same-origin"},
                    {"Sec-Fetch-Site": "none"},
                    # the browser vouches for it although a proxy rewrote the Host
                    {"Origin": "https://erp.example.com", "Sec-Fetch-Site": "same-origin"},
                    {"Origin": ALLOWED, "Sec-Fetch-Site": "cross-site"},
                    {"Origin": ALLOWED.upper() + ":443"}):
        r, marker = form_post(c, headers)
        accepted(srv, r, marker)


def test_api_keys_and_sid_argument_are_not_cookie_sessions(srv):
    c, user = session(srv)
    r = c.post("/api/method/frappe.core.doctype.user.user.generate_keys", data={"user": user})
    assert r.status_code == 200, r.text
    key, secret = r.json()["message"]["api_key"], r.json()["message"]["api_secret"]
    evil = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    with httpx.Client(base_url=srv.base_url, timeout=30) as plain:
        r, marker = form_post(plain, {**evil, "Authorization": f"token {key}:{secret}"})
        accepted(srv, r, marker)
        basic = base64.b64encode(f"{key}:{secret}".encode()).decode()
        r, marker = form_post(plain, {**evil, "Authorization": f"Basic {basic}"})
        accepted(srv, r, marker)
        # a session named by the sid argument is not something a browser sends by itself
        r = plain.post(TODO, json={"description": "by sid", "sid": c.cookies["sid"]}, headers=evil)
        assert r.status_code == 200, r.text
    # the cookie with a key that authenticates is the key's request (a page cannot add the header)
    r, marker = form_post(c, {**evil, "Authorization": f"token {key}:{secret}"})
    accepted(srv, r, marker)
    # ...but not with a header that authenticates nothing
    r, marker = form_post(c, {**evil, "Authorization": "Bearer nothing"})
    refused(srv, r, marker)


def test_forwarded_host_counts_only_from_a_trusted_proxy(srv):
    forwarded = {"X-Forwarded-Host": "erp.example.com", "X-Forwarded-Proto": "https",
                 "Origin": "https://erp.example.com"}
    other, _ = session(srv, "127.0.9.2")
    r, marker = form_post(other, forwarded)
    refused(srv, r, marker)
    c, _ = session(srv, PROXY)
    r, marker = form_post(c, {**forwarded, "X-Forwarded-Proto": "http"})
    refused(srv, r, marker)
    # (last: the answer re-issues the cookie as Secure, which this client then keeps to https)
    r, marker = form_post(c, forwarded)
    accepted(srv, r, marker)
