"""Dynamic client registration (RFC 7591, ``frappe.integrations.oauth2.register_client``), both databases.

Off on a fresh site (404, and no ``registration_endpoint`` in either discovery document); once
an administrator switches it on in OAuth Settings, an application registers itself anonymously
and walks the code flow with the client it got: a public one with PKCE (and not without), a
confidential one with the secret it was given once. Metadata outside what may be registered
is a 400 with RFC 7591's error codes, and creates nothing.
"""

from __future__ import annotations

import pytest

from tests.api import oauthkit as k
from tests.conftest import BACKENDS

REGISTER = k.M + "register_client"
DOCS = ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server")
CALLBACK = "http://127.0.0.1:9876/callback"


class World(k.OAuthWorld):
    def switch(self, on: bool) -> None:
        r = self.admin_c.put("/api/resource/OAuth Settings/OAuth Settings",
                             json={"enable_dynamic_client_registration": int(on)})
        assert r.status_code == 200, r.text

    def clients(self) -> int:
        r = self.admin_c.get("/api/method/frappe.client.get_count", params={"doctype": "OAuth Client"})
        return r.json()["message"]


@pytest.fixture(scope="module", params=BACKENDS)
def env(request, tmp_path_factory):
    w = k.open_world(request, tmp_path_factory, "oauth-reg", World)
    yield w
    w.close()


def _register(env: World, **metadata):
    body = {"client_name": "frappectl", "redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
            "scope": "openid all", **metadata}
    return env.anon.post(REGISTER, json=body)


def test_off_by_default(env):
    env.switch(False)
    r = _register(env)
    assert r.status_code == 404, r.text
    for doc in DOCS:
        assert "registration_endpoint" not in env.anon.get(doc).json()


def test_a_public_client_registers_and_walks_the_code_flow_with_pkce(env):
    env.switch(True)
    for doc in DOCS:
        meta = env.anon.get(doc).json()
        assert meta["registration_endpoint"].endswith("/api/method/" + REGISTER.rsplit("/", 1)[1]), meta
        assert meta["registration_endpoint"].startswith("http"), meta
    r = _register(env)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["client_id"] and "client_secret" not in body and body["token_endpoint_auth_method"] == "none"
    assert body["redirect_uris"] == [CALLBACK] and body["scope"] == "openid all", body
    client = k.Client(body["client_id"], None, [CALLBACK], k.PUBLIC)
    # Without PKCE its code buys nothing.
    code, _ = k.get_code(env.browser, client)
    k.refused(k.exchange(env.anon, client, code, None), "invalid_request", "invalid_grant")
    verifier, challenge = k.pkce()
    code, _ = k.get_code(env.browser, client, challenge=challenge)
    tok = k.issued(k.exchange(env.anon, client, code, verifier))
    k.acts_as(env.anon, tok["access_token"], env.email)


def test_a_confidential_client_gets_its_secret_once(env):
    env.switch(True)
    r = _register(env, client_name="Server App", token_endpoint_auth_method="client_secret_basic",
                  redirect_uris=["https://app.example/cb"])
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["client_secret"] and body["client_secret_expires_at"] == 0, body
    client = k.Client(body["client_id"], body["client_secret"], ["https://app.example/cb"], k.BASIC)
    code, _ = k.get_code(env.browser, client)
    tok = k.issued(k.exchange(env.anon, client, code, None))
    k.acts_as(env.anon, tok["access_token"], env.email)
    # The secret is required: the client_id alone is refused.
    code, _ = k.get_code(env.browser, client)
    k.refused(k.exchange(env.anon, client, code, None, via="none"), "invalid_client", statuses=(400, 401))


@pytest.mark.parametrize("metadata, error", [
    ({"redirect_uris": []}, "invalid_redirect_uri"),
    ({"redirect_uris": "http://127.0.0.1:9876/callback"}, "invalid_client_metadata"),
    ({"redirect_uris": ["javascript:alert(1)"]}, "invalid_redirect_uri"),
    ({"redirect_uris": ["https://app.example/cb#frag"]}, "invalid_redirect_uri"),
    ({"redirect_uris": [f"https://app.example/{i}" for i in range(11)]}, "invalid_redirect_uri"),
    ({"grant_types": ["password"]}, "invalid_client_metadata"),
    ({"grant_types": ["authorization_code", "client_credentials"]}, "invalid_client_metadata"),
    ({"response_types": ["token"]}, "invalid_client_metadata"),
    ({"scope": "all admin"}, "invalid_client_metadata"),
    ({"token_endpoint_auth_method": "private_key_jwt"}, "invalid_client_metadata"),
    ({"client_name": "x" * 500}, "invalid_client_metadata"),
])
def test_metadata_outside_what_may_be_registered_is_a_400(env, metadata, error):
    env.switch(True)
    before = env.clients()
    r = _register(env, **metadata)
    assert r.status_code == 400 and r.json() == {"error": error, "error_description": r.json()["error_description"]}, r.text
    assert env.clients() == before


def test_a_body_that_is_not_an_object_is_a_400(env):
    env.switch(True)
    r = env.anon.post(REGISTER, json=["not", "an", "object"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_client_metadata", r.text
