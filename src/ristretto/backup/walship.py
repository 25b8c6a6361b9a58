"""Continuous backup of a SQLite site: committed WAL frames shipped to a replica folder.

``wal_replica`` in site_config.json names the folder (relative paths are relative to the site) or
an ``s3://bucket/prefix`` (:mod:`ristretto.backup.replicastore`).
``ristretto serve`` runs a :class:`Shipper` in the one worker that wins a file lock beside the
database; ``ristretto replicate`` runs one alone. Every ``wal_replica_interval`` seconds it looks
at the WAL-index (the ``-shm`` file) for the committed end of the WAL and copies the frames it
has not shipped into a new segment file (fsynced, or stored in the bucket), so an acknowledged write is in the replica
about one interval later. The replica's format is in :mod:`ristretto.backup.walformat`; a
restore is :func:`ristretto.backup.walrestore.restore_to_time`.

Why no frame is ever lost between two looks (Litestream's idea, on SQLite's own interfaces):

- SQLite overwrites WAL frames only when a writer *restarts* the WAL, which it does only once
  every frame has been checkpointed into the database and no reader still uses the WAL.
- With shipping on, only the shipper checkpoints: the workers' checkpointer threads do not
  start and their automatic checkpoint is off (``Database.stop_checkpoints``).
- The shipper keeps a read transaction open at all times (a *pin*, rotated over two
  connections: the new one begins before the old one ends). A reader pins the WAL: nobody can
  restart it, and no checkpoint copies frames past the pin's snapshot.
- To checkpoint, it takes the writers' lock for an instant, begins a new pin there (so the pin's
  snapshot is exactly the committed end it then reads), lets the lock go, ships up to that end,
  and only then checkpoints: everything the checkpoint copies was shipped first.
- A WAL restart the shipper did not allow (salts not the successor of the ones it knew, a
  checkpoint sequence that jumped, frames it had not shipped) or anything it cannot account for
  starts a new *generation*: a fresh snapshot with SQLite's backup API, then frames from there.
  Every start of a shipper begins a generation too (what happened while none ran is unknown).

History is bounded: a generation older than ``wal_replica_snapshot_interval`` hours is followed by
a fresh one, and a generation is deleted once the generation after it began more than
``wal_replica_retention`` hours ago (every time it could restore to is then older than the
retention window). The newest generation is never deleted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import math
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from ristretto.backup import walformat as wf
from ristretto.backup.replicastore import open_store
from ristretto.site.settings import setting

log = logging.getLogger("ristretto")

# Shipped frames after which the shipper checkpoints (SQLite's own default is 1,000 pages).
CHECKPOINT_PAGES = 1000
# ... or seconds after which it checkpoints whatever was shipped, however little.
CHECKPOINT_SECONDS = 10.0
# Frames in one segment at most (a shipper that fell behind writes several; ~16 MB of 4 KB pages).
MAX_SEGMENT_FRAMES = 4096
# WAL frames beyond which a checkpoint also lets the WAL restart (like the workers' backstop).
RESTART_FRAMES = 10_000
# While looks keep failing (a full disk, an unreachable bucket), one log line this often.
FAILURE_LOG_SECONDS = 60.0


class Discontinuity(Exception):
    """The WAL changed in a way the shipper cannot account for: a new generation is needed."""


class ShipperBusy(Exception):
    """Another process ships this database, or ships to this replica."""


def replica_path(site: Any) -> Path | str | None:
    """Where ``site`` ships its WAL: a folder, or an ``s3://`` URL (None: continuous backup is off
    or the site is not on SQLite)."""
    value = setting(site.config, "wal_replica")
    if not value or site.db.dialect.name != "sqlite" or not getattr(site.db, "path", None) \
            or site.db.path.startswith((":memory:", "file::memory:")):
        return None
    return location_of(value, site.path)


def location_of(value: Any, site_path: Path) -> Path | str:
    """A ``wal_replica`` value as a place: an ``s3://`` URL as it is, a folder relative to the site."""
    if str(value).startswith("s3://"):
        return str(value)
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else site_path / path


