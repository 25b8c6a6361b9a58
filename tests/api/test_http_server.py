"""The HTTP layer of ``ristretto serve``: truncated and slow bodies, slow headers, raw characters
in query strings, the access log and the error log, on real servers (both databases)."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import socket
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import configure_site, ADMIN_PASSWORD, BACKENDS, make_site, start_server, stop_server


def raw_request(server, data: bytes, *, close_after: float | None = None, timeout: float = 10) -> bytes:
    """Send ``data`` on a fresh connection; read the answer until the server closes (or
    ``timeout``); with ``close_after``, close our side that long after sending instead."""
    port = int(server.base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        if close_after is not None:
            time.sleep(close_after)
            return b""
        out = b""
        try:
            while True:
                got = s.recv(65536)
                if not got:
                    break
                out += got
        except socket.timeout:
            pass
        return out


def token(server) -> bytes:
    return f"Authorization: token {server.api_key}:{server.api_secret}\r\n".encode()


def todos_like(admin: httpx.Client, marker: str) -> list[dict]:
    r = admin.get("/api/resource/ToDo", params={"fields": '["name", "description"]', "limit_page_length": 0,
                                                "filters": json.dumps([["description", "like", f"%{marker}%"]])})
    assert r.status_code == 200, r.text
    return r.json()["data"]


# --- truncated bodies --------------------------------------------------------------------------------

def test_truncated_body_is_never_handled(server, admin):
    """Content-Length 500, 45 bytes sent, then the client goes away: nothing is created."""
    marker = f"trunc-{server.backend[:2]}-{secrets.token_hex(4)}"
    body = f"description={marker}-and-the-rest-of-a-long-description".encode()[:45]
    assert marker.encode() in body
    for content_type in (b"application/x-www-form-urlencoded", b"application/json"):
        payload = body if content_type.endswith(b"urlencoded") else b'{"description": "' + body
        raw_request(server, b"POST /api/resource/ToDo HTTP/1.1\r\nHost: t\r\n" + token(server)
                    + b"Content-Type: " + content_type + b"\r\nContent-Length: 500\r\n\r\n" + payload,
                    close_after=0.3)
    # The same request, but the client only closes its sending side (no more bytes will come).
    port = int(server.base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"POST /api/resource/ToDo HTTP/1.1\r\nHost: t\r\n" + token(server)
                  + b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 500\r\n\r\n" + body)
        s.shutdown(socket.SHUT_WR)
        s.recv(1000)
    time.sleep(0.5)
    assert todos_like(admin, marker) == []
    # A complete body with the same prefix is created (the check above can see a ToDo).
    full = f"description={marker}-complete".encode()
    answer = raw_request(server, b"POST /api/resource/ToDo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                         + token(server) + b"Content-Type: application/x-www-form-urlencoded\r\n"
                         + b"Content-Length: %d\r\n\r\n" % len(full) + full)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    assert [t["description"] for t in todos_like(admin, marker)] == [f"{marker}-complete"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_app_never_handles_a_body_cut_short(tmp_path, backend, request):
    """In process: the App given part of a body and then ``http.disconnect`` sends nothing and
    writes nothing; given a body shorter than its Content-Length it answers 400."""
    from ristretto.api.app import App
    from ristretto.site import Site
    from ristretto.site.install import generate_keys

    site_dir = make_site(tmp_path, backend, request)
    site = Site(site_dir)
    key, secret = generate_keys(site, "Administrator")
    app = App(site)
    auth = (b"authorization", f"token {key}:{secret}".encode())

    def scope(length: int) -> dict:
        return {"type": "http", "method": "POST", "path": "/api/resource/ToDo", "raw_path": b"/api/resource/ToDo",
                "query_string": b"", "headers": [auth, (b"content-type", b"application/x-www-form-urlencoded"),
                                                 (b"content-length", str(length).encode())],
                "client": ("127.0.0.1", 5000)}

    async def call(messages: list[dict], length: int) -> list[dict]:
        sent = []

        async def receive():
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)
        await app(scope(length), receive, send)
        return sent

    try:
        marker = f"cut-{backend}"
        part = f"description={marker}".encode()
        assert asyncio.run(call([{"type": "http.request", "body": part, "more_body": True},
                                 {"type": "http.disconnect"}], 500)) == []
        sent = asyncio.run(call([{"type": "http.request", "body": part, "more_body": False}], 500))
        assert sent[0]["status"] == 400 and b"Content-Length" in sent[1]["body"]
        with site.db.connect() as conn:
            rows = conn.sql('SELECT name FROM "tabToDo" WHERE description LIKE ?', (f"%{marker}%",))
        assert list(rows) == []
        # and a whole body is handled
        sent = asyncio.run(call([{"type": "http.request", "body": part, "more_body": False}], len(part)))
        assert sent[0]["status"] == 200, sent
    finally:
        site.close()


# --- raw characters in query strings -------------------------------------------------------------------

def test_raw_quotes_and_brackets_in_the_query_string(server, admin):
    """What ``curl -g`` sends for the README's list example: ``"``, ``[`` and ``]`` unencoded."""
    marker = f"raw-{server.backend}-{time.time_ns()}"
    assert admin.post("/api/resource/ToDo", json={"description": marker}).status_code == 200
    target = ('/api/resource/ToDo?fields=["name","status","description"]'
              f'&filters=[["description","=","{marker}"]]').encode()
    answer = raw_request(server, b"GET " + target + b" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                         + token(server) + b"\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), answer[:300]
    rows = json.loads(body)["data"]
    assert [(r["description"], r["status"]) for r in rows] == [(marker, "Open")]


