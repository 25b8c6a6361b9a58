"""Uploads under kill -9: after a restart, disk and File rows agree (both backends).

Concurrent clients upload small files to a two-worker server whose process group is then
killed with SIGKILL (no shutdown, no callbacks). The restarted server sweeps on start-up;
then every stored file has a File row, every File row its file, no pending marker or
temporary file is left, and every acknowledged upload is there.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import httpx

from tests.conftest import start_server, stop_server

WRITERS = 6


def _disk_urls(site_dir) -> tuple[set[str], list[str]]:
    urls, hidden = set(), []
    for folder, prefix in (("public", "/files/"), ("private", "/private/files/")):
        path = site_dir / folder / "files"
        for name in os.listdir(path) if path.is_dir() else []:
            if name.startswith("."):
                hidden.append(name)
            else:
                urls.add(prefix + name)
    return urls, hidden


def uploads_until_killed(site_dir, backend, per_writer: int, size: int, kill_after: int,
                         writers: int = WRITERS) -> list[str]:
    """A real server of 2 workers taking uploads from ``writers`` clients (at most ``per_writer``
    each, ``size`` random bytes), killed with SIGKILL once ``kill_after`` were acknowledged (or
    after 15 s); the URLs it acknowledged."""
    server = start_server(site_dir, backend, workers=2)
    auth = {"Authorization": f"token {server.api_key}:{server.api_secret}"}
    acknowledged: list[str] = []
    stop = threading.Event()

    def uploader(n: int) -> None:
        with httpx.Client(base_url=server.base_url, headers=auth, timeout=5) as c:
            for i in range(per_writer):  # bounded
                if stop.is_set():
                    return
                try:
                    r = c.post("/api/method/upload_file", data={"is_private": str(i % 2)},
                               files={"file": (f"up-{n}-{i}.txt", os.urandom(size), "text/plain")})
                except httpx.HTTPError:
                    return  # the server died mid-request: never acknowledged
                if r.status_code == 200:
                    acknowledged.append(r.json()["message"]["file_url"])

    threads = [threading.Thread(target=uploader, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    deadline = time.time() + 15
    while len(acknowledged) < kill_after and time.time() < deadline:
        time.sleep(0.02)
    os.killpg(server.proc.pid, signal.SIGKILL)
    server.proc.wait(10)
    stop.set()
    for t in threads:
        t.join(10)
    return acknowledged


def recorded_file_urls(server) -> set[str]:
    """The URLs the File rows name, read through ``server``'s API."""
    with httpx.Client(base_url=server.base_url, timeout=30,
                      headers={"Authorization": f"token {server.api_key}:{server.api_secret}"}) as c:
        rows = c.get("/api/resource/File", params={"fields": '["file_url","is_folder"]',
                                                     "limit_page_length": 0}).json()["data"]
    return {r["file_url"] for r in rows if not r["is_folder"] and r["file_url"]}


def test_uploads_and_file_rows_agree_after_kill_9(site_dir, backend):
    acknowledged = uploads_until_killed(site_dir, backend, per_writer=300, size=2048, kill_after=150)
    assert len(acknowledged) >= 50

    restarted = start_server(site_dir, backend)  # its start-up sweep settles what the kill left
    try:
        recorded = recorded_file_urls(restarted)
        on_disk, hidden = _disk_urls(site_dir)
        assert sorted(on_disk - recorded) == []     # no file without its row
        assert sorted(recorded - on_disk) == []     # no row without its file
        assert hidden == []                         # no pending marker, no temporary file
        assert sorted(set(acknowledged) - recorded) == []
    finally:
        stop_server(restarted.proc)


def test_server_start_settles_an_interrupted_upload(site_dir, backend):
    from ristretto.api import filestore
    public = site_dir / "public" / "files"
    public.mkdir(parents=True, exist_ok=True)
    filestore.write(public, ["crashed.txt"], b"never committed").close()  # its process "died"
    assert sorted(os.listdir(public)) == [".pending-crashed.txt", "crashed.txt"]
    server = start_server(site_dir, backend)
    try:
        assert os.listdir(public) == []
    finally:
        stop_server(server.proc)
