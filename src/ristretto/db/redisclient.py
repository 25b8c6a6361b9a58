"""The site's Redis (``redis_url`` in ``site_config.json``), when it has one.

With several app servers on one database, Redis carries what they share that is neither a
document nor needs a transaction: the login throttle's counters (``ristretto.auth.throttle``)
and the wake-ups of live change streams (``ristretto.db.notify``). Without ``redis_url`` the
database carries both, as before.

One client per URL and process (redis-py's pool opens connections as needed and makes new ones
in a forked child). Every call is bounded by :data:`TIMEOUT`; a Redis that cannot be reached is
reported as :class:`RedisUnavailable` (503), never as a 500.

Keys live in the Redis database the URL names (``redis://host:6379/2``): sites sharing a Redis
server use a database number each. Publish/subscribe channels are not per database; a stream
woken by another site's commit just reads its own log once more.
"""

from __future__ import annotations

import threading
from typing import Any

from ristretto.exceptions import FrappeError

# Seconds any one Redis call (and a connection attempt) may take.
TIMEOUT = 5.0
PREFIX = "ristretto:"
CHANGES_CHANNEL = PREFIX + "changes"

_clients: dict[str, Any] = {}
_lock = threading.Lock()


class RedisUnavailable(FrappeError):
    """The site's Redis did not answer."""
    http_status = 503


def url(config: dict) -> str | None:
    value = config.get("redis_url")
    return value if isinstance(value, str) and value else None


def client(config: dict):
    """The Redis client of the site's ``redis_url``, or None when it has none."""
    where = url(config)
    if where is None:
        return None
    found = _clients.get(where)
    if found is None:
        import redis
        with _lock:
            found = _clients.get(where)
            if found is None:
                found = _clients[where] = redis.Redis.from_url(
                    where, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT, health_check_interval=30)
    return found


def unavailable(error: BaseException) -> RedisUnavailable:
    # The URL may hold a password: only the kind of failure is told.
    return RedisUnavailable(f"The site's Redis (redis_url) did not answer ({type(error).__name__}); "
                            "try again shortly", title="Service unavailable")


__all__ = ["client", "url", "unavailable", "RedisUnavailable", "CHANGES_CHANNEL", "PREFIX", "TIMEOUT"]
