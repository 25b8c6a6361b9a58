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
import sqlite3
from pathlib import Path
from typing import Any, Callable

import orjson

from ristretto.backup import walformat as wf
from ristretto.backup.replicastore import open_store

Progress = Callable[[int, int, str], None]


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
    """Restore the replica at ``source`` (a folder or ``s3://bucket/prefix``) into the new site
    folder ``target_site`` as it was at ``to_time`` (None: the latest state shipped). Returns
    what was restored."""
    try:
        store = open_store(source)
        meta = wf.parse_replica(store.get(wf.REPLICA_FILE), str(store))
    except ValueError as e:
        raise WalRestoreError(str(e)) from None
    target = Path(target_site)
    if target.exists() and any(target.iterdir()):
        raise WalRestoreError(f"{target} exists and is not empty: restore into a new folder")
    cutoff = _cutoff(to_time)
    generations = [g for g in meta.get("generations", []) if g.get("snapshot_time", math.inf) <= cutoff]
    if not generations:
        raise WalRestoreError(f"no generation of {store} began at or before "
                              f"{to_time.isoformat() if to_time else 'now'}")
    gen = generations[-1]
    prefix = f"generations/{gen['id']}/"
    segments = wf.segment_keys(store.list(prefix + "segments"))
    total = len(segments) + 1
    report = progress or (lambda done, total, what: None)

    target.mkdir(parents=True, exist_ok=True)
    work = target / "site.db.restoring"
    if not store.fetch(prefix + "base.db", work):
        raise WalRestoreError(f"generation {gen['id']} of {store} has no base.db snapshot")
    report(1, total, "snapshot")
    applied = _apply(work, store, segments, cutoff, gen.get("page_size"), lambda i: report(1 + i, total, "segments"))
    _check(work)
    os.replace(work, target / "site.db")
    _write_config(store.get(prefix + "site_config.json"), target)
    for sub in ("public/files", "private/files"):
        (target / sub).mkdir(parents=True, exist_ok=True)
    report(total, total, "done")
    return {"site": str(target), "generation": gen["id"], "snapshot_time": _iso(gen.get("snapshot_time")),
            "segments": applied["segments"], "frames": applied["frames"], "commits": applied["commits"],
            "last_commit_time": _iso(applied["last_seen"] or gen.get("snapshot_time")),
            "stopped": applied["stopped"], "integrity": "ok"}


def _apply(db: Path, store: Any, segments: list[tuple[int, str]], cutoff: float, page_size: int | None,
           tick: Callable[[int], None]) -> dict[str, Any]:
    """Write the pages of every transaction committed in ``segments`` (in order, up to the
    cutoff) into ``db``; frames of a transaction whose commit frame is not applied are dropped."""
    out = {"segments": 0, "frames": 0, "commits": 0, "last_seen": None, "stopped": "end of the replica"}
    pending: dict[int, bytes] = {}
    with open(db, "r+b") as f:
        for i, (seq, key) in enumerate(segments, start=1):
            if seq != i:
                out["stopped"] = f"segment {i} is missing"
                break
            try:
                seg = wf.parse_segment(seq, store.get(key) or b"", key)
            except ValueError as e:
                out["stopped"] = str(e)
                break
            if seg.seen > cutoff:
                out["stopped"] = "the time asked for"
                break
            if page_size and seg.page_size != page_size:
                raise WalRestoreError(f"{key}: page size {seg.page_size}, the snapshot's is {page_size}")
            if seg.first == 0:
                pending.clear()     # a new WAL: a transaction cut short in the old one never committed
            for header, page in seg.frames():
                pending[wf.frame_page(header)] = page
                commit = wf.frame_commit_size(header)
                if commit:
                    for pgno, data in sorted(pending.items()):
                        f.seek((pgno - 1) * seg.page_size)
                        f.write(data)
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


def _write_config(recorded: bytes | None, target: Path) -> None:
    """The site's configuration as the generation recorded it (with its encryption key), with
    the database in the restored folder and without ``wal_replica``: a restored copy must not
    ship into the replica it came from (set it again to ship the restored site)."""
    config = orjson.loads(recorded) if recorded else {}
    config["db_url"] = "sqlite:///site.db"
    config.pop("wal_replica", None)
    fd = os.open(target / "site_config.json", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(orjson.dumps(config, option=orjson.OPT_INDENT_2))
