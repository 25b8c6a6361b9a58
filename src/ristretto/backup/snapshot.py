"""``ristretto backup``: one consistent snapshot of a site's database and files, taken while it serves.

The backup is a folder: ``database.sqlite`` (SQLite) or ``database.dump`` (``pg_dump -Fc``),
``files/public/...`` and ``files/private/...``, ``site_config.json`` (it keeps the
``encryption_key``, without which Password fields cannot be decrypted) and ``manifest.json``,
written last (a folder without it is an unfinished backup and ``restore`` refuses it).

**The database snapshot.** SQLite: the online backup API, copying a few hundred pages per step
so the progress bar moves and no writer waits for the whole copy. Alone, that API restarts from
the first page whenever another connection writes between two steps: under a steady stream of
writes (one every millisecond) it was measured restarting 5,622 times in 20 s without ever
finishing. So the source connection first opens a read transaction and holds it until the last
step: in WAL mode every step then reads that one snapshot, the copy cannot restart, and writers
go on (they append to the WAL; only checkpoints wait). Measured on a 65 MB database under the
same writer: 0.13 s, 66 steps, no restart, the copy held exactly the rows counted when the read
transaction began, while 106 writes committed meanwhile; on 261 MB: 0.97 s, 262 steps, 587
writes meanwhile, none slower than 13 ms. ``VACUUM INTO`` is as consistent (0.11 s and 1.98 s, a
write waiting up to 24 ms) but is one statement: no progress between its start and its end.
While the read transaction is held, checkpoints cannot pass it, so the WAL grows for the copy's
duration and shrinks at the next checkpoint after it.
PostgreSQL: a ``REPEATABLE READ`` transaction exports its snapshot and ``pg_dump --snapshot``
dumps exactly that; the counts and the File rows of the manifest are read in the same
transaction, so they describe the dump.

**The files, and their order.** Stored files never change once they have their name (an upload
writes, fsyncs, then links the finished bytes to the name; ``api/filestore.py``), so copying a
named file always copies whole bytes. Dot-files are markers and temporaries and are skipped.
Files are copied twice: before the database snapshot and again, for new names only, after it.
*Before*: a file uploaded between the copy and the snapshot would have a row but no bytes;
the second pass after the snapshot brings it. *After* alone: a file deleted between the
snapshot and the copy would have a row in the backup but no bytes; the first pass already holds
it. A file present without a row (uploaded after the snapshot) is harmless: no document names
it. One window remains, a file whose upload commits during the first pass or before the snapshot
and whose delete commits before the second pass reaches it; every File row of the snapshot is
therefore checked against the copied bytes and any row without bytes is listed in the manifest
(``missing_files``) and reported, never silently.

**Files in S3** (``file_storage`` ``s3``): after the database snapshot, the objects its File rows
name are fetched into the backup like local files (an object never changes once it has its name:
uploads are create-only). The window is the same as above: an object deleted between the
snapshot and its fetch is listed in ``missing_files``. ``restore`` puts them back into the bucket
the configuration names, where they are missing (create-only: an object there is kept).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import orjson

from ristretto.durable import fsync_dir, write_atomic

Progress = Callable[[int, int, str], None]
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SQLITE_FILE, PG_FILE, CONFIG_COPY = "database.sqlite", "database.dump", "site_config.json"
PAGES_PER_STEP = 256  # 1 MB with 4 KB pages: a step is short, the bar moves
CHUNK = 1 << 20


class BackupError(Exception):
    """A backup or restore cannot go on (the message is shown to the user as is)."""


def quiet(done: int, total: int, what: str) -> None:
    pass


def configured(config: dict[str, Any], name: str) -> Any:
    """A setting declared by the storage/server layers (``file_storage``, ``redis_url``...)."""
    return config.get(name)


def take(site_path: str | os.PathLike, to: str | os.PathLike | None = None,
         progress: Progress | None = None) -> dict[str, Any]:
    """Back the site up into a new folder under ``to`` (default ``<site>/backups``); returns
    the manifest, with ``path`` the backup folder."""
    from ristretto.site import Site
    progress = progress or quiet
    site = Site(site_path)
    try:
        started = datetime.now(timezone.utc)
        parent = Path(to) if to else site.path / "backups"
        folder = parent / f"{site.name}-{started.strftime('%Y%m%d-%H%M%S-%f')}Z"
        parent.mkdir(parents=True, exist_ok=True)
        folder.mkdir(mode=0o700)  # the database and the configuration's key: the owner's only
        try:
            return _take(site, folder, started, progress)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)  # no half backup left to be mistaken for one
            raise
    finally:
        site.close()


def _take(site: Any, folder: Path, started: datetime, progress: Progress) -> dict[str, Any]:
    # Files, database, files again: the order is explained in the module's docstring.
    (folder / "files" / "public").mkdir(parents=True)
    (folder / "files" / "private").mkdir(parents=True)
    on_disk = configured(site.config, "file_storage") in (None, "", "local")
    copied: dict[str, dict[str, Any]] = {}
    if on_disk:
        _copy_files(site, folder, copied, progress, "files (before the snapshot)")
    if site.db.dialect.name == "sqlite":
        db = sqlite_snapshot(Path(site.db.path), folder / SQLITE_FILE, progress)
    else:
        db = _pg_snapshot(site.db.url, folder / PG_FILE, progress)
    if on_disk:
        _copy_files(site, folder, copied, progress, "files (after the snapshot)")
    else:
        _fetch_objects(site, folder, copied, db["file_urls"], progress)
    from ristretto.api.filenames import parse_local_url
    missing = []
    for url in db.pop("file_urls"):
        local = parse_local_url(url)
        if local and f"{'private' if local[0] else 'public'}/{local[1]}" not in copied:
            missing.append(url)
    config_bytes = orjson.dumps(site.config, option=orjson.OPT_INDENT_2)
    write_atomic(folder / CONFIG_COPY, config_bytes)
    manifest = {
        "format": "ristretto-backup", "version": FORMAT_VERSION,
        "started": started.isoformat(), "snapshot_time": db.pop("snapshot_time"),
        "finished": datetime.now(timezone.utc).isoformat(),
        "backend": site.db.dialect.name, "site": site.name,
        "file_storage": "local" if on_disk else configured(site.config, "file_storage"),
        "database": db,
        "site_config": {"file": CONFIG_COPY, "sha256": hashlib.sha256(config_bytes).hexdigest()},
        "counts": {"tables": db.pop("counts"), "files": len(copied)},
        "files": dict(sorted(copied.items())),
        "missing_files": missing,
    }
    write_atomic(folder / MANIFEST, orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    fsync_dir(folder)
    return {**manifest, "path": str(folder)}


# --- the database ---------------------------------------------------------------------------------

def sqlite_snapshot(source: Path, out: Path, progress: Progress, *,
                    pages_per_step: int = PAGES_PER_STEP) -> dict[str, Any]:
    """Copy the SQLite database ``source`` to ``out`` as one snapshot (see the module's docstring)."""
    src = sqlite3.connect(source, isolation_level=None, timeout=30)
    try:
        # The read transaction begins with its first read and pins the snapshot every step reads.
        src.execute("BEGIN")
        src.execute("SELECT count(*) FROM sqlite_master").fetchone()
        snapshot_time = datetime.now(timezone.utc).isoformat()
        os.close(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        dst = sqlite3.connect(out)
        try:
            src.backup(dst, pages=pages_per_step, sleep=0,
                       progress=lambda _status, remaining, total: progress(total - remaining, total, "database"))
        finally:
            dst.close()
        src.execute("COMMIT")
    finally:
        src.close()
    copy = sqlite3.connect(out)
    try:
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        tables = [r[0] for r in copy.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'tab%' ORDER BY name")]
        counts = {t: copy.execute(f'SELECT count(*) FROM "{_ident(t)}"').fetchone()[0] for t in tables}
        urls = [r[0] for r in copy.execute('SELECT file_url FROM "tabFile" WHERE file_url IS NOT NULL')] \
            if "tabFile" in counts else []
    finally:
        copy.close()
    _fsync(out)
    return {"file": SQLITE_FILE, **digest(out), "counts": counts, "file_urls": urls,
            "snapshot_time": snapshot_time}


def pg_tool(name: str) -> str:
    """``pg_dump`` / ``pg_restore`` from PATH, else from the PostgreSQL installation."""
    import glob
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                                                    reverse=True)), None)
    if not found:
        raise BackupError(f"{name} not found: install the PostgreSQL client programs")
    return found


