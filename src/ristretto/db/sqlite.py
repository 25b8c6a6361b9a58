"""SQLite connections (the embedded database).

One connection per process, WAL, ``synchronous=NORMAL`` (a committed transaction survives
``kill -9``), ``BEGIN IMMEDIATE`` for writes so a writer never fails half way on a lock
upgrade, a kernel file lock that queues the writers of all worker processes, and a busy
timeout as the last resort. ``query_timeout`` is enforced by a progress handler.
"""

from __future__ import annotations

import fcntl
import math
import os
import sqlite3
import time
from typing import Any

from ristretto.db.base import Connection, IntegrityError, timeout_error
from ristretto.db.dialects import SQLITE

# SQLite VM instructions between two deadline checks: well under a millisecond of work,
# so a runaway statement stops promptly and the check itself costs nothing measurable.
PROGRESS_STEPS = 10_000


def set_deadline_handler(conn: sqlite3.Connection, owner: Any) -> None:
    """Abort ``conn``'s statements once ``owner.deadline`` (monotonic seconds) has passed."""
    def progress() -> bool:
        return time.monotonic() > owner.deadline
    conn.set_progress_handler(progress, PROGRESS_STEPS)


class SQLiteConnection(Connection):
    dialect = SQLITE

    def __init__(self, path: str, timeout: float | None = None):
        self.path = path
        self.timeout: float | None = None
        self.deadline = math.inf
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                     cached_statements=512, timeout=30.0)
        # An in-memory database has a single connection: nothing to queue with.
        self._lock_fd = None if path.startswith(":memory:") or path.startswith("file::memory:") \
            else os.open(path + ".writelock", os.O_RDWR | os.O_CREAT, 0o600)
        self._locked = False
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000",
                       "temp_store=MEMORY", "cache_size=-32000", "foreign_keys=OFF"):
            self._conn.execute(f"PRAGMA {pragma}")
        self.set_timeout(timeout)

    def set_timeout(self, seconds: float | None) -> None:
        """Limit each statement to ``seconds`` (None: no limit, no progress handler at all)."""
        self.timeout = seconds or None
        self.deadline = math.inf
        if self.timeout:
            set_deadline_handler(self._conn, self)
        else:
            self._conn.set_progress_handler(None, 0)

    def _interrupted(self, error: sqlite3.OperationalError, query: str) -> BaseException:
        """A statement stopped by the progress handler becomes a QueryTimeoutError; any
        other error is returned as it is."""
        if self.timeout and time.monotonic() > self.deadline and "interrupt" in str(error):
            return timeout_error(self.timeout, query)
        return error

    def sql(self, query, params=()):
        if self.timeout:
            self.deadline = time.monotonic() + self.timeout
        try:
            return self._conn.execute(query, params).fetchall()
        except sqlite3.IntegrityError as e:
            raise IntegrityError(str(e)) from e
        except sqlite3.OperationalError as e:
            raise self._interrupted(e, query) from None

    def execute(self, query, params=()):
        if self.timeout:
            self.deadline = time.monotonic() + self.timeout
        try:
            return self._conn.execute(query, params).rowcount
        except sqlite3.IntegrityError as e:
            raise IntegrityError(str(e)) from e
        except sqlite3.OperationalError as e:
            raise self._interrupted(e, query) from None

    def executemany(self, query, seq):
        if self.timeout:
            self.deadline = time.monotonic() + self.timeout
        try:
            self._conn.executemany(query, seq)
        except sqlite3.IntegrityError as e:
            raise IntegrityError(str(e)) from e
        except sqlite3.OperationalError as e:
            raise self._interrupted(e, query) from None

    def begin(self, write=True):
        if not write:
            self._conn.execute("BEGIN")
            return
        # Writers of all worker processes queue on a kernel file lock, which hands over
        # the moment it is released; SQLite's own busy handler would instead sleep and
        # poll in steps of up to 100 ms, which is what makes concurrent writes slow.
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            self._locked = True
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._unlock()
            raise

    def _unlock(self):
        if self._locked:
            self._locked = False
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def commit(self):
        try:
            if self._conn.in_transaction:
                self._conn.execute("COMMIT")
        finally:
            self._unlock()

    def rollback(self):
        try:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        finally:
            self._unlock()

    @property
    def in_transaction(self):
        return self._conn.in_transaction

    def close(self):
        self._unlock()
        self._conn.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
