"""v2 document routes: ``/api/v2/document/<doctype>[/<name>[/method/<method>]]`` and the
per-DocType bulk routes.

Thin adapters: arguments are read and shaped here (``ristretto.api.v2.args``), everything else
is the model's (``ristretto.model.document``, ``listing``, ``bulk``) and the document methods'
(``ristretto.api.docmethods``), the same functions v1 and the RPC methods call, so permissions,
permission levels, timestamps and every rule of a document apply unchanged. Conditional requests
as on v1 (``ristretto.api.conditional``): reads and writes carry the document's ``ETag``;
``If-Match`` guards PATCH, PUT, DELETE and document methods (412), ``If-None-Match`` a read (304).
"""

from __future__ import annotations

from typing import Any

from ristretto.api import conditional, docmethods
from ristretto.api.asgi import Response
from ristretto.api.call import Call
from ristretto.api.v2.args import include_arg, json_arg, payload, text_arg, truthy_arg
from ristretto.exceptions import FrappeValueError
from ristretto.model import bulk, document, etags, lifecycle, listing
from ristretto.model.context import Context
from ristretto.model.document import Document
from ristretto.model.listing import ListStream

# ``include=count``: the list's row count beside it, counted up to this many rows (a client
# shows "1000+" past it) so that counting never costs more than a page of a large table.
COUNT_CAP = 1000
# What ``GET``, ``QUERY`` and ``POST`` on a document method need: read for the reads, write else.
_READS = frozenset({"GET", "QUERY"})


def shown(ctx: Context, doc: Document) -> dict[str, Any]:
    """A document as v2 answers it: the fields the user may read, nulls included. (Link values
    are stored as text, so a Link to an autoincrement DocType reads as text, as Frappe's v2 sends
    it.)"""
    return document.visible_dict(ctx, doc)


def list_docs(call: Call, doctype: str) -> dict[str, Any]:
    """A page of rows and ``has_next_page`` (one row more is fetched than returned).

    ``start`` / ``limit`` (default 20; ``limit_start`` / ``limit_page_length`` are aliases);
    ``limit=0`` lists every row, as v1 does, up to the site's ``max_page_length``. A large page
    is streamed; ``has_next_page`` then follows the rows. A child DocType is listed through its
    ``parent`` DocType, as on v1.

    Keyset paging: when the listing is ordered by columns of the DocType (the default order
    included) and has a next page, ``next_cursor`` names the last row; ``after=<next_cursor>``
    (with the same ``order_by``) lists the rows after it, found by an index seek however deep
    (``ristretto.model.cursors``). ``next_cursor`` is null on the last page and for listings a
    cursor cannot follow (group_by, aggregates, distinct, a sort on joined columns or aliases).
    """
    form, ctx = call.form, call.ctx
    fields = json_arg(form, "fields", list)
    filters = json_arg(form, "filters", (list, dict))
    or_filters = json_arg(form, "or_filters", (list, dict))
    order_by = text_arg(form, "order_by")
    group_by = text_arg(form, "group_by")
    include = include_arg(form, ("count",))
    offset = listing.parse_offset(form["start"] if "start" in form else form.get("limit_start"))
    after = text_arg(form, "after")
    if after is not None and offset:
        raise FrappeValueError("'after' (a cursor) cannot be combined with 'start' / 'limit_start'",
                               title="Invalid argument")
    size = listing.page_length(ctx, form["limit"] if "limit" in form else form.get("limit_page_length"))
    if not call.stream and (size is None or size > listing.STREAM_ABOVE):
        # Not streamed (a batch step): a page is held in memory, so it is bounded; has_next_page
        # tells the client to page on.
        size = listing.STREAM_ABOVE
    rows = listing.get_list(
        ctx, doctype, fields=fields, filters=filters, or_filters=or_filters, order_by=order_by, group_by=group_by,
        limit=None if size is None else size + 1, offset=offset,
        as_dict=truthy_arg(form.get("as_dict"), True), debug=truthy_arg(form.get("debug"), False),
        parent=text_arg(form, "parent"), stream=call.stream, keyset=True, after=after)
    has_next: Any
    cursor: Any = None
    if isinstance(rows, ListStream):
        has_next = rows.page(size).has_next_page if size is not None else False
        cursor = rows.next_cursor if size is not None else None
    else:
        has_next = size is not None and len(rows) > size
        if has_next:
            if isinstance(rows, listing.KeyedPage):
                cursor = rows.cursor_after(size - 1)
            rows = rows[:size]
    body: dict[str, Any] = {"data": rows, "has_next_page": has_next, "next_cursor": cursor}
    if "count" in include:
        count = listing.get_count(ctx, doctype, filters=filters, or_filters=or_filters, limit=COUNT_CAP,
                                  parent=text_arg(form, "parent"))
        body["count"] = count
        body["count_capped"] = count == COUNT_CAP
    return body


