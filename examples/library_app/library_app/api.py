"""Whitelisted functions of the Library app (``/api/method/library_app.api.<fn>``).

Each is registered under the exact name given to ``whitelist``; a function of this
module without the decorator is not reachable over HTTP.
"""

from __future__ import annotations

import datetime as _dt

from ristretto.api.call import Call
from ristretto.apps import whitelist
from ristretto.model import document, listing
from library_app.controllers import as_system


@whitelist("library_app.api.available_books", methods=("GET",))
def available_books(call: Call, author: str | None = None) -> list[dict]:
    """Books on the shelf, optionally by one author (the caller's read permission applies)."""
    filters = [["status", "=", "Available"]]
    if author:
        filters.append(["author", "=", author])
    return listing.get_list(call.ctx, "Library Book", fields=["name", "title", "author"], filters=filters,
                            order_by="title asc", limit=None)


@whitelist("library_app.api.catalogue_summary", methods=("GET",), allow_guest=True)
def catalogue_summary(call: Call) -> dict:
    """Public numbers for the library's home page: counted without the caller's permissions."""
    ctx = as_system(call.ctx)
    return {"books": listing.get_count(ctx, "Library Book"),
            "available": listing.get_count(ctx, "Library Book", filters=[["status", "=", "Available"]])}


@whitelist("library_app.api.issue_book", methods=("POST",))
def issue_book(call: Call, book: str, member: str, days: int = 14) -> dict:
    """Create and submit a loan in one call (both steps with the caller's permissions)."""
    due = (_dt.date.today() + _dt.timedelta(days=days)).isoformat()
    loan = document.insert(call.ctx, "Library Loan", {"book": book, "member": member, "due_date": due})
    return document.submit(call.ctx, "Library Loan", loan.name).as_dict(no_nulls=True)


def renumber_shelves(call: Call) -> None:
    """Not whitelisted: never callable over HTTP, whatever its dotted path."""
    raise RuntimeError("must not be reachable")
