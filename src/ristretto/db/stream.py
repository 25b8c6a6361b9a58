"""Read a large SELECT in batches, on a connection of its own.

A listing of every row (``limit_page_length=0``) must not be materialised: its
rows are fetched a batch at a time while the response is being sent. The cursor
lives longer than the request handler and other requests run between two batches,
so it never borrows the request's connection:

* SQLite: a separate read-only connection to the same file, in one read
  transaction (WAL keeps writers going; the stream sees one snapshot). An
  in-memory database has only its one connection, which is used as is.
* PostgreSQL: a connection from a small pool kept for streams (so streams can never
  starve ordinary requests of pooled connections), a server-side cursor inside one
  read-only transaction (one snapshot), ``FETCH`` per batch.

The site's ``query_timeout`` bounds each batch (the query itself runs in the first):
a progress-handler deadline on SQLite, ``statement_timeout`` on PostgreSQL.
The connection goes back (or is closed) in :meth:`RowCursor.close`, which the caller
runs when the stream ends, fails or the client goes away.
"""

from __future__ import annotations

import math
import sqlite3
import time
from typing import TYPE_CHECKING, Any, Sequence

from ristretto.db.base import timeout_error
from ristretto.db.postgres import _pg_sql
from ristretto.db.sqlite import in_memory, set_deadline_handler

if TYPE_CHECKING:
    from ristretto.db.connection import Database

# Streams a worker process runs at once; more wait for a turn (see ristretto.api.streaming).
# PostgreSQL keeps a pool of this size for them.
MAX_STREAMS = 4


class RowCursor:
    """Rows of one SELECT, ``fetch(n)`` at a time; ``close()`` releases the connection."""

    def fetch(self, n: int) -> list[tuple]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class SQLiteCursor(RowCursor):
    def __init__(self, db: "Database", query: str, params: Sequence[Any]):
        self.query = query
        self.timeout = db.query_timeout
        self.deadline = math.inf
        self._cur = None
        if in_memory(db.path):
            # The only connection there is; its own deadline handler watches ``deadline``.
            shared = db._sqlite_conn()
            self._conn, self._own, self._clock = shared._conn, False, shared
        else:
            self._conn = sqlite3.connect(db.path, isolation_level=None, check_same_thread=False, timeout=30.0)
            self._own, self._clock = True, self
            self._conn.execute("PRAGMA query_only=1")
            if self.timeout:
                set_deadline_handler(self._conn, self)
        try:
            if self._own:
                self._conn.execute("BEGIN")
            self._cur = self._run(self._conn.execute, query, params)
        except BaseException:
            self.close()
            raise

    def _run(self, fn, *args):
        clock = self._clock
        if self.timeout:
            clock.deadline = time.monotonic() + self.timeout
        try:
            return fn(*args)
        except sqlite3.OperationalError as e:
            if self.timeout and time.monotonic() > clock.deadline and "interrupt" in str(e):
                raise timeout_error(self.timeout, self.query) from None
            raise

    def fetch(self, n):
        return self._run(self._cur.fetchmany, n)

    def close(self):
        conn, self._conn = self._conn, None
        if conn is None:
            return
        # Drop the cursor now: a statement still referenced keeps a closed connection (and
        # its file and read snapshot) alive until the garbage collector gets to it.
        cur, self._cur, self._clock = self._cur, None, None
        if cur is not None:
            cur.close()
            del cur
        if self._own:
            try:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            finally:
                conn.set_progress_handler(None, 0)
                conn.close()


class PostgresCursor(RowCursor):
    def __init__(self, db: "Database", query: str, params: Sequence[Any]):
        self.query = query
        self.timeout = db.query_timeout
        self._pool = _stream_pool(db)
        self._raw = self._pool.getconn()
        self._cur = None
        try:
            # DECLARE plans the query; the first FETCH runs it.
            self._cur = self._raw.cursor(name="ristretto_stream")
            self._run(self._cur.execute, _pg_sql(query), params or None)
        except BaseException:
            self.close()
            raise

    def _run(self, fn, *args):
        import psycopg
        try:
            return fn(*args)
        except psycopg.errors.QueryCanceled:
            raise timeout_error(self.timeout, self.query) from None

    def fetch(self, n):
        return self._run(self._cur.fetchmany, n)

    def close(self):
        raw, self._raw = self._raw, None
        if raw is None:
            return
        try:
            if self._cur is not None and not raw.closed:
                try:
                    self._cur.close()
                except Exception:  # noqa: BLE001 - an aborted transaction: the rollback ends it
                    pass
            if not raw.closed:
                raw.rollback()
        finally:
            # A broken connection is discarded by the pool.
            self._pool.putconn(raw)


def _stream_pool(db: "Database"):
    if db._stream_pool is None:
        with db._lock:
            if db._stream_pool is None:
                from psycopg_pool import ConnectionPool

                def configure(raw):
                    db.pg_configure(raw)
                    # Streams only read; one transaction each (one snapshot for the cursor).
                    raw.read_only = True

                db._stream_pool = ConnectionPool(
                    db.url, min_size=0, max_size=MAX_STREAMS,
                    kwargs={"autocommit": False, "options": db.pg_options()},
                    configure=configure, open=True)
    return db._stream_pool


def open_cursor(db: "Database", query: str, params: Sequence[Any]) -> RowCursor:
    """Execute ``query`` on a connection of its own; the rows are read with ``fetch``."""
    if db.dialect.name == "sqlite":
        return SQLiteCursor(db, query, params)
    return PostgresCursor(db, query, params)
