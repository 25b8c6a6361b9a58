"""Idempotency-Key: a retried write returns the first answer instead of writing again.

A POST, PUT, PATCH or DELETE of an API route (v1, v2, methods, the v2 batch) that carries an
``Idempotency-Key`` header is run at most once per (user, key) within :data:`TTL`:

1. :func:`start` claims the key in a short transaction of its own, committed at once, so every
   worker (and every server on the database) sees it: a row in ``__idempotency`` with the
   request's fingerprint, a random token and a lease (status 0 = still running).
   * no row, or a row past its 24 hours, or a claim whose lease ran out (its worker crashed):
     the request claims it and runs;
   * the key was used with another request (fingerprint of verb, path, query and arguments):
     422, whether the first one still runs or not;
   * the first request with this key still runs: 409;
   * it finished: its stored answer, with ``Idempotent-Replayed: true``, and nothing is run (an
     answer over :data:`MAX_STORED_ANSWER` bytes is not kept: then a 409 saying it was done).
2. :meth:`Claim.finish` stores the answer in the request's own transaction, just before its
   commit: the write and its stored answer commit together, or neither does. A crash between
   the claim and that commit leaves a running claim whose lease expires (:data:`LEASE`).
3. A request that fails is rolled back, and :func:`abandon` releases its claim: nothing was
   written, so a retry with the same key runs afresh (Stripe stores 5xx answers too; here an
   error never wrote anything, so re-running it is safe and lets a retry succeed once the cause
   is gone). Only committed answers are replayed.

Keys are scoped per user (a key of one user never answers another). Guests have no identity
to scope a key by: their requests run as if the header were absent. Rows past their 24 hours
are deleted lazily, at most every :data:`PRUNE_EVERY` seconds per process, by a request that
claims a key. Requests without the header cost the pipeline one dictionary look-up.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from typing import Any

import orjson

from ristretto import exceptions as exc
from ristretto.api.asgi import Response
from ristretto.api.streaming import StreamingResponse

log = logging.getLogger("ristretto")

HEADER = "idempotency-key"
TABLE = "__idempotency"
MAX_KEY = 255
# How long a key is remembered (Stripe's 24 hours).
TTL = 24 * 3600.0
# How long a claim is believed while its request runs. Requests take milliseconds and each
# statement is cut at the site's query_timeout; a claim older than this belongs to a worker
# that died. (A request still running past it finds its claim taken over by a retry when it
# finishes, and is rolled back with a 409 rather than write twice.)
LEASE = 120.0
PRUNE_EVERY = 600.0
# The largest answer stored for replay. A larger one (a long listing asked for with POST, a big
# batch) is not kept: a retry learns that the first request was done and what it answered
# (its status), but not the body (409). Keeps the table's rows, and a replay's memory, bounded.
MAX_STORED_ANSWER = 1024 * 1024
_NOT_KEPT = "x-ristretto-answer-not-kept"   # stored instead of the headers of an answer not kept
_FLAG = "idempotency_claim"
_REPLAYED = (b"idempotent-replayed", b"true")
# Headers of the first answer that are replayed (cookies and the like belong to that exchange).
_KEPT = frozenset({b"content-type", b"cache-control", b"etag", b"location", b"content-disposition"})
_last_prune = 0.0


class IdempotencyKeyInvalid(exc.FrappeError):
    suppress_traceback = True  # the client's doing, not a fault of the server
    http_status = 400


class IdempotencyKeyInUse(exc.FrappeError):
    suppress_traceback = True  # the client's doing, not a fault of the server
    http_status = 409


class IdempotentAnswerNotKept(exc.FrappeError):
    suppress_traceback = True
    http_status = 409


class IdempotencyKeyReused(exc.FrappeError):
    suppress_traceback = True  # the client's doing, not a fault of the server
    http_status = 422


class Claim:
    """A key this request holds: stored with its answer (:meth:`finish`) or released."""
    __slots__ = ("owner", "key", "token")

    def __init__(self, owner: str, key: str, token: str):
        self.owner, self.key, self.token = owner, key, token

    def finish(self, conn: Any, response: Response) -> None:
        """Store the answer in the request's transaction (called just before its commit)."""
        if isinstance(response, StreamingResponse):
            # A listing streamed after the commit (only reads stream): nothing to keep, and
            # nothing wrong with running it again.
            conn.execute(f'DELETE FROM "{TABLE}" WHERE owner = ? AND idem_key = ? AND token = ?',
                         (self.owner, self.key, self.token))
            return
        body = bytes(response.body)
        if len(body) > MAX_STORED_ANSWER:
            headers, body = [[_NOT_KEPT, str(len(body))]], b""
        else:
            headers = [[n.decode("latin-1"), v.decode("latin-1")] for n, v in response.headers if n in _KEPT]
        stored = conn.execute(
            f'UPDATE "{TABLE}" SET status = ?, headers = ?, body = ? '
            "WHERE owner = ? AND idem_key = ? AND token = ?",
            (response.status, orjson.dumps(headers).decode(), body, self.owner, self.key, self.token))
        if not stored:
            raise IdempotencyKeyInUse(
                "This request ran longer than its Idempotency-Key claim and a retry with the same key "
                "took the key over; this request was rolled back so that it does not write twice.",
                title="Idempotency-Key in use")

    def release(self, conn: Any) -> None:
        """Give the key back in a transaction of its own (the request wrote nothing)."""
        try:
            with conn.transaction(write=True):
                conn.execute(f'DELETE FROM "{TABLE}" WHERE owner = ? AND idem_key = ? AND token = ?',
                             (self.owner, self.key, self.token))
        except Exception:  # noqa: BLE001 - the lease frees the key anyway; the error answer matters more
            log.exception("could not release an Idempotency-Key claim")


