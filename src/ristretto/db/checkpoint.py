"""WAL checkpoints on a thread of their own, off the request path (SQLite, server workers).

Why: by default SQLite copies the write-ahead log back into the database file (a checkpoint,
with two fsyncs) inside the commit that pushes the log past 1,000 pages, so every few hundred
writes one request paid for the copy of all of them; measured here, that was 40 % of a commit's
cost and the writes' p99. A worker now runs :class:`Checkpointer`: every :data:`INTERVAL`
seconds a ``PASSIVE`` checkpoint on its own connection, which never waits for or blocks a
writer or a reader, and which runs with the GIL released (the sqlite3 module lets go of it
inside SQLite), so the event loop goes on meanwhile. The request connection's own automatic
checkpoint stays as the backstop, at :data:`BACKSTOP_PAGES`, for the case this thread falls
behind. Durability is unchanged: a commit is in the WAL before it is acknowledged, whoever
copies it back later.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

log = logging.getLogger("ristretto")

INTERVAL = 0.05
# The request connection checkpoints by itself only beyond this many WAL pages (~40 MB).
BACKSTOP_PAGES = 10_000


class Checkpointer:
    def __init__(self, path: str, interval: float = INTERVAL):
        self.path = path
        self.interval = interval
        self.checkpoints = 0        # checkpoints that copied pages (for tests and logs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "Checkpointer":
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=1.0)
        except sqlite3.Error:
            log.exception("WAL checkpointer: cannot open the database; writers checkpoint by themselves")
            return
        try:
            conn.execute("PRAGMA synchronous=NORMAL")
            last = None
            while not self._stop.wait(self.interval):
                try:
                    busy, log_pages, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error as e:  # a busy checkpoint lock (another worker's) and the like
                    log.debug("WAL checkpoint skipped: %s", e)
                    continue
                if copied > 0 and (log_pages, copied) != last:
                    self.checkpoints += 1
                last = (log_pages, copied)
        finally:
            conn.close()
