"""Documents as a user reaches them: read permission checked, child rows only through a parent
that has a Table field for them, and the rows a write will replace locked until the transaction
ends (``for_update``), so a check made on them holds when the write happens."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ristretto.db.dialects import quote
from ristretto.exceptions import DoesNotExistError, PermissionError
from ristretto.meta.doctype import Meta
from ristretto.model.base import Document
from ristretto.model.storage import load, load_single

if TYPE_CHECKING:
    from ristretto.model.context import Context


def get_doc(ctx: "Context", doctype: str, name: Any, *, for_update: bool = False) -> Document:
    """Load a document the user may read (permission checked); ``for_update``: locked until the
    transaction ends, for a caller that checks it before writing (``etags.check``)."""
    meta = ctx.get_meta(doctype)
    if meta.istable:
        row, parent = child_row(ctx, meta, name, "read")
        return locked_row(ctx, meta, name, parent)[0] if for_update else row
    ctx.perms.check(ctx, doctype, "read")
    doc = load(ctx, doctype, name, for_update=for_update)
    ctx.perms.check(ctx, doctype, "read", doc)
    return doc


def child_row(ctx: "Context", meta: Meta, name: Any, ptype: str, *,
               table_level: bool = True) -> tuple[Document, Document]:
    """A child row and its parent document, after Frappe's child-table rule (05 § 7): the row
    is reached only through a parent DocType that has a Table field for it, the user needs
    ``ptype`` on the parent document, and (``table_level``) ``ptype`` at the Table field's
    permlevel."""
    row = load(ctx, meta.name, name)
    parent_meta = ctx.find_meta(row.d.get("parenttype") or "")
    tf = parent_meta.get_table_field(row.d.get("parentfield") or "") if parent_meta is not None else None
    if tf is None or tf.options != meta.name or parent_meta.istable:
        raise DoesNotExistError(f"{meta.name} {name} not found", doctype=meta.name)
    parent = load(ctx, parent_meta.name, row.d.get("parent"))
    ctx.perms.check(ctx, parent_meta.name, ptype, parent)
    if table_level and tf.permlevel and tf.permlevel not in ctx.perms.level_access(ctx, parent_meta, ptype):
        message = f"Insufficient Permission Level for {parent_meta.name}"
        error = PermissionError(message, doctype=parent_meta.name)
        error.error_message = message
        raise error
    return row, parent


def locked_row(ctx: "Context", meta: Meta, name: Any, parent: Document) -> tuple[Document, Document]:
    """The child row and its parent again, once the parent's row is locked until the transaction
    ends: every write of a row saves (and first locks) its parent, so what is read now is what a
    write in this transaction replaces. Without it, two writers of rows of one parent on
    PostgreSQL would each save all the rows as they read them before the other's save."""
    parent = load(ctx, parent.meta.name, parent.name, for_update=True)
    return load(ctx, meta.name, name), parent


def locked_single(ctx: "Context", meta: Meta) -> Document:
    """A Single's values, their rows locked until the transaction ends (PostgreSQL)."""
    if ctx.dialect.name == "postgres":
        ctx.db.sql(f"SELECT 1 FROM {quote('tabSingles')} WHERE doctype = ? FOR UPDATE", (meta.name,))
    return load_single(ctx, meta)
