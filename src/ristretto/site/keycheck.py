"""Every server of a site uses one ``encryption_key``: checked against the database when one starts.

Password fields and the OAuth signing key are encrypted with the ``encryption_key`` of the site
folder's ``site_config.json``. Several app servers on one database hold a folder each; a folder
whose key differs (set up by hand, or one that lost its key and would make a new one on first
need) would write values that no other server can read, and fail to read theirs. So the database
keeps a fingerprint of the key (an HMAC of a fixed text under the key: it tells nothing about the
key itself), recorded by the first server to start, and a server whose key does not match, or
that has none while the database has a fingerprint, refuses to start and says what to copy. A
site that has no key yet gets it when its first server starts (not on a first need later, when
another server could make a different one at the same time).
"""

from __future__ import annotations

import hashlib
import hmac

from ristretto.db.connection import Connection
from ristretto.db.dialects import quote
from ristretto.site.site import Site, SiteError

KEY = "encryption_key_check"
_T = quote("__ristretto_state")


class KeyMismatch(SiteError):
    """This folder's ``encryption_key`` is not the one the database was written with."""


def fingerprint(key: str) -> str:
    return hmac.new(key.encode(), b"ristretto encryption_key check", hashlib.sha256).hexdigest()[:32]


def check(conn: Connection, site: Site) -> None:
    """Compare the folder's key with the database's fingerprint (recorded when there is none),
    in the caller's write transaction; :class:`KeyMismatch` when they differ."""
    key = site.config.get("encryption_key")
    stored = conn.value(f"SELECT value FROM {_T} WHERE key = ?", (KEY,))
    if not key:
        if stored is not None:
            raise KeyMismatch("site_config.json has no encryption_key, but the database was written with one: "
                              "copy encryption_key from the site_config.json of the site's other servers")
        key = site.encryption_key()  # written to site_config.json now
    mine = fingerprint(str(key))
    if stored is None:
        # Two servers starting at once: the first insert wins, the other compares with it.
        conn.execute(f"INSERT INTO {_T} (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", (KEY, mine))
        stored = conn.value(f"SELECT value FROM {_T} WHERE key = ?", (KEY,))
    if not hmac.compare_digest(str(stored), mine):
        raise KeyMismatch("encryption_key in site_config.json is not the key this database was written with: "
                          "copy encryption_key from the site_config.json of the site's other servers")
