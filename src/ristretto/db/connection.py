"""Database connections for SQLite (embedded) and PostgreSQL.

A :class:`Database` belongs to one site and hands out :class:`Connection` objects.
Connections expose the few calls the layers above need (``sql``, ``one``,
``execute``, explicit transactions) with ``?`` placeholders on both engines.

SQLite: one connection per process, WAL, ``synchronous=NORMAL`` (a committed
transaction survives ``kill -9``), ``BEGIN IMMEDIATE`` for writes so a writer never
fails half way on a lock upgrade, and a busy timeout so writers from several
worker processes queue instead of failing.

PostgreSQL: psycopg 3 with a connection pool; values of date, time, timestamp and
numeric columns are loaded straight into Frappe's text/float forms.

Time limit: ``Database.set_query_timeout`` (the server sets the site's ``query_timeout``;
CLI commands set none) bounds every statement: a SQLite progress handler aborts a
statement past its deadline, PostgreSQL gets ``statement_timeout`` on each connection.
Either way the caller sees :class:`~ristretto.exceptions.QueryTimeoutError`.
Large listings read their rows through ``Database.stream`` (``ristretto.db.stream``).

Where things are: the interface and the common errors in ``ristretto.db.base``, the engines in
``ristretto.db.sqlite`` and ``ristretto.db.postgres``; this module holds :class:`Database`.
"""

from __future__ import annotations

import math
import os
import threading
import time
from typing import Any, ContextManager, Sequence

from ristretto.db.base import Connection, IntegrityError
from ristretto.db.checkpoint import BACKSTOP_PAGES, Checkpointer
from ristretto.db.dialects import POSTGRES, SQLITE, Dialect
from ristretto.db.postgres import PostgresConnection, RoundTrips, _pg_loaders
from ristretto.db.sqlite import SQLiteConnection, in_memory

# The names the layers above import from here (the engines live in their own modules).
__all__ = ["Connection", "Database", "IntegrityError", "PostgresConnection", "SQLiteConnection"]

# This process's id, kept current across forks: ``os.getpid()`` is a system call, and every
# request asked it three times whether the SQLite connection is still this process's.
_pid = os.getpid()


def _forked() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)


# --- Database: one per site --------------------------------------------------------------

