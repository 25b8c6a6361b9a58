"""The OAuth2 / OpenID Connect walk with a real OAuth2 client library against a served site.

authlib's httpx ``OAuth2Client`` drives the protocol side (authorization URL with PKCE S256,
code exchange, refresh, revoke, introspect, userinfo) on the endpoints the discovery document
names; a user's browser is an httpx session that logs in and clicks Allow on the consent page
(the form's hidden fields and CSRF token, as a browser posts them). The id_token is verified with
PyJWT exactly as the seed does (HS256 with the client secret), and again through the published
JWKS (RS256). The site runs as ``ristretto serve`` on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import time
import warnings
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

with warnings.catch_warnings():  # authlib 1.9 asks for httpx2 (not released in our index); httpx still works
    warnings.simplefilter("ignore")
    from authlib.integrations.httpx_client import OAuth2Client

from tests.api import oauthkit as k


@pytest.fixture(scope="module")
def world(server):
    """Administrator's client, a role, a user holding it and that user's logged-in browser."""
    admin = server.admin()
    role = k.new_role(admin)
    user = k.new_user(admin, (role,))
    browser = server.client()
    k.login(browser, user["email"])
    anon = server.client()
    meta = anon.get("/.well-known/openid-configuration")
    assert meta.status_code == 200, meta.text
    yield {"admin": admin, "role": role, "user": user, "browser": browser, "anon": anon, "meta": meta.json(),
           "srv": server}
    for c in (admin, browser, anon):
        c.close()


def oauth_client(w, client: k.Client, **kw) -> OAuth2Client:
    method = {k.POST: "client_secret_post", k.BASIC: "client_secret_basic"}.get(client.auth, "none")
    return OAuth2Client(client_id=client.client_id, client_secret=client.secret, token_endpoint_auth_method=method,
                        scope="all openid", redirect_uri=client.redirect_uri, code_challenge_method="S256",
                        timeout=30, **kw)


def authorized(w, oc: OAuth2Client, client: k.Client, nonce: str) -> dict:
    """The authorization-code walk: authlib's URL, consent, Allow, authlib's exchange with PKCE."""
    verifier = k.pkce()[0]
    url, state = oc.create_authorization_url(w["meta"]["authorization_endpoint"], code_verifier=verifier,
                                             nonce=nonce)
    assert "code_challenge=" in url and "code_challenge_method=S256" in url
    r = k.approve(w["browser"], k.consent_page(w["browser"], url))
    q = k.redirect_query(r, client.redirect_uri)
    assert q["state"] == state and q["code"], q
    tok = oc.fetch_token(w["meta"]["token_endpoint"], authorization_response=r.headers["location"], state=state,
                         code_verifier=verifier)
    assert tok["token_type"].lower() == "bearer" and tok["access_token"] and tok["refresh_token"], tok
    assert tok["expires_in"] == 3600 and set(tok["scope"].split()) == {"all", "openid"}, tok
    assert tok.get("id_token"), "openid was asked for: the answer carries an id_token"
    return tok


def check_claims(w, payload: dict, client: k.Client, nonce: str, access_token: str | None = None) -> None:
    user, now = w["user"], time.time()
    assert payload["aud"] == client.client_id
    assert payload["iss"] == w["meta"]["issuer"] == w["srv"].base_url
    assert payload["sub"], payload
    assert payload["nonce"] == nonce
    assert payload["email"] == user["email"]
    assert payload["name"] == f"{user['first_name']} {user['last_name']}"
    assert w["role"] in payload["roles"], payload
    assert now - 120 <= payload["iat"] <= now + 5 and payload["exp"] > now, payload
    if access_token and "at_hash" in payload:
        import base64
        import hashlib
        half = hashlib.sha256(access_token.encode()).digest()[:16]
        assert payload["at_hash"] == base64.urlsafe_b64encode(half).rstrip(b"=").decode()


def test_discovery_documents_are_absolute_and_name_the_working_endpoints(world):
    srv, anon, base = world["srv"], world["anon"], world["srv"].base_url
    oidc = world["meta"]
    rfc8414 = anon.get("/.well-known/oauth-authorization-server")
    assert rfc8414.status_code == 200, rfc8414.text
    rfc8414 = rfc8414.json()
    for doc in (oidc, rfc8414):
        assert doc["issuer"] == base
        for key, method in (("authorization_endpoint", "authorize"), ("token_endpoint", "get_token"),
                            ("revocation_endpoint", "revoke_token"), ("userinfo_endpoint", "openid_profile")):
            assert doc[key] == f"{base}{k.M}{method}", (key, doc[key])
        assert "registration_endpoint" not in doc, "dynamic registration is off by default"
        assert "code" in doc["response_types_supported"]
    assert oidc["introspection_endpoint"] == f"{base}{k.INTROSPECT}"
    assert {"HS256", "RS256"} <= set(oidc["id_token_signing_alg_values_supported"])
    assert "S256" in rfc8414["code_challenge_methods_supported"]
    assert {"authorization_code", "refresh_token"} <= set(rfc8414["grant_types_supported"])
    # Every method the token endpoint accepts is advertised (public, Basic and form secrets).
    methods = set(rfc8414["token_endpoint_auth_methods_supported"])
    assert {"none", "client_secret_basic", "client_secret_post"} <= methods
    jwks_uri = oidc["jwks_uri"]
    assert jwks_uri.startswith(base + "/")
    keys = httpx.get(jwks_uri, timeout=30).json()["keys"]
    assert keys and all(key["kty"] == "RSA" and key.get("kid") for key in keys), keys
    assert not any(set(key) & {"d", "p", "q", "dp", "dq", "qi"} for key in keys), "private key parts published"
    with srv.client() as c:
        assert c.get("/.well-known/jwks.json").json() == {"keys": keys}


def test_guest_authorize_goes_to_login_and_comes_back(world):
    client = k.new_client(world["admin"])
    params = k.authorize_params(client, challenge=k.pkce()[1])
    with world["srv"].client() as guest:
        r = guest.get(k.AUTHORIZE, params=params)
        assert r.status_code == 302, r.text
        loc = urlsplit(r.headers["location"])
        assert not loc.scheme and not loc.netloc and loc.path == "/login", r.headers["location"]
        back = parse_qs(loc.query)["redirect-to"][0]
        assert back.startswith(k.AUTHORIZE + "?")
        assert {k2: v[0] for k2, v in parse_qs(urlsplit(back).query).items()} == params
        k.login(guest, world["user"]["email"])
        html = k.consent_page(guest, back)
    assert client.app_name in html, "the consent page names the app"


def test_the_whole_walk_with_authlib_and_an_hs256_id_token(world, tmp_path):
    """Authorize, consent, code, token (PKCE S256), Bearer on v1, v2 and files, refresh with
    rotation, revoke, introspect, userinfo, id_token verified exactly as the seed does."""
    w, meta, email = world, world["meta"], world["user"]["email"]
    client = k.new_client(w["admin"], auth=k.POST, alg="HS256")
    assert k.stored_secret(w["admin"], client.client_id) == client.secret
    nonce = k.uid()
    with oauth_client(w, client, base_url=w["srv"].base_url) as oc:
        tok = authorized(w, oc, client, nonce)
        access = tok["access_token"]

        # The seed's verification, word for word (algorithms as a list: PyJWT 2's keyword).
        payload = jwt.decode(tok["id_token"], audience=client.client_id, key=client.secret, algorithms=["HS256"])
        assert jwt.get_unverified_header(tok["id_token"])["alg"] == "HS256"
        check_claims(w, payload, client, nonce, access)

        # Bearer on v1, v2, RPC and files, as the token's user (authlib adds the header itself).
        # (A user without a ToDo role of their own handles the ToDos allocated to them.)
        assert oc.get(k.WHO).json()["message"] == email
        anon = w["anon"]
        assert anon.get("/api/v2/method/frappe.auth.get_logged_user", headers=k.bearer(access)).json()["data"] == email
        mark = k.uid()
        r = anon.post("/api/resource/ToDo", json={"description": f"v1 {mark}", "allocated_to": email},
                      headers=k.bearer(access))
        assert r.status_code == 200 and r.json()["data"]["owner"] == email, r.text
        r = anon.post("/api/v2/document/ToDo", json={"description": f"v2 {mark}", "allocated_to": email},
                      headers=k.bearer(access))
        assert r.status_code in (200, 201) and r.json()["data"]["owner"] == email, r.text
        listed = anon.get("/api/resource/ToDo", params={"fields": '["description"]', "limit_page_length": 0},
                          headers=k.bearer(access)).json()["data"]
        assert {f"v1 {mark}", f"v2 {mark}"} <= {d["description"] for d in listed}
        listed = anon.get("/api/v2/document/ToDo", params={"fields": '["description"]', "limit": 1000},
                          headers=k.bearer(access)).json()["data"]
        assert {f"v1 {mark}", f"v2 {mark}"} <= {d["description"] for d in listed}
        r = anon.post("/api/method/upload_file", headers=k.bearer(access), data={"is_private": "1"},
                      files={"file": (f"oauth-{mark}.txt", b"bearer file body")})
        assert r.status_code == 200, r.text
        file_url = r.json()["message"]["file_url"]
        assert file_url.startswith("/private/files/")
        assert anon.get(file_url, headers=k.bearer(access)).content == b"bearer file body"
        with w["srv"].client() as guest:
            assert guest.get(file_url).status_code == 403

        # userinfo: the seed's fields.
        info = oc.get(meta["userinfo_endpoint"])
        assert info.status_code == 200, info.text
        info = info.json()
        assert {"sub", "name", "given_name", "family_name", "email", "picture", "roles", "iss"} <= set(info), info
        assert info["email"] == email and info["given_name"] == "Ada"
        assert info["family_name"] == w["user"]["last_name"] and info["sub"] == payload["sub"]
        assert info["iss"] == meta["issuer"] and w["role"] in info["roles"]

        # introspect: active with the seed's fields.
        r = oc.introspect_token(meta["introspection_endpoint"], token=access)
        assert r.status_code == 200, r.text
        seen = r.json()
        assert seen["active"] is True and seen["client_id"] == client.client_id, seen
        assert set(seen["scope"].split()) == {"all", "openid"} and seen["exp"] > time.time()
        assert {"trusted_client", "sub", "name", "given_name", "family_name", "email", "picture", "roles",
                "iss"} <= set(seen), seen
        assert seen["email"] == email and seen["sub"] == payload["sub"]

        # refresh: a new pair; the old refresh token is spent (rotation).
        old_refresh = tok["refresh_token"]
        new = oc.refresh_token(meta["token_endpoint"], refresh_token=old_refresh)
        assert new["access_token"] not in (access, None) and new["refresh_token"] not in (old_refresh, None), new
        k.acts_as(anon, new["access_token"], email)
        again = anon.post(k.TOKEN, data={"grant_type": "refresh_token", "refresh_token": old_refresh,
                                         "client_id": client.client_id, "client_secret": client.secret})
        k.refused(again, "invalid_grant")

        # revoke: the token no longer works, introspection says inactive.
        r = oc.revoke_token(meta["revocation_endpoint"], token=new["access_token"], token_type_hint="access_token")
        assert r.status_code == 200 and r.json() == {}, r.text
        k.rejected(anon, new["access_token"])
        r = oc.introspect_token(meta["introspection_endpoint"], token=new["access_token"])
        assert r.status_code == 200 and r.json()["active"] is False, r.text


def test_an_rs256_id_token_verifies_through_the_jwks(world):
    w, meta = world, world["meta"]
    client = k.new_client(w["admin"], auth=k.BASIC, alg="RS256")
    nonce = k.uid()
    with oauth_client(w, client) as oc:
        tok = authorized(w, oc, client, nonce)
    id_token = tok["id_token"]
    header = jwt.get_unverified_header(id_token)
    assert header["alg"] == "RS256" and header.get("kid"), header
    key = jwt.PyJWKClient(meta["jwks_uri"]).get_signing_key_from_jwt(id_token)
    payload = jwt.decode(id_token, key.key, algorithms=["RS256"], audience=client.client_id, issuer=meta["issuer"])
    check_claims(w, payload, client, nonce, tok["access_token"])
    with pytest.raises(jwt.InvalidTokenError):  # not an HMAC token: the secret verifies nothing
        jwt.decode(id_token, audience=client.client_id, key=client.secret, algorithms=["HS256"])
    k.acts_as(w["anon"], tok["access_token"], w["user"]["email"])


def test_a_public_client_with_pkce_gets_an_rs256_id_token(world):
    w, meta = world, world["meta"]
    client = k.new_client(w["admin"], auth=k.PUBLIC)
    nonce = k.uid()
    with oauth_client(w, client) as oc:
        tok = authorized(w, oc, client, nonce)
        new = oc.refresh_token(meta["token_endpoint"], refresh_token=tok["refresh_token"])
    assert jwt.get_unverified_header(tok["id_token"])["alg"] == "RS256"
    key = jwt.PyJWKClient(meta["jwks_uri"]).get_signing_key_from_jwt(tok["id_token"])
    check_claims(w, jwt.decode(tok["id_token"], key.key, algorithms=["RS256"], audience=client.client_id), client,
                 nonce, tok["access_token"])
    k.acts_as(w["anon"], new["access_token"], w["user"]["email"])


def test_a_client_made_the_frappe_way_signs_hs256_with_the_secret_an_admin_reads(world):
    """A client created without an auth method (as every Frappe client is) logs in with its id
    and PKCE; its id_token verifies, exactly as the seed does, with the secret an administrator
    reads through ``frappe.client.get_password``."""
    w = world
    client = k.new_client(w["admin"], auth="")
    secret = k.stored_secret(w["admin"], client.client_id)
    assert secret
    nonce = k.uid()
    with oauth_client(w, client) as oc:
        tok = authorized(w, oc, client, nonce)
    payload = jwt.decode(tok["id_token"], audience=client.client_id, key=secret, algorithms=["HS256"])
    check_claims(w, payload, client, nonce, tok["access_token"])


def test_password_grant_for_a_public_client(world):
    w, email = world, world["user"]["email"]
    client = k.new_client(w["admin"], auth=k.PUBLIC)
    with oauth_client(w, client) as oc:
        tok = oc.fetch_token(w["meta"]["token_endpoint"], grant_type="password", username=email,
                             password=k.PASSWORD, scope="all openid")
    assert tok["access_token"] and tok["refresh_token"] and tok["expires_in"] == 3600, tok
    k.acts_as(w["anon"], tok["access_token"], email)
    r = k.token(w["anon"], client, {"grant_type": "password", "username": email, "password": "wrong-password",
                                    "scope": "all"})
    k.refused(r, "invalid_grant")


def test_the_seeds_pkce_vector(world):
    """verifier ``420`` <-> challenge ``21XaP8MJ...``: Frappe clients written from the seed send it."""
    assert k.s256(k.SEED_VERIFIER) == k.SEED_CHALLENGE
    client = k.new_client(world["admin"], auth=k.PUBLIC)
    code, _ = k.get_code(world["browser"], client, challenge=k.SEED_CHALLENGE)
    tok = k.issued(k.exchange(world["anon"], client, code, k.SEED_VERIFIER))
    k.acts_as(world["anon"], tok["access_token"], world["user"]["email"])


def test_plain_pkce_is_what_discovery_says(world):
    methods = set(world["anon"].get("/.well-known/oauth-authorization-server").json()
                  ["code_challenge_methods_supported"])
    client = k.new_client(world["admin"], auth=k.POST)
    verifier = k.pkce()[0]
    params = k.authorize_params(client, challenge=verifier, method="plain")
    r = world["browser"].get(k.AUTHORIZE, params=params)
    if "plain" in methods:
        code = k.redirect_query(k.approve(world["browser"], k.consent_page(world["browser"], k.AUTHORIZE, params)),
                                client.redirect_uri)["code"]
        k.issued(k.exchange(world["anon"], client, code, verifier))
    else:
        # Refused at authorize (an error, never a code) when the method is not advertised.
        assert r.status_code != 200 or "csrf_token" not in r.text, r.text[:1000]
        if r.status_code in (302, 303):
            assert "code=" not in r.headers["location"] and "error=" in r.headers["location"]


def test_deny_redirects_with_access_denied(world):
    client = k.new_client(world["admin"])
    params = k.authorize_params(client, challenge=k.pkce()[1])
    browser = world["browser"]
    html = k.consent_page(browser, k.AUTHORIZE, params)
    page, allow = k.Page(html), k.approve_form(html)
    targets = [("get", href, {}) for href in page.links]
    targets += [(f.method, f.action, {**f.inputs, **dict(b for b in f.buttons if b[0])})
                for f in page.forms if f is not allow]
    targets += [("post", allow.action, {**allow.inputs, b[0]: b[1]}) for b in allow.buttons
                if b[0] and "deny" in (b[0] + b[1]).lower()]
    denied = []
    for method, url, data in targets:
        if url.startswith(client.redirect_uri):
            q = parse_qs(urlsplit(url).query)
        elif url.startswith("/"):
            r = browser.post(url, data=data) if method == "post" else browser.get(url)
            if r.status_code not in (302, 303) or not r.headers["location"].startswith(client.redirect_uri):
                continue
            q = parse_qs(urlsplit(r.headers["location"]).query)
        else:
            continue
        if q.get("error") == ["access_denied"]:
            assert q.get("state") == [params["state"]] and "code" not in q, q
            denied.append(url)
    assert denied, f"no Deny on the consent page leads to {client.redirect_uri}?error=access_denied: {targets}"


def test_skip_authorization_redirects_straight_with_a_code(world):
    client = k.new_client(world["admin"], skip=1)
    verifier, challenge = k.pkce()
    params = k.authorize_params(client, challenge=challenge)
    q = k.redirect_query(world["browser"].get(k.AUTHORIZE, params=params), client.redirect_uri)
    assert q["state"] == params["state"]
    k.acts_as(world["anon"], k.issued(k.exchange(world["anon"], client, q["code"], verifier))["access_token"],
              world["user"]["email"])


@pytest.mark.parametrize("prefix", ["/api/v1/method/", "/api/v2/method/"])
def test_the_endpoints_answer_under_v1_and_v2_unwrapped(world, prefix):
    client = k.new_client(world["admin"], auth=k.POST)
    verifier, challenge = k.pkce()
    code, _ = k.get_code(world["browser"], client, challenge=challenge)
    anon = world["anon"]
    fields, _ = client.credentials()
    r = anon.post(prefix + "frappe.integrations.oauth2.get_token",
                  data={"grant_type": "authorization_code", "code": code, "redirect_uri": client.redirect_uri,
                        "code_verifier": verifier, **fields})
    tok = k.issued(r)
    r = anon.post(prefix + "frappe.integrations.oauth2.introspect_token", data={"token": tok["access_token"]})
    assert r.status_code == 200 and r.json()["active"] is True, r.text
    r = anon.get(prefix + "frappe.integrations.oauth2.openid_profile", headers=k.bearer(tok["access_token"]))
    assert r.status_code == 200 and r.json()["email"] == world["user"]["email"], r.text
    r = anon.post(prefix + "frappe.integrations.oauth2.revoke_token", data={"token": tok["access_token"]})
    assert r.status_code == 200 and r.json() == {}, r.text
    k.rejected(anon, tok["access_token"])
