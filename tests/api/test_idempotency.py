"""Idempotency-Key on the unsafe verbs of v1, v2 and method routes (ristretto.api.idempotency): a
retry with the same key and body answers the first answer without writing again; another body
is 422; a request still holding the key is 409; keys are per user; a failed request frees its
key. In process, on both databases (restarts and two workers: test_idempotency_server.py)."""

from __future__ import annotations

import time
import uuid

import pytest

from ristretto.api import idempotency
from ristretto.site.install import add_user
from tests.conftest import BACKENDS
from tests.inprocess import InProcess, open_site


@pytest.fixture(scope="module", params=BACKENDS)
def env(request, tmp_path_factory):
    from ristretto.api.app import App
    site = open_site(tmp_path_factory.mktemp(f"idem-{request.param}"), request.param, request)
    add_user(site, "ann@idem.test", None, ["System Manager"])
    add_user(site, "bob@idem.test", None, ["System Manager"])
    client = InProcess(App(site), keep_cookies=False)
    client.as_admin = client.token("Administrator")
    client.as_ann = client.token("ann@idem.test")
    client.as_bob = client.token("bob@idem.test")
    yield client
    client.close()
    site.close()


def key() -> str:
    return f"k-{uuid.uuid4().hex}"


def todos(c: InProcess, description: str) -> list[str]:
    rows = c.get("/api/v2/document/ToDo", headers=c.as_admin,
                 params={"filters": f'{{"description": "{description}"}}', "fields": '["name"]', "limit": 0})
    return [r["name"] for r in rows.json()["data"]]


def note(c: InProcess) -> str:
    return c.post("/api/v2/document/Note", headers=c.as_admin, json={"title": key()}).json()["data"]["name"]


def stored(c: InProcess, owner: str, k: str):
    with c.site.db.connect() as conn:
        return conn.one('SELECT status, lease, created FROM "__idempotency" WHERE owner = ? AND idem_key = ?',
                        (owner, k))


# Every route family: (name, verb, url or a function making the target, body) and what a second
# run would change (a second document; another ``modified``; a 404 for a delete).
CREATES = [
    ("v2 document insert", "/api/v2/document/ToDo", lambda d: {"description": d}),
    ("v1 resource insert", "/api/resource/ToDo", lambda d: {"description": d}),
    ("v1 method frappe.client.insert", "/api/method/frappe.client.insert",
     lambda d: {"doc": {"doctype": "ToDo", "description": d}}),
    ("v2 method frappe.client.insert", "/api/v2/method/frappe.client.insert",
     lambda d: {"doc": {"doctype": "ToDo", "description": d}}),
]


@pytest.mark.parametrize("name,url,body", CREATES, ids=[c[0] for c in CREATES])
def test_retried_create_creates_one_document(env, name, url, body):
    c, k, d = env, key(), f"retry {uuid.uuid4().hex}"
    first = c.post(url, json=body(d), headers={**c.as_admin, "Idempotency-Key": k})
    assert first.status_code == 200, first.text
    assert "idempotent-replayed" not in first.headers
    for _ in range(2):
        again = c.post(url, json=body(d), headers={**c.as_admin, "Idempotency-Key": k})
        assert again.status_code == 200, again.text
        assert again.headers["idempotent-replayed"] == "true"
        assert again.content == first.content
        assert again.headers["content-type"] == first.headers["content-type"]
    assert len(todos(c, d)) == 1
    # Without the header the same request writes again: the header is what made the retry safe.
    assert c.post(url, json=body(d), headers=c.as_admin).status_code == 200
    assert len(todos(c, d)) == 2


@pytest.mark.parametrize("verb", ["PUT", "PATCH"])
def test_retried_update_is_not_run_again(env, verb):
    c, k = env, key()
    name = note(c)
    url = f"/api/v2/document/Note/{name}"
    first = c.request(verb, url, json={"content": "once"}, headers={**c.as_admin, "Idempotency-Key": k})
    assert first.status_code == 200, first.text
    time.sleep(0.01)
    again = c.request(verb, url, json={"content": "once"}, headers={**c.as_admin, "Idempotency-Key": k})
    assert again.headers.get("idempotent-replayed") == "true" and again.content == first.content
    assert again.headers["etag"] == first.headers["etag"]
    # A second save would have moved ``modified``.
    now = c.get(url, headers=c.as_admin).json()["data"]
    assert now["modified"] == first.json()["data"]["modified"]


