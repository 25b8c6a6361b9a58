"""Round trips to PostgreSQL per request, and the transaction behaviour that lets them be few.

The PostgreSQL connection sends ``BEGIN`` only when a transaction first does more than
read, savepoints with it, and ``RELEASE SAVEPOINT`` with the next control statement; a read
request sends the version tokens' read with its first statement and runs again if they
changed (``ristretto.db.postgres``, ``ristretto.db.state``). The counts of a request's statements are pinned here (counts,
never timings): a change that adds a round trip to a common request fails. The behaviour
tests run on both databases: what a transaction commits or undoes is the same as with
every statement sent at once.
"""

from __future__ import annotations

import contextlib

import pytest

from ristretto.db.postgres import _plain_read
from ristretto.model import document, listing
from ristretto.site import Site
from ristretto.site.install import add_user
from tests.conftest import make_site
from tests.inprocess import InProcess, token_for

_T = '"__rt_probe"'


@pytest.fixture
def conn_of(site_dir):
    site = Site(site_dir)
    with site.db.connect() as conn:
        conn.execute(f"CREATE TABLE {_T} (k VARCHAR(20) PRIMARY KEY, v INTEGER)")
        yield site, conn
    site.close()


def _rows(conn) -> list[tuple]:
    return [tuple(r) for r in conn.sql(f"SELECT k, v FROM {_T} ORDER BY k")]


def _insert(conn, k: str, v: int = 0) -> None:
    conn.execute(f"INSERT INTO {_T} (k, v) VALUES (?, ?)", (k, v))


def _duplicate_fails(conn, k: str) -> None:
    from ristretto.db.base import IntegrityError
    with pytest.raises(IntegrityError):
        with conn.savepoint("probe"):
            _insert(conn, k)


def test_reads_then_writes_in_one_transaction_roll_back_together(conn_of):
    _, conn = conn_of
    _insert(conn, "kept", 1)
    conn.begin(write=False)
    assert _rows(conn) == [("kept", 1)]          # a read first: nothing to undo yet
    conn.execute(f"UPDATE {_T} SET v = 2 WHERE k = ?", ("kept",))
    _insert(conn, "gone")
    assert _rows(conn) == [("gone", 0), ("kept", 2)]
    conn.rollback()
    assert _rows(conn) == [("kept", 1)]


def test_failed_block_undoes_only_itself_whether_or_not_begin_was_sent(conn_of):
    _, conn = conn_of
    _insert(conn, "a")
    with conn.transaction():
        # The savepoint opens before any write: on PostgreSQL BEGIN has not been sent yet.
        with pytest.raises(RuntimeError):
            with conn.savepoint("block"):
                _insert(conn, "b")
                raise RuntimeError("the block fails after writing")
        _duplicate_fails(conn, "a")              # a failed statement inside a savepoint
        _insert(conn, "c")
    assert _rows(conn) == [("a", 0), ("c", 0)]


def test_a_first_write_that_fails_together_with_its_begin(conn_of):
    # On PostgreSQL BEGIN (and the savepoint) travel in one pipeline with the first write.
    from ristretto.db.base import IntegrityError
    _, conn = conn_of
    _insert(conn, "a")
    with conn.transaction():
        _duplicate_fails(conn, "a")
        _insert(conn, "b")
    assert _rows(conn) == [("a", 0), ("b", 0)]
    with pytest.raises(IntegrityError):
        with conn.transaction():
            _insert(conn, "a")                   # no savepoint: the transaction fails
    with pytest.raises(IntegrityError):
        with conn.transaction():
            _insert(conn, "c")
            _insert(conn, "a")
    _insert(conn, "d")                           # usable again after each rollback
    assert _rows(conn) == [("a", 0), ("b", 0), ("d", 0)]


