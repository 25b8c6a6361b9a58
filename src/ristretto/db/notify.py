"""Wake-ups between servers: a commit's announcement, heard by every worker with streams open.

A worker's live change streams are woken in-process when a request of that worker commits; a
commit on another server (or another worker) reaches them through what the servers share:
Redis publish/subscribe when the site has ``redis_url``, else PostgreSQL's ``NOTIFY``/``LISTEN``
(SQLite without Redis has neither: its workers are on one machine and poll).

* :class:`Notifier` announces the commits it is told of (after they committed) from a thread of
  its own, on a connection of its own (never one of the requests' pool), so no request waits
  for it. Commits that come while one announcement is being sent
  are covered by one more, and at most one is sent per :data:`MIN_GAP` seconds: under heavy
  writing a worker sends a few dozen a second, not one per request. An announcement carries no
  data; it only says "read the change log again".
* :class:`Listener` holds a connection that listens and calls its callback on every
  announcement; it reconnects after a lost connection. PostgreSQL notifications go only to
  listeners of the same database, so sites sharing a cluster do not wake each other.

Neither is needed for correctness: a stream's reader also polls the log (``ristretto.api.events``),
so a lost announcement (a failed send, a listener reconnecting) delays a change, never loses it.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Callable

from ristretto.db import redisclient

if TYPE_CHECKING:
    from ristretto.db.connection import Database

log = logging.getLogger("ristretto")
CHANNEL = "ristretto_changes"
# Least time between two announcements of one worker (a burst of commits shares one).
MIN_GAP = 0.01
# How long a listener waits for an announcement before it looks at its stop flag again.
LISTEN_TICK = 0.5
# A notifier with nothing to announce for this long closes its connection and ends its thread.
IDLE_SECONDS = 10.0
# Pause after a failed send or a lost listening connection before the next try.
RETRY_SECONDS = 1.0


def carrier(db: "Database", config: dict) -> str | None:
    """What carries announcements for this site: "redis", "postgres", or None (poll only)."""
    if redisclient.url(config):
        return "redis"
    return "postgres" if db.dialect.name == "postgres" else None


class Notifier:
    """Announces the commits :meth:`notify` is told of (call it from any thread)."""

    def __init__(self, db: "Database", config: dict):
        self.db = db
        self.config = config
        self.redis = carrier(db, config) == "redis"
        self._wanted = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._conn = None  # PostgreSQL: the notifier thread's own connection, opened on first use
        self.sent = 0  # announcements sent (tests and diagnostics)

    def notify(self) -> None:
        with self._lock:
            self._wanted.set()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ristretto-notify", daemon=True)
                self._thread.start()

    def _send(self) -> None:
        if self.redis:
            redisclient.client(self.config).publish(redisclient.CHANGES_CHANNEL, b"")
            return
        import psycopg
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.db.url, autocommit=True, options=self.db.pg_options(),
                                         connect_timeout=10)
        try:
            self._conn.execute("SELECT pg_notify(%s, '')", (CHANNEL,))
        except Exception:
            self._close()  # a new one next time
            raise

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - going anyway
                pass

    def _run(self) -> None:
        while True:
            if not self._wanted.wait(IDLE_SECONDS):
                # Nothing to announce for a while: the thread and its connection go (a later
                # commit starts them again), so an idle worker or a closed site holds neither.
                with self._lock:
                    if not self._wanted.is_set():
                        self._close()
                        self._thread = None
                        return
                continue
            # Cleared before sending: a commit during the send asks for one more.
            self._wanted.clear()
            try:
                self._send()
                self.sent += 1
            except Exception:  # noqa: BLE001 - the readers' poll still finds the change
                log.warning("announcing a commit to the change streams failed", exc_info=True)
                time.sleep(RETRY_SECONDS)
                continue
            time.sleep(MIN_GAP)


class Listener:
    """Calls ``on_notify()`` (on its own thread) for every announcement of a commit."""

    def __init__(self, db: "Database", config: dict, on_notify: Callable[[], None]):
        self.db = db
        self.config = config
        self.on_notify = on_notify
        self.connected = threading.Event()  # set while listening
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ristretto-listen", daemon=True)

    def start(self) -> "Listener":
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening (the thread ends within :data:`LISTEN_TICK` seconds)."""
        self._stop.set()

    def _heard(self) -> None:
        self.connected.set()
        # A change committed before listening began is the poll's to find; look once now that
        # nothing is missed any more.
        self.on_notify()

    def _listen_postgres(self) -> None:
        import psycopg
        with psycopg.connect(self.db.url, autocommit=True, options=self.db.pg_options(),
                             connect_timeout=10) as conn:
            conn.execute(f"LISTEN {CHANNEL}")
            self._heard()
            while not self._stop.is_set():
                for _ in conn.notifies(timeout=LISTEN_TICK, stop_after=1):
                    self.on_notify()

    def _listen_redis(self) -> None:
        pubsub = redisclient.client(self.config).pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(redisclient.CHANGES_CHANNEL)
            self._heard()
            while not self._stop.is_set():
                if pubsub.get_message(timeout=LISTEN_TICK) is not None:
                    self.on_notify()
        finally:
            pubsub.close()

    def _run(self) -> None:
        listen = self._listen_redis if carrier(self.db, self.config) == "redis" else self._listen_postgres
        while not self._stop.is_set():
            try:
                listen()
            except Exception:  # noqa: BLE001 - reconnect; the poll covers the gap
                if not self._stop.is_set():
                    log.warning("listening for commit announcements failed; retrying", exc_info=True)
            finally:
                self.connected.clear()
            if not self._stop.is_set():
                self._stop.wait(RETRY_SECONDS)


__all__ = ["CHANNEL", "Notifier", "Listener", "carrier"]
