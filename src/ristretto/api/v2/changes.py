"""v2 change routes: delta sync (``/api/v2/changes``) and the live stream (``/api/v2/stream``).

Thin adapters over ``ristretto.model.changefeed``: arguments are read here, what the caller may
see is the model's. The stream's handler only checks the request (who, which DocTypes, where
to start) and answers an :class:`~ristretto.api.events.EventStream`, which the App then sends
without holding the worker (``ristretto.api.events``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from ristretto.api.call import Call
from ristretto.api.events import EventStream
from ristretto.api.v2 import envelope
from ristretto.api.v2.args import json_arg, truthy_arg
from ristretto.exceptions import FrappeValueError, PermissionError
from ristretto.model import changefeed, changelog


def _doctypes(call: Call) -> list[str] | None:
    """``doctype``: one name, repeated in the query string, or a JSON list."""
    form = call.form
    value = form.get("doctype")
    if value is None or value == "":
        return None
    if isinstance(value, list) or (isinstance(value, str) and value.lstrip().startswith("[")):
        return json_arg(form, "doctype", list)
    if not isinstance(value, str):
        raise FrappeValueError("'doctype' must name DocTypes", title="Invalid argument")
    query = call.request.query_string
    if isinstance(query, bytes):
        query = query.decode("utf-8", "replace")
    # form_dict keeps the first of repeated keys; a feed of several DocTypes repeats ``doctype``.
    # (The number of fields was capped when the form was parsed.)
    repeated = [v for k, v in parse_qsl(query or "", keep_blank_values=False, max_num_fields=2000) if k == "doctype"]
    return repeated or [value]


def changes(call: Call) -> dict[str, Any]:
    """Every change after ``since`` the caller may read, oldest first, a page at a time."""
    form, ctx = call.form, call.ctx
    since = changefeed.parse_cursor(form.get("since"))
    limit = changefeed.parse_limit(form.get("limit"))
    doctypes = changefeed.check_doctypes(ctx, _doctypes(call))
    result = changefeed.page(ctx, since, limit, doctypes, include_docs=truthy_arg(form.get("include_docs"), False))
    return {"data": result.data, "next_cursor": str(result.next_cursor), "has_next_page": result.has_next_page}


def stream(call: Call) -> EventStream:
    """Server-sent events of the changes the caller may read: after ``Last-Event-ID`` (header, or
    ``last_event_id`` in the query) when given, else from now on."""
    form, ctx = call.form, call.ctx
    if ctx.user == "Guest":
        # A stream holds one of the worker's few stream places for up to its lifetime: not for
        # anonymous callers.
        raise PermissionError("Log in to follow the stream of changes", title="Not permitted")
    doctypes = changefeed.check_doctypes(ctx, _doctypes(call))
    last = call.request.header("last-event-id")
    name = "Last-Event-ID"
    if last is None or last == "":
        last, name = form.get("last_event_id"), "last_event_id"
    changelog.sequence(ctx.db)
    if last is None or last == "":
        cursor = changelog.head(ctx.db)
    else:
        cursor = changefeed.parse_cursor(last, name)
        changefeed.check_cursor(ctx, cursor)
    return EventStream(user=ctx.user, roles=ctx.roles, user_type=ctx.user_type, doctypes=doctypes,
                       cursor=cursor, include_docs=truthy_arg(form.get("include_docs"), False),
                       refuse=lambda error: envelope.error(call, error, {}, False))
