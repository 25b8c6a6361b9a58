"""Connections for work on a thread of its own (webhook delivery, housekeeping).

On SQLite a process's shared connection belongs to the request handlers on the event loop, so a
background thread keeps a connection of its own, opened on first use and closed with
:meth:`OwnConnection.close`; its writes queue on the same cross-process write lock as every
other writer's. On PostgreSQL each use takes a pooled connection, as a request does.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Iterator

from ristretto.db.sqlite import SQLiteConnection

if TYPE_CHECKING:
    from ristretto.db.base import Connection
    from ristretto.db.connection import Database


class OwnConnection:
    """The connection of one background thread (use it from that thread only)."""

    def __init__(self, db: "Database", *, time_limit: bool = True):
        self.db = db
        self.time_limit = time_limit  # the site's query_timeout on SQLite statements, or none
        self._sqlite: SQLiteConnection | None = None

    @contextlib.contextmanager
    def connect(self) -> Iterator["Connection"]:
        db = self.db
        if db.dialect.name != "sqlite":
            with db.connect() as conn:
                yield conn
            return
        if self._sqlite is None:
            self._sqlite = SQLiteConnection(db.path, db.query_timeout if self.time_limit else None)
        yield self._sqlite

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None
