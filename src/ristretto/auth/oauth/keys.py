"""The site's RSA key for RS256 id_tokens, and the JWKS that publishes its public half.

Made once by ``new-site`` or ``migrate`` (which run alone, so no two workers race to make
one) and kept in ``__Auth`` encrypted with the site key; its ``kid`` is the RFC 7638
thumbprint. A key is loaded once per process, site key and key version.

``ristretto rotate-oauth-key`` (:func:`rotate`) replaces it: id_tokens are signed with the new
key at once, in every worker (the ``oauth_keys_version`` token moves), while the JWKS keeps
publishing the retired public keys for ``keep_days`` so that tokens signed just before still
verify at clients that fetch the JWKS again on an unknown ``kid``.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

from joserfc.jwk import RSAKey

from ristretto.db import state
from ristretto.db.dialects import quote
from ristretto.model import passwords

if TYPE_CHECKING:
    from ristretto.model.context import Context

_AUTH = quote("__Auth")
_WHERE = "doctype = 'OAuth Settings' AND name = 'OAuth Settings' AND fieldname = 'rsa_signing_key'"
_RETIRED = "doctype = 'OAuth Settings' AND name = 'OAuth Settings' AND fieldname = 'rsa_retired_keys'"
VERSION = "oauth_keys_version"   # moves when the signing key is replaced (db.state)
# Days a retired public key stays in the JWKS (id_tokens live an hour; clients cache JWKS).
KEEP_DAYS = 7
_loaded: dict[tuple[str, str | None], RSAKey] = {}


def ensure(ctx: "Context") -> bool:
    """Make the site's signing key if it has none; True when one was made."""
    if ctx.db.value(f"SELECT 1 FROM {_AUTH} WHERE {_WHERE}") is not None:
        return False
    key = RSAKey.generate_key(2048, private=True)
    pem = key.as_pem(private=True).decode()
    ctx.db.execute(f"INSERT INTO {_AUTH} (doctype, name, fieldname, password, encrypted) "
                   f"VALUES ('OAuth Settings', 'OAuth Settings', 'rsa_signing_key', ?, 0)",
                   (passwords.encrypt(pem, passwords.site_key(ctx)),))
    return True


def signing_key(ctx: "Context") -> RSAKey:
    site_key = passwords.site_key(ctx)
    cache_key = (site_key, state.value(ctx.db, VERSION))
    key = _loaded.get(cache_key)
    if key is None:
        stored = ctx.db.value(f"SELECT password FROM {_AUTH} WHERE {_WHERE}")
        if stored is None:
            raise passwords.EncryptionKeyError("The site has no OAuth signing key: run 'ristretto migrate'",
                                               title="Missing key")
        key = RSAKey.import_key(passwords.decrypt(stored, site_key))
        key.ensure_kid()
        if len(_loaded) > 16:
            _loaded.clear()
        _loaded[cache_key] = key
    return key


def _public(key: RSAKey) -> dict:
    public = key.as_dict(private=False)
    public.update({"use": "sig", "alg": "RS256", "kid": key.kid})
    return public


def _retired(ctx: "Context", now: float) -> list[dict]:
    """The retired public keys still published: ``[{"jwk": {...}, "retired_at": epoch}]``."""
    stored = ctx.db.value(f"SELECT password FROM {_AUTH} WHERE {_RETIRED}")
    if stored is None:
        return []
    entries = json.loads(passwords.decrypt(stored, passwords.site_key(ctx)))
    return [e for e in entries if float(e.get("until", 0)) > now]


def jwks(ctx: "Context") -> dict:
    return {"keys": [_public(signing_key(ctx))] + [e["jwk"] for e in _retired(ctx, time.time())]}


def rotate(ctx: "Context", keep_days: float = KEEP_DAYS, now: float | None = None) -> dict:
    """Sign with a new key from now on; the old public key stays in the JWKS for ``keep_days``.
    In the caller's write transaction. What happened: new ``kid``, retired ``kid``, until when."""
    now = time.time() if now is None else now
    old = signing_key(ctx)
    new = RSAKey.generate_key(2048, private=True)
    new.ensure_kid()
    site_key = passwords.site_key(ctx)
    until = now + max(float(keep_days), 0.0) * 86400
    retired = _retired(ctx, now) + ([{"jwk": _public(old), "until": until}] if keep_days > 0 else [])
    ctx.db.execute(f"UPDATE {_AUTH} SET password = ? WHERE {_WHERE}",
                   (passwords.encrypt(new.as_pem(private=True).decode(), site_key),))
    sealed = passwords.encrypt(json.dumps(retired), site_key)
    if not ctx.db.execute(f"UPDATE {_AUTH} SET password = ? WHERE {_RETIRED}", (sealed,)):
        ctx.db.execute(f"INSERT INTO {_AUTH} (doctype, name, fieldname, password, encrypted) "
                       f"VALUES ('OAuth Settings', 'OAuth Settings', 'rsa_retired_keys', ?, 0)", (sealed,))
    state.bump(ctx.db, VERSION)
    return {"kid": new.kid, "retired_kid": old.kid, "published_until": int(until) if keep_days > 0 else None}
