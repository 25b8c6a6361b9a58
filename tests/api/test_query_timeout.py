"""``query_timeout``: a slow request query is cancelled on both databases, answered with
QueryTimeoutError (508), rolled back, and the worker's next requests work; CLI work
has no limit.

The server runs one worker on a site with ``query_timeout`` 0.2 s and 50,000 ToDo
rows; the slow query is a request's 200 OR'd ``like`` conditions that never match
(each row is compared with every pattern: about a second without the limit).
"""

from __future__ import annotations

import json
import time

import httpx
import pytest

from ristretto.api.app import App
from ristretto.db.connection import Database
from ristretto.exceptions import QueryTimeoutError
from ristretto.site import Site
from tests.bulk import load_todos
from tests.conftest import configure_site, BACKENDS, make_site, run_cli, start_server, stop_server

ROWS = 50_000
SLOW = [["description", "like", f"%zq{j}x%"] for j in range(200)]


with_config = configure_site


@pytest.fixture(scope="module", params=BACKENDS)
def slow_server(request, tmp_path_factory):
    site_dir = make_site(tmp_path_factory.mktemp(f"qt-{request.param}"), request.param, request)
    with_config(site_dir, query_timeout=0.2)
    load_todos(site_dir, ROWS)
    srv = start_server(site_dir, request.param)
    yield srv
    stop_server(srv.proc)


def assert_timed_out(r: httpx.Response, started: float) -> None:
    assert r.status_code == 508, r.text[:500]
    body = r.json()
    assert body["exc_type"] == "QueryTimeoutError"
    assert "query_timeout of 0.2 s" in json.loads(json.loads(body["_server_messages"])[0])["message"]
    assert time.monotonic() - started < 10


def assert_worker_serves(client: httpx.Client) -> None:
    r = client.get("/api/resource/ToDo")
    assert r.status_code == 200 and len(r.json()["data"]) == 20
    r = client.post("/api/resource/ToDo", json={"description": "after a timeout"})
    assert r.status_code == 200, r.text
    name = r.json()["data"]["name"]
    assert client.get(f"/api/resource/ToDo/{name}").json()["data"]["description"] == "after a timeout"


@pytest.mark.parametrize("method,path,params", [
    ("GET", "/api/resource/ToDo", {"or_filters": json.dumps(SLOW)}),                           # a page
    ("GET", "/api/resource/ToDo", {"or_filters": json.dumps(SLOW), "limit_page_length": "0"}),  # a stream
    ("GET", "/api/method/frappe.client.get_count", {"doctype": "ToDo", "or_filters": json.dumps(SLOW)}),
    ("POST", "/api/method/frappe.client.get_list",                                   # a write transaction
     {"doctype": "ToDo", "or_filters": json.dumps(SLOW), "limit_page_length": "5"}),
])
def test_slow_query_is_cancelled_and_the_worker_goes_on(slow_server, method, path, params):
    with slow_server.admin() as client:
        started = time.monotonic()
        if method == "GET":
            r = client.get(path, params=params)
        else:
            r = client.post(path, json=params)
        assert_timed_out(r, started)
        assert_worker_serves(client)


def test_stream_past_the_limit_is_cut_off(slow_server):
    """The newest 1,000 rows match at once (first batch sent), the rest are slow: the
    response is cut off, never completed as if the listing had ended."""
    fast_then_slow = [["name", "like", "bulk-49%"], *SLOW]
    with slow_server.admin() as client:
        with pytest.raises(httpx.RemoteProtocolError):
            with client.stream("GET", "/api/resource/ToDo", params={
                    "or_filters": json.dumps(fast_then_slow), "limit_page_length": "0"}) as r:
                assert r.status_code == 200
                for _ in r.iter_raw():
                    pass
        assert_worker_serves(client)
    assert "listing stream cut off: Query timed out" in (slow_server.site_dir / "server.log").read_text()


SLOW_SQL = {
    "sqlite": "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 2000000) "
              "SELECT count(*) FROM c",
    "postgres": "SELECT count(*) FROM pg_sleep(0.5)",
}


def test_database_limit_cancels_and_leaves_the_connection_usable(site_dir, backend):
    site = Site(site_dir)
    db = site.db
    try:
        db.set_query_timeout(0.05)
        with db.connect() as conn:
            with pytest.raises(QueryTimeoutError):
                conn.sql(SLOW_SQL[backend])
            conn.begin(write=True)
            with pytest.raises(QueryTimeoutError):
                conn.sql(SLOW_SQL[backend])
            conn.rollback()
            assert conn.value("SELECT 1") == 1
            cursor = None
            with pytest.raises(QueryTimeoutError):
                # SQLite runs the query when the cursor opens, PostgreSQL at the first FETCH.
                cursor = db.stream(SLOW_SQL[backend])
                cursor.fetch(10)
            if cursor is not None:
                cursor.close()
        db.set_query_timeout(None)
        with db.connect() as conn:
            assert conn.value(SLOW_SQL[backend]) in (1, 2000000)
    finally:
        site.close()


def test_cli_work_has_no_time_limit(site_dir, backend):
    with_config(site_dir, query_timeout=0.001)
    # A command's statements are not limited: migrate works with a 1 ms limit configured.
    run_cli("--site", str(site_dir), "migrate")
    site = Site(site_dir)
    try:
        with site.admin() as ctx:
            assert ctx.db.value(SLOW_SQL[backend]) in (1, 2000000)
        App(site)  # serving the site turns the limit on
        with site.db.connect() as conn:
            with pytest.raises(QueryTimeoutError):
                conn.sql(SLOW_SQL[backend])
    finally:
        site.close()
