"""The pipeline reads the matched route's flags: login routes log in on every API version, each
version answers (and fails) in its own body, unknown paths are 404 in that body, a verb a route
does not answer is 405, and ``cmd=`` wins over the path. In process, on both databases."""

from __future__ import annotations

import pytest

from tests.conftest import ADMIN_PASSWORD, BACKENDS
from tests.inprocess import InProcess, open_site


@pytest.fixture(scope="module", params=BACKENDS)
def app(request, tmp_path_factory):
    from ristretto.api.app import App
    site = open_site(tmp_path_factory.mktemp(f"routes-{request.param}"), request.param, request)
    yield App(site)
    site.close()


@pytest.mark.parametrize("path", ["/api/method/login", "/api/v1/method/login", "/api/v2/method/login",
                                  "/api/v2/method/login/"])
def test_every_login_route_logs_in_and_answers_200(app, path):
    client = InProcess(app)
    r = client.post(path, json={"usr": "Administrator", "pwd": ADMIN_PASSWORD})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["message"] == "Logged In" and body["full_name"]
    assert "exc_type" not in body and "errors" not in body
    assert client.cookies.get("sid") not in (None, "Guest")
    # The session works on the other versions.
    assert client.get("/api/v2/method/frappe.auth.get_logged_user").json() == {"data": "Administrator"}
    assert client.get("/api/method/frappe.auth.get_logged_user").json() == {"message": "Administrator"}


def test_v2_login_with_a_wrong_password_is_a_v2_401(app):
    r = InProcess(app).post("/api/v2/method/login", json={"usr": "Administrator", "pwd": "wrong"})
    assert r.status_code == 401
    body = r.json()
    assert body["errors"][0]["type"] == "AuthenticationError"
    assert "exc_type" not in body


def test_each_version_has_its_own_envelope(app):
    client = InProcess(app)
    assert client.get("/api/method/ping").json() == {"message": "pong"}
    assert client.get("/api/v1/method/ping/").json() == {"message": "pong"}
    assert client.get("/api/v2/method/ping").json() == {"data": "pong"}
    assert client.get("/api/v2/method/ping/").json() == {"data": "pong"}


@pytest.mark.parametrize("path,version", [
    ("/api/v2/no/such/route", "v2"), ("/api/v2/", "v2"), ("/api/nothing", "v1"), ("/api/v1/x", "v1"),
    ("/api/resource/", "v1"),
])
def test_unknown_api_paths_are_404_in_their_versions_body(app, path, version):
    r = InProcess(app).get(path)
    assert r.status_code == 404, r.text
    body = r.json()
    if version == "v2":
        assert body["errors"][0]["type"] == "DoesNotExistError" and "exception" not in body["errors"][0]
        assert "exc_type" not in body
    else:
        assert body["exc_type"] == "DoesNotExistError" and "errors" not in body


def test_unknown_page_is_404(app):
    r = InProcess(app).get("/no-such-page")
    assert r.status_code == 404
    assert r.json()["exc_type"] == "PageDoesNotExistError"


def test_a_verb_the_route_does_not_answer_is_405(app):
    r = InProcess(app).request("PATCH", "/api/resource/ToDo/x")
    assert r.status_code == 405


def test_v2_method_errors_are_v2_bodies(app):
    r = InProcess(app).get("/api/v2/method/no.such.method")
    assert r.status_code == 417
    error = r.json()["errors"][0]
    assert error["type"] == "ValidationError" and "not registered" in error["message"]
    r = InProcess(app).get("/api/v2/method/frappe.auth.get_logged_user")
    assert r.status_code == 403 and r.json()["errors"][0]["type"] == "PermissionError"


def test_cmd_wins_over_the_path(app):
    client = InProcess(app)
    assert client.get("/api/resource/ToDo?cmd=ping").json() == {"message": "pong"}
    r = client.post("/anything", data={"cmd": "login", "usr": "Administrator", "pwd": ADMIN_PASSWORD})
    assert r.status_code == 200 and r.json()["message"] == "Logged In"


def test_a_trailing_slash_route_keeps_every_flag_of_its_route():
    """The copy with a trailing slash once dropped ``method_param``: OAuth client credentials
    were then not recognised on ``/api/v2/method/<name>/``."""
    from dataclasses import fields

    from ristretto.api import routes
    table = routes.router()
    for r in routes.v2.ROUTES + routes.v1.ROUTES:
        if r.pattern.endswith("/") or "{" in r.pattern.rsplit("/", 1)[-1] and ":path" in r.pattern:
            continue
        slashed, _ = table.match(r.pattern.replace("{name:path}", "x").replace("{", "").replace("}", "") + "/",
                                 next(iter(r.verbs)))
        if slashed.pattern != r.pattern + "/":
            continue
        for f in fields(r):
            if f.init and f.name != "pattern":
                assert getattr(slashed, f.name) == getattr(r, f.name), (r.pattern, f.name)