def test_retried_delete_answers_the_first_answer(env):
    c, k = env, key()
    url = f"/api/v1/resource/Note/{note(c)}"
    first = c.delete(url, headers={**c.as_admin, "Idempotency-Key": k})
    assert first.status_code == 202, first.text
    again = c.delete(url, headers={**c.as_admin, "Idempotency-Key": k})
    assert (again.status_code, again.content) == (202, first.content)
    assert again.headers["idempotent-replayed"] == "true"
    assert c.delete(url, headers=c.as_admin).status_code == 404  # a real second delete


def test_same_key_other_request_is_422(env):
    c, k, d = env, key(), f"first {uuid.uuid4().hex}"
    assert c.post("/api/v2/document/ToDo", json={"description": d},
                  headers={**c.as_admin, "Idempotency-Key": k}).status_code == 200
    for verb, url, body in (("POST", "/api/v2/document/ToDo", {"description": d + " changed"}),
                            ("POST", "/api/resource/ToDo", {"description": d}),
                            ("POST", "/api/v2/document/ToDo?x=1", {"description": d})):
        r = c.request(verb, url, json=body, headers={**c.as_admin, "Idempotency-Key": k})
        assert r.status_code == 422, r.text
        err = r.json()
        text = err["errors"][0]["message"] if "errors" in err else err["_server_messages"]
        assert "already used with a different request" in text
    assert len(todos(c, d)) == 1 and todos(c, d + " changed") == []
    # Key order and white space of the JSON body do not make another request.
    same = c.post("/api/v2/document/ToDo", content=f'{{ "description" :  "{d}" }}',
                  headers={**c.as_admin, "Idempotency-Key": k, "Content-Type": "application/json"})
    assert same.status_code == 200 and same.headers["idempotent-replayed"] == "true"


def test_keys_are_per_user(env):
    c, k, d = env, key(), f"per user {uuid.uuid4().hex}"
    ann = c.post("/api/v2/document/ToDo", json={"description": d}, headers={**c.as_ann, "Idempotency-Key": k})
    bob = c.post("/api/v2/document/ToDo", json={"description": d}, headers={**c.as_bob, "Idempotency-Key": k})
    assert ann.status_code == bob.status_code == 200
    assert "idempotent-replayed" not in bob.headers
    assert ann.json()["data"]["name"] != bob.json()["data"]["name"]
    assert {ann.json()["data"]["owner"], bob.json()["data"]["owner"]} == {"ann@idem.test", "bob@idem.test"}
    assert len(todos(c, d)) == 2
    # Each one's retry answers their own first answer.
    for who, first in ((c.as_ann, ann), (c.as_bob, bob)):
        again = c.post("/api/v2/document/ToDo", json={"description": d}, headers={**who, "Idempotency-Key": k})
        assert again.headers.get("idempotent-replayed") == "true" and again.content == first.content
    assert len(todos(c, d)) == 2


def hold(c: InProcess, owner: str, k: str, url: str, body: dict) -> None:
    """Claim ``k`` as a request of ``owner`` still running would hold it."""
    digest = idempotency.fingerprint("POST", url, b"", body, {})
    with c.site.db.connect() as conn, conn.transaction():
        held = idempotency.claim(conn, owner, k, digest, time.time())
        assert isinstance(held, idempotency.Claim)


def test_request_still_running_is_409_until_its_lease_runs_out(env):
    c, k, d = env, key(), f"running {uuid.uuid4().hex}"
    url, body = "/api/v2/document/ToDo", {"description": d}
    hold(c, "Administrator", k, url, body)
    r = c.post(url, json=body, headers={**c.as_admin, "Idempotency-Key": k})
    assert r.status_code == 409, r.text
    assert r.json()["errors"][0]["type"] == "IdempotencyKeyInUse"
    assert todos(c, d) == []
    # Another body with a key in use is a client error whatever the first request's state.
    assert c.post(url, json={"description": "other"},
                  headers={**c.as_admin, "Idempotency-Key": k}).status_code == 422
    # The worker holding it died: once the lease has run out a retry takes the key over.
    with c.site.db.connect() as conn, conn.transaction():
        conn.execute('UPDATE "__idempotency" SET lease = ? WHERE idem_key = ?', (time.time() - 1, k))
    r = c.post(url, json=body, headers={**c.as_admin, "Idempotency-Key": k})
    assert r.status_code == 200 and "idempotent-replayed" not in r.headers
    again = c.post(url, json=body, headers={**c.as_admin, "Idempotency-Key": k})
    assert again.headers["idempotent-replayed"] == "true" and again.content == r.content
    assert len(todos(c, d)) == 1


