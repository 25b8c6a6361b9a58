"""Filters: Frappe's filter shapes and operators -> SQL conditions with bound values.

Used by the list-query compiler (``ristretto.db.query``), which resolves every field to a
column of known metadata before a condition is built here. Frappe's NULL semantics are
kept: a condition that would be true for the column's fallback value (``''``,
``0001-01-01``, ...) is evaluated on ``COALESCE(column, fallback)`` so NULL rows match,
e.g. ``status != 'Open'`` returns rows whose status is NULL.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ristretto.db.dialects import quote
from ristretto.exceptions import DataError, ValidationError
from ristretto.meta.doctype import DocField, Meta
from ristretto.meta.fieldtypes import (
    CHECK, DATE, DATETIME, FLOAT, INT, JSON, NULL_FALLBACK, TEXT, TIME, cint, flt,
    parse_date, parse_datetime, parse_time,
)

if TYPE_CHECKING:
    from ristretto.db.query import ListQuery

OPERATORS = (
    "=", "!=", "<", ">", "<=", ">=", "like", "not like", "in", "not in", "is", "between",
    "timespan", "previous", "next", "descendants of", "not descendants of", "ancestors of",
    "not ancestors of", "descendants of (inclusive)",
)
_OP_ALIASES = {"==": "=", "<>": "!=", "=<": "<=", "=>": ">=", "not_like": "not like", "not_in": "not in"}
# Limits (a 417 beyond them): conditions in one `filters`/`or_filters` argument, and
# characters of a filter's field name (also the compiler's limit for one field expression).
MAX_FILTER_CONDITIONS = 500
MAX_NAME_LENGTH = 1000


def too_long(what: str, limit: int) -> DataError:
    return DataError(f"{what} is longer than {limit} characters", title="Invalid argument")


@dataclass
class Column:
    """A resolved column: its SQL, its field metadata and the table it belongs to."""
    sql: str
    field: DocField
    meta: Meta
    is_main: bool
    # The main DocType's Link or Table field the column was reached through (dot notation,
    # child filters): it must be readable too, or its value could be inferred.
    through: DocField | None = None


# --- filter normalisation ----------------------------------------------------------------

def normalize_operator(op: Any) -> str:
    if op is None or op == "":
        return "="
    if not isinstance(op, str):
        raise ValidationError(f"Operator must be one of {', '.join(OPERATORS)}", title="Invalid filter")
    low = " ".join(op.lower().split())
    low = _OP_ALIASES.get(low, low)
    if low not in OPERATORS:
        raise ValidationError(f"Operator must be one of {', '.join(OPERATORS)}", title="Invalid filter")
    return low


def normalize_filters(filters: Any, doctype: str, *, name: str = "filters") -> list[tuple[str | None, Any, Any, Any]]:
    """Every accepted filter shape → list of (doctype, fieldname, operator, value).

    ``filters`` are Python values: request text is decoded at the API edge
    (``ristretto.api.jsonargs``), so text here is refused like any other non-filter.
    """
    if not filters:
        return []
    if isinstance(filters, (list, tuple, dict)) and len(filters) > MAX_FILTER_CONDITIONS:
        raise _too_many(name)
    out = _normalize(filters, doctype)
    if len(out) > MAX_FILTER_CONDITIONS:
        raise _too_many(name)
    return out


def _too_many(name: str) -> DataError:
    return DataError(f"Too many conditions in '{name}' (at most {MAX_FILTER_CONDITIONS})", title="Invalid filter")


def _normalize(filters: Any, doctype: str) -> list[tuple[str | None, Any, Any, Any]]:
    out: list[tuple[str | None, Any, Any, Any]] = []
    if isinstance(filters, dict):
        for key, value in filters.items():
            if isinstance(value, (list, tuple)) and value and isinstance(value[0], str) \
                    and len(value) <= 2 and _looks_like_operator(value[0]):
                out.append((None, key, value[0], value[1] if len(value) > 1 else None))
            else:
                out.append((None, key, "=", value))
        return out
    if isinstance(filters, (list, tuple)):
        if filters and all(not isinstance(x, (list, tuple, dict)) for x in filters) and len(filters) >= 3:
            filters = [filters]  # a single flat condition
        for cond in filters:
            if isinstance(cond, dict):
                out.extend(_normalize(cond, doctype))
                continue
            if not isinstance(cond, (list, tuple)):
                raise ValidationError("Filter must be a list or dict", title="Invalid filter")
            if len(cond) == 2:
                out.append((None, cond[0], "=", cond[1]))
            elif len(cond) == 3:
                out.append((None, cond[0], cond[1], cond[2]))
            elif len(cond) >= 4:
                if cond[0] is not None and not isinstance(cond[0], str):
                    raise ValidationError("Invalid DocType in filter", title="Invalid filter")
                out.append((cond[0] or None, cond[1], cond[2], cond[3]))
            else:
                raise ValidationError("Filter must have 4 values (doctype, fieldname, operator, value)",
                                      title="Invalid filter")
        return out
    raise ValidationError("Filters must be a list or a dict", title="Invalid filter")


def _looks_like_operator(text: str) -> bool:
    try:
        normalize_operator(text)
        return True
    except ValidationError:
        return False


# --- conditions ----------------------------------------------------------------------------

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _coerce_filter_value(f: DocField, value: Any, *, datetime_end: bool = False) -> Any:
    kind = f.ft.kind
    if isinstance(value, (list, dict)):
        raise DataError(f"Invalid value for filter on {f.fieldname}", title="Invalid filter")
    if kind in (INT, CHECK):
        n = cint(value)
        if not _INT64_MIN <= n <= _INT64_MAX:
            raise DataError(f"Value for {f.label} is out of range", title="Invalid filter")
        return n
    if kind == FLOAT:
        return flt(value)
    if value is None or value == "":
        return NULL_FALLBACK[kind].strip("'") if kind in (DATE, DATETIME, TIME) else ""
    try:
        if kind == DATE:
            return parse_date(value)
        if kind == DATETIME:
            text = str(value).strip()
            if len(text) <= 10:
                d = parse_date(text)
                return f"{d} 23:59:59.999999" if datetime_end else f"{d} 00:00:00"
            return parse_datetime(text)
        if kind == TIME:
            return parse_time(value)
    except ValueError as e:
        raise DataError(f"Invalid value for {f.label}: {e}", title="Invalid filter") from None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _fallback_py(f: DocField) -> Any:
    kind = f.ft.kind
    if kind in (INT, CHECK, FLOAT):
        return 0
    return NULL_FALLBACK.get(kind, "''").strip("'")


def _nullable(col: Column) -> bool:
    f = col.field
    if f.ft.not_null_zero:
        return False
    return not (col.is_main and f.fieldname in ("name", "creation", "modified"))


def _compare(a: Any, op: str, b: Any) -> bool:
    try:
        return {"=": a == b, "!=": a != b, "<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]
    except TypeError:
        return False


def _wrapped(q: ListQuery, col: Column, wrap: bool) -> str:
    if not wrap:
        return col.sql
    return f"COALESCE({col.sql}, {NULL_FALLBACK.get(col.field.ft.kind, chr(39) * 2)})"


def build_condition(q: ListQuery, col: Column, op: str, value: Any) -> tuple[str, list]:
    f = col.field
    kind = f.ft.kind
    nullable = _nullable(col)
    fallback = _fallback_py(f)

    if op in ("=", "!=", "<", ">", "<=", ">="):
        v = _coerce_filter_value(f, value, datetime_end=op in ("<=",))
        wrap = nullable and _compare(fallback, op, v)
        return f"{_wrapped(q, col, wrap)} {op} ?", [v]

    if op in ("like", "not like"):
        if isinstance(value, (list, dict)):
            raise DataError(f"Invalid value for filter on {f.fieldname}", title="Invalid filter")
        pattern = "" if value is None else str(value)
        # Frappe keeps NULL rows out of `like` unless the pattern is empty ("%" included).
        wrap = nullable and (op == "not like" or pattern == "")
        expr = col.sql if q.dialect.text_is_native(f.ft) else q.dialect.as_text(col.sql)
        if wrap:
            expr = f"COALESCE({expr}, '')"
        # Backslash escapes on both databases, as on MariaDB; a trailing lone one (an error
        # on PostgreSQL) is read as a literal backslash.
        if (len(pattern) - len(pattern.rstrip("\\"))) % 2:
            pattern += "\\"
        sql_op = q.dialect.like if op == "like" else f"NOT {q.dialect.like}"
        return f"{expr} {sql_op} ? ESCAPE '\\'", [pattern]

    if op in ("in", "not in"):
        if value is None:
            values: list = []
        elif isinstance(value, str):
            values = [v.strip() for v in value.split(",")]
        elif isinstance(value, (list, tuple)):
            values = [v.strip() if isinstance(v, str) else v for v in value]
        else:
            values = [value]
        if not values:
            values = [""]
        coerced = [_coerce_filter_value(f, v) for v in values]
        wrap = nullable and (op == "not in" or fallback in coerced)
        marks = ", ".join("?" * len(coerced))
        sql_op = "IN" if op == "in" else "NOT IN"
        return f"{_wrapped(q, col, wrap)} {sql_op} ({marks})", coerced

    if op == "is":
        v = str(value or "").strip().lower()
        if v not in ("set", "not set"):
            raise ValidationError("The value of 'is' must be 'set' or 'not set'", title="Invalid filter")
        if kind in (TEXT, JSON) and q.dialect.text_is_native(f.ft) or q.dialect.name == "sqlite":
            return (f"COALESCE({col.sql}, '') {'!=' if v == 'set' else '='} ''", [])
        return (f"{col.sql} IS {'NOT ' if v == 'set' else ''}NULL", [])

    if op in ("between", "timespan", "previous", "next"):
        start, end = _range_bounds(op, value)
        lo = _coerce_filter_value(f, start)
        hi = _coerce_filter_value(f, end, datetime_end=True)
        return f"{col.sql} BETWEEN ? AND ?", [lo, hi]

    # tree operators
    return _tree_condition(q, col, op, value)


def _range_bounds(op: str, value: Any) -> tuple[Any, Any]:
    today = _dt.date.today()
    if op == "between":
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",")]
        if not isinstance(value, (list, tuple)) or len(value) > 2:
            raise ValidationError("'between' needs a list of two values", title="Invalid filter")
        vals = list(value) + [None] * (2 - len(value))
        return (vals[0] or today.isoformat(), vals[1] or today.isoformat())
    if not isinstance(value, str):
        raise ValidationError(f"Invalid value for '{op}'", title="Invalid filter")
    span = value.strip().lower()
    if op in ("previous", "next"):
        mapping = {"1 week": "week", "1 month": "month", "3 months": "quarter", "6 months": "6 months",
                   "1 year": "year"}
        if span not in mapping:
            raise ValidationError(f"Invalid value for '{op}': {value}", title="Invalid filter")
        span = ("last " if op == "previous" else "next ") + mapping[span]
    return timespan_range(span, today)


def timespan_range(span: str, today: _dt.date) -> tuple[str, str]:
    def month_start(d: _dt.date) -> _dt.date:
        return d.replace(day=1)

    def add_months(d: _dt.date, n: int) -> _dt.date:
        y, m = divmod(d.month - 1 + n, 12)
        return d.replace(year=d.year + y, month=m + 1, day=1)

    def quarter_start(d: _dt.date) -> _dt.date:
        return d.replace(month=(d.month - 1) // 3 * 3 + 1, day=1)

    one = _dt.timedelta(days=1)
    week_start = today - _dt.timedelta(days=today.weekday())
    ranges = {
        "today": (today, today),
        "yesterday": (today - one, today - one),
        "tomorrow": (today + one, today + one),
        "this week": (week_start, week_start + _dt.timedelta(days=6)),
        "last week": (today - _dt.timedelta(days=7), today),
        "next week": (today, today + _dt.timedelta(days=7)),
        "this month": (month_start(today), add_months(today, 1) - one),
        "last month": (add_months(today, -1), month_start(today) - one),
        "next month": (add_months(today, 1), add_months(today, 2) - one),
        "this quarter": (quarter_start(today), add_months(quarter_start(today), 3) - one),
        "last quarter": (add_months(quarter_start(today), -3), quarter_start(today) - one),
        "next quarter": (add_months(quarter_start(today), 3), add_months(quarter_start(today), 6) - one),
        "last 6 months": (add_months(today, -6), today),
        "next 6 months": (today, add_months(today, 6)),
        "this year": (today.replace(month=1, day=1), today.replace(month=12, day=31)),
        "last year": (today.replace(year=today.year - 1, month=1, day=1),
                      today.replace(year=today.year - 1, month=12, day=31)),
        "next year": (today.replace(year=today.year + 1, month=1, day=1),
                      today.replace(year=today.year + 1, month=12, day=31)),
    }
    if span not in ranges:
        raise ValidationError(f"Invalid timespan {span!r}", title="Invalid filter")
    a, b = ranges[span]
    return a.isoformat(), b.isoformat()


def _tree_condition(q: ListQuery, col: Column, op: str, value: Any) -> tuple[str, list]:
    f = col.field
    tree = col.meta if f.fieldname == "name" else (q.get_meta(f.options) if f.fieldtype == "Link" else None)
    if tree is None or not tree.nsm_parent_field or not tree.has_column(tree.nsm_parent_field):
        raise ValidationError(f"'{op}' needs a tree DocType", title="Invalid filter")
    t = quote(tree.table)
    parent = quote(tree.nsm_parent_field)
    node = "" if value is None else str(value)
    if op.startswith("descendants") or op == "not descendants of":
        cte = (f"WITH RECURSIVE r(n) AS (SELECT \"name\" FROM {t} WHERE {parent} = ? "
               f"UNION SELECT c.\"name\" FROM {t} c JOIN r ON c.{parent} = r.n) SELECT n FROM r")
    else:
        cte = (f"WITH RECURSIVE r(n, p) AS (SELECT \"name\", {parent} FROM {t} WHERE \"name\" = ? "
               f"UNION SELECT c.\"name\", c.{parent} FROM {t} c JOIN r ON c.\"name\" = r.p) "
               f"SELECT n FROM r WHERE n != ?")
    params: list = [node] if op.startswith("descendants") or op == "not descendants of" else [node, node]
    negate = op.startswith("not ")
    sql = f"{col.sql} {'NOT IN' if negate else 'IN'} ({cte})"
    if op == "descendants of (inclusive)":
        sql = f"({sql} OR {col.sql} = ?)"
        params.append(node)
    if negate:
        sql = f"(COALESCE({col.sql}, '') = '' OR {sql})"
    return sql, params

