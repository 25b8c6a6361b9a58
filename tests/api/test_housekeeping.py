"""Housekeeping (ristretto.api.housekeeping): a server worker prunes old changes, old webhook logs,
expired sessions and long-expired OAuth codes and tokens when it starts and then every
``housekeeping_interval`` seconds, in short transactions; what is still current stays. Both
databases; the worker's lifespan is driven in process, as the HTTP server drives it."""

from __future__ import annotations

import asyncio
import time

import pytest

from ristretto.api.app import App
from ristretto.api.housekeeping import tidy
from ristretto.auth import sessions
from ristretto.db.batches import delete_in_batches
from ristretto.model import changelog, document
from ristretto.site import Site, SiteError
from tests.conftest import configure_site

OLD = "2020-01-01 00:00:00.000000"


def _count(site: Site, table: str, where: str = "1 = 1", params: tuple = ()) -> int:
    with site.db.connect() as conn:
        return int(conn.value(f'SELECT COUNT(*) FROM "{table}" WHERE {where}', params))


def _age(site: Site) -> dict[str, set[str]]:
    """Make one of everything old (and leave one of each current); the names made old."""
    old: dict[str, set[str]] = {}
    with site.admin() as ctx:
        for i in range(3):
            document.insert(ctx, "ToDo", {"description": f"todo {i}"})
        logs = [document.insert_record(ctx, "Webhook Request Log", {"url": f"http://127.0.0.1/{i}"}).name
                for i in range(2)]
        db = ctx.db
        db.execute('UPDATE "tabWebhook Request Log" SET creation = ? WHERE name = ?', (OLD, logs[0]))
        old["logs"] = {logs[0]}
        stale = sessions.create(db, "Administrator", 3600.0)
        live = sessions.create(db, "Administrator", 3600.0)
        db.execute('UPDATE "tabSessions" SET last_updated = ? WHERE sid = ?', (time.time() - 7200, stale.sid))
        old["sessions"] = {stale.sid}
        assert live.sid
        for name, expires in (("tok-old", OLD), ("tok-live", "2999-01-01 00:00:00.000000")):
            db.execute('INSERT INTO "tabOAuth Bearer Token" (name, creation, modified, owner, modified_by, '
                       'docstatus, idx, expiration_time) VALUES (?, ?, ?, ?, ?, 0, 0, ?)',
                       (name, OLD, OLD, "Administrator", "Administrator", expires))
        old["tokens"] = {"tok-old"}
    with site.db.connect() as conn:
        changelog.sequence(conn)
        with conn.transaction():
            seqs = [r[0] for r in conn.sql('SELECT seq FROM "__changes" ORDER BY seq')]
            # Every change but the newest two is old.
            conn.execute('UPDATE "__changes" SET at = ? WHERE seq <= ?', (OLD, seqs[-3]))
    old["changes_kept"] = {str(s) for s in seqs[-2:]}
    return old


def _assert_pruned(site: Site, old: dict[str, set[str]]) -> None:
    assert _count(site, "tabWebhook Request Log") == 1
    assert not _count(site, "tabWebhook Request Log", "name = ?", tuple(old["logs"]))
    assert _count(site, "tabSessions", "sid = ?", tuple(old["sessions"])) == 0
    assert _count(site, "tabSessions") >= 1
    assert {r for r in _names(site, "tabOAuth Bearer Token")} == {"tok-live"}
    with site.db.connect() as conn:
        kept = {str(r[0]) for r in conn.sql('SELECT seq FROM "__changes"')}
        assert kept == old["changes_kept"]
        assert changelog.horizon(conn) == min(int(s) for s in kept) - 1


def _names(site: Site, table: str) -> list[str]:
    with site.db.connect() as conn:
        return [r[0] for r in conn.sql(f'SELECT name FROM "{table}"')]


def test_tidy_prunes_what_is_old_and_keeps_the_rest(site_dir):
    site = Site(site_dir)
    try:
        old = _age(site)
        with site.db.connect() as conn:
            pruned = tidy(site, conn)
        assert pruned.webhook_logs == 1 and pruned.sessions == 1 and pruned.oauth == 1 and pruned.changes > 0
        _assert_pruned(site, old)
        with site.db.connect() as conn:
            assert not tidy(site, conn)  # nothing left to do
    finally:
        site.close()


def test_retention_zero_keeps_everything(site_dir):
    configure_site(site_dir, change_log_retention_days=0, webhook_log_retention_days=0)
    site = Site(site_dir)
    try:
        _age(site)
        with site.db.connect() as conn:
            pruned = tidy(site, conn)
        assert pruned.changes == 0 and pruned.webhook_logs == 0
        assert _count(site, "tabWebhook Request Log") == 2
    finally:
        site.close()


def test_deletes_go_in_short_transactions(site_dir):
    site = Site(site_dir)
    try:
        with site.admin() as ctx:
            for i in range(7):
                document.insert_record(ctx, "Webhook Request Log", {"url": f"http://127.0.0.1/{i}"})
        commits = []
        with site.db.connect() as conn:
            real_commit = conn.commit

            def counting_commit():
                commits.append(_count(site, "tabWebhook Request Log"))
                real_commit()
            conn.commit = counting_commit
            removed = delete_in_batches(conn, "tabWebhook Request Log", "name", "url LIKE ?", ("http://%",), batch=3)
        assert removed == 7
        assert len(commits) == 3 and _count(site, "tabWebhook Request Log") == 0
    finally:
        site.close()


def _lifespan(app: App):
    """Drive the ASGI lifespan as the HTTP server does: (startup, shutdown) coroutines."""
    inbox: asyncio.Queue = asyncio.Queue()
    outbox: asyncio.Queue = asyncio.Queue()
    task = asyncio.get_running_loop().create_task(app({"type": "lifespan"}, inbox.get, outbox.put))

    async def startup():
        await inbox.put({"type": "lifespan.startup"})
        assert (await outbox.get())["type"] == "lifespan.startup.complete"

    async def shutdown():
        await inbox.put({"type": "lifespan.shutdown"})
        assert (await outbox.get())["type"] == "lifespan.shutdown.complete"
        await task
    return startup, shutdown


def test_a_worker_prunes_when_it_starts_and_then_every_interval(site_dir):
    configure_site(site_dir, housekeeping_interval=0.3)
    site = Site(site_dir)
    old = _age(site)
    site.close()
    app = App(Site(site_dir))
    check = Site(site_dir)

    async def scenario():
        startup, shutdown = _lifespan(app)
        await startup()
        try:
            for _ in range(200):  # bounded: 10 s at most
                if app.housekeeper.rounds >= 1:
                    break
                await asyncio.sleep(0.05)
            _assert_pruned(check, old)
            # Something that turns old while the worker runs is pruned by a later round.
            with check.db.connect() as conn, conn.transaction():
                conn.execute('UPDATE "tabOAuth Bearer Token" SET expiration_time = ?', (OLD,))
            for _ in range(200):
                if not _names(check, "tabOAuth Bearer Token"):
                    break
                await asyncio.sleep(0.05)
            assert _names(check, "tabOAuth Bearer Token") == []
            assert app.housekeeper.rounds >= 2
        finally:
            await shutdown()

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(scenario())
    finally:
        loop.close()
        check.close()


@pytest.mark.parametrize("bad", ["hourly", -5, True])
def test_a_bad_interval_is_refused_when_the_site_is_served(site_dir, bad):
    configure_site(site_dir, housekeeping_interval=bad)
    site = Site(site_dir)
    try:
        with pytest.raises(SiteError, match="housekeeping_interval"):
            App(site)
    finally:
        site.close()
