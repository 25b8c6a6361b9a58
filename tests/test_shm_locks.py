"""Reading SQLite's ``-shm`` file must not drop the locks SQLite holds on it in this process.

POSIX record locks belong to a process and a file: closing any descriptor of the file drops
all of them. SQLite's connections hold theirs on the ``-shm`` file (the dead-man switch at byte
128 that keeps another process from re-initialising the WAL-index under them, the read marks
that keep a checkpoint or a WAL restart off a reader's snapshot). The WAL shipper reads that
file every look (``ristretto.backup.walformat.read_wal_index``); an open-read-close there
released every lock of the worker it runs in. Checked in ``/proc/locks``.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from ristretto.backup import walformat


def _locks_held(path: Path) -> list[str]:
    """This process's POSIX locks on ``path`` (their byte ranges), from /proc/locks."""
    inode = os.stat(path).st_ino
    held = []
    for line in Path("/proc/locks").read_text().splitlines():
        parts = line.split()
        if "->" in parts:
            parts.remove("->")   # a lock someone waits for: not held
            continue
        if parts[1] == "POSIX" and parts[4] == str(os.getpid()) and parts[5].endswith(f":{inode}"):
            held.append(f"{parts[3]} {parts[6]}-{parts[7]}")
    return sorted(held)


def test_reading_the_wal_index_keeps_sqlites_locks(tmp_path):
    db = tmp_path / "site.db"
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (x)")
        conn.execute("INSERT INTO t VALUES (1)")
        conn.execute("BEGIN")
        conn.execute("SELECT * FROM t").fetchall()   # a reader: its read mark is locked
        shm = Path(str(db) + "-shm")
        before = _locks_held(shm)
        assert len(before) >= 2, before            # the dead-man switch and a read mark
        for _ in range(3):
            index = walformat.read_wal_index(str(shm))
            assert index is not None and index.max_frame >= 2
        assert _locks_held(shm) == before
        conn.execute("COMMIT")
        conn.execute("INSERT INTO t VALUES (2)")
        assert walformat.read_wal_index(str(shm)).max_frame > index.max_frame  # still current
    finally:
        conn.close()
