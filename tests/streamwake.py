"""Whether a commit through one App wakes a live change stream of another App on the same site
at once (``ristretto.db.notify``), with the streams' own poll made too slow to matter.

Two ``App`` objects on one site folder stand for two servers' workers: the reader's stream is
driven through its ASGI callables on a thread of its own; the writer commits over in-process HTTP.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Callable

from tests.http import ok, url

SM_PERMS = [{"role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1}]


def woken_across_apps(site_dir: Path, monkeypatch, listening: Callable[[object], bool]) -> None:
    """Fails unless the reader's stream shows the writer's new document within 3 s.
    ``listening(site)``: whether the reader listens for announcements (waited for up to 5 s)."""
    from ristretto.api import events
    from ristretto.api.app import App
    from ristretto.model import changelog
    from ristretto.site import Site
    from tests.inprocess import InProcess, token_for

    monkeypatch.setattr(events, "POLL_SECONDS", 60.0)
    reader_site, writer_site = Site(site_dir), Site(site_dir)
    reader = App(reader_site)
    writer = InProcess(App(writer_site), headers=token_for(writer_site, "Administrator"))
    chunks: list[bytes] = []
    started, changed = threading.Event(), threading.Event()
    try:
        ok(writer.post(url("DocType"), json={
            "name": "TS Signal", "module": "Custom", "custom": 1, "autoname": "hash", "permissions": SM_PERMS,
            "fields": [{"fieldname": "title", "fieldtype": "Data", "label": "Title"}]}))
        with reader_site.db.connect() as conn:
            changelog.sequence(conn)
            cursor = changelog.head(conn)
        stream = events.EventStream(user="Administrator", roles=frozenset({"Administrator", "System Manager", "All"}),
                                    user_type="System User", doctypes=["TS Signal"], cursor=cursor,
                                    include_docs=False, refuse=lambda e: None)

        async def follow():
            gone = asyncio.get_running_loop().create_future()  # the client never leaves

            async def receive():
                return await gone

            async def send(message):
                body = message.get("body", b"")
                chunks.append(body)
                if body.startswith(b"retry:"):
                    started.set()
                if b"event: change" in body:
                    changed.set()

            await reader.changes.send(stream, receive, send)

        follower = threading.Thread(target=lambda: asyncio.run(follow()), daemon=True)
        follower.start()
        assert started.wait(10)
        # Listening (the listener's thread connects once the first stream opens), and the read it
        # asks for done: the stream now waits. Not asserted here: without a listener the check
        # below fails with the clearer message.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not listening(reader_site):
            time.sleep(0.05)
        time.sleep(0.3)
        name = ok(writer.post(url("TS Signal"), json={"title": "wake up"}))["name"]
        assert changed.wait(3), f"the stream was not woken: {chunks}"
        assert name.encode() in b"".join(chunks)
        reader.changes.stop()
        follower.join(10)
        assert not follower.is_alive()
    finally:
        writer.close()
        reader_site.close()
        writer_site.close()
