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
"""

from __future__ import annotations

import fcntl
import functools
import logging
import math
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

from ristretto.db.dialects import POSTGRES, SQLITE, Dialect
from ristretto.exceptions import QueryTimeoutError

log = logging.getLogger("ristretto")
# SQLite VM instructions between two deadline checks: well under a millisecond of work,
# so a runaway statement stops promptly and the check itself costs nothing measurable.
PROGRESS_STEPS = 10_000


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


def set_deadline_handler(conn: sqlite3.Connection, owner: Any) -> None:
    """Abort ``conn``'s statements once ``owner.deadline`` (monotonic seconds) has passed."""
    def progress() -> bool:
        return time.monotonic() > owner.deadline
    conn.set_progress_handler(progress, PROGRESS_STEPS)


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


# --- SQLite ------------------------------------------------------------------------------

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


# --- PostgreSQL --------------------------------------------------------------------------

@functools.lru_cache(maxsize=4096)
def _pg_sql(query: str) -> str:
    # Our SQL never contains literal '%' or '?' outside placeholders (identifiers are
    # validated, values are parameters), so this rewrite is exact.
    return query.replace("%", "%%").replace("?", "%s")


@functools.lru_cache(maxsize=1)
def _pg_loaders():
    return _pg_adapters()


def _pg_adapters():
    from psycopg.adapt import Loader

    class _Float(Loader):
        def load(self, data):
            return float(bytes(data))

    class _Timestamp(Loader):
        def load(self, data):
            s = bytes(data).decode()
            if "." in s:
                head, frac = s.split(".", 1)
                s = f"{head}.{frac.ljust(6, '0')}"
            return s

    class _Date(Loader):
        def load(self, data):
            return bytes(data).decode()

    class _Time(Loader):
        def load(self, data):
            s = bytes(data).decode()
            if "." in s:
                head, frac = s.split(".", 1)
                s = f"{head}.{frac.ljust(6, '0')}"
            if s[:1] == "0" and s[1:2] != ":":
                s = s[1:]
            return s

    return {"numeric": _Float, "timestamp": _Timestamp, "date": _Date, "time": _Time}


class PostgresConnection(Connection):
    dialect = POSTGRES

    def __init__(self, raw, timeout: float | None = None):
        self._conn = raw
        self._in_tx = False
        # The statement_timeout the connection was opened with (for the error message).
        self.timeout = timeout

    def sql(self, query, params=()):
        import psycopg
        try:
            cur = self._conn.execute(_pg_sql(query), params or None)
        except psycopg.errors.UniqueViolation as e:
            raise IntegrityError(str(e)) from e
        except psycopg.errors.QueryCanceled:
            raise timeout_error(self.timeout, query) from None
        return cur.fetchall() if cur.description is not None else []

    def execute(self, query, params=()):
        import psycopg
        try:
            return self._conn.execute(_pg_sql(query), params or None).rowcount
        except psycopg.errors.UniqueViolation as e:
            raise IntegrityError(str(e)) from e
        except psycopg.errors.QueryCanceled:
            raise timeout_error(self.timeout, query) from None

    def executemany(self, query, seq):
        import psycopg
        try:
            with self._conn.cursor() as cur:
                cur.executemany(_pg_sql(query), seq)
        except psycopg.errors.UniqueViolation as e:
            raise IntegrityError(str(e)) from e
        except psycopg.errors.QueryCanceled:
            raise timeout_error(self.timeout, query) from None

    def begin(self, write=True):
        self._conn.execute("BEGIN")
        self._in_tx = True

    def commit(self):
        if self._in_tx:
            self._in_tx = False
            self._conn.execute("COMMIT")

    def rollback(self):
        if self._in_tx:
            self._in_tx = False
            self._conn.execute("ROLLBACK")

    @property
    def in_transaction(self):
        return self._in_tx


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
        self._lock = threading.Lock()
        # Seconds a statement may run (None: unlimited, what CLI commands get).
        self.query_timeout: float | None = None

    def set_query_timeout(self, seconds: float | None) -> None:
        """Limit every statement on this database's connections from now on (None: no limit)."""
        self.query_timeout = float(seconds) if seconds and seconds > 0 else None
        if self._sqlite is not None:
            self._sqlite.set_timeout(self.query_timeout)
        # Pooled PostgreSQL connections carry the limit from their start: reopen the pools.
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

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection for the duration of a request or command."""
        if self.dialect is SQLITE:
            yield self._sqlite_conn()
            return
        pool = self._pg_pool()
        with pool.connection() as raw:
            conn = PostgresConnection(raw, self.query_timeout)
            try:
                yield conn
            finally:
                if conn.in_transaction:
                    conn.rollback()

    def _sqlite_conn(self) -> SQLiteConnection:
        # One connection per process: reopened after a fork (server workers).
        if self._sqlite is None or self._sqlite_pid != os.getpid():
            self._sqlite = SQLiteConnection(self.path, self.query_timeout)
            self._sqlite_pid = os.getpid()
        return self._sqlite

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
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None
        for attr in ("_pool", "_stream_pool"):
            pool = getattr(self, attr)
            if pool is not None:
                setattr(self, attr, None)
                pool.close()
