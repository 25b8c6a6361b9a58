"""How statements reach PostgreSQL: straight through psycopg's libpq wrapper (``raw.pgconn``).

A psycopg cursor builds, per statement, a cursor, a query object, an adapter map and a
Transformer, and its pipeline polls a socket that is always writable; that was most of a
read request's client CPU. A :class:`_Session` is kept per server connection instead: one
``Transformer`` (the connection's adapters, with the dumpers and loaders it picked cached)
converts parameters and rows exactly as a cursor does (``dump_sequence`` with automatic
formats, text results, tuples); errors are raised as the same ``psycopg.errors`` classes.
Statements run often are prepared on the server as psycopg prepares them (after
``prepare_threshold`` runs, the same parameter types). Several statements may share one
round trip in a pipeline of our own, which waits only for input.

``ristretto.db.postgres`` decides what is sent when (transactions, savepoints, the version
tokens); this module only sends and reads.
"""

from __future__ import annotations

import functools
import re
import select
import time
import weakref


@functools.lru_cache(maxsize=4096)
def _pg_native(query: str) -> tuple[bytes, int]:
    """``query`` with PostgreSQL's own ``$n`` placeholders (the same assumption as
    ``ristretto.db.postgres._pg_sql``), and how many there are."""
    parts = query.split("?")
    out = [parts[0]]
    for i, part in enumerate(parts[1:], 1):
        out.append(f"${i}")
        out.append(part)
    return "".join(out).encode(), len(parts) - 1


