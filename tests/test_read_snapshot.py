"""A read request's statements share one SQLite read transaction (``SQLiteConnection.read_snapshot``).

Real SQLite files; a second connection (its own file descriptors, as another worker process would
have) commits between the statements of the first. What is pinned: a snapshot reads one state of
the database; anything that is not a plain read ends it first and behaves exactly as without one
(a write commits at once, never fails on a stale snapshot); the connection's context ends it; and
the pipeline wraps a GET in one (``BEGIN``, the version tokens' pragma, the reads, ``COMMIT``)
and leaves no transaction open after the request.
"""

from __future__ import annotations

import sqlite3

import pytest

from ristretto.db.connection import Database
from ristretto.db.sqlite import SQLiteConnection
from ristretto.model import document
from ristretto.site import Site
from tests.conftest import make_site, wal_table
from tests.inprocess import InProcess, token_for


@pytest.fixture
def path(tmp_path):
    return wal_table(tmp_path, ("a", "old"))


@pytest.fixture
def conn(path):
    c = SQLiteConnection(path)
    yield c
    c.close()


@pytest.fixture
def other(path):
    """Another worker's connection."""
    c = sqlite3.connect(path, isolation_level=None)
    yield c
    c.close()


def _v(conn) -> str:
    return conn.value("SELECT v FROM t WHERE k = 'a'")


def test_a_snapshot_reads_one_state_of_the_database(conn, other):
    conn.read_snapshot()
    assert _v(conn) == "old"
    other.execute("UPDATE t SET v = 'new' WHERE k = 'a'")
    assert _v(conn) == "old"              # the same read transaction
    assert not conn.in_transaction        # not a transaction a caller began
    conn.end_snapshot()
    assert not conn._conn.in_transaction
    assert _v(conn) == "new"


def test_without_a_snapshot_each_statement_reads_the_latest_state(conn, other):
    assert _v(conn) == "old"
    other.execute("UPDATE t SET v = 'new' WHERE k = 'a'")
    assert _v(conn) == "new"


def test_a_write_ends_the_snapshot_and_commits_at_once(conn, other):
    conn.read_snapshot()
    assert _v(conn) == "old"
    other.execute("UPDATE t SET v = 'new' WHERE k = 'a'")
    # Inside the stale snapshot this write would fail (SQLITE_BUSY_SNAPSHOT); it ends it first.
    assert conn.execute("INSERT INTO t VALUES ('b', 'written')") == 1
    assert not conn._conn.in_transaction
    assert other.execute("SELECT v FROM t WHERE k = 'b'").fetchone() == ("written",)
    assert _v(conn) == "new"


def test_update_returning_through_sql_ends_the_snapshot(conn, other):
    conn.read_snapshot()
    _v(conn)
    other.execute("UPDATE t SET v = 'new' WHERE k = 'a'")
    assert conn.sql("UPDATE t SET v = v || '+1' WHERE k = 'a' RETURNING v") == [("new+1",)]
    assert other.execute("SELECT v FROM t WHERE k = 'a'").fetchone() == ("new+1",)


def test_a_read_transaction_carries_on_in_the_snapshot(conn, other):
    conn.read_snapshot()
    assert _v(conn) == "old"
    conn.begin(write=False)
    assert conn.in_transaction
    other.execute("UPDATE t SET v = 'new' WHERE k = 'a'")
    assert _v(conn) == "old"              # still the state the request first read
    conn.rollback()
    assert not conn.in_transaction and not conn._conn.in_transaction
    assert _v(conn) == "new"


def test_a_write_transaction_ends_the_snapshot_first(conn, other):
    conn.read_snapshot()
    _v(conn)
    other.execute("UPDATE t SET v = 'new' WHERE k = 'a'")
    with conn.transaction():
        assert _v(conn) == "new"
        conn.execute("UPDATE t SET v = 'newer' WHERE k = 'a'")
    assert other.execute("SELECT v FROM t WHERE k = 'a'").fetchone() == ("newer",)


def test_commit_and_rollback_end_it(conn):
    for end in (conn.commit, conn.rollback):
        conn.read_snapshot()
        _v(conn)
        end()
        assert not conn._conn.in_transaction


def test_change_mark_is_kept_in_a_snapshot_not_in_a_write(conn):
    conn.read_snapshot()
    assert conn.change_mark() is not None
    conn.end_snapshot()
    conn.begin(write=True)
    assert conn.change_mark() is None     # its own uncommitted writes may be there
    conn.rollback()


def test_the_connection_context_ends_the_snapshot(tmp_path, path):
    db = Database(f"sqlite:///{path}")
    try:
        with db.connect() as c:
            c.read_snapshot()
            _v(c)
            assert c._conn.in_transaction
        assert not c._conn.in_transaction
    finally:
        db.close()


@pytest.fixture
def site(tmp_path, request):
    s = Site(make_site(tmp_path, "sqlite", request))
    yield s
    s.close()


def test_a_get_reads_in_one_transaction_and_leaves_none_open(site):
    with site.admin() as ctx:
        name = document.insert(ctx, "ToDo", {"description": "snapshot"}).name
    client = InProcess(site_app(site), headers=token_for(site, "Administrator"))
    try:
        url = f"/api/resource/ToDo/{name}"
        assert client.get(url).status_code == 200  # caches warm: only the request's own work below
        raw = site.db.request_connection()._conn
        statements: list[str] = []
        raw.set_trace_callback(statements.append)
        try:
            response = client.get(url)
        finally:
            raw.set_trace_callback(None)
        assert response.status_code == 200 and response.json()["data"]["description"] == "snapshot"
        assert statements[0] == "BEGIN" and statements[-1] == "COMMIT", statements
        assert statements.count("BEGIN") == 1 and statements.count("COMMIT") == 1, statements
        assert "PRAGMA data_version" in statements[1:-1]
        assert any(s.startswith("SELECT") and "tabToDo" in s for s in statements[1:-1]), statements
        assert not raw.in_transaction
        # A write request opens no snapshot: its statements run in its own write transaction.
        statements.clear()
        raw.set_trace_callback(statements.append)
        try:
            assert client.put(url, json={"description": "written"}).status_code == 200
        finally:
            raw.set_trace_callback(None)
        assert "BEGIN" not in statements and "BEGIN IMMEDIATE" in statements, statements
        assert not raw.in_transaction
        assert client.get(url).json()["data"]["description"] == "written"
    finally:
        client.close()


def site_app(site):
    from ristretto.api.app import App
    return App(site)