def _amount(site: Any, name: str, unit: str, seconds_each: float, most: float) -> float:
    """A positive number of ``unit`` (at most ``most``) from the site's settings, in seconds."""
    try:
        value = float(setting(site.config, name))
    except (TypeError, ValueError):
        value = 0.0
    if not 0 < value <= most:
        raise ValueError(f"{name} in site_config.json must be a number of {unit} above 0")
    return value * seconds_each


def schedule_of(site: Any) -> dict[str, float]:
    """The shipper's timing from the site's settings (seconds): ``interval`` between looks,
    ``snapshot_interval`` between generations, ``retention`` of history. ValueError names a bad one."""
    return {"interval": _amount(site, "wal_replica_interval", "seconds", 1, 3600),
            "snapshot_interval": _amount(site, "wal_replica_snapshot_interval", "hours", 3600, 24 * 3650),
            "retention": _amount(site, "wal_replica_retention", "hours", 3600, 24 * 3650)}


def _try_lock(path: str) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA wal_autocheckpoint=0")
    return conn


class Shipper:
    """Ships one SQLite database's WAL to one replica folder (see the module's docstring)."""

    def __init__(self, db_path: str, replica: str | os.PathLike, site_config: Path | None = None,
                 interval: float = 1.0, checkpoint_pages: int = CHECKPOINT_PAGES,
                 checkpoint_seconds: float = CHECKPOINT_SECONDS, restart_frames: int = RESTART_FRAMES,
                 snapshot_interval: float | None = None, retention: float | None = None):
        self.db_path = str(db_path)
        self.wal_path = self.db_path + "-wal"
        self.shm_path = self.db_path + "-shm"
        self.replica = str(replica)
        self.store: Any = None
        self.site_config = site_config
        self.interval = interval
        self.checkpoint_pages = checkpoint_pages
        self.checkpoint_seconds = checkpoint_seconds
        self.restart_frames = restart_frames
        self.snapshot_interval = snapshot_interval   # seconds (None: a generation lasts until a restart)
        self.retention = retention                   # seconds (None: every generation is kept)
        self.generation: str | None = None
        self._generation_began = 0.0
        self.segments = 0                 # segments written in this generation
        self.frames_shipped = 0           # frames shipped since this shipper opened (tests, logs)
        self.last_latency: float | None = None
        self._locks: list[int] = []
        self._conns: list[sqlite3.Connection] = []
        self._pin = 0
        self._writelock: int | None = None
        self._salt: bytes | None = None
        self._ckpt_seq = 0
        self._pos = 0                     # frames of the current WAL shipped (or in the snapshot)
        self._backfilled = 0              # frames of it the shipper's checkpoints copied back
        # The shipper's last checkpoint copied back the whole WAL, every frame of which it had
        # shipped: the one state from which a WAL restart loses nothing.
        self._complete = False
        self._last_checkpoint = time.monotonic()

    # --- opening and closing ---------------------------------------------------------------

    def open(self) -> "Shipper":
        """Take the locks (ShipperBusy if another process holds one) and begin a generation."""
        mine = _try_lock(self.db_path + ".walship")
        if mine is None:
            raise ShipperBusy(f"another process ships {self.db_path}")
        self._locks.append(mine)
        try:
            config = orjson.loads(self.site_config.read_bytes()) if self.site_config is not None \
                and self.site_config.is_file() else None
            self.store = open_store(self.replica, config)
            if not self.store.lock():
                raise ShipperBusy(f"another process ships to {self.store}")
            existing = self.store.get(wf.REPLICA_FILE)
            self._meta = None if existing is None else wf.parse_replica(existing, str(self.store))
            self._conns = [_connect(self.db_path) for _ in range(4)]   # two pins, writers' lock, checkpoints
            self._conns[0].execute("PRAGMA journal_mode=WAL")
            self._writelock = os.open(self.db_path + ".writelock", os.O_RDWR | os.O_CREAT, 0o600)
            self.begin_generation("shipper started")
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        for conn in self._conns:
            try:
                conn.close()
            except sqlite3.Error:
                pass
        self._conns = []
        if self._writelock is not None:
            os.close(self._writelock)
            self._writelock = None
        if self.store is not None:
            self.store.close()
        for fd in self._locks:
            os.close(fd)     # closing the descriptor releases its flock
        self._locks = []

    # --- pins ------------------------------------------------------------------------------

    def _repin(self) -> None:
        """Begin a read transaction on the other pin connection, then end the current one, so
        the WAL is pinned at every instant."""
        new = self._conns[1 - self._pin]
        if new.in_transaction:
            new.execute("COMMIT")
        new.execute("BEGIN")
        new.execute("SELECT count(*) FROM sqlite_master").fetchone()
        old = self._conns[self._pin]
        if old.in_transaction:
            old.execute("COMMIT")
        self._pin = 1 - self._pin

    @contextlib.contextmanager
    def _writers_out(self):
        """Keep every writer out (ristretto's file lock, then SQLite's write lock) meanwhile."""
        fcntl.flock(self._writelock, fcntl.LOCK_EX)
        try:
            lock_conn = self._conns[2]
            lock_conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            finally:
                lock_conn.execute("ROLLBACK")
        finally:
            fcntl.flock(self._writelock, fcntl.LOCK_UN)

    def _pin_exactly(self) -> tuple[wf.WalIndex | None, wf.WalHeader | None]:
        """A new pin whose snapshot is the committed end read with it (writers kept out for an
        instant, so nothing is committed between the two)."""
        with self._writers_out():
            self._repin()
            return wf.read_wal_index(self.shm_path), wf.read_wal_header(self.wal_path)

    # --- generations -----------------------------------------------------------------------

    def begin_generation(self, reason: str) -> str:
        """A fresh snapshot (SQLite's backup API) that later segments continue from."""
        meta = self._meta or {"format": wf.FORMAT, "version": wf.FORMAT_VERSION, "database": self.db_path,
                              "page_size": None, "generations": []}
        now = dt.datetime.now(dt.timezone.utc)
        # Numbered after the last one (not by count: pruned generations leave the list).
        last = meta["generations"][-1]["id"] if meta["generations"] else "0"
        gen_id = f"{int(last.split('-')[0]) + 1:06d}-{now.strftime('%Y%m%dT%H%M%S')}"
        gen = f"generations/{gen_id}/"
        if self.site_config is not None and self.site_config.is_file():
            self.store.put(gen + "site_config.json", self.site_config.read_bytes())
        index, header = self._pin_exactly()
        snapshot_time = time.time()
        tmp = self.store.scratch(gen + "base.db")
        tmp.unlink(missing_ok=True)
        target = sqlite3.connect(tmp)
        try:
            # The pin's open read transaction is the snapshot the backup copies.
            self._conns[self._pin].backup(target)
            page_size = target.execute("PRAGMA page_size").fetchone()[0]
        finally:
            target.close()
        self.store.put_file(gen + "base.db", tmp)
        self._salt = header.salt if header is not None and index is not None and index.max_frame else None
        self._ckpt_seq = header.ckpt_seq if header is not None else 0
        self._pos = index.max_frame if index is not None and self._salt is not None else 0
        self._backfilled = index.backfilled if index is not None and self._salt is not None else 0
        # Frames not checkpointed yet are in the snapshot, so a restart is safe once they are.
        self._complete = self._salt is not None and self._backfilled == self._pos
        self.generation, self.segments = gen_id, 0
        meta["page_size"] = meta["page_size"] or page_size
        meta["generations"].append({"id": gen_id, "started": now.isoformat(), "snapshot_time": snapshot_time,
                                    "reason": reason, "page_size": page_size})
        self.store.put(wf.REPLICA_FILE, wf.replica_bytes(meta))
        self._meta = meta
        self._generation_began = snapshot_time
        log.info("WAL shipping to %s: generation %s (%s)", self.store, gen_id, reason)
        try:
            self.prune(snapshot_time)
        except Exception:  # noqa: BLE001 - shipping matters more; the next generation prunes again
            log.exception("WAL shipping: deleting old generations failed")
        return gen_id

    def prune(self, now: float | None = None) -> list[str]:
        """Delete the generations no restore within ``retention`` needs: those whose successor's
        snapshot is older than the window. The record goes first, then the files (a crash in
        between leaves files nothing names, never a name without its files). Returns their ids."""
        if self.retention is None or self._meta is None:
            return []
        horizon = (time.time() if now is None else now) - self.retention
        generations = self._meta["generations"]
        old = [g["id"] for g, after in zip(generations, generations[1:])
               if after.get("snapshot_time", math.inf) < horizon]
        if not old:
            return []
        self._meta["generations"] = [g for g in generations if g["id"] not in old]
        self.store.put(wf.REPLICA_FILE, wf.replica_bytes(self._meta))
        for gen_id in old:
            self.store.delete_prefix(f"generations/{gen_id}/")
        log.info("WAL shipping to %s: deleted generation(s) %s (older than the %.3g h kept)", self.store,
                 ", ".join(old), self.retention / 3600)
        return old

    # --- shipping --------------------------------------------------------------------------

    def ship(self, checkpoint: bool | None = None) -> int:
        """Look once: ship every committed frame not shipped yet; checkpoint when due (or when
        ``checkpoint`` says so). Returns the frames shipped. Raises Discontinuity."""
        pending = self._pos - self._backfilled
        due = checkpoint if checkpoint is not None else (
            pending >= self.checkpoint_pages
            or (pending > 0 and time.monotonic() - self._last_checkpoint >= self.checkpoint_seconds))
        if due and self._pos >= self.restart_frames:
            # Under steady writes the pin never lets the WAL restart: it would grow for ever. So
            # now and then everything is shipped and checkpointed with the writers kept out, and
            # the pin moves to a snapshot that needs no WAL frame: the next writer restarts it.
            with self._writers_out():
                self._repin()
                shipped = self._look(True)
                self._repin()
            return shipped
        if due:
            with self._writers_out():
                self._repin()
                index, header = wf.read_wal_index(self.shm_path), wf.read_wal_header(self.wal_path)
            return self._look(True, index, header)
        self._repin()
        return self._look(False)

    def _look(self, checkpoint: bool, index: wf.WalIndex | None = None, header: wf.WalHeader | None = None) -> int:
        """Ship up to the committed end (``index``/``header``: read under the writers' lock with
        the current pin), then checkpoint if asked (never past the pin, so never past what was
        shipped)."""
        if index is None:
            index, header = wf.read_wal_index(self.shm_path), wf.read_wal_header(self.wal_path)
        seen = time.time()
        if index is None or header is None or index.max_frame == 0:
            return 0
        if header.salt != index.salt:
            return 0          # a writer is restarting the WAL this instant: look again next time
        if header.salt != self._salt:
            self._accept_restart(header)
        if index.max_frame < self._pos:
            raise Discontinuity(f"the WAL shrank to {index.max_frame} frame(s) below the {self._pos} shipped")
        shipped = self._copy(header, index.max_frame, seen)
        if checkpoint:
            if index.max_frame > index.backfilled:
                _busy, frames, done = self._conns[3].execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if done >= 0:
                    self._backfilled = max(self._backfilled, min(done, self._pos))
                self._complete = done == frames == self._pos
                if self._complete:
                    # All of the WAL is shipped and back in the database: a pin that needs no
                    # frame lets the next writer restart the WAL instead of growing it.
                    self._repin()
            else:
                self._backfilled = index.backfilled
                self._complete = index.backfilled == index.max_frame == self._pos
            self._last_checkpoint = time.monotonic()
        return shipped

    def _accept_restart(self, header: wf.WalHeader) -> None:
        """Follow a WAL restart that lost nothing: exactly one restart (SQLite adds one to the
        first salt each time; the checkpoint sequence in the header is each connection's own
        count, so it proves nothing), from a WAL every frame of which the shipper had shipped and
        checkpointed."""
        if self._salt is None and self._pos == 0:
            pass      # no WAL when the generation began: every frame of this one is new
        elif not (self._complete and header.salt1 == (int.from_bytes(self._salt[:4], "big") + 1) & 0xFFFFFFFF):
            raise Discontinuity(
                f"the WAL was restarted by another program (frames may not have been seen: first salt "
                f"{int.from_bytes(self._salt[:4], 'big')} -> {header.salt1}, {self._pos} frame(s) shipped, "
                f"{self._backfilled} checkpointed, all of them: {self._complete})")
        self._salt, self._ckpt_seq, self._pos, self._backfilled = header.salt, header.ckpt_seq, 0, 0
        self._complete = False

    def _copy(self, header: wf.WalHeader, end: int, seen: float) -> int:
        """Ship frames ``self._pos`` .. ``end`` of the WAL as segment files."""
        size = wf.FRAME_HEADER_SIZE + header.page_size
        total = 0
        with open(self.wal_path, "rb") as f:
            while self._pos < end:
                count = min(end - self._pos, MAX_SEGMENT_FRAMES)
                f.seek(wf.WAL_HEADER_SIZE + self._pos * size)
                data = f.read(count * size)
                if len(data) != count * size:
                    raise Discontinuity("the WAL file is shorter than its index says")
                for i in range(count):
                    if data[i * size + 8:i * size + 16] != header.salt:
                        raise Discontinuity("a WAL frame changed under the shipper")
                if self._pos + count == end and not wf.frame_commit_size(data[(count - 1) * size:]):
                    raise Discontinuity("the committed end of the WAL is not a commit frame")
                # Numbered only once stored: a failed write is written again under the same number.
                key = f"generations/{self.generation}/segments/{wf.segment_name(self.segments + 1)}"
                self.store.put(key, wf.segment_bytes(seen, header.salt, header.ckpt_seq, self._pos, count,
                                                       header.page_size, data))
                self.segments += 1
                self._pos += count
                total += count
        if total:
            self._complete = False
            self.frames_shipped += total
            self.last_latency = time.time() - seen
        return total

    def step(self) -> int:
        """One look, beginning a new generation when the WAL cannot be followed or the current
        one is older than ``snapshot_interval``."""
        try:
            if self.snapshot_interval is not None \
                    and time.time() - self._generation_began >= self.snapshot_interval:
                shipped = self.ship(checkpoint=False)   # the old generation ends with every commit so far
                self.begin_generation(f"scheduled snapshot (every {self.snapshot_interval / 3600:.3g} h)")
                return shipped
            return self.ship()
        except Discontinuity as e:
            log.warning("WAL shipping: %s; starting a new generation", e)
            self.begin_generation(str(e))
            return 0


