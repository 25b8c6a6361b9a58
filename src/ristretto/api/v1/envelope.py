"""The v1 body: handlers' dicts (``message``, ``data``) with the request's extra keys, and
Frappe's v1 error body (``exc_type``, ``_server_messages``, ...; ``ristretto.api.errors``)."""

from __future__ import annotations

from typing import Any, Callable

from ristretto.api.asgi import Response, dumps
from ristretto.api.call import Call
from ristretto.api.errors import error_response
from ristretto.api.streaming import StreamingResponse, stream_key


def render(call: Call, body: dict[str, Any], status: int,
           stream_error: Callable[[BaseException], Response]) -> Response:
    if call.extra:
        body = {**call.extra, **body}
    key = stream_key(body)
    if key is not None:
        return StreamingResponse(body, key, call.ctx.debug, stream_error)
    if call.ctx.debug:
        body["_debug_messages"] = dumps(call.ctx.debug).decode()
    return Response.json(body, status)


def error(call: Call, err: BaseException, base: dict[str, Any], tracebacks: bool) -> Response:
    return error_response(err, messages=call.ctx.messages, tracebacks=tracebacks, base=base, logged=True)
