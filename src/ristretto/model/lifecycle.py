"""The document lifecycle: submit, cancel, amend and copy, and the rules of docstatus.

A document is a Draft (docstatus 0), Submitted (1) or Cancelled (2). Saves move it
between them only along Frappe's transitions (``check_transition``); a submitted
document keeps its values except ``allow_on_submit`` fields; a document cannot be
cancelled while submitted documents link to it, nor deleted while live ones do
(``check_no_links``); only a cancelled document can be amended, into a new draft
named after it (``check_amendment``, ``naming``). Every route (v1, v2, RPC) reaches
these rules through the functions here or through ``document.insert`` / ``update``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ristretto.db.dialects import quote
from ristretto.exceptions import (
    DocstatusTransitionError, LinkExistsError, UpdateAfterSubmitError, ValidationError,
)
from ristretto.meta.doctype import CHILD_FIELDS, STANDARD_FIELDS
from ristretto.model import document
from ristretto.model.base import Document
from ristretto.model.storage import load

if TYPE_CHECKING:
    from ristretto.model.context import Context

# Log-like DocTypes whose links never block a delete or a cancel.
LINK_EXEMPT = frozenset({"ToDo", "Comment", "Version", "DocShare", "Communication", "File",
                         "Deleted Document", "Activity Log", "Access Log", "View Log", "Webhook Request Log"})
# Never carried into an amendment or a copy: they describe the original, not the new draft.
_NOT_COPIED = frozenset({"name", "owner", "creation", "modified", "modified_by", "docstatus",
                         "amended_from", "amendment_date"})
# A copied child row drops what tied it to the original document.
_ROW_NOT_COPIED = frozenset({"name", "owner", "creation", "modified", "modified_by", "docstatus", "parent"})
_STATUS = {0: "Draft", 1: "Submitted", 2: "Cancelled"}


# --- transitions -------------------------------------------------------------------------------

def check_transition(ctx: "Context", previous: Document, doc: Document) -> None:
    """Refuse a save that moves docstatus the wrong way, or changes a submitted document's
    values other than its ``allow_on_submit`` fields; check the right the move needs."""
    old, new = previous.docstatus, doc.docstatus
    meta = doc.meta
    if old == 2:
        raise ValidationError("Cannot edit cancelled document", title="Not allowed")
    if (old, new) in ((0, 2), (1, 0)):
        raise DocstatusTransitionError(
            f"Cannot change docstatus from {old} ({_STATUS[old]}) to {new} ({_STATUS[new]})")
    if new in (1, 2) and not meta.is_submittable:
        raise ValidationError(f"{meta.name} is not submittable", title="Not submittable")
    if old == 0 and new == 1:
        ctx.perms.check(ctx, meta.name, "submit", doc)
    elif old == 1 and new == 2:
        ctx.perms.check(ctx, meta.name, "cancel", doc)
    elif old == 1 and new == 1:
        ctx.perms.check(ctx, meta.name, "submit", doc)
        _check_update_after_submit(previous, doc)


def _check_update_after_submit(previous: Document, doc: Document) -> None:
    meta = doc.meta
    for f in meta.data_fields:
        if f.allow_on_submit or f.fieldname in STANDARD_FIELDS:
            continue
        if doc.d.get(f.fieldname) != previous.d.get(f.fieldname):
            # A Password field's value is never put into a message (nor the log).
            change = "" if f.ft.secret else f" from {previous.d.get(f.fieldname)} to {doc.d.get(f.fieldname)}"
            raise UpdateAfterSubmitError(f"Not allowed to change {f.label} after submission{change}")
    for tf in meta.table_fields:
        if tf.allow_on_submit or tf.fieldname not in doc.children:
            continue
        # Child rows of a submitted document are compared by value, ignoring stamps.
        if _rows_changed(previous.children.get(tf.fieldname, []), doc.children[tf.fieldname]):
            raise UpdateAfterSubmitError(f"Not allowed to change {tf.label} after submission")


def _rows_changed(old: list[Document], new: list[Document]) -> bool:
    skip = set(STANDARD_FIELDS) | set(CHILD_FIELDS)
    strip = lambda r: {k: v for k, v in r.d.items() if k not in skip}  # noqa: E731
    return [strip(r) for r in old] != [strip(r) for r in new]


def check_no_links(ctx: "Context", doc: Document, *, submitted_only: bool = False) -> None:
    """Refuse when another live document links here: through a Link field (of a document or of
    a child row, which carries its parent's docstatus) or a Dynamic Link whose DocType field
    names this DocType. On cancel only submitted documents count; on delete, drafts too."""
    status_sql = "docstatus = 1" if submitted_only else "docstatus < 2"
    name, doctype = str(doc.name), doc.meta.name
    for other, fieldname in ctx.registry.links_to(doctype):
        if other.istable or other.name != doctype or fieldname != "amended_from":
            _refuse_if_linked(ctx, doc, other, f"{quote(fieldname)} = ?", (name,), status_sql)
    for other, fieldname, type_field in ctx.registry.dynamic_links():
        _refuse_if_linked(ctx, doc, other, f"{quote(fieldname)} = ? AND {quote(type_field)} = ?",
                          (name, doctype), status_sql)


def _refuse_if_linked(ctx: "Context", doc: Document, other, where: str, params: tuple, status_sql: str) -> None:
    if other.name in LINK_EXEMPT or other.issingle or other.is_virtual:
        return
    if other.istable:
        parent_exempt = tuple(sorted(LINK_EXEMPT))
        marks = ", ".join("?" for _ in parent_exempt)
        sql = (f"SELECT parenttype, parent FROM {quote(other.table)} WHERE {where} AND {status_sql} "
               f"AND parenttype NOT IN ({marks}) AND NOT (parenttype = ? AND parent = ?) LIMIT 1")
        row = ctx.db.one(sql, params + parent_exempt + (doc.meta.name, str(doc.name)))
    else:
        if other.name == doc.meta.name:  # a document linking to itself does not count
            where, params = f"{where} AND name <> ?", params + (doc.name,)
        found = ctx.db.one(f"SELECT name FROM {quote(other.table)} WHERE {where} AND {status_sql} LIMIT 1", params)
        row = (other.name, found[0]) if found else None
    if row is not None:
        raise LinkExistsError(
            f"Cannot delete or cancel because {doc.meta.name} {doc.name} is linked with {row[0]} {row[1]}",
            title="Linked document")


# --- submit and cancel -------------------------------------------------------------------------

def submit(ctx: "Context", doctype: str, name: Any, data: dict | None = None) -> Document:
    """Submit a draft (docstatus 0 -> 1), optionally applying ``data`` first; needs write and submit."""
    return document.update(ctx, doctype, name, {**(data or {}), "docstatus": 1})


def cancel(ctx: "Context", doctype: str, name: Any) -> Document:
    """Cancel a submitted document (1 -> 2); needs write and cancel; refused (LinkExistsError)
    while submitted documents link to it."""
    return document.update(ctx, doctype, name, {"docstatus": 2})


# --- amend -------------------------------------------------------------------------------------

def amend(ctx: "Context", doctype: str, name: Any) -> Document:
    """Insert the amendment of a cancelled document: a draft copy (child rows included, with
    new names) with ``amended_from`` set, named ``<original>-1`` (``X-1`` -> ``X-2``), its
    attachments copied. Needs read and ``amend`` on the original, and ``create``."""
    meta = ctx.get_meta(doctype)
    original = document.get_doc(ctx, doctype, name)  # its values are copied: read permission
    if not meta.is_submittable:
        raise ValidationError(f"{doctype} is not submittable", title="Not submittable")
    ctx.perms.check(ctx, doctype, "amend", original)
    _require_cancelled(meta.name, original.name, original.docstatus)
    data = _copy_values(original, drop_secrets=True)
    data["amended_from"] = original.name
    return document.insert(ctx, doctype, data)


def check_amendment(ctx: "Context", doc: Document) -> None:
    """A new document naming ``amended_from`` (how Frappe clients amend: they insert a copy) must
    amend a cancelled document, and the user needs ``amend`` on it. A missing original is left
    to Link validation ("Could not find Amended From")."""
    meta = doc.meta
    ctx.perms.check(ctx, meta.name, "amend")
    original = doc.d.get("amended_from")
    row = ctx.db.one(f"SELECT docstatus FROM {quote(meta.table)} WHERE name = ?", (str(original),))
    if row is None:
        return
    ctx.perms.check(ctx, meta.name, "amend", load(ctx, meta.name, original))
    _require_cancelled(meta.name, original, int(row[0] or 0))


def _require_cancelled(doctype: str, name: Any, docstatus: int) -> None:
    if docstatus != 2:
        raise ValidationError(f"{doctype} {name} cannot be amended because it is not cancelled. "
                              "Please cancel the document before creating an amendment.",
                              title="Amendment Not Allowed")


def copy_attachments(ctx: "Context", doc: Document) -> None:
    """The amendment gets its own File records for the original's attachments (same bytes)."""
    file_meta = ctx.find_meta("File")
    original = doc.d.get("amended_from")
    if file_meta is None or original in (None, "") or not file_meta.has_column("attached_to_name"):
        return
    rows = ctx.db.sql(f"SELECT file_url, file_name, is_private FROM {quote(file_meta.table)} "
                      f"WHERE attached_to_doctype = ? AND attached_to_name = ? AND is_folder = 0 "
                      f"ORDER BY creation, name", (doc.meta.name, str(original)))
    # The user was allowed to amend; the copies are the system's doing, as in Frappe.
    from ristretto.model.context import AllowAll
    trusted = replace(ctx, perms=AllowAll())
    for file_url, file_name, is_private in rows:
        document.insert(trusted, "File", {
            "file_url": file_url, "file_name": file_name, "is_private": is_private,
            "attached_to_doctype": doc.meta.name, "attached_to_name": str(doc.name),
            "folder": "Home/Attachments"})


# --- copy --------------------------------------------------------------------------------------

def copy_doc(ctx: "Context", doctype: str, name: Any) -> dict:
    """A readable document as a new, unsaved dict to post back ("duplicate"): the fields the user
    cannot read dropped, then its identity, ownership, stamps, docstatus and amendment removed
    (absent, not null), null values omitted; child rows kept without their own name and parent;
    ``no_copy`` fields copied too."""
    doc = document.get_doc(ctx, doctype, name)
    out = document.visible_dict(ctx, doc, no_nulls=True)
    for key in _NOT_COPIED:
        out.pop(key, None)
    out["__islocal"] = 1
    for tf in doc.meta.table_fields:
        rows = out.get(tf.fieldname)
        if isinstance(rows, list):
            out[tf.fieldname] = [{**{k: v for k, v in row.items() if k not in _ROW_NOT_COPIED}, "__islocal": 1}
                                 for row in rows]
    return out


def _copy_values(doc: Document, *, drop_secrets: bool) -> dict:
    """The document's values for a new document: everything (``no_copy`` included, as Frappe's
    amend copies) but identity, stamps and amendment; rows without their names."""
    meta = doc.meta
    out = {k: v for k, v in doc.as_dict().items() if k not in _NOT_COPIED and k != "idx"}
    secret = {f.fieldname for f in meta.data_fields if f.ft.secret} if drop_secrets else set()
    for key in secret:
        out.pop(key, None)  # a secret is never copied: the new document gets its own
    for tf in meta.table_fields:
        rows = out.get(tf.fieldname)
        if isinstance(rows, list):
            out[tf.fieldname] = [{k: v for k, v in row.items() if k not in _ROW_NOT_COPIED} for row in rows]
    return out