class _Session:
    """What one server connection keeps from request to request: a ``Transformer`` (its
    adapters, with the dumpers and loaders it picked cached) and its prepared statements.

    Statements are sent and their results read through ``raw.pgconn``, converted exactly as
    a psycopg cursor converts them (``Transformer.dump_sequence`` with automatic formats,
    text results, tuples), errors raised as the same ``psycopg.errors`` classes."""

    __slots__ = ("raw", "pg", "tx", "encoding", "counts", "names", "serial", "threshold")

    def __init__(self, raw):
        from psycopg.adapt import Transformer
        self.raw = weakref.ref(raw)
        self.pg = raw.pgconn
        self.tx = Transformer(raw)
        self.encoding = self.tx.encoding
        # Prepared as psycopg prepares (after ``prepare_threshold`` runs of a statement with
        # the same parameter types; never with None); names unlike psycopg's own.
        self.counts: dict[tuple[bytes, tuple], int] = {}
        self.names: dict[tuple[bytes, tuple], bytes] = {}
        self.serial = 0
        self.threshold = raw.prepare_threshold

    # --- sending -----------------------------------------------------------------------

    def _dump(self, params):
        tx = self.tx
        values = tx.dump_sequence(params, _auto_formats(len(params)))
        return values, tx.types or (), tx.formats

    def _prepared(self, sql: bytes, types: tuple, pipelined: bool) -> tuple[bytes | None, bool]:
        """The statement's server name (None: send it unprepared), and whether it must be
        prepared first (in a pipeline that rides with it; otherwise it is done here)."""
        key = (sql, types)
        name = self.names.get(key)
        if name is not None:
            return name, False
        if self.threshold is None:
            return None, False
        count = self.counts.get(key, 0)
        if count < self.threshold or len(self.names) >= _MAX_PREPARED:
            if len(self.counts) >= _MAX_COUNTED:
                self.counts.clear()
            self.counts[key] = count + 1
            return None, False
        self.counts.pop(key, None)
        self.serial += 1
        name = b"_ristretto_%d" % self.serial
        if pipelined:
            return name, True
        # Once per statement and connection, as psycopg does it (not counted as a request's trip).
        self.pg.send_prepare(name, sql, param_types=types)
        self._raise_for(self._fetch())
        self.names[key] = name
        return name, False

    def _send(self, sql: bytes, dumped, prepare: bool, pipelined: bool = False):
        """Send one statement (its parameters ``dumped``); returns the key and name of a
        statement prepared with it."""
        pg = self.pg
        values, types, formats = dumped
        name, parse = self._prepared(sql, types, pipelined) if prepare else (None, False)
        if name is None:
            if values is None and not pipelined:
                pg.send_query(sql)  # psycopg's choice too: the simple protocol without parameters
            else:
                pg.send_query_params(sql, values, param_types=types, param_formats=formats, result_format=_TEXT)
            return None
        if parse:
            pg.send_prepare(name, sql, param_types=types)
        pg.send_query_prepared(name, values, param_formats=formats, result_format=_TEXT)
        return ((sql, types), name) if parse else None

    # --- receiving ---------------------------------------------------------------------

    def _flush(self) -> None:
        pg = self.pg
        while pg.flush():
            select.select((), (pg.socket,), ())

    def _next_result(self):
        """The next result (None between statements' results), waiting only for input."""
        pg = self.pg
        while pg.is_busy():
            select.select((pg.socket,), (), ())
            pg.consume_input()
        return pg.get_result()

    def _fetch(self) -> list:
        """Every result of what was sent (outside a pipeline), waiting only for input."""
        results = []
        try:
            self._flush()
            while True:
                res = self._next_result()
                if res is None:
                    return results
                results.append(res)
        except KeyboardInterrupt:
            self._interrupted()
            raise

    def _interrupted(self, cancel: bool = True) -> None:
        """Ctrl-C while waiting (``cancel``: the statement is cancelled on the server, as
        psycopg does), or a failure half way through a pipeline: read what is left so the
        connection is usable again (a broken one is discarded by the pool)."""
        raw = self.raw()
        pg = self.pg
        try:
            if cancel and raw is not None:
                raw.cancel_safe(timeout=5.0)
            if pg.pipeline_status:
                pg.pipeline_sync()  # ends whatever is queued
            deadline = time.monotonic() + 5.0
            while time.monotonic() < deadline:
                self._flush()
                if pg.is_busy():
                    select.select((pg.socket,), (), (), 0.1)
                    pg.consume_input()
                    continue
                if pg.get_result() is not None:
                    continue
                if pg.pipeline_status:
                    try:
                        pg.exit_pipeline_mode()
                    except Exception:  # noqa: BLE001 - results still to read
                        continue
                if pg.transaction_status != _ACTIVE:
                    return
        except Exception:  # noqa: BLE001 - the pool discards a connection left broken
            pass

    def _raise_for(self, results: list) -> None:
        import psycopg.errors as e
        for res in results:
            status = res.status
            if status == _TUPLES_OK or status == _COMMAND_OK or status == _EMPTY_QUERY:
                continue
            if status == _FATAL_ERROR:
                raise e.error_from_result(res, encoding=self.encoding)
            if status == _PIPELINE_ABORTED:
                raise e.PipelineAborted("pipeline aborted")
            raise e.InternalError(f"unexpected result status from query: {status}")

    def rows(self, res) -> list[tuple]:
        """The rows of a result, loaded as a cursor's ``fetchall`` loads them."""
        tx = self.tx
        tx.set_pgresult(res)
        try:
            return tx.load_rows(0, res.ntuples, tuple)
        finally:
            tx.set_pgresult(None)

    # --- statements --------------------------------------------------------------------

    def run(self, query: str, params, prepare: bool = True) -> list:
        """One statement (or a ``;``-separated list without parameters and ``prepare``);
        its results, errors raised."""
        sql = _pg_native(query)[0]
        prepared = self._send(sql, self._dump(params) if params else _NO_PARAMS, prepare)
        results = self._fetch()
        self._check(results, prepared)
        return results

    def run_pair(self, first: str, query: str, params) -> tuple[list, list, BaseException | None]:
        """``first`` (no parameters) and ``query`` in one round trip: the results of each, and
        the error if one failed (not raised: the caller decides which comes first)."""
        groups, error = self.run_pipeline([(first, (), True), (query, params, True)])
        return groups[0], groups[1], error

    def run_pipeline(self, items: list[tuple[str, tuple, bool]]) -> tuple[list[list], BaseException | None]:
        """Statements ``(query, params, prepare)`` in one round trip (a pipeline, one sync at
        the end: after a failed one the rest are skipped, as in a simple query of several):
        the results of each, and the first error (not raised: the caller decides)."""
        import psycopg
        pg = self.pg
        # Parameters are dumped first: a value that cannot be sent fails before anything is.
        dumped = [self._dump(params) if params else _NO_PARAMS for _, params, _ in items]
        pg.enter_pipeline_mode()
        groups: list[list] = []
        try:
            prepared = [self._send(_pg_native(query)[0], d, prepare, True)
                        for (query, _, prepare), d in zip(items, dumped)]
            pg.pipeline_sync()
            self._flush()
            current: list = []
            while True:
                res = self._next_result()
                if res is None:
                    if current:
                        groups.append(current)
                        current = []
                    continue
                if res.status == _PIPELINE_SYNC:
                    break
                current.append(res)
        except BaseException as e:
            # Ctrl-C, or the connection failed: nothing may stay queued on a connection that
            # is used again (a broken one is discarded by the pool).
            self._interrupted(cancel=isinstance(e, KeyboardInterrupt))
            raise
        pg.exit_pipeline_mode()
        # A statement prepared in the pipeline has its Parse result first.
        out: list[list] = []
        error: BaseException | None = None
        for prep in prepared:
            if prep is not None:
                parse = groups.pop(0) if groups else []
                try:
                    self._raise_for(parse)
                except psycopg.Error as e:
                    error = error or e
                else:
                    self.names[prep[0]] = prep[1]
            results = groups.pop(0) if groups else []
            try:
                self._check(results, None)
            except psycopg.Error as e:
                error = error or e
            out.append(results)
        return out, error

    def _check(self, results: list, prepared) -> None:
        if prepared is not None:
            # Its Parse result comes first.
            parse, results[:] = results[:1], results[1:]
            self._raise_for(parse)
            self.names[prepared[0]] = prepared[1]
        try:
            self._raise_for(results)
        except Exception as e:
            if getattr(e, "sqlstate", None) == "0A000" and self.names:
                # "cached plan must not change result type": a table changed under a prepared
                # statement; forget them (psycopg forgets a statement whose run failed).
                self.names.clear()
            raise
        for res in results:
            if res.status == _COMMAND_OK and self.names:
                command = res.command_status or b""
                if _DDL(command):
                    # A changed or dropped object: prepared statements go too, as psycopg does it.
                    self._deallocate()
                    break
                if _GONE(command):
                    self.names.clear()  # the server has forgotten them already

    def _deallocate(self) -> None:
        names, self.names = list(self.names.values()), {}
        self.counts.clear()
        if names and self.pg.transaction_status != _INERROR:
            self.pg.send_query(b"; ".join(b"DEALLOCATE " + n for n in names))
            self._fetch()


