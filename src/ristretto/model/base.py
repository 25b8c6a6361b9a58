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
        meta = self.meta
        d = self.d
        columns = meta.column_names
        if fields is not None:
            columns = [k for k in columns if k in fields or k in STANDARD_FIELDS]
        if no_nulls:
            out: dict[str, Any] = {k: v for k in columns if (v := d.get(k)) is not None}
        else:
            out = {k: d.get(k) for k in columns}
        for key in _time_columns(meta):
            value = out.get(key)
            if value is not None:
                out[key] = format_time(value)
        if meta.issingle:
            out.pop("idx", None)
        for tf in meta.table_fields:
            if fields is not None and tf.fieldname not in fields:
                continue
            out[tf.fieldname] = [row.as_dict(no_nulls=no_nulls) for row in self.children.get(tf.fieldname, [])]
        out["doctype"] = meta.name
        return out


def _time_columns(meta: Meta) -> tuple[str, ...]:
    """The Time columns of ``meta`` (their values are formatted in ``as_dict``), kept per
    DocType definition: nearly every DocType has none, and this runs for every document shown."""
    times = meta.sql_cache.get("time_columns")
    if times is None:
        times = meta.sql_cache["time_columns"] = tuple(
            k for k in meta.column_names if meta.columns[k].ft.kind == TIME)
    return times
