"""The site's RSA key for RS256 id_tokens, and the JWKS that publishes its public half.

Made once by ``new-site`` or ``migrate`` (which run alone, so no two workers race to make
one) and kept in ``__Auth`` encrypted with the site key; its ``kid`` is the RFC 7638
thumbprint. A key is loaded once per process and site key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from joserfc.jwk import RSAKey

from ristretto.db.dialects import quote
from ristretto.model import passwords

if TYPE_CHECKING:
    from ristretto.model.context import Context

_AUTH = quote("__Auth")
_WHERE = "doctype = 'OAuth Settings' AND name = 'OAuth Settings' AND fieldname = 'rsa_signing_key'"
_loaded: dict[str, RSAKey] = {}


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
    key = _loaded.get(site_key)
    if key is None:
        stored = ctx.db.value(f"SELECT password FROM {_AUTH} WHERE {_WHERE}")
        if stored is None:
            raise passwords.EncryptionKeyError("The site has no OAuth signing key: run 'ristretto migrate'",
                                               title="Missing key")
        key = RSAKey.import_key(passwords.decrypt(stored, site_key))
        key.ensure_kid()
        _loaded[site_key] = key
    return key


def jwks(ctx: "Context") -> dict:
    key = signing_key(ctx)
    public = key.as_dict(private=False)
    public.update({"use": "sig", "alg": "RS256", "kid": key.kid})
    return {"keys": [public]}
