"""Wake-ups between servers on one PostgreSQL database: ``NOTIFY`` after a commit, ``LISTEN`` elsewhere.

A worker's live change streams are woken in-process when a request of that worker commits; a
commit on another server (or another worker) reaches them through PostgreSQL instead:

* :class:`Notifier` sends ``NOTIFY`` on :data:`CHANNEL` after a commit that wrote changes, from a
  thread of its own on a pooled connection, so no request waits for it. Commits that come while
  one is being sent are covered by one more, and at most one is sent per :data:`MIN_GAP` seconds:
  under heavy writing a worker sends a few dozen a second, not one per request. A notification
  carries no data; it only says "read the change log again".
* :class:`Listener` holds a connection that ``LISTEN``s and calls its callback on every
  notification; it reconnects after a lost connection. Notifications go only to listeners of
  the same database, so sites sharing a cluster do not wake each other.

Neither is needed for correctness: a stream's reader also polls the log (``ristretto.api.events``),
so a lost notification (a failed send, a listener reconnecting) delays a change, never loses it.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from ristretto.db.connection import Database

log = logging.getLogger("ristretto")
CHANNEL = "ristretto_changes"
# Least time between two notifications of one worker (a burst of commits shares one).
MIN_GAP = 0.01
# How long a listener waits for a notification before it looks at its stop flag again.
LISTEN_TICK = 0.5
# Pause after a failed send or a lost listening connection before the next try.
RETRY_SECONDS = 1.0


class Notifier:
    """Sends ``NOTIFY`` for the commits :meth:`notify` is told of (call it from any thread)."""

    def __init__(self, db: "Database"):
        self.db = db
        self._wanted = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.sent = 0  # notifications sent (tests and diagnostics)

    def notify(self) -> None:
        self._wanted.set()
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="ristretto-notify", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            # Cleared before sending: a commit during the send asks for one more.
            self._wanted.clear()
            try:
                with self.db.connect() as conn:
                    conn.value("SELECT pg_notify(?, ?)", (CHANNEL, ""))
                self.sent += 1
            except Exception:  # noqa: BLE001 - the readers' poll still finds the change
                log.warning("sending a change notification failed", exc_info=True)
                time.sleep(RETRY_SECONDS)
                continue
            time.sleep(MIN_GAP)


class Listener:
    """Calls ``on_notify()`` (on its own thread) for every notification on :data:`CHANNEL`."""

    def __init__(self, db: "Database", on_notify: Callable[[], None]):
        self.db = db
        self.on_notify = on_notify
        self.connected = threading.Event()  # set while LISTEN is in force
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ristretto-listen", daemon=True)

    def start(self) -> "Listener":
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening (the thread ends within :data:`LISTEN_TICK` seconds)."""
        self._stop.set()

    def _run(self) -> None:
        import psycopg
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.db.url, autocommit=True, options=self.db.pg_options()) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.connected.set()
                    # A change committed before LISTEN took effect is the poll's to find; tell the
                    # callee to look once now that nothing is missed any more.
                    self.on_notify()
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=LISTEN_TICK, stop_after=1):
                            self.on_notify()
            except Exception:  # noqa: BLE001 - reconnect; the poll covers the gap
                if not self._stop.is_set():
                    log.warning("listening for change notifications failed; retrying", exc_info=True)
            finally:
                self.connected.clear()
            if not self._stop.is_set():
                self._stop.wait(RETRY_SECONDS)


__all__ = ["CHANNEL", "Notifier", "Listener"]