class ShipperThread:
    """A shipper on a thread of a server worker: it waits for the lock (another worker or a
    ``ristretto replicate`` may hold it) and ships until stopped."""

    def __init__(self, site: Any, replica: Path | str, schedule: dict[str, float]):
        self.site, self.replica, self.schedule = site, replica, schedule
        self.shipper: Shipper | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal-ship", daemon=True)

    def start(self) -> "ShipperThread":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        try:
            run(self.site.db.path, self.replica, self.site.path / "site_config.json", self._stop,
                on_open=lambda s: setattr(self, "shipper", s), **self.schedule)
        except Exception:  # noqa: BLE001 - the server goes on; the log says shipping stopped
            log.exception("WAL shipping stopped")


def run(db_path: str, replica: Path | str, site_config: Path | None, stop: threading.Event,
        on_open=None, wait_for_lock: bool = True, interval: float = 1.0, snapshot_interval: float | None = None,
        retention: float | None = None) -> None:
    """Ship until ``stop`` is set (waiting for the lock first while another process ships)."""
    shipper = Shipper(db_path, replica, site_config, interval, snapshot_interval=snapshot_interval,
                      retention=retention)
    while True:
        try:
            shipper.open()
            break
        except ShipperBusy:
            if not wait_for_lock or stop.wait(max(interval, 1.0)):
                raise
    if on_open is not None:
        on_open(shipper)
    failing = _Failures()
    try:
        while not stop.wait(interval):
            try:
                shipper.step()
            except Exception as e:  # noqa: BLE001 - a full disk, an unreachable bucket: the next look tries again
                failing.failed(e)
            else:
                failing.succeeded()
        shipper.ship(checkpoint=False)    # what was committed before the stop
    finally:
        shipper.close()


