"""Group commit on the SQLite connection (ristretto.db.groupcommit, ristretto.db.sqlite).

Real SQLite files; a second connection (its own file descriptors, as another worker process
would have) checks what is committed and who holds the write lock.
"""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from ristretto.db.checkpoint import Checkpointer
from ristretto.db.sqlite import SQLiteConnection
from ristretto.exceptions import WriteNotCommitted
from tests.conftest import wal_table


@pytest.fixture
def path(tmp_path):
    return wal_table(tmp_path)


@pytest.fixture
def grouped(path):
    """A request connection with group commit on; ``opened`` lists the groups it opened."""
    conn = SQLiteConnection(path)
    conn.opened = []
    conn.enable_group_commit(conn.opened.append)
    conn.group_writes = True
    yield conn
    conn.close()


def committed(path) -> list[str]:
    other = sqlite3.connect(path, isolation_level=None)
    try:
        return [k for (k,) in other.execute("SELECT k FROM t ORDER BY k")]
    finally:
        other.close()


def test_members_share_one_commit_and_a_failure_undoes_only_its_own(grouped, path):
    outcomes = []
    grouped.begin()
    grouped.execute("INSERT INTO t VALUES ('a', '1')")
    grouped.commit()
    grouped.when_durable(lambda ok: outcomes.append(("a", ok)))
    group = grouped.write_group
    assert group is not None and grouped.opened == [group]
    assert not grouped.in_transaction  # the member is closed; the group is not
    grouped.begin()
    grouped.execute("INSERT INTO t VALUES ('b', '2')")
    grouped.rollback()                 # only b's work is undone
    grouped.rollback()                 # a caller with nothing open never undoes the group
    grouped.begin()
    grouped.execute("INSERT INTO t VALUES ('c', '3')")
    grouped.commit()
    grouped.when_durable(lambda ok: outcomes.append(("c", ok)))
    assert committed(path) == [] and outcomes == []   # nothing is durable before the flush
    assert grouped.flush_group(group)
    assert committed(path) == ["a", "c"]
    assert outcomes == [("a", True), ("c", True)] and group.ok is True and group.members == 3
    assert grouped.write_group is None and len(grouped.opened) == 1


def test_a_group_is_not_flushed_while_a_member_is_inside(grouped, path):
    grouped.begin()
    group = grouped.write_group
    grouped.execute("INSERT INTO t VALUES ('a', '1')")
    assert grouped.flush_group(group) is False and group.ok is None
    grouped.commit()
    assert grouped.flush_group(group) and committed(path) == ["a"]


def test_a_transaction_the_database_ended_loses_the_whole_group(grouped, path):
    outcomes = []
    grouped.begin()
    grouped.execute("INSERT INTO t VALUES ('a', '1')")
    grouped.commit()
    group = grouped.write_group
    group.when_settled(lambda ok: outcomes.append(ok))
    grouped.begin()
    grouped.execute("INSERT INTO t VALUES ('b', '2')")
    grouped._conn.execute("ROLLBACK")   # what SQLite does on an interrupted write or a full disk
    grouped.rollback()
    assert outcomes == [False] and group.ok is False and grouped.write_group is None
    assert committed(path) == []
    # The lock is free again and the next write opens a new group.
    grouped.begin()
    grouped.execute("INSERT INTO t VALUES ('c', '3')")
    grouped.commit()
    assert grouped.write_group is not group and grouped.flush_group(grouped.write_group)
    assert committed(path) == ["c"]


def test_a_member_that_commits_after_the_database_ended_the_group_is_told(grouped, path):
    grouped.begin()
    grouped.execute("INSERT INTO t VALUES ('a', '1')")
    grouped._conn.execute("ROLLBACK")
    with pytest.raises(WriteNotCommitted):
        grouped.commit()
    assert grouped.write_group is None and committed(path) == []


