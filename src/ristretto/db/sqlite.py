"""SQLite connections (the embedded database).

One connection per process, WAL, ``synchronous=NORMAL`` (a committed transaction survives
``kill -9``), ``BEGIN IMMEDIATE`` for writes so a writer never fails half way on a lock
upgrade, a kernel file lock that queues the writers of all worker processes, and a busy
timeout as the last resort. ``query_timeout`` is enforced by a progress handler.
"""

from __future__ import annotations

import fcntl
import logging
import math
import os
import sqlite3
import time
from typing import Any, Callable

from ristretto.db.base import Connection, IntegrityError, timeout_error
from ristretto.db.dialects import SQLITE
from ristretto.db.groupcommit import MEMBER_SAVEPOINT, WriteGroup
from ristretto.exceptions import WriteNotCommitted

log = logging.getLogger("ristretto")

# SQLite VM instructions between two deadline checks: well under a millisecond of work,
# so a runaway statement stops promptly and the check itself costs nothing measurable.
PROGRESS_STEPS = 10_000


def set_deadline_handler(conn: sqlite3.Connection, owner: Any) -> None:
    """Abort ``conn``'s statements once ``owner.deadline`` (monotonic seconds) has passed."""
    def progress() -> bool:
        return time.monotonic() > owner.deadline
    conn.set_progress_handler(progress, PROGRESS_STEPS)


def in_memory(path: str) -> bool:
    """Whether ``path`` names an in-memory database (one connection, no files beside it)."""
    return path.startswith(":memory:") or path.startswith("file::memory:")