def _pg_snapshot(url: str, out: Path, progress: Progress) -> dict[str, Any]:
    import psycopg
    try:
        conn = psycopg.connect(url, connect_timeout=10)
    except psycopg.Error as e:
        raise BackupError(f"cannot connect to PostgreSQL: {str(e).strip().splitlines()[0]}") from None
    try:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        snapshot_time = conn.execute("SELECT now()").fetchone()[0].astimezone(timezone.utc).isoformat()
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
            "AND table_type = 'BASE TABLE' ORDER BY table_name")]
        all_tables = len(tables)
        tables = [t for t in tables if t.startswith("tab")]
        counts = {t: conn.execute(f'SELECT count(*) FROM "{_ident(t)}"').fetchone()[0] for t in tables}
        urls = [r[0] for r in conn.execute('SELECT file_url FROM "tabFile" WHERE file_url IS NOT NULL')] \
            if "tabFile" in counts else []
        run_pg_tool([pg_tool("pg_dump"), "-Fc", "-v", "--no-owner", "--no-privileges", f"--snapshot={snapshot}",
                     "-f", str(out)], url, all_tables, "dumping contents of table", progress, "database")
        conn.rollback()
    finally:
        conn.close()
    _fsync(out)
    return {"file": PG_FILE, **digest(out), "tables": all_tables, "counts": counts, "file_urls": urls,
            "snapshot_time": snapshot_time}


