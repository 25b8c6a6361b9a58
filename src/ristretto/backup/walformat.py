"""The files of a WAL replica (continuous backup of a SQLite site) and of SQLite's WAL itself.

A replica holds ``replica.json`` (what it is, the database page size, the generations)
and one folder per generation: ``site_config.json`` (the site's configuration, with its
encryption key, as it was when the generation began), ``base.db`` (a consistent snapshot made
with SQLite's backup API) and ``segments/NNNNNNNN.seg``, the WAL frames committed after the
snapshot, in order. A segment is a 40-byte header (magic, the wall time the shipper saw its
frames, the WAL's salt and checkpoint sequence, the index of its first frame in that WAL, the
frame count, the page size) followed by the frames exactly as SQLite wrote them (24-byte frame
header + page). A new generation begins whenever the shipper cannot prove it saw every frame
since the last one (a start, a WAL restart it did not allow).

Where the files are kept (a folder, a bucket) is :mod:`ristretto.backup.replicastore`'s business;
either way a file is whole or absent.

SQLite's formats read here are the documented ones: the WAL header and frame header
(big-endian) and the WAL-index header in the ``-shm`` file (native byte order, two copies
that agree when it is not being written).
"""

from __future__ import annotations

import os
import struct
import time
from dataclasses import dataclass
from typing import Any

import orjson

REPLICA_FILE = "replica.json"
FORMAT = "ristretto-wal-replica"
FORMAT_VERSION = 1
SEGMENT_MAGIC = b"RWALSEG1"
SEGMENT_HEADER = struct.Struct(">8sd8sIIII")    # magic, seen, salt, ckpt seq, first frame, count, page size
WAL_HEADER_SIZE = 32
FRAME_HEADER_SIZE = 24
WAL_MAGICS = (0x377F0682, 0x377F0683)


@dataclass(frozen=True)
class WalHeader:
    page_size: int
    ckpt_seq: int
    salt: bytes        # the two salts, raw (compared as bytes, as SQLite copies them)

    @property
    def salt1(self) -> int:
        return struct.unpack(">I", self.salt[:4])[0]


def read_wal_header(path: str) -> WalHeader | None:
    """The header of the WAL file at ``path`` (None: no WAL, or not a complete header yet)."""
    try:
        with open(path, "rb") as f:
            raw = f.read(WAL_HEADER_SIZE)
    except FileNotFoundError:
        return None
    if len(raw) < WAL_HEADER_SIZE:
        return None
    magic, _version, page_size, ckpt_seq = struct.unpack(">IIII", raw[:16])
    if magic not in WAL_MAGICS:
        return None
    return WalHeader(page_size, ckpt_seq, raw[16:24])


@dataclass(frozen=True)
class WalIndex:
    max_frame: int     # frames of committed transactions in the WAL now
    backfilled: int    # frames already copied into the database file by a checkpoint
    salt: bytes


# Descriptors of -shm files this process reads, opened once and never closed: closing any
# descriptor of a file drops every POSIX lock the process holds on it (fcntl's rule), and
# SQLite's connections in this process hold theirs on the -shm file (the dead-man switch that
# keeps another process from re-initialising it, the WAL read marks that keep checkpoints and
# WAL restarts off a reader's snapshot). Reading through a descriptor opened and closed on
# each look dropped them all.
_SHM_FDS: dict[str, int] = {}


def _shm_fd(path: str) -> int | None:
    fd = _SHM_FDS.get(path)
    if fd is not None and os.fstat(fd).st_nlink == 0:
        # SQLite removed the file (its last connection closed) and may make a new one: read
        # that. The old descriptor stays open, as above (it costs one descriptor).
        fd = None
    if fd is None:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        _SHM_FDS[path] = fd
    return fd