def test_a_request_that_outlived_its_claim_is_rolled_back(env, monkeypatch):
    """A retry took the key over while the first request ran: the first one must not commit."""
    c, k, d = env, key(), f"outlived {uuid.uuid4().hex}"
    url, body = "/api/v2/document/ToDo", {"description": d}
    claims = []
    real_claim = idempotency.claim

    def claim_then_lose_it(conn, owner, key_, digest, now):
        got = real_claim(conn, owner, key_, digest, now)
        claims.append(got)
        # What a retry after the lease does: the row now carries another token.
        conn.execute('UPDATE "__idempotency" SET token = ? WHERE idem_key = ?', ("someone-else", key_))
        return got

    # Fault injection at the claim (the retry racing this request), not a stand-in for it.
    monkeypatch.setattr(idempotency, "claim", claim_then_lose_it)
    r = c.post(url, json=body, headers={**c.as_admin, "Idempotency-Key": k})
    assert r.status_code == 409, r.text
    assert len(claims) == 1 and todos(c, d) == []


def test_failed_request_frees_its_key(env):
    c, k, d = env, key(), f"failed {uuid.uuid4().hex}"
    bad = c.post("/api/v2/document/ToDo", json={"description": d, "status": "Bogus"},
                 headers={**c.as_admin, "Idempotency-Key": k})
    assert bad.status_code == 417, bad.text
    assert stored(c, "Administrator", k) is None
    again = c.post("/api/v2/document/ToDo", json={"description": d, "status": "Bogus"},
                   headers={**c.as_admin, "Idempotency-Key": k})
    assert again.status_code == 417 and "idempotent-replayed" not in again.headers
    fixed = c.post("/api/v2/document/ToDo", json={"description": d}, headers={**c.as_admin, "Idempotency-Key": k})
    assert fixed.status_code == 200 and "idempotent-replayed" not in fixed.headers
    assert len(todos(c, d)) == 1 and stored(c, "Administrator", k)[0] == 200


def test_key_is_forgotten_after_24_hours(env):
    c, k, d = env, key(), f"expired {uuid.uuid4().hex}"
    url, body = "/api/v2/document/ToDo", {"description": d}
    assert c.post(url, json=body, headers={**c.as_admin, "Idempotency-Key": k}).status_code == 200
    assert c.post(url, json=body, headers={**c.as_admin, "Idempotency-Key": k}).headers["idempotent-replayed"]
    with c.site.db.connect() as conn, conn.transaction():
        conn.execute('UPDATE "__idempotency" SET created = ? WHERE idem_key = ?',
                     (time.time() - idempotency.TTL - 1, k))
    r = c.post(url, json=body, headers={**c.as_admin, "Idempotency-Key": k})
    assert r.status_code == 200 and "idempotent-replayed" not in r.headers
    assert len(todos(c, d)) == 2


def test_expired_keys_are_pruned(env, monkeypatch):
    c, old = env, key()
    assert c.post("/api/v2/document/ToDo", json={"description": "prune"},
                  headers={**c.as_admin, "Idempotency-Key": old}).status_code == 200
    assert stored(c, "Administrator", old) is not None
    with c.site.db.connect() as conn, conn.transaction():
        conn.execute('UPDATE "__idempotency" SET created = ? WHERE idem_key = ?',
                     (time.time() - idempotency.TTL - 1, old))
    monkeypatch.setattr(idempotency, "_last_prune", 0.0)
    assert c.post("/api/v2/document/ToDo", json={"description": "prune 2"},
                  headers={**c.as_admin, "Idempotency-Key": key()}).status_code == 200
    assert stored(c, "Administrator", old) is None


