"""The field-type table: one row per Frappe fieldtype.

Each row says how the type is stored (column type per SQL dialect), how a value
sent by a client is coerced before it is saved, which fallback ``IFNULL`` uses in
filters, and whether values are length-checked. Adding a fieldtype is adding one
row here; nothing else in the code base switches on fieldtype names for storage.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass
from typing import Any, Callable

import orjson

from ristretto.exceptions import ValidationError

# Kinds group fieldtypes that share storage and coercion rules.
TEXT, INT, FLOAT, CHECK, DATE, DATETIME, TIME, JSON, TABLE, LAYOUT = (
    "text", "int", "float", "check", "date", "datetime", "time", "json", "table", "layout",
)

VARCHAR_LEN = 140


# --- value coercion -------------------------------------------------------------------
# Each coercer takes the raw client value (already not None) and returns the value to
# store, raising ValueError for values that cannot be read as that type.

def _reject_container(value: Any) -> None:
    if isinstance(value, (list, dict)):
        raise ValueError("cannot be a list")


def to_text(value: Any) -> str:
    _reject_container(value)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        # 5.0 sent to a Data field reads back as "5", like Frappe's cstr of an int.
        return str(int(value))
    text = str(value)
    if "\x00" in text:
        # PostgreSQL text cannot hold NUL; refused on every backend alike.
        raise ValueError("cannot contain NUL characters")
    return text


def cint(value: Any) -> int:
    """Frappe's ``cint``: anything unreadable is 0."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    try:
        f = float(str(value).strip().replace(",", ""))
    except (TypeError, ValueError):
        return 0
    if math.isnan(f) or math.isinf(f):
        return 0
    return int(f)


def flt(value: Any) -> float:
    """Frappe's ``flt``: anything unreadable is 0.0."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        f = float(value)
    else:
        try:
            f = float(str(value).strip().replace(",", ""))
        except (TypeError, ValueError):
            return 0.0
    if math.isnan(f) or math.isinf(f):
        return 0.0
    return f


def _to_int(value: Any) -> int:
    _reject_container(value)
    n = cint(value)
    # 64-bit column everywhere; reject what cannot be stored rather than fail in the DB.
    if not -(2**63) <= n < 2**63:
        raise ValueError("is out of range")
    return n


def _to_float(value: Any) -> float:
    _reject_container(value)
    f = flt(value)
    # decimal(21,9) holds at most 12 integer digits. PostgreSQL turns a float into a decimal
    # through its 15 significant digits: 999999999999.9999 becomes 1000000000000 there.
    if abs(f) >= 1e12 or abs(float(f"{f:.15g}")) >= 1e12:
        raise ValueError("is out of range")
    return f


def _to_check(value: Any) -> int:
    _reject_container(value)
    return 1 if cint(value) else 0


def _to_rating(value: Any) -> float:
    return min(1.0, max(0.0, _to_float(value)))


def parse_date(value: Any) -> str:
    """Return ``YYYY-MM-DD`` for a date or datetime given as text or object."""
    if isinstance(value, _dt.datetime):
        return value.date().isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    _reject_container(value)
    text = str(value).strip()
    try:
        return _dt.date.fromisoformat(text[:10]).isoformat()
    except ValueError:
        raise ValueError(f"{text!r} is not a valid date (YYYY-MM-DD)") from None


def parse_datetime(value: Any) -> str:
    """Return Frappe's datetime text: ``YYYY-MM-DD HH:MM:SS`` plus ``.ffffff`` if non-zero."""
    if isinstance(value, _dt.datetime):
        d = value
    elif isinstance(value, _dt.date):
        d = _dt.datetime(value.year, value.month, value.day)
    else:
        _reject_container(value)
        text = str(value).strip()
        try:
            d = _dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a valid datetime (YYYY-MM-DD HH:MM:SS)") from None
        if d.tzinfo is not None:
            d = d.astimezone().replace(tzinfo=None)
    return format_datetime(d)


def format_datetime(d: _dt.datetime) -> str:
    if d.microsecond:
        return d.strftime("%Y-%m-%d %H:%M:%S.%f")
    return d.strftime("%Y-%m-%d %H:%M:%S")


def parse_time(value: Any) -> str:
    """Return ``HH:MM:SS[.ffffff]`` (zero padded, so text order is time order)."""
    if isinstance(value, _dt.timedelta):
        secs = value.total_seconds()
        value = f"{int(secs // 3600)}:{int(secs % 3600 // 60):02d}:{secs % 60:09.6f}"
    if isinstance(value, _dt.time):
        t = value
    else:
        _reject_container(value)
        text = str(value).strip()
        parts = text.split(":")
        try:
            if len(parts) == 2:
                parts.append("0")
            if len(parts) != 3:
                raise ValueError
            h, m = int(parts[0]), int(parts[1])
            s = float(parts[2])
            t = _dt.time(h, m, int(s), int(round((s - int(s)) * 1e6)) % 1000000)
        except ValueError:
            raise ValueError(f"{text!r} is not a valid time (HH:MM:SS)") from None
    if t.microsecond:
        return t.strftime("%H:%M:%S.%f")
    return t.strftime("%H:%M:%S")