def read_wal_index(path: str, attempts: int = 50) -> WalIndex | None:
    """The WAL-index header of ``path`` (the ``-shm`` file): the committed end of the WAL.
    SQLite writes the header's second copy first and its first copy last, so two copies that
    agree are a consistent header; a read that catches a writer half way is tried again. The
    file is read through a descriptor that stays open (see ``_SHM_FDS``)."""
    for _ in range(attempts):
        fd = _shm_fd(path)
        if fd is None:
            return None
        raw = os.pread(fd, 136, 0)
        if len(raw) < 136:
            return None
        if raw[:48] == raw[48:96] and raw[12] == 1:
            max_frame = struct.unpack("=I", raw[16:20])[0]
            backfilled = struct.unpack("=I", raw[96:100])[0]
            return WalIndex(max_frame, backfilled, raw[32:40])
        time.sleep(0.001)
    return None


def frame_commit_size(frame_header: bytes) -> int:
    """Database size in pages after the transaction this frame ends (0: not a commit frame)."""
    return struct.unpack(">I", frame_header[4:8])[0]


def frame_page(frame_header: bytes) -> int:
    return struct.unpack(">I", frame_header[:4])[0]


def frame_salt(frame_header: bytes) -> bytes:
    return frame_header[8:16]


# --- writing files safely ------------------------------------------------------------------

# --- the replica folder --------------------------------------------------------------------

def parse_replica(data: bytes | None, where: str) -> dict[str, Any]:
    """``replica.json`` of the replica at ``where`` (ValueError: not a replica)."""
    if data is None:
        raise ValueError(f"{where} is not a WAL replica (no {REPLICA_FILE})")
    try:
        meta = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise ValueError(f"{REPLICA_FILE} of {where} is not valid JSON: {e}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{REPLICA_FILE} of {where} does not describe a ristretto WAL replica")
    if meta.get("version") != FORMAT_VERSION:
        raise ValueError(f"{REPLICA_FILE} of {where} has format version {meta.get('version')!r}; this "
                         f"ristretto reads version {FORMAT_VERSION}")
    return meta


def replica_bytes(meta: dict[str, Any]) -> bytes:
    return orjson.dumps(meta, option=orjson.OPT_INDENT_2)


def segment_name(seq: int) -> str:
    return f"{seq:08d}.seg"


def segment_bytes(seen: float, salt: bytes, ckpt_seq: int, first: int, count: int, page_size: int,
                  frames: bytes) -> bytes:
    return SEGMENT_HEADER.pack(SEGMENT_MAGIC, seen, salt, ckpt_seq, first, count, page_size) + frames


@dataclass(frozen=True)
class Segment:
    seq: int
    seen: float
    salt: bytes
    ckpt_seq: int
    first: int
    count: int
    page_size: int
    data: bytes       # the whole segment, header included

    def frames(self):
        """(frame header, page) of each frame, in order."""
        size = FRAME_HEADER_SIZE + self.page_size
        view = memoryview(self.data)
        for k in range(self.count):
            start = SEGMENT_HEADER.size + k * size
            yield bytes(view[start:start + FRAME_HEADER_SIZE]), view[start + FRAME_HEADER_SIZE:start + size]


def parse_segment(seq: int, data: bytes, where: str) -> Segment:
    if len(data) < SEGMENT_HEADER.size:
        raise ValueError(f"{where}: truncated segment")
    magic, seen, salt, ckpt_seq, first, count, page_size = SEGMENT_HEADER.unpack(data[:SEGMENT_HEADER.size])
    if magic != SEGMENT_MAGIC:
        raise ValueError(f"{where}: not a WAL segment")
    if len(data) != SEGMENT_HEADER.size + count * (FRAME_HEADER_SIZE + page_size):
        raise ValueError(f"{where}: segment size does not match its {count} frame(s)")
    return Segment(seq, seen, salt, ckpt_seq, first, count, page_size, data)


def segment_keys(keys: list[str]) -> list[tuple[int, str]]:
    """(number, key) of the segment files among ``keys``, in order."""
    found = []
    for key in keys:
        name = key.rsplit("/", 1)[-1]
        stem, dot, ext = name.partition(".")
        if dot and ext == "seg" and stem.isdigit():
            found.append((int(stem), key))
    return sorted(found)
