"""``ristretto rotate-oauth-key``: RS256 id_tokens are signed with a new key from the moment the
command commits, in a worker that is already serving (the key version moves), while the JWKS
keeps publishing the retired public key for ``--keep-days`` so tokens signed just before still
verify; past that window the retired key is no longer published. Both databases, the command run
as a separate process beside the in-process worker."""

from __future__ import annotations

import json
import time

import jwt
import pytest

from ristretto.auth.oauth import keys
from tests.api import oauthkit as k
from tests.conftest import BACKENDS, run_cli

JWKS = "/.well-known/jwks.json"


@pytest.fixture(scope="module", params=BACKENDS)
def env(request, tmp_path_factory):
    w = k.open_world(request, tmp_path_factory, "oauth-keys")
    yield w
    w.close()


def _id_token(env, client: k.Client) -> str:
    verifier, challenge = k.pkce()
    code, _ = k.get_code(env.browser, client, challenge=challenge, nonce=k.uid())
    return k.issued(k.exchange(env.anon, client, code, verifier))["id_token"]


def _published(env) -> dict[str, dict]:
    r = env.anon.get(JWKS)
    assert r.status_code == 200, r.text
    return {key["kid"]: key for key in r.json()["keys"]}


def _verifies(token: str, published: dict[str, dict], client: k.Client) -> bool:
    kid = jwt.get_unverified_header(token)["kid"]
    if kid not in published:
        return False
    key = jwt.PyJWK(published[kid]).key
    return jwt.decode(token, key, algorithms=["RS256"], audience=client.client_id)["aud"] == client.client_id


def _rotate(env, *args: str) -> dict:
    out = run_cli("--site", str(env.site.path), "rotate-oauth-key", *args).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_rotation_signs_with_the_new_key_and_keeps_the_old_one_published(env):
    client = env.oauth(auth=k.PUBLIC, alg="RS256")
    first = _id_token(env, client)
    first_kid = jwt.get_unverified_header(first)["kid"]
    assert set(_published(env)) >= {first_kid}

    rotated = _rotate(env)
    assert rotated["retired_kid"] == first_kid and rotated["kid"] != first_kid
    assert rotated["published_until"] > time.time() + 6 * 86400
    published = _published(env)
    assert {rotated["kid"], first_kid} <= set(published)
    assert _verifies(first, published, client)  # signed before the rotation: still verifies

    second = _id_token(env, client)  # this worker signs with the new key at once
    assert jwt.get_unverified_header(second)["kid"] == rotated["kid"]
    assert _verifies(second, published, client)

    # Without a grace period the key just retired is gone from the JWKS at once; the one
    # retired before keeps its own window.
    again = _rotate(env, "--keep-days", "0")
    assert again["retired_kid"] == rotated["kid"] and again["published_until"] is None
    published = _published(env)
    assert set(published) == {again["kid"], first_kid}
    assert not _verifies(second, published, client)
    third = _id_token(env, client)
    assert jwt.get_unverified_header(third)["kid"] == again["kid"] and _verifies(third, published, client)

    # Past its window a retired key is no longer published.
    with env.site.admin() as ctx:
        later = keys.jwks(ctx)
        assert {key["kid"] for key in later["keys"]} == {again["kid"], first_kid}
        assert keys._retired(ctx, time.time() + 8 * 86400) == []


def test_the_private_key_never_reaches_the_jwks(env):
    for key in _published(env).values():
        assert key["kty"] == "RSA" and key["use"] == "sig" and key["alg"] == "RS256"
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key), "private parts published"


def test_a_negative_grace_period_is_refused(env):
    r = run_cli("--site", str(env.site.path), "rotate-oauth-key", "--keep-days", "-1", check=False)
    assert r.returncode != 0 and "keep-days" in (r.stderr + r.stdout)
