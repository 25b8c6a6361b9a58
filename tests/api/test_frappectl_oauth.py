"""frappectl's own OAuth login (``auth login URL --oauth``) against a served site, on both databases.

frappectl 0.21.1, unchanged, from the package index into a throwaway venv (skipped only when pip
cannot reach the index), logs in as a public client: discovery
(``/.well-known/oauth-authorization-server``), authorization code with PKCE S256, its redirect
caught on a loopback port (``http://127.0.0.1:<port>/callback``), no secret. It runs as a user
would run it: its standard input a pseudo-terminal (it refuses to log in otherwise), its
browser opened through ``BROWSER``, here a script that hands the authorize URL to the test. The
test then plays the browser: Guest is sent to the login page, logs in, sees the consent page,
clicks Allow (or Deny), and follows the redirect to frappectl's loopback server. frappectl
exchanges the code, checks the token with ``frappe.auth.get_logged_user`` (API v2, Bearer) and
stores it in the keyring: ``keyrings.alt``'s file keyring, installed beside it (a machine
without a desktop has no other). Afterwards ``auth whoami`` calls as the user with the stored
token, an expired token is refreshed (the refresh token rotates), and ``auth logout`` revokes it.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

from tests.pg import free_port

PASSWORD = "fc-oauth-pw-1"
PROFILE = "fc-oauth"
AUTHORIZE = "/api/method/frappe.integrations.oauth2.authorize"
TOKEN = "/api/method/frappe.integrations.oauth2.get_token"
WAIT = 60  # seconds for each step of frappectl's login


class Page(HTMLParser):
    """The forms (action, fields, button texts) and links (href, text) of an HTML page."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self.links: list[dict] = []
        self._form: dict | None = None
        self._link: dict | None = None
        self._button: dict | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = {"action": a.get("action", ""), "method": a.get("method", "get").lower(),
                          "fields": {}, "buttons": []}
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None and a.get("name"):
            if a.get("type", "text") not in ("submit", "button"):
                self._form["fields"][a["name"]] = a.get("value", "")
            else:
                self._form["buttons"].append(a.get("value", ""))
        elif tag == "button" and self._form is not None:
            self._button = {"text": ""}
            self._form["buttons"].append(self._button)
        elif tag == "a":
            self._link = {"href": a.get("href", ""), "text": ""}
            self.links.append(self._link)

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "a":
            self._link = None
        elif tag == "button":
            self._button = None

    def handle_data(self, data):
        if self._link is not None:
            self._link["text"] += data
        if self._button is not None:
            self._button["text"] += data

    def form(self, button: str) -> dict:
        for f in self.forms:
            texts = [b["text"] if isinstance(b, dict) else b for b in f["buttons"]]
            if any(button in t for t in texts):
                return f
        raise AssertionError(f"no form with a {button!r} button: {self.forms}")

    def link(self, text: str) -> str:
        for link in self.links:
            if text in link["text"]:
                return link["href"]
        raise AssertionError(f"no {text!r} link: {self.links}")


class Frappectl:
    """frappectl in its own home (config, keyring), its browser a script that notes the URL."""

    def __init__(self, venv: Path, home: Path, site: str) -> None:
        self.venv, self.home, self.site = venv, home, site
        self.urls = home / "browser-urls"
        browser = home / "browser"
        browser.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> "{self.urls}"\n')
        browser.chmod(0o755)
        # No proxy variables (httpx honours them), no display, no FRAPPE_SITE (that would win
        # over the stored profile).
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8",
                    "XDG_CONFIG_HOME": str(home / ".config"), "XDG_DATA_HOME": str(home / ".local" / "share"),
                    "COLUMNS": "300", "BROWSER": str(browser),
                    "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring"}

    def login(self, client_id: str | None, port: int) -> "Login":
        """``auth login --oauth``; with no ``client_id`` frappectl registers itself, if it may."""
        return Login(self, client_id, port)

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.venv / "bin" / "frappectl"), *args], capture_output=True, text=True,
                              timeout=120, env=self.env)

    def stored(self) -> dict | None:
        """What frappectl keeps in the keyring for the profile (JSON), through keyring's own API."""
        code = "import keyring, sys; v = keyring.get_password('frappectl', sys.argv[1]); print(v or '')"
        proc = subprocess.run([str(self.venv / "bin" / "python"), "-c", code, PROFILE], capture_output=True,
                              text=True, timeout=60, env=self.env, check=True)
        return json.loads(proc.stdout) if proc.stdout.strip() else None

    def store(self, blob: dict) -> None:
        code = "import keyring, sys; keyring.set_password('frappectl', sys.argv[1], sys.argv[2])"
        subprocess.run([str(self.venv / "bin" / "python"), "-c", code, PROFILE, json.dumps(blob)],
                       capture_output=True, text=True, timeout=60, env=self.env, check=True)


