"""Per-DocType write plans: which fields each step of a save has to look at, worked out once.

A save fills defaults, checks mandatory fields, values, links and uniqueness, refreshes
``fetch_from`` fields, and compares the new state with the old one. Each of these steps
concerns only a few of a DocType's fields (ToDo: three defaults, one mandatory field, five
links), so walking every field and re-deriving the same facts (options split into lists,
fieldtype tests) on every save is wasted work on the writer's path. The plan lists, in
field order, just the fields each step needs, with what it needs to know about them.

Plans are kept in ``Meta.sql_cache``: a changed definition is a new Meta (the registry
rebuilds them when the metadata version changes), so its plan is built again with it.
Other DocTypes (link targets, child tables) are never kept in a plan: they are looked up
at each save, as before, because they can change on their own.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ristretto.exceptions import ValidationError
from ristretto.meta.doctype import CHILD_FIELDS, STANDARD_FIELDS, DocField, Meta
from ristretto.meta.fieldtypes import DATE, DATETIME, FLOAT, INT, TEXT, TIME, coerce_value

# How a default is produced at each save (None: the value computed once is used as it is).
TODAY, NOW, TIME_NOW, COERCE = "today", "now", "time", "coerce"
_IMMUTABLE = (str, int, float, bool, type(None))
_SKIP = frozenset(STANDARD_FIELDS) | frozenset(CHILD_FIELDS)


class ValueCheck(NamedTuple):
    """What ``validation.check_values`` tests for one field (fields with no test are left out)."""
    field: DocField
    max_length: int            # a Data-like column's limit (0: no length check)
    options: list[str] | None  # a Select's options (None: not a Select with options)
    data_format: bool          # a Data field with an ``options`` format (Email, Phone, URL, Name)
    non_negative: bool         # a number that must not be negative


class FetchField(NamedTuple):
    field: DocField
    link_field: str
    source: str
    link: DocField | None      # the Link field named by ``fetch_from`` (None: not a Link of this DocType)


class WritePlan:
    __slots__ = ("zeroed", "defaults", "zero_if_none", "mandatory", "value_checks", "links",
                 "unique", "fetch", "set_only_once", "compared")

    def __init__(self, meta: Meta):
        # A new row's values before defaults: every column empty, numbers and Checks 0.
        self.zeroed: dict[str, Any] = {c: None for c in meta.column_names}
        for f in meta.data_fields:
            if f.ft.not_null_zero:
                self.zeroed[f.fieldname] = 0
        self.defaults: tuple[tuple[str, str | None, Any], ...] = tuple(_defaults(meta))
        # Numbers whose default could leave them empty: put back to 0 after the defaults.
        defaulted = {fieldname for fieldname, _, _ in self.defaults}
        self.zero_if_none = tuple(f.fieldname for f in meta.data_fields
                                  if f.ft.not_null_zero and f.fieldname in defaulted)
        self.mandatory = tuple(f for f in meta.fields if f.reqd)
        self.value_checks = tuple(c for c in map(_value_check, meta.data_fields) if c is not None)
        self.links = tuple(f for f in meta.data_fields if f.fieldtype in ("Link", "Dynamic Link"))
        self.unique = tuple(f for f in meta.data_fields if f.unique)
        self.fetch = tuple(_fetch(meta, f) for f in meta.data_fields if f.fetch_from and "." in f.fetch_from)
        self.set_only_once = tuple(f for f in meta.data_fields if f.set_only_once)
        # Fields whose change a save reports (change log, Version): values, not stamps.
        self.compared = tuple(f.fieldname for f in meta.data_fields if f.fieldname not in _SKIP)


def write_plan(meta: Meta) -> WritePlan:
    plan = meta.sql_cache.get("write_plan")
    if plan is None:
        plan = meta.sql_cache["write_plan"] = WritePlan(meta)
    return plan


def _defaults(meta: Meta):
    """(fieldname, how, value) for each field with a default that applies server-side, in field order."""
    for f in meta.data_fields:
        if f.default is None:
            continue
        default = f.default
        kind = f.ft.kind
        if kind == DATE and default.lower() == "today":
            yield f.fieldname, TODAY, None
        elif kind == DATETIME and default.lower() == "now":
            yield f.fieldname, NOW, None
        elif default.startswith(":") or (default.startswith("{") and default.endswith("}")):
            continue  # user defaults / templates of other fields: not applicable server-side
        elif kind == TIME and default.lower() == "now":
            yield f.fieldname, TIME_NOW, None
        else:
            try:
                value = coerce_value(f.ft, default, f.label)
            except ValidationError:
                continue
            # A value that could be changed in place (JSON) is made again for each document.
            yield (f.fieldname, None, value) if isinstance(value, _IMMUTABLE) else (f.fieldname, COERCE, f)


def _value_check(f: DocField) -> ValueCheck | None:
    kind = f.ft.kind
    if kind == TEXT:
        max_length = f.max_length() if f.ft.varchar else 0
        options = None
        data_format = False
        if f.fieldtype == "Select":
            if f.select_options and f.fieldname != "naming_series":
                options = f.select_options
        elif f.fieldtype == "Data" and f.options:
            data_format = f.options.strip() in ("Email", "Phone", "URL", "Name")
        if max_length or options is not None or data_format:
            return ValueCheck(f, max_length, options, data_format, False)
        return None
    if kind in (INT, FLOAT) and f.non_negative:
        return ValueCheck(f, 0, None, False, True)
    return None


def _fetch(meta: Meta, f: DocField) -> FetchField:
    link_field, source = f.fetch_from.split(".", 1)
    lf = meta.get_field(link_field)
    return FetchField(f, link_field, source, lf if lf is not None and lf.fieldtype == "Link" else None)