def format_time(value: Any) -> str:
    """Frappe prints times like Python's timedelta: hours not zero padded."""
    text = value if isinstance(value, str) else parse_time(value)
    if text[:1] == "0" and len(text) > 1 and text[1] != ":":
        text = text[1:]
    return text


def _to_json(value: Any) -> str:
    if isinstance(value, (dict, list)):
        try:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2).decode()
        except orjson.JSONEncodeError:
            # Nested deeper than the encoder allows (254 levels): the client's data, not a crash.
            raise ValueError("is not valid JSON (nested too deeply)") from None
    text = str(value)
    if text.strip():
        try:
            orjson.loads(text)
        except orjson.JSONDecodeError:
            raise ValueError("is not valid JSON") from None
    return text


# --- the table ------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class FieldType:
    name: str
    kind: str
    sqlite: str | None          # column type on SQLite (None: no column)
    postgres: str | None        # column type on PostgreSQL; "{length}" is the varchar length
    coerce: Callable[[Any], Any] | None
    varchar: bool = False        # value length checked against DocField.length or 140
    not_null_zero: bool = False  # column is NOT NULL DEFAULT 0 (numbers, Check)
    # The value is a secret kept encrypted outside the row; the row holds a mask of
    # asterisks, so the column is never filtered, sorted or grouped on.
    secret: bool = False

    @property
    def has_column(self) -> bool:
        return self.sqlite is not None

    def column_type(self, dialect: str, length: int | None = None) -> str:
        ddl = self.sqlite if dialect == "sqlite" else self.postgres
        assert ddl is not None
        return ddl.replace("{length}", str(length or VARCHAR_LEN))


def _row(name, kind, sqlite, postgres, coerce, **kw) -> FieldType:
    return FieldType(name, kind, sqlite, postgres, coerce, **kw)


_VARCHAR = ("TEXT", "varchar({length})")

FIELD_TYPES: dict[str, FieldType] = {ft.name: ft for ft in [
    # numbers
    _row("Int", INT, "INTEGER", "bigint", _to_int, not_null_zero=True),
    _row("Long Int", INT, "INTEGER", "bigint", _to_int, not_null_zero=True),
    _row("Check", CHECK, "INTEGER", "smallint", _to_check, not_null_zero=True),
    _row("Float", FLOAT, "REAL", "numeric(21,9)", _to_float, not_null_zero=True),
    _row("Currency", FLOAT, "REAL", "numeric(21,9)", _to_float, not_null_zero=True),
    _row("Percent", FLOAT, "REAL", "numeric(21,9)", _to_float, not_null_zero=True),
    _row("Duration", FLOAT, "REAL", "numeric(21,9)", _to_float, not_null_zero=True),
    _row("Rating", FLOAT, "REAL", "numeric(3,2)", _to_rating, not_null_zero=True),
    # short text (varchar)
    *(_row(n, TEXT, *_VARCHAR, to_text, varchar=True) for n in (
        "Data", "Link", "Dynamic Link", "Select", "Read Only", "Color", "Icon", "Phone",
        "Autocomplete")),
    # long text
    *(_row(n, TEXT, "TEXT", "text", to_text) for n in (
        "Small Text", "Text", "Long Text", "Code", "Text Editor", "Markdown Editor",
        "HTML Editor", "Attach", "Attach Image", "Signature", "Barcode",
        "Geolocation")),
    _row("Password", TEXT, "TEXT", "text", to_text, secret=True),
    # dates and times
    _row("Date", DATE, "TEXT", "date", parse_date),
    _row("Datetime", DATETIME, "TEXT", "timestamp(6)", parse_datetime),
    _row("Time", TIME, "TEXT", "time(6)", parse_time),
    _row("JSON", JSON, "TEXT", "text", _to_json),
    # child tables: no column on the parent
    _row("Table", TABLE, None, None, None),
    _row("Table MultiSelect", TABLE, None, None, None),
    # layout: no column, no value
    *(_row(n, LAYOUT, None, None, None) for n in (
        "Section Break", "Column Break", "Tab Break", "HTML", "Button", "Image", "Fold",
        "Heading")),
]}

# Fallback used by IFNULL-style wrapping in filters (Frappe's NULL semantics).
NULL_FALLBACK = {
    TEXT: "''", JSON: "''", DATE: "'0001-01-01'", DATETIME: "'0001-01-01 00:00:00'",
    TIME: "'00:00:00'", INT: "0", FLOAT: "0", CHECK: "0",
}


def get_fieldtype(name: str) -> FieldType:
    """The row for a fieldtype; unknown types are stored as text (lenient, like old exports)."""
    return FIELD_TYPES.get(name) or FIELD_TYPES["Data"]


def coerce_value(ft: FieldType, value: Any, label: str) -> Any:
    """Coerce a client value for storage; ``""`` becomes NULL for dates and times."""
    if value is None:
        return 0 if ft.not_null_zero else None
    if value == "" and ft.kind in (DATE, DATETIME, TIME, JSON):
        return None
    try:
        return ft.coerce(value) if ft.coerce else value
    except ValueError as e:
        raise ValidationError(f"Value for {label} {e}", title="Invalid value") from None