class Login:
    """``frappectl auth login SITE --oauth`` running with a pseudo-terminal as standard input."""

    def __init__(self, fc: Frappectl, client_id: str | None, port: int) -> None:
        self.fc = fc
        self.out = open(fc.home / "login.out", "w+")
        self.err = open(fc.home / "login.err", "w+")
        master, slave = os.openpty()
        try:
            self.proc = subprocess.Popen(
                [str(fc.venv / "bin" / "frappectl"), "auth", "login", fc.site, "--oauth", "--name", PROFILE,
                 "--description", "", "--writable", *(["--client-id", client_id] if client_id else []),
                 "--oauth-port", str(port)],
                stdin=slave, stdout=self.out, stderr=self.err, env=fc.env)
        finally:
            os.close(slave)
        self.master = master

    def output(self) -> str:
        self.out.seek(0)
        self.err.seek(0)
        return f"stdout: {self.out.read()[-3000:]}\nstderr: {self.err.read()[-3000:]}"

    def authorize_url(self) -> str:
        """The URL frappectl gave the browser (it listens on its loopback port by then)."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if self.fc.urls.exists() and self.fc.urls.read_text().strip():
                return self.fc.urls.read_text().split()[-1]
            if self.proc.poll() is not None:
                raise AssertionError(f"frappectl exited ({self.proc.returncode}) before opening the browser\n"
                                     f"{self.output()}")
            time.sleep(0.1)
        raise AssertionError(f"frappectl opened no browser within {WAIT} s\n{self.output()}")

    def finish(self) -> tuple[int, str]:
        """frappectl's exit code and its standard error, once it is done."""
        try:
            self.proc.wait(WAIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError(f"frappectl did not finish within {WAIT} s\n{self.output()}") from None
        finally:
            os.close(self.master)
        self.err.seek(0)
        return self.proc.returncode, self.err.read()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.out.close()
        self.err.close()


def public_client(admin: httpx.Client, redirect_uri: str) -> str:
    """A public OAuth client (no secret, PKCE) registered for frappectl's loopback redirect; its id."""
    r = admin.post("/api/resource/OAuth Client", json={
        "app_name": "frappectl", "redirect_uris": redirect_uri, "default_redirect_uri": redirect_uri,
        "scopes": "all openid", "grant_type": "Authorization Code", "response_type": "Code",
        "token_endpoint_auth_method": "None", "skip_authorization": 0})
    assert r.status_code == 200, f"creating the OAuth Client: {r.status_code} {r.text[:2000]}"
    return r.json()["data"]["name"]


def browser_consent(server, user: str, url: str, choice: str) -> str:
    """Play the browser from the authorize URL to the consent page and click ``choice``
    (Allow or Deny); the URL the site then redirects to."""
    base = server.base_url
    with httpx.Client(timeout=30) as browser:
        r = browser.get(url)
        # Guest goes to the login page, which comes back here once logged in.
        assert r.status_code == 302, f"authorize as Guest: {r.status_code} {r.text[:2000]}"
        to_login = urlsplit(urljoin(base, r.headers["location"]))
        assert to_login.path == "/login", r.headers["location"]
        back = parse_qs(to_login.query)["redirect-to"][0]
        assert back.startswith(AUTHORIZE + "?"), back
        r = browser.post(f"{base}/api/method/login", json={"usr": user, "pwd": PASSWORD})
        assert r.status_code == 200, r.text
        r = browser.get(urljoin(base, back))
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), \
            f"consent page: {r.status_code} {r.text[:2000]}"
        assert "frappectl" in r.text and user.split("@")[0] in r.text, r.text
        page = Page(r.text)
        if choice == "Allow":
            form = page.form("Allow")
            assert form["method"] == "post" and "csrf_token" in form["fields"], form
            r = browser.post(urljoin(str(r.url), form["action"]), data=form["fields"])
            assert r.status_code == 302, f"Allow: {r.status_code} {r.text[:2000]}"
            return r.headers["location"]
        deny = page.link("Deny")
        target = urljoin(str(r.url), deny)
        if urlsplit(target).netloc == urlsplit(base).netloc:  # the site's own deny route
            r = browser.get(target)
            assert r.status_code == 302, f"Deny: {r.status_code} {r.text[:2000]}"
            return r.headers["location"]
        return target


