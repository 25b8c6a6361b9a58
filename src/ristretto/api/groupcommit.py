"""The pipeline's side of group commit (``ristretto.db.groupcommit`` holds the rules).

When the first write of a turn of the event loop opens a group, :class:`GroupCommits` queues its
flush behind the requests the loop already has ready, so that every write handled in this turn
joins it; the flush commits once, and every response held for the group is then sent (or, if
the group was lost, the request runs again in a new group: ``App._http``).

Only for SQLite with handlers on the event loop (the default): there one connection per worker
serves every request in turn. PostgreSQL requests each take a pooled connection of their own and
commit alone; ``group_commit: false`` in site_config.json turns it off for SQLite too.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging

from ristretto.db.connection import Database
from ristretto.db.groupcommit import WriteGroup

log = logging.getLogger("ristretto")


class GroupCommits:
    def __init__(self, db: Database):
        self.db = db
        db.group_commit = self._opened
        # A write that finds another worker holding the write lock waits for it on this thread,
        # so the event loop goes on serving reads and reading requests; everything that queues
        # up meanwhile joins the group opened once the lock is ours.
        self._locker: concurrent.futures.ThreadPoolExecutor | None = None
        self._lock_wait: asyncio.Future | None = None
        self._waiting = 0   # requests waiting for the lock: the group is not flushed before they join

    async def ready_to_write(self) -> None:
        """Before a write request runs: make sure a group is open (or wait, off the loop, for
        the write lock another worker holds)."""
        conn = self.db.request_connection()
        if conn.write_group is not None:
            return
        if self._lock_wait is None:
            if conn.open_group(blocking=False) is not None:
                return
            if self._locker is None:
                self._locker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="write-lock")
            self._lock_wait = asyncio.get_running_loop().run_in_executor(self._locker, conn.wait_for_lock)
            self._lock_wait.add_done_callback(self._lock_taken)
        self._waiting += 1
        try:
            await asyncio.shield(self._lock_wait)
        finally:
            self._waiting -= 1

    def _lock_taken(self, wait: asyncio.Future) -> None:
        self._lock_wait = None
        if wait.cancelled() or wait.exception() is not None:
            log.error("waiting for the write lock failed: %r", None if wait.cancelled() else wait.exception())
            return
        try:
            self.db.request_connection().open_group()
        except Exception:  # noqa: BLE001 - each waiting request opens (and reports) it itself then
            log.exception("opening a write group failed")

    def _opened(self, group: WriteGroup) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # called without an event loop (App.handle from a test): flush_unawaited commits
        waiter = group.waiter = loop.create_future()
        group.when_settled(lambda ok: waiter.done() or waiter.set_result(ok))
        # call_soon runs after everything the loop already has ready: the requests read in this
        # turn run their handlers first and join the group.
        loop.call_soon(self._flush, group)

    def _flush(self, group: WriteGroup) -> None:
        if self._waiting or not self.db.flush_group(group):
            asyncio.get_running_loop().call_soon(self._flush, group)

    async def durable(self) -> bool:
        """Wait for the group open now, if any (the request just handled ran in it, or read
        while it was open); whether it committed."""
        group = self.db.write_group()
        if group is None:
            return True
        if group.waiter is None:
            self.db.flush_group(group)
            return bool(group.ok)
        return await group.waiter

    def flush_unawaited(self) -> bool:
        """Commit the open group at once if nobody on an event loop will (a direct App.handle call)."""
        group = self.db.write_group()
        if group is None or group.waiter is not None:
            return True
        self.db.flush_group(group)
        return bool(group.ok)
