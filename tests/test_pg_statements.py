"""How statements reach PostgreSQL (``ristretto.db.postgres``): through psycopg's libpq wrapper
with one Transformer per server connection, prepared after a few runs, the tokens' read in a
pipeline of our own, and request connections handed over without the pool (``_PgHeld``).

Each test pins a way this could go wrong that a plain query would not show: a statement that
fails before it is sent, a prepared statement whose table changed, a connection left inside a
transaction, values converted differently from a psycopg cursor.
"""

from __future__ import annotations

import datetime
import decimal

import psycopg
import pytest

from ristretto.db import state
from ristretto.db.base import IntegrityError
from ristretto.site import Site
from tests.conftest import make_site

_T = '"__pg_probe"'


@pytest.fixture
def pg_site(tmp_path, request):
    site = Site(make_site(tmp_path, "postgres", request))
    yield site
    site.close()


def _ours(conn) -> list[str]:
    """Names of the statements this connection prepared on the server."""
    return [r[0] for r in conn.sql("SELECT name FROM pg_prepared_statements WHERE name LIKE ?", ("_ristretto_%",))]


def test_values_are_converted_as_a_psycopg_cursor_converts_them(pg_site):
    with pg_site.db.connect() as conn:
        conn.execute(f"CREATE TABLE {_T} (k VARCHAR(20) PRIMARY KEY, i BIGINT, f DOUBLE PRECISION, "
                     "n NUMERIC(18,6), t TEXT, b BYTEA, d DATE, ts TIMESTAMP(6), tm TIME(6), j BOOLEAN)")
        values = ("k1", 2**40, 1.5, decimal.Decimal("3.25"), "é ' ?", b"\x00\xff", datetime.date(2026, 1, 2),
                  datetime.datetime(2026, 1, 2, 3, 4, 5, 120000), datetime.time(7, 8, 9), True)
        for _ in range(8):  # unprepared first, then prepared: the same rows either way
            conn.execute(f"DELETE FROM {_T}")
            assert conn.execute(f"INSERT INTO {_T} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", values) == 1
            ours = conn.sql(f"SELECT k, i, f, n, t, b, d, ts, tm, j FROM {_T} WHERE k = ? AND i > ?", ("k1", 5))
            with psycopg.connect(pg_site.db.url, options=pg_site.db.pg_options()) as plain:
                pg_site.db.pg_configure(plain)
                theirs = plain.execute(f"SELECT k, i, f, n, t, b, d, ts, tm, j FROM {_T}").fetchall()
            assert ours == theirs
            assert ours[0][7] == "2026-01-02 03:04:05.120000" and ours[0][6] == "2026-01-02"
            assert conn.execute(f"UPDATE {_T} SET i = i + 1 WHERE k = ?", ("nobody",)) == 0
            assert conn.sql(f"SELECT k FROM {_T} WHERE k = ?", (None,)) == []
        assert _ours(conn)  # run often enough to be prepared


def test_errors_are_psycopg_errors_and_the_connection_stays_usable(pg_site):
    with pg_site.db.connect() as conn:
        conn.execute(f"CREATE TABLE {_T} (k VARCHAR(20) PRIMARY KEY)")
        conn.execute(f"INSERT INTO {_T} (k) VALUES (?)", ("a",))
        for _ in range(7):
            with pytest.raises(IntegrityError):
                conn.execute(f"INSERT INTO {_T} (k) VALUES (?)", ("a",))
            with pytest.raises(psycopg.errors.UndefinedColumn):
                conn.sql(f"SELECT nope FROM {_T}")
            with pytest.raises(psycopg.errors.InvalidTextRepresentation):
                conn.sql(f"SELECT k FROM {_T} WHERE 1 = ?::int", ("x",))
        assert conn.sql(f"SELECT k FROM {_T}") == [("a",)]


def test_a_parameter_that_cannot_be_sent_leaves_nothing_queued(pg_site):
    """The tokens' read travels in a pipeline with the first statement: a value psycopg cannot
    adapt fails before anything is queued, and the connection serves the next request."""
    with pg_site.db.connect() as conn:
        state.read(conn)
    with pg_site.db.connect() as conn:
        state.read(conn, assume=True)  # the next statement carries the tokens' read
        with pytest.raises(psycopg.ProgrammingError):
            conn.sql("SELECT 1 WHERE ? IS NOT NULL", (object(),))
    with pg_site.db.connect() as conn:
        state.read(conn, assume=True)
        assert conn.sql("SELECT ?::int + 1", (1,)) == [(2,)]


