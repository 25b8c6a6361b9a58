"""PostgreSQL connections (psycopg 3).

Our SQL is written with ``?`` placeholders; they become ``$1``, ``$2``... here. Values of date, time,
timestamp and numeric columns are loaded straight into Frappe's text/float forms.

Round trips: every statement waits for the server, so a request pays per statement sent,
not per row. Transaction control is therefore sent lazily, never changing what a request
sees or writes (READ COMMITTED: each statement reads its own fresh snapshot, in or out of
a transaction):

* ``BEGIN`` (and the savepoints opened after it) waits for the first statement that is not
  a plain read, and travels with it in one pipeline; plain reads before it run on their
  own, exactly as they would inside the transaction, and a transaction that only read
  sends neither ``BEGIN`` nor ``ROLLBACK``.
  A plain read is a ``SELECT`` calling only functions known to be free of side effects
  (:func:`_plain_read`); anything else (a write, ``FOR UPDATE``, an advisory lock, a
  function of an app) is sent inside the transaction as before.
* ``RELEASE SAVEPOINT`` waits for the next savepoint, ``COMMIT`` or ``ROLLBACK``, which
  carries it (or makes it needless) in the same round trip. Savepoints get unique names on
  the server, so a savepoint left open a little longer never shadows another of the same name.
* A savepoint opened once ``BEGIN`` is sent waits for the next statement and travels with
  it; a block that sends nothing sends no savepoint (and has nothing to undo).
* Control statements that wait are sent together, as one simple query, or in the pipeline
  of the statement they wait for.
* A read request assumes the version tokens (``ristretto.db.state``) it read last and sends
  their read with its first statement, in one round trip (``expect``): the tokens are
  compared before that statement's result is used, and if they changed the request is
  abandoned (:class:`StaleVersions`) and runs again after a fresh read.

``RoundTrips`` counts what is sent (tests pin the round trips of a request with it).

Client CPU: statements go straight through psycopg's libpq wrapper (``raw.pgconn``) with one
``Transformer`` per server connection (:class:`_Session`), the same adapters and loaders a
psycopg cursor uses, instead of a new cursor, query object and adapter map per statement;
the tokens' read and a statement share a pipeline of our own that waits only for input
(psycopg's pipeline polls a socket that is always writable). Statements run often are
prepared on the server as psycopg would prepare them (after ``prepare_threshold`` runs).
"""

from __future__ import annotations

import functools
import re
import select
import time
import weakref
from contextlib import contextmanager
from typing import Iterator

from ristretto.db.base import Connection, IntegrityError, timeout_error
from ristretto.db.dialects import POSTGRES

@functools.lru_cache(maxsize=4096)
def _pg_sql(query: str) -> str:
    # Our SQL never contains literal '%' or '?' outside placeholders (identifiers are
    # validated, values are parameters), so this rewrite is exact.
    return query.replace("%", "%%").replace("?", "%s")


@functools.lru_cache(maxsize=4096)
def _pg_native(query: str) -> tuple[bytes, int]:
    """``query`` with PostgreSQL's own ``$n`` placeholders (the same assumption as
    :func:`_pg_sql`), and how many there are."""
    parts = query.split("?")
    out = [parts[0]]
    for i, part in enumerate(parts[1:], 1):
        out.append(f"${i}")
        out.append(part)
    return "".join(out).encode(), len(parts) - 1


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
            s = str(data, "utf-8")
            dot = s.find(".")
            if dot < 0 or len(s) - dot == 7:  # no fraction, or all six digits already
                return s
            return f"{s[:dot]}.{s[dot + 1:].ljust(6, '0')}"

    class _Date(Loader):
        def load(self, data):
            return str(data, "utf-8")

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


class RoundTrips:
    """Statements sent to the server by a database's connections (each is a round trip), and
    the version tokens they read last (what the next read request assumes)."""

    __slots__ = ("count", "versions")

    def __init__(self) -> None:
        self.count = 0
        self.versions: dict[str, str] | None = None


class StaleVersions(BaseException):
    """The version tokens a request assumed had changed: the request must run again.

    A BaseException: no handler's ``except Exception`` may turn it into an answer."""


