"""SQLite's commit marker (``SQLiteConnection.commit_marker``): the WAL-index header read from
shared memory, which lets a worker keep the version tokens (``ristretto.db.state.read``)
between requests without a statement, and must change with every commit of any connection,
in this process or another."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from ristretto.db import state
from ristretto.db.sqlite import SQLiteConnection


@pytest.fixture
def db(tmp_path):
    path = str(tmp_path / "site.db")
    conn = SQLiteConnection(path)
    conn.execute('CREATE TABLE "__ristretto_state" (key TEXT PRIMARY KEY, value TEXT)')
    conn.execute('INSERT INTO "__ristretto_state" VALUES (?, ?)', (state.AUTH, "a1"))
    yield path, conn
    conn.close()


def _statements(conn: SQLiteConnection) -> list[str]:
    seen: list[str] = []
    conn._conn.set_trace_callback(seen.append)
    return seen


def test_the_marker_changes_with_every_commit_and_nothing_else(db):
    path, conn = db
    first = conn.commit_marker()
    assert isinstance(first, bytes) and len(first) == 96
    conn.sql('SELECT * FROM "__ristretto_state"')
    assert conn.commit_marker() == first  # a read commits nothing
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute('UPDATE "__ristretto_state" SET value = ? WHERE key = ?', ("a2", state.AUTH))
    assert conn.commit_marker() == first  # not committed yet
    other.execute("ROLLBACK")
    assert conn.commit_marker() == first  # undone: nothing to see
    markers = {first}
    for i in range(5):
        other.execute('UPDATE "__ristretto_state" SET value = ? WHERE key = ?', (f"b{i}", state.AUTH))
        markers.add(conn.commit_marker())
    other.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the log restarts: counters start again
    other.execute('UPDATE "__ristretto_state" SET value = ? WHERE key = ?', ("c", state.AUTH))
    markers.add(conn.commit_marker())
    other.close()
    assert len(markers) == 7


def test_tokens_are_kept_without_a_statement_until_another_process_commits(db):
    path, conn = db
    assert state.read(conn)[state.AUTH] == "a1"
    sent = _statements(conn)
    assert state.read(conn)[state.AUTH] == "a1"
    assert sent == []  # kept: not even a pragma
    code = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
            "c.execute('UPDATE \"__ristretto_state\" SET value = ? WHERE key = ?', ('z9', sys.argv[2]))")
    subprocess.run([sys.executable, "-c", code, path, state.AUTH], check=True, timeout=60)
    assert state.read(conn)[state.AUTH] == "z9"  # another process's commit is seen at once
    assert sent  # read again


def test_without_a_shared_memory_file_the_pragma_decides(tmp_path):
    conn = SQLiteConnection(":memory:")
    try:
        assert conn.commit_marker() is None
        conn.execute('CREATE TABLE "__ristretto_state" (key TEXT PRIMARY KEY, value TEXT)')
        conn.execute('INSERT INTO "__ristretto_state" VALUES (?, ?)', (state.AUTH, "m1"))
        assert state.read(conn)[state.AUTH] == "m1"
        sent = _statements(conn)
        assert state.read(conn)[state.AUTH] == "m1"
        assert sent == ["PRAGMA data_version"]
    finally:
        conn.close()