def test_no_statement_of_a_member_runs_on_its_own_once_the_group_is_gone(grouped, path):
    grouped.begin()
    grouped.execute("INSERT INTO t VALUES ('a', '1')")
    group = grouped.write_group
    grouped._conn.execute("ROLLBACK")   # SQLite ended the transaction (an interrupted write)
    with pytest.raises(WriteNotCommitted):
        grouped.execute("INSERT INTO t VALUES ('b', '2')")  # would have committed alone
    assert group.ok is False and grouped.write_group is None and not grouped.in_transaction
    grouped.rollback()                   # the request's own clean-up is harmless
    assert committed(path) == []


def test_the_write_lock_is_held_from_open_to_flush(grouped, path):
    other = SQLiteConnection(path)   # another worker: its own lock file descriptor
    try:
        grouped.begin()
        grouped.execute("INSERT INTO t VALUES ('a', '1')")
        grouped.commit()
        assert other.open_group(blocking=False) is None   # refused at once, not waited for
        got = []
        waiter = threading.Thread(target=lambda: (other.wait_for_lock(), got.append(time.monotonic())))
        waiter.start()
        time.sleep(0.2)
        assert got == []                 # still waiting while the group is open
        flushed = time.monotonic()
        grouped.flush_group(grouped.write_group)
        waiter.join(5)
        assert got and got[0] >= flushed
        other.enable_group_commit(lambda g: None)
        group = other.open_group()       # the lock is held: no wait
        other.execute("INSERT INTO t VALUES ('b', '2')")
        assert other.flush_group(group) and committed(path) == ["a", "b"]
    finally:
        other.close()


def test_outside_a_request_writes_commit_at_once(path):
    conn = SQLiteConnection(path)
    opened = []
    conn.enable_group_commit(opened.append)
    try:
        with conn.transaction():
            conn.execute("INSERT INTO t VALUES ('a', '1')")
        assert committed(path) == ["a"] and opened == [] and conn.write_group is None
    finally:
        conn.close()


def test_reads_begun_while_a_group_is_open_are_members_too(grouped, path):
    grouped.begin()
    grouped.execute("INSERT INTO t VALUES ('a', '1')")
    grouped.commit()
    grouped.group_writes = False     # a read request's transaction inside the open group
    grouped.begin(write=False)
    assert grouped.in_transaction and grouped.value("SELECT count(*) FROM t") == 1
    grouped.rollback()
    assert grouped.flush_group(grouped.write_group) and committed(path) == ["a"]


def test_closing_with_an_open_group_saves_nothing_and_says_so(grouped, path):
    grouped.begin()
    grouped.execute("INSERT INTO t VALUES ('a', '1')")
    grouped.commit()
    group = grouped.write_group
    grouped.close()
    assert group.ok is False and committed(path) == []


def test_the_checkpointer_copies_the_log_back_without_the_writers(path):
    conn = SQLiteConnection(path)
    conn.execute("PRAGMA wal_autocheckpoint=0")   # the writer never checkpoints by itself here
    checkpointer = Checkpointer(path, interval=0.01).start()
    try:
        for i in range(50):
            with conn.transaction():
                conn.execute("INSERT INTO t VALUES (?, 'x')", (f"k{i}",))
        deadline = time.monotonic() + 10
        while checkpointer.checkpoints == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert checkpointer.checkpoints > 0
        busy, log_pages, copied = conn.one("PRAGMA wal_checkpoint(PASSIVE)")
        assert busy == 0 and copied == log_pages
    finally:
        checkpointer.stop()
        conn.close()
    assert len(committed(path)) == 50


def test_a_forked_worker_opens_its_own_connection(path):
    """Workers forked from a process that had the connection open never share it (the process id
    the Database compares is kept current across forks without a system call per request)."""
    import os

    from ristretto.db.connection import Database
    db = Database(f"sqlite:///{path}")
    parent = db.request_connection()
    assert db.request_connection() is parent
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child: report whether it got a connection of its own, then leave at once
        try:
            own = db.request_connection()
            ok = own is not parent and db.request_connection() is own and own.value("SELECT 1") == 1
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 1)
    os.close(read)
    os.waitpid(child, 0)
    assert answer == b"1"
    assert db.request_connection() is parent
    db.close()