# --- slow clients --------------------------------------------------------------------------------------

@pytest.fixture(scope="module", params=["sqlite"])
def strict_server(request, tmp_path_factory):
    """A server with short header and body timeouts (the HTTP layer is the same on both databases)."""
    site_dir = make_site(tmp_path_factory.mktemp("strict"), request.param, request)
    srv = start_server(site_dir, request.param, args=("--header-timeout", "2", "--body-timeout", "2"))
    yield srv
    stop_server(srv.proc)


def test_slow_headers_are_cut_off_while_others_are_served(strict_server):
    """20 clients sending their headers a byte at a time are answered 408 and closed after the
    header timeout (2 s); ordinary requests are served quickly all the while."""
    port = int(strict_server.base_url.rsplit(":", 1)[1])
    request_head = b"GET /api/method/ping HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"a" * 200
    slow = []
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.setblocking(False)
        slow.append(s)
    closed: dict[int, float] = {}
    answers: dict[int, bytes] = {}
    latencies = []
    started = time.monotonic()
    try:
        with strict_server.client() as c:
            step = 0
            while len(closed) < len(slow) and time.monotonic() - started < 8:
                for i, s in enumerate(slow):
                    if i in closed:
                        continue
                    try:
                        s.send(request_head[step:step + 1] or b"a")
                        got = s.recv(4096)
                    except BlockingIOError:
                        continue
                    except OSError:
                        got = b""
                    answers[i] = answers.get(i, b"") + got
                    closed[i] = time.monotonic() - started
                t0 = time.monotonic()
                assert c.get("/api/method/ping").json() == {"message": "pong"}
                latencies.append(time.monotonic() - t0)
                step += 1
                time.sleep(0.2)
    finally:
        for s in slow:
            s.close()
    assert len(closed) == 20, f"still open after 8 s: {20 - len(closed)}"
    assert all(1.5 < t < 4.5 for t in closed.values()), sorted(closed.values())
    assert all(a.startswith(b"HTTP/1.1 408") for a in answers.values() if a), answers
    assert max(latencies) < 1.0, max(latencies)


def test_slow_body_gets_408_and_nothing_is_created(strict_server):
    marker = f"slowbody-{time.time_ns()}"
    body = f"description={marker}".encode()
    started = time.monotonic()
    answer = raw_request(strict_server, b"POST /api/resource/ToDo HTTP/1.1\r\nHost: t\r\n" + token(strict_server)
                         + b"Content-Type: application/x-www-form-urlencoded\r\n"
                         + b"Content-Length: %d\r\n\r\n" % (len(body) + 10) + body)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:300]
    assert b"connection: close" in answer.lower()
    assert 1.5 < time.monotonic() - started < 6
    with strict_server.admin() as admin:
        assert todos_like(admin, marker) == []


def test_idle_connection_without_a_request_is_closed(strict_server):
    port = int(strict_server.base_url.rsplit(":", 1)[1])
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        answer = s.recv(1000)
    assert answer.startswith(b"HTTP/1.1 408") and time.monotonic() - started < 5


def test_oversized_headers_are_refused(strict_server):
    answer = raw_request(strict_server, b"GET /api/method/ping HTTP/1.1\r\nHost: t\r\n"
                         + b"X-Big: " + b"a" * (600 * 1024) + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]


# --- logs ----------------------------------------------------------------------------------------------

FAILING_APP = '''
from ristretto.apps import whitelist

@whitelist("log_probe.explode", methods=("GET",))
def explode(call):
    raise RuntimeError("log-probe-boom")
'''


@pytest.fixture(scope="module", params=BACKENDS)
def logged_server(request, tmp_path_factory):
    """A server whose site lists a small app with a method that fails unexpectedly."""
    tmp = tmp_path_factory.mktemp(f"logs-{request.param}")
    site_dir = make_site(tmp, request.param, request)
    (tmp / "apps" / "log_probe").mkdir(parents=True)
    (tmp / "apps" / "log_probe" / "__init__.py").write_text(FAILING_APP)
    configure_site(site_dir, apps=["log_probe"], app_paths=[str(tmp / "apps")])
    srv = start_server(site_dir, request.param)
    yield srv
    stop_server(srv.proc)


