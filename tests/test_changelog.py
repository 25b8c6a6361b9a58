"""The change log: a row per committed change, in commit order, on both databases.

Each model operation (insert, update, submit, cancel, amend, delete, rename, merge) leaves one row
with its action and changed fields; a rolled-back write leaves none; listeners see the change inside
the writing transaction; on PostgreSQL ``seq`` follows commit order even when transactions that
started earlier commit later; pruning keeps a horizon that tells stale readers to resync.
"""

from __future__ import annotations

import datetime as dt

import pytest

from ristretto.db import schema
from ristretto.model import changelog, document, lifecycle
from ristretto.model.rename import rename
from ristretto.site import Site

ORDER = "Changelog Order"


@pytest.fixture
def site(site_dir):
    s = Site(site_dir)
    with s.admin() as ctx:
        document.insert(ctx, "DocType", {
            "module": "Custom", "custom": 1, "is_submittable": 1, "allow_rename": 1,
            "fields": [{"fieldname": "title", "fieldtype": "Data", "label": "Title"},
                       {"fieldname": "qty", "fieldtype": "Int", "label": "Qty"}],
            "permissions": [{"role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1,
                             "submit": 1, "cancel": 1, "amend": 1}]}, name=ORDER, force_name=True)
    yield s
    s.close()


def _log(site: Site, after: int = 0, doctypes=None) -> list[changelog.Change]:
    with site.db.connect() as conn:
        changelog.sequence(conn)
        return changelog.read(conn, after, 1000, doctypes)


def _tail(site: Site, since: int) -> list[tuple]:
    return [(c.doctype, c.name, c.action) for c in _log(site, since, [ORDER, "ToDo", "Comment"])]


def _head(site: Site) -> int:
    with site.db.connect() as conn:
        changelog.sequence(conn)
        return changelog.head(conn)


def test_every_operation_leaves_one_row_with_its_action(site):
    start = _head(site)
    with site.admin() as ctx:
        name = document.insert(ctx, ORDER, {"title": "a", "qty": 1}).name
    with site.admin() as ctx:
        document.update(ctx, ORDER, name, {"qty": 2})
    with site.admin() as ctx:
        lifecycle.submit(ctx, ORDER, name)
    with site.admin() as ctx:
        lifecycle.cancel(ctx, ORDER, name)
    with site.admin() as ctx:
        amended = lifecycle.amend(ctx, ORDER, name).name
    with site.admin() as ctx:
        rename(ctx, ORDER, amended, "Renamed")
    with site.admin() as ctx:
        document.delete(ctx, ORDER, "Renamed")
    rows = _log(site, start, [ORDER])
    assert [(c.name, c.action) for c in rows] == [
        (name, "insert"), (name, "update"), (name, "submit"), (name, "cancel"),
        (amended, "amend"), ("Renamed", "rename"), ("Renamed", "delete")]
    assert rows[1].fields == ("qty",)
    assert rows[0].fields is None and rows[-1].fields is None  # all, and a tombstone
    assert [c.docstatus for c in rows[:4]] == [0, 0, 1, 2]
    assert rows[5].old_name == amended
    assert all(c.user == "Administrator" for c in rows)
    seqs = [c.seq for c in rows]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_a_rolled_back_write_leaves_no_row(site):
    start = _head(site)
    with pytest.raises(RuntimeError):
        with site.admin() as ctx:
            document.insert(ctx, ORDER, {"title": "lost"})
            raise RuntimeError("the request failed after the insert")
    assert _tail(site, start) == []


def test_merge_is_the_old_documents_deletion_and_comments_go_as_tombstones(site):
    with site.admin() as ctx:
        a = document.insert(ctx, ORDER, {"title": "a"}).name
        b = document.insert(ctx, ORDER, {"title": "b"}).name
        document.insert(ctx, "Comment", {"comment_type": "Comment", "reference_doctype": ORDER,
                                         "reference_name": b, "content": "hi"})
    start = _head(site)
    with site.admin() as ctx:
        rename(ctx, ORDER, a, b, merge=True)
    assert _tail(site, start) == [(ORDER, a, "delete")]
    start = _head(site)
    with site.admin() as ctx:
        document.delete(ctx, ORDER, b)
    tail = _tail(site, start)
    assert tail[-1] == (ORDER, b, "delete") and [t[2] for t in tail if t[0] == "Comment"] == ["delete"]


