"""``frappe.desk.search.search_link``: a Link field's autocomplete (``ristretto.model.search``,
the same search as API v2's ``/doctype/<dt>/search``)."""

from __future__ import annotations

from typing import Any

from ristretto.api.call import Call
from ristretto.api.jsonargs import loose_arg
from ristretto.exceptions import ValidationError
from ristretto.model import listing, search
from ristretto.whitelist import whitelist


@whitelist("frappe.desk.search.search_link", methods=("GET", "POST"))
def search_link(call: Call, doctype: str, txt: Any = "", query: Any = None, filters: Any = None,
                page_length: Any = None, searchfield: Any = None, reference_doctype: Any = None,
                start: Any = None):
    if query not in (None, ""):
        # Frappe would call a whitelisted search function here; none is registered for it.
        raise ValidationError("Custom search queries ('query') are not supported", title="Invalid argument")
    return search.search_link(
        call.ctx, doctype, txt, filters=loose_arg(filters, "filters"),
        limit=listing.page_length(call.ctx, page_length, search.DEFAULT_PAGE), start=listing.parse_offset(start))
