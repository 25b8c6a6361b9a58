"""Disk follows the File rows: pending markers, their locks, and the sweep (both backends).

A request that dies leaves its marker unlocked (the kernel drops ``flock`` locks with the
process); ``Pending.close()`` does the same here without settling, and a second process
holding a lock stands for another worker with an upload in flight.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ristretto.api import filestore
from ristretto.api.app import App
from ristretto.model import document
from ristretto.site import Site


@pytest.fixture
def site(site_dir):
    s = Site(site_dir)
    App(s)  # registers the File controller
    yield s
    s.close()


def _files(site: Site) -> Path:
    path = site.files_path(private=False)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _insert_row(site: Site, url: str) -> str:
    with site.admin() as ctx:
        return document.insert(ctx, "File", {"file_url": url}).name


def _listing(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


def test_interrupted_upload_without_row_is_removed(site):
    d = _files(site)
    pending = filestore.write(d, ["lost.txt"], b"bytes")
    assert _listing(d) == [".pending-lost.txt", "lost.txt"]
    pending.close()  # the process died before its File row committed
    report = filestore.sweep(site)
    assert _listing(d) == []
    assert report.removed == ["/files/lost.txt"] and report.settled == 1


def test_committed_upload_keeps_its_bytes(site):
    d = _files(site)
    pending = filestore.write(d, ["kept.txt"], b"bytes")
    _insert_row(site, "/files/kept.txt")
    pending.close()  # committed, then the process died before removing the marker
    report = filestore.sweep(site)
    assert _listing(d) == ["kept.txt"] and (d / "kept.txt").read_bytes() == b"bytes"
    assert report.removed == [] and report.settled == 1


def test_upload_in_flight_is_left_alone_whatever_its_age(site):
    d = _files(site)
    pending = filestore.write(d, ["busy.txt"], b"bytes")
    old = time.time() - 86400
    os.utime(d / "busy.txt", (old, old))
    report = filestore.sweep(site)
    assert _listing(d) == [".pending-busy.txt", "busy.txt"] and report.busy == 1
    pending.rolled_back()
    assert _listing(d) == []


def test_lock_of_another_process_protects_its_upload(site):
    """A worker starting beside another one with an upload in flight: the sweep keeps it until
    that process is gone (kill -9), then removes it."""
    d = _files(site)
    code = ("import sys, time; from pathlib import Path; from ristretto.api import filestore;"
            "p = filestore.write(Path(sys.argv[1]), ['other.txt'], b'x'); print('ready', flush=True);"
            "time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(d)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        assert filestore.sweep(site).busy == 1
        assert (d / "other.txt").exists()
    finally:
        proc.kill()
        proc.wait(10)
    report = filestore.sweep(site)
    assert report.removed == ["/files/other.txt"] and _listing(d) == []


def test_commit_and_rollback_settle_uploads(site):
    d = _files(site)
    filestore.write(d, ["a.txt"], b"a").committed()
    filestore.write(d, ["b.txt"], b"b").rolled_back()
    assert _listing(d) == ["a.txt"]


def test_taken_names_and_markers_are_never_reused(site):
    d = _files(site)
    (d / "x.txt").write_bytes(b"other")
    first = filestore.write(d, ["x.txt", "x-1.txt"], b"new")
    assert first.name == "x-1.txt"
    # Nobody may claim a name while its marker exists, even once the bytes are gone.
    (d / "x-1.txt").unlink()
    assert filestore.write(d, ["x-1.txt"], b"again") is None
    first.rolled_back()
    assert (d / "x.txt").read_bytes() == b"other" and _listing(d) == ["x.txt"]


def test_interrupted_delete_is_finished_or_undone(site):
    d = _files(site)
    (d / "gone.txt").write_bytes(b"g")
    (d / "stays.txt").write_bytes(b"s")
    _insert_row(site, "/files/stays.txt")
    # gone.txt's row was deleted and committed; stays.txt's delete rolled back. Both
    # processes died before settling their markers.
    filestore.pending_delete(d / "gone.txt").close()
    filestore.pending_delete(d / "stays.txt").close()
    report = filestore.sweep(site)
    assert _listing(d) == ["stays.txt"] and report.removed == ["/files/gone.txt"]


def test_temporary_files_of_dead_requests_go(site):
    """A ``.tmp`` name exists only while locked: unlocked, it is a dead request's. A ``.new`` one
    (created, not yet locked) goes only once it is old."""
    d = _files(site)
    for name in (".upload-dead.tmp", ".upload-old.new", ".upload-young.new"):
        (d / name).write_bytes(b"x")
    old = time.time() - 2 * filestore.TEMP_MIN_AGE
    os.utime(d / ".upload-old.new", (old, old))
    assert filestore.sweep(site).temporary == 2
    assert _listing(d) == [".upload-young.new"]


def test_temporary_file_of_a_live_request_stays(site):
    d = _files(site)
    fd, tmp = filestore._new_file(d)
    try:
        assert filestore.sweep(site).temporary == 0 and os.path.exists(tmp)
    finally:
        os.close(fd)
    assert filestore.sweep(site).temporary == 1 and _listing(d) == []


def test_a_process_killed_before_naming_its_bytes_leaves_nothing(site):
    """The bytes are an unnamed file until the marker names them: kill -9 at that point
    leaves no file at all for the sweep to find (the CI once caught a ``.new`` name here)."""
    d = _files(site)
    code = ("import os, sys; from pathlib import Path; from ristretto.api import filestore;"
            "fd, tmp = filestore._new_unnamed_file(Path(sys.argv[1])); os.write(fd, b'x' * 4096);"
            "print(tmp, flush=True); sys.stdin.read()")
    proc = subprocess.Popen([sys.executable, "-c", code, str(d)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "None"
        assert _listing(d) == []  # written and locked, yet nothing to see
    finally:
        proc.kill()
        proc.wait(10)
    assert _listing(d) == [] and filestore.sweep(site).temporary == 0


def test_named_temporary_files_still_work_where_unnamed_ones_cannot(site):
    """File systems without O_TMPFILE (or without /proc) use a locked ``.tmp`` name instead."""
    d = _files(site)
    filestore._write(d, ["n.txt"], b"n", anonymous=False).committed()
    filestore._write(d, ["r.txt"], b"r", anonymous=False).rolled_back()
    assert _listing(d) == ["n.txt"] and (d / "n.txt").read_bytes() == b"n"
    assert oct((d / "n.txt").stat().st_mode & 0o777) == oct(0o644)


def test_unnamed_uploads_are_readable_like_named_ones(site):
    d = _files(site)
    filestore.write(d, ["u.txt"], b"u").committed()
    assert oct((d / "u.txt").stat().st_mode & 0o777) == oct(0o644)


def test_orphans_are_removed_only_when_asked_and_old_enough(site):
    d = _files(site)
    for name in ("orphan-old.txt", "orphan-new.txt", "recorded.txt"):
        (d / name).write_bytes(b"x")
    _insert_row(site, "/files/recorded.txt")
    old = time.time() - 7200
    os.utime(d / "orphan-old.txt", (old, old))
    os.utime(d / "recorded.txt", (old, old))
    assert filestore.sweep(site).removed == []
    report = filestore.sweep(site, orphans_older_than=3600)
    assert report.removed == ["/files/orphan-old.txt"]
    assert _listing(d) == ["orphan-new.txt", "recorded.txt"]


def test_private_files_are_swept_too(site):
    d = site.files_path(private=True)
    d.mkdir(parents=True, exist_ok=True)
    filestore.write(d, ["secret.txt"], b"s").close()
    assert filestore.sweep(site).removed == ["/private/files/secret.txt"]
    assert _listing(d) == []


def test_sweep_files_command(site):
    from tests.conftest import run_cli
    d = _files(site)
    filestore.write(d, ["dead.txt"], b"d").close()
    (d / "stray.txt").write_bytes(b"s")
    old = time.time() - 60
    os.utime(d / "stray.txt", (old, old))
    out = run_cli("--site", str(site.path), "sweep-files").stdout
    assert "removed /files/dead.txt" in out and (d / "stray.txt").exists()
    out = run_cli("--site", str(site.path), "sweep-files", "--orphans", "--grace", "30").stdout
    assert "removed /files/stray.txt" in out and _listing(d) == []