def test_documents_whose_links_a_rename_repoints_are_logged_as_updates(site):
    with site.admin() as ctx:
        document.insert(ctx, "DocType", {
            "module": "Custom", "custom": 1, "istable": 1,
            "fields": [{"fieldname": "order", "fieldtype": "Link", "options": ORDER, "label": "Order"}]},
            name="Changelog Line", force_name=True)
        document.insert(ctx, "DocType", {
            "module": "Custom", "custom": 1,
            "fields": [{"fieldname": "order", "fieldtype": "Link", "options": ORDER, "label": "Order"},
                       {"fieldname": "lines", "fieldtype": "Table", "options": "Changelog Line", "label": "Lines"}],
            "permissions": [{"role": "System Manager", "read": 1, "write": 1, "create": 1}]},
            name="Changelog Ref", force_name=True)
    with site.admin() as ctx:
        order = document.insert(ctx, ORDER, {"title": "linked"}).name
        by_field = document.insert(ctx, "Changelog Ref", {"order": order}).name
        by_row = document.insert(ctx, "Changelog Ref", {"lines": [{"order": order}]}).name
        untouched = document.insert(ctx, "Changelog Ref", {}).name
    start = _head(site)
    with site.admin() as ctx:
        rename(ctx, ORDER, order, "Linked Renamed")
    rows = [(c.name, c.action, c.fields) for c in _log(site, start, ["Changelog Ref", ORDER])]
    assert sorted(rows[:-1]) == sorted([(by_field, "update", ("order",)), (by_row, "update", ("lines",))])
    assert rows[-1] == ("Linked Renamed", "rename", None) and untouched not in [r[0] for r in rows]


def test_an_update_that_changes_nothing_has_no_changed_fields(site):
    with site.admin() as ctx:
        name = document.insert(ctx, ORDER, {"title": "same"}).name
    start = _head(site)
    with site.admin() as ctx:
        document.update(ctx, ORDER, name, {"title": "same"})
    (row,) = _log(site, start, [ORDER])
    assert row.action == "update" and row.fields == ()


def test_listeners_see_changes_inside_the_transaction(site):
    seen = []

    def listener(ctx, change, doc):
        assert ctx.db.in_transaction
        seen.append((change.action, change.name, doc.d.get("title")))

    site.registry.change_listeners.append(listener)
    try:
        with site.admin() as ctx:
            name = document.insert(ctx, ORDER, {"title": "heard"}).name
            document.delete(ctx, ORDER, name)
    finally:
        site.registry.change_listeners.remove(listener)
    assert seen == [("insert", name, "heard"), ("delete", name, "heard")]


def test_unlogged_records_stay_out(site):
    with site.admin() as ctx:
        name = document.insert(ctx, ORDER, {"title": "v"}).name
    with site.admin() as ctx:
        document.update(ctx, ORDER, name, {"title": "w"})
    assert not [c for c in _log(site) if c.doctype in changelog.UNLOGGED]


def test_prune_keeps_a_horizon(site):
    with site.admin() as ctx:
        for i in range(3):
            document.insert(ctx, ORDER, {"title": str(i)})
    newest = _head(site)
    with site.db.connect() as conn:
        assert changelog.prune(conn, 0) == 0  # 0 keeps everything
        future = dt.datetime.now() + dt.timedelta(days=2)
        removed = changelog.prune(conn, 1, now=future)
        assert removed > 0
        # The newest change stays, so ``head`` is a number readers have seen.
        assert changelog.horizon(conn) == newest - 1 and changelog.head(conn) == newest
        assert [c.seq for c in changelog.read(conn, 0, 10)] == [newest]
    with site.admin() as ctx:
        document.insert(ctx, ORDER, {"title": "after"})
    assert _head(site) > newest  # numbers are never reused


def test_postgres_numbers_follow_commit_order(site, backend):
    """A transaction that wrote first but commits last gets the later number: a reader that
    moved past the earlier-committed change can never miss it."""
    if backend != "postgres":
        pytest.skip("SQLite serialises writers: the row id is the commit order")
    start = _head(site)
    with site.db.connect() as first, site.db.connect() as second:
        first_ctx = site.context(first)
        second_ctx = site.context(second)
        first.begin()
        slow = document.insert(first_ctx, ORDER, {"title": "slow"}).name
        second.begin()
        fast = document.insert(second_ctx, ORDER, {"title": "fast"}).name
        second.commit()
        changelog.sequence(second)
        assert [c.name for c in changelog.read(second, start, 10, [ORDER])] == [fast]
        first.commit()
    rows = _log(site, start, [ORDER])
    assert [c.name for c in rows] == [fast, slow] and rows[0].seq < rows[1].seq


def test_the_table_is_made_by_ensure_system_tables(site):
    with site.db.connect() as conn:
        assert schema.existing_columns(conn, schema.CHANGE_LOG) >= {"seq", "doctype", "name", "action", "at"}


def test_prune_goes_in_batches_and_ends_where_one_pass_would(site):
    with site.admin() as ctx:
        for i in range(5):
            document.insert(ctx, ORDER, {"title": f"b{i}"})
    newest = _head(site)
    future = dt.datetime.now() + dt.timedelta(days=2)
    with site.db.connect() as conn:
        statements: list[str] = []
        real_commit = conn.commit

        def counting_commit():
            statements.append("commit")
            real_commit()
        conn.commit = counting_commit
        removed = changelog.prune(conn, 1, now=future, batch=2)
        assert removed >= 4 and len(statements) >= 2  # several short transactions, not one
        assert changelog.horizon(conn) == newest - 1 and changelog.head(conn) == newest
        assert changelog.prune(conn, 1, now=future, batch=2) == 0