def test_a_table_changed_under_a_prepared_statement(pg_site):
    """Prepared statements go when this connection changes or drops a table (as psycopg does
    it): a read whose result type changed still works."""
    with pg_site.db.connect() as conn:
        conn.execute(f"CREATE TABLE {_T} (k VARCHAR(20) PRIMARY KEY, v INTEGER)")
        conn.execute(f"INSERT INTO {_T} (k, v) VALUES (?, ?)", ("a", 1))
        for _ in range(8):
            assert conn.sql(f"SELECT v FROM {_T} WHERE k = ?", ("a",)) == [(1,)]
        assert _ours(conn)
        conn.execute(f"ALTER TABLE {_T} ALTER COLUMN v TYPE VARCHAR(10)")
        assert _ours(conn) == []
        assert conn.sql(f"SELECT v FROM {_T} WHERE k = ?", ("a",)) == [("1",)]
        conn.execute(f"DROP TABLE {_T}")
        conn.execute(f"CREATE TABLE {_T} (k VARCHAR(20) PRIMARY KEY, v INTEGER)")
        for _ in range(8):
            assert conn.sql(f"SELECT v FROM {_T} WHERE k = ?", ("a",)) == []


def test_request_connections_are_reused_only_when_clean(pg_site):
    db = pg_site.db
    with db.connect() as conn:
        first = conn._conn
    with db.connect() as conn:
        assert conn._conn is first        # the same server connection, without the pool
        conn._conn.execute("BEGIN")       # left inside a transaction behind our back
    assert all(raw is not first for _, raw, _ in db._pg_idle)
    with db.connect() as conn:
        assert conn._conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert conn.value("SELECT 1") == 1
    with db.connect() as conn:
        conn.begin()
        conn.execute("SELECT pg_advisory_xact_lock(1)")  # sends BEGIN; rolled back on leaving
    with db.connect() as conn:
        assert conn._conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    db.set_query_timeout(5)  # a new pool: connections of the old one are not kept
    assert db._pg_idle == []
    with db.connect() as conn:
        assert conn.value("SHOW statement_timeout") == "5s"


def test_tokens_riding_with_a_begin_are_checked_and_the_write_undone(pg_site):
    """A read request's first write carries the tokens' read, the BEGIN and the write in one
    round trip; changed tokens abandon the request and what it wrote is rolled back."""
    db = pg_site.db
    with db.connect() as conn:
        conn.execute(f"CREATE TABLE {_T} (k VARCHAR(20) PRIMARY KEY)")
        state.read(conn)
    with db.connect() as conn:
        state.read(conn, assume=True)
        conn.begin()
        conn.execute(f"INSERT INTO {_T} (k) VALUES (?)", ("kept",))
        conn.commit()
    with db.connect() as conn:
        conn.begin()
        state.bump(conn, state.META)           # another worker changes a token
        conn.commit()
    with pytest.raises(state.StaleVersions):
        with db.connect() as conn:
            state.read(conn, assume=True)      # assumes the tokens from before the bump
            conn.begin()
            conn.execute(f"INSERT INTO {_T} (k) VALUES (?)", ("gone",))
    with db.connect() as conn:
        assert conn.sql(f"SELECT k FROM {_T}") == [("kept",)]


def test_listings_are_planned_once_not_on_every_run(pg_site):
    """A listing's LIMIT and OFFSET are written into its text on PostgreSQL: bound, they make the
    generic plan of a prepared statement look dearer than any custom one (an unknown LIMIT is
    taken as a tenth of the table), so every run was planned again (generic_plans stayed 0)."""
    from ristretto.model import document, listing
    with pg_site.admin() as ctx:
        for i in range(4):
            document.insert(ctx, "ToDo", {"description": f"row {i}", "status": ("Open", "Closed")[i % 2]})
        # A table of some size, and its statistics: the generic plan's estimate of an unknown
        # LIMIT (a tenth of it) then outweighs a page.
        ctx.db.execute('INSERT INTO "tabToDo" (name, status, description, creation, modified, owner, modified_by) '
                       "SELECT 'g' || i, CASE WHEN i % 2 = 0 THEN 'Open' ELSE 'Closed' END, 'bulk', "
                       "now() - i * interval '1 second', now() - i * interval '1 second', 'Administrator', "
                       "'Administrator' FROM generate_series(1, 20000) AS i")
    with pg_site.db.connect() as conn:
        conn.execute('ANALYZE "tabToDo"')
    with pg_site.admin() as ctx:
        for _ in range(12):
            assert len(listing.get_list(ctx, "ToDo", filters=[["status", "=", "Open"]], limit=10)) == 10
            assert len(listing.get_list(ctx, "ToDo", fields=["name"], limit=5, offset=3)) == 5
        plans = ctx.db.sql("SELECT statement, generic_plans FROM pg_prepared_statements "
                           "WHERE name LIKE ? AND statement LIKE ?", ("_ristretto_%", '%FROM "tabToDo"%LIMIT%'))
    assert len(plans) == 2, plans
    assert all(generic > 0 for _, generic in plans), plans
