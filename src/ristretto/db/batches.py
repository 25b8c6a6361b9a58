"""Deleting many rows without holding the write lock for long: a bounded number per transaction.

Housekeeping (``ristretto.api.housekeeping``) prunes what grows without end: expired sessions,
old log rows. A backlog of millions removed in one statement would hold the database's write
lock (every worker's writes) for as long as it takes; removed a batch at a time, each
transaction is short and stopping half way leaves nothing inconsistent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from ristretto.db.dialects import quote

if TYPE_CHECKING:
    from ristretto.db.base import Connection

# Rows deleted per transaction.
BATCH = 5000


def delete_in_batches(conn: "Connection", table: str, key: str, where: str, params: Sequence[Any] = (),
                      batch: int = BATCH) -> int:
    """``DELETE FROM table WHERE <where>``, at most ``batch`` rows per transaction; how many went.

    ``table`` and ``key`` (a unique column) are names from this code, quoted here; ``where`` is a
    condition written in this code with ``?`` placeholders for ``params`` (never request text)."""
    t, k = quote(table), quote(key)
    sql = f"DELETE FROM {t} WHERE {k} IN (SELECT {k} FROM {t} WHERE {where} LIMIT ?)"
    batch = max(int(batch), 1)
    removed = 0
    while True:
        with conn.transaction(write=True):
            n = conn.execute(sql, (*params, batch))
        removed += n
        if n < batch:
            return removed
