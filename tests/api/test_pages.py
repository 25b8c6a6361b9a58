"""The HTML pages: ``/login`` (form, POST login, ``redirect-to``), the consent page renderer, the
page envelope's HTML errors and the pages' stylesheet. In process, on SQLite and PostgreSQL (the
login writes sessions); the ``redirect-to`` checker and the consent page's escaping are pure.
"""

from __future__ import annotations

import re
from html import unescape
from types import SimpleNamespace
from urllib.parse import quote

import pytest

from ristretto.api.pages import consent, layout, login
from tests.conftest import ADMIN_PASSWORD, BACKENDS
from tests.inprocess import InProcess
from tests.scenario import Env, Scenario, Text, open_env, scenarios

USER = "page-user@example.com"
PASSWORD = "page-user-pw-42"
DISABLED = "page-disabled@example.com"
WHO = "/api/method/frappe.auth.get_logged_user"
HOSTILE = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
HOSTILE_PATH = '/"><script>alert(1)</script><img/src=x/onerror=alert(2)>'  # no spaces: a valid path


@pytest.fixture(scope="module", params=BACKENDS)
def env(request, tmp_path_factory):
    e = open_env(tmp_path_factory.mktemp(f"pages-{request.param}"), request.param, request)
    for email, enabled in ((USER, 1), (DISABLED, 0)):
        e.admin("POST", "/api/resource/User", json={"email": email, "first_name": email.split("@")[0],
                                                    "new_password": PASSWORD, "enabled": enabled})
    yield e
    e.close()


def browser(env: Env, address: str = "127.0.0.1") -> InProcess:
    """A client that keeps its cookies, as a browser does."""
    return InProcess(env.app, address=address)


def hidden_redirect(html: str) -> str:
    m = re.search(r'<input type="hidden" name="redirect-to" value="([^"]*)">', html)
    assert m, html
    return unescape(m.group(1))


# --- redirect-to: only a path on this site -----------------------------------------------------

@pytest.mark.parametrize("value", [
    "//evil.com", "//evil.com/path", "/\\evil.com", "\\\\evil.com", "/\\/evil.com", "/foo\\..\\..\\evil",
    "https://evil.com", "http:evil.com", "javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,x",
    "evil.com", "", " /app", "/\t/evil.com", "/\n/evil.com", "/\r\n/evil.com", "\t//evil.com",
    "/app\x00", "/app\x7f", "/app\u2028x", "/a b", "/\u00a0/evil.com", "%2F%2Fevil.com", "///evil.com",
    "/" + "a" * login.MAX_REDIRECT, None, 42, ["/app"], {"a": "/app"},
])
def test_redirect_to_refuses_other_sites(value):
    assert login.safe_redirect(value) == "/"


@pytest.mark.parametrize("value, expected", [
    ("/", "/"), ("/app", "/app"), ("/app/todo/new?x=1&y=2#top", "/app/todo/new?x=1&y=2#top"),
    ("/api/method/frappe.integrations.oauth2.authorize?client_id=abc&state=x%2Fy",
     "/api/method/frappe.integrations.oauth2.authorize?client_id=abc&state=x%2Fy"),
    ("/%2F%2Fevil.com", "/%2F%2Fevil.com"),  # a path of this site: percent signs stay encoded
    ("/app/caf\u00e9", "/app/caf%C3%A9"), ("/@evil.com", "/@evil.com"),
])
def test_redirect_to_keeps_paths_of_this_site(value, expected):
    assert login.safe_redirect(value) == expected
    assert login.login_url(value) == "/login?redirect-to=" + quote(expected, safe="")


# --- /login as a table -----------------------------------------------------------------------

def _page(status_html: bool = True):
    def check(env: Env, r) -> None:
        assert r.headers["content-type"] == "text/html; charset=utf-8"
        assert "no-store" in r.headers["cache-control"]
        assert r.headers["x-frame-options"] == "SAMEORIGIN"
        csp = r.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "form-action" not in csp and "script-src" not in csp
        assert "<script" not in r.text.lower()
    return check


def _redirect_field(expected: str):
    return lambda env, r: _assert_equal(hidden_redirect(r.text), expected)


def _location(expected: str):
    return lambda env, r: _assert_equal(r.headers.get("location"), expected)


def _no_session(env: Env, r) -> None:
    assert not [c for c in r.headers.get_list("set-cookie") if c.startswith("sid=") and "Max-Age=0" not in c
                and not c.startswith("sid=Guest")], r.headers


def _session(env: Env, r) -> None:
    sids = [c for c in r.headers.get_list("set-cookie") if c.startswith("sid=") and "Max-Age=0" not in c]
    assert len(sids) == 1 and "HttpOnly" in sids[0] and not sids[0].startswith("sid=Guest;"), r.headers
    sid = sids[0].split(";", 1)[0].split("=", 1)[1]
    assert InProcess(env.app, headers={"Cookie": f"sid={sid}"}).get(WHO).json() == {"message": USER}