def test_frappectl_oauth_login_then_calls_as_the_user(frappectl_venv, server, admin, tmp_path):
    user = f"fc-oauth-{server.backend}@example.com"
    server.cli("add-user", user, "--password", PASSWORD)
    port = free_port()
    redirect_uri = f"http://127.0.0.1:{port}/callback"
    client_id = public_client(admin, redirect_uri)
    fc = Frappectl(frappectl_venv, tmp_path, server.base_url)

    login = fc.login(client_id, port)
    try:
        url = login.authorize_url()
        sent = urlsplit(url)
        query = {k: v[0] for k, v in parse_qs(sent.query).items()}
        # What discovery told it: the authorize endpoint, absolute, on this site.
        assert f"{sent.scheme}://{sent.netloc}{sent.path}" == server.base_url + AUTHORIZE, url
        assert (query["response_type"], query["client_id"], query["redirect_uri"], query["code_challenge_method"]) \
            == ("code", client_id, redirect_uri, "S256"), query
        assert set(query["scope"].split()) == {"openid", "all"} and query["code_challenge"] and query["state"]

        location = browser_consent(server, user, url, "Allow")
        back = urlsplit(location)
        params = {k: v[0] for k, v in parse_qs(back.query).items()}
        assert f"{back.scheme}://{back.netloc}{back.path}" == redirect_uri and params["state"] == query["state"]
        assert params.get("code") and "error" not in params, location
        # The browser follows the redirect to frappectl's loopback server.
        r = httpx.get(location, timeout=30)
        assert r.status_code == 200 and "Login complete" in r.text, r.text
        code, err = login.finish()
        assert code == 0, login.output()
        assert f"logged in as {user}" in err and f"profile '{PROFILE}'" in err, err
    finally:
        login.close()

    stored = fc.stored()
    assert stored["client_id"] == client_id and stored["access_token"] and stored["refresh_token"], stored
    # The stored token works on every route as the user (frappectl's own check used API v2).
    bearer = {"Authorization": f"Bearer {stored['access_token']}"}
    r = httpx.get(server.base_url + "/api/method/frappe.auth.get_logged_user", headers=bearer, timeout=30)
    assert r.status_code == 200 and r.json()["message"] == user, r.text

    # frappectl calls as the user with the stored token.
    proc = fc.run("--debug", "auth", "whoami")
    assert proc.returncode == 0, proc.stderr[-3000:]
    who = json.loads(proc.stdout)
    assert (who["user"], who["auth"], who["source"]) == (user, "oauth", PROFILE), who
    assert f"→ GET {server.base_url}/api/v2/method/frappe.auth.get_logged_user" in proc.stderr
    assert "authorization: Bearer ***" in proc.stderr, proc.stderr[-3000:]

    # A token about to expire is refreshed first (public client: client_id only); the refresh
    # token rotates, so the old one is spent.
    fc.store({**stored, "expires_at": time.time()})
    proc = fc.run("auth", "whoami")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout)["user"] == user
    renewed = fc.stored()
    assert renewed["access_token"] != stored["access_token"], renewed
    assert renewed["refresh_token"] and renewed["refresh_token"] != stored["refresh_token"], renewed
    assert renewed["expires_at"] > time.time() + 600, renewed
    r = httpx.post(server.base_url + TOKEN, data={"grant_type": "refresh_token", "client_id": client_id,
                                                  "refresh_token": stored["refresh_token"]}, timeout=30)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text

    # Logging out revokes the access token on the site.
    bearer = {"Authorization": f"Bearer {renewed['access_token']}"}
    assert httpx.get(server.base_url + "/api/v2/method/frappe.auth.get_logged_user", headers=bearer,
                     timeout=30).status_code == 200
    proc = fc.run("auth", "logout", PROFILE)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = httpx.get(server.base_url + "/api/v2/method/frappe.auth.get_logged_user", headers=bearer, timeout=30)
    assert r.status_code == 401, r.text
    assert fc.stored() is None


