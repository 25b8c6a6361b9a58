"""Reading single values and asking about rights, the way Frappe's client methods do it.

``get_value``, ``get_single_value``, ``has_permission``, ``get_doc_permissions``,
``validate_link`` and ``is_document_amended`` answer from here, for every route (v1 RPC,
v2, apps), with the permission rules of the model:

* a child DocType is read only through a parent DocType that really has it and that the
  user may read;
* the rights on a child row are the rights on its parent document.

The arguments are Python values: request text is decoded at the API edge.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ristretto.db.dialects import quote
from ristretto.exceptions import DataError, DoesNotExistError, PermissionError, ValidationError
from ristretto.meta.doctype import Meta
from ristretto.meta.fieldtypes import CHECK, FLOAT, INT, TEXT
from ristretto.model import document, listing
from ristretto.model.base import Document

if TYPE_CHECKING:
    from ristretto.model.context import Context

# Frappe's list of rights (frappe.permissions.rights), in its order.
RIGHTS = ("select", "read", "write", "create", "delete", "submit", "cancel", "amend", "print", "email",
          "report", "import", "export", "share")


def check_parent(ctx: "Context", doctype: str, parent: Any) -> None:
    """Child DocTypes are read through a parent that really has them (Frappe's check_parent_permission)."""
    parent_meta = ctx.find_meta(parent) if isinstance(parent, str) and parent else None
    if parent_meta is None or doctype not in parent_meta.child_doctypes():
        raise PermissionError(f"Please specify a valid parent DocType for {doctype}", doctype=doctype)
    ctx.perms.check(ctx, parent_meta.name, "read")


def load_or_none(ctx: "Context", doctype: str, name: Any) -> Document | None:
    """The stored document (no permission check), or None when there is none."""
    try:
        return document.load(ctx, doctype, name)
    except DoesNotExistError:
        return None


def perm_target(ctx: "Context", meta: Meta, doc: Document | None) -> tuple[str, Document | None]:
    """(DocType, document) whose rights apply to ``doc``: a child row's are its parent's."""
    if doc is None or not meta.istable:
        return meta.name, doc
    parenttype = doc.d.get("parenttype")
    if not parenttype or ctx.find_meta(parenttype) is None:
        return meta.name, doc
    return parenttype, load_or_none(ctx, parenttype, doc.d.get("parent"))


def has_permission(ctx: "Context", doctype: str, docname: Any, ptype: str) -> bool:
    """Whether the user holds ``ptype`` on the DocType (or the document): it reports, never
    throws, so an unknown DocType or document is simply "no"."""
    meta = ctx.find_meta(doctype)
    if meta is None:
        return False
    doc = None
    if docname not in (None, ""):
        doc = load_or_none(ctx, meta.name, docname)
        if doc is None:
            return False
    target, target_doc = perm_target(ctx, meta, doc)
    return bool(ctx.perms.has(ctx, target, ptype.strip().lower(), target_doc))


def doc_permissions(ctx: "Context", doctype: str, name: Any) -> dict[str, int]:
    """Every right (1 or 0) the user holds on one document."""
    meta = ctx.get_meta(doctype)
    doc = document.load(ctx, doctype, name)
    target, target_doc = perm_target(ctx, meta, doc)
    # Who cannot even read the DocType learns nothing about its documents.
    if not (ctx.perms.has(ctx, target, "read") or ctx.perms.has(ctx, target, "select")):
        ctx.perms.check(ctx, target, "read")
    return {r: int(bool(ctx.perms.has(ctx, target, r, target_doc))) for r in RIGHTS}


def first_match(ctx: "Context", meta: Meta, filters: Any, parent: Any = None) -> Any:
    """The name of the first document matching ``filters`` the user may list; 404 if none."""
    rows = listing.get_list(ctx, meta.name, fields=["name"], filters=filters, limit=1,
                            parent=parent if meta.istable else None)
    if not rows:
        raise DoesNotExistError(f"{meta.name} not found", doctype=meta.name)
    return rows[0]["name"]


def get_values(ctx: "Context", doctype: str, fields: list, filters: Any = None, *, as_dict: bool = True,
               debug: bool = False, parent: Any = None) -> list:
    """The values of ``fields`` of the first document matching ``filters`` (a list of at
    most one row); a Single DocType's stored values when they match dict filters."""
    meta = ctx.get_meta(doctype)
    if meta.istable:
        check_parent(ctx, doctype, parent)
    else:
        ctx.perms.check(ctx, doctype, "read")
    if meta.issingle:
        return _single_values(ctx, meta, fields, filters, as_dict)
    return listing.get_list(ctx, doctype, fields=fields, filters=filters, limit=1, as_dict=as_dict,
                            debug=debug, parent=parent if meta.istable else None)


def _single_values(ctx: "Context", meta: Meta, fields: list, filters: Any, as_dict: bool) -> list:
    doc = document.get_doc(ctx, meta.name, meta.name)
    readable = ctx.perms.readable_fields(ctx, meta)
    for f in fields:
        if not isinstance(f, str) or not meta.has_column(f) or (readable is not None and f not in readable):
            raise ValidationError(f"Field not permitted in query: {f}", title="Invalid field")
    if isinstance(filters, dict):
        for key, value in filters.items():
            if readable is not None and meta.has_column(key) and key not in readable:
                # Matching on a field the user may not read would reveal its value.
                raise ValidationError(f"Field not permitted in query: {key}", title="Invalid field")
            f = meta.get_column(key) if isinstance(key, str) else None
            if f is not None and f.ft.secret:
                raise DataError(f"Cannot filter, sort or group by Password field {key}", title="Invalid filter")
            if str(doc.d.get(key)) != str(value):
                return []
    values = [doc.d.get(f) for f in fields]
    return [dict(zip(fields, values))] if as_dict else [values]


def single_value(ctx: "Context", doctype: str, field: str) -> Any:
    """One field of a Single DocType, cast by field type as Frappe does (numbers 0, text "")."""
    meta = ctx.get_meta(doctype)
    if not meta.issingle:
        raise ValidationError(f"{doctype} is not a Single DocType", title="Invalid argument")
    ctx.perms.check(ctx, doctype, "read")
    f = meta.get_column(field)
    if f is None:
        raise ValidationError(f"Field {field} does not exist on {doctype}", title="Invalid field")
    readable = ctx.perms.readable_fields(ctx, meta)
    if readable is not None and field not in readable:
        raise PermissionError(f"No permission to read {field} of {doctype}", doctype=doctype)
    value = document.get_doc(ctx, doctype, doctype).d.get(field)
    if value is None and f.ft.kind in (INT, CHECK, FLOAT):
        return 0
    if value is None and f.ft.kind == TEXT:
        return ""
    return value


def check_link_target(ctx: "Context", meta: Meta, docname: Any) -> None:
    """``validate_link`` needs select or read on the DocType (on a child row: on its parent's
    DocType); the DocType DocType itself is open to every user."""
    if meta.name == "DocType":
        return
    target = meta.name
    if meta.istable:
        row = load_or_none(ctx, meta.name, docname)
        target = (row.d.get("parenttype") if row is not None else None) or meta.name
    if not (ctx.perms.has(ctx, target, "select") or ctx.perms.has(ctx, target, "read")):
        raise PermissionError(f"You do not have Read or Select Permissions for <b>{meta.name}</b>",
                              doctype=meta.name)


def stored_name(ctx: "Context", meta: Meta, docname: str) -> Any:
    """The name as stored, or None; case-insensitive like Frappe on MariaDB when no exact
    match exists. No permission check: the caller has checked the DocType."""
    if meta.issingle:
        return meta.name if docname == meta.name else None
    if document.exists(ctx, meta.name, docname):
        return int(docname) if meta.name_is_int else docname
    if meta.name_is_int or "\x00" in docname:
        return None
    row = ctx.db.one(f"SELECT name FROM {quote(meta.table)} WHERE LOWER(name) = LOWER(?) LIMIT 1", (docname,))
    return row[0] if row else None


def is_amended(ctx: "Context", doctype: str, docname: Any) -> bool:
    """Whether a document the user may see was amended from ``docname``; never throws."""
    meta = ctx.find_meta(doctype)
    if meta is None or not meta.has_column("amended_from") or not ctx.perms.has(ctx, doctype, "read"):
        return False
    try:
        return listing.get_count(ctx, doctype, filters=[["amended_from", "=", docname]], limit=1) > 0
    except (PermissionError, DataError):  # DataError: amended_from is above the user's permlevels
        return False
