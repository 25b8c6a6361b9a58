"""The desk's shell at ``/app`` and its static files, in process on both databases.

A Guest is sent to the login page and back; a logged-in browser session gets the shell with its
boot data (the user, the session's CSRF token, the DocTypes the user may read) under a policy
that allows scripts only from this site; an API key is not a browser session. Static files are
served from the package by name only; ``/desk`` goes to ``/app``.
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.api import oauthkit as k
from tests.conftest import ADMIN_PASSWORD, BACKENDS
from tests.inprocess import InProcess

BOOT = re.compile(r'<script type="application/json" id="boot">(.*?)</script>', re.S)


@pytest.fixture(scope="module", params=BACKENDS)
def env(request, tmp_path_factory):
    w = k.open_world(request, tmp_path_factory, "desk")
    yield w
    w.close()


def _boot(r) -> dict:
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), r.text[:500]
    return json.loads(BOOT.search(r.text).group(1))


def test_a_guest_goes_to_the_login_page_and_back(env):
    with InProcess(env.app) as guest:
        r = guest.get("/app/todo", params={"status": "Open"})
        assert r.status_code == 303, r.text
        where = urlsplit(r.headers["location"])
        assert where.path == "/login" and parse_qs(where.query)["redirect-to"] == ["/app/todo?status=Open"]


def test_an_api_key_is_not_a_browser_session(env):
    r = env.admin_c.get("/app")
    assert r.status_code == 303 and r.headers["location"].startswith("/login"), r.text


def test_the_shell_boots_the_user_with_a_csrf_token(env):
    with InProcess(env.app) as browser:
        k.login(browser, env.email)
        r = browser.get("/app")
        boot = _boot(r)
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "connect-src 'self'" in csp
        assert r.headers["cache-control"] == "no-store, no-cache, must-revalidate, max-age=0" \
            or "no-store" in r.headers["cache-control"]
        assert boot["user"] == env.email and boot["full_name"].startswith("Ada") and not boot["is_system_manager"]
        # The session now holds that token: a write without it is refused, with it accepted.
        r = browser.post("/api/resource/ToDo", json={"description": "desk write", "allocated_to": env.email})
        assert r.status_code == 400 and r.json()["exc_type"] == "CSRFTokenError", r.text
        r = browser.post("/api/resource/ToDo", json={"description": "desk write", "allocated_to": env.email},
                         headers={"X-Frappe-CSRF-Token": boot["csrf_token"]})
        assert r.status_code == 200, r.text
        # The same token on every later shell.
        assert _boot(browser.get("/app/todo/new"))["csrf_token"] == boot["csrf_token"]


def test_the_doctypes_are_those_the_user_may_read(env):
    with InProcess(env.app) as browser:
        k.login(browser, env.email)
        mine = {d["name"] for d in _boot(browser.get("/app"))["doctypes"]}
    with InProcess(env.app) as admin:
        k.login(admin, "Administrator", ADMIN_PASSWORD)
        everything = {d["name"]: d for d in _boot(admin.get("/app"))["doctypes"]}
    assert "ToDo" in mine and "Note" in mine  # the All / Desk User rows of their definitions
    assert "DocType" not in mine and "OAuth Client" not in mine and "Role" not in mine
    assert {"ToDo", "DocType", "OAuth Client", "User", "Role"} <= set(everything)
    assert "Has Role" not in everything and "OAuth Client Role" not in everything  # child tables
    assert everything["OAuth Settings"]["issingle"] == 1


@pytest.mark.parametrize("path, status, ctype", [
    ("app.js", 200, "text/javascript"),
    ("api.js", 200, "text/javascript"),
    ("views/home.js", 200, "text/javascript"),
    ("desk.css", 200, "text/css"),
    ("../shell.py", 404, None),
    ("..%2Fshell.py", 404, None),
    ("nothing.js", 404, None),
    ("views", 404, None),
])
def test_static_files_by_name_only(env, path, status, ctype):
    with InProcess(env.app) as guest:
        r = guest.get("/assets/ristretto/desk/" + path)
        assert r.status_code == status, r.text[:300]
        if ctype:
            assert r.headers["content-type"].startswith(ctype) and r.headers["x-content-type-options"] == "nosniff"


def test_desk_goes_to_app(env):
    with InProcess(env.app) as guest:
        assert guest.get("/desk").headers["location"] == "/app"
        assert guest.get("/desk/todo").headers["location"] == "/app/todo"


def test_the_stylesheet_is_whole():
    """Every rule block of desk.css is closed before the next view's block begins (a merge once
    cut a media query short: the browser then read every later rule as inside it)."""
    from ristretto.api.desk.assets import STATIC
    css = (STATIC / "desk.css").read_text()
    depth = 0
    for i, char in enumerate(css):
        depth += {"{": 1, "}": -1}.get(char, 0)
        assert depth >= 0
        if css.startswith("/* --", i):
            assert depth == 0, css[i:i + 60]
    assert depth == 0
