"""Webhook delivery by real servers (``ristretto serve`` with two workers), on both databases.

A loopback receiver gets each delivery once, signed as Frappe signs (HMAC-SHA256 of the body,
base64), although both workers run a delivery task; a failing receiver is retried with a
growing delay, each attempt is recorded in Webhook Request Log (read over REST), and a delivery
that keeps failing is given up after ``webhook_max_attempts``; a server killed (SIGKILL) while
deliveries are under way loses none of them: the restarted server sends them once their lease
has expired.
"""

from __future__ import annotations

import json
import os
import signal

import pytest

from ristretto.site import Site
from ristretto.webhooks import queue
from tests.conftest import configure_site, start_server, stop_server
from tests.webhook_receiver import wait_until

SECRET = "delivery-secret"
BACKOFF = 0.3


@pytest.fixture
def served(site_dir, backend):
    configure_site(site_dir, webhook_poll_interval=0.2, webhook_retry_backoff=BACKOFF, webhook_max_attempts=4,
                   webhook_lease_seconds=1)
    box = {"server": start_server(site_dir, backend, workers=2)}
    yield box
    stop_server(box["server"].proc)


def _hook(admin, receiver, name: str, **values) -> None:
    r = admin.post("/api/resource/Webhook", json={
        "name": name, "webhook_doctype": "ToDo", "webhook_docevent": "after_insert",
        "request_url": f"{receiver.url}/{name}", "request_structure": "JSON",
        "webhook_json": '{"id": "{{ doc.name }}", "description": "{{ doc.description }}"}',
        "enable_security": 1, "webhook_secret": SECRET, **values})
    assert r.status_code == 200, r.text


def _insert(admin, description: str) -> str:
    r = admin.post("/api/resource/ToDo", json={"description": description})
    assert r.status_code == 200, r.text
    return r.json()["data"]["name"]


def _pending(site_dir) -> int:
    site = Site(site_dir)
    try:
        with site.db.connect() as conn:
            return queue.pending(conn)
    finally:
        site.close()


def _logs(admin, name: str) -> list[dict]:
    r = admin.get("/api/resource/Webhook Request Log", params={
        "fields": json.dumps(["reference_document", "error", "response", "data"]),
        "filters": json.dumps({"reference_document": name}), "order_by": "creation asc", "limit_page_length": 0})
    assert r.status_code == 200, r.text
    return r.json()["data"]


def test_each_delivery_arrives_once_signed_with_two_workers(served, receiver):
    server = served["server"]
    with server.admin() as admin:
        _hook(admin, receiver, "once")
        names = [_insert(admin, f"todo {i}") for i in range(20)]
    got = receiver.wait_for(lambda rs: {r.json["id"] for r in rs} >= set(names))
    wait_until(lambda: _pending(server.site_dir) == 0, what="an empty queue")
    got = receiver.received
    assert sorted(r.json["id"] for r in got) == sorted(names)  # none twice
    assert all(r.signed_with(SECRET) for r in got)
    assert len({r.headers["x-ristretto-webhook-delivery"] for r in got}) == 20


def test_a_failing_receiver_is_retried_with_backoff_then_given_up(served, receiver):
    server = served["server"]
    receiver.statuses = [500, 500]
    with server.admin() as admin:
        _hook(admin, receiver, "retried")
        name = _insert(admin, "flaky")
        got = receiver.wait_for(lambda rs: len(rs) == 3)
        assert [r.json["id"] for r in got] == [name] * 3 and all(r.signed_with(SECRET) for r in got)
        gaps = [b.at - a.at for a, b in zip(got, got[1:])]
        assert gaps[0] >= BACKOFF and gaps[1] >= 2 * BACKOFF, gaps
        logs = wait_until(lambda: len(_logs(admin, name)) == 3 and _logs(admin, name), what="3 logged attempts")
        assert [entry["error"] for entry in logs] == [
            f"HTTP 500 (attempt 1 of 4; next in {BACKOFF:g} s)", f"HTTP 500 (attempt 2 of 4; next in {2 * BACKOFF:g} s)",
            None]
        assert json.loads(logs[0]["response"]) == {"error": "try later"} and json.loads(logs[2]["data"])["id"] == name
        # A receiver that never recovers: four attempts, then the delivery is given up.
        receiver.statuses = [503] * 10
        doomed = _insert(admin, "doomed")
        logs = wait_until(lambda: len(_logs(admin, doomed)) == 4 and _logs(admin, doomed), what="4 attempts")
        assert logs[-1]["error"] == "HTTP 503 (attempt 4 of 4; giving up)"
        wait_until(lambda: _pending(server.site_dir) == 0, what="an empty queue")
        assert len([r for r in receiver.received if r.json["id"] == doomed]) == 4


def test_a_server_killed_mid_delivery_loses_nothing(served, receiver):
    server = served["server"]
    receiver.hold.set()
    with server.admin() as admin:
        _hook(admin, receiver, "survives", timeout=3)
        names = [_insert(admin, f"in flight {i}") for i in range(3)]
    wait_until(lambda: receiver.arrived == 3, what="3 deliveries under way")
    os.killpg(server.proc.pid, signal.SIGKILL)
    server.proc.wait(10)
    assert _pending(server.site_dir) == 3  # claimed, not delivered
    # The held requests end now (their sender is gone): what the restarted server sends counts.
    receiver.released.set()
    receiver.wait_for(lambda rs: len(rs) == 3)
    receiver.hold.clear()
    receiver.received.clear()
    served["server"] = server = start_server(server.site_dir, server.backend, workers=2)
    got = receiver.wait_for(lambda rs: {r.json["id"] for r in rs} >= set(names), timeout=30)
    assert all(r.signed_with(SECRET) for r in got)
    wait_until(lambda: _pending(server.site_dir) == 0, what="an empty queue")
    with server.admin() as admin:
        for name in names:
            assert any(entry["error"] is None for entry in _logs(admin, name)), _logs(admin, name)
