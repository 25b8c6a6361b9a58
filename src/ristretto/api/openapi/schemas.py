"""JSON Schemas (OpenAPI 3.1) of documents, from DocType metadata and the field-type table.

A field's schema follows its row in :mod:`ristretto.meta.fieldtypes` (the row's ``kind``): text
kinds are strings (``Select`` with its options as an enum, varchar types with their length),
``Int`` and ``Check`` integers, the decimal kinds numbers, dates and times strings in Frappe's
forms, ``JSON`` any value, ``Table`` an array of the child DocType's schema. ``reqd`` fields are
required in a new document. Only the fields the caller may read (a document's schema) or write
(a request body's schema) appear, as :mod:`ristretto.model.apiview` says.
"""

from __future__ import annotations

from typing import Any, Iterable

from ristretto.meta import fieldtypes as ft
from ristretto.meta.doctype import DocField, Meta

# Frappe's own text forms of dates and times (not RFC 3339: a space, no zone).
_DATE = {"type": "string", "format": "date", "examples": ["2026-01-31"]}
_DATETIME = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?$",
             "examples": ["2026-01-31 13:45:00"]}
_TIME = {"type": "string", "pattern": r"^\d{1,2}:\d{2}(:\d{2}(\.\d{1,6})?)?$", "examples": ["13:45:00"]}
_BY_KIND: dict[str, dict[str, Any]] = {
    ft.INT: {"type": "integer"},
    ft.CHECK: {"type": "integer", "enum": [0, 1]},
    ft.FLOAT: {"type": "number"},
    ft.DATE: _DATE,
    ft.DATETIME: _DATETIME,
    ft.TIME: _TIME,
    ft.JSON: {},
}
# Bounds the storage itself sets (64-bit integers, decimal(21,9)).
_INT_BOUNDS = {"minimum": -(2**63), "maximum": 2**63 - 1}
_FLOAT_BOUNDS = {"exclusiveMinimum": -1e12, "exclusiveMaximum": 1e12}


def field_schema(field: DocField, *, write: bool) -> dict[str, Any]:
    """The schema of one (non-table) field's value."""
    kind = field.ft.kind
    if kind == ft.TEXT:
        schema: dict[str, Any] = {"type": "string"}
        options = field.select_options if field.fieldtype == "Select" else []
        if options:
            # An empty value is allowed unless the field is mandatory.
            schema["enum"] = options if field.reqd else ["", *options]
        elif field.ft.varchar:
            schema["maxLength"] = field.max_length()
        if field.fieldtype in ("Link", "Dynamic Link") and field.options:
            schema["description"] = (f"Name of a {field.options}" if field.fieldtype == "Link"
                                     else f"Name of a document of the DocType in '{field.options}'")
        if field.ft.secret:
            if write:
                schema["writeOnly"] = True
            else:
                schema["description"] = "Stored encrypted; read back masked"
    else:
        schema = dict(_BY_KIND.get(kind, {}))
        if kind == ft.INT:
            schema.update(_INT_BOUNDS)
        elif kind == ft.FLOAT:
            schema.update(_FLOAT_BOUNDS)
            if field.fieldtype == "Rating":
                schema.update({"minimum": 0, "maximum": 1})
                schema.pop("exclusiveMinimum")
                schema.pop("exclusiveMaximum")
        if field.non_negative and kind in (ft.INT, ft.FLOAT):
            schema["minimum"] = 0
            schema.pop("exclusiveMinimum", None)
    if field.label and field.label != field.fieldname:
        schema["title"] = field.label
    # Unset values read back as null, except numbers and Check (stored as 0); a client may send
    # null for any field it need not fill in.
    fixed = field.reqd if write else field.ft.not_null_zero
    return schema if fixed else _nullable(schema)


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """``null`` is a value of every field that is not mandatory (an unset field)."""
    if not schema or "type" not in schema:
        return schema
    out = dict(schema)
    out["type"] = [schema["type"], "null"]
    if "enum" in out:
        out["enum"] = [*out["enum"], None]
    return out


def _allowed(names: frozenset[str] | None, fieldname: str) -> bool:
    return names is None or fieldname in names


def _fields(meta: Meta, names: frozenset[str] | None, *, standard: bool) -> Iterable[DocField]:
    if standard:
        yield from (f for f in meta.standard_fields.values() if _allowed(names, f.fieldname))
    seen = set(meta.standard_fields)
    for f in meta.fields:
        if f.fieldname and f.fieldname not in seen and (f.has_column or f.is_table) \
                and _allowed(names, f.fieldname):
            seen.add(f.fieldname)
            yield f


def document_schema(meta: Meta, readable: frozenset[str] | None,
                    children: dict[str, tuple[Meta, frozenset[str] | None]]) -> dict[str, Any]:
    """A document as the caller reads it: the readable fields, standard ones included."""
    props: dict[str, Any] = {"doctype": {"type": "string", "const": meta.name}}
    for f in _fields(meta, readable, standard=True):
        if f.is_table:
            child = children.get(f.options)
            if child is not None:
                row = document_schema(child[0], child[1], {})
                props[f.fieldname] = {"type": "array", "items": row, "title": f.label}
        else:
            props[f.fieldname] = field_schema(f, write=False)
    return {"type": "object", "title": meta.name, "properties": props}


def write_schema(meta: Meta, writable: frozenset[str] | None,
                 children: dict[str, tuple[Meta, frozenset[str] | None]], *, new: bool) -> dict[str, Any]:
    """A request body that creates (``new``) or changes a document: the writable fields. Values
    sent for other fields are put back by the model, so they are simply not described."""
    props: dict[str, Any] = {}
    required: list[str] = []
    for f in _fields(meta, writable, standard=False):
        if f.is_table:
            child = children.get(f.options)
            if child is not None:
                row = write_schema(child[0], child[1], {}, new=True)
                props[f.fieldname] = {"type": "array", "items": row, "title": f.label}
            continue
        props[f.fieldname] = field_schema(f, write=new)
        if new and f.reqd and f.default is None and not f.fetch_from:
            required.append(f.fieldname)
    schema: dict[str, Any] = {"type": "object", "title": meta.name, "properties": props}
    if required:
        schema["required"] = required
    return schema
