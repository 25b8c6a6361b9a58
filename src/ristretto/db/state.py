"""Version tokens shared by all workers of a site (row per key in ``__ristretto_state``).

A process caches what it derives from the database (DocType metadata, users,
API keys, sessions) and reads these tokens once per request: when another worker
changed something it bumped the token inside its transaction, so the cache is
dropped exactly when it became stale.

On PostgreSQL a connection serves one request (``Database.connect``): the tokens it read
at the request's start answer the request's later look-ups (``value``) without another
round trip, and its own ``bump`` updates them.
"""

from __future__ import annotations

import secrets

from ristretto.db.connection import Connection, PostgresConnection
from ristretto.db.dialects import quote

_T = quote("__ristretto_state")
META = "meta_version"
AUTH = "auth_version"
WEBHOOKS = "webhooks_version"   # the enabled webhooks (ristretto.webhooks.records)


def read(conn: Connection) -> dict[str, str]:
    versions = dict(conn.sql(f"SELECT key, value FROM {_T}"))
    if isinstance(conn, PostgresConnection):
        conn.versions = dict(versions)
    return versions


def value(conn: Connection, key: str) -> str | None:
    """One token (a primary-key read), for a cache that depends on that key only."""
    known = getattr(conn, "versions", None)
    if known is not None:
        return known.get(key)  # read() read every row: a missing key has no row
    return conn.value(f"SELECT value FROM {_T} WHERE key = ?", (key,))


def bump(conn: Connection, key: str) -> str:
    token = secrets.token_hex(8)
    if not conn.execute(f"UPDATE {_T} SET value = ? WHERE key = ?", (token, key)):
        conn.execute(f"INSERT INTO {_T} (key, value) VALUES (?, ?)", (key, token))
    known = getattr(conn, "versions", None)
    if known is not None:
        known[key] = token
    return token
