"""Concurrent writes where some fail leave exactly the ones that succeeded (both backends).

A real ``ristretto serve`` with two workers gets creates and updates over many connections at
once, a known share of them refused for different reasons, shuffled so that failures run beside
successes on the same worker at the same moment. Whatever batches writes into shared transactions
must roll back only the failing request's own work: its row, its child rows and its change-log
row; every acknowledged write must be there exactly once, with the values that were sent.
"""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from ristretto.db.dialects import quote
from ristretto.db.schema import CHANGE_LOG
from ristretto.model import changelog
from ristretto.site import Site
from tests.conftest import start_server, stop_server

PARENT, CHILD, TICKET = "Surge Order", "Surge Line", "Surge Ticket"
CONNECTIONS = 16
REQUEST_TIMEOUT = 30  # seconds per request; the whole run is bounded by the request count

DOCTYPES = [
    {"name": CHILD, "istable": 1, "fields": [
        {"fieldname": "item", "fieldtype": "Data", "label": "Item", "reqd": 1},
        {"fieldname": "tag", "fieldtype": "Data", "label": "Tag", "unique": 1},
        {"fieldname": "qty", "fieldtype": "Int", "label": "Qty"}]},
    {"name": PARENT, "autoname": "field:title", "fields": [
        {"fieldname": "title", "fieldtype": "Data", "label": "Title", "reqd": 1},
        {"fieldname": "code", "fieldtype": "Data", "label": "Code", "reqd": 1},
        {"fieldname": "kind", "fieldtype": "Select", "label": "Kind", "options": "A\nB\nC"},
        {"fieldname": "amount", "fieldtype": "Int", "label": "Amount"},
        {"fieldname": "lines", "fieldtype": "Table", "label": "Lines", "options": CHILD}]},
    # Named from a series: the counter is incremented before validation, so a refused insert
    # must take its increment back with it (the valid ones then hold every number, no gaps).
    {"name": TICKET, "autoname": "SRG-.#####", "fields": [
        {"fieldname": "subject", "fieldtype": "Data", "label": "Subject", "reqd": 1},
        {"fieldname": "kind", "fieldtype": "Select", "label": "Kind", "options": "A\nB\nC"}]},
]


def _order(title: str, n: int, **over) -> dict:
    body = {"title": title, "code": f"code-{n}", "kind": "ABC"[n % 3], "amount": n,
            "lines": [{"item": f"{title} item {k}", "tag": f"{title} tag {k}", "qty": n + k} for k in range(2)]}
    return {**body, **over}


def _fire(base_url: str, auth: dict, requests: list[tuple]) -> list[httpx.Response]:
    """Send ``(method, path, body)`` requests over CONNECTIONS connections at once, in list order."""
    local = threading.local()
    clients: list[httpx.Client] = []
    lock = threading.Lock()
    start = threading.Barrier(CONNECTIONS)

    def client() -> httpx.Client:
        if not hasattr(local, "c"):
            local.c = httpx.Client(base_url=base_url, headers=auth, timeout=REQUEST_TIMEOUT)
            with lock:
                clients.append(local.c)
        return local.c

    def warm(_: int) -> None:
        client().get("/api/method/ping")  # open every connection first, then start together
        start.wait(REQUEST_TIMEOUT)

    def send(request: tuple) -> httpx.Response:
        method, path, body = request
        return client().request(method, path, json=body)

    try:
        with ThreadPoolExecutor(CONNECTIONS) as pool:
            list(pool.map(warm, range(CONNECTIONS)))
            return list(pool.map(send, requests))
    finally:
        for c in clients:
            c.close()


def _rows(site_dir, sql: str, params: tuple = ()) -> list[tuple]:
    site = Site(site_dir)
    try:
        with site.db.connect() as conn:
            changelog.sequence(conn)  # PostgreSQL numbers committed changes after their commit
            return [tuple(r) for r in conn.sql(sql, params)]
    finally:
        site.close()


def _state(site_dir) -> tuple[dict, list, dict]:
    """Every Surge Order with its values and child rows, the child rows without a parent, and the
    change-log actions per name, read from the database."""
    parents = _rows(site_dir, f"SELECT name, code, kind, amount FROM {quote('tab' + PARENT)}")
    children = _rows(site_dir, f"SELECT parent, parenttype, parentfield, item, tag, qty, idx "
                               f"FROM {quote('tab' + CHILD)}")
    logged = _rows(site_dir, f"SELECT name, action FROM {quote(CHANGE_LOG)} WHERE doctype = ? ORDER BY seq",
                   (PARENT,))
    docs: dict = {}
    orphans: list = []
    changes: dict = {}
    for name, code, kind, amount in parents:
        assert name not in docs, f"{name} stored twice"
        docs[name] = {"code": code, "kind": kind, "amount": amount, "lines": []}
    for parent, parenttype, parentfield, item, tag, qty, idx in sorted(children, key=lambda r: (r[0], r[6])):
        if parent in docs and parenttype == PARENT and parentfield == "lines":
            docs[parent]["lines"].append({"item": item, "tag": tag, "qty": qty})
        else:
            orphans.append((parent, item))
    for name, action in logged:
        changes.setdefault(name, []).append(action)
    return docs, orphans, changes


