"""Counts of a whole DocType come from a kept count plus the change log (ristretto.model.countcache),
in process over HTTP on both databases: the kept count follows inserts, deletes, a rename, a merge
and a rolled-back batch, on every count route; a row written outside the model (which the log
cannot see) is counted once ``count_cache_seconds`` have passed, and at once with the cache off.
"""

from __future__ import annotations

import pytest

from tests.conftest import BACKENDS, configure_site, make_site
from tests.inprocess import InProcess

ITEM = "CC Item"
D = "/api/v2/document/CC%20Item"


@pytest.fixture(scope="module", params=BACKENDS)
def world(request, tmp_path_factory):
    site_dir = make_site(tmp_path_factory.mktemp(f"count-{request.param}"), request.param, request)
    client = InProcess.open(site_dir)
    client.admin = client.token("Administrator")
    r = client.post("/api/resource/DocType", headers=client.admin, json={
        "name": ITEM, "module": "Custom", "custom": 1, "autoname": "field:title", "allow_rename": 1,
        "permissions": [{"role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1}],
        "fields": [{"fieldname": "title", "fieldtype": "Data", "label": "Title", "reqd": 1}]})
    assert r.status_code == 200, r.text
    client.site_dir = site_dir
    yield client
    client.close()


@pytest.fixture(autouse=True)
def keep_small_counts(monkeypatch):
    """These tables are small: let the cache keep their counts (it keeps only large ones)."""
    from ristretto.model import countcache
    monkeypatch.setattr(countcache, "MIN_ROWS", 0)


def counts(c: InProcess) -> list[int]:
    """The count on every route that counts a whole DocType."""
    h = c.admin
    answers = [c.get("/api/method/frappe.client.get_count", headers=h, params={"doctype": ITEM}),
               c.get("/api/v2/doctype/CC%20Item/count", headers=h),
               c.post("/api/method/frappe.desk.reportview.get_count", headers=h, json={"doctype": ITEM})]
    for r in answers:
        assert r.status_code == 200, r.text
    return [r.json().get("message", r.json().get("data")) for r in answers]


def add(c: InProcess, title: str) -> None:
    assert c.post(D, headers=c.admin, json={"title": title}).status_code == 200


def raw_insert(c: InProcess, title: str) -> None:
    """A row straight into the table, as a bulk loader writes it: not in the change log."""
    with c.site.db.connect() as conn, conn.transaction():
        conn.execute(f'INSERT INTO "tab{ITEM}" (name, title, creation, modified, owner, modified_by, docstatus, idx) '
                     "VALUES (?, ?, '2025-01-01 00:00:00', '2025-01-01 00:00:00', 'Administrator', "
                     "'Administrator', 0, 0)", (title, title))


def test_the_kept_count_follows_every_change(world, monkeypatch):
    c = world
    assert counts(c) == [0, 0, 0]
    for i in range(5):
        add(c, f"c-{i}")
    assert counts(c) == [5, 5, 5]
    # Outside the model: the kept count cannot see it (which shows that it is kept)...
    raw_insert(c, "raw-1")
    assert counts(c) == [5, 5, 5]
    # ...and every change through the model moves it exactly.
    assert c.delete(f"{D}/c-0", headers=c.admin).status_code == 202
    assert counts(c) == [4, 4, 4]
    r = c.post(f"{D}/c-1/method/rename", headers=c.admin, json={"name": "c-1-renamed"})
    assert r.status_code == 200, r.text
    assert counts(c) == [4, 4, 4]
    r = c.post(f"{D}/c-2/method/rename", headers=c.admin, json={"name": "c-3", "merge": 1})
    assert r.status_code == 200, r.text
    assert counts(c) == [3, 3, 3]
    batch = {"requests": [{"method": "POST", "url": "/api/v2/document/CC Item", "body": {"title": "rolled-1"}},
                          {"method": "POST", "url": "/api/v2/document/CC Item", "body": {}}]}
    r = c.post("/api/v2/batch", headers=c.admin, json=batch)
    assert r.status_code == 417 and r.json()["failed_step"]["index"] == 1, r.text
    assert counts(c) == [3, 3, 3]
    add(c, "after-rollback")
    assert counts(c) == [4, 4, 4]
    assert c.get("/api/method/frappe.client.get_count", headers=c.admin,
                  params={"doctype": ITEM, "limit": 2}).json()["message"] == 2
    # Filters count as before (the raw row included): only a whole-table count is kept.
    r = c.get("/api/method/frappe.client.get_count", headers=c.admin,
              params={"doctype": ITEM, "filters": '[["title", "like", "%"]]'})
    assert r.json()["message"] == 5
    # The kept count is refreshed by a real count after count_cache_seconds (default 60).
    from ristretto.model import countcache
    later = countcache._clock() + countcache.DEFAULT_SECONDS + 1
    monkeypatch.setattr(countcache, "_clock", lambda: later)
    assert counts(c) == [5, 5, 5]


def test_small_tables_are_counted_for_real(world, monkeypatch):
    from ristretto.model import countcache
    monkeypatch.setattr(countcache, "MIN_ROWS", 10_000)
    before = counts(world)
    raw_insert(world, "raw-small")
    assert counts(world) == [n + 1 for n in before]


def test_without_the_cache_every_count_is_real(world):
    configure_site(world.site_dir, count_cache_seconds=0)
    try:
        with InProcess.open(world.site_dir) as c:
            c.admin = c.token("Administrator")
            before = counts(c)
            raw_insert(c, "raw-2")
            assert counts(c) == [n + 1 for n in before]
    finally:
        configure_site(world.site_dir, count_cache_seconds=60)
