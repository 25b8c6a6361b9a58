"""OAuth Settings ``skip_authorization`` (Force / Auto) and a client's own ``skip_authorization``, both databases.

Force (the default) shows the consent page on every authorize; Auto skips it while the user
holds a live token of that client (and shows it again once that token is revoked); a client
marked ``skip_authorization`` never shows it.
"""

from __future__ import annotations

import pytest

from tests.api import oauthkit as k
from tests.conftest import BACKENDS

SETTINGS = "/api/resource/OAuth Settings/OAuth Settings"


@pytest.fixture(scope="module", params=BACKENDS)
def env(request, tmp_path_factory):
    w = k.open_world(request, tmp_path_factory, "oauth-settings")
    yield w
    w.close()


def _mode(env, mode: str) -> None:
    r = env.admin_c.put(SETTINGS, json={"skip_authorization": mode})
    assert r.status_code == 200 and r.json()["data"]["skip_authorization"] == mode, r.text


def _authorize(env, client: k.Client):
    return env.browser.get(k.AUTHORIZE, params=k.authorize_params(client, scope="all"))


def _token(env, client: k.Client) -> dict:
    code, _ = k.get_code(env.browser, client, scope="all")
    return k.issued(k.exchange(env.anon, client, code, None))


def test_force_asks_every_time(env):
    _mode(env, "Force")
    client = env.oauth(auth=k.POST)
    _token(env, client)
    r = _authorize(env, client)
    assert r.status_code == 200 and "text/html" in r.headers["content-type"], r.text[:300]


def test_auto_skips_consent_while_a_live_token_exists(env):
    _mode(env, "Auto")
    try:
        client = env.oauth(auth=k.POST)
        r = _authorize(env, client)
        assert r.status_code == 200 and "text/html" in r.headers["content-type"], "no token yet: consent"
        tok = _token(env, client)
        r = _authorize(env, client)
        q = k.redirect_query(r, client.redirect_uri)
        assert q.get("code"), q
        # The code works like one given through the consent page.
        second = k.issued(k.exchange(env.anon, client, q["code"], None))
        k.acts_as(env.anon, second["access_token"], env.email)
        other = env.oauth(auth=k.POST)  # a token of one client says nothing about another
        assert _authorize(env, other).status_code == 200
        for t in (tok, second):
            assert env.anon.post(k.REVOKE, data={"token": t["refresh_token"]}).status_code == 200
        r = _authorize(env, client)
        assert r.status_code == 200 and "text/html" in r.headers["content-type"], "no live token: consent again"
    finally:
        _mode(env, "Force")


def test_a_client_marked_skip_authorization_never_asks(env):
    _mode(env, "Force")
    client = env.oauth(auth=k.POST, skip=1)
    r = _authorize(env, client)
    q = k.redirect_query(r, client.redirect_uri)
    k.acts_as(env.anon, k.issued(k.exchange(env.anon, client, q["code"], None))["access_token"], env.email)
