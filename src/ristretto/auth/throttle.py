"""Login throttling: consecutive failed logins per user and per client address.

After ``allow_consecutive_login_attempts`` failures (site config, default 10;
0 disables) further attempts for that user or address are refused for
``allow_login_after_fail`` seconds (default 300) with 429, whether or not the
user exists and whether or not the password is right. A success clears both
counters. Counters live in the database, so every worker sees them.

The user's counter is keyed on the user the login names, so the user name and the
e-mail of one account share it; a login naming no user is keyed on the text typed,
normalised the same way, so existing and unknown users answer alike.

Each attempt is counted as a failure *before* its password is checked, by one
atomic upsert per counter in one short transaction that refuses (and counts
nothing) once the limit is reached: however many attempts run at once, at most
``allow_consecutive_login_attempts`` passwords are checked before the lock.
"""

from __future__ import annotations

import time

from ristretto.db.connection import Connection
from ristretto.db.dialects import quote
from ristretto.exceptions import TooManyRequestsError

_T = quote("__login_failures")
# Under the limit: one more failure. Locked, with the lock run out: a fresh count. Still
# locked: a value above the limit, which refuses the attempt (and is rolled back). Every
# SET expression reads the row as it was before this statement; the row lock taken by
# the upsert orders concurrent attempts.
_UNDER = f"{_T}.failures < ?"
_RAN_OUT = f"? - {_T}.last_failure >= ?"
_RESERVE = (
    f"INSERT INTO {_T} (key, failures, last_failure) VALUES (?, 1, ?) ON CONFLICT (key) DO UPDATE SET "
    f"failures = CASE WHEN {_UNDER} THEN {_T}.failures + 1 WHEN {_RAN_OUT} THEN 1 ELSE ? END, "
    f"last_failure = CASE WHEN {_UNDER} OR {_RAN_OUT} THEN ? ELSE {_T}.last_failure END "
    f"RETURNING failures, last_failure")


def user_key(user: str | None, login: str) -> str:
    """The counter of the user a login names (``user``), or of the text typed when it names none.
    NUL cannot be stored in PostgreSQL text (no user name holds one): replaced, still counted."""
    return "user:" + (user if user is not None else login.strip()).lower()[:200].replace("\x00", "\ufffd")


def _keys(user: str, ip: str | None) -> list[str]:
    # Always the user's counter first: concurrent transactions lock rows in one order.
    return [user, f"ip:{ip}"] if ip else [user]


def limits(config: dict) -> tuple[int, float]:
    try:
        attempts = int(config.get("allow_consecutive_login_attempts", 10))
        lock = float(config.get("allow_login_after_fail", 300))
    except (TypeError, ValueError):
        attempts, lock = 10, 300.0
    return attempts, lock


def reserve(conn: Connection, config: dict, user: str, ip: str | None, own_transaction: bool = True) -> None:
    """Count this attempt as a failure before its password is checked (``clear`` undoes it on
    success); 429, counting nothing, when the user's or the address's limit is reached.

    ``user`` is a key from :func:`user_key`. Runs in its own short transaction, or with
    ``own_transaction`` false in the caller's, which must commit it whatever the outcome."""
    attempts, lock = limits(config)
    if attempts <= 0:
        return
    if own_transaction:
        with conn.transaction():
            _count(conn, user, ip, attempts, lock)
    else:
        _count(conn, user, ip, attempts, lock)


def _count(conn: Connection, user: str, ip: str | None, attempts: int, lock: float) -> None:
    now = time.time()
    for key in _keys(user, ip):
        failures, last = conn.one(_RESERVE, (key, now, attempts, now, lock, attempts + 1,
                                             attempts, now, lock, now))
        if failures > attempts:
            wait = int(lock - (now - last)) + 1
            raise TooManyRequestsError(
                f"Your account has been locked and will resume after {wait} seconds",
                title="Too many attempts")


def clear(conn: Connection, user: str, ip: str | None) -> None:
    for key in _keys(user, ip):
        conn.execute(f"DELETE FROM {_T} WHERE key = ?", (key,))
