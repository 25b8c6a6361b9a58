"""``ristretto restore``: a backup folder made by ``ristretto backup`` into a new site folder.

Nothing is written until every checksum of the manifest matched (database, files, the saved
``site_config.json``): a damaged backup is refused with the name of the damaged part. The target
folder must be missing or empty. ``site_config.json`` is written last, from the saved one (its
``encryption_key`` decrypts the Password fields) with ``db_url`` pointing at the restored
database, so a restore cut short never leaves something that opens as a site; what it created
is removed. PostgreSQL backups go into the database ``--db-url`` names (created when missing,
refused when it already holds tables) with ``pg_restore``. Afterwards the restored database's
row counts are compared with the manifest's.

A source folder holding ``replica.json`` (continuous WAL shipping), or a ``--to-time``, goes to
``ristretto.backup.walrestore.restore_to_time``.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from ristretto.backup.snapshot import (FORMAT_VERSION, MANIFEST, PG_FILE, SQLITE_FILE, BackupError, Progress,
                                       copy_file, digest, pg_tool, quiet, run_pg_tool)
from ristretto.durable import write_atomic

MAX_MANIFEST = 256 * 1024 * 1024  # a manifest lists every file: generous, but bounded


def restore(source: str, target: str, *, db_url: str | None = None, to_time: datetime | None = None,
            progress: Progress | None = None) -> dict[str, Any]:
    """Restore ``source`` into the new site folder ``target``; returns what was restored."""
    progress = progress or quiet
    target_path = Path(target).resolve()
    if target_path.exists() and (not target_path.is_dir() or any(target_path.iterdir())):
        raise BackupError(f"{target_path} is not empty: restore only into a new or empty folder")
    if to_time is not None or (Path(source) / "replica.json").is_file() or "://" in source:
        try:
            from ristretto.backup.walrestore import restore_to_time
        except ImportError:
            raise BackupError("continuous backup restore is not available") from None
        return restore_to_time(source, str(target_path), to_time, progress)
    folder = Path(source)
    manifest = read_manifest(folder)
    verify(folder, manifest, progress)
    created = not target_path.exists()
    made_database: list[str] = []
    try:
        return _restore(folder, manifest, target_path, db_url, progress, made_database)
    except BaseException:
        # Leave everything as it was found: the target missing or empty, no new database.
        for url in made_database:
            _drop_pg_database(url)
        if created:
            shutil.rmtree(target_path, ignore_errors=True)
        elif target_path.is_dir():
            for entry in target_path.iterdir():
                shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
        raise


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not path.is_file():
        raise BackupError(f"{folder} is not a finished backup (no {MANIFEST})")
    if path.stat().st_size > MAX_MANIFEST:
        raise BackupError(f"{path} is larger than {MAX_MANIFEST} bytes")
    try:
        manifest = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as e:
        raise BackupError(f"{path} is damaged: not valid JSON ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != "ristretto-backup":
        raise BackupError(f"{path} is not a ristretto backup manifest")
    if manifest.get("version") != FORMAT_VERSION:
        raise BackupError(f"backup format version {manifest.get('version')!r} is not supported "
                          f"(this ristretto reads version {FORMAT_VERSION})")
    return manifest


def _inside(folder: Path, relative: str) -> Path:
    """``folder/relative``, refused when a manifest's name would lead outside the backup."""
    parts = relative.split("/")
    if not relative or any(p in ("", ".", "..") or p.startswith(".") or "\\" in p or "\x00" in p for p in parts):
        raise BackupError(f"the manifest names an invalid path {relative[:200]!r}")
    return folder.joinpath(*parts)


def verify(folder: Path, manifest: dict[str, Any], progress: Progress) -> None:
    """Every checksum of the manifest against the bytes in ``folder``; BackupError names the first
    that does not match."""
    db, config = manifest["database"], manifest["site_config"]
    checks = [(db["file"], db["sha256"]), (config["file"], config["sha256"])]
    checks += [(f"files/{name}", entry["sha256"]) for name, entry in manifest.get("files", {}).items()]
    for i, (relative, expected) in enumerate(checks, 1):
        path = _inside(folder, relative)
        if not path.is_file():
            raise BackupError(f"the backup is damaged: {relative} is missing")
        found = digest(path)["sha256"]
        if found != expected:
            raise BackupError(f"the backup is damaged: the checksum of {relative} does not match the "
                              f"manifest (expected {expected[:16]}..., found {found[:16]}...)")
        progress(i, len(checks), "checking checksums")


