"""The OAuth consent flow in a real browser (headless Chromium) against a served site, both
databases: an application's authorize link sends a Guest to the login page; after logging in the
consent page names the application, the user and the scopes; "Allow" sends the browser to the
application's loopback redirect URI with ``code`` and ``state``, and the code (with its PKCE
verifier) exchanges for a token that works as ``Authorization: Bearer``; "Deny" sends it there
with ``error=access_denied``.

The application's redirect URI is a throwaway HTTP server on a loopback port (as a native app or
``frappectl`` listens), which notes each request and answers a short page.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import secrets
import threading
import uuid
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

AUTHORIZE = "/api/method/frappe.integrations.oauth2.authorize"
TOKEN = "/api/method/frappe.integrations.oauth2.get_token"
WHO = "/api/method/frappe.auth.get_logged_user"
PASSWORD = "consent-user-pw-42"


class _Callback(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the standard library's name
        if self.path.startswith("/callback"):
            # Only the redirects: the browser also asks this origin for /favicon.ico, whenever it likes.
            self.server.seen.append(self.path)
        body = b"<!doctype html><title>Signed in</title><p>Back in the application.</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def callback():
    """The application's redirect URI: a loopback HTTP server; yields (uri, paths it was asked)."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Callback)
    srv.seen = []
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/callback", srv.seen
    srv.shutdown()
    srv.server_close()
    thread.join(10)


@pytest.fixture
def oauth_app(server, admin, callback):
    """A user with a password and a public OAuth client (PKCE, no secret) made by Administrator
    over REST; yields (client_id, app_name, user, redirect_uri, paths the redirect URI saw)."""
    redirect_uri, seen = callback
    user = f"consent-{uuid.uuid4().hex[:8]}@example.com"
    r = admin.post("/api/resource/User", json={"email": user, "first_name": "Jane", "last_name": "Consent",
                                               "new_password": PASSWORD})
    assert r.status_code == 200, r.text
    app_name = f"Todo Sync <{uuid.uuid4().hex[:4]}> & Co"  # escaped on the page, shown as typed
    r = admin.post("/api/resource/OAuth Client", json={
        "app_name": app_name, "scopes": "all openid", "redirect_uris": redirect_uri,
        "default_redirect_uri": redirect_uri, "token_endpoint_auth_method": "None"})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["client_id"] == data["name"]
    yield data["client_id"], app_name, user, redirect_uri, seen


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _authorize_url(server, client_id: str, redirect_uri: str, state: str, challenge: str) -> str:
    query = urlencode({"client_id": client_id, "response_type": "code", "redirect_uri": redirect_uri,
                       "scope": "all openid", "state": state, "code_challenge": challenge,
                       "code_challenge_method": "S256"})
    return f"{server.base_url}{AUTHORIZE}?{query}"


def _landed(page, redirect_uri: str) -> dict[str, list[str]]:
    """The query the browser brought to the application's redirect URI."""
    page.wait_for_url(f"{redirect_uri}?**")
    url = urlsplit(page.url)
    assert f"{url.scheme}://{url.netloc}{url.path}" == redirect_uri
    return parse_qs(url.query)


def test_login_consent_allow_and_deny(server, context_factory, shoot, oauth_app):
    client_id, app_name, user, redirect_uri, seen = oauth_app
    page = context_factory().new_page()
    verifier, challenge = _pkce()
    state = secrets.token_urlsafe(16)

    # A Guest following the application's link is asked to log in first, and comes back.
    page.goto(_authorize_url(server, client_id, redirect_uri, state, challenge))
    assert urlsplit(page.url).path == "/login"
    assert parse_qs(urlsplit(page.url).query)["redirect-to"][0].startswith(AUTHORIZE + "?")
    page.get_by_label("E-mail or user name").press_sequentially(user)
    page.get_by_label("Password").press_sequentially(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()

    # The consent page: the application, the user and what the application may do.
    assert urlsplit(page.url).path == AUTHORIZE
    assert page.get_by_role("heading", level=1).inner_text() == f"Authorize {app_name}"
    text = page.locator("main").inner_text()
    assert user in text and "Full access to your account" in text
    assert "full name, e-mail address, user image and roles" in text
    shoot(page, f"consent-{server.backend}")

    page.get_by_role("button", name="Allow").click()
    query = _landed(page, redirect_uri)
    assert query["state"] == [state] and len(query["code"]) == 1, query
    assert seen and seen[-1].startswith("/callback?")

    # The code exchanges for a token (PKCE verifier, public client), and the token is the user's.
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        r = http.post(TOKEN, data={"grant_type": "authorization_code", "code": query["code"][0],
                                   "redirect_uri": redirect_uri, "client_id": client_id,
                                   "code_verifier": verifier})
        assert r.status_code == 200, r.text
        token = r.json()
        assert token["token_type"] == "Bearer" and token["access_token"]
        r = http.get(WHO, headers={"Authorization": f"Bearer {token['access_token']}"})
        assert r.status_code == 200 and r.json() == {"message": user}, r.text
        # The code was single-use.
        r = http.post(TOKEN, data={"grant_type": "authorization_code", "code": query["code"][0],
                                   "redirect_uri": redirect_uri, "client_id": client_id,
                                   "code_verifier": verifier})
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text

    # Deny: the application learns that the user said no, and gets no code.
    _, challenge = _pkce()
    state = secrets.token_urlsafe(16)
    page.goto(_authorize_url(server, client_id, redirect_uri, state, challenge))
    assert page.get_by_role("heading", level=1).inner_text() == f"Authorize {app_name}"
    page.get_by_role("link", name="Deny").click()
    query = _landed(page, redirect_uri)
    assert query["error"] == ["access_denied"] and query["state"] == [state] and "code" not in query, query