def test_savepoints_after_the_begin_wait_for_the_next_statement(conn_of):
    # On PostgreSQL a savepoint opened after BEGIN travels with the next statement; a block
    # that sends nothing sends no savepoint. What each block undoes is unchanged.
    _, conn = conn_of
    _insert(conn, "a")
    with conn.transaction():
        _insert(conn, "b")                       # BEGIN sent
        with pytest.raises(RuntimeError):
            with conn.savepoint("empty"):
                raise RuntimeError("fails before sending anything")
        with conn.savepoint("quiet"):
            pass
        _duplicate_fails(conn, "a")              # the savepoint and the failing INSERT together
        with pytest.raises(RuntimeError):
            with conn.savepoint("outer"):
                _insert(conn, "c")
                with conn.savepoint("inner"):
                    _insert(conn, "d")
                with pytest.raises(RuntimeError):
                    with conn.savepoint("inner"):
                        with conn.savepoint("innermost"):
                            pass
                        raise RuntimeError("undoes nothing of its own")
                _insert(conn, "e")
                raise RuntimeError("undoes c, d and e")
        with conn.savepoint("after"):
            _insert(conn, "f")
            with conn.savepoint("nested"):
                _insert(conn, "g")
        _insert(conn, "h")
    assert _rows(conn) == [("a", 0), ("b", 0), ("f", 0), ("g", 0), ("h", 0)]


def test_released_inner_savepoint_of_the_same_name_is_undone_with_its_outer_one(conn_of):
    _, conn = conn_of
    with conn.transaction():
        _insert(conn, "first")
        with pytest.raises(RuntimeError):
            with conn.savepoint("doc"):
                _insert(conn, "outer")
                with conn.savepoint("other"):
                    _insert(conn, "other")
                with conn.savepoint("doc"):          # nested, same name, released
                    _insert(conn, "inner")
                raise RuntimeError("the outer block fails")
        _insert(conn, "last")
    assert _rows(conn) == [("first", 0), ("last", 0)]


def test_own_savepoint_statements_after_a_released_savepoint(conn_of):
    # ristretto.api.v2.batch sends SAVEPOINT / ROLLBACK TO / RELEASE itself.
    _, conn = conn_of
    with conn.transaction():
        with conn.savepoint("released"):
            _insert(conn, "a")
        conn.execute("SAVEPOINT mine")
        _insert(conn, "b")
        conn.execute("ROLLBACK TO SAVEPOINT mine")
        conn.execute("RELEASE SAVEPOINT mine")
        with conn.savepoint("again"):
            _insert(conn, "c")
        conn.execute("SAVEPOINT mine")
        _insert(conn, "d")
        conn.execute("RELEASE SAVEPOINT mine")
    assert _rows(conn) == [("a", 0), ("c", 0), ("d", 0)]


def test_what_counts_as_a_plain_read():
    assert _plain_read('SELECT COUNT(*) FROM "tabToDo" WHERE "status" IN (?, ?)')
    assert _plain_read('SELECT "nextval" FROM "t"')              # a column, not a call
    assert not _plain_read('SELECT "name" FROM "t" WHERE "name" = ? FOR UPDATE')
    assert not _plain_read("SELECT pg_advisory_xact_lock(?)")
    assert not _plain_read("SELECT nextval('s')")
    assert not _plain_read("SELECT my_app_function(?)")
    assert not _plain_read('UPDATE "t" SET "v" = 1')
    assert not _plain_read("SELECT 1; DELETE FROM t")


# --- round trips (PostgreSQL) ----------------------------------------------------------------

def _pg_only(backend):
    if backend != "postgres":
        pytest.skip("round trips are counted on PostgreSQL")


def test_transaction_control_rides_along(conn_of, backend):
    _pg_only(backend)
    site, conn = conn_of
    trips = site.db.round_trips
    before = trips.count
    with conn.transaction(write=False):
        with conn.savepoint("q"):
            conn.sql(f"SELECT COUNT(*) FROM {_T}")
    assert trips.count - before == 1             # no BEGIN, SAVEPOINT, RELEASE or ROLLBACK
    before = trips.count
    with conn.transaction():
        with conn.savepoint("w"):
            _insert(conn, "x")
        _insert(conn, "y")
    # BEGIN and SAVEPOINT in one pipeline with the first INSERT, the second INSERT, COMMIT
    # (the RELEASE needless before it)
    assert trips.count - before == 3


@pytest.fixture
def pg_client(tmp_path, request):
    site_dir = make_site(tmp_path, "postgres", request)
    client = InProcess.open(site_dir)
    add_user(client.site, "rt@example.com", "rt-pw-12345", ["System Manager"])
    client.headers.update(token_for(client.site, "rt@example.com"))
    yield client
    client.close()