def _log(server) -> str:
    return (Path(server.site_dir) / "server.log").read_text(errors="replace")


def _wait_for(server, pattern: str) -> str:
    deadline = time.monotonic() + 5
    while True:
        text = _log(server)
        if re.search(pattern, text) or time.monotonic() > deadline:
            return text
        time.sleep(0.1)


def test_access_log_lines_and_no_secrets(logged_server):
    srv = logged_server
    secret_pw = "pw-SECRET-value-91"
    srv.cli("add-user", "logger@example.com", "--password", secret_pw)
    with srv.client() as c:
        r = c.post("/api/method/login", data={"usr": "logger@example.com", "pwd": secret_pw})
        assert r.status_code == 200, r.text
        assert c.get("/api/method/frappe.auth.get_logged_user").json() == {"message": "logger@example.com"}
        # credentials in the query string (a login again: a new session)
        r = c.get("/api/method/login", params={"usr": "logger@example.com", "pwd": secret_pw})
        assert r.status_code == 200, r.text
        sid = c.cookies["sid"]
    with srv.client() as by_sid:
        assert by_sid.get("/api/method/frappe.auth.get_logged_user", params={"sid": sid}).status_code == 200
    with srv.client() as anon:
        assert anon.get("/api/resource/ToDo").status_code == 403
        assert anon.post("/api/method/login", json={"usr": "logger@example.com", "pwd": "wrong-PW-77"}
                         ).status_code == 401
    with srv.client(headers={"Authorization": f"token {srv.api_key}:{srv.api_secret}"}) as admin:
        assert admin.get("/api/resource/ToDo", params={"api_secret": srv.api_secret}).status_code == 200
    text = _wait_for(srv, r"Administrator \"GET /api/resource/ToDo\" 200")
    lines = text.splitlines()

    def line(pattern: str) -> str:
        found = [ln for ln in lines if re.search(pattern, ln)]
        assert found, f"no log line matches {pattern!r}:\n{text[-3000:]}"
        return found[-1]

    assert re.search(r'127\.0\.0\.1 logger@example\.com "POST /api/method/login" 200 \d+\.\dms$',
                     line(r'"POST /api/method/login" 200'))
    line(r'logger@example\.com "GET /api/method/frappe\.auth\.get_logged_user" 200')
    line(r'Guest "GET /api/resource/ToDo" 403')
    line(r'"POST /api/method/login" 401')
    line(r'Administrator "GET /api/resource/ToDo" 200')
    for secret in (secret_pw, "wrong-PW-77", sid, srv.api_secret):
        assert secret not in text


def test_unhandled_errors_are_logged_with_their_traceback(logged_server):
    srv = logged_server
    with srv.admin() as admin:
        r = admin.get("/api/method/log_probe.explode")
    assert r.status_code == 500
    # the access line is written after the answer is sent: wait for it, the traceback comes before
    text = _wait_for(srv, r'"GET /api/method/log_probe\.explode" 500')
    assert re.search(r"unhandled error in GET /api/method/log_probe\.explode \(user Administrator\)", text), text
    assert "Traceback (most recent call last)" in text and "RuntimeError: log-probe-boom" in text
    assert re.search(r'Administrator "GET /api/method/log_probe\.explode" 500', text)


def test_requests_refused_before_the_app_leave_a_trace(logged_server):
    srv = logged_server
    answer = raw_request(srv, b"GET /a b c HTTP/1.1\r\nHost: t\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400")
    text = _wait_for(srv, r'"- -" 400')
    assert re.search(r'127\.0\.0\.1 - "- -" 400 .*\(.+\)', text), text[-2000:]


def test_access_log_can_be_turned_off(tmp_path, request):
    site_dir = make_site(tmp_path, "sqlite", request)
    srv = start_server(site_dir, "sqlite", args=("--no-access-log",))
    try:
        with srv.client() as c:
            assert c.post("/api/method/login", json={"usr": "Administrator", "pwd": ADMIN_PASSWORD}
                          ).status_code == 200
        time.sleep(0.3)
    finally:
        stop_server(srv.proc)
    assert '"POST /api/method/login"' not in _log(srv) and '"GET /api/method/ping"' not in _log(srv)


def test_a_backslash_flood_in_the_cookie_header_is_answered_at_once(server):
    """A quoted cookie value of 300 KB of backslashes (quadratic for http.cookies) costs the
    worker nothing noticeable, and the server keeps serving."""
    cookie = 'sid="' + "\\\\" * 150_000 + '"'
    started = time.monotonic()
    with server.client() as c:
        r = c.get("/api/method/frappe.auth.get_logged_user", headers={"Cookie": cookie})
        assert r.status_code in (401, 403), r.text
        assert time.monotonic() - started < 5
        assert c.get("/api/method/ping").status_code == 200
