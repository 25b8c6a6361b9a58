"""DocType and DocField metadata built from Frappe's DocType JSON.

``Meta`` is the read-only, validated view of one DocType that every other layer
uses: its columns, child tables, naming rule, permissions rows and sort order.
It is built from a Frappe export as it is (unknown keys ignored, ``field_order``
honoured, old exports accepted).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ristretto.exceptions import ValidationError
from ristretto.meta.fieldtypes import (
    DATETIME, FIELD_TYPES, LAYOUT, TABLE, FieldType, cint, get_fieldtype,
)

# A DocType name becomes part of a quoted SQL identifier: keep it to plain characters.
# At most 60 characters: "tab" + name must fit PostgreSQL's 63-byte identifiers.
DOCTYPE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _\-]{0,59}$")
# At most 63 characters: PostgreSQL truncates longer identifiers (two long fieldnames
# could then name the same column).
FIELDNAME_RE = re.compile(r"^[A-Za-z0-9_]{1,63}$")
# The largest varchar PostgreSQL accepts; a DocField ``length`` beyond it has no column type.
MAX_FIELD_LENGTH = 10485760

# Standard columns of every (non-single) document, in table order.
STANDARD_FIELDS = ("name", "owner", "creation", "modified", "modified_by", "docstatus", "idx")
CHILD_FIELDS = ("parent", "parentfield", "parenttype")
OPTIONAL_FIELDS = ("_user_tags", "_comments", "_assign", "_liked_by")
# Names a DocField may not take (they are standard columns or special keys).
RESERVED_FIELDNAMES = frozenset(STANDARD_FIELDS + ("doctype",))

_STANDARD_TYPES = {
    "name": "Data", "owner": "Data", "creation": "Datetime", "modified": "Datetime",
    "modified_by": "Data", "docstatus": "Int", "idx": "Int", "parent": "Data",
    "parentfield": "Data", "parenttype": "Data", "_user_tags": "Text", "_comments": "Text",
    "_assign": "Text", "_liked_by": "Text", "_seen": "Text",
}


@dataclass(slots=True)
class DocField:
    fieldname: str
    fieldtype: str
    label: str
    ft: FieldType
    options: str = ""
    default: str | None = None
    reqd: int = 0
    unique: int = 0
    permlevel: int = 0
    read_only: int = 0
    hidden: int = 0
    length: int = 0
    non_negative: int = 0
    set_only_once: int = 0
    allow_on_submit: int = 0
    no_copy: int = 0
    search_index: int = 0
    ignore_user_permissions: int = 0
    fetch_from: str = ""
    fetch_if_empty: int = 0
    idx: int = 0
    raw: dict = field(default_factory=dict)

    @property
    def has_column(self) -> bool:
        return self.ft.has_column

    @property
    def is_table(self) -> bool:
        return self.ft.kind == TABLE

    @property
    def select_options(self) -> list[str]:
        return [o.strip() for o in (self.options or "").split("\n") if o.strip()]

    def max_length(self) -> int:
        return self.length or 140


def _standard_field(fieldname: str, *, name_type: str | None = None) -> DocField:
    fieldtype = name_type or _STANDARD_TYPES[fieldname]
    return DocField(fieldname=fieldname, fieldtype=fieldtype, label=fieldname,
                    ft=FIELD_TYPES[fieldtype])


def _docfield_from_dict(d: dict, idx: int) -> DocField:
    fieldname = str(d.get("fieldname") or "").strip()
    fieldtype = str(d.get("fieldtype") or "Data").strip()
    if fieldtype not in FIELD_TYPES:
        # Unknown/obsolete types are kept as Data so old exports still load.
        fieldtype_row = get_fieldtype(fieldtype)
    else:
        fieldtype_row = FIELD_TYPES[fieldtype]
    default = d.get("default")
    return DocField(
        fieldname=fieldname,
        fieldtype=fieldtype,
        label=str(d.get("label") or fieldname.replace("_", " ").title()),
        ft=fieldtype_row,
        options=str(d.get("options") or ""),
        default=None if default in (None, "") else str(default),
        reqd=cint(d.get("reqd")),
        unique=cint(d.get("unique")),
        permlevel=cint(d.get("permlevel")),
        read_only=cint(d.get("read_only")),
        hidden=cint(d.get("hidden")),
        length=cint(d.get("length")),
        non_negative=cint(d.get("non_negative")),
        set_only_once=cint(d.get("set_only_once")),
        allow_on_submit=cint(d.get("allow_on_submit")),
        no_copy=cint(d.get("no_copy")),
        search_index=cint(d.get("search_index")),
        ignore_user_permissions=cint(d.get("ignore_user_permissions")),
        fetch_from=str(d.get("fetch_from") or ""),
        fetch_if_empty=cint(d.get("fetch_if_empty")),
        idx=idx,
        raw=d,
    )


class Meta:
    """The effective definition of one DocType."""

    def __init__(self, definition: dict):
        d = definition
        name = str(d.get("name") or "").strip()
        if not DOCTYPE_NAME_RE.match(name):
            raise ValidationError(
                f"DocType name {name!r} is not allowed: use letters, digits, spaces, '-' and '_'",
                title="Invalid DocType name")
        self.name = name
        self.table = "tab" + name
        self.module = str(d.get("module") or "Custom")
        self.custom = cint(d.get("custom"))
        self.istable = cint(d.get("istable"))
        self.issingle = cint(d.get("issingle"))
        self.is_submittable = cint(d.get("is_submittable"))
        self.is_tree = cint(d.get("is_tree"))
        self.nsm_parent_field = str(d.get("nsm_parent_field") or "")
        self.is_virtual = cint(d.get("is_virtual"))
        self.autoname = str(d.get("autoname") or "").strip()
        self.naming_rule = str(d.get("naming_rule") or "")
        self.name_case = str(d.get("name_case") or "")
        self.title_field = str(d.get("title_field") or "")
        self.search_fields = str(d.get("search_fields") or "")
        self.sort_field = str(d.get("sort_field") or "modified")
        self.sort_order = str(d.get("sort_order") or "DESC").upper()
        self.track_changes = cint(d.get("track_changes"))
        self.allow_rename = cint(d.get("allow_rename"))
        self.allow_import = cint(d.get("allow_import"))
        self.definition = d
        # Per-DocType cache of SQL texts built from this definition (rebuilt with the Meta).
        self.sql_cache: dict = {}

        self.fields: list[DocField] = self._ordered_fields(d)
        self._by_name: dict[str, DocField] = {}
        for f in self.fields:
            if f.fieldname and f.fieldname not in self._by_name:
                self._by_name[f.fieldname] = f

        autoincrement = self.autoname.lower() == "autoincrement"
        self.name_is_int = bool(autoincrement)
        std = [_standard_field(n) for n in STANDARD_FIELDS]
        if autoincrement:
            std[0] = _standard_field("name", name_type="Long Int")
        if self.istable:
            std += [_standard_field(n) for n in CHILD_FIELDS]
        else:
            std += [_standard_field(n) for n in OPTIONAL_FIELDS]
        self.standard_fields: dict[str, DocField] = {f.fieldname: f for f in std}

        # Data fields that own a column (a DocField named like a standard column, e.g.
        # Web Page's ``idx``, shares that column instead of adding a second one).
        self.data_fields: list[DocField] = []
        seen: set[str] = set(self.standard_fields)
        for f in self.fields:
            if f.has_column and f.fieldname and f.fieldname not in seen:
                seen.add(f.fieldname)
                self.data_fields.append(f)
        self.table_fields: list[DocField] = [f for f in self.fields if f.is_table and f.fieldname]
        self.columns: dict[str, DocField] = dict(self.standard_fields)
        for f in self.data_fields:
            self.columns[f.fieldname] = f
        # Column order used by SELECT * style reads.
        self.column_names: tuple[str, ...] = tuple(self.columns)
        self.permissions: list[dict] = [p for p in (d.get("permissions") or []) if isinstance(p, dict)]
        if self.is_submittable and "amended_from" not in self._by_name:
            self._add_amended_from()

    def _ordered_fields(self, d: dict) -> list[DocField]:
        raw_fields = [f for f in (d.get("fields") or []) if isinstance(f, dict)]
        for f in raw_fields:
            fn = str(f.get("fieldname") or "")
            if fn and not FIELDNAME_RE.match(fn):
                raise ValidationError(f"Fieldname {fn!r} is not allowed: use letters, digits and '_'",
                                      title="Invalid fieldname")
        order = d.get("field_order")
        if isinstance(order, list) and order:
            pos = {fn: i for i, fn in enumerate(order)}
            # Fields missing from field_order keep their relative order after the listed ones.
            raw_fields = sorted(
                raw_fields,
                key=lambda f: (pos.get(f.get("fieldname"), len(pos)),))
        out = [_docfield_from_dict(f, i + 1) for i, f in enumerate(raw_fields)]
        for f in out:
            if not 0 <= f.length <= MAX_FIELD_LENGTH:
                raise ValidationError(f"Length of {f.label} must be between 0 and {MAX_FIELD_LENGTH}",
                                      title="Invalid length")
        return out

    def _add_amended_from(self) -> None:
        f = _docfield_from_dict({"fieldname": "amended_from", "fieldtype": "Link", "label": "Amended From",
                                 "options": self.name, "read_only": 1, "no_copy": 1},
                                len(self.fields) + 1)
        self.fields.append(f)
        self._by_name["amended_from"] = f
        self.data_fields.append(f)
        self.columns["amended_from"] = f
        self.column_names = tuple(self.columns)

    # --- lookups ---------------------------------------------------------------------

    def get_field(self, fieldname: str) -> DocField | None:
        return self._by_name.get(fieldname)

    def has_column(self, fieldname: str) -> bool:
        return fieldname in self.columns

    def get_column(self, fieldname: str) -> DocField | None:
        return self.columns.get(fieldname)

    def get_table_field(self, fieldname: str) -> DocField | None:
        f = self._by_name.get(fieldname)
        return f if f is not None and f.is_table else None

    def child_doctypes(self) -> list[str]:
        return [f.options for f in self.table_fields if f.options]

    @property
    def title(self) -> str:
        return self.title_field or "name"

    def default_order(self) -> list[tuple[str, str]]:
        """The DocType's sort as (fieldname, direction) pairs, falling back to ``modified desc``."""
        terms: list[tuple[str, str]] = []
        for part in self.sort_field.split(","):
            bits = part.strip().split()
            if not bits:
                continue
            fname = bits[0].strip("`")
            direction = (bits[1] if len(bits) > 1 else self.sort_order).upper()
            if fname in self.columns and direction in ("ASC", "DESC"):
                terms.append((fname, direction))
        return terms or [("modified", "DESC")]

    def is_datetime(self, fieldname: str) -> bool:
        f = self.columns.get(fieldname)
        return bool(f and f.ft.kind == DATETIME)

    def __repr__(self) -> str:
        return f"<Meta {self.name}>"


def is_layout(fieldtype: str) -> bool:
    return get_fieldtype(fieldtype).kind == LAYOUT


def normalize_definition(d: dict[str, Any]) -> dict[str, Any]:
    """A DocType definition with ``fields`` in display order and ``field_order`` removed.

    Used when a definition is stored as a DocType document: the position of each
    DocField row (``idx``) then carries the order.
    """
    meta_fields = Meta._ordered_fields(Meta.__new__(Meta), d)
    out = {k: v for k, v in d.items() if k != "field_order"}
    out["fields"] = [f.raw for f in meta_fields]
    return out
