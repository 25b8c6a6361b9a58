"""Version tokens shared by all workers of a site (row per key in ``__ristretto_state``).

A process caches what it derives from the database (DocType metadata, users,
API keys, sessions) and reads these tokens once per request: when another worker
changed something it bumped the token inside its transaction, so the cache is
dropped exactly when it became stale.

On PostgreSQL a connection serves one request (``Database.connect``): the tokens it read
at the request's start answer the request's later look-ups (``value``) without another
round trip, and its own ``bump`` updates them. A read request may also assume the tokens
last read (``read(conn, assume=True)``): their read then travels with the request's first
statement, and :class:`StaleVersions` is raised (before that statement's result is used) if
they changed; the caller runs the request again with ``assume=False``. ``settle`` checks
them for a request that sent no statement.
"""

from __future__ import annotations

import secrets

from ristretto.db.connection import Connection, PostgresConnection, SQLiteConnection
from ristretto.db.postgres import StaleVersions  # noqa: F401 - callers catch state.StaleVersions
from ristretto.db.dialects import quote

_T = quote("__ristretto_state")
META = "meta_version"
AUTH = "auth_version"
WEBHOOKS = "webhooks_version"   # the enabled webhooks (ristretto.webhooks.records)


_READ = f"SELECT key, value FROM {_T}"


def read(conn: Connection, *, assume: bool = False) -> dict[str, str]:
    if isinstance(conn, PostgresConnection):
        last = conn.trips.versions
        if assume and last is not None:
            conn.expect(_READ, last)
            return dict(last)
        versions = dict(conn.sql(_READ))
        conn.versions = dict(versions)
        conn.trips.versions = dict(versions)
        return versions
    # Read once per request, so cached per SQLite connection: the tokens cannot have changed
    # while no other connection committed and this one changed no row (``change_mark``: a
    # pragma, a cheaper statement than the table read). Inside a transaction of the
    # connection's own the tokens may be its uncommitted writes: never kept.
    seen = conn.change_mark() if isinstance(conn, SQLiteConnection) else None
    if seen is None:
        return dict(conn.sql(_READ))
    cached = getattr(conn, "_state_cache", None)
    if cached is not None and cached[0] == seen:
        return dict(cached[1])
    values = dict(conn.sql(_READ))
    conn._state_cache = (seen, values)  # type: ignore[attr-defined]
    return dict(values)


def settle(conn: Connection) -> None:
    """Check assumed tokens not yet checked (raises :class:`StaleVersions` if they changed)."""
    if isinstance(conn, PostgresConnection):
        conn.settle()


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
