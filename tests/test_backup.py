"""``ristretto backup`` / ``ristretto restore`` on both databases.

The issue's check runs a real ``ristretto serve`` taking concurrent creates over HTTP while the
backup runs, restores into a new folder (a new database on PostgreSQL) and serves the restored
site in-process: every document acknowledged before the backup began is there with the same
content, nothing sent after the backup ended is, and the uploaded files download byte for byte.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import configure_site, make_site, run_cli, start_server, stop_server
from tests.inprocess import InProcess
from tests.s3server import bucket_keys, s3_client, s3_config, s3_server  # noqa: F401 - fixtures

WRITERS, PER_WRITER = 3, 1500  # bounded: at most 4,500 creates, and 30 s; ~100/s each at most


def _restore_args(backend: str, request) -> list[str]:
    if backend != "postgres":
        return []
    base = request.getfixturevalue("pg_cluster").url.rsplit("/", 1)[0]
    return ["--db-url", f"{base}/rt_restored_{uuid.uuid4().hex[:10]}"]  # missing: restore creates it


def _only_backup(folder: Path) -> Path:
    found = [p for p in folder.iterdir() if (p / "manifest.json").is_file()]
    assert len(found) == 1, found
    return found[0]


def test_backup_under_write_load_restores_every_acknowledged_document(tmp_path, backend, request):
    site_dir = make_site(tmp_path, backend, request)
    srv = start_server(site_dir, backend)
    acked: list[tuple[str, str, str, float, float]] = []  # name, title, content, sent, acknowledged
    stop = threading.Event()
    threads: list[threading.Thread] = []
    refused: list[int] = []
    try:
        with srv.admin() as c:
            uploads = {}
            for i in range(4):
                data = os.urandom(3000 + i)
                r = c.post("/api/method/upload_file", data={"is_private": str(i % 2)},
                           files={"file": (f"kept-{i}.bin", data, "application/octet-stream")})
                assert r.status_code == 200, r.text
                uploads[r.json()["message"]["file_url"]] = data
            assert any(u.startswith("/private/files/") for u in uploads)

        def writer(n: int) -> None:
            with srv.admin() as c:
                for i in range(PER_WRITER):
                    if stop.is_set():
                        return
                    title, content = f"load {n}-{i}", f"<p>writer {n}, note {i}: {uuid.uuid4().hex}</p>"
                    sent = time.time()
                    r = c.post("/api/resource/Note", json={"title": title, "content": content})
                    if r.status_code == 200:
                        acked.append((r.json()["data"]["name"], title, content, sent, time.time()))
                    else:
                        refused.append(r.status_code)
                    time.sleep(0.01)

        threads += [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
        for t in threads:
            t.start()
        deadline = time.time() + 30
        while len(acked) < 60 and time.time() < deadline:
            time.sleep(0.02)
        began = time.time()
        out = run_cli("--site", str(site_dir), "backup", "--to", str(tmp_path / "backups"))
        ended = time.time()
        during = len(acked)
        while len(acked) < during + 10 and time.time() < deadline:
            time.sleep(0.02)  # the writers keep going after the backup too
    finally:
        stop.set()
        for t in threads:
            t.join(30)
        stop_server(srv.proc)
    assert "Backed up" in out.stdout
    folder = _only_backup(tmp_path / "backups")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["backend"] == backend and manifest["missing_files"] == []

    target = tmp_path / "restored"
    run_cli("restore", str(folder), str(target), *_restore_args(backend, request))
    before = [a for a in acked if a[4] < began]
    after = [a for a in acked if a[3] > ended]
    assert len(before) >= 60 and after, (len(before), len(after), len(acked), refused[:5], ended - began)
    auth = {"Authorization": f"token {srv.api_key}:{srv.api_secret}"}  # its secret decrypts: same key
    with InProcess.open(target, headers=auth) as c:
        for name, title, content, _, _ in before:
            r = c.get(f"/api/resource/Note/{name}")
            assert r.status_code == 200, (name, r.text)
            assert (r.json()["data"]["title"], r.json()["data"]["content"]) == (title, content)
        for name, *_ in after:
            assert c.get(f"/api/resource/Note/{name}").status_code == 404, name
        for url, data in uploads.items():
            r = c.get(url)
            assert r.status_code == 200 and r.content == data, url
        notes = c.get("/api/method/frappe.client.get_count", params={"doctype": "Note"}).json()["message"]
        assert notes == manifest["counts"]["tables"]["tabNote"]
    assert run_cli("--site", str(target), "doctor").returncode == 0


def _stored_file(site_dir: Path, name: str, data: bytes) -> None:
    """A public file and its File row, made through the model."""
    from ristretto.model import document
    from ristretto.site import Site
    (site_dir / "public" / "files" / name).write_bytes(data)
    site = Site(site_dir)
    try:
        with site.admin() as ctx:
            document.insert(ctx, "File", {"file_name": name, "file_url": f"/files/{name}"})
    finally:
        site.close()


@pytest.fixture
def backed_up(tmp_path, backend, request):
    """A site with one public file, and a finished backup of it."""
    from ristretto.backup.snapshot import take
    site_dir = make_site(tmp_path, backend, request)
    _stored_file(site_dir, "a.txt", b"public bytes")
    manifest = take(site_dir, tmp_path / "backups")
    return site_dir, Path(manifest["path"]), manifest


def test_restore_refuses_a_non_empty_target(tmp_path, backed_up, backend, request):
    _, folder, _ = backed_up
    target = tmp_path / "busy"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    r = run_cli("restore", str(folder), str(target), *_restore_args(backend, request), check=False)
    assert r.returncode != 0 and "is not empty" in r.stderr
    assert [p.name for p in target.iterdir()] == ["keep.txt"]


@pytest.mark.parametrize("damaged", ["database", "file"])
def test_restore_refuses_a_corrupted_backup(tmp_path, backed_up, backend, request, damaged):
    _, folder, manifest = backed_up
    path = folder / manifest["database"]["file"] if damaged == "database" else folder / "files/public/a.txt"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    target = tmp_path / "restored"
    r = run_cli("restore", str(folder), str(target), *_restore_args(backend, request), check=False)
    name = manifest["database"]["file"] if damaged == "database" else "files/public/a.txt"
    assert r.returncode != 0
    assert f"the backup is damaged: the checksum of {name} does not match the manifest" in r.stderr
    assert not target.exists()


def test_restore_serves_files_and_counts(tmp_path, backed_up, backend, request):
    _, folder, manifest = backed_up
    assert manifest["files"]["public/a.txt"]["bytes"] == len(b"public bytes")
    target = tmp_path / "restored"
    run_cli("restore", str(folder), str(target), *_restore_args(backend, request))
    config = json.loads((target / "site_config.json").read_text())
    assert config["encryption_key"] == json.loads((folder / "site_config.json").read_text())["encryption_key"]
    with InProcess.open(target) as c:
        assert c.get("/files/a.txt").content == b"public bytes"


def test_postgres_restore_refuses_a_database_that_holds_tables(tmp_path, request):
    from ristretto.backup.snapshot import take
    site_dir = make_site(tmp_path, "postgres", request)
    folder = Path(take(site_dir, tmp_path / "backups")["path"])
    source_url = json.loads((site_dir / "site_config.json").read_text())["db_url"]
    r = run_cli("restore", str(folder), str(tmp_path / "restored"), "--db-url", source_url, check=False)
    assert r.returncode != 0 and "already holds" in r.stderr and "restore into a new database" in r.stderr
    assert not (tmp_path / "restored").exists()


def test_backup_reports_a_file_row_whose_bytes_are_gone(tmp_path):
    """A File row of the snapshot without bytes is listed and warned about, never silently kept."""
    site_dir = make_site(tmp_path, "sqlite", None)
    _stored_file(site_dir, "gone.txt", b"soon gone")
    (site_dir / "public" / "files" / "gone.txt").unlink()
    r = run_cli("--site", str(site_dir), "backup", "--to", str(tmp_path / "backups"))
    assert "warning: /files/gone.txt was deleted before its bytes were copied" in r.stderr
    manifest = json.loads((_only_backup(tmp_path / "backups") / "manifest.json").read_text())
    assert manifest["missing_files"] == ["/files/gone.txt"]


def test_sqlite_snapshot_is_one_snapshot_while_writers_commit_between_steps(tmp_path):
    """Writes committed between two steps of the online backup neither restart it nor get into it."""
    from ristretto.backup.snapshot import sqlite_snapshot
    source = tmp_path / "source.db"
    conn = sqlite3.connect(source, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE tabThing (name TEXT PRIMARY KEY, v TEXT)")
    conn.executemany("INSERT INTO tabThing VALUES (?, ?)", [(f"t{i}", "x" * 500) for i in range(2000)])
    steps: list[tuple[int, int]] = []

    def progress(done: int, total: int, what: str) -> None:
        steps.append((done, total))
        if len(steps) <= 20:  # another connection commits between two steps
            conn.execute("INSERT INTO tabThing VALUES (?, ?)", (f"late{len(steps)}", "y"))

    out = tmp_path / "copy.db"
    sqlite_snapshot(source, out, progress, pages_per_step=8)
    conn.close()
    copy = sqlite3.connect(out)
    assert copy.execute("SELECT count(*) FROM tabThing").fetchone()[0] == 2000
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    done = [d for d, _ in steps]
    assert done == sorted(done), "the copy restarted"
    assert len(steps) > 20  # the writes really fell between steps


def test_progress_is_a_bar_on_a_terminal_and_plain_lines_elsewhere(tmp_path):
    import pty
    import subprocess
    import sys
    site_dir = make_site(tmp_path, "sqlite", None)
    plain = run_cli("--site", str(site_dir), "backup", "--to", str(tmp_path / "plain"))
    assert "database: " in plain.stderr and "\x1b[" not in plain.stderr  # a log gets plain lines
    primary, secondary = pty.openpty()
    try:
        proc = subprocess.run([sys.executable, "-m", "ristretto.cli.main", "--site", str(site_dir), "backup",
                               "--to", str(tmp_path / "tty")], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=secondary, timeout=120)
        os.close(secondary)
        secondary = -1
        shown = b""
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(primary)
        if secondary >= 0:
            os.close(secondary)
    assert proc.returncode == 0 and b"Backed up" in proc.stdout
    assert "━".encode() in shown and b"database" in shown  # rich's bar


def test_a_wal_replica_or_a_time_goes_to_the_continuous_restore(tmp_path, monkeypatch):
    """``--to-time`` and a folder holding ``replica.json`` are handed to the WAL restore (h15w's module)."""
    import sys
    import types
    from datetime import datetime, timezone

    from ristretto.backup.restore import restore
    from ristretto.backup.snapshot import BackupError
    calls = []
    fake = types.ModuleType("ristretto.backup.walrestore")
    fake.restore_to_time = lambda source, target, to_time, progress: calls.append((source, target, to_time)) or {}
    replica = tmp_path / "replica"
    replica.mkdir()
    (replica / "replica.json").write_text("{}")
    monkeypatch.setitem(sys.modules, "ristretto.backup.walrestore", fake)
    when = datetime(2026, 12, 7, 3, 0, tzinfo=timezone.utc)
    restore(str(replica), str(tmp_path / "a"))
    restore(str(tmp_path / "any"), str(tmp_path / "b"), to_time=when)
    assert calls == [(str(replica), str(tmp_path / "a"), None), (str(tmp_path / "any"), str(tmp_path / "b"), when)]
    monkeypatch.setitem(sys.modules, "ristretto.backup.walrestore", None)  # not installed: a clear refusal
    with pytest.raises(BackupError, match="continuous backup restore is not available"):
        restore(str(replica), str(tmp_path / "c"))


def test_files_in_s3_are_backed_up_and_put_back_into_a_lost_bucket(tmp_path, s3_config):
    from tests.inprocess import token_for
    site_dir = make_site(tmp_path, "sqlite", None)
    configure_site(site_dir, **s3_config)
    urls = {}
    with InProcess.open(site_dir) as c:
        c.headers.update(token_for(c.site, "Administrator"))
        for private, data in ((0, b"public s3 bytes"), (1, b"private s3 bytes")):
            r = c.post("/api/method/upload_file", data={"is_private": str(private)},
                       files={"file": (f"s3-{private}.txt", data, "text/plain")})
            assert r.status_code == 200, r.text
            urls[r.json()["message"]["file_url"]] = data
    run_cli("--site", str(site_dir), "backup", "--to", str(tmp_path / "backups"))
    folder = _only_backup(tmp_path / "backups")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert set(manifest["files"]) == {"public/s3-0.txt", "private/s3-1.txt"} and manifest["missing_files"] == []
    assert manifest["file_storage"] == "s3"
    client = s3_client(s3_config["s3_endpoint_url"])
    for key in bucket_keys(s3_config):  # the bucket is lost
        client.delete_object(Bucket=s3_config["s3_bucket"], Key=key)
    target = tmp_path / "restored"
    run_cli("restore", str(folder), str(target))
    assert len(bucket_keys(s3_config)) == 2
    with InProcess.open(target) as c:
        c.headers.update(token_for(c.site, "Administrator"))
        for url, data in urls.items():
            got = c.get(url)
            assert got.status_code == 200 and got.content == data
    # A second restore finds the objects there and keeps them.
    run_cli("restore", str(folder), str(tmp_path / "again"))
    assert len(bucket_keys(s3_config)) == 2
