"""Login throttling: consecutive failures per login name and per client address.

After ``allow_consecutive_login_attempts`` failures (site config, default 10;
0 disables) further attempts for that name or address are refused for
``allow_login_after_fail`` seconds (default 300) with 429, whether or not the
user exists and whether or not the password is right. A success clears both
counters. Counters live in the database, so every worker sees them.
"""

from __future__ import annotations

import time

from ristretto.db.connection import Connection
from ristretto.db.dialects import quote
from ristretto.exceptions import TooManyRequestsError

_T = quote("__login_failures")


def _keys(login: str, ip: str | None) -> list[str]:
    # NUL cannot be stored in PostgreSQL text (no user name holds one): replaced, still counted.
    keys = [f"user:{login.strip().lower()[:200]}".replace("\x00", "\ufffd")]
    if ip:
        keys.append(f"ip:{ip}")
    return keys


def limits(config: dict) -> tuple[int, float]:
    try:
        attempts = int(config.get("allow_consecutive_login_attempts", 10))
        lock = float(config.get("allow_login_after_fail", 300))
    except (TypeError, ValueError):
        attempts, lock = 10, 300.0
    return attempts, lock


def _counter(conn: Connection, key: str) -> tuple[int, float] | None:
    """(consecutive failures, time of the last one) for a login name or address."""
    return conn.one(f"SELECT failures, last_failure FROM {_T} WHERE key = ?", (key,))


def check(conn: Connection, config: dict, login: str, ip: str | None) -> None:
    attempts, lock = limits(config)
    if attempts <= 0:
        return
    now = time.time()
    for key in _keys(login, ip):
        row = _counter(conn, key)
        if row and row[0] >= attempts and now - row[1] < lock:
            wait = int(lock - (now - row[1])) + 1
            raise TooManyRequestsError(
                f"Your account has been locked and will resume after {wait} seconds", title="Too many attempts")


def record_failure(conn: Connection, config: dict, login: str, ip: str | None) -> None:
    attempts, lock = limits(config)
    if attempts <= 0:
        return
    now = time.time()
    for key in _keys(login, ip):
        row = _counter(conn, key)
        if row is None:
            conn.execute(f"INSERT INTO {_T} (key, failures, last_failure) VALUES (?, 1, ?)", (key, now))
        else:
            # A lock that has run out starts a fresh count.
            failures = 1 if now - row[1] >= lock and row[0] >= attempts else row[0] + 1
            conn.execute(f"UPDATE {_T} SET failures = ?, last_failure = ? WHERE key = ?", (failures, now, key))


def clear(conn: Connection, login: str, ip: str | None) -> None:
    for key in _keys(login, ip):
        conn.execute(f"DELETE FROM {_T} WHERE key = ?", (key,))