def _expected_lines(body: dict) -> list[dict]:
    return [{"item": line["item"], "tag": line["tag"], "qty": line["qty"]} for line in body["lines"]]


def _error(r: httpx.Response) -> tuple[int, str]:
    return r.status_code, r.json().get("exc_type", "")


def test_concurrent_writes_with_failures_leave_exactly_the_valid_ones(site_dir, backend):
    server = start_server(site_dir, backend, workers=2)
    auth = {"Authorization": f"token {server.api_key}:{server.api_secret}"}
    rnd = random.Random(13)
    try:
        with httpx.Client(base_url=server.base_url, headers=auth, timeout=REQUEST_TIMEOUT) as c:
            for body in DOCTYPES:
                r = c.post("/api/resource/DocType", json={"module": "Custom", "custom": 1, **body})
                assert r.status_code == 200, r.text
            # Documents that exist before the storm: targets of duplicate names and duplicate child tags.
            existing = {}
            for n in range(10):
                body = _order(f"old {n}", 1000 + n)
                r = c.post(f"/api/resource/{PARENT}", json=body)
                assert r.status_code == 200, r.text
                existing[body["title"]] = body

        # --- creates: 200, six kinds of request, shuffled -------------------------------------
        creates: list[tuple] = []  # (kind, title, body, expected status, expected exc_type)
        for n in range(200):
            title = f"new {n}"
            kind = n % 8
            if kind == 1:  # a Select value not among the options: refused before anything is written
                creates.append(("bad select", title, _order(title, n, kind="Z"), 417, "ValidationError"))
            elif kind == 2:  # a mandatory field missing
                body = _order(title, n)
                del body["code"]
                creates.append(("missing code", title, body, 417, "MandatoryError"))
            elif kind == 3:  # the name of a document that exists: the parent's INSERT fails
                old = f"old {n % 10}"
                creates.append(("duplicate name", old, _order(old, n, code=f"dup-{n}"), 409, "DuplicateEntryError"))
            elif kind == 4:  # a child row whose unique tag exists: fails after the parent row is written
                body = _order(title, n)
                body["lines"][1]["tag"] = f"old {n % 10} tag 0"
                creates.append(("duplicate child tag", title, body, 417, "UniqueValidationError"))
            elif kind == 5:  # a child row without its mandatory item
                body = _order(title, n)
                del body["lines"][0]["item"]
                creates.append(("child missing item", title, body, 417, "MandatoryError"))
            else:
                creates.append(("valid", title, _order(title, n), 200, ""))
        tickets: list[tuple] = []  # (kind, subject, body, expected status, expected exc_type)
        for n in range(100):
            subject = f"ticket {n}"
            if n % 5 == 1:
                tickets.append(("bad select", subject, {"subject": subject, "kind": "Z"}, 417, "ValidationError"))
            elif n % 5 == 3:
                tickets.append(("missing subject", subject, {"kind": "A", "description": subject}, 417,
                                "MandatoryError"))
            else:
                tickets.append(("valid", subject, {"subject": subject, "kind": "B"}, 200, ""))
        mixed = [(PARENT, c) for c in creates] + [(TICKET, t) for t in tickets]
        rnd.shuffle(mixed)
        started = time.monotonic()
        answers = _fire(server.base_url, auth, [("POST", f"/api/resource/{doctype}", request[2])
                                                for doctype, request in mixed])
        creates = [request for doctype, request in mixed if doctype == PARENT]
        responses = [r for (doctype, _), r in zip(mixed, answers) if doctype == PARENT]
        ticket_answers = [(request, r) for (doctype, request), r in zip(mixed, answers) if doctype == TICKET]
        assert time.monotonic() - started < 300

        docs, orphans, changes = _state(site_dir)
        valid = 0
        for (kind, title, body, status, exc), r in zip(creates, responses):
            if status == 200:
                valid += 1
                assert r.status_code == 200, (kind, title, r.text[:300])
                assert r.json()["data"]["name"] == title
                row = docs[title]
                assert (row["code"], row["kind"], row["amount"]) == (body["code"], body["kind"], body["amount"])
                assert row["lines"] == _expected_lines(body), title
                assert changes[title] == ["insert"], title
            else:
                assert _error(r) == (status, exc), (kind, title, r.text[:300])
                if kind == "duplicate name":  # the document it collided with is untouched
                    old = existing[title]
                    assert docs[title] == {"code": old["code"], "kind": old["kind"], "amount": old["amount"],
                                           "lines": _expected_lines(old)}, title
                    assert changes[title] == ["insert"], title
                else:
                    assert title not in docs and title not in changes, (kind, title)
        assert valid == 75  # kinds 0, 6 and 7 of eight
        assert orphans == []
        assert len(docs) == valid + len(existing)
        assert sum(len(d["lines"]) for d in docs.values()) == 2 * len(docs)
        assert sum(len(v) for v in changes.values()) == len(docs)

        ticket_names = {}
        for (kind, subject, body, status, exc), r in ticket_answers:
            if status == 200:
                assert r.status_code == 200, (kind, subject, r.text[:300])
                ticket_names[r.json()["data"]["name"]] = subject
            else:
                assert _error(r) == (status, exc), (kind, subject, r.text[:300])
        assert sorted(ticket_names) == [f"SRG-{i:05d}" for i in range(1, 61)]  # no number lost to a refusal
        assert dict(_rows(site_dir, f"SELECT name, subject FROM {quote('tab' + TICKET)}")) == ticket_names
        assert _rows(site_dir, f"SELECT current FROM {quote('tabSeries')} WHERE name = ?", ("SRG-",)) == [(60,)]
        logged = _rows(site_dir, f"SELECT name, action FROM {quote(CHANGE_LOG)} WHERE doctype = ?", (TICKET,))
        assert sorted(logged) == sorted((name, "insert") for name in ticket_names)

        # --- updates: for each of 60 documents, concurrently, one with the current ``modified``, one
        # with a stale one, one with an invalid value, and for every third a rival writer holding the
        # same current ``modified`` (exactly one of those two may win) ---------------------------
        targets = [t for _, t, _, s, _ in creates if s == 200][:60]
        with httpx.Client(base_url=server.base_url, headers=auth, timeout=REQUEST_TIMEOUT) as c:
            modified = {t: c.get(f"/api/resource/{PARENT}/{t}").json()["data"]["modified"] for t in targets}
        updates: list[tuple] = []  # (kind, title, body)
        for i, title in enumerate(targets):
            good = {"amount": 5000 + i, "modified": modified[title],
                    "lines": [{"item": f"{title} updated", "tag": f"{title} updated tag", "qty": i}]}
            updates.append(("current", title, good))
            updates.append(("stale", title, {"amount": -1, "modified": "2000-01-01 00:00:00.000000",
                                             "lines": [{"item": "stale", "tag": f"{title} stale", "qty": -1}]}))
            updates.append(("bad select", title, {"kind": "Z", "amount": -2}))
            if i % 3 == 0:
                updates.append(("rival", title, {**good, "amount": 9000 + i, "lines": [
                    {"item": f"{title} rival", "tag": f"{title} rival tag", "qty": i}]}))
        rnd.shuffle(updates)
        responses = _fire(server.base_url, auth, [("PUT", f"/api/resource/{PARENT}/{t}", b) for _, t, b in updates])

        after, orphans, changes = _state(site_dir)
        rivalled = {t for k, t, _ in updates if k == "rival"}
        won: dict[str, dict] = {}
        for (kind, title, body), r in zip(updates, responses):
            if kind == "stale":
                assert _error(r) == (417, "TimestampMismatchError"), r.text[:300]
            elif kind == "bad select":
                assert _error(r) == (417, "ValidationError"), r.text[:300]
            elif r.status_code == 200:
                assert title not in won, f"two writers holding the same modified both won on {title}"
                won[title] = body
            else:  # only the loser of a rivalry may fail, and only for the timestamp
                assert title in rivalled, (kind, title, r.text[:300])
                assert _error(r) == (417, "TimestampMismatchError"), r.text[:300]
        assert sorted(won) == sorted(targets)  # every document: exactly one winning update
        for title in targets:
            assert after[title] == {**docs[title], "amount": won[title]["amount"],
                                    "lines": _expected_lines(won[title])}, title
            assert changes[title] == ["insert", "update"], title
        assert {n: d for n, d in after.items() if n not in won} == {n: d for n, d in docs.items() if n not in won}
        assert orphans == []
        assert sum(len(v) for v in changes.values()) == len(docs) + len(targets)
    finally:
        stop_server(server.proc)