def _assert_equal(actual, expected) -> None:
    assert actual == expected, (actual, expected)


def _form(**extra: str) -> dict[str, str]:
    return {"usr": USER, "pwd": PASSWORD, **extra}


ROWS = [
    Scenario("form renders", "GET", "/login", params={"redirect-to": "/app/todo?x=1"}, user=None,
             expect=Text('<html lang="en">', '<label for="usr">', '<label for="pwd">', 'name="usr"',
                         'type="password"', 'autocomplete="current-password"', '<form method="post" action="/login"',
                         layout.STYLE_URL),
             after=[_page(), _redirect_field("/app/todo?x=1"), _no_session]),
    Scenario("form without redirect-to goes home", "GET", "/login", user=None, after=_redirect_field("/")),
    Scenario("form with another site's redirect-to", "GET", "/login", params={"redirect-to": "//evil.com"},
             user=None, expect=Text(lacks=["evil.com"]), after=_redirect_field("/")),
    Scenario("form escapes redirect-to", "GET", "/login", params={"redirect-to": HOSTILE_PATH}, user=None,
             expect=Text(lacks=["<script", "<img"]), after=[_page(), _redirect_field(HOSTILE_PATH)]),
    Scenario("logged in goes straight on", "GET", "/login", params={"redirect-to": "/app/todo"},
             status=303, after=_location("/app/todo")),
    Scenario("logged in, another site's redirect-to", "GET", "/login",
             params={"redirect-to": "https://evil.com"}, status=303, after=_location("/")),
    Scenario("login goes to redirect-to", "POST", "/login", data=_form(**{"redirect-to": "/app/todo?x=1"}),
             user=None, status=303, after=[_location("/app/todo?x=1"), _session]),
    Scenario("login with redirect-to in the query", "POST", "/login?redirect-to=%2Fapp%2Fnote", data=_form(),
             user=None, status=303, after=[_location("/app/note"), _session]),
    # The query string's %2F%2F decodes to // : another site.
    Scenario("login with an encoded other site", "POST", "/login?redirect-to=%2F%2Fevil.com", data=_form(),
             user=None, status=303, after=[_location("/"), _session]),
    Scenario("login with a backslash redirect", "POST", "/login", data=_form(**{"redirect-to": "/\\evil.com"}),
             user=None, status=303, after=_location("/")),
    Scenario("login with a tab in redirect-to", "POST", "/login", data=_form(**{"redirect-to": "/\t/evil.com"}),
             user=None, status=303, after=_location("/")),
    Scenario("login by e-mail as JSON", "POST", "/login", json=_form(**{"redirect-to": "/me"}), user=None,
             status=303, after=[_location("/me"), _session]),
    Scenario("wrong password", "POST", "/login", data=_form(pwd="not-it", **{"redirect-to": "/app"}), user=None,
             status=401, expect=Text('role="alert"', "Invalid login credentials", f'value="{USER}"',
                                     'aria-invalid="true"', lacks=["not-it"]),
             after=[_page(), _redirect_field("/app"), _no_session]),
    Scenario("unknown user", "POST", "/login", data={"usr": "nobody@example.com", "pwd": "x"}, user=None,
             status=401, expect=Text("Invalid login credentials"), after=_no_session),
    Scenario("disabled user", "POST", "/login", data={"usr": DISABLED, "pwd": PASSWORD}, user=None,
             status=401, expect=Text("Invalid login credentials"), after=_no_session),
    Scenario("missing password", "POST", "/login", data={"usr": USER}, user=None, status=401,
             expect=Text("Incomplete login details"), after=[_page(), _no_session]),
    Scenario("failed login escapes the user name", "POST", "/login",
             data={"usr": HOSTILE, "pwd": "x", "redirect-to": HOSTILE_PATH}, user=None, status=401,
             expect=Text("&quot;&gt;&lt;script&gt;", lacks=["<script", "<img"]),
             after=[_page(), _redirect_field(HOSTILE_PATH)]),
    # A page on another site may not log the browser in to an account of its choosing.
    Scenario("login from another site", "POST", "/login", data=_form(), user=None,
             headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, status=400,
             expect=Text("another site", 'action="/login"'), after=[_page(), _no_session]),
    Scenario("login from this site", "POST", "/login", data=_form(), user=None,
             headers={"Origin": "http://127.0.0.1", "Sec-Fetch-Site": "same-origin"}, status=303,
             after=[_location("/"), _session]),
    Scenario("stylesheet", "GET", layout.STYLE_URL, user=None, expect=Text(":focus-visible", "@media"),
             after=lambda env, r: _assert_equal((r.headers["content-type"], r.headers["cache-control"]),
                                                ("text/css; charset=utf-8", "private, max-age=31536000, immutable"))),
    Scenario("other verbs", "PUT", "/login", user=None, status=405),
    # Errors of page routes are pages too.
    Scenario("bad API key on a page", "GET", "/login", user=None, headers={"Authorization": "token nope:nope"},
             status=401, expect=Text('role="alert"', "Invalid API key or secret", "Go to the home page"),
             after=_page()),
]


