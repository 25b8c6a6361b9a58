"""Writing whole documents given as dicts, the way Frappe's client methods do it.

A client sends a document as one dict carrying its ``doctype`` (``frappe.client.insert``,
``save``, ``insert_many``, ``bulk_update``; the v2 routes reuse them). This module turns such
dicts into the operations of :mod:`ristretto.model.document`, so every route that accepts
them (v1 RPC, v2, apps) follows the same rules:

* a dict for a child DocType is a row: it is appended to its parent, which is saved (its
  validation and hooks run) and returned;
* a full save (:func:`save_doc`) replaces the stored document: fields left out are cleared,
  tables left out are emptied, and ``modified`` must be the stored value;
* setting values on a child row saves its parent and returns the parent.

The arguments are Python values: request text is decoded at the API edge.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ristretto.exceptions import DoesNotExistError, TimestampMismatchError, ValidationError
from ristretto.meta.doctype import CHILD_FIELDS
from ristretto.model import bulk, document, validation
from ristretto.model.base import Document

if TYPE_CHECKING:
    from ristretto.model.context import Context


def _payload(data: dict) -> tuple[dict, Any]:
    """Document values without ``doctype`` and ``name`` (the name goes to naming), and the name."""
    values = dict(data)
    values.pop("doctype", None)
    return values, values.pop("name", None)


def _doctype_of(data: Any) -> str:
    if not isinstance(data, dict) or not isinstance(data.get("doctype"), str) or not data["doctype"]:
        raise ValidationError("doctype is required in the document", title="Invalid argument")
    return data["doctype"]


def insert_doc(ctx: "Context", data: dict) -> Document:
    """Insert the document ``data`` describes; for a child DocType, append the row to its
    parent (see :func:`append_child`) and return the saved parent."""
    doctype = _doctype_of(data)
    if ctx.get_meta(doctype).istable:
        return append_child(ctx, data)
    values, name = _payload(data)
    return document.insert(ctx, doctype, values, name=name)


def append_child(ctx: "Context", data: dict) -> Document:
    """Append the child row ``data`` to the document its ``parenttype``, ``parent`` and
    ``parentfield`` name; the parent is saved through the normal update (its permission,
    validation and hooks) and returned."""
    meta = ctx.get_meta(_doctype_of(data))
    parenttype, parent, parentfield = data.get("parenttype"), data.get("parent"), data.get("parentfield")
    for key, value in (("parenttype", parenttype), ("parent", parent), ("parentfield", parentfield)):
        validation.check_scalar(value, key)
    if not (parenttype and parent and parentfield):
        raise ValidationError("Parenttype, Parent and Parentfield are required to insert a child record",
                              title="Missing parent")
    parent_meta = ctx.get_meta(str(parenttype))
    table = parent_meta.get_table_field(str(parentfield))
    if table is None or table.options != meta.name:
        raise ValidationError(f"{parentfield} is not a table of {meta.name} rows in {parenttype}",
                              title="Invalid parent")
    current = document.get_doc(ctx, parent_meta.name, parent)
    rows = [row.as_dict() for row in current.children.get(table.fieldname, [])]
    rows.append({k: v for k, v in data.items() if k not in ("doctype", "name", "idx") + CHILD_FIELDS})
    return document.update(ctx, parent_meta.name, current.name, {table.fieldname: rows})


def save_doc(ctx: "Context", data: dict) -> Document:
    """Frappe's ``frappe.get_doc(dict).save()``: the dict is the whole document.

    New when it has no ``name`` (or ``__islocal``); otherwise every field left out is
    cleared, every child table left out is emptied, and ``modified`` must be the
    stored value (the timestamp check).
    """
    doctype = _doctype_of(data)
    meta = ctx.get_meta(doctype)
    values, name = _payload(data)
    if name in (None, "") or values.pop("__islocal", None):
        return insert_doc(ctx, data)
    if meta.istable:
        raise ValidationError("Child rows are saved through their parent", title="Not allowed")
    if meta.issingle:
        return document.save_single(ctx, doctype, values)
    if values.get("modified") in (None, ""):
        _missing_modified(ctx, doctype, name)
    full: dict[str, Any] = {f.fieldname: None for f in meta.data_fields}
    full.update({t.fieldname: [] for t in meta.table_fields})
    full["docstatus"] = 0
    full.update(values)
    return document.update(ctx, doctype, name, full)


def _missing_modified(ctx: "Context", doctype: str, name: Any) -> None:
    """A saved dict without ``modified`` always conflicts in Frappe (it compares with nothing)."""
    stored = document.get_doc(ctx, doctype, name)  # 404 / 403 before any conflict report
    ctx.perms.check(ctx, doctype, "write", stored)
    raise TimestampMismatchError(
        f"Error: Document has been modified after you have opened it ({stored.d.get('modified')}, None). "
        f"Please refresh to get the latest document.", title="Document Modified")


def set_values(ctx: "Context", doctype: str, name: Any, values: dict) -> Document:
    """Update some fields of a document; for a child row, of the row, saving its parent, and
    the parent is returned (Frappe's ``set_value``)."""
    meta = ctx.get_meta(doctype)
    if not meta.istable:
        return document.update(ctx, doctype, name, values)
    row = document.load(ctx, doctype, name)
    parenttype, parent = row.d.get("parenttype"), row.d.get("parent")
    if not parenttype or ctx.find_meta(parenttype) is None:
        raise DoesNotExistError(f"{doctype} {name} not found", doctype=doctype)
    document.update(ctx, doctype, name, values)  # saves the parent
    return document.get_doc(ctx, parenttype, parent)


def update_each(ctx: "Context", items: list[dict]) -> list[tuple[dict, Exception]]:
    """Update each ``{"doctype", "docname", field: value...}`` on its own: a failing item
    leaves no partial writes behind and does not stop the others. The failures, in order."""
    def run(item: dict) -> None:
        values = {k: v for k, v in item.items() if k not in ("doctype", "docname", "name")}
        document.update(ctx, str(item.get("doctype")), item.get("docname"), values)

    return bulk.each(ctx, items, "bulk_update_item", run)[1]
