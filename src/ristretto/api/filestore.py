"""File bytes on disk that follow the File rows, through any crash.

The database commit decides whether stored bytes exist; the disk follows it, and
:func:`sweep` (run when a worker starts, and by ``ristretto sweep-files``) finishes
whatever a crash interrupted.

* **Upload.** The bytes go to a file with no name at all (``O_TMPFILE``, so a crash leaves
  nothing behind), locked with ``flock`` and fsynced; then that inode takes two names, each
  claimed atomically with a hard link (never replacing a name): first the pending marker
  ``.pending-<name>``, then ``<name>``; the folder is fsynced before the row commits. Where
  the file system has no unnamed files, a temporary file ``.upload-*.tmp`` stands in, locked
  before it takes that name.
  After the File row commits, the marker goes; after a rollback, both names go.
* **Delete.** A File delete whose bytes must go links the file to its pending
  marker before the commit; after the commit the bytes and the marker go, after a
  rollback the marker does.
* **Who is still working.** The request holds the lock until it knows the outcome;
  the kernel drops it when the process dies (``kill -9`` too). A marker nobody locks
  is a crash's leftover, settled by asking the database: a File row with that URL
  keeps the bytes (only the marker goes), none removes both. A locked marker belongs
  to a request in flight in another worker and is left alone, so a worker starting
  beside busy ones sweeps at once, without a grace period to wait out.

Crash windows (both databases; the row and its commit are the only truth):
before the marker exists, an unnamed file vanishes with its process, a temporary file goes
(a ``.new`` one, from the instant between creating and locking it, once it is a minute old); marker without
``<name>``: the marker goes; ``<name>`` before the commit: no row, both go; after the
commit, before the marker is removed: the row exists, the marker goes; a delete's
marker: no row any more, the bytes go too, else only the marker.

Names starting with a dot are never served (``filenames.is_plain_segment``) and never
produced from a client's name, so markers and temporary files cannot be reached.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from ristretto.db.dialects import quote
from ristretto.durable import fsync_dir

log = logging.getLogger("ristretto")
PENDING_PREFIX = ".pending-"
TEMP_PREFIX, TEMP_SUFFIX, NEW_SUFFIX = ".upload-", ".tmp", ".new"
# A ``.new`` file is visible for an instant before its creator locks it: younger ones are left.
TEMP_MIN_AGE = 60.0


class Pending:
    """Bytes whose fate waits for a commit: ``name`` and its marker ``.pending-<name>``.

    ``fd`` holds the lock (on the marker's inode); ``ident`` is the (device, inode) of the
    bytes, so only they are ever removed under ``name``.
    """

    __slots__ = ("directory", "name", "fd", "ident", "delete")

    def __init__(self, directory: Path, name: str, fd: int, ident: tuple[int, int], *, delete: bool):
        self.directory, self.name, self.fd, self.ident, self.delete = directory, name, fd, ident, delete

    @property
    def marker(self) -> Path:
        return self.directory / (PENDING_PREFIX + self.name)

    def committed(self) -> None:
        """The transaction committed: an upload's bytes stay, a delete's go."""
        self._settle(remove_bytes=self.delete)

    def rolled_back(self) -> None:
        """The transaction rolled back: an upload's bytes go, a delete's stay."""
        self._settle(remove_bytes=not self.delete)

    def _settle(self, *, remove_bytes: bool) -> None:
        if self.fd < 0:
            return  # settled already: the names may belong to another upload by now
        try:
            if remove_bytes:
                _unlink_if_same(self.directory / self.name, self.ident)
            # The marker goes last: should the process die in between, the sweep finishes.
            self.marker.unlink(missing_ok=True)
        finally:
            self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __del__(self) -> None:
        # A request that never learnt its outcome: the lock goes, the sweep settles the marker.
        self.close()


def write(directory: Path, candidates: Iterable[str], data: bytes) -> Pending | None:
    """Durably store ``data`` under the first free name of ``candidates``, pending until the
    commit; None when every name is taken."""
    candidates = list(candidates)
    try:
        return _write(directory, candidates, data, anonymous=True)
    except _NoUnnamedFiles:
        return _write(directory, candidates, data, anonymous=False)


class _NoUnnamedFiles(Exception):
    """This file system cannot create or link unnamed files: use a named temporary file."""


def _write(directory: Path, candidates: list[str], data: bytes, *, anonymous: bool) -> Pending | None:
    fd, tmp = _new_unnamed_file(directory) if anonymous else _new_file(directory)
    pending = None
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
        ident = _ident(os.fstat(fd))
        for candidate in candidates:
            pending = _claim(directory, candidate, tmp, fd, ident)
            if pending is not None:
                break
    finally:
        if pending is None or pending.fd != fd:
            os.close(fd)
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    if pending is not None:
        fsync_dir(directory)
    return pending


def _new_unnamed_file(directory: Path) -> tuple[int, None]:
    """A locked file without a name in ``directory``: a crash before it is linked leaves nothing."""
    flag = getattr(os, "O_TMPFILE", 0)
    if not flag:
        raise _NoUnnamedFiles
    try:
        fd = os.open(directory, flag | os.O_RDWR, 0o644)
    except OSError as exc:  # EOPNOTSUPP, EISDIR (kernel without it), EINVAL
        raise _NoUnnamedFiles from exc
    fcntl.flock(fd, fcntl.LOCK_EX)  # for the sweep: a marker of a request still in flight
    os.fchmod(fd, 0o644)  # O_TMPFILE applies the umask; stored files are world-readable as before
    return fd, None


def _new_file(directory: Path) -> tuple[int, str]:
    """A temporary file for new bytes, under its ``.tmp`` name only once it is locked (so an
    unlocked ``.tmp`` is always a dead request's); ``.new`` names live for an instant."""
    fd, new = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=NEW_SUFFIX, dir=directory)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.fchmod(fd, 0o644)
        tmp = os.path.join(directory, f"{TEMP_PREFIX}{secrets.token_hex(16)}{TEMP_SUFFIX}")
        os.rename(new, tmp)
    except BaseException:
        os.close(fd)
        os.unlink(new)
        raise
    return fd, tmp


def _claim(directory: Path, candidate: str, tmp: str | None, fd: int,
           ident: tuple[int, int]) -> Pending | None:
    """Name the bytes ``candidate`` behind its marker; None when the name is taken.
    ``tmp`` None: the bytes are the unnamed file ``fd``."""
    marker = directory / (PENDING_PREFIX + candidate)
    try:
        if not (_link(tmp, marker) if tmp is not None else _link_unnamed(fd, marker)):
            return None
    except OSError as exc:
        if tmp is None:
            raise _NoUnnamedFiles from exc
        return _claim_without_links(directory, candidate, tmp, ident)
    # No fsync between the two links (one costs ~2 ms): a killed process loses nothing from
    # the page cache, and journaling file systems (ext4, xfs) persist directory changes in
    # order, so after a power loss ``<name>`` never exists without its earlier marker.
    if _link(marker, directory / candidate):
        return Pending(directory, candidate, fd, ident, delete=False)
    marker.unlink()
    return None


def _link_unnamed(fd: int, dst: Path) -> bool:
    """Give the unnamed file ``fd`` the name ``dst`` unless that name exists. linkat() through
    /proc/self/fd with AT_SYMLINK_FOLLOW (what os.link does when given a source folder fd)
    needs no privilege, unlike AT_EMPTY_PATH."""
    proc = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.link(str(fd), dst, src_dir_fd=proc, follow_symlinks=True)
        return True
    except FileExistsError:
        return False
    finally:
        os.close(proc)


def _claim_without_links(directory: Path, candidate: str, tmp: str, ident: tuple[int, int]) -> Pending | None:
    """File systems without hard links: an empty marker holds the lock and the name is reserved
    exclusively, then the bytes move onto it. A sweep cannot tell these bytes from others, so
    after a crash they stay (``ristretto sweep-files --orphans`` finds them)."""
    marker = directory / (PENDING_PREFIX + candidate)
    try:
        mfd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return None
    fcntl.flock(mfd, fcntl.LOCK_EX)
    try:
        os.close(os.open(directory / candidate, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except FileExistsError:
        marker.unlink()
        os.close(mfd)
        return None
    os.replace(tmp, directory / candidate)
    return Pending(directory, candidate, mfd, ident, delete=False)


def pending_delete(path: Path) -> Pending | None:
    """Mark stored bytes to go when the delete commits (None: someone else is settling them)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if _link(path, path.parent / (PENDING_PREFIX + path.name)):
            fsync_dir(path.parent)
            return Pending(path.parent, path.name, fd, _ident(os.fstat(fd)), delete=True)
    except OSError:
        pass
    os.close(fd)
    return None


def _link(src: str | Path, dst: Path) -> bool:
    """Give ``src``'s inode the name ``dst`` unless that name exists (atomic, never replaces)."""
    try:
        os.link(src, dst)
        return True
    except FileExistsError:
        return False


def _ident(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def _unlink_if_same(path: Path, ident: tuple[int, int]) -> None:
    # Only the bytes this marker guards: a name is never reused while its marker exists.
    try:
        current = os.stat(path)
    except FileNotFoundError:
        return
    if _ident(current) == ident:
        path.unlink(missing_ok=True)


# --- the sweep ------------------------------------------------------------------------------------

@dataclass
class SweepReport:
    removed: list[str] = field(default_factory=list)     # stored files removed (no File row)
    settled: int = 0                                      # markers settled
    temporary: int = 0                                    # temporary files removed
    busy: int = 0                                         # markers of requests in flight, left alone


def sweep(site: Any, *, orphans_older_than: float | None = None, now: float | None = None) -> SweepReport:
    """Settle what crashed requests left in the site's files folders.

    ``orphans_older_than`` (seconds) also removes stored files that no File row names and
    that are older than that (bytes left by a version without markers, or copied in by hand).
    """
    report = SweepReport()
    now = time.time() if now is None else now
    with site.db.connect() as conn:
        for private in (False, True):
            directory = site.files_path(private)
            if not directory.is_dir():
                continue
            url_prefix = "/private/files/" if private else "/files/"

            def has_row(name: str) -> bool:
                sql = f"SELECT 1 FROM {quote('tabFile')} WHERE file_url = ? LIMIT 1"
                return conn.one(sql, (url_prefix + name,)) is not None

            for entry in list(os.scandir(directory)):
                name = entry.name
                if name.startswith(PENDING_PREFIX):
                    _settle_marker(directory, name[len(PENDING_PREFIX):], has_row, report, url_prefix)
                elif name.startswith(TEMP_PREFIX) and name.endswith((TEMP_SUFFIX, NEW_SUFFIX)):
                    min_age = 0.0 if name.endswith(TEMP_SUFFIX) else TEMP_MIN_AGE
                    _sweep_temp(Path(entry.path), now - min_age, report)
                elif orphans_older_than is not None and not name.startswith(".") and entry.is_file() \
                        and now - entry.stat().st_mtime > orphans_older_than \
                        and not os.path.exists(directory / (PENDING_PREFIX + name)) and not has_row(name):
                    os.unlink(entry.path)
                    report.removed.append(url_prefix + name)
                    log.warning("removed %s: no File record names it", url_prefix + name)
    return report


def _settle_marker(directory: Path, name: str, has_row: Callable[[str], bool], report: SweepReport,
                   url_prefix: str) -> None:
    marker = directory / (PENDING_PREFIX + name)
    try:
        fd = os.open(marker, os.O_RDONLY)
    except FileNotFoundError:
        return  # settled meanwhile by its request or another worker's sweep
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            report.busy += 1  # a request in flight holds it
            return
        ident = _ident(os.fstat(fd))
        try:
            if _ident(os.stat(marker)) != ident:
                return  # the marker was settled and the name reused while we waited
        except FileNotFoundError:
            return
        if not has_row(name):
            path = directory / name
            if path.exists():
                _unlink_if_same(path, ident)
                if not path.exists():
                    report.removed.append(url_prefix + name)
        marker.unlink(missing_ok=True)
        report.settled += 1
    finally:
        os.close(fd)


def _sweep_temp(path: Path, born_before: float, report: SweepReport) -> None:
    """Remove a temporary file nobody holds (and, for ``.new`` ones, old enough)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        if os.fstat(fd).st_mtime > born_before:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return
        path.unlink(missing_ok=True)
        report.temporary += 1
    finally:
        os.close(fd)
