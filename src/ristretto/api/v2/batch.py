"""``POST /api/v2/batch``: several v2 document requests that succeed or fail together.

The body is PocketBase's batch shape, ``{"requests": [{"method": "POST", "url":
"/api/v2/document/ToDo", "body": {...}}, ...]}``. Every step is a request to a v2 document route
(``/api/v2/document/...``: insert, update, delete, document methods, bulk routes, reads of one
document), matched by the v2 route table itself and run by that route's own handler, in order,
as the caller, in the batch's one transaction. The answer is ``{"data": [{"status", "body"}...]}``
in the order of the steps, each ``body`` what the step would have answered on its own.

A step that fails rolls the whole batch back: nothing is written. The error answer is that
step's own error (its status and v2 ``errors`` entry, with existence masking as everywhere) plus
``failed_step``: its index, method and URL. A read step (GET) runs inside a savepoint rolled back
after it, so it never writes, as a GET never does. A listing step reads in the batch's transaction
(it sees the earlier steps) and is never streamed: its page holds at most ``listing.STREAM_ABOVE``
rows, ``has_next_page`` saying whether more follow. Conditional headers of the batch
request are not passed to its steps (``If-Match`` names one document).

The number of steps is capped by the site's ``max_batch_requests``; a batch inside a batch is
refused.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import unquote

import orjson

from ristretto import exceptions as exc
from ristretto.api.args import parse_form
from ristretto.api.asgi import Request, Response, dumps
from ristretto.api.call import Call
from ristretto.api.routing import MethodNotAllowed, Router
from ristretto.api.v2 import documents
from ristretto.api.v2.args import json_arg
from ristretto.site.settings import BY_NAME, setting

log = logging.getLogger("ristretto")
DEFAULT_MAX: int = BY_NAME["max_batch_requests"].default
_DOCUMENTS = "/api/v2/document/"
_VERBS = ("POST", "PUT", "PATCH", "DELETE", "GET")
_KEYS = frozenset({"method", "url", "body"})
# Longest step URL (a document name is at most 140 characters; filters belong in the body).
MAX_URL = 4096
# Headers of the batch request a step does not inherit: its own body's, and the conditional
# and idempotency headers, which speak of the batch (or of one document), not of every step.
_NOT_INHERITED = frozenset({b"content-type", b"content-length", b"if-match", b"if-none-match",
                            b"if-modified-since", b"if-unmodified-since", b"idempotency-key"})
_JSON = [(b"content-type", b"application/json")]
_router: Router | None = None


class BatchRequestError(exc.ValidationError):
    """The batch body itself is malformed (the request's shape, before any step ran)."""
    http_status = 400
    suppress_traceback = True


def run(call: Call) -> dict[str, Any]:
    """Check every step, then run them in order in the request's transaction."""
    steps = _steps(call)
    ctx = call.ctx
    answers = []
    for index, (verb, url, route, params, sub) in enumerate(steps):
        before = len(ctx.messages)
        try:
            result = _read(ctx, route, sub, params) if verb == "GET" else route.handler(sub, **params)
        except Exception:
            # The pipeline rolls everything back and answers this step's error; the body says which.
            call.extra["failed_step"] = {"index": index, "method": verb, "url": url}
            raise
        answers.append(_answer(ctx, route, sub, result, before))
    return {"data": answers}


def _steps(call: Call) -> list[tuple[str, str, Any, dict[str, str], Call]]:
    """Every step checked and matched to its route before the first one runs."""
    try:
        requests = json_arg(call.form, "requests", list)
    except exc.FrappeValueError:
        requests = None
    if requests is None:
        raise BatchRequestError('A batch needs "requests": a list of {"method", "url", "body"} objects',
                                title="Invalid batch")
    cap = _cap(call.site.config)
    if not requests:
        raise BatchRequestError('"requests" is empty: a batch needs at least one step', title="Invalid batch")
    if len(requests) > cap:
        raise exc.ValidationError(f"A batch may hold at most {cap} requests (this one has {len(requests)})",
                                  title="Batch too large")
    steps = []
    for index, step in enumerate(requests):
        where = f"requests[{index}]"
        try:
            steps.append(_step(call, step, where))
        except exc.FrappeError:
            call.extra["failed_step"] = {"index": index}
            raise
    return steps


def _step(call: Call, step: Any, where: str) -> tuple[str, str, Any, dict[str, str], Call]:
    if not isinstance(step, dict):
        raise BatchRequestError(f'{where} must be an object {{"method", "url", "body"}}', title="Invalid batch")
    unknown = sorted(k for k in step if k not in _KEYS)
    if unknown:
        raise BatchRequestError(f"{where} has unknown keys: {', '.join(map(str, unknown[:5]))} "
                                "(a step has method, url and body)", title="Invalid batch")
    verb, url, body = step.get("method"), step.get("url"), step.get("body")
    if not isinstance(verb, str) or verb.upper() not in _VERBS:
        raise BatchRequestError(f"{where}.method must be one of {', '.join(_VERBS)}", title="Invalid batch")
    verb = verb.upper()
    if not isinstance(url, str) or not url:
        raise BatchRequestError(f"{where}.url must be the path of a v2 document route", title="Invalid batch")
    if len(url) > MAX_URL:
        raise exc.ValidationError(f"{where}.url is longer than {MAX_URL} characters", title="URL too long")
    if body is not None and not isinstance(body, dict):
        raise BatchRequestError(f"{where}.body must be a JSON object", title="Invalid batch")
    raw_path, _, query = url.partition("?")
    query = query.partition("#")[0]
    path = unquote(raw_path.partition("#")[0])
    if path.rstrip("/") == "/api/v2/batch":
        raise BatchRequestError(f"{where}: a batch cannot contain a batch", title="Invalid batch")
    found = None
    if path.startswith(_DOCUMENTS):
        try:
            found = _documents_router().match(path, verb)
        except MethodNotAllowed:
            raise BatchRequestError(f"{where}: {url} does not answer {verb}", title="Invalid batch") from None
    if found is None:
        raise BatchRequestError(f"{where}.url must name a v2 document route ({_DOCUMENTS}<doctype>[/<name>...]), "
                                f"not {url[:200]}", title="Invalid batch")
    route, params = found
    return verb, url, route, params, _sub_call(call, verb, path, query, body, route, where)


def _sub_call(call: Call, verb: str, path: str, query: str, body: dict | None, route: Any, where: str) -> Call:
    """The step as a request of its own: the batch's caller, the step's verb, path and body."""
    parent = call.request
    scope = dict(parent.scope)
    scope["method"], scope["path"], scope["query_string"] = verb, path, query.encode("utf-8")
    scope["headers"] = [h for h in parent.scope.get("headers", ()) if h[0].lower() not in _NOT_INHERITED] + _JSON
    # Encoded again so that the step's arguments are read exactly as a request of its own.
    try:
        raw = dumps(body) if body is not None else b""
    except exc.ValidationError:  # deeper than JSON is written (254 levels)
        raise exc.ValidationError(f"{where}.body nests values too deeply", title="Invalid batch") from None
    req = Request(scope, raw)
    req.user = parent.user
    form, files = parse_form(req)
    # Never a stream: a listing step must see the batch's earlier steps, in its transaction.
    return Call(call.ctx, req, form, files, call.site, sid=call.sid, auth_via=call.auth_via,
                auth_version=call.auth_version, methods=call.methods, route=route, stream=False)


def _read(ctx: Any, route: Any, sub: Call, params: dict[str, str]) -> Any:
    """A GET step: run, then undo whatever it wrote (a GET method may write; a read never commits)."""
    conn = ctx.db
    conn.execute("SAVEPOINT batch_read")
    try:
        return route.handler(sub, **params)
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK TO SAVEPOINT batch_read")
            conn.execute("RELEASE SAVEPOINT batch_read")


def _answer(ctx: Any, route: Any, sub: Call, result: Any, before: int) -> dict[str, Any]:
    """A step's status and body, as it would have answered alone (its messages with it)."""
    if isinstance(result, Response):
        body: Any = orjson.loads(result.body) if result.body else None
        status = result.status
    else:
        body = {**sub.extra, **result} if sub.extra else result
        status = route.status
    if len(ctx.messages) > before and isinstance(body, dict):
        body = {**body, "messages": ctx.messages[before:]}
        del ctx.messages[before:]
    return {"status": status, "body": body}


def _cap(config: dict[str, Any]) -> int:
    cap = setting(config, "max_batch_requests")
    if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
        log.warning("max_batch_requests in site_config.json must be a whole number above 0; using %d",
                    DEFAULT_MAX)
        return DEFAULT_MAX
    return cap


def _documents_router() -> Router:
    """The v2 routes of documents, from the v2 route table (imported here: it imports this module)."""
    global _router
    if _router is None:
        from ristretto.api.v2.routes import ROUTES
        _router = Router([r for r in ROUTES if r.pattern.startswith(_DOCUMENTS) and not r.fallback])
    return _router
