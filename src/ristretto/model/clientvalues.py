"""Building a document from the values a client sent: defaults of a new document or row, values
coerced to their field types, child rows replacing the stored ones (Frappe's replace semantics),
standard and server-owned keys ignored, and malformed shapes refused."""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Any

from ristretto.exceptions import ValidationError
from ristretto.meta.doctype import CHILD_FIELDS, STANDARD_FIELDS, Meta
from ristretto.meta.fieldtypes import coerce_value
from ristretto.model import naming, validation
from ristretto.model.base import Document
from ristretto.model.writeplan import NOW, TIME_NOW, TODAY, write_plan

if TYPE_CHECKING:
    from ristretto.model.context import Context

# Keys a client may send that are never document values.
IGNORED_KEYS = frozenset({"doctype", "flags", "ignore_permissions", "cmd", "sid", "csrf_token",
                          "__islocal", "__unsaved", "__onload", "__last_sync_on", "_comments",
                          "_assign", "_liked_by", "_user_tags", "_seen"})
SERVER_SET = frozenset(STANDARD_FIELDS + CHILD_FIELDS) - {"docstatus"}
# Keys that can only hold one value (text or number) whatever the DocType.
SCALAR_KEYS = frozenset(STANDARD_FIELDS + CHILD_FIELDS + ("doctype",))


def defaults(meta: Meta, ctx: "Context") -> dict[str, Any]:
    """DocField defaults for a new document or row.

    None while importing (``ctx.flags["in_import"]``), like Frappe: an exported file
    omits every key whose value is 0, so a missing key must stay 0 and not take the
    field's default (a DocPerm row without ``write`` must not get DocPerm's ``write``
    default of 1).
    """
    out: dict[str, Any] = {}
    if ctx.flags.get("in_import"):
        return out
    # Which fields have a default and how to make it: worked out once per DocType definition.
    for fieldname, how, value in write_plan(meta).defaults:
        if how is None:
            out[fieldname] = value
        elif how == TODAY:
            out[fieldname] = _dt.date.today().isoformat()
        elif how == NOW:
            out[fieldname] = ctx.now()
        elif how == TIME_NOW:
            out[fieldname] = _dt.datetime.now().strftime("%H:%M:%S")
        else:  # COERCE: a value that could be changed in place, made for each document
            out[fieldname] = coerce_value(value.ft, value.default, value.label)
    return out


def apply_values(ctx: "Context", doc: Document, data: dict, *, is_new: bool, row_label: str = "") -> None:
    """Coerce and set client values on ``doc`` (standard fields and unknown keys ignored)."""
    meta = doc.meta
    for key, value in data.items():
        if key in SCALAR_KEYS:
            # Ignored or server-set, but an object here is malformed input, never silently dropped.
            validation.check_scalar(value, key, row_label)
        if key in IGNORED_KEYS or (key in SERVER_SET and key in meta.standard_fields):
            # Server-owned columns; ``parent`` is one only on child tables (Custom DocPerm and
            # the like have a ``parent`` field of their own).
            continue
        f = meta.get_field(key)
        if f is None:
            if key == "docstatus":
                doc.d["docstatus"] = docstatus_value(value)
            continue
        if f.is_table:
            child_meta = ctx.find_meta(f.options)
            if child_meta is None or not child_meta.istable:
                continue  # unknown child DocType (or not a child table): nowhere to store rows
            if value is None:
                value = []
            if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
                raise ValidationError(f"Value for {f.label} must be a list of rows", title="Invalid value")
            doc.children[key] = child_rows(ctx, doc, f.fieldname, child_meta, value)
            continue
        if not f.has_column or key in ("name",):
            continue
        doc.d[key] = coerce_value(f.ft, value, f.label)


def docstatus_value(value: Any) -> int:
    try:
        v = int(value)
    except (TypeError, ValueError):
        raise ValidationError("docstatus must be 0, 1 or 2", title="Invalid value") from None
    if v not in (0, 1, 2):
        raise ValidationError("docstatus must be 0, 1 or 2", title="Invalid value")
    return v


def child_rows(ctx: "Context", parent: Document, fieldname: str, child_meta: Meta, rows: list[dict]) -> list[Document]:
    existing = {r.name: r for r in (parent.previous.children.get(fieldname, []) if parent.previous else [])}
    out = []
    table = parent.meta.get_field(fieldname)
    label = table.label if table is not None else fieldname
    plan = write_plan(child_meta)
    for i, data in enumerate(rows, start=1):
        row_label = f"{label} Row #{i}: "
        # The row's name finds the stored row it replaces: it must be one value.
        validation.check_scalar(data.get("name"), "name", row_label)
        prev = existing.get(data.get("name"))
        row = Document(child_meta, dict(plan.zeroed), is_new=prev is None)
        if prev is None:
            # Only new rows take defaults: an existing row is fully overwritten by what was
            # sent, and what was left out becomes empty (Frappe's replace semantics).
            row.d.update(defaults(child_meta, ctx))
            for zero in plan.zero_if_none:
                if row.d[zero] is None:
                    row.d[zero] = 0
        apply_values(ctx, row, data, is_new=True, row_label=row_label)
        if prev is not None:
            row.d["name"] = prev.name
        else:
            # The child DocType's own rule: a hash unless it says otherwise (autoincrement).
            naming.set_name(ctx, row)
        if prev is not None:
            row.d["creation"] = prev.d.get("creation")
            row.d["owner"] = prev.d.get("owner")
        row.d["idx"] = i
        row.d["parentfield"] = fieldname
        out.append(row)
    return out
