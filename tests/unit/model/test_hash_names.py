"""Hash names (``naming.make_hash``): ten hex digits from the OS random source, drawn in batches."""

from __future__ import annotations

import os
import re

from ristretto.model import naming


def test_hash_names_are_ten_hex_digits_and_do_not_repeat():
    names = [naming.make_hash() for _ in range(3 * naming._HASH_BATCH + 7)]
    assert all(re.fullmatch(r"[0-9a-f]{10}", n) for n in names)
    assert len(set(names)) == len(names)


def test_a_forked_worker_never_draws_its_parents_next_names():
    naming.make_hash()                    # the parent holds a batch now
    assert naming._hashes
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first names, sent to the parent
        try:
            os.write(write, " ".join(naming.make_hash() for _ in range(5)).encode())
        finally:
            os._exit(0)
    os.close(write)
    child = os.read(read, 1000).decode().split()
    os.close(read)
    os.waitpid(pid, 0)
    parent = [naming.make_hash() for _ in range(5)]
    assert len(child) == 5
    assert not set(child) & set(parent)
