"""One test per known flaw of Frappe's OAuth server, in process, on SQLite and PostgreSQL.

Frappe's provider has issued tokens without the client secret, let one client redeem another's
code or refresh token, accepted a token request with another registered redirect URI than the one
the code was bound to, kept codes valid forever and reusable without revoking what they issued,
let public clients skip PKCE, did not throttle secret guessing at the token endpoint, and
redirected to other sites after login. Each test shows the attack refused and, next to it, the
honest request that succeeds, so a refusal for another reason does not pass.
"""

from __future__ import annotations

import hashlib
import time
from urllib.parse import urlsplit

import pytest

from tests.api import oauthkit as k
from tests.conftest import BACKENDS
from tests.inprocess import InProcess
from tests.scenario import Scenario, scenarios

EVIL = "evil.example"


class World(k.OAuthWorld):
    """The OAuth world, with SQL behind the model's back."""

    def sql(self, query: str, params: tuple) -> None:
        """Change rows behind the model's back; cached auth answers are dropped as after any
        change through the model (the clock cannot be moved for the server)."""
        from ristretto.db import state
        with self.site.admin() as ctx:
            ctx.db.execute(query, params)
            state.bump(ctx.db, state.AUTH)

    def one(self, query: str, params: tuple):
        with self.site.admin(write=False) as ctx:
            return ctx.db.one(query, params)


@pytest.fixture(scope="module", params=BACKENDS)
def env(request, tmp_path_factory):
    w = k.open_world(request, tmp_path_factory, "oauth", World)
    yield w
    w.close()


def fresh_code(env: World, client: k.Client, **kw) -> tuple[str, str | None]:
    """(code, verifier) approved by the user; with PKCE S256 unless ``pkce=False``."""
    verifier, challenge = k.pkce() if kw.pop("pkce", True) else (None, None)
    code, _ = k.get_code(env.browser, client, challenge=challenge, **kw)
    return code, verifier


# ---------------------------------------------------------------- client authentication


@pytest.mark.parametrize("auth", [k.POST, k.BASIC], ids=["secret-post", "secret-basic"])
@pytest.mark.parametrize("via", ["form", "basic"])
def test_a_wrong_secret_of_a_confidential_client_is_refused(env, auth, via):
    client = env.oauth(auth=auth)
    code, verifier = fresh_code(env, client)
    liar = k.Client(client.client_id, client.secret + "x", client.redirect_uris, client.auth)
    # RFC 6749 answers 401 when the client authenticated with the Authorization header.
    k.refused(k.exchange(env.anon, liar, code, verifier, via=via), "invalid_client",
              statuses=(400, 401) if via == "basic" else (400,))
    code, verifier = fresh_code(env, client)
    k.acts_as(env.anon, k.issued(k.exchange(env.anon, client, code, verifier))["access_token"], env.email)


@pytest.mark.parametrize("auth", [k.POST, k.BASIC], ids=["secret-post", "secret-basic"])
def test_a_confidential_client_without_its_secret_is_refused(env, auth):
    client = env.oauth(auth=auth)
    code, verifier = fresh_code(env, client)
    k.refused(k.exchange(env.anon, client, code, verifier, via="none"), "invalid_client")
    r = k.token(env.anon, client, {"grant_type": "password", "username": env.email, "password": k.PASSWORD,
                                   "scope": "all"}, via="none")
    k.refused(r, "invalid_client")
    k.acts_as(env.anon, k.issued(k.exchange(env.anon, client, *fresh_code(env, client)))["access_token"], env.email)


def test_a_public_client_sending_a_wrong_secret_is_refused(env):
    client = env.oauth(auth=k.PUBLIC)
    code, verifier = fresh_code(env, client)
    liar = k.Client(client.client_id, "not-its-secret", client.redirect_uris, client.auth)
    k.refused(k.exchange(env.anon, liar, code, verifier, via="form"), "invalid_client")
    k.issued(k.exchange(env.anon, client, *fresh_code(env, client)))


