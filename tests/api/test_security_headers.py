"""Security headers on every kind of answer, over HTTP on both databases.

``X-Content-Type-Options: nosniff`` everywhere; ``Cache-Control: no-store`` on API answers
(results, method answers, errors, logins); frame and referrer policies on HTML.
"""

from __future__ import annotations

import uuid

import httpx

NO_STORE = "no-store"


def assert_nosniff(r: httpx.Response) -> None:
    assert r.headers.get_list("x-content-type-options") == ["nosniff"], (r.request.url, r.headers)


def assert_api(r: httpx.Response) -> None:
    assert_nosniff(r)
    assert len(r.headers.get_list("cache-control")) == 1 and NO_STORE in r.headers["cache-control"], r.headers


def assert_html(r: httpx.Response) -> None:
    assert r.headers["content-type"].startswith("text/html"), r.headers
    assert_nosniff(r)
    assert r.headers.get("x-frame-options") == "SAMEORIGIN", r.headers
    assert r.headers.get("referrer-policy") == "strict-origin-when-cross-origin", r.headers


def test_api_answers_errors_and_logins(server, admin):
    r = admin.get("/api/resource/ToDo", params={"limit_page_length": 1})
    assert r.status_code == 200
    assert_api(r)
    assert "x-frame-options" not in r.headers  # only pages are framed
    r = admin.get("/api/method/ping")
    assert r.status_code == 200 and r.json() == {"message": "pong"}
    assert_api(r)
    assert_api(admin.get("/api/resource/ToDo/no-such-todo"))  # 404
    assert_api(admin.post("/api/resource/ToDo", content=b"{bad json", headers={"Content-Type": "application/json"}))
    with server.client() as guest:
        r = guest.get("/api/resource/ToDo")
        assert r.status_code == 403
        assert_api(r)
        r = guest.post("/api/method/login", json={"usr": "Administrator", "pwd": "wrong"})
        assert r.status_code == 401
        assert_api(r)
        r = guest.options("/api/resource/ToDo")
        assert_nosniff(r)


def test_html_pages(server, admin):
    with server.client() as guest:
        r = guest.get("/")
        assert r.status_code == 200
        assert_html(r)
        r = guest.get(f"/no-such-page-{uuid.uuid4().hex[:6]}")
        assert r.status_code == 404
        assert_nosniff(r)
    r = admin.patch("/api/resource/ToDo", json={})  # the 405 page
    assert r.status_code == 405
    assert_html(r)
    assert NO_STORE in r.headers["cache-control"]


def test_file_downloads(server, admin):
    name = f"headers-{uuid.uuid4().hex[:8]}.txt"
    r = admin.post("/api/method/upload_file", files={"file": (name, b"hello", "text/plain")})
    assert r.status_code == 200, r.text
    url = r.json()["message"]["file_url"]
    with server.client() as guest:
        r = guest.get(url)
        assert r.status_code == 200 and r.content == b"hello"
        assert_nosniff(r)
    r = admin.get("/api/method/download_file", params={"file_url": url})
    assert r.status_code == 200 and r.content == b"hello"
    assert_api(r)
