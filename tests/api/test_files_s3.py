"""Files on S3-compatible storage (``file_storage: "s3"``, moto in server mode on loopback), both
databases: uploads, downloads and deletes through HTTP follow the transaction, private files keep
their permission checks, the sweep settles what a crash left, large files are streamed."""

from __future__ import annotations

import hashlib
import os
import time

import pytest

from ristretto.api import storage
from ristretto.api.app import App
from ristretto.model import document
from ristretto.site import Site
from ristretto.site.site import SiteError
from ristretto.site.install import add_user
from tests.conftest import configure_site, run_cli
from tests.inprocess import InProcess, token_for
from tests.s3server import bucket_keys, s3_config, s3_server  # noqa: F401 - fixtures

PREFIX = "site-a/"


def wait_for(check, seconds: float = 10.0):
    """The bucket is settled by a background thread after the answer: poll (bounded)."""
    deadline = time.time() + seconds
    while True:
        if check() or time.time() > deadline:
            return check()
        time.sleep(0.05)


@pytest.fixture
def s3_site(site_dir, s3_config):  # noqa: F811
    configure_site(site_dir, **s3_config)
    client = InProcess.open(site_dir)
    client.headers.update(client.token("Administrator"))
    yield client, s3_config
    client.close()


def upload(client, name: str, data: bytes, **fields):
    return client.post("/api/method/upload_file", data={k: str(v) for k, v in fields.items()},
                       files={"file": (name, data, "application/octet-stream")})


def test_upload_download_delete_through_http(s3_site):
    client, config = s3_site
    r = upload(client, "report.txt", b"hello s3")
    assert r.status_code == 200, r.text
    f = r.json()["message"]
    assert f["file_url"] == "/files/report.txt" and f["file_size"] == 8
    assert f["content_hash"] == hashlib.sha256(b"hello s3").hexdigest()
    # The object is in the bucket (its marker gone once the commit is known), not on disk.
    assert wait_for(lambda: bucket_keys(config) == {PREFIX + "files/report.txt"}), bucket_keys(config)
    assert not (client.site.files_path(False) / "report.txt").exists()

    got = client.get("/files/report.txt")
    assert got.status_code == 200 and got.content == b"hello s3"
    assert got.headers["content-type"] == "text/plain; charset=utf-8"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-length"] == "8"
    assert client.request("HEAD", "/files/report.txt").headers["content-length"] == "8"
    dl = client.get("/api/method/download_file", params={"file_url": "/files/report.txt"})
    assert dl.status_code == 200 and dl.content == b"hello s3"
    assert dl.headers["content-disposition"].startswith("attachment;")

    # The same name again is stored beside it, never over it.
    again = upload(client, "report.txt", b"second").json()["message"]
    assert again["file_url"] != "/files/report.txt"
    assert client.get(again["file_url"]).content == b"second"

    assert client.delete(f"/api/resource/File/{f['name']}").status_code == 202
    assert wait_for(lambda: PREFIX + "files/report.txt" not in bucket_keys(config))
    assert client.get("/files/report.txt").status_code == 404


def test_failed_request_after_upload_leaves_no_object(s3_site):
    client, config = s3_site
    # The folder is checked when the row is inserted, after the bytes were stored.
    r = upload(client, "doomed.txt", b"never kept", folder="No Such Folder")
    assert r.status_code == 417, r.text
    assert wait_for(lambda: bucket_keys(config) == set()), bucket_keys(config)
    assert client.get("/files/doomed.txt").status_code == 404


def test_delete_rollback_keeps_the_object_commit_removes_it(s3_site):
    client, config = s3_site
    f = upload(client, "kept.txt", b"payload").json()["message"]
    key = PREFIX + "files/kept.txt"
    site = client.site
    with site.db.connect() as conn:
        site.registry.ensure_fresh(conn)
        ctx = site.context(conn)
        conn.begin()
        document.delete(ctx, "File", f["name"])
        conn.rollback()
        ctx.run_callbacks(committed=False)
        time.sleep(0.3)
        assert key in bucket_keys(config) and document.exists(ctx, "File", f["name"])
        conn.begin()
        document.delete(ctx, "File", f["name"])
        assert key in bucket_keys(config)  # removal waits for the commit
        conn.commit()
        ctx.run_callbacks(committed=True)
    assert wait_for(lambda: key not in bucket_keys(config))


def test_upload_rollback_removes_the_object(s3_site):
    client, config = s3_site
    s = storage.of(client.site)
    pending = s.put(True, ["rolled.txt"], b"x")
    assert bucket_keys(config) == {PREFIX + "private/files/rolled.txt", PREFIX + ".pending/private/files/rolled.txt"}
    pending.rolled_back()
    assert wait_for(lambda: bucket_keys(config) == set()), bucket_keys(config)


def test_private_files_keep_their_permission_checks(s3_site):
    client, config = s3_site
    site = client.site
    add_user(site, "owner@example.com", None, [])
    add_user(site, "stranger@example.com", None, [])
    owner = token_for(site, "owner@example.com")
    stranger = token_for(site, "stranger@example.com")
    r = client.post("/api/method/upload_file", headers=owner, data={"is_private": "1"},
                    files={"file": ("secret.pdf", b"%PDF-1.4 secret", "application/pdf")})
    assert r.status_code == 200, r.text
    url = r.json()["message"]["file_url"]
    assert url == "/private/files/secret.pdf"
    assert wait_for(lambda: PREFIX + "private/files/secret.pdf" in bucket_keys(config))
    mine = client.get(url, headers=owner)
    assert mine.status_code == 200 and mine.content == b"%PDF-1.4 secret"
    assert mine.headers["cache-control"] == "private"
    assert client.get(url, headers=stranger).status_code == 403
    assert client.get("/api/method/download_file", params={"file_url": url}, headers=stranger).status_code == 403
    with InProcess(client.app) as guest:
        assert guest.get(url).status_code == 403
        # Never a redirect to the bucket, whoever asks.
        assert guest.get(url, follow_redirects=False).status_code == 403
    assert client.get(url).status_code == 200  # Administrator