# Functions a plain read may call: pure ones only (aggregates, casts, text and date helpers),
# plus the keywords that precede a parenthesis in our SQL. Any other name followed by "("
# may have side effects (nextval, advisory locks, an app's function): such a SELECT runs
# inside the transaction.
_PURE = frozenset("""
    select from where and or not in exists any all as on join using values over partition filter
    count sum avg min max coalesce nullif greatest least cast lower upper length char_length
    substr substring trim ltrim rtrim replace position strpos concat abs round floor ceil
    date_trunc extract to_char date_part array_agg string_agg bool_and bool_or txid_current_if_assigned
""".split())
_CALL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_QUOTED = re.compile(r'"[^"]*"')
_LOCKING = re.compile(r"\bfor\s+(update|share|no\s+key|key\s+share)\b", re.I)
_CONTROL = re.compile(r"^\s*(savepoint|release|rollback|begin|commit|start|end|abort)\b", re.I)


@functools.lru_cache(maxsize=4096)
def _plain_read(query: str) -> bool:
    """Whether ``query`` only reads: its result is the same in or out of a READ COMMITTED
    transaction, and it changes nothing a rollback would have to undo."""
    text = _QUOTED.sub('""', query)
    if not text.lstrip()[:6].upper() == "SELECT" or ";" in text or _LOCKING.search(text):
        return False
    return all(name.lower() in _PURE for name in _CALL.findall(text))


@functools.lru_cache(maxsize=4096)
def _is_control(query: str) -> bool:
    return _CONTROL.match(query) is not None


class _Session:
    """What one server connection keeps from request to request: a ``Transformer`` (its
    adapters, with the dumpers and loaders it picked cached) and its prepared statements.

    Statements are sent and their results read through ``raw.pgconn``, converted exactly as
    a psycopg cursor converts them (``Transformer.dump_sequence`` with automatic formats,
    text results, tuples), errors raised as the same ``psycopg.errors`` classes."""

    __slots__ = ("raw", "pg", "tx", "encoding", "counts", "names", "serial", "threshold", "__weakref__")

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

    def _fetch(self) -> list:
        """Every result of what was sent (outside a pipeline), waiting only for input."""
        pg = self.pg
        results = []
        try:
            self._flush()
            while True:
                while pg.is_busy():
                    select.select((pg.socket,), (), ())
                    pg.consume_input()
                res = pg.get_result()
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
                while pg.is_busy():
                    select.select((pg.socket,), (), ())
                    pg.consume_input()
                res = pg.get_result()
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


class _Savepoint:
    __slots__ = ("server_name", "sent", "released")

    def __init__(self, server_name: str):
        self.server_name = server_name
        self.sent = False        # SAVEPOINT sent (False: waiting with the BEGIN)
        self.released = False    # released, the RELEASE not sent yet


