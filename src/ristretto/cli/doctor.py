"""``ristretto doctor``: check a site's configuration and what it must reach, one line per check.

Each check gives ``ok``, ``warning``, ``error`` or ``skip`` (nothing to check, or the client library
is not installed) and one sentence; the command exits non-zero when any check gave an error.
Checks only read: nothing is created, migrated or repaired (a SQLite file is opened read-only,
so a wrong path is reported instead of becoming a new empty database).
"""

from __future__ import annotations

import difflib
import os
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import orjson

OK, WARNING, ERROR, SKIP = "ok", "warning", "error", "skip"
# Below these the site folder's disk is a warning, then an error (uploads, the WAL, backups).
DISK_WARN, DISK_ERROR = 1 << 30, 100 << 20


@dataclass
class Check:
    status: str
    name: str
    message: str

    def line(self) -> str:
        return f"{self.status:<8}{self.name}: {self.message}"


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _value(config: dict[str, Any], name: str) -> Any:
    """A setting another part of the server declares (``file_storage``, ``redis_url``, ``s3_*``)."""
    return config.get(name)


def run(site_path: str | os.PathLike, workers: int = 1) -> list[Check]:
    return list(_checks(Path(site_path).resolve(), workers))


def _checks(path: Path, workers: int) -> Iterator[Check]:
    from ristretto.site.settings import BY_NAME
    config_path = path / "site_config.json"
    if not config_path.is_file():
        yield Check(ERROR, "site_config", f"{config_path} not found")
        return
    try:
        config = orjson.loads(config_path.read_bytes())
        if not isinstance(config, dict):
            raise ValueError("not a JSON object")
    except (orjson.JSONDecodeError, ValueError) as e:
        yield Check(ERROR, "site_config", f"{config_path} is not valid: {e}")
        return
    yield Check(OK, "site_config", f"{len(config)} key(s) read from {config_path}")
    for key in sorted(config):
        if key not in BY_NAME:
            near = difflib.get_close_matches(key, list(BY_NAME), n=1, cutoff=0.6)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            yield Check(WARNING, "site_config", f"unknown key {key!r} (ignored){hint}")
    yield from _database(path, config, workers)
    yield _encryption_key(config)
    yield from _folders(path)
    yield _proxies(config)
    yield _s3(config)
    yield _wal_replica(path, config)
    yield _redis(config)
    yield _disk(path)


# --- the database ---------------------------------------------------------------------------------

def _database(path: Path, config: dict[str, Any], workers: int) -> Iterator[Check]:
    url = config.get("db_url") or "sqlite:///site.db"
    if url.startswith("sqlite:"):
        rel = url.split("sqlite:///", 1)[1] if "sqlite:///" in url else url[len("sqlite:"):]
        db_file = Path(rel) if os.path.isabs(rel) else path / rel
        found = list(_sqlite(db_file))
    elif url.startswith(("postgresql://", "postgres://")):
        found = list(_postgres(url, workers))
    else:
        yield Check(ERROR, "database", f"db_url {url[:100]!r} is neither sqlite:///FILE nor postgresql://...")
        return
    yield from found
    if found[0].status != ERROR:  # the schema only of a database that answered
        yield _schema(path)


def _sqlite(db_file: Path) -> Iterator[Check]:
    if not db_file.is_file():
        yield Check(ERROR, "database", f"SQLite file {db_file} does not exist")
        return
    try:
        conn = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, timeout=5)
        try:
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error as e:
        yield Check(ERROR, "database", f"cannot read SQLite file {db_file}: {_first_line(e)}")
        return
    yield Check(OK, "database", f"SQLite {sqlite3.sqlite_version} at {db_file}")
    yield Check(OK if mode == "wal" else WARNING, "journal_mode",
                "wal" if mode == "wal" else f"{mode} (the server switches it to WAL when it opens the file)")
    # The -wal and -shm files beside it are created in its folder: both must be writable.
    if os.access(db_file, os.W_OK) and os.access(db_file.parent, os.W_OK):
        yield Check(OK, "database file", "writable (file and folder)")
    else:
        yield Check(ERROR, "database file", f"{db_file} or its folder is not writable by this user")


