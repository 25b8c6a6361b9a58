"""The implicit and OpenID Connect response types of authorize, both databases.

A client configured for ``Code`` or ``Token`` may also ask for the OpenID Connect types;
tokens and id_tokens come in the redirect's fragment, never in its query. Each answer is
checked for what it must and must not carry, the id_token is verified as a client does
(HS256 with the client secret, the nonce sent), an access token works as a Bearer, and the
code of a hybrid answer exchanges for tokens. A configured type the client may not use is
refused through the redirect.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import jwt
import pytest

from tests.api import oauthkit as k
from tests.conftest import BACKENDS

SECRET = "response-types-secret-0123456789-abcdef"


class World(k.OAuthWorld):
    def start(self) -> "World":
        super().start()
        self.clients = {kind: self._client(kind) for kind in ("Code", "Token")}
        return self

    def _client(self, response_type: str) -> k.Client:
        uri = f"http://127.0.0.1:9/cb-{k.uid()}"
        r = self.admin_c.post("/api/resource/OAuth Client", json={
            "app_name": f"Types {response_type}", "redirect_uris": uri, "default_redirect_uri": uri,
            "skip_authorization": 1, "client_secret": SECRET, "token_endpoint_auth_method": k.POST,
            "grant_type": "Implicit" if response_type == "Token" else "Authorization Code",
            "response_type": response_type})
        assert r.status_code == 200, r.text
        return k.Client(r.json()["data"]["name"], SECRET, [uri], k.POST)


@pytest.fixture(scope="module", params=BACKENDS)
def env(request, tmp_path_factory):
    w = k.open_world(request, tmp_path_factory, "oauth-rt", World)
    yield w
    w.close()


def _authorize(env: World, client: k.Client, response_type: str) -> tuple[dict[str, str], dict[str, str], str]:
    nonce, state = k.uid(), k.uid()
    r = env.browser.get(k.AUTHORIZE, params={"client_id": client.client_id, "response_type": response_type,
                                             "redirect_uri": client.redirect_uri, "scope": "all openid",
                                             "state": state, "nonce": nonce})
    assert r.status_code == 302, r.text
    parts = urlsplit(r.headers["location"])
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == client.redirect_uri, parts
    query = {key: v[0] for key, v in parse_qs(parts.query).items()}
    fragment = {key: v[0] for key, v in parse_qs(parts.fragment).items()}
    assert fragment.get("state", query.get("state")) == state, (query, fragment)
    return query, fragment, nonce


@pytest.mark.parametrize("configured", ["Code", "Token"])
@pytest.mark.parametrize("response_type, has", [
    ("id_token", {"id_token"}),
    ("id_token token", {"id_token", "access_token"}),
    ("code id_token", {"id_token", "code"}),
    ("code token id_token", {"id_token", "code", "access_token"}),
])
def test_openid_response_types(env, configured, response_type, has):
    client = env.clients[configured]
    query, fragment, nonce = _authorize(env, client, response_type)
    assert not {"code", "access_token", "id_token"} & set(query), "credentials never go in the query"
    assert {key for key in ("id_token", "code", "access_token") if key in fragment} == has, fragment
    claims = jwt.decode(fragment["id_token"], audience=client.client_id, key=SECRET, algorithms=["HS256"])
    assert claims["nonce"] == nonce and claims["sub"] == env.email and claims["email"] == env.email, claims
    if "access_token" in has:
        k.acts_as(env.anon, fragment["access_token"], env.email)
    if "code" in has:
        tok = k.issued(k.exchange(env.anon, client, fragment["code"], None))
        k.acts_as(env.anon, tok["access_token"], env.email)


def test_implicit_token(env):
    client = env.clients["Token"]
    query, fragment, _ = _authorize(env, client, "token")
    assert not query.get("access_token") and fragment["token_type"] == "Bearer", (query, fragment)
    assert "refresh_token" not in fragment and "id_token" not in fragment, fragment
    k.acts_as(env.anon, fragment["access_token"], env.email)


@pytest.mark.parametrize("configured, asked", [("Token", "code"), ("Code", "token")])
def test_a_type_the_client_is_not_configured_for_is_refused(env, configured, asked):
    client = env.clients[configured]
    r = env.browser.get(k.AUTHORIZE, params={"client_id": client.client_id, "response_type": asked,
                                             "redirect_uri": client.redirect_uri, "scope": "all", "state": "s1"})
    assert r.status_code == 302, r.text
    location = r.headers["location"]
    assert "error=unauthorized_client" in location and "access_token" not in location \
        and "code=" not in location, location
