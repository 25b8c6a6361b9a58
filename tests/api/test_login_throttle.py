"""Login throttling over HTTP, on both databases: per user, atomic, and behind trusted proxies.

The server here runs two worker processes (so concurrent logins really run at the same time),
locks after ``LIMIT`` failures for a minute, and trusts one reverse proxy, ``PROXY``. Each test
connects from loopback addresses of its own so the tests do not lock each other out.
"""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import configure_site, ADMIN_PASSWORD, BACKENDS, make_site, start_server, stop_server

LIMIT = 4
PROXY = "127.0.8.1"
PASSWORD = "throttle-pw-1"
_ids = itertools.count(1)


@pytest.fixture(scope="module", params=BACKENDS)
def srv(request, tmp_path_factory):
    site_dir = make_site(tmp_path_factory.mktemp(f"throttle-{request.param}"), request.param, request)
    configure_site(site_dir, allow_consecutive_login_attempts=LIMIT, allow_login_after_fail=60,
                   trusted_proxies=[PROXY, "10.9.0.0/16"])
    server = start_server(site_dir, request.param, workers=2)
    yield server
    stop_server(server.proc)


def attempt(srv, address: str, usr: str, pwd: str, forwarded_for: str | None = None) -> httpx.Response:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for is not None else {}
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(base_url=srv.base_url, timeout=60, transport=transport) as c:
        return c.post("/api/method/login", json={"usr": usr, "pwd": pwd}, headers=headers)


def new_user(srv) -> str:
    email = f"thr{next(_ids)}-{srv.backend}@example.com"
    srv.cli("add-user", email, "--password", PASSWORD)
    return email


def ghost(srv) -> str:
    return f"ghost{next(_ids)}-{srv.backend}@example.com"


def test_lock_follows_the_user_whatever_login_name_is_typed(srv):
    # Administrator's name and e-mail differ; every attempt comes from another address, so only
    # the user's counter can lock.
    for i in range(LIMIT):
        r = attempt(srv, f"127.0.5.{i + 1}", "Administrator", "wrong-password")
        assert r.status_code == 401, r.text
    for usr in ("admin@example.com", " ADMIN@example.com", "administrator"):
        r = attempt(srv, "127.0.5.99", usr, ADMIN_PASSWORD)
        assert r.status_code == 429 and "locked" in r.text, (usr, r.text)
    # an unknown login is keyed on the text typed, normalised
    name = ghost(srv)
    for i in range(LIMIT):
        assert attempt(srv, f"127.0.5.{20 + i}", name, "wrong-password").status_code == 401
    assert attempt(srv, "127.0.5.98", f"  {name.upper()} ", "wrong-password").status_code == 429


def _flood(srv, addresses: list[str], users: list[str], pwd: str) -> list[int]:
    with ThreadPoolExecutor(len(addresses)) as pool:
        return list(pool.map(lambda a_u: attempt(srv, a_u[0], a_u[1], pwd).status_code, zip(addresses, users)))


def test_concurrent_attempts_check_at_most_the_limit(srv):
    # 30 at once for one user from 30 addresses: only LIMIT passwords are checked (401); the
    # others are refused before any check (429).
    user = new_user(srv)
    statuses = _flood(srv, [f"127.0.6.{i + 1}" for i in range(30)], [user] * 30, "wrong-password")
    assert statuses.count(401) == LIMIT and statuses.count(429) == 30 - LIMIT, statuses
    assert attempt(srv, "127.0.6.99", user, PASSWORD).status_code == 429
    # 30 at once from one address, each naming another (unknown) user: the address's limit holds
    statuses = _flood(srv, ["127.0.6.100"] * 30, [ghost(srv) for _ in range(30)], "wrong-password")
    assert statuses.count(401) == LIMIT and statuses.count(429) == 30 - LIMIT, statuses


def test_forwarded_for_is_ignored_from_an_untrusted_peer(srv):
    # A client that invents a new X-Forwarded-For each time still has one address.
    for i in range(LIMIT):
        r = attempt(srv, "127.0.7.1", ghost(srv), "wrong-password", forwarded_for=f"203.0.113.{i + 1}")
        assert r.status_code == 401, r.text
    user = new_user(srv)
    assert attempt(srv, "127.0.7.1", user, PASSWORD, forwarded_for="203.0.113.200").status_code == 429
    assert attempt(srv, "127.0.7.2", user, PASSWORD).status_code == 200


def test_clients_behind_a_trusted_proxy_are_locked_separately(srv):
    for i in range(LIMIT):
        r = attempt(srv, PROXY, ghost(srv), "wrong-password", forwarded_for="198.51.100.7")
        assert r.status_code == 401, r.text
    user = new_user(srv)
    # that client is locked, whatever it writes to the left of what the proxy appended, and
    # also when the request passed through a second trusted proxy
    for chain in ("198.51.100.7", "192.0.2.1, 198.51.100.7", "198.51.100.7, 10.9.3.4"):
        r = attempt(srv, PROXY, user, PASSWORD, forwarded_for=chain)
        assert r.status_code == 429, (chain, r.text)
    # ...while another client behind the same proxy, and the proxy's own address, are not
    r = attempt(srv, PROXY, user, PASSWORD, forwarded_for="198.51.100.8")
    assert r.status_code == 200 and r.json()["message"] == "Logged In", r.text
    assert attempt(srv, PROXY, user, PASSWORD).status_code == 200