def _postgres(url: str, workers: int) -> Iterator[Check]:
    try:
        import psycopg
        with psycopg.connect(url, connect_timeout=5) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
            limit = int(conn.execute("SHOW max_connections").fetchone()[0])
            reserved = int(conn.execute("SHOW superuser_reserved_connections").fetchone()[0])
    except Exception as e:  # noqa: BLE001 - any failure to connect is this check's answer
        yield Check(ERROR, "database", f"cannot connect to PostgreSQL: {_first_line(e)}")
        return
    yield Check(OK, "database", f"PostgreSQL {version} reachable")
    from ristretto.db.stream import MAX_STREAMS
    per_worker = int(os.environ.get("RISTRETTO_PG_POOL", "8")) + MAX_STREAMS
    need, have = workers * per_worker, limit - reserved
    if need > have:
        yield Check(WARNING, "max_connections",
                    f"{workers} worker(s) may open {need} connections, the server allows {have} "
                    f"(max_connections {limit} - {reserved} reserved): raise max_connections or lower "
                    "RISTRETTO_PG_POOL / the workers")
    else:
        yield Check(OK, "max_connections", f"{workers} worker(s) use at most {need} of {have} connections")


def _schema(path: Path) -> Check:
    """Every stored DocType has its table and columns (else: run ``ristretto migrate``)."""
    from ristretto.db.schema import SYSTEM_TABLES, existing_columns
    from ristretto.meta.core import core_definitions
    from ristretto.site import Site
    try:
        site = Site(path)
    except Exception as e:  # noqa: BLE001 - a site that cannot be opened is this check's answer
        return Check(ERROR, "schema", f"the site cannot be opened: {_first_line(e)}")
    try:
        with site.db.connect() as conn, conn.transaction(write=False):
            missing = [t for t in SYSTEM_TABLES if existing_columns(conn, t) is None]
            if existing_columns(conn, "tabDocType") is None:
                return Check(ERROR, "schema", "no DocType table: this database holds no ristretto site")
            site.registry.load(conn)
            stored = {m.name for m in site.registry.all()}
            missing += [f"DocType {n}" for n in core_definitions() if n not in stored]
            for meta in site.registry.all():
                if meta.issingle or meta.is_virtual:
                    continue
                have = existing_columns(conn, meta.table)
                if have is None:
                    missing.append(meta.table)
                else:
                    missing += [f"{meta.table}.{c}" for c in meta.columns if c not in have]
    except Exception as e:  # noqa: BLE001
        return Check(ERROR, "schema", f"cannot read the schema: {_first_line(e)}")
    finally:
        site.close()
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        return Check(ERROR, "schema", f"not migrated ({shown} missing): run 'ristretto migrate'")
    return Check(OK, "schema", f"{len(stored)} DocType(s), tables and columns up to date")


# --- keys, folders, proxies -----------------------------------------------------------------------

def _encryption_key(config: dict[str, Any]) -> Check:
    key = config.get("encryption_key")
    if not key:
        return Check(ERROR, "encryption_key", "missing: Password fields stored with the site's key cannot be "
                                              "decrypted (restore it from a backup of site_config.json)")
    try:
        from cryptography.fernet import Fernet
        Fernet(key.encode() if isinstance(key, str) else key)
    except Exception:  # noqa: BLE001 - the key's value is never shown
        return Check(ERROR, "encryption_key", "not a valid Fernet key (32 url-safe base64-encoded bytes)")
    return Check(OK, "encryption_key", "present and valid")


def _folders(path: Path) -> Iterator[Check]:
    for kind in ("public", "private"):
        folder = path / kind / "files"
        try:
            fd, tmp = tempfile.mkstemp(prefix=".doctor-", dir=folder)
            os.close(fd)
            os.unlink(tmp)
        except OSError as e:
            yield Check(ERROR, f"{kind} files", f"{folder} is not writable: {_first_line(e)}")
            continue
        yield Check(OK, f"{kind} files", f"{folder} writable")


