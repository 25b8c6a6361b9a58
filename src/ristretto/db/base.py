"""What every database connection offers, whatever the engine.

:class:`Connection` is the interface the layers above use (``sql``, ``one``, ``value``,
``execute``, explicit transactions and savepoints, always with ``?`` placeholders);
``ristretto.db.sqlite`` and ``ristretto.db.postgres`` implement it. :class:`IntegrityError`
is a failed unique or primary-key constraint on either engine, and :func:`timeout_error`
the error a statement cancelled by ``query_timeout`` becomes.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

from ristretto.db.dialects import Dialect
from ristretto.exceptions import QueryTimeoutError

log = logging.getLogger("ristretto")


class IntegrityError(Exception):
    """A unique or primary-key constraint failed (driver independent)."""


def timeout_error(seconds: float | None, query: str) -> QueryTimeoutError:
    """The error a cancelled statement becomes; the statement (identifiers and placeholders
    only, never values) goes to the server log so the slow query can be found."""
    log.warning("query cancelled after query_timeout (%s s): %s", seconds, " ".join(query.split())[:500])
    limit = f" of {seconds:g} s" if seconds else ""
    return QueryTimeoutError(f"Query timed out: it ran longer than this site's query_timeout{limit} and was "
                             "cancelled. Narrow the filters or ask for fewer rows or fields.",
                             title="Query timed out")


class Connection:
    dialect: Dialect

    def sql(self, query: str, params: Sequence[Any] = ()) -> list[tuple]:
        raise NotImplementedError

    def one(self, query: str, params: Sequence[Any] = ()) -> tuple | None:
        rows = self.sql(query, params)
        return rows[0] if rows else None

    def value(self, query: str, params: Sequence[Any] = (), default: Any = None) -> Any:
        row = self.one(query, params)
        return row[0] if row else default

    def execute(self, query: str, params: Sequence[Any] = ()) -> int:
        raise NotImplementedError

    def execute_later(self, query: str, params: Sequence[Any] = ()) -> None:
        """A write whose result nobody reads (the change log's row, a Version). An engine may
        send it with the transaction's next statement or its commit (PostgreSQL: one round trip
        fewer); statements sent after it still see it. Here, at once."""
        self.execute(query, params)

    def executemany(self, query: str, seq: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError

    def begin(self, write: bool = True) -> None:
        raise NotImplementedError

    def commit(self) -> None:
        raise NotImplementedError

    def rollback(self) -> None:
        raise NotImplementedError

    @property
    def in_transaction(self) -> bool:
        raise NotImplementedError

    def read_snapshot(self) -> None:
        """Let a read request's statements share one read transaction, where that saves work
        (SQLite); nothing on an engine where it would not."""

    def end_snapshot(self) -> None:
        """End what :meth:`read_snapshot` began (the pipeline, as the request ends)."""

    def when_durable(self, fn: Callable[[bool], None]) -> None:
        """Run ``fn(committed)`` once what was committed so far is durable: at once, unless the
        commit was one member's of a group whose own commit is still to come (group commit)."""
        fn(True)

    @contextmanager
    def savepoint(self, name: str = "sp") -> Iterator[None]:
        """Undo only the block on error (a failed statement must not poison the transaction)."""
        if not self.in_transaction:
            yield
            return
        self.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            # An interrupted SQLite write (query_timeout) may have ended the whole transaction.
            if self.in_transaction:
                self.execute(f"ROLLBACK TO SAVEPOINT {name}")
                self.execute(f"RELEASE SAVEPOINT {name}")
            raise
        else:
            self.execute(f"RELEASE SAVEPOINT {name}")

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator["Connection"]:
        """Run a block in a transaction: commit on success, roll back on any error."""
        self.begin(write)
        try:
            yield self
        except BaseException:
            self.rollback()
            raise
        else:
            self.commit()