def run_pg_tool(argv: list[str], url: str, total: int, marker: str, progress: Progress, what: str) -> None:
    """Run pg_dump / pg_restore on the database ``url``; each ``marker`` line of its verbose output
    is a table done. A password goes in the environment, never on a command line others can list."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo
    params = conninfo_to_dict(url)
    env = dict(os.environ)
    if params.get("password") is not None:
        env["PGPASSWORD"] = str(params.pop("password"))
    done = 0
    progress(0, total, what)
    proc = subprocess.Popen([*argv, "-d", make_conninfo(**params)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=env)
    errors: list[str] = []
    assert proc.stderr is not None
    for line in proc.stderr:
        if marker in line:
            done = min(done + 1, total)
            progress(done, total, what)
        elif "error" in line.lower():
            errors.append(line.strip())
    if proc.wait() != 0:
        name = os.path.basename(argv[0])
        raise BackupError(f"{name} failed: {'; '.join(errors[-3:]) or f'exit status {proc.returncode}'}")
    progress(total, total, what)


def _ident(name: str) -> str:
    if '"' in name or "\x00" in name:
        raise BackupError(f"unexpected table name {name!r}")
    return name


# --- the files ------------------------------------------------------------------------------------

def stored_names(directory: Path) -> list[str]:
    """The stored files of a files folder: plain regular files (dot-files are markers/temporaries)."""
    if not directory.is_dir():
        return []
    return sorted(e.name for e in os.scandir(directory)
                  if not e.name.startswith(".") and e.is_file(follow_symlinks=False))


def _copy_files(site: Any, folder: Path, copied: dict[str, dict[str, Any]], progress: Progress, what: str) -> None:
    todo = []
    for private in (False, True):
        kind = "private" if private else "public"
        directory = site.files_path(private)
        todo += [(directory / n, kind, n) for n in stored_names(directory) if f"{kind}/{n}" not in copied]
    progress(0, len(todo), what)
    for i, (path, kind, name) in enumerate(todo, 1):
        try:
            copied[f"{kind}/{name}"] = copy_file(path, folder / "files" / kind / name)
        except FileNotFoundError:
            pass  # deleted meanwhile; the check against the snapshot's File rows tells if it mattered
        progress(i, len(todo), what)


def _fetch_objects(site: Any, folder: Path, copied: dict[str, dict[str, Any]], urls: list[str],
                   progress: Progress) -> None:
    """The S3 objects of the snapshot's File rows, into the backup's files folder."""
    from ristretto.api.filenames import parse_local_url
    from ristretto.api.storage import of
    store = of(site)
    todo = sorted({loc for loc in map(parse_local_url, urls) if loc})
    what = "files (from S3)"
    progress(0, len(todo), what)
    for i, (private, name) in enumerate(todo, 1):
        kind = "private" if private else "public"
        try:
            body = store.client.get_object(Bucket=store.bucket, Key=store.key(private, name))["Body"]
        except store.client.exceptions.NoSuchKey:
            body = None  # deleted since the snapshot: listed as missing by the check after
        if body is not None:
            try:
                copied[f"{kind}/{name}"] = copy_stream(body, folder / "files" / kind / name)
            finally:
                body.close()
        progress(i, len(todo), what)


def copy_file(src: Path, dst: Path) -> dict[str, Any]:
    """Copy ``src`` to ``dst`` (fsynced); returns its sha256 and size."""
    with open(src, "rb") as fin:
        return copy_stream(fin, dst)


def copy_stream(fin: Any, dst: Path) -> dict[str, Any]:
    """Copy what ``fin`` reads to ``dst`` (fsynced), a chunk at a time; its sha256 and size."""
    h, size = hashlib.sha256(), 0
    with open(dst, "wb") as fout:
        while chunk := fin.read(CHUNK):
            h.update(chunk)
            fout.write(chunk)
            size += len(chunk)
        fout.flush()
        os.fsync(fout.fileno())
    return {"sha256": h.hexdigest(), "bytes": size}


def digest(path: Path) -> dict[str, Any]:
    h, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
    return {"sha256": h.hexdigest(), "bytes": size}


def _fsync(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


