"""Restore a SQLite site from a WAL replica (continuous backup), to its latest state or to a time.

:func:`restore_to_time` picks the latest generation whose snapshot was taken at or before the
time asked for, copies its snapshot and writes the shipped frames' pages into the copy, one
committed transaction at a time (what a checkpoint does), stopping at the last commit the
shipper had seen at or before that time. A commit is seen at most one shipping interval after
it is made, so a commit made before the time is left out only when it was made in the last
interval before it; a commit made after the time is never in. The result must pass
``PRAGMA integrity_check`` before it becomes the target site's database.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any, Callable

import orjson

from ristretto.backup import walformat as wf

Progress = Callable[[int, int, str], None]
# Frames read from a segment at a time (bounded memory whatever a segment holds).
READ_FRAMES = 256


class WalRestoreError(ValueError):
    """The replica cannot be restored as asked (message shown as is)."""


def _cutoff(to_time: dt.datetime | None) -> float:
    if to_time is None:
        return math.inf
    if to_time.tzinfo is None:    # a time without a zone is UTC, as the replica records it
        to_time = to_time.replace(tzinfo=dt.timezone.utc)
    # A datetime holds microseconds: the time a commit was seen, written as one, must not
    # round to just before the commit itself.
    return to_time.timestamp() + 1e-6


def _iso(seconds: float | None) -> str | None:
    return None if seconds is None else dt.datetime.fromtimestamp(seconds, dt.timezone.utc).isoformat()


def restore_to_time(source: str, target_site: str, to_time: dt.datetime | None,
                    progress: Progress | None = None) -> dict[str, Any]:
    """Restore the replica at ``source`` into the new site folder ``target_site`` as it was at
    ``to_time`` (None: the latest state shipped). Returns what was restored."""
    root = Path(source)
    try:
        meta = wf.read_replica(root)
    except ValueError as e:
        raise WalRestoreError(str(e)) from None
    target = Path(target_site)
    if target.exists() and any(target.iterdir()):
        raise WalRestoreError(f"{target} exists and is not empty: restore into a new folder")
    cutoff = _cutoff(to_time)
    generations = [g for g in meta.get("generations", []) if g.get("snapshot_time", math.inf) <= cutoff]
    if not generations:
        raise WalRestoreError(f"no generation of {root} began at or before {to_time.isoformat() if to_time else 'now'}")
    gen = generations[-1]
    gen_dir = root / "generations" / gen["id"]
    if not (gen_dir / "base.db").is_file():
        raise WalRestoreError(f"{gen_dir} has no base.db snapshot")
    segments = wf.list_segments(gen_dir)
    total = len(segments) + 1
    report = progress or (lambda done, total, what: None)

    target.mkdir(parents=True, exist_ok=True)
    work = target / "site.db.restoring"
    shutil.copyfile(gen_dir / "base.db", work)
    report(1, total, "snapshot")
    applied = _apply(work, segments, cutoff, gen.get("page_size"), lambda i: report(1 + i, total, "segments"))
    _check(work)
    os.replace(work, target / "site.db")
    _write_config(gen_dir, target)
    for sub in ("public/files", "private/files"):
        (target / sub).mkdir(parents=True, exist_ok=True)
    report(total, total, "done")
    return {"site": str(target), "generation": gen["id"], "snapshot_time": _iso(gen.get("snapshot_time")),
            "segments": applied["segments"], "frames": applied["frames"], "commits": applied["commits"],
            "last_commit_time": _iso(applied["last_seen"] or gen.get("snapshot_time")),
            "stopped": applied["stopped"], "integrity": "ok"}


def _apply(db: Path, segments: list[Path], cutoff: float, page_size: int | None,
           tick: Callable[[int], None]) -> dict[str, Any]:
    """Write the pages of every transaction committed in ``segments`` (in order, up to the
    cutoff) into ``db``; frames of a transaction whose commit frame is not applied are dropped."""
    out = {"segments": 0, "frames": 0, "commits": 0, "last_seen": None, "stopped": "end of the replica"}
    pending: dict[int, bytes] = {}
    with open(db, "r+b") as f:
        for i, path in enumerate(segments, start=1):
            try:
                seg = wf.read_segment_header(path)
            except ValueError as e:
                out["stopped"] = str(e)
                break
            if seg.seq != i:
                out["stopped"] = f"segment {i} is missing"
                break
            if seg.seen > cutoff:
                out["stopped"] = "the time asked for"
                break
            if page_size and seg.page_size != page_size:
                raise WalRestoreError(f"{path}: page size {seg.page_size}, the snapshot's is {page_size}")
            if seg.first == 0 or i == 1:
                # A new WAL (or the generation's first segment): a transaction cut short before
                # it never committed.
                pending.clear()
            size = wf.FRAME_HEADER_SIZE + seg.page_size
            with open(path, "rb") as s:
                s.seek(wf.SEGMENT_HEADER.size)
                left = seg.count
                while left:
                    n = min(left, READ_FRAMES)
                    data = s.read(n * size)
                    left -= n
                    for k in range(n):
                        frame = data[k * size:(k + 1) * size]
                        pending[wf.frame_page(frame)] = frame[wf.FRAME_HEADER_SIZE:]
                        commit = wf.frame_commit_size(frame)
                        if commit:
                            for pgno, page in sorted(pending.items()):
                                f.seek((pgno - 1) * seg.page_size)
                                f.write(page)
                            f.truncate(commit * seg.page_size)
                            pending.clear()
                            out["commits"] += 1
                            out["last_seen"] = seg.seen
            out["segments"] += 1
            out["frames"] += seg.count
            tick(i)
        f.flush()
        os.fsync(f.fileno())
    return out


def _check(db: Path) -> None:
    conn = sqlite3.connect(db)
    try:
        result = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        # The copy is a site's database from now on: a WAL database like every site's.
        conn.execute("PRAGMA journal_mode=WAL")
    finally:
        conn.close()
    if result != ["ok"]:
        db.unlink(missing_ok=True)
        raise WalRestoreError("the restored database failed its integrity check: " + "; ".join(result[:5]))


def _write_config(gen_dir: Path, target: Path) -> None:
    """The site's configuration as the generation recorded it (with its encryption key), with
    the database in the restored folder and without ``wal_replica``: a restored copy must not
    ship into the replica it came from (set it again to ship the restored site)."""
    path = gen_dir / "site_config.json"
    config = orjson.loads(path.read_bytes()) if path.is_file() else {}
    config["db_url"] = "sqlite:///site.db"
    config.pop("wal_replica", None)
    fd = os.open(target / "site_config.json", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(orjson.dumps(config, option=orjson.OPT_INDENT_2))
