"""Controllers of the Library DocTypes: lifecycle hooks and document methods.

Hooks are called as ``hook(ctx, doc)`` inside the request's transaction, so an
exception in any of them undoes everything the request wrote. Document changes
go through ``ristretto.model.document``, which checks the user's permissions.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import replace

from ristretto.apps import whitelisted_method
from ristretto.exceptions import ValidationError
from ristretto.model import document, listing
from ristretto.model.context import AllowAll, Context
from ristretto.model.controllers import Controller
from ristretto.model.document import Document

LOAN_DAYS = 14
MAX_LOANS_PER_MEMBER = 2


def normalise_isbn(value: str | None) -> str:
    """``978-0-13-468599-1`` -> ``9780134685991`` (a trailing check digit x becomes X)."""
    return re.sub(r"[\s-]", "", value or "").upper()


def as_system(ctx: Context) -> Context:
    """The same request acting without permission checks, like Frappe's ``ignore_permissions``.

    Only for bookkeeping the user did not ask for directly (the shelving ToDo); the
    changes the user asks for are made with their own permissions.
    """
    return replace(ctx, perms=AllowAll())


def _todos(ctx: Context, book: str, *, open_only: bool) -> list[str]:
    """The ToDos about a book (all, or only the open ones)."""
    filters = [["reference_type", "=", "Library Book"], ["reference_name", "=", book]]
    if open_only:
        filters.append(["status", "=", "Open"])
    return [row["name"] for row in listing.get_list(as_system(ctx), "ToDo", fields=["name"], filters=filters,
                                                    limit=None)]


class LibraryBook(Controller):
    def before_insert(self, ctx: Context, doc: Document) -> None:
        # Before naming (the name is the ISBN), so every spelling of one ISBN is one book.
        doc.set("isbn", normalise_isbn(doc.get("isbn")))

    def validate(self, ctx: Context, doc: Document) -> None:
        isbn = doc.get("isbn") or ""
        if not re.fullmatch(r"\d{13}|\d{9}[\dX]", isbn):
            raise ValidationError(f"ISBN {isbn} must have 10 or 13 digits", title="Invalid ISBN")
        doc.set("title", " ".join((doc.get("title") or "").split()))
        # Tags are case-insensitive and listed once each.
        seen: set[str] = set()
        rows = []
        for row in doc.children.get("tags", []):
            tag = " ".join((row.d.get("tag") or "").split()).lower()
            if tag and tag not in seen:
                seen.add(tag)
                row.d["tag"] = tag
                row.d["idx"] = len(rows) + 1
                rows.append(row)
        doc.children["tags"] = rows

    def before_save(self, ctx: Context, doc: Document) -> None:
        # A denormalised copy for list views, which do not load child tables.
        doc.set("tag_list", ", ".join(row.d["tag"] for row in doc.children.get("tags", [])) or None)

    def after_insert(self, ctx: Context, doc: Document) -> None:
        document.insert(as_system(ctx), "ToDo", {
            "description": f"Shelve {doc.get('title')}", "reference_type": "Library Book",
            "reference_name": doc.name, "allocated_to": ctx.user if ctx.user != "Guest" else None})

    def on_update(self, ctx: Context, doc: Document) -> None:
        if doc.get("status") == "Lost":
            # Nothing left to shelve.
            for name in _todos(ctx, doc.name, open_only=True):
                document.update(as_system(ctx), "ToDo", name, {"status": "Cancelled"})

    def on_trash(self, ctx: Context, doc: Document) -> None:
        if doc.get("status") == "Issued":
            raise ValidationError(f"Library Book {doc.name} is on loan and cannot be deleted",
                                  title="Book on loan")

    def after_delete(self, ctx: Context, doc: Document) -> None:
        for name in _todos(ctx, doc.name, open_only=False):
            document.delete(as_system(ctx), "ToDo", name)

    @whitelisted_method(methods=("POST",))
    def mark_lost(self, ctx: Context, doc: Document, remarks: str | None = None) -> Document:
        """``POST /api/resource/Library Book/<isbn>`` with ``run_method=mark_lost``."""
        if doc.get("status") == "Lost":
            raise ValidationError(f"Library Book {doc.name} is already marked lost", title="Already lost")
        values = {"status": "Lost"}
        if remarks:
            values["remarks"] = remarks
        return document.update(ctx, "Library Book", doc.name, values)

    @whitelisted_method(methods=("GET",))
    def loan_history(self, ctx: Context, doc: Document, limit: int = 20) -> list[dict]:
        """``GET /api/resource/Library Book/<isbn>?run_method=loan_history``: read permission."""
        return listing.get_list(ctx, "Library Loan", fields=["name", "member", "loan_date", "docstatus"],
                                filters=[["book", "=", doc.name]], order_by="creation asc", limit=limit)

    def shelve(self, ctx: Context, doc: Document) -> None:
        """Not whitelisted: callable from Python, refused over HTTP."""
        document.update(ctx, "Library Book", doc.name, {"status": "Available"})


class LibraryLoan(Controller):
    def before_insert(self, ctx: Context, doc: Document) -> None:
        if not doc.get("due_date"):
            loan_date = _dt.date.fromisoformat(str(doc.get("loan_date")))
            doc.set("due_date", (loan_date + _dt.timedelta(days=LOAN_DAYS)).isoformat())

    def validate(self, ctx: Context, doc: Document) -> None:
        if doc.get("due_date") and str(doc.get("due_date")) < str(doc.get("loan_date")):
            raise ValidationError("Due Date cannot be before Loan Date", title="Invalid dates")
        submitting = doc.docstatus == 1 and (doc.previous is None or doc.previous.docstatus == 0)
        book = doc.get("book")
        # A missing book is left to the Link check that follows this hook.
        if (doc.docstatus == 0 or submitting) and book and document.exists(ctx, "Library Book", book):
            status = document.load(ctx, "Library Book", book).get("status")
            if status != "Available":
                raise ValidationError(f"Library Book {doc.get('book')} is {status}", title="Book not available")

    def before_submit(self, ctx: Context, doc: Document) -> None:
        doc.set("issued_by", ctx.user)

    def on_submit(self, ctx: Context, doc: Document) -> None:
        document.update(ctx, "Library Book", doc.get("book"), {"status": "Issued"})
        # Counted after this loan is written, so two loans submitted at once cannot both
        # pass; raising here undoes the loan and the book's status with it.
        active = listing.get_count(as_system(ctx), "Library Loan",
                                   filters=[["member", "=", doc.get("member")], ["docstatus", "=", 1]])
        if active > MAX_LOANS_PER_MEMBER:
            raise ValidationError(f"{doc.get('member')} already has {MAX_LOANS_PER_MEMBER} books on loan",
                                  title="Loan limit reached")

    def before_cancel(self, ctx: Context, doc: Document) -> None:
        doc.set("returned_on", _dt.date.today().isoformat())

    def on_cancel(self, ctx: Context, doc: Document) -> None:
        book = document.load(ctx, "Library Book", doc.get("book"))
        if book.get("status") == "Issued":  # a book lost meanwhile stays lost
            document.update(ctx, "Library Book", book.name, {"status": "Available"})
