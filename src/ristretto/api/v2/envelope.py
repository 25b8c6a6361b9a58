"""The v2 body: ``{"data": ...}`` (plus ``messages`` when the request emitted some, ``debug``
when asked), and the v2 error body: one entry in ``errors`` with the exception's ``type``, its
message, and its traceback only for those who may see tracebacks (never on a 404)."""

from __future__ import annotations

from typing import Any, Callable

from ristretto import exceptions as exc
from ristretto.api.asgi import Response
from ristretto.api.call import Call
from ristretto.api.errors import format_traceback
from ristretto.api.streaming import StreamingResponse, stream_key


def render(call: Call, body: dict[str, Any], status: int,
           stream_error: Callable[[BaseException], Response]) -> Response:
    if call.extra:
        body = {**call.extra, **body}
    if call.ctx.messages:
        body["messages"] = list(call.ctx.messages)
    key = stream_key(body)
    if key is not None:
        return StreamingResponse(body, key, call.ctx.debug, stream_error, debug_key="debug")
    if call.ctx.debug:
        body["debug"] = [{"message": line} for line in call.ctx.debug]
    return Response.json(body, status)


def error(call: Call, err: BaseException, base: dict[str, Any], tracebacks: bool) -> Response:
    # (An unexpected error was logged by the pipeline already.)
    status = err.http_status if isinstance(err, exc.FrappeError) else 500
    entry: dict[str, Any] = {"type": type(err).__name__}
    if isinstance(err, exc.FrappeError):
        text = err.message or getattr(err, "error_message", None)
        if text:
            entry.update(message=text, title=err.title or "Message", indicator="red")
    if tracebacks and status != 404 and not getattr(err, "suppress_traceback", False):
        entry["exception"] = format_traceback(err)
    body: dict[str, Any] = dict(base)
    body["errors"] = [entry]
    if call.ctx.messages:
        body["messages"] = list(call.ctx.messages)
    return Response.json(body, status)