@scenarios(*ROWS)
def test_login_page(env, scenario):
    scenario.run(env)


def test_login_by_form_then_already_logged_in(env):
    """A browser's path: the form, a login, then /login again goes straight on; the session works."""
    c = browser(env)
    assert c.get("/login", params={"redirect-to": "/app"}).status_code == 200
    r = c.post("/login", data=_form(**{"redirect-to": "/app/todo"}))
    assert r.status_code == 303 and r.headers["location"] == "/app/todo"
    assert c.cookies.get("sid") not in (None, "Guest")
    assert c.get(WHO).json() == {"message": USER}
    r = c.get("/login", params={"redirect-to": "/app/note?x=1"})
    assert r.status_code == 303 and r.headers["location"] == "/app/note?x=1"
    r = c.get("/login", params={"redirect-to": "//evil.com"})
    assert r.status_code == 303 and r.headers["location"] == "/"
    c.close()


def test_failed_login_ends_the_session_it_replaced(env):
    """A failed login leaves the browser logged out, as the API's login does."""
    c = browser(env)
    assert c.post("/login", data=_form()).status_code == 303
    r = c.post("/login", data=_form(pwd="wrong"))
    assert r.status_code == 401 and c.cookies.get("sid") is None
    assert c.get(WHO).status_code == 403
    c.close()


def test_throttled_login_says_so_on_the_page(env):
    """After too many failures the form says to wait, with the 429 of the API's login."""
    user = "page-throttled@example.com"
    env.admin("POST", "/api/resource/User", json={"email": user, "first_name": "t", "new_password": PASSWORD})
    c = browser(env, address="10.9.8.7")  # its failures must not lock out the other tests' address
    statuses = [c.post("/login", data={"usr": user, "pwd": "wrong"}).status_code for _ in range(11)]
    r = c.post("/login", data={"usr": user, "pwd": PASSWORD})
    assert statuses[0] == 401 and r.status_code == 429, (statuses, r.status_code)
    assert 'role="alert"' in r.text and r.headers["content-type"].startswith("text/html")
    c.close()


def test_admin_logs_in_with_the_form(env):
    c = browser(env)
    r = c.post("/login", data={"usr": "Administrator", "pwd": ADMIN_PASSWORD, "redirect-to": "/app"})
    assert r.status_code == 303 and r.headers["location"] == "/app"
    assert c.get(WHO).json() == {"message": "Administrator"}
    c.close()


# --- the consent page ------------------------------------------------------------------------

CALL = SimpleNamespace()  # render reads nothing of the request


def _consent(**kw):
    args = dict(app_name="Todo Sync", user=USER, scopes=["all", "openid"],
                action="/api/method/frappe.integrations.oauth2.approve",
                fields={"client_id": "c1", "redirect_uri": "https://app.example/cb", "state": "s1",
                        "response_type": "code", "scope": "all openid"},
                deny_url="https://app.example/cb?error=access_denied&state=s1", csrf_token="tok-123")
    args.update(kw)
    r = consent.render(CALL, **args)
    return r, r.body.decode()


def test_consent_page_names_app_user_and_scopes():
    r, html = _consent()
    assert r.status == 200 and (b"content-type", layout.HTML) in r.headers
    assert (b"cache-control", b"no-store,no-cache,must-revalidate,max-age=0") in r.headers
    csp = dict(r.headers)[b"content-security-policy"]
    assert b"form-action" not in csp and b"script" not in csp
    assert "<title>Authorize Todo Sync · Ristretto</title>" in html
    assert '<html lang="en">' in html and "Todo Sync" in html and USER in html
    assert "Full access to your account" in html
    assert "Your full name, e-mail address, user image and roles." in html
    form = re.search(r'<form method="post" action="([^"]*)">(.*?)</form>', html, re.S)
    assert form and form.group(1) == "/api/method/frappe.integrations.oauth2.approve"
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)">', form.group(2)))
    assert hidden == {"client_id": "c1", "redirect_uri": "https://app.example/cb", "state": "s1",
                      "response_type": "code", "scope": "all openid", "csrf_token": "tok-123"}
    assert re.search(r'<button type="submit">Allow</button>', form.group(2))
    deny = re.search(r'<a class="button secondary" href="([^"]*)">Deny</a>', html)
    assert deny and unescape(deny.group(1)) == "https://app.example/cb?error=access_denied&state=s1"
    assert "You will be sent back to <strong>https://app.example</strong>." in html
    assert "onclick" not in html and "<script" not in html