class _Failures:
    """The log of looks that fail in a row: the first with its traceback, then one line per
    ``FAILURE_LOG_SECONDS`` while they go on (not one a second), and one when a look works again."""

    def __init__(self) -> None:
        self.since: float | None = None
        self.count = 0
        self._logged = 0.0

    def failed(self, error: BaseException) -> None:
        now = time.monotonic()
        self.count += 1
        if self.since is None:
            self.since = self._logged = now
            log.exception("WAL shipping: a look failed; trying again every interval")
        elif now - self._logged >= FAILURE_LOG_SECONDS:
            self._logged = now
            log.error("WAL shipping has failed for %.0f s (%d looks): %s: %s; commits since then are not "
                      "in the replica yet", now - self.since, self.count, type(error).__name__, error)

    def succeeded(self) -> None:
        if self.since is not None:
            log.warning("WAL shipping works again after %.0f s (%d failed looks)",
                        time.monotonic() - self.since, self.count)
            self.since, self.count = None, 0


def start_in_server(site: Any) -> ShipperThread | None:
    """In a server worker of a site with ``wal_replica``: leave every checkpoint to the shipper
    and run one (it ships once this worker wins the lock). None when shipping is off."""
    replica = replica_path(site)
    if replica is None:
        return None
    site.db.stop_checkpoints()
    return ShipperThread(site, replica, schedule_of(site)).start()


def replicate(site: Any, once: bool = False) -> str:
    """``ristretto replicate``: ship until SIGINT/SIGTERM (or once); returns the closing line."""
    import signal

    from ristretto.site import SiteError

    replica = replica_path(site)
    if replica is None:
        raise SiteError("continuous backup needs a SQLite site with wal_replica in site_config.json")
    try:
        schedule = schedule_of(site)
    except ValueError as e:
        raise SiteError(str(e)) from None
    config = site.path / "site_config.json"
    if once:
        shipper = Shipper(site.db.path, replica, config, schedule["interval"],
                          snapshot_interval=schedule["snapshot_interval"], retention=schedule["retention"])
        try:
            shipper.open()
            frames = shipper.ship(checkpoint=False)
        except ShipperBusy as e:
            raise SiteError(str(e)) from None
        finally:
            shipper.close()
        return f"Shipped {site.db.path} to {replica}: generation {shipper.generation}, {frames} frame(s)"
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    site.db.stop_checkpoints()
    log.warning("shipping %s to %s every %.3g s (stop with Ctrl-C)", site.db.path, replica, schedule["interval"])
    run(site.db.path, replica, config, stop, **schedule)
    return f"Stopped shipping {site.db.path} to {replica}"
