"""Error responses in Frappe's v1 shape.

``exc_type`` is always present; ``exception`` and ``exc`` (tracebacks) only for
those :func:`may_see_tracebacks` admits and never for 404s; ``_server_messages`` is a
JSON string of JSON strings (Frappe's double encoding); ``_error_message`` carries
permission messages. Unexpected exceptions are 500s whose details are logged, and
shown only to those who may see tracebacks. Every traceback that leaves the server
(error bodies, ``bulk_update``'s ``failed_docs``) is decided by ``may_see_tracebacks``
and written by ``format_traceback``.
"""

from __future__ import annotations

import logging
import secrets
import traceback
from typing import Any

import orjson

from ristretto import exceptions as exc
from ristretto.api.asgi import Response

log = logging.getLogger("ristretto")


def may_see_tracebacks(ctx: Any, config: dict[str, Any]) -> bool:
    """The traceback rule: only Administrator and System Managers see server tracebacks, and
    only while the site's ``allow_error_traceback`` is on (Frappe shows them to every System
    User; a traceback tells how the server is built)."""
    return (ctx.user == "Administrator" or "System Manager" in ctx.roles) \
        and bool(config.get("allow_error_traceback", True))


def log_unexpected(error: BaseException) -> None:
    log.error("unhandled error", exc_info=error)


def format_traceback(error: BaseException) -> str:
    return "".join(traceback.format_exception(type(error), error, error.__traceback__))


def _message_log(messages: list[dict], error: BaseException | None) -> list[dict]:
    out = list(messages)
    if isinstance(error, exc.FrappeError) and error.message:
        out.append({"message": error.message, "title": error.title or "Message", "indicator": "red",
                    "raise_exception": 1, "__frappe_exc_id": secrets.token_hex(5)})
    return out


def encode_messages(messages: list[dict]) -> str:
    return orjson.dumps([orjson.dumps(m).decode() for m in messages]).decode()


def error_response(error: BaseException, *, messages: list[dict], tracebacks: bool,
                   base: dict[str, Any] | None = None, logged: bool = False) -> Response:
    """Render ``error`` as Frappe's v1 error body (an unexpected one is logged unless ``logged``)."""
    if isinstance(error, exc.FrappeError):
        status = error.http_status
        exc_type = type(error).__name__
        module = "frappe.exceptions"
        text = error.message
    else:
        status = 500
        exc_type = type(error).__name__
        module = type(error).__module__
        text = str(error)
        if not logged:
            log_unexpected(error)
    body: dict[str, Any] = dict(base or {})
    body["exc_type"] = exc_type
    show_tb = tracebacks and status != 404 and not getattr(error, "suppress_traceback", False)
    if show_tb:
        tb = format_traceback(error)
        body["exception"] = f"{module}.{exc_type}: {text}" if text else f"{module}.{exc_type}"
        body["exc"] = orjson.dumps([tb]).decode()
    msgs = _message_log(messages, error)
    if msgs:
        body["_server_messages"] = encode_messages(msgs)
    error_message = getattr(error, "error_message", None)
    if error_message:
        body["_error_message"] = error_message
    return Response.json(body, status)
