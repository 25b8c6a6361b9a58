"""PostgreSQL connections (psycopg 3).

Our SQL is written with ``?`` placeholders; they become ``%s`` here. Values of date, time,
timestamp and numeric columns are loaded straight into Frappe's text/float forms.
"""

from __future__ import annotations

import functools

from ristretto.db.base import Connection, IntegrityError, timeout_error
from ristretto.db.dialects import POSTGRES

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
