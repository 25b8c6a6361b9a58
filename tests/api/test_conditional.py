"""Conditional requests on documents: ``ETag`` on every read and write answer, ``If-None-Match``
on a read answers 304, ``If-Match`` on PUT, DELETE and document methods answers 412 when the
document changed, beside Frappe's own ``modified`` check. Scenario tables in process on both
databases; then races of two writers holding the same tag: exactly one wins, on both databases,
in the model (deterministic: the first writer holds its transaction open while the second
starts) and through a real server with several workers."""

from __future__ import annotations

import threading
import time
from functools import partial
from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import BACKENDS, make_site, start_server, stop_server
from tests.inprocess import InProcess
from tests.scenario import Env, Scenario, Text, open_env, scenarios

SUBMITTABLE = "Conditional Submittable"
LINE, ORDER, SETTINGS = "Conditional Line", "Conditional Order", "Conditional Settings"


@pytest.fixture(scope="module", params=BACKENDS)
def env(request, tmp_path_factory):
    e = open_env(tmp_path_factory.mktemp(f"cond-{request.param}"), request.param, request)
    admin = e["admin"]
    r = admin.post("/api/resource/DocType", json={
        "name": SUBMITTABLE, "module": "Custom", "custom": 1, "is_submittable": 1,
        "fields": [{"fieldname": "title", "fieldtype": "Data", "label": "Title"}],
        "permissions": [{"role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1,
                         "submit": 1, "cancel": 1, "amend": 1}]})
    assert r.status_code == 200, r.text
    perms = [{"role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1}]
    for body in ({"name": LINE, "istable": 1, "permissions": [],
                  "fields": [{"fieldname": "item", "fieldtype": "Data", "label": "Item"}]},
                 {"name": ORDER, "permissions": perms,
                  "fields": [{"fieldname": "title", "fieldtype": "Data", "label": "Title"},
                             {"fieldname": "lines", "fieldtype": "Table", "label": "Lines", "options": LINE}]},
                 {"name": SETTINGS, "issingle": 1, "permissions": perms,
                  "fields": [{"fieldname": "value", "fieldtype": "Data", "label": "Value"}]}):
        r = admin.post("/api/resource/DocType", json={"module": "Custom", "custom": 1, **body})
        assert r.status_code == 200, r.text
    yield e
    e.close()


@dataclass
class Doc:
    """A ToDo saved twice: ``stale`` is the tag of its first version, ``current`` of its second."""
    name: str
    stale: str
    current: str
    description: str = "second"


def two_versions(admin: InProcess, doctype: str = "ToDo", field: str = "description") -> Doc:
    r = admin.post(f"/api/resource/{doctype}", json={field: "first"})
    assert r.status_code == 200, r.text
    name, stale = r.json()["data"]["name"], r.headers["etag"]
    r = admin.put(f"/api/resource/{doctype}/{name}", json={field: "second"})
    assert r.status_code == 200, r.text
    assert r.headers["etag"] != stale
    return Doc(name, stale, r.headers["etag"])


def row(name: str, verb: str, url: str, headers: dict[str, str], status: int = 200, fragment: str = "",
        json: dict | None = None, guest: bool = False, changed: bool | None = None) -> Scenario:
    """A request on a fresh ToDo saved twice (``$name``; its tags ``$current`` and ``$stale`` in
    ``headers``) with ``fragment`` in the body; ``changed``: whether the stored description
    afterwards differs from "second" (None: not checked)."""
    return Scenario(name, verb, url, json=json, headers=headers, user=None if guest else "Administrator",
                    status=status, expect=Text(fragment) if fragment else None,
                    before=lambda env: vars(two_versions(env["admin"])), after=partial(tags_and_storage, changed))


def tags_and_storage(changed: bool | None, env: Env, r: httpx.Response) -> None:
    """After: a 304 is empty and carries the current tag; a read carries the current tag, a
    write a new one; an error none; the stored document changed as ``changed`` says."""
    current = env.vars["current"]
    if r.status_code == 304:
        assert r.content == b"" and r.headers["etag"] == current
        assert "content-length" not in r.headers
    if r.status_code in (200, 202) and r.request.method in ("GET", "PUT"):
        assert r.headers["etag"].startswith('"')
        assert (r.headers["etag"] == current) == (r.request.method == "GET")
    if r.status_code >= 400:
        assert "etag" not in r.headers
    if changed is not None:
        stored = env["admin"].get(f"/api/resource/ToDo/{env.vars['name']}")
        assert stored.status_code == 200
        assert (stored.json()["data"]["description"] != "second") == changed


DOC = "/api/resource/ToDo/$name"
SCENARIOS = [
    row("read carries its tag", "GET", DOC, {}, 200, '"description":"second"'),
    row("read under /api/v1 too", "GET", "/api/v1/resource/ToDo/$name", {}, 200, '"second"'),
    row("if-none-match current: 304", "GET", DOC, {"If-None-Match": "$current"}, 304),
    row("if-none-match weak current: 304 (weak comparison)", "GET", DOC, {"If-None-Match": "W/$current"}, 304),
    row("if-none-match in a list: 304", "GET", DOC, {"If-None-Match": '"x", $stale ,, $current'}, 304),
    row("if-none-match star: 304", "GET", DOC, {"If-None-Match": "*"}, 304),
    row("if-none-match stale: 200", "GET", DOC, {"If-None-Match": "$stale"}, 200, '"second"'),
    row("if-match stale on a read: 412", "GET", DOC, {"If-Match": "$stale"}, 412, "PreconditionFailedError"),
    row("if-match and if-none-match: If-Match first", "GET", DOC,
        {"If-Match": "$current", "If-None-Match": "$current"}, 304),
    row("malformed if-none-match: 417", "GET", DOC, {"If-None-Match": "$current junk"}, 417,
        "must be"),
    row("unquoted tag: 417", "GET", DOC, {"If-None-Match": "abc"}, 417, "must be"),
    row("header too long: 417", "GET", DOC, {"If-None-Match": '"a",' * 2000}, 417, "too long"),
    row("guest learns nothing from a matching tag: 403", "GET", DOC, {"If-None-Match": "*"}, 403,
        "PermissionError", guest=True),
    row("missing document with a star: 404", "GET", "/api/resource/ToDo/no-such-todo",
        {"If-None-Match": "*"}, 404, "DoesNotExistError"),
    row("put if-match current: 200", "PUT", DOC, {"If-Match": "$current"}, 200, '"third"',
        {"description": "third"}, changed=True),
    row("put if-match stale: 412, nothing written", "PUT", DOC, {"If-Match": "$stale"}, 412,
        "PreconditionFailedError", {"description": "third"}, changed=False),
    row("put if-match weak current: 412 (strong comparison)", "PUT", DOC, {"If-Match": "W/$current"},
        412, "PreconditionFailedError", {"description": "third"}, changed=False),
    row("put if-match star: 200", "PUT", DOC, {"If-Match": "*"}, 200, '"third"', {"description": "third"},
        changed=True),
    row("put if-match list holding current: 200", "PUT", DOC, {"If-Match": "$stale, $current"}, 200,
        '"third"', {"description": "third"}, changed=True),
    row("put if-none-match star on an existing document: 412", "PUT", DOC, {"If-None-Match": "*"}, 412,
        "PreconditionFailedError", {"description": "third"}, changed=False),
    row("put if-match current, stale modified in the body: Frappe's 417", "PUT", DOC,
        {"If-Match": "$current"}, 417, "TimestampMismatchError",
        {"description": "third", "modified": "2001-01-01 00:00:00.000000"}, changed=False),
    row("put malformed if-match: 417, nothing written", "PUT", DOC, {"If-Match": "W/"}, 417, "must be",
        {"description": "third"}, changed=False),
    row("put empty if-match: no tag matches, 412", "PUT", DOC, {"If-Match": ""}, 412,
        "PreconditionFailedError", {"description": "third"}, changed=False),
    row("delete if-match stale: 412, still there", "DELETE", DOC, {"If-Match": "$stale"}, 412,
        "PreconditionFailedError", changed=False),
    row("delete if-match current: 202", "DELETE", DOC, {"If-Match": "$current"}, 202, '"ok"'),
    row("method if-match stale: 412", "POST", DOC, {"If-Match": "$stale"},
        412, "PreconditionFailedError", {"run_method": "add_comment", "text": "hello"}, changed=False),
    row("method if-match current: 200", "POST", DOC,
        {"If-Match": "$current"}, 200, '"hello"', {"run_method": "add_comment", "text": "hello"}),
    row("method ignores if-none-match", "POST", DOC,
        {"If-None-Match": "$current"}, 200, '"hello"', {"run_method": "add_comment", "text": "hello"}),
]


@scenarios(*SCENARIOS)
def test_scenario(env, scenario: Scenario):
    scenario.run(env)


def test_the_tag_of_a_write_answer_is_the_tag_of_the_next_read(env):
    site, app, admin = env.site, env.app, env["admin"]
    doc = two_versions(admin)
    r = admin.get(f"/api/resource/ToDo/{doc.name}", headers={"If-None-Match": doc.current})
    assert r.status_code == 304
    # A comment is not a change of the document: its tag stays.
    admin.post(f"/api/resource/ToDo/{doc.name}", json={"run_method": "add_comment", "text": "x"})
    assert admin.get(f"/api/resource/ToDo/{doc.name}").headers["etag"] == doc.current


def test_submit_and_cancel_as_methods_are_guarded(env):
    site, app, admin = env.site, env.app, env["admin"]
    doc = two_versions(admin, SUBMITTABLE, "title")
    url = f"/api/resource/{SUBMITTABLE}/{doc.name}"
    r = admin.post(url, json={"run_method": "submit"}, headers={"If-Match": doc.stale})
    assert r.status_code == 412, r.text
    assert admin.get(url).json()["data"]["docstatus"] == 0
    r = admin.post(url, json={"run_method": "submit"}, headers={"If-Match": doc.current})
    assert r.status_code == 200, r.text
    submitted = admin.get(url).headers["etag"]
    assert submitted != doc.current
    r = admin.post(url, json={"run_method": "cancel"}, headers={"If-Match": doc.current})
    assert r.status_code == 412, r.text
    r = admin.post(url, json={"run_method": "cancel"}, headers={"If-Match": submitted})
    assert r.status_code == 200, r.text
    assert admin.get(url).json()["data"]["docstatus"] == 2


def test_child_rows_carry_tags_and_are_guarded(env):
    site, app, admin = env.site, env.app, env["admin"]
    r = admin.post(f"/api/resource/{ORDER}", json={"title": "o", "lines": [{"item": "a"}, {"item": "b"}]})
    assert r.status_code == 200, r.text
    order, order_tag = r.json()["data"]["name"], r.headers["etag"]
    first, second = (row["name"] for row in r.json()["data"]["lines"])
    url = f"/api/resource/{LINE}/{first}"
    r = admin.get(url)
    assert r.status_code == 200 and r.json()["data"]["item"] == "a"
    row_tag = r.headers["etag"]
    assert row_tag != order_tag
    assert admin.get(url, headers={"If-None-Match": row_tag}).status_code == 304
    # Saving the order restamps its rows: the row's tag changes with it.
    assert admin.put(f"/api/resource/{ORDER}/{order}", json={"title": "o2"}).status_code == 200
    r = admin.put(url, headers={"If-Match": row_tag}, json={"item": "a2"})
    assert r.status_code == 412, r.text
    current = admin.get(url).headers["etag"]
    r = admin.put(url, headers={"If-Match": current}, json={"item": "a2"})
    assert r.status_code == 200, r.text
    r = admin.delete(f"/api/resource/{LINE}/{second}", headers={"If-Match": current})
    assert r.status_code == 412, r.text
    r = admin.delete(f"/api/resource/{LINE}/{second}", headers={"If-Match": admin.get(
        f"/api/resource/{LINE}/{second}").headers["etag"]})
    assert r.status_code == 202, r.text
    lines = admin.get(f"/api/resource/{ORDER}/{order}").json()["data"]["lines"]
    assert [row["item"] for row in lines] == ["a2"]


def test_singles_carry_tags_and_are_guarded(env):
    site, app, admin = env.site, env.app, env["admin"]
    url = f"/api/resource/{SETTINGS}/{SETTINGS}"
    r = admin.put(url, json={"value": "one"})
    assert r.status_code == 200, r.text
    first = r.headers["etag"]
    r = admin.get(url)
    assert r.headers["etag"] == first and r.json()["data"]["value"] == "one"
    assert admin.get(url, headers={"If-None-Match": first}).status_code == 304
    r = admin.put(url, headers={"If-Match": first}, json={"value": "two"})
    assert r.status_code == 200, r.text
    r = admin.put(url, headers={"If-Match": first}, json={"value": "three"})
    assert r.status_code == 412, r.text
    assert admin.get(url).json()["data"]["value"] == "two"


def test_users_reading_different_fields_get_different_tags(env):
    """A strong tag names one representation: a user who may not read a permlevel-1 field gets
    another body, so another tag, and his own tag works for his writes."""
    from ristretto.model import document, etags
    site, app, admin = env.site, env.app, env["admin"]
    doctype = "Conditional Levels"
    r = admin.post("/api/resource/DocType", json={
        "name": doctype, "module": "Custom", "custom": 1,
        "fields": [{"fieldname": "title", "fieldtype": "Data", "label": "Title"},
                   {"fieldname": "secret", "fieldtype": "Data", "label": "Secret", "permlevel": 1}],
        "permissions": [{"role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1},
                        {"role": "System Manager", "permlevel": 1, "read": 1, "write": 1},
                        {"role": "Blogger", "read": 1, "write": 1}]})
    assert r.status_code == 200, r.text
    r = admin.post(f"/api/resource/{doctype}", json={"title": "t", "secret": "s"})
    name, admin_tag = r.json()["data"]["name"], r.headers["etag"]
    with site.db.connect() as conn:
        from ristretto.api.app import App
        policy = App(site).policy
        full = site.context(conn, user="a@example.com", roles=frozenset({"System Manager", "All"}), perms=policy)
        part = site.context(conn, user="b@example.com", roles=frozenset({"Blogger", "All"}), perms=policy)
        doc = document.get_doc(full, doctype, name)
        assert etags.etag(full, doc) == admin_tag  # everything readable: one tag for all
        partial_tag = etags.etag(part, document.get_doc(part, doctype, name))
        assert partial_tag != admin_tag
        assert "secret" not in document.visible_dict(part, doc)
        conn.begin()
        try:
            with pytest.raises(Exception) as failed:
                document.update(part, doctype, name, {"title": "u"},
                                expect=etags.Preconditions(frozenset({admin_tag})))
            assert type(failed.value).__name__ == "PreconditionFailedError"
            document.update(part, doctype, name, {"title": "u"}, expect=etags.Preconditions(frozenset({partial_tag})))
        finally:
            conn.rollback()


# --- races ------------------------------------------------------------------------------------

def _race(site_path, first, second) -> list[str]:
    """Run ``first`` and ``second`` (each ``fn(ctx)``) in two threads on two connections: the
    first holds its transaction open until the second has started and had time to reach the
    document, then commits. Returns the outcome of each ("ok" or the exception's name)."""
    from ristretto.site import Site
    outcomes: dict[str, str] = {}
    written = threading.Event()
    release = threading.Event()
    sites = [Site(site_path), Site(site_path)]

    def run(label: str, site, fn, hold: bool) -> None:
        with site.db.connect() as conn:
            site.registry.ensure_fresh(conn)
            ctx = site.context(conn)
            conn.begin()
            try:
                fn(ctx)
                if hold:
                    written.set()
                    release.wait(10)
                conn.commit()
                outcomes[label] = "ok"
            except Exception as e:  # noqa: BLE001 - the outcome is what the test looks at
                conn.rollback()
                outcomes[label] = type(e).__name__
            finally:
                written.set()

    a = threading.Thread(target=run, args=("first", sites[0], first, True))
    b = threading.Thread(target=run, args=("second", sites[1], second, False))
    try:
        a.start()
        assert written.wait(10)
        b.start()
        time.sleep(0.5)
        # The second writer waits for the first's lock (SQLite: the database's write lock;
        # PostgreSQL: the document's row).
        assert b.is_alive(), outcomes
        release.set()
        a.join(10)
        b.join(10)
    finally:
        release.set()
        for s in sites:
            s.close()
    return [outcomes["first"], outcomes["second"]]


def test_race_in_the_model_update_and_delete(env):
    from ristretto.model import document
    from ristretto.model.etags import Preconditions
    site, app, admin = env.site, env.app, env["admin"]
    doc = two_versions(admin)
    expect = Preconditions(frozenset({doc.current}))
    outcomes = _race(site.path,
                     lambda ctx: document.update(ctx, "ToDo", doc.name, {"description": "A"}, expect=expect),
                     lambda ctx: document.update(ctx, "ToDo", doc.name, {"description": "B"}, expect=expect))
    assert outcomes == ["ok", "PreconditionFailedError"]
    assert admin.get(f"/api/resource/ToDo/{doc.name}").json()["data"]["description"] == "A"
    # Frappe's modified in the body is checked against the locked row too.
    doc = two_versions(admin)
    modified = admin.get(f"/api/resource/ToDo/{doc.name}").json()["data"]["modified"]
    outcomes = _race(site.path,
                     lambda ctx: document.update(ctx, "ToDo", doc.name, {"description": "A", "modified": modified}),
                     lambda ctx: document.update(ctx, "ToDo", doc.name, {"description": "B", "modified": modified}))
    assert outcomes == ["ok", "TimestampMismatchError"]
    doc = two_versions(admin)
    expect = Preconditions(frozenset({doc.current}))
    outcomes = _race(site.path,
                     lambda ctx: document.update(ctx, "ToDo", doc.name, {"description": "A"}, expect=expect),
                     lambda ctx: document.delete(ctx, "ToDo", doc.name, expect=expect))
    assert outcomes == ["ok", "PreconditionFailedError"]
    assert admin.get(f"/api/resource/ToDo/{doc.name}").status_code == 200


def test_race_on_a_single(env):
    from ristretto.model import document
    from ristretto.model.etags import Preconditions
    site, app, admin = env.site, env.app, env["admin"]
    url = f"/api/resource/{SETTINGS}/{SETTINGS}"
    tag = admin.put(url, json={"value": "start"}).headers["etag"]
    expect = Preconditions(frozenset({tag}))
    outcomes = _race(site.path,
                     lambda ctx: document.update(ctx, SETTINGS, SETTINGS, {"value": "A"}, expect=expect),
                     lambda ctx: document.update(ctx, SETTINGS, SETTINGS, {"value": "B"}, expect=expect))
    assert outcomes == ["ok", "PreconditionFailedError"]
    assert admin.get(url).json()["data"]["value"] == "A"
    # Without preconditions both saves succeed, one after the other.
    outcomes = _race(site.path, lambda ctx: document.update(ctx, SETTINGS, SETTINGS, {"value": "C"}),
                     lambda ctx: document.update(ctx, SETTINGS, SETTINGS, {"value": "D"}))
    assert outcomes == ["ok", "ok"]
    assert admin.get(url).json()["data"]["value"] == "D"


def test_race_on_rows_of_one_parent(env):
    """Two writers change different rows of one order at once, without any precondition: both
    changes are kept (each locks the parent before reading the rows it saves back)."""
    from ristretto.model import document
    site, app, admin = env.site, env.app, env["admin"]
    r = admin.post(f"/api/resource/{ORDER}", json={"title": "o", "lines": [{"item": "a"}, {"item": "b"}]})
    order = r.json()["data"]["name"]
    first, second = (row["name"] for row in r.json()["data"]["lines"])
    outcomes = _race(site.path,
                     lambda ctx: document.update(ctx, LINE, first, {"item": "A"}),
                     lambda ctx: document.update(ctx, LINE, second, {"item": "B"}))
    assert outcomes == ["ok", "ok"]
    lines = admin.get(f"/api/resource/{ORDER}/{order}").json()["data"]["lines"]
    assert [row["item"] for row in lines] == ["A", "B"]


def _method_call(ctx, site, method: str, tag: str):
    from ristretto.api.asgi import Request
    from ristretto.api.call import Call
    request = Request({"type": "http", "method": "POST", "path": "/", "headers": [(b"if-match", tag.encode())]})
    return Call(ctx, request, {"run_method": method}, {}, site)


def test_race_in_document_methods(env):
    """Two submits holding the same tag: without the lock, the second would read the draft,
    pass, and then save the submitted document again (1 -> 1 is an allowed update)."""
    from ristretto.api import docmethods
    site, app, admin = env.site, env.app, env["admin"]
    doc = two_versions(admin, SUBMITTABLE, "title")

    def submit(ctx):
        docmethods.run_on_stored(_method_call(ctx, site, "submit", doc.current), SUBMITTABLE, doc.name)

    assert _race(site.path, submit, submit) == ["ok", "PreconditionFailedError"]


@pytest.fixture(scope="module", params=BACKENDS)
def served(request, tmp_path_factory):
    site_dir = make_site(tmp_path_factory.mktemp(f"cond-srv-{request.param}"), request.param, request)
    server = start_server(site_dir, request.param, workers=2)
    yield server
    stop_server(server.proc)


def test_race_over_http_with_several_workers(served):
    """Rounds of two PUTs sent at once with the same If-Match: each round exactly one 200 and
    one 412, and the stored document is the winner's."""
    with served.admin() as admin:
        for round_ in range(6):
            r = admin.post("/api/resource/ToDo", json={"description": f"round {round_}"})
            assert r.status_code == 200, r.text
            name, tag = r.json()["data"]["name"], r.headers["etag"]
            results: dict[str, int] = {}
            barrier = threading.Barrier(2, timeout=10)

            def put(label: str) -> None:
                with served.admin() as client:
                    barrier.wait()
                    results[label] = client.put(f"/api/resource/ToDo/{name}", headers={"If-Match": tag},
                                                json={"description": label}).status_code

            threads = [threading.Thread(target=put, args=(label,)) for label in ("A", "B")]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            assert sorted(results.values()) == [200, 412], results
            winner = next(label for label, status in results.items() if status == 200)
            stored = admin.get(f"/api/resource/ToDo/{name}").json()["data"]["description"]
            assert stored == winner


def test_not_modified_over_a_real_connection(served):
    """A 304 through the real server: no body, no Content-Length, and the kept-alive connection
    carries the next request."""
    with served.admin() as admin:
        r = admin.post("/api/resource/ToDo", json={"description": "kept"})
        name, tag = r.json()["data"]["name"], r.headers["etag"]
        for _ in range(3):
            r = admin.get(f"/api/resource/ToDo/{name}", headers={"If-None-Match": tag})
            assert r.status_code == 304 and r.content == b"" and r.headers["etag"] == tag
            assert "content-length" not in r.headers
            r = admin.get(f"/api/resource/ToDo/{name}")
            assert r.status_code == 200 and r.headers["etag"] == tag
            assert r.json()["data"]["description"] == "kept"


def test_a_save_on_a_whole_second_keeps_its_tag(env):
    """A save stamped ``...:00.000000`` is read back from PostgreSQL as ``...:00``: the tag the
    write answered with must still be the tag of the next read."""
    from ristretto.model import document, etags
    site, app, admin = env.site, env.app, env["admin"]
    doc = two_versions(admin)
    stamped = "2026-01-01 00:00:00.000000"
    with site.db.connect() as conn:
        site.registry.ensure_fresh(conn)
        with conn.transaction():
            conn.execute('UPDATE "tabToDo" SET modified = ? WHERE name = ?', (stamped, doc.name))
        ctx = site.context(conn)
        saved = document.load(ctx, "ToDo", doc.name)
        saved.d["modified"] = stamped  # as the save that stamped it holds it
        written_tag = etags.etag(ctx, saved)
    r = admin.get(f"/api/resource/ToDo/{doc.name}")
    assert r.headers["etag"] == written_tag
    assert admin.put(f"/api/resource/ToDo/{doc.name}", headers={"If-Match": written_tag},
                     json={"description": "x"}).status_code == 200