def _proxies(config: dict[str, Any]) -> Check:
    from ristretto.api.proxy import trusted_networks
    try:
        nets = trusted_networks(config)
    except ValueError as e:
        return Check(ERROR, "trusted_proxies", str(e))
    return Check(OK, "trusted_proxies", f"{len(nets)} network(s)" if nets else "none (X-Forwarded-* ignored)")


# --- services -------------------------------------------------------------------------------------

def _s3(config: dict[str, Any]) -> Check:
    if _value(config, "file_storage") != "s3":
        return Check(SKIP, "s3", "files are stored on local disk")
    # The storage the server would use, made from the same keys (one place reads them).
    from ristretto.api.s3store import S3Storage
    from ristretto.site import SiteError
    try:
        storage = S3Storage(config)
    except SiteError as e:
        return Check(ERROR, "s3", str(e))
    try:
        storage.client.head_bucket(Bucket=storage.bucket)
    except Exception as e:  # noqa: BLE001 - any failure is the finding
        return Check(ERROR, "s3", f"bucket {storage.bucket!r} not reachable: {_first_line(e)}")
    return Check(OK, "s3", f"bucket {storage.bucket!r} reachable")


def _wal_replica(path: Path, config: dict[str, Any]) -> Check:
    """Continuous backup: the replica readable, its generations, and when it last received frames."""
    import datetime as dt
    import time
    location = _value(config, "wal_replica")
    if not location:
        return Check(SKIP, "wal_replica", "no wal_replica (continuous backup of SQLite is off)")
    if not str(config.get("db_url") or "sqlite:").startswith("sqlite:"):
        return Check(WARNING, "wal_replica", "wal_replica is set but the site is not on SQLite: it is ignored")
    from ristretto.backup import walformat
    from ristretto.backup.replicastore import open_store
    from ristretto.backup.walship import location_of
    text = str(location_of(location, path))
    try:
        store = open_store(text, config)
        raw = store.get(walformat.REPLICA_FILE)
        if raw is None:
            return Check(WARNING, "wal_replica", f"nothing shipped to {store} yet (a running server or "
                                                 "`ristretto replicate` ships there)")
        meta = walformat.parse_replica(raw, str(store))
        generations = meta.get("generations") or []
        if not generations:
            return Check(WARNING, "wal_replica", f"{store} holds no generation yet")
        newest = generations[-1]
        stored = store.newest(f"generations/{newest['id']}/segments")
    except Exception as e:  # noqa: BLE001 - any failure is the finding
        return Check(ERROR, "wal_replica", f"replica {text} not readable: {_first_line(e)}")

    def when(seconds: float) -> str:
        return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    last = max(newest.get("snapshot_time") or 0, stored or 0)
    return Check(OK, "wal_replica", f"{store}: {len(generations)} generation(s), the oldest from "
                                    f"{when(generations[0].get('snapshot_time') or 0)}; last shipped "
                                    f"{when(last)} ({time.time() - last:.0f} s ago)")


def _redis(config: dict[str, Any]) -> Check:
    url = _value(config, "redis_url")
    if not url:
        return Check(SKIP, "redis", "no redis_url (PostgreSQL/SQLite carry invalidation and counters)")
    try:
        import redis
    except ImportError:
        return Check(SKIP, "redis", "the redis client library is not installed: cannot ping")
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
        client.ping()
        client.close()
    except Exception as e:  # noqa: BLE001
        return Check(ERROR, "redis", f"no answer to PING: {_first_line(e)}")
    return Check(OK, "redis", "PING answered")


def _disk(path: Path) -> Check:
    usage = shutil.disk_usage(path)
    free_mb = usage.free // (1 << 20)
    if usage.free < DISK_ERROR:
        return Check(ERROR, "disk", f"{free_mb} MB free on the site's disk")
    if usage.free < DISK_WARN or usage.free < usage.total * 0.05:
        return Check(WARNING, "disk", f"{free_mb} MB free on the site's disk ({usage.free * 100 // usage.total}%)")
    return Check(OK, "disk", f"{free_mb} MB free")