def fingerprint(method: str, path: str, query: bytes, form: dict[str, Any], files: dict[str, Any]) -> str:
    """What makes two requests "the same": verb, path, query string and arguments (as parsed,
    so key order and white space of a JSON body do not matter, nor a multipart boundary)."""
    h = hashlib.sha256()
    h.update(orjson.dumps([method, path, query.decode("latin-1")]))
    try:
        h.update(orjson.dumps(form, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=repr))
    except (orjson.JSONEncodeError, TypeError):
        h.update(repr(sorted(form.items(), key=lambda kv: str(kv[0]))).encode("utf-8", "replace"))
    for name in sorted(files):
        f = files[name]
        h.update(orjson.dumps([name, f.filename, f.content_type]))
        h.update(hashlib.sha256(f.data).digest())
    return h.hexdigest()


def start(call: Any, conn: Any) -> Claim | Response | None:
    """Claim the request's key before its handler runs (the pipeline calls this only when the
    header is present): a :class:`Claim`, the stored answer to replay, or None (no key applies).
    Refusals (bad key, 409, 422) are raised."""
    req = call.request
    ctx = call.ctx
    if ctx.user == "Guest" or call.password_work is not None or call.route is None or call.route.api == "page":
        # Guests cannot be told apart; the second pass of a password check and HTML pages are
        # not API writes.
        return None
    key = req.headers[HEADER]
    if not key or len(key) > MAX_KEY or not key.isprintable():
        raise IdempotencyKeyInvalid(
            f"The Idempotency-Key header must be 1 to {MAX_KEY} printable characters", title="Invalid request")
    digest = fingerprint(req.method, req.path, req.query_string, call.form, call.files)
    now = time.time()
    conn.begin(write=True)
    try:
        _prune(conn, now)
        found = claim(conn, ctx.user, key, digest, now)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    if isinstance(found, Claim):
        ctx.flags[_FLAG] = found
    return found


def abandon(ctx: Any, conn: Any) -> None:
    """After a failed request was rolled back: release its claim, if it held one."""
    claim = ctx.flags.pop(_FLAG, None)
    if claim is not None:
        claim.release(conn)


def claim(conn: Any, owner: str, key: str, digest: str, now: float) -> Claim | Response:
    """Claim ``key`` of ``owner`` for a request of fingerprint ``digest`` in the caller's write
    transaction: a :class:`Claim`, or the stored answer; raises 409 / 422 (see the module)."""
    token = secrets.token_hex(16)
    for _ in range(2):
        if conn.execute(f'INSERT INTO "{TABLE}" (owner, idem_key, fingerprint, token, status, lease, created) '
                        "VALUES (?, ?, ?, ?, 0, ?, ?) ON CONFLICT (owner, idem_key) DO NOTHING",
                        (owner, key, digest, token, now + LEASE, now)):
            return Claim(owner, key, token)
        row = conn.one(f'SELECT fingerprint, token, status, lease, created, headers, body FROM "{TABLE}" '
                       "WHERE owner = ? AND idem_key = ?", (owner, key))
        if row is not None:
            break
        # Released between the two statements (PostgreSQL): claim it again.
    else:
        raise _in_use()
    stored_digest, old_token, status, lease, created, headers, body = row
    if created + TTL <= now or (status == 0 and lease <= now):
        # Forgotten (past 24 hours) or its worker died: take it over, unless another retry
        # did so first (the token changed).
        # The condition is checked again on the row as it is when the update runs: on PostgreSQL
        # a first request finishing at this moment has just stored its answer, which must stay.
        if conn.execute(f'UPDATE "{TABLE}" SET fingerprint = ?, token = ?, status = 0, lease = ?, created = ?, '
                        "headers = NULL, body = NULL WHERE owner = ? AND idem_key = ? AND token = ? "
                        "AND (created <= ? OR (status = 0 AND lease <= ?))",
                        (digest, token, now + LEASE, now, owner, key, old_token, now - TTL, now)):
            return Claim(owner, key, token)
        raise _in_use()
    if stored_digest != digest:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used with a different request (another method, path or "
            "body); use a new key for a new request.", title="Idempotency-Key reused")
    if status == 0:
        raise _in_use()
    kept = orjson.loads(headers or "[]")
    if kept and kept[0][0] == _NOT_KEPT:
        raise IdempotentAnswerNotKept(
            f"The request with this Idempotency-Key was already done (it answered {int(status)}); its "
            f"answer ({kept[0][1]} bytes) was too large to keep, so it cannot be replayed. Nothing was run "
            "again.", title="Idempotent answer not kept")
    response = Response(bytes(body or b""), int(status))
    response.headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in kept]
    response.headers.append(_REPLAYED)
    return response


def _in_use() -> IdempotencyKeyInUse:
    return IdempotencyKeyInUse("A request with this Idempotency-Key is still running; retry once it has "
                               "finished to get its answer.", title="Idempotency-Key in use")


def _prune(conn: Any, now: float) -> None:
    global _last_prune
    if now - _last_prune < PRUNE_EVERY:
        return
    _last_prune = now
    conn.execute(f'DELETE FROM "{TABLE}" WHERE created < ?', (now - TTL,))
