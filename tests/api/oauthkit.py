"""Shared steps of the OAuth tests: clients and users through REST, the authorize -> consent ->
approve walk, token requests and the checks of their answers.

Every helper takes a client with ``httpx.Client``'s ``get``/``post`` (a served site's
``httpx.Client`` or ``tests.inprocess.InProcess``), so the walk runs the same against a real
server and in process. The session that approves must be a different client from the one that
asks for tokens: a cookie session makes every unsafe request need its CSRF token, and token
requests arrive without a session.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import secrets
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.inprocess import InProcess
from tests.scenario import Env, open_env

M = "/api/method/frappe.integrations.oauth2."
AUTHORIZE, APPROVE, TOKEN = M + "authorize", M + "approve", M + "get_token"
REVOKE, INTROSPECT, PROFILE = M + "revoke_token", M + "introspect_token", M + "openid_profile"
WHO = "/api/method/frappe.auth.get_logged_user"
PASSWORD = "oauth-Pw-4711!"
# RFC 7636's verifier alphabet; the seed's own example verifier ("420") is shorter than the RFC allows.
SEED_VERIFIER, SEED_CHALLENGE = "420", "21XaP8MJjpxCMRxgEzBP82sZ73PRLqkyBUta1R309J0"
PUBLIC, POST, BASIC = "None", "Client Secret Post", "Client Secret Basic"
_ids = itertools.count(1)


def uid() -> str:
    return f"{os.getpid()}x{next(_ids)}x{secrets.token_hex(3)}"


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def pkce() -> tuple[str, str]:
    """A fresh (verifier, S256 challenge) pair."""
    verifier = secrets.token_urlsafe(48)
    return verifier, s256(verifier)


# ---------------------------------------------------------------- HTML forms


@dataclass
class Form:
    action: str
    method: str
    inputs: dict[str, str] = field(default_factory=dict)  # every named input with its value
    types: dict[str, str] = field(default_factory=dict)  # and its type (lower case)
    buttons: list[tuple[str, str]] = field(default_factory=list)  # (name, value) of submit buttons


class Page(HTMLParser):
    """The forms and links of an HTML page (attribute values unescaped by the parser)."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.links: list[str] = []
        self._open: Form | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._open = Form(a.get("action", ""), a.get("method", "get").lower())
            self.forms.append(self._open)
        elif tag == "input" and self._open is not None and a.get("name"):
            if a.get("type", "text").lower() in ("submit", "button", "image"):
                self._open.buttons.append((a["name"], a.get("value", "")))
            else:
                self._open.inputs[a["name"]] = a.get("value", "")
                self._open.types[a["name"]] = a.get("type", "text").lower()
        elif tag == "button" and self._open is not None:
            self._open.buttons.append((a.get("name", ""), a.get("value", "")))
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._open = None


def approve_form(html: str) -> Form:
    """The consent page's Allow form: the one that carries the session's CSRF token."""
    forms = [f for f in Page(html).forms if "csrf_token" in f.inputs]
    assert len(forms) == 1, f"expected one form with a csrf_token input on the consent page:\n{html[:3000]}"
    return forms[0]


# ---------------------------------------------------------------- records through REST


