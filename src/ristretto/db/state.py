"""Version tokens shared by all workers of a site (row per key in ``__ristretto_state``).

A process caches what it derives from the database (DocType metadata, users,
API keys, sessions) and reads these tokens once per request: when another worker
changed something it bumped the token inside its transaction, so the cache is
dropped exactly when it became stale.
"""

from __future__ import annotations

import secrets

from ristretto.db.connection import Connection
from ristretto.db.dialects import quote

_T = quote("__ristretto_state")
META = "meta_version"
AUTH = "auth_version"
WEBHOOKS = "webhooks_version"   # the enabled webhooks (ristretto.webhooks.records)


def read(conn: Connection) -> dict[str, str]:
    raw = getattr(conn, "_conn", None) if conn.dialect.name == "sqlite" else None
    if raw is None or raw.in_transaction:
        # Inside a transaction the tokens may be this one's uncommitted writes: never kept.
        return dict(conn.sql(f"SELECT key, value FROM {_T}"))
    # Read once per request, so cached per SQLite connection: the tokens cannot have changed
    # while no other connection committed (``PRAGMA data_version`` is the same) and this one
    # changed no row (``total_changes``, which counts rolled-back changes too, is the same).
    # The pragma is a cheaper statement than the table read.
    seen = (raw.execute("PRAGMA data_version").fetchone()[0], raw.total_changes)
    cached = getattr(conn, "_state_cache", None)
    if cached is not None and cached[0] == seen:
        return dict(cached[1])
    values = dict(conn.sql(f"SELECT key, value FROM {_T}"))
    conn._state_cache = (seen, values)  # type: ignore[attr-defined]
    return dict(values)


def value(conn: Connection, key: str) -> str | None:
    """One token (a primary-key read), for a cache that depends on that key only."""
    return conn.value(f"SELECT value FROM {_T} WHERE key = ?", (key,))


def bump(conn: Connection, key: str) -> str:
    token = secrets.token_hex(8)
    if not conn.execute(f"UPDATE {_T} SET value = ? WHERE key = ?", (token, key)):
        conn.execute(f"INSERT INTO {_T} (key, value) VALUES (?, ?)", (key, token))
    return token
