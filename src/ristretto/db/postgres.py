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
* A request assumes the version tokens (``ristretto.db.state``) it read last and sends
  their read with its first statement, in one round trip (``expect``): the tokens are
  compared before that statement's result is used, and if they changed the request is
  abandoned (:class:`StaleVersions`), its transaction rolled back, and runs again after a
  fresh read. A first statement that could change something outside a transaction (it
  would commit at once) waits until the tokens were checked on their own.

``RoundTrips`` counts what is sent (tests pin the round trips of a request with it).

Client CPU: statements are sent and read by ``ristretto.db.pgsession`` (psycopg's libpq
wrapper, one Transformer per server connection, prepared statements, pipelines of our own).
"""

from __future__ import annotations

import functools
import re
from contextlib import contextmanager
from typing import Iterator

from ristretto.db.base import Connection, IntegrityError, timeout_error
from ristretto.db.dialects import POSTGRES
from ristretto.db.pgsession import _INERROR, _TUPLES_OK, _Session, _session  # noqa: F401 - _Session: benches


def _intrans():
    from psycopg import pq
    return pq.TransactionStatus.INTRANS


_INTRANS = _intrans()

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


class _Savepoint:
    __slots__ = ("server_name", "sent", "released")

    def __init__(self, server_name: str):
        self.server_name = server_name
        self.sent = False        # SAVEPOINT sent (False: waiting with the BEGIN)
        self.released = False    # released, the RELEASE not sent yet


class _Deferred:
    """A write whose result nobody reads, waiting to travel with the next statement or COMMIT."""
    __slots__ = ("query", "params")

    def __init__(self, query: str, params):
        self.query = query
        self.params = params


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
                # As below: released savepoints end first, so the caller's own statement means
                # what it says (a deferred write may be all that is queued).
                released = self._savepoints and self._savepoints[-1].released
                self._control((self._pending_releases() if released else []) + [query])
                return None
            return self._send_after(self._take_queued(), query, params)
        if self._expect is not None \
                and not (self._savepoints and self._savepoints[-1].released and _is_control(query)):
            if self._begun or _plain_read(query):
                return self._send_with_versions(query, params)
            if not self._in_tx:
                # A statement that may change something, outside a transaction, would be done
                # before the tokens could refuse it: they are checked first, on their own.
                self.settle()
            # Else it opens the transaction: the tokens ride with its BEGIN (``_pipeline``), and a
            # stale one rolls the transaction back (``StaleVersions`` ends the request's ``with``).
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

    def _send_after(self, controls: list, query: str, params):
        """Transaction control statements (no parameters; the tokens' read first if one is
        waiting) and deferred writes (``(query, params, prepare)`` items), then ``query``, in
        one round trip."""
        items = [c if isinstance(c, tuple) else (c, (), False) for c in controls]
        items.append((query, params, True))
        return self._pipeline(items, query)[-1]

    def _pipeline(self, items: list[tuple[str, tuple, bool]], query: str) -> list[list]:
        """``items`` in one round trip, the tokens' read first if one is waiting; the results
        of each. The first error is raised (as IntegrityError or a timeout for ``query``)."""
        import psycopg
        expect, self._expect = self._expect, None
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
        return groups

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

    def execute_later(self, query, params=()):
        """``execute`` for a write whose result nobody reads (the change log's row, a Version):
        inside a transaction whose BEGIN is sent, it waits for the transaction's next statement
        or its COMMIT and travels with it, one round trip fewer. Anything sent later in the
        transaction is sent after it (a read sees it); a block it was written in that fails
        drops it; an error of its own is raised by the statement or COMMIT it travels with."""
        if self._in_tx and self._begun:
            self._queued.append(_Deferred(query, params))
        else:
            self.execute(query, params)

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
            queued = self._take_queued()
            if any(item[2] for item in queued):
                # A deferred write has parameters: one pipeline instead of one simple query.
                self._pipeline(queued + [(c, (), False) for c in statements], (statements or [""])[-1])
                return
            statements = [item[0] for item in queued] + statements
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

    def _take_queued(self) -> list[tuple[str, tuple, bool]]:
        """The statements waiting for the next one, as pipeline items ``(query, params,
        prepare)`` (savepoints marked sent: the caller sends them); only deferred writes are
        prepared, so ``prepare`` also says which items have parameters."""
        out: list[tuple[str, tuple, bool]] = []
        for item in self._queued:
            if isinstance(item, _Savepoint):
                item.sent = True
                out.append((f"SAVEPOINT {item.server_name}", (), False))
            elif isinstance(item, _Deferred):
                out.append((item.query, item.params, True))
            else:
                out.append((item, (), False))
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
                try:
                    self._control(["COMMIT"])  # with the deferred writes still waiting
                except BaseException:
                    # A deferred write (or the COMMIT) failed: the transaction is over for the
                    # caller; end it on the server too, so the connection stays usable.
                    self._queued = []
                    self._end_failed()
                    raise
            self._queued = []

    def _end_failed(self) -> None:
        if self._s.pg.transaction_status in (_INERROR, _INTRANS):
            try:
                self._s.run("ROLLBACK", (), prepare=False)
            except Exception:  # noqa: BLE001 - a broken connection is discarded by the pool
                pass

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
                    # Everything still waiting was queued inside this block (the SAVEPOINT went
                    # out with the queue of its time): its deferred writes are undone unsent.
                    self._queued = [i for i in self._queued if not isinstance(i, _Deferred)]
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
