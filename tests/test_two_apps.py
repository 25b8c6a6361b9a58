"""Two ``App`` objects on one PostgreSQL database, in process: two servers' workers where a real
server adds nothing (``tests/test_two_servers.py`` runs the real ones).

* a commit through one App wakes a live change stream of the other at once, with the streams'
  poll made too slow to matter (PostgreSQL's NOTIFY/LISTEN, ``ristretto.db.notify``);
* one App's kept count (``ristretto.model.countcache``) follows the other's writes exactly;
* two servers' start-up at the same moment after an upgrade both bring the schema up to date
  (the second waits for the first instead of failing on the catalog).
"""

from __future__ import annotations

import threading
import time

from tests.conftest import make_site
from tests.http import ok, url

SM_PERMS = [{"role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1}]


def make_doctype(admin, name: str, fields: list[dict], **kw) -> dict:
    body = {"name": name, "module": "Custom", "custom": 1, "fields": fields, "permissions": SM_PERMS, **kw}
    return ok(admin.post(url("DocType"), json=body))


def backend_queries(site) -> list[str]:
    """The last statements of the other connections to the site's database."""
    with site.db.connect() as conn:
        return [r[0] or "" for r in conn.sql("SELECT query FROM pg_stat_activity WHERE datname = current_database() "
                                             "AND pid <> pg_backend_pid()")]


# --- the cross-server wake-up itself, in process: no poll to fall back on ------------------------

def test_a_commit_through_one_app_wakes_the_streams_of_another_without_polling(tmp_path, request, monkeypatch):
    """Two Apps (two servers' workers) on one PostgreSQL database, the streams' poll made too
    slow to matter: a change committed through one reaches a stream of the other at once, by
    PostgreSQL's NOTIFY/LISTEN (ristretto.db.notify)."""
    from tests.streamwake import woken_across_apps

    site_dir = make_site(tmp_path, "postgres", request)
    woken_across_apps(site_dir, monkeypatch,
                      lambda site: any("LISTEN" in q for q in backend_queries(site)))


# --- a worker's kept count follows another server's writes --------------------------------------

def test_a_kept_count_follows_writes_made_through_another_app(tmp_path, request, monkeypatch):
    """The count cache (ristretto.model.countcache) of one App, with writes through another App on
    the same PostgreSQL database: each count is exact at once (the kept count is topped up from
    the shared change log, never from this process's own writes)."""
    from ristretto.api.app import App
    from ristretto.model import countcache
    from ristretto.site import Site
    from tests.inprocess import InProcess, token_for

    monkeypatch.setattr(countcache, "MIN_ROWS", 0)  # keep counts of a small table too
    site_dir = make_site(tmp_path, "postgres", request)
    site_a, site_b = Site(site_dir), Site(site_dir)
    token = token_for(site_a, "Administrator")  # one key: a new one would replace it
    on_a, on_b = InProcess(App(site_a), headers=token), InProcess(App(site_b), headers=token)
    count = "/api/v2/doctype/TS%20Counted/count"
    try:
        make_doctype(on_a, "TS Counted", [{"fieldname": "title", "fieldtype": "Data", "label": "Title"}],
                     autoname="hash")
        made = [ok(on_a.post(url("TS Counted"), json={"title": f"a{i}"}))["name"] for i in range(3)]
        assert on_a.get(count).json()["data"] == 3
        assert on_b.get(count).json()["data"] == 3
        # A row outside the model (not in the change log): a kept count does not see it, which
        # shows that A and B now answer from their kept counts.
        with site_a.db.connect() as conn, conn.transaction():
            conn.execute('INSERT INTO "tabTS Counted" (name, title, creation, modified, owner, modified_by, '
                         "docstatus, idx) VALUES ('raw', 'raw', '2025-01-01 00:00:00', '2025-01-01 00:00:00', "
                         "'Administrator', 'Administrator', 0, 0)")
        assert on_a.get(count).json()["data"] == 3
        made += [ok(on_b.post(url("TS Counted"), json={"title": f"b{i}"}))["name"] for i in range(4)]
        assert on_a.get(count).json()["data"] == 7
        assert on_b.delete(url("TS Counted", made[0])).status_code in (200, 202)
        assert on_a.get(count).json()["data"] == 6
        assert on_b.get(count).json()["data"] == 6
    finally:
        on_a.close()
        on_b.close()
        site_a.close()
        site_b.close()


# --- servers starting at once after an upgrade --------------------------------------------------

def test_servers_starting_at_once_each_bring_the_schema_up_to_date(tmp_path, request, monkeypatch):
    """A system table new in this version, made by two servers' start-up at the same moment: the
    second waits for the first (an advisory lock) instead of failing on the catalog's unique
    index. The first is held inside its transaction, after creating the table, to make the
    overlap certain."""
    from ristretto.cli import main as cli_main
    from ristretto.site import Site, keycheck
    site_dir = make_site(tmp_path, "postgres", request)
    site = Site(site_dir)
    with site.db.connect() as conn, conn.transaction():
        conn.execute('DROP TABLE "__idempotency"')  # as a version before it existed
    site.close()
    hold, holding = threading.Event(), threading.Event()
    real_check = keycheck.check

    def held_check(conn, site):
        if threading.current_thread().name == "first":
            holding.set()
            hold.wait(10)
        return real_check(conn, site)

    monkeypatch.setattr(keycheck, "check", held_check)
    errors: list[str] = []

    def start_up():
        try:
            cli_main._prepare_to_serve(site_dir)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    first = threading.Thread(target=start_up, name="first")
    first.start()
    assert holding.wait(10)
    second = threading.Thread(target=start_up, name="second")
    second.start()
    time.sleep(0.5)  # the second is now waiting on the first
    hold.set()
    first.join(20)
    second.join(20)
    assert not errors, errors
    site = Site(site_dir)
    try:
        with site.db.connect() as conn:
            assert conn.value('SELECT COUNT(*) FROM "__idempotency"') == 0
    finally:
        site.close()