def test_basic_at_the_token_endpoint_is_client_credentials_never_an_api_key_pair(env):
    from ristretto.site.install import generate_keys
    client = env.oauth(auth=k.BASIC)
    # A valid API key pair of a user in Basic: an unknown client, no token, OAuth's error shape.
    # (A new pair of Administrator would spoil the module's admin client.)
    key, secret = generate_keys(env.site, k.new_user(env.admin_c)["email"])
    code, verifier = fresh_code(env, client)
    r = env.anon.post(k.TOKEN, headers=k.basic(key, secret),
                      data={"grant_type": "authorization_code", "code": code, "redirect_uri": client.redirect_uri,
                            "code_verifier": verifier})
    k.refused(r, "invalid_client", statuses=(400, 401))
    r = env.anon.post(k.TOKEN, headers=k.basic(key, secret),
                      data={"grant_type": "password", "username": env.email, "password": k.PASSWORD})
    k.refused(r, "invalid_client", statuses=(400, 401))
    # Not base64 at all: still the token endpoint's answer, not the API key layer's.
    r = env.anon.post(k.TOKEN, headers={"Authorization": "Basic %%%not-base64"},
                      data={"grant_type": "authorization_code", "code": code, "redirect_uri": client.redirect_uri})
    k.refused(r, "invalid_client", "invalid_request", statuses=(400, 401))
    # The client's own id and secret in Basic: neither an unknown API key (401) nor ignored.
    k.issued(k.exchange(env.anon, client, code, verifier, via="basic"))


@pytest.mark.parametrize("via", ["form", "basic"])
def test_secret_guessing_at_the_token_endpoint_is_throttled(env, via):
    client = env.oauth(auth=k.POST if via == "form" else k.BASIC)
    # Each case from its own address: the lock also counts per address.
    attacker = InProcess(env.app, address=f"127.0.0.{77 if via == 'form' else 78}", keep_cookies=False)
    try:
        statuses, deadline = [], time.monotonic() + 60
        for i in range(40):  # the login lock's default is 10 attempts
            guess = k.Client(client.client_id, f"guess-{i}", client.redirect_uris, client.auth)
            fields, headers = guess.credentials()
            r = attacker.post(k.TOKEN, headers=headers, data={
                "grant_type": "authorization_code", "code": "x" * 30, "redirect_uri": client.redirect_uri, **fields})
            statuses.append(r.status_code)
            assert r.status_code in (400, 401, 429) and "access_token" not in r.text, r.text
            if r.status_code == 429 or time.monotonic() > deadline:
                break
        assert statuses[-1] == 429, f"40 wrong secrets, never throttled: {statuses}"
        # Locked means locked: the right secret does not get through either, or guessing would go on.
        code, verifier = fresh_code(env, client)
        fields, headers = client.credentials()
        r = attacker.post(k.TOKEN, headers=headers, data={
            "grant_type": "authorization_code", "code": code, "code_verifier": verifier,
            "redirect_uri": client.redirect_uri, **fields})
        assert r.status_code == 429 and "access_token" not in r.text, r.text
    finally:
        attacker.close()


# ---------------------------------------------------------------- codes and refresh tokens


