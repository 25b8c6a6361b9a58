"""Idempotency-Key across the workers of a real ``ristretto serve`` and across a restart: the
claim and the stored answer live in the database, so a retry landing on another worker, or on
the server after a restart, still answers the first answer and writes nothing. Both databases."""

from __future__ import annotations

import concurrent.futures
import time
import uuid

import pytest

from ristretto.api import idempotency
from tests.conftest import BACKENDS, make_site, start_server, stop_server

URL = "/api/v2/document/ToDo"


@pytest.fixture(params=BACKENDS)
def site(request, tmp_path):
    return make_site(tmp_path, request.param, request), request.param


def hold(site_dir, key: str, body: dict) -> None:
    from ristretto.site import Site
    site = Site(site_dir)
    try:
        with site.db.connect() as conn, conn.transaction():
            digest = idempotency.fingerprint("POST", URL, b"", body, {})
            assert isinstance(idempotency.claim(conn, "Administrator", key, digest, time.time()), idempotency.Claim)
    finally:
        site.close()


def count(client, description: str) -> int:
    r = client.get(URL, params={"filters": f'{{"description": "{description}"}}', "fields": '["name"]',
                                "limit": 0})
    assert r.status_code == 200, r.text
    return len(r.json()["data"])


def test_same_key_on_two_workers_and_after_a_restart_writes_once(site):
    site_dir, backend = site
    key, d = f"srv-{uuid.uuid4().hex}", f"server retry {uuid.uuid4().hex}"
    srv = start_server(site_dir, backend, workers=2)
    try:
        headers = {"Authorization": f"token {srv.api_key}:{srv.api_secret}", "Idempotency-Key": key}

        def send(_):
            # A new connection each time: the kernel spreads them over both workers.
            with srv.client() as c:
                r = c.post(URL, json={"description": d}, headers=headers)
                return r.status_code, r.content, r.headers.get("idempotent-replayed")

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(send, range(16)))
        done = [a for a in answers if a[0] == 200]
        # Every answer is the one answer, or 409 while the first one still ran.
        assert done and all(a[0] in (200, 409) for a in answers), answers
        assert len({a[1] for a in done}) == 1
        assert sum(1 for a in done if a[2] != "true") == 1
        first = done[0][1]
        with srv.admin() as c:
            assert count(c, d) == 1
    finally:
        stop_server(srv.proc)
    srv = start_server(site_dir, backend, workers=2)
    try:
        # start_server makes new API keys for Administrator: the same user, so the same keys.
        headers["Authorization"] = f"token {srv.api_key}:{srv.api_secret}"
        with srv.client() as c:
            r = c.post(URL, json={"description": d}, headers=headers)
            assert (r.status_code, r.content, r.headers.get("idempotent-replayed")) == (200, first, "true")
            other = c.post(URL, json={"description": d + "!"}, headers=headers)
            assert other.status_code == 422, other.text
            # A claim held by another process (as a request running on another worker holds it)
            # is seen by the server's workers: 409, and nothing written.
            held = f"held-{uuid.uuid4().hex}"
            hold(site_dir, held, {"description": d})
            for _ in range(3):
                busy = c.post(URL, json={"description": d}, headers={**headers, "Idempotency-Key": held})
                assert busy.status_code == 409, busy.text
        with srv.admin() as c:
            assert count(c, d) == 1
    finally:
        stop_server(srv.proc)