@dataclass
class Client:
    client_id: str
    secret: str | None  # None for a public client
    redirect_uris: list[str]
    auth: str
    app_name: str = ""

    @property
    def redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def credentials(self, via: str | None = None) -> tuple[dict[str, str], dict[str, str]]:
        """(form fields, headers) that authenticate the client at the token endpoint: its own
        method unless ``via`` ("form", "basic" or "none") says otherwise."""
        via = via or {POST: "form", BASIC: "basic"}.get(self.auth, "none")
        if via == "basic":
            return {}, basic(self.client_id, self.secret or "")
        if via == "form":
            return {"client_id": self.client_id, "client_secret": self.secret or ""}, {}
        return {"client_id": self.client_id}, {}


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def new_client(admin: Any, *, auth: str = POST, secret: str | None = None, alg: str = "HS256",
               redirect_uris: list[str] | None = None, skip: int = 0, scopes: str = "all openid") -> Client:
    """An OAuth Client created by Administrator through REST. A confidential client gets a
    ``client_secret`` of its own in the insert payload; a public one none."""
    n = uid()
    uris = redirect_uris or [f"http://127.0.0.1:9/cb-{n}"]
    body: dict[str, Any] = {"app_name": f"App {n}", "redirect_uris": "\n".join(uris),
                            "default_redirect_uri": uris[0], "scopes": scopes, "skip_authorization": skip,
                            "token_endpoint_auth_method": auth, "id_token_signed_response_alg": alg}
    if auth in (POST, BASIC):
        secret = secret or "sec-" + secrets.token_urlsafe(24)
        body["client_secret"] = secret
    r = admin.post("/api/resource/OAuth Client", json=body)
    assert r.status_code == 200, f"creating an OAuth Client -> {r.status_code}: {r.text[:2000]}"
    data = r.json()["data"]
    assert data.get("client_id") == data["name"], data
    assert secret is None or secret not in r.text, "the client secret came back in the insert answer"
    return Client(data["name"], secret if auth in (POST, BASIC) else None, uris, auth, body["app_name"])


def stored_secret(admin: Any, client_id: str) -> str:
    r = admin.get("/api/method/frappe.client.get_password",
                  params={"doctype": "OAuth Client", "name": client_id, "fieldname": "client_secret"})
    assert r.status_code == 200, r.text
    return r.json()["message"]


def new_role(admin: Any) -> str:
    name = f"OAuth Role {uid()}"
    r = admin.post("/api/resource/Role", json={"role_name": name})
    assert r.status_code == 200, r.text
    return name


def new_user(admin: Any, roles: tuple[str, ...] = (), *, password: str = PASSWORD) -> dict[str, str]:
    n = uid()
    user = {"email": f"oauth-{n}@example.com", "first_name": "Ada", "last_name": f"Tester{n}"}
    r = admin.post("/api/resource/User", json={**user, "new_password": password,
                                                 "roles": [{"role": role} for role in roles]})
    assert r.status_code == 200, r.text
    return user


def login(c: Any, email: str, password: str = PASSWORD) -> None:
    r = c.post("/api/method/login", json={"usr": email, "pwd": password})
    assert r.status_code == 200, r.text


# ---------------------------------------------------------------- authorize, consent, approve


def authorize_params(client: Client, *, challenge: str | None = None, method: str = "S256",
                     state: str | None = None, nonce: str | None = None, scope: str = "all openid",
                     redirect_uri: str | None = None, response_type: str = "code") -> dict[str, str]:
    p = {"client_id": client.client_id, "response_type": response_type,
         "redirect_uri": redirect_uri or client.redirect_uri, "scope": scope, "state": state or uid()}
    if challenge is not None:
        p.update(code_challenge=challenge, code_challenge_method=method)
    if nonce is not None:
        p["nonce"] = nonce
    return p


def consent_page(session: Any, url: str, params: dict | None = None) -> str:
    r = session.get(url, params=params)
    assert r.status_code == 200 and "text/html" in r.headers.get("content-type", ""), \
        f"GET authorize -> {r.status_code} {r.headers.get('location')}: {r.text[:2000]}"
    return r.text


def approve(session: Any, html: str) -> Any:
    """Click Allow: post the consent page's form as a browser would (its hidden fields and the
    CSRF token). Returns the response, not followed."""
    form = approve_form(html)
    data = dict(form.inputs)
    allow = [b for b in form.buttons if b[0] and "deny" not in (b[0] + b[1]).lower()]
    if allow:
        data[allow[0][0]] = allow[0][1]
    assert form.method == "post", form
    return session.post(form.action or APPROVE, data=data)