def test_consent_page_escapes_everything():
    r, html = _consent(app_name=HOSTILE, user=HOSTILE, scopes=[HOSTILE, "all"],
                       fields={"state": HOSTILE, HOSTILE: "x"}, csrf_token=HOSTILE,
                       deny_url="https://app.example/cb?state=" + HOSTILE)
    assert "<script" not in html and "<img" not in html and 'onerror=alert(2)>' not in html
    assert html.count("&lt;script&gt;") >= 5
    hidden = re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)">', html)
    assert [(unescape(k), unescape(v)) for k, v in hidden] == [("state", HOSTILE), (HOSTILE, "x"),
                                                              ("csrf_token", HOSTILE)]


def test_consent_page_lists_each_scope_once_and_unknown_ones_by_name():
    _, html = _consent(scopes=["openid", "files:read", "openid"])
    assert html.count("Know who you are") == 1 and "<strong>files:read</strong>" in html


def test_consent_page_never_links_to_script():
    for bad in ("javascript:alert(1)", " JaVa\tScRiPt:alert(1)", "data:text/html,<b>x</b>", "vbscript:x"):
        with pytest.raises(ValueError):
            _consent(deny_url=bad)
        with pytest.raises(ValueError):
            _consent(action=bad)
    # A native application's own scheme is a redirect URI like another (RFC 8252).
    _, html = _consent(deny_url="com.example.app:/cb?error=access_denied")
    assert 'href="com.example.app:/cb?error=access_denied"' in html


def test_page_envelope_renders_markup_and_refuses_other_answers():
    from ristretto.api.pages import envelope
    r = envelope.render(CALL, "<!doctype html><p>ok</p>", 200, None)
    assert r.status == 200 and r.body == b"<!doctype html><p>ok</p>" and (b"content-type", layout.HTML) in r.headers
    with pytest.raises(TypeError):
        envelope.render(CALL, {"message": "x"}, 200, None)


def test_consent_page_names_where_the_browser_goes():
    _, html = _consent(fields={"redirect_uri": "http://127.0.0.1:8765/callback?x=1"})
    assert "sent back to <strong>http://127.0.0.1:8765</strong>" in html
    _, html = _consent(fields={"redirect_uri": "com.example.app:/cb"})
    assert "sent back to <strong>com.example.app:</strong>" in html
    _, html = _consent(fields={"client_id": "c"})
    assert "sent back to the application" in html


# --- /logout ---------------------------------------------------------------------------------

def test_logout_ends_the_session_and_goes_to_the_login_page(env):
    c = browser(env)
    assert c.post("/login", data=_form()).status_code == 303
    sid = c.cookies["sid"]
    r = c.post("/logout", data={"redirect-to": "/app/todo"})
    assert r.status_code == 303 and r.headers["location"] == "/login?redirect-to=%2Fapp%2Ftodo"
    assert c.cookies.get("sid") is None
    # The session is gone on the server, not only from this browser.
    r = InProcess(env.app, headers={"Cookie": f"sid={sid}"}).get(WHO)
    assert r.status_code == 403
    # Another site's redirect-to is dropped; a Guest logging out just goes to the login page.
    r = c.post("/logout", data={"redirect-to": "//evil.com"})
    assert r.status_code == 303 and r.headers["location"] == "/login?redirect-to=%2F"
    c.close()


def test_logout_is_refused_from_another_site_and_without_the_csrf_token(env):
    c = browser(env)
    assert c.post("/login", data=_form()).status_code == 303
    r = c.post("/logout", headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 400 and r.headers["content-type"].startswith("text/html")
    assert c.get(WHO).json() == {"message": USER}
    r = c.post("/api/method/frappe.sessions.get_csrf_token")
    assert r.status_code == 200, r.text
    token = r.json()["message"]
    r = c.post("/logout")  # the session has a CSRF token now: a form must carry it
    assert r.status_code == 400 and 'role="alert"' in r.text
    assert c.get(WHO).json() == {"message": USER}
    r = c.post("/logout", data={"csrf_token": token})
    assert r.status_code == 303 and c.get(WHO).status_code == 403
    c.close()


def test_logout_is_a_form_not_a_link(env):
    c = browser(env)
    assert c.post("/login", data=_form()).status_code == 303
    assert c.get("/logout").status_code == 405
    assert c.get(WHO).json() == {"message": USER}
    c.close()