@pytest.mark.parametrize("bad", ["", "x" * 256])
def test_bad_key_is_400_and_nothing_runs(env, bad):
    c, d = env, f"bad key {uuid.uuid4().hex}"
    r = c.post("/api/v2/document/ToDo", json={"description": d}, headers={**c.as_admin, "Idempotency-Key": bad})
    assert r.status_code == 400, r.text
    assert "Idempotency-Key" in r.json()["errors"][0]["message"]
    assert todos(c, d) == []


def test_longest_key_is_accepted(env):
    c, d = env, f"long key {uuid.uuid4().hex}"
    k = "y" * idempotency.MAX_KEY
    for _ in range(2):
        assert c.post("/api/v2/document/ToDo", json={"description": d},
                      headers={**c.as_admin, "Idempotency-Key": k}).status_code == 200
    assert len(todos(c, d)) == 1


class _FinishesMeanwhile:
    """A connection on which the first request stores its answer right after a retry read its
    claim as expired (what PostgreSQL lets happen between the retry's SELECT and UPDATE)."""

    def __init__(self, conn, k):
        self.conn, self.k = conn, k

    def __getattr__(self, name):
        return getattr(self.conn, name)

    def one(self, query, params=()):
        row = self.conn.one(query, params)
        self.conn.execute('UPDATE "__idempotency" SET status = 201, body = ? WHERE idem_key = ?', (b"{}", self.k))
        return row


def test_a_takeover_never_overwrites_an_answer_stored_meanwhile(env):
    c, k = env, key()
    digest = idempotency.fingerprint("POST", "/x", b"", {}, {})
    with c.site.db.connect() as conn, conn.transaction():
        assert isinstance(idempotency.claim(conn, "Administrator", k, digest, time.time() - 2 * idempotency.LEASE),
                          idempotency.Claim)
    with c.site.db.connect() as conn, conn.transaction():
        with pytest.raises(idempotency.IdempotencyKeyInUse):
            idempotency.claim(_FinishesMeanwhile(conn, k), "Administrator", k, digest, time.time())
    assert stored(c, "Administrator", k)[0] == 201


def test_retried_upload_with_a_new_multipart_boundary_is_the_same_request(env):
    c, k, name = env, key(), f"idem-{uuid.uuid4().hex[:8]}.txt"
    answers = []
    for content in (b"hello", b"hello", b"other"):
        # httpx draws a new boundary for every request: the bodies differ, the arguments do not.
        answers.append(c.post("/api/method/upload_file", files={"file": (name, content)},
                              headers={**c.as_admin, "Idempotency-Key": k}))
    first, again, other = answers
    assert first.status_code == 200, first.text
    assert again.headers["idempotent-replayed"] == "true" and again.content == first.content
    assert other.status_code == 422
    files = c.get("/api/v2/document/File", headers=c.as_admin,
                  params={"filters": f'{{"file_name": "{name}"}}', "fields": '["name"]'}).json()["data"]
    assert len(files) == 1


def test_an_answer_too_large_to_keep_is_not_replayed_nor_run_again(env, monkeypatch):
    """Stored answers are bounded: a larger one leaves only its status, and a retry is told the
    request was done (409) instead of running it again or holding a huge row."""
    monkeypatch.setattr(idempotency, "MAX_STORED_ANSWER", 200)
    c, k, d = env, key(), f"big {uuid.uuid4().hex} " + "x" * 300
    first = c.post("/api/v2/document/ToDo", json={"description": d}, headers={**c.as_admin, "Idempotency-Key": k})
    assert first.status_code == 200 and len(first.content) > 200
    with c.site.db.connect() as conn:
        assert conn.value('SELECT LENGTH(body) FROM "__idempotency" WHERE owner = ? AND idem_key = ?',
                          ("Administrator", k)) in (0, None)
    again = c.post("/api/v2/document/ToDo", json={"description": d}, headers={**c.as_admin, "Idempotency-Key": k})
    assert again.status_code == 409, again.text
    assert "answered 200" in again.text and "too large to keep" in again.text
    assert len(todos(c, d)) == 1  # not run again
    # A small answer is still replayed whole.
    small_key = key()
    small = c.post("/api/v2/method/ping", headers={**c.as_admin, "Idempotency-Key": small_key})
    assert c.post("/api/v2/method/ping", headers={**c.as_admin, "Idempotency-Key": small_key}).content \
        == small.content