def test_sweep_settles_a_leftover_marker(s3_site):
    client, config = s3_site
    site = client.site
    s = storage.of(site)
    kept = upload(client, "committed.txt", b"row exists").json()["message"]
    # What a kill -9 leaves: bytes and marker without a row, and a marker whose row committed.
    s.put(False, ["crashed.txt"], b"never committed")
    s.client.put_object(Bucket=s.bucket, Key=s.marker(False, kept["file_name"]), Body=b"")
    leftovers = {PREFIX + "files/crashed.txt", PREFIX + ".pending/files/crashed.txt",
                 PREFIX + ".pending/files/committed.txt"}
    assert wait_for(lambda: leftovers <= bucket_keys(config))

    young = s.sweep(site)  # markers of requests that may still be in flight are left alone
    assert young.settled == 0 and young.busy == 2 and leftovers <= bucket_keys(config)
    report = s.sweep(site, now=time.time() + 2 * 3600)
    assert report.settled == 2 and report.removed == ["/files/crashed.txt"]
    assert bucket_keys(config) == {PREFIX + "files/committed.txt"}
    assert client.get("/files/committed.txt").content == b"row exists"


def test_upload_whose_second_pass_never_took_its_bytes_leaves_no_object(s3_site):
    client, config = s3_site
    work = storage.StorageWork(storage.of(client.site), False, ["abandoned.txt"], b"x")
    work.run()  # stored off the event loop; then the request failed before the upload ran again
    assert PREFIX + "files/abandoned.txt" in bucket_keys(config)
    work.release()
    assert wait_for(lambda: bucket_keys(config) == set()), bucket_keys(config)


def test_sweep_files_orphans_removes_objects_no_row_names(s3_site):
    client, config = s3_site
    s = storage.of(client.site)
    upload(client, "named.txt", b"a")
    s.client.put_object(Bucket=s.bucket, Key=s.key(False, "stray.txt"), Body=b"b")
    assert client.get("/files/stray.txt").status_code == 404  # no row: never served
    time.sleep(1.1)  # --grace counts whole seconds
    out = run_cli("--site", str(client.site.path), "sweep-files", "--orphans", "--grace", "0").stdout
    assert "removed /files/stray.txt" in out
    assert wait_for(lambda: bucket_keys(config) == {PREFIX + "files/named.txt"}), bucket_keys(config)


class _Recording:
    """The app, with the size of every body message it sends recorded."""

    def __init__(self, app):
        self.app, self.site, self.chunks = app, app.site, []

    async def __call__(self, scope, receive, send):
        async def recording_send(message):
            if message["type"] == "http.response.body":
                self.chunks.append(len(message.get("body", b"")))
            await send(message)
        await self.app(scope, receive, recording_send)


def test_large_file_is_streamed_in_chunks(s3_site):
    from ristretto.api.s3store import CHUNK
    client, _ = s3_site
    data = os.urandom(6 * 1024 * 1024 + 123)
    r = upload(client, "big.bin", data)
    assert r.status_code == 200, r.text
    recording = _Recording(client.app)
    with InProcess(recording, headers=client.headers) as c:
        got = c.get("/files/big.bin")
    assert got.status_code == 200 and hashlib.sha256(got.content).digest() == hashlib.sha256(data).digest()
    assert got.headers["content-length"] == str(len(data))
    # Sent a chunk at a time: memory per download stays one chunk, whatever the file's size.
    assert len(recording.chunks) > len(data) // CHUNK and max(recording.chunks) <= CHUNK


def test_s3_storage_needs_a_bucket(site_dir):
    configure_site(site_dir, file_storage="s3")
    site = Site(site_dir)
    try:
        with pytest.raises(SiteError, match="s3_bucket"):
            App(site)  # the server refuses to start
    finally:
        site.close()


def test_storage_calls_never_run_on_the_event_loop(s3_site):
    import threading
    client, _ = s3_site
    s = storage.of(client.site)
    seen: list[tuple[str, str]] = []

    def record(event_name, **kw):
        seen.append((event_name.split(".")[-1], threading.current_thread().name))
    s.client.meta.events.register("before-call.s3", record)
    try:
        f = upload(client, "loop.txt", b"abc", is_private=1).json()["message"]
        assert client.get(f["file_url"]).content == b"abc"
        assert client.request("HEAD", f["file_url"]).status_code == 200
        assert client.delete(f"/api/resource/File/{f['name']}").status_code == 202
        assert wait_for(lambda: sum(op == "DeleteObject" for op, _ in seen) == 2)  # marker, then object
    finally:
        s.client.meta.events.unregister("before-call.s3", record)
    ops = {op for op, _ in seen}
    assert {"PutObject", "GetObject", "HeadObject", "DeleteObject"} <= ops, seen
    # The in-process client runs the app's event loop on this (the main) thread.
    assert [t for _, t in seen if t == threading.current_thread().name] == [], seen
