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

With ``redis_url`` (several app servers sharing one Redis) the counters live in Redis instead,
under the same rules: one Lua script checks and counts every key of an attempt atomically, and
a counter is forgotten :data:`REDIS_KEEP_SECONDS` after its last failure.
"""

from __future__ import annotations

import time

from ristretto.db import redisclient
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


# Redis: a refused attempt counts nothing (the first loop); an allowed one counts on every key.
# Returns 0 when counted, else the last failure's time of the key that refused.
_REDIS_RESERVE = """
local now, attempts, lock, keep = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
for _, key in ipairs(KEYS) do
  local v = redis.call('HMGET', key, 'failures', 'last')
  local failures, last = tonumber(v[1]) or 0, tonumber(v[2]) or 0
  if failures >= attempts and now - last < lock then return tostring(last) end
end
for _, key in ipairs(KEYS) do
  local failures = tonumber(redis.call('HGET', key, 'failures')) or 0
  if failures >= attempts then failures = 1 else failures = failures + 1 end
  redis.call('HSET', key, 'failures', failures, 'last', tostring(now))
  redis.call('EXPIRE', key, keep)
end
return '0'
"""
# A Redis counter is dropped this long after its last failure (at least the lock's length):
# Redis holds no counter forever for an address or a name that never comes back.
REDIS_KEEP_SECONDS = 7 * 86400


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
    redis = redisclient.client(config)
    if redis is not None:
        _count_redis(redis, user, ip, attempts, lock)
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


def _count_redis(redis, user: str, ip: str | None, attempts: int, lock: float) -> None:
    import redis as redis_lib
    now = time.time()
    keys = [redisclient.PREFIX + "login:" + key for key in _keys(user, ip)]
    try:
        last = float(redis.eval(_REDIS_RESERVE, len(keys), *keys, repr(now), attempts, repr(lock),
                                max(REDIS_KEEP_SECONDS, int(lock) + 1)))
    except redis_lib.RedisError as e:
        raise redisclient.unavailable(e) from None
    if last:
        wait = int(lock - (now - last)) + 1
        raise TooManyRequestsError(f"Your account has been locked and will resume after {wait} seconds",
                                   title="Too many attempts")


def clear(conn: Connection, user: str, ip: str | None, config: dict | None = None) -> None:
    redis = redisclient.client(config) if config is not None else None
    if redis is not None:
        import redis as redis_lib
        try:
            redis.delete(*[redisclient.PREFIX + "login:" + key for key in _keys(user, ip)])
        except redis_lib.RedisError as e:
            raise redisclient.unavailable(e) from None
        return
    for key in _keys(user, ip):
        conn.execute(f"DELETE FROM {_T} WHERE key = ?", (key,))
