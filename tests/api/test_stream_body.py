"""Streamed listings, in process, on both databases: the exact bytes a buffered answer
would have had, the field cap, the ``max_page_length`` ceiling, and a failure after the
status line was sent (the response is left without its final chunk).

The application is driven through raw ASGI calls so the test sees every message sent.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlencode

import pytest

from ristretto.api.app import App
from ristretto.api.asgi import Response
from ristretto.db import base as db_base
from ristretto.model import listing
from ristretto.site import Site
from ristretto.site.install import generate_keys
from tests.bulk import load_todos
from tests.conftest import configure_site


def asgi_get(app: App, path: str, params: dict, auth: str) -> list[dict]:
    """Run one GET through the application; the ASGI messages it sent."""
    scope = {"type": "http", "method": "GET", "path": path, "query_string": urlencode(params).encode(),
             "headers": [(b"authorization", auth.encode())], "client": ("127.0.0.1", 1), "scheme": "http"}
    sent: list[dict] = []
    done = asyncio.Event()
    requested = False

    async def receive():
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            done.set()

    async def run():
        await app(scope, receive, send)
        done.set()

    asyncio.run(run())
    return sent


def body_of(messages: list[dict]) -> tuple[int, bytes, bool]:
    """(status, body, complete): complete when the last body message closed the response."""
    status = messages[0]["status"]
    bodies = [m for m in messages if m["type"] == "http.response.body"]
    complete = bool(bodies) and not bodies[-1].get("more_body")
    return status, b"".join(m.get("body", b"") for m in bodies), complete


@pytest.fixture
def app_site(site_dir):
    """(app, site, auth header) on a site with 2,500 bulk ToDo rows."""
    load_todos(site_dir, 2500, description="Bulk {i} with \"quotes\", ünïcode and \\ backslash")
    site = Site(site_dir)
    app = App(site)
    key, secret = generate_keys(site, "Administrator")
    yield app, site, f"token {key}:{secret}"
    site.close()


def buffered(site: Site, **kw) -> list:
    """The listing as the plain (materialised) path returns it."""
    with site.db.connect() as conn:
        site.registry.ensure_fresh(conn)
        rows = listing.get_list(site.context(conn), "ToDo", **kw)
        assert isinstance(rows, list)
        return rows


@pytest.mark.parametrize("params,kw", [
    # a small listing with limit 0 (every row of a filter) and a large one (several batches)
    ({"fields": '["name","description","modified"]', "filters": '[["name","like","bulk-1__"]]',
      "limit_page_length": "0"},
     {"fields": ["name", "description", "modified"], "filters": [["name", "like", "bulk-1__"]], "limit": None}),
    ({"fields": '["*"]', "limit_page_length": "0"}, {"fields": ["*"], "limit": None}),
    ({"fields": '["name","priority"]', "limit_page_length": "0", "as_dict": "0", "order_by": "name asc"},
     {"fields": ["name", "priority"], "limit": None, "as_dict": False, "order_by": "name asc"}),
    ({"fields": '["name"]', "limit_page_length": "0", "filters": '[["name","=","none"]]'},
     {"fields": ["name"], "limit": None, "filters": [["name", "=", "none"]]}),
])
def test_streamed_body_is_the_buffered_json(app_site, params, kw):
    app, site, auth = app_site
    status, body, complete = body_of(asgi_get(app, "/api/resource/ToDo", params, auth))
    assert status == 200 and complete
    expected = Response.json({"data": buffered(site, **kw)}).body
    assert body == expected
    assert json.loads(body) == json.loads(expected)


def test_large_listing_is_sent_in_chunks(app_site):
    app, _, auth = app_site
    messages = asgi_get(app, "/api/resource/ToDo", {"fields": '["*"]', "limit_page_length": "0"}, auth)
    start = messages[0]
    assert start["type"] == "http.response.start"
    assert not any(k == b"content-length" for k, _ in start["headers"])
    assert sum(1 for m in messages if m.get("more_body")) > 1
    assert len(json.loads(body_of(messages)[1])["data"]) == 2500


def test_rpc_get_list_streams_the_same_message(app_site):
    app, site, auth = app_site
    params = {"doctype": "ToDo", "fields": '["name","description"]', "limit_page_length": "0"}
    status, body, complete = body_of(asgi_get(app, "/api/method/frappe.client.get_list", params, auth))
    assert status == 200 and complete
    rows = buffered(site, fields=["name", "description"], limit=None)
    assert body == Response.json({"message": rows}).body


def test_debug_messages_follow_the_streamed_rows(app_site):
    app, _, auth = app_site
    params = {"fields": '["name"]', "limit_page_length": "0", "debug": "1"}
    status, body, complete = body_of(asgi_get(app, "/api/resource/ToDo", params, auth))
    out = json.loads(body)
    assert status == 200 and complete and list(out) == ["data", "_debug_messages"]
    assert len(out["data"]) == 2500 and "SELECT" in json.loads(out["_debug_messages"])[0]


def test_small_pages_are_not_streamed(app_site):
    app, _, auth = app_site
    messages = asgi_get(app, "/api/resource/ToDo", {"limit_page_length": "500"}, auth)
    assert any(k == b"content-length" for k, _ in messages[0]["headers"])
    assert len(json.loads(body_of(messages)[1])["data"]) == 500


def test_field_count_is_capped(app_site):
    app, _, auth = app_site
    too_many = json.dumps(["name"] * (listing.MAX_LIST_FIELDS + 1))
    for path, params in (("/api/resource/ToDo", {"fields": too_many}),
                         ("/api/method/frappe.client.get_list", {"doctype": "ToDo", "fields": too_many}),
                         ("/api/resource/ToDo", {"fields": ", ".join(["name"] * (listing.MAX_LIST_FIELDS + 1))})):
        status, body, _ = body_of(asgi_get(app, path, params, auth))
        assert status == 417, body
        assert "Too many fields" in json.loads(json.loads(body)["_server_messages"])[0]
    at_cap = json.dumps(["name"] * listing.MAX_LIST_FIELDS)
    status, body, _ = body_of(asgi_get(app, "/api/resource/ToDo", {"fields": at_cap}, auth))
    assert status == 200 and len(json.loads(body)["data"]) == 20


def test_max_page_length_clamps_every_page(site_dir):
    load_todos(site_dir, 30)
    configure_site(site_dir, max_page_length=7)
    site = Site(site_dir)
    try:
        app = App(site)
        key, secret = generate_keys(site, "Administrator")
        auth = f"token {key}:{secret}"
        for page, expected in (("0", 7), ("3", 3), ("7", 7), ("1000", 7)):
            status, body, _ = body_of(asgi_get(app, "/api/resource/ToDo", {"limit_page_length": page}, auth))
            assert status == 200 and len(json.loads(body)["data"]) == expected, page
            status, body, _ = body_of(asgi_get(app, "/api/method/frappe.client.get_list",
                                               {"doctype": "ToDo", "limit_page_length": page}, auth))
            assert status == 200 and len(json.loads(body)["message"]) == expected, page
        status, body, _ = body_of(asgi_get(app, "/api/resource/ToDo", {"limit": "0"}, auth))
        assert len(json.loads(body)["data"]) == 7
    finally:
        site.close()


def test_bad_limit_settings_are_refused_at_start(site_dir):
    from ristretto.site import SiteError
    config = json.loads((site_dir / "site_config.json").read_text())
    for bad in ({"max_page_length": "ten"}, {"max_page_length": -1}, {"query_timeout": "soon"},
                {"query_timeout": -5}):
        (site_dir / "site_config.json").write_text(json.dumps({**config, **bad}))
        site = Site(site_dir)
        try:
            with pytest.raises(SiteError):
                App(site)
        finally:
            site.close()


class FailingCursor:
    """A cursor whose second batch fails the way a lost database connection does."""

    def __init__(self, inner, error: BaseException):
        self.inner, self.error, self.fetches, self.closed = inner, error, 0, False

    def fetch(self, n):
        self.fetches += 1
        if self.fetches > 1:
            raise self.error
        return self.inner.fetch(n)

    def close(self):
        self.closed = True
        self.inner.close()


@pytest.mark.parametrize("error", [RuntimeError("database connection lost"),
                                   db_base.timeout_error(0.2, "SELECT ...")])
def test_failure_after_the_status_line_leaves_the_body_unfinished(app_site, monkeypatch, caplog, error):
    app, site, auth = app_site
    cursors = []
    real_stream = site.db.stream

    def failing_stream(query, params=()):
        cursors.append(FailingCursor(real_stream(query, params), error))
        return cursors[-1]

    monkeypatch.setattr(site.db, "stream", failing_stream)
    messages = asgi_get(app, "/api/resource/ToDo", {"fields": '["*"]', "limit_page_length": "0"}, auth)
    status, body, complete = body_of(messages)
    assert status == 200 and not complete  # no final chunk: the server aborts the connection
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)
    assert cursors and cursors[0].closed
    assert "listing stream" in caplog.text
    monkeypatch.undo()
    # The worker goes on serving.
    status, body, complete = body_of(asgi_get(app, "/api/resource/ToDo", {"limit_page_length": "0"}, auth))
    assert status == 200 and complete and len(json.loads(body)["data"]) == 2500


def test_failure_before_the_first_row_is_an_error_response(app_site, monkeypatch):
    app, site, auth = app_site

    def timed_out(query, params=()):
        raise db_base.timeout_error(0.2, query)

    monkeypatch.setattr(site.db, "stream", timed_out)
    status, body, complete = body_of(asgi_get(app, "/api/resource/ToDo", {"limit_page_length": "0"}, auth))
    assert status == 508 and complete
    assert json.loads(body)["exc_type"] == "QueryTimeoutError"


def test_client_that_stops_reading_is_cut_off(app_site, monkeypatch):
    from ristretto.api import streaming
    app, site, auth = app_site
    monkeypatch.setattr(streaming, "STALL_SECONDS", 0.2)
    closed = []
    real_stream = site.db.stream

    def tracked(query, params=()):
        cursor = real_stream(query, params)
        real_close = cursor.close
        cursor.close = lambda: (closed.append(True), real_close())
        return cursor

    monkeypatch.setattr(site.db, "stream", tracked)
    scope = {"type": "http", "method": "GET", "path": "/api/resource/ToDo",
             "query_string": b"limit_page_length=0&fields=%5B%22%2A%22%5D",
             "headers": [(b"authorization", auth.encode())], "client": ("127.0.0.1", 1), "scheme": "http"}
    sent = []

    async def receive():
        if not sent:
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.sleep(3600)

    async def send(message):
        sent.append(message)
        if len(sent) > 2:  # the second chunk is never taken, like a full socket nobody reads
            await asyncio.sleep(3600)

    asyncio.run(asyncio.wait_for(app(scope, receive, send), 10))
    assert sent[0]["status"] == 200 and all(m.get("more_body") for m in sent[1:])
    assert closed == [True]


def test_streams_with_threaded_requests(site_dir):
    """With ``threaded_requests`` the batches are read on the streams' own threads."""
    load_todos(site_dir, 1500)
    configure_site(site_dir, threaded_requests=True)
    site = Site(site_dir)
    try:
        app = App(site)
        assert not app.inline
        key, secret = generate_keys(site, "Administrator")
        params = {"fields": '["*"]', "limit_page_length": "0"}
        status, body, complete = body_of(asgi_get(app, "/api/resource/ToDo", params, f"token {key}:{secret}"))
        assert status == 200 and complete
        assert body == Response.json({"data": buffered(site, fields=["*"], limit=None)}).body
    finally:
        site.close()