def test_frappectl_oauth_login_denied(frappectl_venv, server, admin, tmp_path):
    user = f"fc-deny-{server.backend}@example.com"
    server.cli("add-user", user, "--password", PASSWORD)
    port = free_port()
    client_id = public_client(admin, f"http://127.0.0.1:{port}/callback")
    fc = Frappectl(frappectl_venv, tmp_path, server.base_url)
    login = fc.login(client_id, port)
    try:
        location = browser_consent(server, user, login.authorize_url(), "Deny")
        params = parse_qs(urlsplit(location).query)
        assert params["error"] == ["access_denied"], location
        r = httpx.get(location, timeout=30)  # the browser lands on frappectl's loopback server
        assert r.status_code == 200 and "Login failed" in r.text, r.text
        code, err = login.finish()
        assert code == 1 and "access_denied" in err, login.output()
    finally:
        login.close()
    assert fc.stored() is None
    proc = fc.run("auth", "list")
    assert proc.returncode == 0 and json.loads(proc.stdout) == [], proc.stdout + proc.stderr


def test_frappectl_registers_itself_when_the_site_allows_it(frappectl_venv, server, admin, tmp_path):
    """No --client-id: with dynamic registration on, frappectl registers a public client (RFC 7591)
    from the discovery document's registration_endpoint and logs in with it."""
    user = f"fc-reg-{server.backend}@example.com"
    server.cli("add-user", user, "--password", PASSWORD)
    settings = "/api/resource/OAuth Settings/OAuth Settings"
    assert admin.put(settings, json={"enable_dynamic_client_registration": 1}).status_code == 200
    try:
        port = free_port()
        fc = Frappectl(frappectl_venv, tmp_path, server.base_url)
        login = fc.login(None, port)
        try:
            url = login.authorize_url()
            client_id = parse_qs(urlsplit(url).query)["client_id"][0]
            r = admin.get(f"/api/resource/OAuth Client/{client_id}")
            assert r.status_code == 200, r.text
            registered = r.json()["data"]
            assert registered["token_endpoint_auth_method"] == "None", registered
            assert registered["redirect_uris"].split() == [f"http://127.0.0.1:{port}/callback"], registered
            location = browser_consent(server, user, url, "Allow")
            assert httpx.get(location, timeout=30).status_code == 200
            code, err = login.finish()
            assert code == 0 and f"logged in as {user}" in err, login.output()
        finally:
            login.close()
        assert fc.stored()["client_id"] == client_id
        proc = fc.run("auth", "whoami")
        assert proc.returncode == 0 and json.loads(proc.stdout)["user"] == user, proc.stderr[-3000:]
    finally:
        assert admin.put(settings, json={"enable_dynamic_client_registration": 0}).status_code == 200