class SQLiteConnection(Connection):
    dialect = SQLITE

    def __init__(self, path: str, timeout: float | None = None):
        self.path = path
        self.timeout: float | None = None
        self.deadline = math.inf
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                     cached_statements=512, timeout=30.0)
        # An in-memory database has a single connection: nothing to queue with.
        self._lock_fd = None if in_memory(path) else os.open(path + ".writelock", os.O_RDWR | os.O_CREAT, 0o600)
        self._locked = False
        # Group commit (off unless enable_group_commit is called): the open group, whether this
        # connection's caller is inside it now, and who is told when a group opens.
        self._group: WriteGroup | None = None
        self._member = False
        self._opened: Callable[[WriteGroup], None] | None = None
        # Set by the pipeline while it handles a request: only requests open groups (a CLI
        # command or a test's direct model call commits at once, unless a group is open).
        self.group_writes = False
        # The version tokens of the request running now (set by the pipeline; db.state.value).
        self.versions: dict[str, str] | None = None
        # A read request's statements share one read transaction (``read_snapshot``).
        self._snapshot = False
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
        if self._member and not self._conn.in_transaction:
            raise self._ended()
        if self._snapshot and not query.startswith("SELECT"):
            self.end_snapshot()  # a write (``UPDATE ... RETURNING``) never runs in a read snapshot
        if self.timeout:
            self.deadline = time.monotonic() + self.timeout
        try:
            return self._conn.execute(query, params).fetchall()
        except sqlite3.IntegrityError as e:
            raise IntegrityError(str(e)) from e
        except sqlite3.OperationalError as e:
            raise self._interrupted(e, query) from None

    def execute(self, query, params=()):
        if self._member and not self._conn.in_transaction:
            raise self._ended()
        if self._snapshot:
            self.end_snapshot()
        if self.timeout:
            self.deadline = time.monotonic() + self.timeout
        try:
            return self._conn.execute(query, params).rowcount
        except sqlite3.IntegrityError as e:
            raise IntegrityError(str(e)) from e
        except sqlite3.OperationalError as e:
            raise self._interrupted(e, query) from None

    def executemany(self, query, seq):
        if self._member and not self._conn.in_transaction:
            raise self._ended()
        if self._snapshot:
            self.end_snapshot()
        if self.timeout:
            self.deadline = time.monotonic() + self.timeout
        try:
            self._conn.executemany(query, seq)
        except sqlite3.IntegrityError as e:
            raise IntegrityError(str(e)) from e
        except sqlite3.OperationalError as e:
            raise self._interrupted(e, query) from None

    # --- transactions ----------------------------------------------------------------------
    # Without group commit: one transaction per caller (``BEGIN`` / ``BEGIN IMMEDIATE``).
    # With it (``enable_group_commit``, the server's request connection): a write transaction,
    # and any transaction begun while a group is open, is a savepoint of the shared group
    # transaction; see ristretto.db.groupcommit for the rules.

    def enable_group_commit(self, opened: Callable[[WriteGroup], None]) -> None:
        """Let write transactions share one commit; ``opened(group)`` is called when a group
        opens and must arrange for :meth:`flush_group` to be called soon."""
        self._opened = opened

    @property
    def write_group(self) -> WriteGroup | None:
        """The group open now (its commit still to come), if any."""
        return self._group

    # A read snapshot: the statements of a read request in one read transaction instead of one
    # each. Why: a request's reads see one state of the database (a document and its child rows
    # from one commit, as its version tokens are); and SQLite begins and ends a read transaction
    # for every statement outside one, on a WAL database three system calls (a lock on the
    # WAL-index, the database's size, the unlock): a get made eight system calls, now five
    # (about 2 µs of a get's CPU in process; under the noise of a full benchmark run). The
    # pipeline opens it before a safe request and ends it when the request's connection is
    # given back (``_Held``), so it is never held across an ``await`` (a read
    # transaction left open would keep the WAL from being checkpointed). Anything that is not a
    # plain read ends it first and runs as it did without one: a write, an explicit transaction
    # (``begin(write=False)`` carries on in it), ``commit``/``rollback``.

    def read_snapshot(self) -> None:
        """Run the following statements in one read transaction, until :meth:`end_snapshot`."""
        if not self._conn.in_transaction and self._group is None and self._lock_fd is not None:
            self._conn.execute("BEGIN")
            self._snapshot = True

    def end_snapshot(self) -> None:
        if self._snapshot:
            self._snapshot = False
            if self._conn.in_transaction:
                self._conn.execute("COMMIT")

    def change_mark(self) -> tuple[int, int] | None:
        """What tells whether the database changed since: another connection's commit moves
        ``PRAGMA data_version``, this one's own changes ``total_changes`` (rolled-back ones too).
        None inside a transaction of this connection's own, which may hold its uncommitted writes."""
        raw = self._conn
        if raw.in_transaction and not self._snapshot:
            return None
        return raw.execute("PRAGMA data_version").fetchone()[0], raw.total_changes

    def begin(self, write=True):
        if self._snapshot:
            if not write:
                self._snapshot = False  # the snapshot becomes the transaction: one state read
                return
            self.end_snapshot()
        if self._group is not None or (write and self.group_writes and self._opened is not None):
            self._join()
            return
        if not write:
            self._conn.execute("BEGIN")
            return
        self._begin_immediate()

    def _begin_immediate(self):
        # Writers of all worker processes queue on a kernel file lock, which hands over
        # the moment it is released; SQLite's own busy handler would instead sleep and
        # poll in steps of up to 100 ms, which is what makes concurrent writes slow.
        if self._lock_fd is not None and not self._locked:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            self._locked = True
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._unlock()
            raise

    def _join(self):
        if self._member:
            raise sqlite3.OperationalError("cannot start a transaction within a transaction")
        group = self.open_group()
        self._conn.execute(f"SAVEPOINT {MEMBER_SAVEPOINT}")
        self._member = True
        group.members += 1

    def open_group(self, blocking: bool = True) -> WriteGroup | None:
        """The open write group, opened now if there is none (write lock + ``BEGIN IMMEDIATE``).
        With ``blocking`` false: None instead of waiting while another process holds the lock
        (the pipeline then waits with :meth:`wait_for_lock` on a thread, off the event loop)."""
        if self._group is not None:
            return self._group
        if not blocking and self._lock_fd is not None and not self._locked:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return None
            self._locked = True
        self._begin_immediate()
        group = self._group = WriteGroup()
        try:
            if self._opened is not None:
                self._opened(group)
        except BaseException:
            self._group = None
            self.rollback()
            raise
        return group

    def wait_for_lock(self) -> None:
        """Block until the cross-process write lock is free and take it (run on a thread; the
        event loop then calls :meth:`open_group`, which finds the lock held)."""
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            self._locked = True

    def _unlock(self):
        if self._locked:
            self._locked = False
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def commit(self):
        if self._snapshot:
            self.end_snapshot()
        if self._member:
            self._member = False
            if not self._conn.in_transaction:
                # SQLite ended the shared transaction under this request (see _lost).
                self._lost()
                raise WriteNotCommitted()
            self._conn.execute(f"RELEASE SAVEPOINT {MEMBER_SAVEPOINT}")
            return
        if self._group is not None:
            return  # this caller has nothing open; the group commits in flush_group
        try:
            if self._conn.in_transaction:
                self._conn.execute("COMMIT")
        finally:
            self._unlock()

    def rollback(self):
        if self._snapshot:
            self.end_snapshot()
        if self._member:
            self._member = False
            if self._conn.in_transaction:
                self._conn.execute(f"ROLLBACK TO SAVEPOINT {MEMBER_SAVEPOINT}")
                self._conn.execute(f"RELEASE SAVEPOINT {MEMBER_SAVEPOINT}")
            else:
                self._lost()
            return
        if self._group is not None:
            return  # never undo the work of the group's other members
        try:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        finally:
            self._unlock()

    def _ended(self) -> WriteNotCommitted:
        """A statement of a member after SQLite ended the shared transaction: it must not run
        on its own (it would commit alone), and the request must learn nothing was saved."""
        self._member = False
        self._lost()
        return WriteNotCommitted()

    def _lost(self):
        """SQLite rolled the shared transaction back by itself (an interrupted write, a full
        disk): every member's work is gone, and each of them learns so from the group."""
        group, self._group = self._group, None
        self._unlock()
        if group is not None:
            log.warning("group commit: the database ended a shared transaction of %d write(s); "
                        "the other requests in it run again", group.members)
            group.settle(False)

    def flush_group(self, group: WriteGroup) -> bool:
        """Commit ``group`` if it is the open one; False if a request is inside it right now
        (the caller tries again later). The group's outcome is then settled."""
        if group is not self._group:
            return True  # settled already (lost)
        if self._member:
            return False
        self._group = None
        ok = False
        try:
            if self._conn.in_transaction:
                self._conn.execute("COMMIT")
                ok = True
        except Exception:  # noqa: BLE001 - every member is told; none is acknowledged
            log.exception("group commit failed; the %d write(s) in it run again", group.members)
            try:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
            except Exception:  # noqa: BLE001
                log.exception("rollback after a failed group commit failed")
        finally:
            self._unlock()
        group.settle(ok)
        return True

    def when_durable(self, fn: Callable[[bool], None]) -> None:
        if self._group is not None:
            self._group.when_settled(fn)
        else:
            fn(True)

    @property
    def in_transaction(self):
        if self._group is not None:
            return self._member and self._conn.in_transaction
        return self._conn.in_transaction and not self._snapshot

    def close(self):
        self._snapshot = False  # closing ends any transaction
        if self._group is not None:
            group, self._group, self._member = self._group, None, False
            self.rollback()
            group.settle(False)
        self._unlock()
        self._conn.close()
        if self._lock_fd is not None:
            fd, self._lock_fd = self._lock_fd, None
            os.close(fd)