def redirect_query(r: Any, redirect_uri: str) -> dict[str, str]:
    """The query of a redirect to ``redirect_uri`` (every key once)."""
    assert r.status_code in (302, 303), f"expected a redirect, got {r.status_code}: {r.text[:2000]}"
    loc = r.headers["location"]
    parts = urlsplit(loc)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == redirect_uri, f"redirect to {loc}, not {redirect_uri}"
    q = parse_qs(parts.query, keep_blank_values=True)
    assert all(len(v) == 1 for v in q.values()), loc
    return {k: v[0] for k, v in q.items()}


def get_code(session: Any, client: Client, **kw: Any) -> tuple[str, dict[str, str]]:
    """Authorize as the logged-in ``session`` and click Allow; returns (code, authorize params)."""
    params = authorize_params(client, **kw)
    r = approve(session, consent_page(session, AUTHORIZE, params))
    q = redirect_query(r, params["redirect_uri"])
    assert q.get("state") == params["state"] and q.get("code"), q
    return q["code"], params


# ---------------------------------------------------------------- token endpoint


def token(anon: Any, client: Client, fields: dict[str, str], *, via: str | None = None) -> Any:
    data, headers = client.credentials(via)
    return anon.post(TOKEN, data={**fields, **data}, headers=headers)


def exchange(anon: Any, client: Client, code: str, verifier: str | None, *, redirect_uri: str | None = None,
             via: str | None = None) -> Any:
    fields = {"grant_type": "authorization_code", "code": code,
              "redirect_uri": redirect_uri if redirect_uri is not None else client.redirect_uri}
    if verifier is not None:
        fields["code_verifier"] = verifier
    return token(anon, client, fields, via=via)


def issued(r: Any) -> dict[str, Any]:
    assert r.status_code == 200, f"POST get_token -> {r.status_code}: {r.text[:2000]}"
    body = r.json()
    assert body.get("token_type", "").lower() == "bearer" and body.get("access_token"), body
    assert "message" not in body, "token answers are not wrapped in message"
    assert "no-store" in r.headers.get("cache-control", ""), "RFC 6749 5.1: token answers are not cached"
    return body


def refused(r: Any, *errors: str, statuses: tuple[int, ...] = (400,)) -> dict[str, Any]:
    """An OAuth error answer: one of ``statuses``, ``{"error": one of errors}``, no token."""
    assert r.status_code in statuses, f"expected {statuses}, got {r.status_code}: {r.text[:2000]}"
    body = r.json()
    assert body.get("error") in errors, f"expected error in {errors}: {body}"
    assert "access_token" not in body and "refresh_token" not in body, body
    assert "exc" not in body and "Traceback" not in r.text, body
    return body


def who(anon: Any, access_token: str) -> Any:
    return anon.get(WHO, headers=bearer(access_token))


def acts_as(anon: Any, access_token: str, email: str) -> None:
    r = who(anon, access_token)
    assert r.status_code == 200 and r.json()["message"] == email, r.text


def rejected(anon: Any, access_token: str) -> None:
    r = who(anon, access_token)
    assert r.status_code == 401, f"Bearer {access_token[:6]}... -> {r.status_code}: {r.text[:500]}"



# ---------------------------------------------------------------- a site in process


class OAuthWorld(Env):
    """A site in process: Administrator's client, an anonymous one, a user and that user's
    logged-in browser."""

    def start(self) -> "OAuthWorld":
        self.admin_c = self.client("Administrator")
        self.anon = self.client(None)
        self.user = new_user(self.admin_c)
        self.email = self.user["email"]
        self.browser = InProcess(self.app)
        login(self.browser, self.email)
        return self

    def oauth(self, **kw: Any) -> Client:
        return new_client(self.admin_c, **kw)

    def close(self) -> None:
        self.browser.close()
        super().close()


def open_world(request: Any, tmp_path_factory: Any, name: str, env_class: type[OAuthWorld] = OAuthWorld) -> Any:
    """An ``env_class`` on ``request.param``'s database, started; ``close()`` it when done."""
    tmp = tmp_path_factory.mktemp(f"{name}-{request.param}")
    return open_env(tmp, request.param, request, env_class=env_class).start()