def _restore(folder: Path, manifest: dict[str, Any], target: Path, db_url: str | None,
             progress: Progress, made_database: list[str]) -> dict[str, Any]:
    backend = manifest["backend"]
    config = orjson.loads((folder / manifest["site_config"]["file"]).read_bytes())
    target.mkdir(parents=True, exist_ok=True)
    for kind in ("public", "private"):
        (target / kind / "files").mkdir(parents=True, exist_ok=True)
    if backend == "sqlite":
        if db_url and not db_url.startswith("sqlite:"):
            raise BackupError("this is a SQLite backup: it restores into the site folder (no --db-url)")
        progress(0, 1, "database")
        shutil.copyfile(folder / SQLITE_FILE, target / "site.db")
        os.chmod(target / "site.db", 0o600)
        conn = sqlite3.connect(target / "site.db")
        try:
            conn.execute("PRAGMA journal_mode=WAL")  # what the server runs on (the backup is one file)
        finally:
            conn.close()
        progress(1, 1, "database")
        config["db_url"] = "sqlite:///site.db"
    elif backend == "postgres":
        if not db_url or not db_url.startswith(("postgresql://", "postgres://")):
            raise BackupError("a PostgreSQL backup needs --db-url postgresql://user@host:port/NEW_DATABASE")
        if _prepare_pg_database(db_url):
            made_database.append(db_url)
        run_pg_tool([pg_tool("pg_restore"), "-v", "--no-owner", "--no-privileges", "--exit-on-error",
                     str(folder / PG_FILE)], db_url, manifest["database"].get("tables") or 1,
                     "processing data for table", progress, "database")
        config["db_url"] = db_url
    else:
        raise BackupError(f"unknown backend {backend!r} in the manifest")
    files = manifest.get("files", {})
    bucket = _bucket(config) if manifest.get("file_storage") == "s3" else None
    for i, name in enumerate(files, 1):
        kind, _, stored = name.partition("/")
        if kind not in ("public", "private"):
            raise BackupError(f"the manifest names an invalid file {name[:200]!r}")
        if bucket is None:
            copy_file(_inside(folder, f"files/{name}"), target / kind / "files" / stored)
        else:
            bucket.restore(kind == "private", stored, _inside(folder, f"files/{name}"))
        progress(i, len(files), "files")
    _check_counts(config["db_url"], target, manifest["counts"]["tables"])
    # Last: only now is the folder a site.
    write_atomic(target / "site_config.json", orjson.dumps(config, option=orjson.OPT_INDENT_2))
    return {"backend": backend, "site": str(target), "snapshot_time": manifest.get("snapshot_time"),
            "documents": sum(manifest["counts"]["tables"].values()), "files": len(files),
            "missing_files": manifest.get("missing_files", [])}


class _Bucket:
    """The bucket a restored S3 site's configuration names: backed-up objects go back where they
    are missing; one already there is kept (uploads are create-only, so it holds the same bytes)."""

    def __init__(self, storage: Any):
        self.storage = storage

    def restore(self, private: bool, name: str, path: Path) -> None:
        self.storage.restore_object(private, name, path.read_bytes())


def _bucket(config: dict[str, Any]) -> _Bucket:
    from ristretto.api.s3store import S3Storage
    from ristretto.site import SiteError
    try:
        return _Bucket(S3Storage(config))
    except SiteError as e:
        raise BackupError(f"the backup's files are in S3: {e}") from None


def _prepare_pg_database(url: str) -> bool:
    """Create the database ``url`` names when missing (True); refuse one that already holds tables."""
    import psycopg
    from psycopg import sql
    base, _, name = url.rpartition("/")
    name = name.split("?", 1)[0]
    if not name:
        raise BackupError("--db-url must name a database: postgresql://user@host:port/NEW_DATABASE")
    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            used = conn.execute("SELECT count(*) FROM information_schema.tables "
                                "WHERE table_schema = 'public'").fetchone()[0]
        if used:
            raise BackupError(f"the database {name} already holds {used} table(s): restore into a new database")
        return False
    except psycopg.OperationalError as e:
        if "does not exist" not in str(e):
            raise BackupError(f"cannot connect to PostgreSQL: {str(e).strip().splitlines()[0]}") from None
    try:
        with psycopg.connect(f"{base}/postgres", autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as e:
        raise BackupError(f"cannot create the database {name}: {str(e).strip().splitlines()[0]}") from None
    return True


def _drop_pg_database(url: str) -> None:
    """Remove the database a failed restore created (only that one)."""
    import psycopg
    from psycopg import sql
    base, _, name = url.rpartition("/")
    try:
        with psycopg.connect(f"{base}/postgres", autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name.split("?", 1)[0])))
    except psycopg.Error:
        pass  # the restore's own error is the one to report


def _check_counts(db_url: str, target: Path, expected: dict[str, int]) -> None:
    """The restored database holds as many rows per table as the manifest says."""
    if db_url.startswith("sqlite:"):
        conn: Any = sqlite3.connect(target / "site.db")
        close = conn.close
    else:
        import psycopg
        conn = psycopg.connect(db_url, connect_timeout=10)
        close = conn.close
    try:
        for table, count in expected.items():
            if '"' in table:
                raise BackupError(f"unexpected table name {table!r} in the manifest")
            found = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
            if found != count:
                raise BackupError(f"restored table {table} holds {found} rows, the backup {count}")
    finally:
        close()