# Statements one request sends, warm (metadata, API key and plans cached).
PINNED = {
    "get": 1,        # the version tokens and the document, one pipeline
    "list": 1,       # the version tokens and the page of names
    "count": 1,      # the version tokens and the count: a read-only method sends no BEGIN/ROLLBACK
    "create": 2,     # tokens + BEGIN + SAVEPOINT + the row (one pipeline), the change log + COMMIT
    "update": 3,     # tokens + BEGIN + the row FOR UPDATE, SAVEPOINT + UPDATE, Version + change log + COMMIT
}


def test_round_trips_per_request(pg_client):
    client = pg_client
    with client.site.admin() as ctx:
        names = [document.insert(ctx, "ToDo", {"description": f"row {i}"}).name for i in range(5)]
    requests = {
        "get": lambda i: client.get(f"/api/resource/ToDo/{names[i % 5]}"),
        "list": lambda i: client.get("/api/resource/ToDo"),
        "count": lambda i: client.get("/api/method/frappe.client.get_count", params={"doctype": "ToDo"}),
        "create": lambda i: client.post("/api/resource/ToDo", json={"description": f"new {i}"}),
        "update": lambda i: client.put(f"/api/resource/ToDo/{names[i % 5]}", json={"priority": "High"}),
    }
    trips = client.site.db.round_trips
    seen = {}
    for key, send in requests.items():
        for i in range(3):  # warm: caches filled, statements prepared
            assert send(i).status_code == 200
        before = trips.count
        assert send(3).status_code == 200
        seen[key] = trips.count - before
    assert seen == PINNED, seen


@contextlib.contextmanager
def _two_workers(tmp_path, backend, request):
    """Two workers of one site (the first in process, with a System Manager's key pair cached
    after it is used); ``replace_keys()`` gives that user a new secret through the second, so the
    old pair is void: (client, old headers, replace_keys)."""
    from ristretto.api.app import App
    from ristretto.site.install import generate_keys
    site_dir = make_site(tmp_path, backend, request)
    first = InProcess.open(site_dir)
    other = Site(site_dir)
    try:
        add_user(first.site, "rt@example.com", "rt-pw-12345", ["System Manager"])
        old = token_for(first.site, "rt@example.com")

        def replace_keys() -> None:
            App(other)
            generate_keys(other, "rt@example.com")

        yield first, old, replace_keys
    finally:
        first.close()
        other.close()


@pytest.mark.parametrize("path", ["/api/resource/ToDo", "/api/method/ping"])
def test_a_read_after_another_worker_changed_the_tokens_sees_the_change(tmp_path, backend, request, path):
    # The first worker's next read assumed the old tokens; it must notice, whether its handler
    # sends a statement (the list) or none (ping), and answer as the change says.
    with _two_workers(tmp_path, backend, request) as (first, old, replace_keys):
        for _ in range(3):
            assert first.get(path, headers=old).status_code == 200
        replace_keys()
        assert first.get(path, headers=old).status_code == 401
        assert first.get(path, headers=old).status_code == 401


@pytest.mark.parametrize("verb", ["put", "post"])
def test_a_write_after_another_worker_changed_the_tokens_sees_the_change(tmp_path, backend, request, verb):
    # As above for writes, which assume the tokens too (their read rides with the BEGIN): the
    # first worker's write with a revoked key must be refused and leave nothing behind, though
    # its transaction had begun (and, for the update, locked the row) when the tokens were found
    # stale.
    with _two_workers(tmp_path, backend, request) as (first, old, replace_keys):
        with first.site.admin() as ctx:
            name = document.insert(ctx, "ToDo", {"description": "kept"}).name

        def send(i):
            if verb == "put":
                return first.put(f"/api/resource/ToDo/{name}", json={"description": f"changed {i}"}, headers=old)
            return first.post("/api/resource/ToDo", json={"description": f"new {i}"}, headers=old)

        def state(ctx):
            return document.get_doc(ctx, "ToDo", name).get("description"), listing.get_count(ctx, "ToDo")

        for i in range(3):
            assert send(i).status_code == 200
        with first.site.admin() as ctx:
            before = state(ctx)
        replace_keys()
        assert send(10).status_code == 401
        assert send(11).status_code == 401
        with first.site.admin() as ctx:
            assert state(ctx) == before
            # The row the refused update had locked is free: another write goes through at once.
            document.update(ctx, "ToDo", name, {"description": "after"})
