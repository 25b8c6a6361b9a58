"""Files written so that a crash leaves either the old bytes or the new ones, never a torn file:
the stored files' folders, backups, WAL replicas.

A file is durable once its bytes are fsynced; its *name* is durable once the folder holding it
is fsynced too (a rename or a new link is a change of the folder).
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(path: Path | str) -> None:
    """Make the names in folder ``path`` (new, renamed, removed) survive a crash."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``path`` whole or not at all, and durably (fsync of the file and its folder); a new
    file gets ``mode`` (owner-only by default: backups hold the encryption key)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)