class PostgresConnection(Connection):
    dialect = POSTGRES

    def __init__(self, raw, timeout: float | None = None, trips: RoundTrips | None = None):
        self._conn = raw
        self._s = _session(raw)
        self._in_tx = False
        self._begun = False                  # BEGIN sent
        self._savepoints: list[_Savepoint] = []
        # Savepoints opened after the BEGIN (and the RELEASEs before them), sent with the next
        # statement: a block that sends nothing costs no round trip.
        self._queued: list = []
        self._serial = 0
        self.trips = trips if trips is not None else RoundTrips()
        # Version tokens read at the request's start (``ristretto.db.state``), and the read
        # still to send with the next statement (``expect``).
        self.versions: dict[str, str] | None = None
        self._expect: tuple[str, dict[str, str]] | None = None
        # The statement_timeout the connection was opened with (for the error message).
        self.timeout = timeout

    # --- statements ------------------------------------------------------------------

    def _send(self, query: str, params):
        """One statement; a waiting BEGIN (and its savepoints) goes first, unless it only reads;
        savepoints opened after the BEGIN go first whatever it is."""
        import psycopg
        if self._queued:
            if _is_control(query):
                self._control([query])
                return None
            return self._send_after(self._take_queued(), query, params)
        if self._expect is not None and (not self._in_tx or self._begun or _plain_read(query)) \
                and not (self._savepoints and self._savepoints[-1].released and _is_control(query)):
            return self._send_with_versions(query, params)
        if self._in_tx:
            if not self._begun:
                if not _plain_read(query):
                    if _is_control(query):
                        # A savepoint of the caller's own: one round trip with the BEGIN.
                        self._control(self._pending_begin() + [query])
                        return None
                    return self._send_after(self._pending_begin(), query, params)
            elif self._savepoints and self._savepoints[-1].released and _is_control(query):
                # Released savepoints stay innermost on the server: the caller's own
                # SAVEPOINT / ROLLBACK TO / RELEASE then means what it says.
                self._control(self._pending_releases() + [query])
                return None
        self.trips.count += 1
        try:
            return self._s.run(query, params)
        except psycopg.errors.UniqueViolation as e:
            raise IntegrityError(str(e)) from e
        except psycopg.errors.QueryCanceled:
            raise timeout_error(self.timeout, query) from None

    def _send_after(self, controls: list[str], query: str, params):
        """Transaction control statements (no parameters; the tokens' read first if one is
        waiting) and then ``query``, in one round trip."""
        import psycopg
        expect, self._expect = self._expect, None
        items = [(c, (), False) for c in controls]
        items.append((query, params, True))
        if expect is not None:
            items.insert(0, (expect[0], (), True))
        self.trips.count += 1
        groups, error = self._s.run_pipeline(items)
        if expect is not None:
            tokens = groups[0]
            if error is None or (tokens and tokens[0].status == _TUPLES_OK):
                self._compare(self._s.rows(tokens[0]), expect[1])
        if error is not None:
            if isinstance(error, psycopg.errors.UniqueViolation):
                raise IntegrityError(str(error)) from error
            if isinstance(error, psycopg.errors.QueryCanceled):
                raise timeout_error(self.timeout, query) from None
            raise error
        return groups[-1]

    def sql(self, query, params=()):
        results = self._send(query, params)
        if not results:
            return []
        res = results[0]
        return self._s.rows(res) if res.status == _TUPLES_OK else []

    def execute(self, query, params=()):
        results = self._send(query, params)
        if not results:
            return -1
        # What a cursor's ``rowcount`` says of its first result.
        res = results[0]
        if res.status == _TUPLES_OK:
            return res.ntuples
        n = res.command_tuples
        return -1 if n is None else n

    def executemany(self, query, seq):
        import psycopg
        self.settle()
        if self._in_tx and not self._begun:
            self._control(self._pending_begin())
        elif self._queued:
            self._control([])
        self.trips.count += 1
        try:
            with self._conn.cursor() as cur:
                cur.executemany(_pg_sql(query), seq)
        except psycopg.errors.UniqueViolation as e:
            raise IntegrityError(str(e)) from e
        except psycopg.errors.QueryCanceled:
            raise timeout_error(self.timeout, query) from None

    def _control(self, statements: list[str]) -> None:
        """Transaction control statements (no parameters), sent as one simple query, after
        the savepoints waiting for the next statement."""
        import psycopg
        if self._queued:
            statements = self._take_queued() + statements
        if not statements:
            return
        expect, self._expect = self._expect, None
        if expect is not None:
            statements = [expect[0]] + statements  # the version tokens first, same round trip
        self.trips.count += 1
        try:
            results = self._s.run("; ".join(statements), (), prepare=False)
        except psycopg.errors.QueryCanceled:
            raise timeout_error(self.timeout, statements[-1]) from None
        if expect is not None:
            self._compare(self._s.rows(results[0]), expect[1])

    # --- version tokens (ristretto.db.state) -------------------------------------------

    def expect(self, query: str, assumed: dict[str, str]) -> None:
        """Send ``query`` (the tokens' read, no parameters) with the next statement; raise
        :class:`StaleVersions` then if its rows differ from ``assumed``."""
        self._expect = (query, assumed)
        self.versions = dict(assumed)

    def settle(self) -> None:
        """Check the tokens now if no statement carried their read (raises StaleVersions)."""
        if self._expect is not None:
            query, assumed = self._expect
            self._expect = None
            self.trips.count += 1
            self._compare(self._s.rows(self._s.run(query, ())[0]), assumed)

    def _compare(self, rows, assumed: dict[str, str]) -> None:
        found = dict(rows)
        self.versions = dict(found)
        self.trips.versions = found
        if found != assumed:
            raise StaleVersions()

    def _send_with_versions(self, query: str, params):
        """The tokens' read and ``query`` in one round trip (a pipeline); the tokens are
        compared first, whatever became of ``query``."""
        import psycopg
        expect_query, assumed = self._expect
        self._expect = None
        self.trips.count += 1
        tokens, results, error = self._s.run_pair(expect_query, query, params)
        if error is not None:
            if tokens and tokens[0].status == _TUPLES_OK:
                self._compare(self._s.rows(tokens[0]), assumed)
            if isinstance(error, psycopg.errors.UniqueViolation):
                raise IntegrityError(str(error)) from error
            if isinstance(error, psycopg.errors.QueryCanceled):
                raise timeout_error(self.timeout, query) from None
            raise error
        self._compare(self._s.rows(tokens[0]), assumed)
        return results

    def _pending_begin(self) -> list[str]:
        """BEGIN and the savepoints opened since, marked sent (the caller sends them)."""
        self._begun = True
        out = ["BEGIN"]
        for sp in self._savepoints:
            sp.sent = True
            out.append(f"SAVEPOINT {sp.server_name}")
        return out

    def _take_queued(self) -> list[str]:
        """The statements waiting for the next one (savepoints marked sent: the caller sends them)."""
        out = []
        for item in self._queued:
            if isinstance(item, _Savepoint):
                item.sent = True
                out.append(f"SAVEPOINT {item.server_name}")
            else:
                out.append(item)
        self._queued = []
        return out

    def _unqueue(self, sp: _Savepoint) -> None:
        """Forget a savepoint that is still waiting (no statement ran in its block), and what
        waits after it (its block's own)."""
        i = self._savepoints.index(sp)
        del self._savepoints[i:]
        for j, item in enumerate(self._queued):
            if item is sp:
                del self._queued[j:]
                return

    def _pending_releases(self) -> list[str]:
        """The RELEASE of the outermost released savepoint on top (it ends those inside it)."""
        sps = self._savepoints
        i = len(sps)
        while i and sps[i - 1].released:
            i -= 1
        if i == len(sps):
            return []
        first = sps[i]
        del sps[i:]
        if self._s.pg.transaction_status == _INERROR:
            # A failed transaction takes no RELEASE: left open, the savepoint (unique name)
            # is ended by the ROLLBACK TO or ROLLBACK that must come next.
            return []
        return [f"RELEASE SAVEPOINT {first.server_name}"]

    # --- transactions ----------------------------------------------------------------

    def begin(self, write=True):
        # Sent with the first statement that needs it (see the module docstring).
        self._in_tx = True
        self._begun = False
        self._savepoints = []
        self._queued = []

    def commit(self):
        if self._in_tx:
            self._in_tx = False
            self._savepoints = []
            if self._begun:
                self._begun = False
                self._control(["COMMIT"])
            self._queued = []

    def rollback(self):
        if self._in_tx:
            self._in_tx = False
            self._savepoints = []
            self._queued = []  # ended by the ROLLBACK
            if self._begun:
                self._begun = False
                self._control(["ROLLBACK"])

    @property
    def in_transaction(self):
        return self._in_tx

    @contextmanager
    def savepoint(self, name: str = "sp") -> Iterator[None]:
        """Undo only the block on error. Before the transaction's BEGIN is sent nothing is
        sent (the block's plain reads need no undo); the RELEASE waits (see the docstring)."""
        if not self._in_tx:
            yield
            return
        self._serial += 1
        sp = _Savepoint(f"{name}_{self._serial}")
        if self._begun:
            # Sent with the next statement (a block that sends none needs no savepoint).
            self._queued += self._pending_releases()
            self._queued.append(sp)
        self._savepoints.append(sp)
        try:
            yield
        except BaseException:
            if self._in_tx and sp in self._savepoints:
                if sp.sent:
                    del self._savepoints[self._savepoints.index(sp) + 1:]  # ended by the rollback
                    self._control([f"ROLLBACK TO SAVEPOINT {sp.server_name}"])
                    sp.released = True
                else:
                    self._unqueue(sp)  # nothing of the block was sent: nothing to undo
            raise
        else:
            if sp in self._savepoints:
                if sp.sent:
                    sp.released = True
                else:
                    self._unqueue(sp)


def _status():
    from psycopg import pq
    x, t = pq.ExecStatus, pq.TransactionStatus
    return (x.TUPLES_OK, x.COMMAND_OK, x.EMPTY_QUERY, x.FATAL_ERROR, x.PIPELINE_ABORTED, x.PIPELINE_SYNC,
            t.INERROR, t.ACTIVE, pq.Format.TEXT)


(_TUPLES_OK, _COMMAND_OK, _EMPTY_QUERY, _FATAL_ERROR, _PIPELINE_ABORTED, _PIPELINE_SYNC,
 _INERROR, _ACTIVE, _TEXT) = _status()