def create_doc(call: Call, doctype: str) -> dict[str, Any]:
    """Insert; a ``name`` (text or integer) is the document's name as given (the naming rule is
    skipped), as in Frappe's v2."""
    ctx = call.ctx
    values = payload(call.form)
    name = values.pop("name", None)
    given = isinstance(name, (str, int)) and not isinstance(name, bool) and name != ""
    doc = document.insert(ctx, doctype, values, name=name if given else None, force_name=given)
    conditional.tag(call, doc)
    return {"data": shown(ctx, doc)}


def read_doc(call: Call, doctype: str, name: str) -> dict[str, Any] | Response:
    """The document with its ``ETag``; 304 when ``If-None-Match`` names it (checked after the
    permission check, so a 304 tells nothing to who may not read the document)."""
    ctx = call.ctx
    doc = document.get_doc(ctx, doctype, name)
    current = etags.etag(ctx, doc).encode("ascii")
    cond = conditional.preconditions(call.request)
    if cond is not None and etags.check(ctx, doc, cond, safe=True):
        return conditional.not_modified(current)
    call.headers.append((b"etag", current))
    return {"data": shown(ctx, doc)}


def copy_doc(call: Call, doctype: str, name: str) -> dict[str, Any]:
    """A readable document as a new, unsaved one to post back ("duplicate"): the model's copy."""
    return {"data": lifecycle.copy_doc(call.ctx, doctype, name)}


def update_doc(call: Call, doctype: str, name: str) -> dict[str, Any]:
    """PATCH or PUT: a partial update (a child row saves its parent; ``modified`` is checked
    when sent)."""
    ctx = call.ctx
    values = payload(call.form)
    values.pop("name", None)
    doc = document.update(ctx, doctype, name, values, expect=conditional.expect(call))
    conditional.tag(call, doc)
    return {"data": shown(ctx, doc)}


def delete_doc(call: Call, doctype: str, name: str) -> dict[str, Any]:
    document.delete(call.ctx, doctype, name, expect=conditional.expect(call))
    return {"data": "ok"}


def doc_method(call: Call, doctype: str, name: str, method: str) -> dict[str, Any]:
    """A whitelisted method of a stored document, as on v1 (``docmethods.call_stored``: read for
    GET/QUERY, for POST write or the method's own right, ``If-Match``); the request's arguments
    are its keyword arguments; the document as it is afterwards in ``docs``."""
    verb = "GET" if call.request.method in _READS else call.request.method
    doc, result = docmethods.call_stored(call, doctype, name, method, verb)
    return answer_with_doc(call.ctx, doc, result)


def answer_with_doc(ctx: Context, doc: Document, result: Any) -> dict[str, Any]:
    """A document method's answer: its result in ``data`` (none when it returned nothing) and
    the document after it in ``docs``."""
    after = docmethods.current(ctx, doc, result)
    body: dict[str, Any] = {}
    if result is not None:
        body["data"] = docmethods.to_json(ctx, result)
    body["docs"] = [shown(ctx, after)]
    return body


def bulk_delete_docs(call: Call, doctype: str) -> dict[str, Any]:
    """``{"names": [...]}``: each deleted on its own; the failures reported, not raised."""
    return {"data": bulk.delete_many(call.ctx, json_arg(call.form, "names", list), doctype)}


def bulk_update_docs(call: Call, doctype: str) -> dict[str, Any]:
    """``{"docs": [{"name": ..., <field>: ...}]}``: each saved on its own; the saved ones in ``docs``."""
    ctx = call.ctx
    summary, saved = bulk.update_many(ctx, json_arg(call.form, "docs", list), doctype)
    return {"data": summary, "docs": [shown(ctx, d) for d in saved]}