def test_client_b_cannot_redeem_client_a_code(env):
    a, b = env.oauth(auth=k.POST), env.oauth(auth=k.POST)
    code, verifier = fresh_code(env, a)
    for redirect_uri in (a.redirect_uri, b.redirect_uri):
        r = k.exchange(env.anon, b, code, verifier, redirect_uri=redirect_uri)
        k.refused(r, "invalid_grant", "invalid_client")
    # B's attempts did not spend A's code: A still redeems it, once.
    k.acts_as(env.anon, k.issued(k.exchange(env.anon, a, code, verifier))["access_token"], env.email)
    pub = env.oauth(auth=k.PUBLIC)  # nor by naming A's id as a public client would
    code, verifier = fresh_code(env, pub)
    r = env.anon.post(k.TOKEN, data={"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                                     "redirect_uri": pub.redirect_uri, "client_id": a.client_id})
    k.refused(r, "invalid_grant", "invalid_client")


def test_client_b_cannot_use_client_a_refresh_token(env):
    a, b = env.oauth(auth=k.POST), env.oauth(auth=k.PUBLIC)
    tok = k.issued(k.exchange(env.anon, a, *fresh_code(env, a)))
    for other in (b, env.oauth(auth=k.BASIC)):
        r = k.token(env.anon, other, {"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]})
        k.refused(r, "invalid_grant", "invalid_client")
    # A refresh token names no client by itself: one with no client authentication is refused too.
    r = env.anon.post(k.TOKEN, data={"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]})
    k.refused(r, "invalid_grant", "invalid_client", "invalid_request", statuses=(400, 401))
    new = k.issued(k.token(env.anon, a, {"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]}))
    k.acts_as(env.anon, new["access_token"], env.email)


@pytest.mark.parametrize("sent", ["other registered", "unregistered", "omitted"])
def test_the_token_request_must_name_the_redirect_uri_bound_to_the_code(env, sent):
    one, two = f"http://127.0.0.1:9/one-{k.uid()}", f"http://127.0.0.1:9/two-{k.uid()}"
    client = env.oauth(auth=k.POST, redirect_uris=[one, two])
    code, verifier = fresh_code(env, client, redirect_uri=one)
    redirect_uri = {"other registered": two, "unregistered": one + "/x", "omitted": ""}[sent]
    fields = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier}
    if redirect_uri:
        fields["redirect_uri"] = redirect_uri
    k.refused(k.token(env.anon, client, fields), "invalid_grant", "invalid_request")
    code, verifier = fresh_code(env, client, redirect_uri=two)
    k.issued(k.exchange(env.anon, client, code, verifier, redirect_uri=two))


UNREGISTERED = ["http://127.0.0.1:9/evil", "https://evil.example/cb", "{uri}/more", "{uri}?x=1", "{uri}#f",
                "{uri}/../evil", "http://127.0.0.1:9@evil.example/", "//evil.example/cb", "evil"]


@pytest.mark.parametrize("bad", UNREGISTERED)
def test_authorize_with_an_unregistered_redirect_uri_answers_json_and_never_redirects_there(env, bad):
    client = env.oauth()
    bad = bad.format(uri=client.redirect_uri)
    params = k.authorize_params(client, challenge=k.pkce()[1], redirect_uri=bad)
    r = env.browser.get(k.AUTHORIZE, params=params)
    assert 400 <= r.status_code < 500 and "location" not in r.headers, (r.status_code, r.headers, r.text[:500])
    body = r.json()
    assert {"error", "description", "status_code"} <= set(body) and body["status_code"] == r.status_code, body
    # A forged Allow naming that URI (the honest consent form, the redirect_uri swapped) is refused too.
    html = k.consent_page(env.browser, k.AUTHORIZE, k.authorize_params(client, challenge=k.pkce()[1]))
    form = k.approve_form(html)
    assert form.inputs.get("redirect_uri") == client.redirect_uri, form.inputs
    r = env.browser.post(form.action or k.APPROVE, data={**form.inputs, "redirect_uri": bad})
    assert r.status_code >= 400 and bad not in r.headers.get("location", "") and "code=" not in r.headers.get(
        "location", ""), (r.status_code, r.headers.get("location"), r.text[:500])


def test_approve_needs_the_sessions_csrf_token(env):
    client = env.oauth()
    params = k.authorize_params(client, challenge=k.pkce()[1])
    form = k.approve_form(k.consent_page(env.browser, k.AUTHORIZE, params))
    without = {n: v for n, v in form.inputs.items() if n != "csrf_token"}
    for forged in ({**form.inputs, "csrf_token": "forged"}, without):
        r = env.browser.post(form.action or k.APPROVE, data=forged)
        assert r.status_code in (400, 403) and "code=" not in r.headers.get("location", ""), r.text[:500]
    q = k.redirect_query(env.browser.post(form.action or k.APPROVE, data=form.inputs), client.redirect_uri)
    assert q["code"] and q["state"] == params["state"]


def test_a_reused_code_fails_and_revokes_what_its_first_use_issued(env):
    client = env.oauth(auth=k.POST)
    code, verifier = fresh_code(env, client)
    first = k.issued(k.exchange(env.anon, client, code, verifier))
    k.acts_as(env.anon, first["access_token"], env.email)
    k.refused(k.exchange(env.anon, client, code, verifier), "invalid_grant")
    k.rejected(env.anon, first["access_token"])
    r = k.token(env.anon, client, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    k.refused(r, "invalid_grant")


def test_an_expired_code_is_refused(env):
    client = env.oauth(auth=k.POST)
    code, verifier = fresh_code(env, client)
    env.sql('UPDATE "tabOAuth Authorization Code" SET expiration_time = ? WHERE client = ?',
            ("2000-01-01 00:00:00", client.client_id))
    assert env.one('SELECT count(*) FROM "tabOAuth Authorization Code" WHERE client = ? AND expiration_time < ?',
                   (client.client_id, "2001-01-01 00:00:00"))[0] >= 1
    k.refused(k.exchange(env.anon, client, code, verifier), "invalid_grant")
    k.issued(k.exchange(env.anon, client, *fresh_code(env, client)))


@pytest.mark.parametrize("auth", [k.PUBLIC, k.POST], ids=["public", "secret-post"])
@pytest.mark.parametrize("case", ["wrong verifier", "missing verifier", "the challenge as verifier"])
def test_pkce_verifier_wrong_or_missing_is_refused(env, auth, case):
    client = env.oauth(auth=auth)
    code, verifier = fresh_code(env, client)
    sent = {"wrong verifier": k.pkce()[0], "missing verifier": None,
            "the challenge as verifier": k.s256(verifier)}[case]
    k.refused(k.exchange(env.anon, client, code, sent), "invalid_grant", "invalid_request")
    if case == "missing verifier":  # a code asked for without its verifier is deleted
        k.refused(k.exchange(env.anon, client, code, verifier), "invalid_grant")
    k.issued(k.exchange(env.anon, client, *fresh_code(env, client)))


def test_a_public_client_without_pkce_gets_no_token(env):
    client = env.oauth(auth=k.PUBLIC)
    params = k.authorize_params(client)  # no code_challenge
    r = env.browser.get(k.AUTHORIZE, params=params)
    if r.status_code == 200 and "csrf_token" in r.text:
        r = k.approve(env.browser, r.text)
    if r.status_code in (302, 303):
        q = k.redirect_query(r, client.redirect_uri)  # an error goes to the registered URI only
        if "code" in q:
            k.refused(k.exchange(env.anon, client, q["code"], None), "invalid_grant", "invalid_request")
        else:
            assert q.get("error") == "invalid_request", q
    else:
        assert 400 <= r.status_code < 500, r.text[:500]
    k.issued(k.exchange(env.anon, client, *fresh_code(env, client)))


# ---------------------------------------------------------------- bearer tokens


def password_token(env: World, email: str) -> dict:
    client = env.oauth(auth=k.PUBLIC)
    tok = k.issued(k.token(env.anon, client, {"grant_type": "password", "username": email,
                                              "password": k.PASSWORD, "scope": "all openid"}))
    tok["client"] = client
    return tok


def test_the_token_of_a_disabled_user_is_401(env):
    user = k.new_user(env.admin_c)
    tok = password_token(env, user["email"])
    k.acts_as(env.anon, tok["access_token"], user["email"])
    r = env.admin_c.put(f"/api/resource/User/{user['email']}", json={"enabled": 0})
    assert r.status_code == 200, r.text
    k.rejected(env.anon, tok["access_token"])
    assert env.anon.get("/api/v2/document/ToDo", headers=k.bearer(tok["access_token"])).status_code == 401
    r = k.token(env.anon, tok["client"], {"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]})
    k.refused(r, "invalid_grant")
    r = k.token(env.anon, tok["client"], {"grant_type": "password", "username": user["email"],
                                          "password": k.PASSWORD, "scope": "all"})
    k.refused(r, "invalid_grant")


def test_an_expired_access_token_is_401(env):
    live = password_token(env, env.email)
    k.acts_as(env.anon, live["access_token"], env.email)
    # A token past its expiration time (tokens live an hour: the record is moved back in time
    # before its first use, so no worker holds a check of it yet).
    tok = password_token(env, env.email)
    env.sql('UPDATE "tabOAuth Bearer Token" SET expiration_time = ? WHERE access_token = ?',
            ("2000-01-01 00:00:00", hashlib.sha256(tok["access_token"].encode()).hexdigest()))
    k.rejected(env.anon, tok["access_token"])
    k.acts_as(env.anon, live["access_token"], env.email)
    r = env.anon.post(k.INTROSPECT, data={"token": tok["access_token"]})
    assert r.status_code == 200 and r.json() == {"active": False}, r.text


@pytest.mark.parametrize("credential", ["unknown", "empty-ish", "long"])
def test_an_unknown_bearer_token_is_401(env, credential):
    value = {"unknown": k.pkce()[0], "empty-ish": "x", "long": "y" * 5000}[credential]
    for url in (k.WHO, "/api/resource/ToDo", "/api/v2/document/ToDo", "/api/v2/method/frappe.auth.get_logged_user"):
        r = env.anon.get(url, headers=k.bearer(value))
        assert r.status_code in (401, 417) if credential == "long" else r.status_code == 401, (url, r.text[:300])
    # With a logged-in session an unknown Bearer authenticates nobody and the session's user
    # stays (Frappe's rule: the 401 is for a caller left a Guest).
    with InProcess(env.app) as browser:
        k.login(browser, env.email)
        r = browser.get(k.WHO, headers=k.bearer(value))
        if credential == "long":
            assert r.status_code in (200, 417), r.text[:300]
        else:
            assert r.status_code == 200 and r.json()["message"] == env.email, r.text[:300]


@pytest.mark.parametrize("how", ["deleted", "revoked"])
def test_a_token_an_administrator_deletes_or_revokes_stops_working(env, how):
    tok = password_token(env, env.email)
    k.acts_as(env.anon, tok["access_token"], env.email)
    url = "/api/resource/OAuth Bearer Token"
    r = env.admin_c.get(url, params={"filters": f'[["client", "=", "{tok["client"].client_id}"]]'})
    names = [d["name"] for d in r.json()["data"]]
    assert len(names) == 1, r.text
    r = (env.admin_c.delete(f"{url}/{names[0]}") if how == "deleted"
         else env.admin_c.put(f"{url}/{names[0]}", json={"status": "Revoked"}))
    assert r.status_code in (200, 202), r.text
    k.rejected(env.anon, tok["access_token"])
    r = k.token(env.anon, tok["client"], {"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]})
    k.refused(r, "invalid_grant")


def test_a_bearer_token_overrides_the_cookie_session(env):
    other = k.new_user(env.admin_c)
    tok = password_token(env, other["email"])
    r = env.browser.get(k.WHO, headers=k.bearer(tok["access_token"]))
    assert r.status_code == 200 and r.json()["message"] == other["email"], r.text
    assert env.browser.get(k.WHO).json()["message"] == env.email


def test_a_refresh_token_is_not_an_access_token(env):
    tok = password_token(env, env.email)
    k.rejected(env.anon, tok["refresh_token"])


# ---------------------------------------------------------------- open redirects at /login


REDIRECTS = ["//evil.example", "https://evil.example", "/\\evil.example", "\\\\evil.example", "http:evil.example",
             "/%2F%2Fevil.example", " //evil.example", "https:/evil.example", "javascript:alert(1)//evil.example"]


def _same_site(location: str) -> bool:
    parts = urlsplit(location)
    return (not parts.scheme and not parts.netloc and location.startswith("/") and not location.startswith("//")
            and "\\" not in location)


@pytest.mark.parametrize("target", REDIRECTS)
def test_login_redirect_to_never_leaves_the_site(env, target):
    # A logged-in visitor may be sent on at once; never off the site.
    r = env.browser.get("/login", params={"redirect-to": target})
    if r.status_code in (301, 302, 303, 307, 308):
        assert _same_site(r.headers["location"]), r.headers["location"]
    else:
        assert r.status_code == 200, r.text[:500]
    with InProcess(env.app) as guest:
        r = guest.get("/login", params={"redirect-to": target})
        assert r.status_code == 200 and "text/html" in r.headers["content-type"], r.text[:500]
        page = k.Page(r.text)
        forms = [f for f in page.forms if "password" in f.types.values()]
        assert len(forms) == 1, r.text[:2000]
        form = forms[0]
        # Whatever the page keeps of the target (a hidden field, a link) is a path on this site.
        for value in [*form.inputs.values(), form.action, *page.links]:
            assert EVIL not in value or _same_site(value), f"the login page carries {value!r}"
        data = dict(form.inputs)
        for name, kind in form.types.items():
            if kind == "password":
                data[name] = k.PASSWORD
            elif kind in ("text", "email") and not data.get(name):
                data[name] = env.email
        r = guest.post(form.action or "/login", data=data)
        assert r.status_code in (302, 303), (r.status_code, r.text[:500])
        assert _same_site(r.headers["location"]), r.headers["location"]
        assert guest.get(k.WHO).json()["message"] == env.email  # the login itself worked


# ---------------------------------------------------------------- error shapes (scenario table)


def _client(**kw):
    return lambda env: {"cid": env.oauth(**kw).client_id}


def _text(v) -> bool:
    return isinstance(v, str) and bool(v)


def _is(*values):
    return lambda v: v in values


@scenarios(
    Scenario("no grant_type", "POST", k.TOKEN, user=None, before=_client(auth=k.PUBLIC),
             data={"client_id": "$cid"}, status=400,
             expect={"error": _is("invalid_request", "unsupported_grant_type")}),
    Scenario("unknown grant_type", "POST", k.TOKEN, user=None, before=_client(auth=k.PUBLIC),
             data={"client_id": "$cid", "grant_type": "magic"}, status=400,
             expect={"error": "unsupported_grant_type"}),
    Scenario("unknown client", "POST", k.TOKEN, user=None,
             data={"client_id": "nobody", "grant_type": "authorization_code", "code": "x", "redirect_uri": "http://x/"},
             status=400, expect={"error": "invalid_client"}),
    Scenario("code missing", "POST", k.TOKEN, user=None, before=_client(auth=k.PUBLIC),
             data={"client_id": "$cid", "grant_type": "authorization_code"}, status=400,
             expect={"error": _is("invalid_request", "invalid_grant")}),
    Scenario("unknown code", "POST", k.TOKEN, user=None, before=_client(auth=k.PUBLIC),
             data={"client_id": "$cid", "grant_type": "authorization_code", "code": "nope" * 8,
                   "redirect_uri": "http://127.0.0.1:9/x", "code_verifier": "v" * 43},
             status=400, expect={"error": "invalid_grant"}),
    Scenario("unknown refresh token", "POST", k.TOKEN, user=None, before=_client(auth=k.PUBLIC),
             data={"client_id": "$cid", "grant_type": "refresh_token", "refresh_token": "nope" * 8},
             status=400, expect={"error": "invalid_grant"}),
    Scenario("wrong password", "POST", k.TOKEN, user=None, before=_client(auth=k.PUBLIC),
             data={"client_id": "$cid", "grant_type": "password", "username": "Administrator", "password": "no"},
             status=400, expect={"error": "invalid_grant"}),
    Scenario("revoke unknown token", "POST", k.REVOKE, user=None, data={"token": "nope" * 8}, status=200, expect={}),
    Scenario("introspect unknown token", "POST", k.INTROSPECT, user=None, data={"token": "nope" * 8}, status=200,
             expect={"active": False}),
    Scenario("userinfo as Guest", "GET", k.PROFILE, user=None, status=403),
    Scenario("authorize unknown client", "GET", k.AUTHORIZE, user="admin",
             params={"client_id": "nobody", "response_type": "code", "redirect_uri": "http://127.0.0.1:9/x",
                     "scope": "all", "state": "s"},
             status=400, expect={"error": _text, "description": _text, "status_code": 400}),
)
def test_error_answers(env, scenario):
    scenario.run(env)


def test_authorize_with_a_scope_beyond_the_clients_issues_no_code(env):
    client = env.oauth(scopes="all")
    params = k.authorize_params(client, challenge=k.pkce()[1], scope="all openid")
    r = env.browser.get(k.AUTHORIZE, params=params)
    if r.status_code in (302, 303):  # RFC 6749: to the registered URI, with the error
        assert k.redirect_query(r, client.redirect_uri).get("error") == "invalid_scope", r.headers["location"]
    else:
        assert r.status_code == 400 and r.json()["error"] == "invalid_scope", r.text[:500]


def test_the_password_grant_switched_off_is_refused_and_no_longer_advertised(env):
    settings = "/api/resource/OAuth Settings/OAuth Settings"
    client = env.oauth(auth=k.PUBLIC)
    fields = {"grant_type": "password", "username": env.email, "password": k.PASSWORD, "scope": "all"}
    k.issued(k.token(env.anon, client, fields))
    assert "password" in env.anon.get("/.well-known/oauth-authorization-server").json()["grant_types_supported"]
    assert env.admin_c.put(settings, json={"enable_password_grant": 0}).status_code == 200
    try:
        k.refused(k.token(env.anon, client, fields), "unsupported_grant_type", "unauthorized_client")
        for path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
            assert "password" not in env.anon.get(path).json().get("grant_types_supported", []), path
    finally:
        assert env.admin_c.put(settings, json={"enable_password_grant": 1}).status_code == 200
    k.issued(k.token(env.anon, client, fields))


def test_revoking_the_refresh_token_ends_the_grant(env):
    client = env.oauth(auth=k.PUBLIC)
    tok = k.issued(k.exchange(env.anon, client, *fresh_code(env, client)))
    r = env.anon.post(k.REVOKE, data={"token": tok["refresh_token"], "token_type_hint": "refresh_token"})
    assert r.status_code == 200 and r.json() == {}, r.text
    k.refused(k.token(env.anon, client, {"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]}),
              "invalid_grant")
    k.rejected(env.anon, tok["access_token"])  # one grant, one record: the access token goes with it


def test_a_public_client_refreshes_with_the_refresh_token_alone(env):
    """Frappe's refresh request names only the refresh token (``client_id`` is optional)."""
    client = env.oauth(auth=k.PUBLIC)
    tok = k.issued(k.exchange(env.anon, client, *fresh_code(env, client)))
    new = k.issued(env.anon.post(k.TOKEN, data={"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]}))
    k.acts_as(env.anon, new["access_token"], env.email)


@pytest.mark.parametrize("auth", [k.POST, k.BASIC], ids=["secret-post", "secret-basic"])
@pytest.mark.parametrize("via", ["form", "basic"])
def test_a_confidential_client_may_send_its_secret_either_way(env, auth, via):
    client = env.oauth(auth=auth)
    code, verifier = fresh_code(env, client)
    k.acts_as(env.anon, k.issued(k.exchange(env.anon, client, code, verifier, via=via))["access_token"], env.email)


def test_a_user_without_an_allowed_role_gets_no_token(env):
    role = k.new_role(env.admin_c)
    client = env.oauth(auth=k.PUBLIC)
    r = env.admin_c.put(f"/api/resource/OAuth Client/{client.client_id}", json={"allowed_roles": [{"role": role}]})
    assert r.status_code == 200, r.text
    r = env.browser.get(k.AUTHORIZE, params=k.authorize_params(client, challenge=k.pkce()[1]))
    assert 400 <= r.status_code < 500 and "location" not in r.headers, (r.status_code, r.text[:500])
    assert {"error", "description", "status_code"} <= set(r.json()), r.text
    fields = {"grant_type": "password", "username": env.email, "password": k.PASSWORD, "scope": "all"}
    k.refused(k.token(env.anon, client, fields), "invalid_grant", "unauthorized_client", "access_denied")
    holder = k.new_user(env.admin_c, (role,))
    k.issued(k.token(env.anon, client, {**fields, "username": holder["email"]}))


def test_a_token_whose_scope_the_client_lost_is_401(env):
    tok = password_token(env, env.email)  # scope "all openid"
    k.acts_as(env.anon, tok["access_token"], env.email)
    r = env.admin_c.put(f"/api/resource/OAuth Client/{tok['client'].client_id}", json={"scopes": "all"})
    assert r.status_code == 200, r.text
    k.rejected(env.anon, tok["access_token"])
    narrow = k.issued(k.token(env.anon, tok["client"], {"grant_type": "password", "username": env.email,
                                                        "password": k.PASSWORD, "scope": "all"}))
    k.acts_as(env.anon, narrow["access_token"], env.email)


def test_a_reused_code_also_revokes_the_tokens_refreshed_from_its_first_use(env):
    client = env.oauth(auth=k.PUBLIC)
    code, verifier = fresh_code(env, client)
    first = k.issued(k.exchange(env.anon, client, code, verifier))
    refresh = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    later = k.issued(k.token(env.anon, client, refresh))
    k.acts_as(env.anon, later["access_token"], env.email)
    k.refused(k.exchange(env.anon, client, code, verifier), "invalid_grant")
    k.rejected(env.anon, later["access_token"])
    k.refused(k.token(env.anon, client, {"grant_type": "refresh_token", "refresh_token": later["refresh_token"]}),
              "invalid_grant")


def test_codes_and_tokens_are_kept_as_hashes_and_codes_expire_within_minutes(env):
    from datetime import datetime
    client = env.oauth(auth=k.PUBLIC)
    code, verifier = fresh_code(env, client)
    flt = {"filters": f'[["client", "=", "{client.client_id}"]]', "fields": '["*"]'}
    rows = env.admin_c.get("/api/resource/OAuth Authorization Code", params=flt).json()["data"]
    assert len(rows) == 1 and code not in str(rows), rows
    assert rows[0]["authorization_code"] == hashlib.sha256(code.encode()).hexdigest()
    made, ends = (datetime.fromisoformat(str(rows[0][f])) for f in ("creation", "expiration_time"))
    assert 0 < (ends - made).total_seconds() <= 600, (made, ends)
    tok = k.issued(k.exchange(env.anon, client, code, verifier))
    rows = env.admin_c.get("/api/resource/OAuth Bearer Token", params=flt).json()["data"]
    assert len(rows) == 1 and tok["access_token"] not in str(rows) and tok["refresh_token"] not in str(rows), rows
    assert rows[0]["access_token"] == hashlib.sha256(tok["access_token"].encode()).hexdigest()
