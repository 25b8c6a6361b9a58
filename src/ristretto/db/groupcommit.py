"""Group commit: the write requests of one worker share one SQLite transaction and one commit.

Why: a worker handles its requests one after the other on the event loop, and each write used
to take the cross-process write lock, open ``BEGIN IMMEDIATE`` and commit alone. The commit
(page writes to the WAL, the lock hand-over to the other workers) was a third of a create's
cost. Now the first write of a loop turn opens a :class:`WriteGroup` (lock + ``BEGIN
IMMEDIATE``); every request that writes before the group is flushed joins it inside a
savepoint of its own; at the end of the turn one ``COMMIT`` makes all of them durable.

The rules that keep it exactly as safe as one transaction per request:

- A request's transaction is a savepoint (``SAVEPOINT request``): its ``commit`` releases the
  savepoint, its ``rollback`` undoes only its own work. A failing request never touches the
  work of the others (``tests/api/test_group_commit_pipeline.py``,
  ``tests/api/test_concurrent_failures.py``).
- Nothing of a group is acknowledged before its ``COMMIT``: the pipeline (``ristretto.api.app``)
  holds every response of a request that ran while the group was open, including reads, which
  may have seen the group's uncommitted rows, until :meth:`WriteGroup.settle`. So an answer never
  shows what a crash could still take back.
- Work that must follow the outcome (file bytes, change-stream wake-ups, the request's
  ``on_commit``/``on_rollback`` callbacks) is registered with :meth:`WriteGroup.when_settled`
  and runs after the ``COMMIT`` (or with ``committed=False`` if it failed).
- If SQLite ends the whole transaction on its own (an interrupted write, a full disk), the group
  is *lost*: nothing of any member was saved and none was answered, so the pipeline runs every
  other member again, in a new group (the request whose statement was stopped keeps its own
  error); a request lost again and again is answered
  :class:`~ristretto.exceptions.WriteNotCommitted` (503, nothing saved, safe to retry).

The connection side lives in ``ristretto.db.sqlite``; who flushes and when is the pipeline's
business (it calls :meth:`SQLiteConnection.flush_group` at the end of the loop turn).
"""

from __future__ import annotations

import logging
from typing import Any, Callable

log = logging.getLogger("ristretto")

# The savepoint every member's transaction is (model code nests its own savepoints inside).
MEMBER_SAVEPOINT = "request"


class WriteGroup:
    """One shared write transaction and what waits for its outcome."""

    __slots__ = ("callbacks", "ok", "members", "waiter")

    def __init__(self) -> None:
        self.callbacks: list[Callable[[bool], None]] = []
        self.ok: bool | None = None     # None while open; True committed; False lost
        self.members = 0                # write transactions that joined
        # Whatever the pipeline waits on (an asyncio future); set by the pipeline's scheduler.
        self.waiter: Any = None

    @property
    def settled(self) -> bool:
        return self.ok is not None

    def when_settled(self, fn: Callable[[bool], None]) -> None:
        """Run ``fn(committed)`` once the group's outcome is known."""
        if self.ok is None:
            self.callbacks.append(fn)
        else:
            fn(self.ok)

    def settle(self, ok: bool) -> None:
        """Record the outcome and run what waited for it, in the order it was registered."""
        if self.ok is not None:
            return
        self.ok = ok
        callbacks, self.callbacks = self.callbacks, []
        for fn in callbacks:
            try:
                fn(ok)
            except Exception:  # noqa: BLE001 - the outcome stands; one failing callback must not stop the rest
                log.exception("group commit callback failed")