_MAX_PREPARED = 200      # prepared statements per connection (beyond: sent unprepared)
_MAX_COUNTED = 2000      # statements whose runs are counted towards preparing
_DDL = re.compile(rb"^(?:DROP|ALTER)\b").match
_GONE = re.compile(rb"^(?:DISCARD ALL|DEALLOCATE ALL)\b").match
_NO_PARAMS = (None, (), None)


@functools.lru_cache(maxsize=64)
def _auto_formats(n: int) -> list:
    from psycopg.adapt import PyFormat
    return [PyFormat.AUTO] * n


def _session(raw) -> _Session:
    # Kept on the connection itself: it lives exactly as long (its Transformer refers to it).
    session = getattr(raw, "_ristretto_session", None)
    if session is None:
        session = raw._ristretto_session = _Session(raw)
    return session


def _status():
    from psycopg import pq
    x, t = pq.ExecStatus, pq.TransactionStatus
    return (x.TUPLES_OK, x.COMMAND_OK, x.EMPTY_QUERY, x.FATAL_ERROR, x.PIPELINE_ABORTED, x.PIPELINE_SYNC,
            t.INERROR, t.ACTIVE, pq.Format.TEXT)


(_TUPLES_OK, _COMMAND_OK, _EMPTY_QUERY, _FATAL_ERROR, _PIPELINE_ABORTED, _PIPELINE_SYNC,
 _INERROR, _ACTIVE, _TEXT) = _status()
