"""Writes whose result nobody reads (``Connection.execute_later``: the change log's row, a Version).
PostgreSQL sends such a write with the transaction's next statement or its COMMIT, one round trip
fewer; SQLite runs it at once. Either way, on both databases: a later statement of the same
transaction sees it; a savepoint block that fails drops it with the rest of the block; a deferred
write that fails fails the commit, nothing of the transaction is kept, and the connection goes on
working; outside a transaction it runs at once."""

from __future__ import annotations

import pytest

from ristretto.db.base import IntegrityError
from ristretto.site import Site

_T = '"__defer_probe"'


@pytest.fixture
def db(site_dir):
    site = Site(site_dir)
    with site.db.connect() as conn:
        conn.execute(f"CREATE TABLE {_T} (k VARCHAR(20) PRIMARY KEY, v VARCHAR(20))")
    yield site.db
    site.close()


def _keys(db) -> list[str]:
    with db.connect() as conn:
        return [r[0] for r in conn.sql(f"SELECT k FROM {_T} ORDER BY k")]


def test_a_later_statement_of_the_transaction_sees_it(db):
    with db.connect() as conn:
        conn.begin()
        conn.execute(f"INSERT INTO {_T} (k, v) VALUES (?, ?)", ("a", "now"))
        conn.execute_later(f"INSERT INTO {_T} (k, v) VALUES (?, ?)", ("b", "later"))
        assert [r[0] for r in conn.sql(f"SELECT k FROM {_T} ORDER BY k")] == ["a", "b"]
        conn.execute_later(f"UPDATE {_T} SET v = ? WHERE k = ?", ("changed", "a"))
        conn.commit()
    with db.connect() as conn:
        assert conn.sql(f"SELECT k, v FROM {_T} ORDER BY k") == [("a", "changed"), ("b", "later")]


def test_a_failed_block_drops_its_deferred_writes(db):
    with db.connect() as conn:
        conn.begin()
        conn.execute(f"INSERT INTO {_T} (k, v) VALUES (?, ?)", ("kept", "outer"))
        with pytest.raises(RuntimeError):
            with conn.savepoint("block"):
                conn.execute(f"INSERT INTO {_T} (k, v) VALUES (?, ?)", ("undone", "inner"))
                conn.execute_later(f"INSERT INTO {_T} (k, v) VALUES (?, ?)", ("dropped", "inner"))
                raise RuntimeError("the block fails")
        conn.execute_later(f"INSERT INTO {_T} (k, v) VALUES (?, ?)", ("after", "outer"))
        conn.commit()
    assert _keys(db) == ["after", "kept"]


def test_a_failing_deferred_write_fails_the_commit_and_keeps_nothing(db):
    with db.connect() as conn:
        conn.execute(f"INSERT INTO {_T} (k, v) VALUES (?, ?)", ("taken", "before"))
    with db.connect() as conn:
        conn.begin()
        conn.execute(f"INSERT INTO {_T} (k, v) VALUES (?, ?)", ("fresh", "x"))
        with pytest.raises(IntegrityError):
            conn.execute_later(f"INSERT INTO {_T} (k, v) VALUES (?, ?)", ("taken", "again"))
            conn.commit()  # PostgreSQL learns of the duplicate here; SQLite at once
        conn.rollback()
        # The connection goes on working, in and out of a transaction.
        assert conn.value("SELECT 1") == 1
        conn.begin()
        conn.execute(f"INSERT INTO {_T} (k, v) VALUES (?, ?)", ("next", "y"))
        conn.commit()
    assert _keys(db) == ["next", "taken"]


def test_outside_a_transaction_it_runs_at_once(db):
    with db.connect() as conn:
        conn.execute_later(f"INSERT INTO {_T} (k, v) VALUES (?, ?)", ("alone", "z"))
    assert _keys(db) == ["alone"]


def test_a_failed_block_never_sends_its_deferred_writes(db):
    """Dropped unsent: a deferred write of the failed block that would itself fail does not
    replace the block's own error, and the transaction goes on."""
    with db.connect() as conn:
        conn.execute(f"INSERT INTO {_T} (k, v) VALUES (?, ?)", ("taken", "before"))
    with db.connect() as conn:
        conn.begin()
        conn.execute(f"INSERT INTO {_T} (k, v) VALUES (?, ?)", ("outer", "x"))
        with pytest.raises(RuntimeError):
            with conn.savepoint("block"):
                conn.execute(f"UPDATE {_T} SET v = ? WHERE k = ?", ("inner", "outer"))
                if db.dialect.name == "postgres":
                    conn.execute_later(f"INSERT INTO {_T} (k, v) VALUES (?, ?)", ("taken", "dup"))
                raise RuntimeError("the block's own error")
        conn.commit()
    with db.connect() as conn:
        assert conn.sql(f"SELECT k, v FROM {_T} ORDER BY k") == [("outer", "x"), ("taken", "before")]
