"""v2 DocType routes: ``/api/v2/doctype/<doctype>/meta``, ``/count`` and ``/search``.

Thin adapters over ``ristretto.model.metaview`` (what a logged-in user may see of a
definition), ``ristretto.model.listing.get_count`` and ``ristretto.model.search``: the
permission rules of lists apply to counts and searches unchanged.
"""

from __future__ import annotations

from typing import Any

from ristretto.api.call import Call
from ristretto.api.v2.args import json_arg, text_arg, truthy_arg
from ristretto.exceptions import FrappeValueError
from ristretto.model import listing, metaview, search as link_search


def meta(call: Call, doctype: str) -> dict[str, Any]:
    return {"data": metaview.visible_meta(call.ctx, doctype)}


def count(call: Call, doctype: str) -> dict[str, Any]:
    """Rows matching ``filters`` / ``or_filters`` (``distinct=1``: distinct names; ``limit``:
    counted up to that many)."""
    form = call.form
    n = listing.get_count(
        call.ctx, doctype, filters=json_arg(form, "filters", (list, dict)),
        or_filters=json_arg(form, "or_filters", (list, dict)),
        distinct=truthy_arg(form.get("distinct"), False),
        limit=listing.parse_limit(form.get("limit"), None), debug=truthy_arg(form.get("debug"), False),
        parent=text_arg(form, "parent"))
    return {"data": n}


def search(call: Call, doctype: str) -> dict[str, Any]:
    """Link search: ``txt``, ``filters``, ``limit`` (default 10), ``start`` ->
    ``[{"value", "label", "description"}]``."""
    form = call.form
    if form.get("query") not in (None, ""):
        # Frappe would call a whitelisted search function here; none is registered for it.
        raise FrappeValueError("Custom search queries ('query') are not supported", title="Invalid argument")
    txt = form.get("txt")
    if txt is not None and not isinstance(txt, (str, int, float)):
        raise FrappeValueError("'txt' must be a string", title="Invalid argument")
    rows = link_search.search_link(
        call.ctx, doctype, txt, filters=json_arg(form, "filters", (list, dict)),
        limit=listing.page_length(call.ctx, form.get("limit"), link_search.DEFAULT_PAGE),
        start=listing.parse_offset(form.get("start")))
    return {"data": rows}
