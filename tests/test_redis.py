"""``redis_url``: the login throttle's counters and the change streams' wake-ups go through Redis.

A real ``redis-server`` on a free loopback port (skipped when it is not installed); two ``App``
objects on one site stand for two servers' workers, in process, on both databases:

* failed logins counted through one App lock the account on the other, and the counters are in
  Redis, not in the database's ``__login_failures``; a success clears them;
* a commit through one App wakes a live stream of the other at once (the streams' poll made too
  slow to matter), on SQLite too, where no database notification exists;
* a Redis that does not answer makes a login a 503 with a JSON message, never a 500.
"""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import BACKENDS, configure_site, make_site
from tests.pg import free_port
from tests.redisserver import redis_server

PASSWORD = "redis-pw-123"
LOCK_AFTER = 3


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    with redis_server(tmp_path_factory.mktemp("redis")) as where:
        yield where


def _apps(site_dir):
    from ristretto.api.app import App
    from ristretto.site import Site
    return App(Site(site_dir)), App(Site(site_dir))


def _login(app, usr: str, pwd: str, address: str) -> httpx.Response:
    from tests.inprocess import InProcess
    client = InProcess(app, address=address, keep_cookies=False)
    try:
        return client.post("/api/method/login", json={"usr": usr, "pwd": pwd})
    finally:
        client.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_login_counters_live_in_redis_and_lock_on_every_server(backend, redis_url, tmp_path, request):
    import redis

    from ristretto.site.install import add_user
    site_dir = make_site(tmp_path, backend, request)
    configure_site(site_dir, redis_url=redis_url, allow_consecutive_login_attempts=LOCK_AFTER,
                   allow_login_after_fail=120)
    a, b = _apps(site_dir)
    store = redis.Redis.from_url(redis_url)
    try:
        user = add_user(a.site, f"redis-{backend}@example.com", PASSWORD, ["System Manager"])
        for i in range(LOCK_AFTER):
            r = _login(a, user, "wrong", f"127.0.31.{i + 1}")
            assert r.status_code == 401, r.text
        r = _login(b, user, PASSWORD, "127.0.31.99")
        assert r.status_code == 429 and "locked" in r.text, r.text
        with a.site.db.connect() as conn:
            assert conn.value('SELECT COUNT(*) FROM "__login_failures"') == 0
        assert store.hget(f"ristretto:login:user:{user}", "failures") == str(LOCK_AFTER).encode()
        # Another user: a failure then a success on the other server clears its counters.
        other = add_user(a.site, f"redis-ok-{backend}@example.com", PASSWORD, ["System Manager"])
        assert _login(a, other, "wrong", "127.0.32.1").status_code == 401
        assert store.exists(f"ristretto:login:user:{other}", "ristretto:login:ip:127.0.32.1") == 2
        assert _login(b, other, PASSWORD, "127.0.32.1").status_code == 200
        assert store.exists(f"ristretto:login:user:{other}", "ristretto:login:ip:127.0.32.1") == 0
    finally:
        store.flushdb()
        store.close()
        a.site.close()
        b.site.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_commit_wakes_the_streams_of_another_app_through_redis(backend, redis_url, tmp_path, request,
                                                                   monkeypatch):
    import redis

    from ristretto.db import redisclient
    from tests.streamwake import woken_across_apps
    site_dir = make_site(tmp_path, backend, request)
    configure_site(site_dir, redis_url=redis_url)
    store = redis.Redis.from_url(redis_url)
    try:
        woken_across_apps(site_dir, monkeypatch,
                          lambda site: store.pubsub_numsub(redisclient.CHANGES_CHANNEL)[0][1] > 0)
    finally:
        store.close()


def test_a_redis_that_does_not_answer_is_a_503(tmp_path, request):
    site_dir = make_site(tmp_path, "sqlite", request)
    configure_site(site_dir, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    a, b = _apps(site_dir)
    try:
        r = _login(a, "Administrator", "whatever", "127.0.33.1")
        assert r.status_code == 503, r.text
        assert "redis_url" in r.text and "Traceback" not in r.text
    finally:
        a.site.close()
        b.site.close()
