"""Server-side password sessions with sliding expiry.

A session is a row in ``tabSessions``; its id (``sid``) is 56 random hex
characters. Each authenticated request slides the expiry; the new
``last_updated`` is written at most once a minute (sooner for short expiries: at
most a tenth of the expiry late) so most reads stay read-only.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from ristretto.db import state
from ristretto.db.connection import Connection
from ristretto.db.batches import delete_in_batches
from ristretto.db.dialects import quote

_T = quote("tabSessions")
DEFAULT_EXPIRY = "240:00:00"
TOUCH_EVERY = 60.0


def parse_expiry(text: str | None) -> float:
    """``HH:MM[:SS]`` (hours may exceed 24) -> seconds."""
    parts = str(text or DEFAULT_EXPIRY).split(":")
    try:
        nums = [int(p) for p in parts] + [0] * (3 - len(parts))
        return float(nums[0] * 3600 + nums[1] * 60 + nums[2]) or parse_expiry(DEFAULT_EXPIRY)
    except ValueError:
        return parse_expiry(DEFAULT_EXPIRY)


@dataclass
class Session:
    sid: str
    user: str
    last_updated: float
    expiry: float
    csrf_token: str | None = None


def create(conn: Connection, user: str, expiry: float, ip: str | None = None) -> Session:
    now = time.time()
    sid = secrets.token_hex(28)
    conn.execute(f"INSERT INTO {_T} (sid, \"user\", created, last_updated, expiry, ip, csrf_token) "
                 f"VALUES (?, ?, ?, ?, ?, ?, ?)", (sid, user, now, now, expiry, ip, None))
    return Session(sid, user, now, expiry)


def resume(conn: Connection, sid: str, cached: Session | None = None) -> Session | None:
    """The live session for ``sid`` (expired ones are deleted), or None.

    ``cached`` is this process's copy; the database is read only when the copy is
    missing, looks expired, or is due for its sliding-expiry touch.
    """
    if not sid or sid == "Guest" or len(sid) > 128 or "\x00" in sid:  # no sid holds a NUL
        return None
    if cached is not None and time.time() - cached.last_updated <= touch_interval(cached.expiry):
        return cached
    row = conn.one(f"SELECT \"user\", last_updated, expiry, csrf_token FROM {_T} WHERE sid = ?", (sid,))
    if row is None:
        return None
    user, last_updated, expiry, csrf = row
    now = time.time()
    if now - last_updated > expiry:
        conn.execute(f"DELETE FROM {_T} WHERE sid = ?", (sid,))
        return None
    if now - last_updated > touch_interval(expiry):
        conn.execute(f"UPDATE {_T} SET last_updated = ? WHERE sid = ?", (now, sid))
        last_updated = now
    return Session(sid, user, last_updated, expiry, csrf)


def touch_interval(expiry: float) -> float:
    """How stale ``last_updated`` may get before a request writes it: the sliding expiry is
    then at most this much shorter than configured."""
    return min(TOUCH_EVERY, expiry / 10)


def set_csrf_token(conn: Connection, sid: str, token: str) -> None:
    conn.execute(f"UPDATE {_T} SET csrf_token = ? WHERE sid = ?", (token, sid))
    state.bump(conn, state.AUTH)


def ensure_csrf_token(conn: Connection, sid: str | None) -> str | None:
    """The CSRF token of the live session ``sid``, minted now if it has none (what a
    server-rendered page embeds); None when there is no such session. The caller commits."""
    session = resume(conn, sid) if sid else None
    if session is None:
        return None
    if session.csrf_token:
        return session.csrf_token
    token = secrets.token_urlsafe(24)
    set_csrf_token(conn, sid, token)
    return token


def prune_expired(conn: Connection, now: float | None = None) -> int:
    """Remove the sessions past their expiry that nobody used again (a session used after its
    expiry is removed by :func:`resume`); how many went. No cached copy needs dropping: a
    worker's copy of a session is trusted only within its touch interval, far inside the expiry."""
    return delete_in_batches(conn, "tabSessions", "sid", "last_updated + expiry < ?",
                             (time.time() if now is None else now,))


def delete(conn: Connection, sid: str) -> None:
    conn.execute(f"DELETE FROM {_T} WHERE sid = ?", (sid,))
    state.bump(conn, state.AUTH)


def delete_for_user(conn: Connection, user: str) -> None:
    conn.execute(f"DELETE FROM {_T} WHERE \"user\" = ?", (user,))
    state.bump(conn, state.AUTH)
