"""The Document object: one document or child row, its values and its child rows."""

from __future__ import annotations

from typing import Any

from ristretto.meta.doctype import STANDARD_FIELDS, Meta
from ristretto.meta.fieldtypes import TIME, format_time


class Document:
    """One document (or child row): its values in ``d`` and its child rows in ``children``."""

    __slots__ = ("meta", "d", "children", "is_new", "previous")

    def __init__(self, meta: Meta, d: dict | None = None, *, is_new: bool = False):
        self.meta = meta
        self.d: dict[str, Any] = d if d is not None else {}
        self.children: dict[str, list[Document]] = {}
        self.is_new = is_new
        self.previous: Document | None = None

    @property
    def doctype(self) -> str:
        return self.meta.name

    @property
    def name(self) -> Any:
        return self.d.get("name")

    @name.setter
    def name(self, value: Any) -> None:
        self.d["name"] = value

    def get(self, key: str, default: Any = None) -> Any:
        if key in self.children:
            return self.children[key]
        return self.d.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.d[key] = value

    @property
    def docstatus(self) -> int:
        return int(self.d.get("docstatus") or 0)

    def as_dict(self, *, no_nulls: bool = False, fields: set[str] | None = None) -> dict:
        """Frappe's dictionary form: standard fields, values, child tables, then ``doctype``."""
        out: dict[str, Any] = {}
        meta = self.meta
        for key in meta.column_names:
            if fields is not None and key not in fields and key not in STANDARD_FIELDS:
                continue
            value = self.d.get(key)
            if value is None and no_nulls:
                continue
            if meta.columns[key].ft.kind == TIME and value is not None:
                value = format_time(value)
            out[key] = value
        if meta.issingle:
            out.pop("idx", None)
        for tf in meta.table_fields:
            if fields is not None and tf.fieldname not in fields:
                continue
            out[tf.fieldname] = [row.as_dict(no_nulls=no_nulls) for row in self.children.get(tf.fieldname, [])]
        out["doctype"] = meta.name
        return out