class Database:
    """Hands out connections for one site's database URL (``sqlite:///path`` or ``postgresql://``)."""

    def __init__(self, url: str):
        self.url = url
        if url.startswith("sqlite:"):
            self.dialect: Dialect = SQLITE
            self.path = url.split("sqlite:///", 1)[1] if "sqlite:///" in url else url[len("sqlite:"):]
        elif url.startswith(("postgresql:", "postgres:")):
            self.dialect = POSTGRES
        else:
            raise ValueError(f"unsupported database URL {url!r} (use sqlite:///path or postgresql://...)")
        self._sqlite: SQLiteConnection | None = None
        self._sqlite_pid: int | None = None
        self._pool = None
        self._stream_pool = None
        # PostgreSQL request connections between two requests (see ``_PgHeld``).
        self._pg_idle: list[tuple[Any, Any, float]] = []
        # Statements sent to PostgreSQL by this database's request connections (tests count them).
        self.round_trips = RoundTrips()
        self._lock = threading.Lock()
        # Seconds a statement may run (None: unlimited, what CLI commands get).
        self.query_timeout: float | None = None
        # Group commit of the SQLite request connection (ristretto.db.groupcommit): None (off), or
        # who is told when a group opens (the server pipeline, which flushes it).
        self.group_commit = None
        # SQLite WAL checkpoints on a thread of their own (ristretto.db.checkpoint), server only.
        self._checkpointer = None
        # True while a WAL shipper (ristretto.backup.walship) does every checkpoint.
        self._no_checkpoints = False

    def set_query_timeout(self, seconds: float | None) -> None:
        """Limit every statement on this database's connections from now on (None: no limit)."""
        self.query_timeout = float(seconds) if seconds and seconds > 0 else None
        if self._sqlite is not None:
            self._sqlite.set_timeout(self.query_timeout)
        # Pooled PostgreSQL connections carry the limit from their start: reopen the pools.
        self._pg_release_idle()
        for attr in ("_pool", "_stream_pool"):
            pool = getattr(self, attr)
            if pool is not None:
                setattr(self, attr, None)
                pool.close()

    def pg_options(self) -> str:
        """Session options of every PostgreSQL connection (with the statement limit, if any)."""
        options = "-c datestyle=ISO -c TimeZone=UTC"
        if self.query_timeout:
            options += f" -c statement_timeout={max(1, math.ceil(self.query_timeout * 1000))}"
        return options

    def pg_configure(self, raw) -> None:
        """Type loaders every PostgreSQL connection gets (Frappe's text forms of dates, numbers)."""
        for type_name, loader in _pg_loaders().items():
            raw.adapters.register_loader(type_name, loader)

    def stream(self, query: str, params: Sequence[Any] = ()):
        """Run a SELECT on a connection of its own and read its rows in batches
        (``ristretto.db.stream.RowCursor``): one snapshot, bounded memory."""
        from ristretto.db.stream import open_cursor
        return open_cursor(self, query, params)

    def connect(self) -> ContextManager[Connection]:
        """A connection for the duration of a request or command."""
        if self.dialect is SQLITE:
            # Every request takes one: a plain object is a microsecond cheaper than a generator.
            return _Held(self._sqlite_conn())
        return self._pg_connect()

    def _pg_connect(self) -> "_PgHeld":
        return _PgHeld(self)

    def _pg_release_idle(self) -> None:
        """Give the idle request connections back to their pool."""
        idle, self._pg_idle = self._pg_idle, []
        for pool, raw, _ in idle:
            pool.putconn(raw)

    def _sqlite_conn(self) -> SQLiteConnection:
        # One connection per process: reopened after a fork (server workers).
        if self._sqlite is None or self._sqlite_pid != _pid:
            self._sqlite = SQLiteConnection(self.path, self.query_timeout)
            self._sqlite_pid = _pid
            if self.group_commit is not None:
                self._sqlite.enable_group_commit(self.group_commit)
            if self._checkpointer is not None:
                self._sqlite.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
            if self._no_checkpoints:
                self._sqlite.execute("PRAGMA wal_autocheckpoint=0")
        return self._sqlite

    def start_checkpointer(self) -> None:
        """Checkpoint the SQLite WAL on a thread of this process from now on (a server worker)."""
        if self.dialect is not SQLITE or in_memory(self.path) or self._checkpointer is not None \
                or self._no_checkpoints:
            return
        self._checkpointer = Checkpointer(self.path).start()
        if self._sqlite is not None and self._sqlite_pid == _pid:
            self._sqlite.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")

    def stop_checkpoints(self) -> None:
        """Leave every WAL checkpoint of this process to the WAL shipper: no checkpointer thread,
        no automatic checkpoint by the request connection (a checkpoint of frames not shipped yet
        would let the next writer overwrite them)."""
        self._no_checkpoints = True
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        if self._sqlite is not None and self._sqlite_pid == _pid:
            self._sqlite.execute("PRAGMA wal_autocheckpoint=0")

    def request_connection(self) -> SQLiteConnection:
        """This process's SQLite connection (the one every request uses)."""
        return self._sqlite_conn()

    def write_group(self):
        """The SQLite request connection's open write group, if any (group commit)."""
        conn = self._sqlite
        # The attribute behind SQLiteConnection.write_group: asked twice by every request.
        return conn._group if conn is not None and self._sqlite_pid == _pid else None

    def flush_group(self, group) -> bool:
        """Commit ``group`` now (False: a request is inside it; try again later)."""
        return self._sqlite_conn().flush_group(group)

    def _pg_pool(self):
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    from psycopg_pool import ConnectionPool
                    self._pool = ConnectionPool(
                        self.url, min_size=1, max_size=int(os.environ.get("RISTRETTO_PG_POOL", "8")),
                        kwargs={"autocommit": True, "options": self.pg_options()},
                        configure=self.pg_configure, open=True)
        return self._pool

    def close(self) -> None:
        self._pg_release_idle()
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None
        for attr in ("_pool", "_stream_pool"):
            pool = getattr(self, attr)
            if pool is not None:
                setattr(self, attr, None)
                pool.close()


# Seconds a PostgreSQL connection serves requests before it goes back through its pool (which
# then applies its own lifetime and health rules).
PG_KEEP_SECONDS = 30.0


class _PgHeld:
    """``with`` over a PostgreSQL request connection.

    A request takes the connection the last request left (a list used as a stack: taking and
    leaving are atomic under the GIL, so threads may share it) and leaves it there if it is
    healthy, outside any transaction, from the current pool and younger than
    ``PG_KEEP_SECONDS``; any other is given back to the pool, which resets, discards or recycles
    it. The pool's own hand-off (lock, logging, statistics) is then paid only now and then,
    not per request; the pool still bounds how many connections exist."""

    __slots__ = ("db", "entry", "conn")

    def __init__(self, db: Database):
        self.db = db

    def __enter__(self) -> PostgresConnection:
        db = self.db
        try:
            entry = db._pg_idle.pop()
        except IndexError:
            pool = db._pg_pool()
            entry = (pool, pool.getconn(), time.monotonic() + PG_KEEP_SECONDS)
        self.entry = entry
        self.conn = conn = PostgresConnection(entry[1], db.query_timeout, db.round_trips)
        return conn

    def __exit__(self, *exc: object) -> None:
        pool, raw, until = entry = self.entry
        try:
            if self.conn.in_transaction:
                self.conn.rollback()
        finally:
            pg = raw.pgconn
            if pool is self.db._pool and pg.status == _PG_OK and pg.transaction_status == _PG_IDLE \
                    and time.monotonic() < until:
                self.db._pg_idle.append(entry)
            else:
                pool.putconn(raw)


def _pg_states():
    from psycopg import pq
    return pq.ConnStatus.OK, pq.TransactionStatus.IDLE


_PG_OK, _PG_IDLE = _pg_states()


class _Held:
    """``with`` over the process's one SQLite connection (nothing to give back)."""

    __slots__ = ("conn",)

    def __init__(self, conn: SQLiteConnection):
        self.conn = conn

    def __enter__(self) -> SQLiteConnection:
        return self.conn

    def __exit__(self, *exc: object) -> None:
        # A read request's snapshot ends with it (SQLiteConnection.read_snapshot).
        self.conn.end_snapshot()
