"""How each route is described: a small :class:`Spec` per route handler, as data.

The generator (:mod:`.generate`) walks the route table; for each route it takes the handler's own
``openapi`` attribute (a :class:`Spec` a module may attach to a handler it adds), else the entry of
:data:`SPECS` below, else a plain description made from the route itself (its path parameters,
its verbs and the first line of the handler's docstring). A new route therefore appears in the
description without any change here; a Spec only makes it more precise.

A Spec with a ``right`` is a document route: the generator writes one path per DocType the caller
holds that right on (``{doctype}`` filled in), with that DocType's schemas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ristretto.api.v1 import resource
from ristretto.api.v2 import batch, changes, doctypes, documents
from ristretto.api.v2 import methods as v2_methods

# Query parameters shared by several routes (name -> schema and description). Values that are
# JSON (lists, filters) travel as JSON text in a query string.
_JSON_TEXT = "JSON text"
QUERY_PARAMS: dict[str, tuple[dict[str, Any], str]] = {
    "fields": ({"type": "string"}, f'{_JSON_TEXT}: a list of fieldnames, e.g. ["name", "modified"]'),
    "filters": ({"type": "string"}, f'{_JSON_TEXT}: filters, e.g. [["status", "=", "Open"]] or {{"status": "Open"}}'),
    "or_filters": ({"type": "string"}, f"{_JSON_TEXT}: filters of which one must match"),
    "order_by": ({"type": "string"}, 'Sort, e.g. "modified desc"'),
    "group_by": ({"type": "string"}, "A fieldname to group by"),
    "limit_start": ({"type": "integer", "minimum": 0}, "Rows to skip"),
    "limit_page_length": ({"type": "integer", "minimum": 0}, "Rows per page (0: all)"),
    "start": ({"type": "integer", "minimum": 0}, "Rows to skip"),
    "limit": ({"type": "integer", "minimum": 0}, "Rows per page"),
    "txt": ({"type": "string"}, "Text to search for"),
    "distinct": ({"type": "boolean"}, "Count distinct names"),
    "after": ({"type": "string", "maxLength": 4096},
              "A cursor: the next_cursor of the previous page; the rows after it, with the same order_by "
              "(not with start)"),
}


def _param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


_DOCTYPE_FILTER = _param("doctype", {"type": "string"}, "Only changes of this DocType (repeat it, or a JSON list)")
_INCLUDE_DOCS = _param("include_docs", {"type": "integer", "enum": [0, 1]},
                       "1: each change carries the document as it is now (doc)")
_CHANGE = {"type": "object", "required": ["seq", "doctype", "name", "action"], "properties": {
    "seq": {"type": "integer", "description": "Position in the change log (the cursor)"},
    "doctype": {"type": "string"}, "name": {"type": "string"},
    "action": {"type": "string", "enum": ["insert", "update", "submit", "cancel", "amend", "delete", "rename"]},
    "at": {"type": "string"}, "user": {"type": ["string", "null"]},
    "fields": {"type": ["array", "null"], "items": {"type": "string"},
               "description": "Changed fields of an update (those the caller may read)"},
    "old_name": {"type": ["string", "null"]}, "docstatus": {"type": ["integer", "null"]},
    "doc": {"type": "object", "description": "With include_docs=1"}}}


@dataclass(frozen=True)
class Spec:
    """The description of one route (attach one to a handler as ``handler.openapi``).

    ``right``: the DocType right the caller needs ("read", "create", "write", "delete"...): the
    route is described once per DocType they hold it on; None: a route not tied to a DocType.
    ``body``: the JSON body: "new" (a new document), "change" (changed fields of a document),
    "names" (``{"names": [...]}``), "docs" (``{"docs": [{"name": ..., ...}]}``), "args" (free
    keyword arguments) or None. ``query``: names from :data:`QUERY_PARAMS` or whole parameter
    objects. ``result``: what ``data`` (v2) or the v1 envelope holds: "doc", "docs", "count",
    "any". ``singles``: also for Single DocTypes; ``guests``: also for Guests.
    """
    summary: str = ""
    right: str | None = None
    body: str | None = None
    query: tuple[Any, ...] = ()
    result: str = "any"
    singles: bool = False
    guests: bool = True
    # Routes not tied to a DocType may give their whole answer's schema, their JSON body's schema
    # and the answer's media type (a live stream is ``text/event-stream``).
    answer: dict[str, Any] | None = None
    request: dict[str, Any] | None = None
    media: str = "application/json"
    # A paged list (v2): the answer has ``has_next_page`` and ``next_cursor`` beside ``data``.
    description: str = ""
    paged: bool = False


_LIST_V1 = ("fields", "filters", "or_filters", "order_by", "group_by", "limit_start", "limit_page_length")
_LIST_V2 = ("fields", "filters", "or_filters", "order_by", "group_by", "start", "limit", "after")
_LIST_V2_TEXT = (
    "A page of rows (`limit`, default 20) and `has_next_page`. To page through everything, send "
    "`after=<next_cursor>` of the previous page with the same `order_by`: the next page is found by "
    "an index seek, so a page deep in the table costs what the first one does (`start` skips rows "
    "one by one). `next_cursor` is null on the last page and for listings a cursor cannot follow "
    "(group_by, aggregates, distinct, a sort on joined columns or aliases). Cursors are opaque; one "
    "made for another DocType or order_by is refused (417).")
PAGE_PROPERTIES = {
    "has_next_page": {"type": "boolean"},
    "next_cursor": {"type": ["string", "null"], "description": "Send as `after` for the next page"}}

SPECS: dict[Any, Spec] = {
    resource.list_docs: Spec("List documents", "select", query=_LIST_V1, result="docs"),
    resource.create_doc: Spec("Create a document", "create", body="new", result="doc"),
    resource.read_doc: Spec("Read a document", "read", result="doc", singles=True),
    resource.update_doc: Spec("Change a document", "write", body="change", result="doc", singles=True),
    resource.delete_doc: Spec("Delete a document", "delete"),
    resource.run_doc_method: Spec("Run a whitelisted method of a document", "read", body="args",
                                  query=({"name": "run_method", "in": "query", "required": True,
                                          "schema": {"type": "string"}},), singles=True),
    documents.list_docs: Spec("List documents", "select", query=_LIST_V2, result="docs",
                              description=_LIST_V2_TEXT, paged=True),
    documents.create_doc: Spec("Create a document", "create", body="new", result="doc"),
    documents.bulk_delete_docs: Spec("Delete several documents", "delete", body="names"),
    documents.bulk_update_docs: Spec("Change several documents", "write", body="docs"),
    documents.read_doc: Spec("Read a document", "read", result="doc", singles=True),
    documents.copy_doc: Spec("A copy of a document, unsaved", "read", result="doc"),
    documents.update_doc: Spec("Change a document", "write", body="change", result="doc", singles=True),
    documents.delete_doc: Spec("Delete a document", "delete"),
    documents.doc_method: Spec("Run a whitelisted method of a document", "read", body="args", singles=True),
    doctypes.meta: Spec("The DocType's definition (the fields the caller may read)", "select", singles=True,
                        guests=False),
    doctypes.count: Spec("Count documents", "select", query=("filters", "or_filters", "distinct", "limit"),
                         result="count"),
    doctypes.search: Spec("Search documents to link to", "select", query=("txt", "filters", "start", "limit")),
    v2_methods.bulk_delete: Spec("Delete documents of several DocTypes", guests=False),
    v2_methods.bulk_update: Spec("Change documents of several DocTypes", guests=False),
    # ``<DocType>/<method>``: functions of a DocType's module, not per DocType rights.
    v2_methods.doctype_method: Spec("A function of a DocType's module"),
    changes.changes: Spec(
        "Every change after the cursor the caller may read, oldest first, a page at a time (410: resync)",
        query=(_param("since", {"type": "string", "pattern": "^[0-9]+$"},
                      "The cursor: next_cursor of the previous page, 0 for the start"),
               _DOCTYPE_FILTER, _param("limit", {"type": "integer", "minimum": 1, "maximum": 1000},
                                       "Changes per page (default 100)"), _INCLUDE_DOCS),
        answer={"type": "object", "required": ["data", "next_cursor", "has_next_page"], "properties": {
            "data": {"type": "array", "items": _CHANGE},
            "next_cursor": {"type": "string", "description": "Send as since for the next page"},
            "has_next_page": {"type": "boolean"}}}, guests=False),
    changes.stream: Spec(
        "Live changes the caller may read, as server-sent events (id: the seq; replays from Last-Event-ID)",
        query=(_DOCTYPE_FILTER, _param("last_event_id", {"type": "string", "pattern": "^[0-9]+$"},
                                       "Replay every change after this seq first (or the Last-Event-ID header)"),
               _INCLUDE_DOCS),
        answer={"type": "string", "description": "event: change, id: seq, data: a change as JSON"},
        media="text/event-stream", guests=False),
    batch.run: Spec(
        "Several v2 document requests in one transaction: all succeed or nothing is written",
        request={"type": "object", "required": ["requests"], "additionalProperties": False, "properties": {
            "requests": {"type": "array", "items": {
                "type": "object", "required": ["method", "url"], "additionalProperties": False, "properties": {
                    "method": {"type": "string", "enum": ["GET", "POST", "PUT", "PATCH", "DELETE"]},
                    "url": {"type": "string", "description": "A v2 document route, e.g. /api/v2/document/ToDo"},
                    "body": {"type": "object"}}}}}},
        answer={"type": "object", "properties": {"data": {"type": "array", "items": {
            "type": "object", "properties": {"status": {"type": "integer"}, "body": {}}}}}},
        guests=False),
}


def spec_of(handler: Any) -> Spec | None:
    """The handler's own Spec, else the table's; None when the route has none."""
    own = getattr(handler, "openapi", None)
    if isinstance(own, Spec):
        return own
    try:
        return SPECS.get(handler)
    except TypeError:  # an unhashable handler object
        return None


def summary_of(handler: Any) -> str:
    """The first line of the handler's docstring, for routes without a Spec."""
    return first_line(handler) or getattr(handler, "__name__", "").replace("_", " ").strip() or "Route"


def first_line(fn: Any) -> str:
    """The first line of a docstring, without reStructuredText's literal marks."""
    doc = (getattr(fn, "__doc__", None) or "").strip()
    return doc.split("\n", 1)[0].strip().replace("``", "") if doc else ""
