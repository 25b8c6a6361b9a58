"""The list-query compiler without a database server: SQL shape, parameters, NULL rules.

DocTypes are small dicts; every test compiles for both dialects. A few tests run the
compiled SQL on an in-memory SQLite database to check the semantics, not only the text.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ristretto.api import jsonargs
from ristretto.db.connection import SQLiteConnection
from ristretto.db.dialects import POSTGRES, SQLITE
from ristretto.db.filters import OPERATORS, normalize_filters, normalize_operator, timespan_range
from ristretto.db.query import ListArgs, compile_count, compile_select
from ristretto.db.schema import sync_doctype
from ristretto.exceptions import DataError, FrappeError, ValidationError
from ristretto.meta.doctype import Meta
from ristretto.model.listing import parse_limit, parse_offset

ITEM = Meta({"name": "Order Item", "istable": 1, "fields": [
    {"fieldname": "item_code", "fieldtype": "Data"},
    {"fieldname": "qty", "fieldtype": "Float"},
]})
CUSTOMER = Meta({"name": "Customer", "fields": [
    {"fieldname": "customer_group", "fieldtype": "Data"},
    {"fieldname": "territory", "fieldtype": "Link", "options": "Territory"},
]})
TERRITORY = Meta({"name": "Territory", "is_tree": 1, "nsm_parent_field": "parent_territory", "fields": [
    {"fieldname": "parent_territory", "fieldtype": "Link", "options": "Territory"},
]})
SETTINGS = Meta({"name": "Shop Settings", "issingle": 1, "fields": [{"fieldname": "x", "fieldtype": "Data"}]})
ORDER = Meta({"name": "Order", "fields": [
    {"fieldname": "status", "fieldtype": "Select", "options": "Open\nClosed"},
    {"fieldname": "customer", "fieldtype": "Link", "options": "Customer"},
    {"fieldname": "billing_customer", "fieldtype": "Link", "options": "Customer"},
    {"fieldname": "territory", "fieldtype": "Link", "options": "Territory"},
    {"fieldname": "settings", "fieldtype": "Link", "options": "Shop Settings"},
    {"fieldname": "bad_link", "fieldtype": "Link", "options": "Order Item"},
    {"fieldname": "posting_date", "fieldtype": "Date"},
    {"fieldname": "due", "fieldtype": "Datetime"},
    {"fieldname": "at", "fieldtype": "Time"},
    {"fieldname": "total", "fieldtype": "Currency"},
    {"fieldname": "qty_int", "fieldtype": "Int"},
    {"fieldname": "paid", "fieldtype": "Check"},
    {"fieldname": "notes", "fieldtype": "Text"},
    {"fieldname": "items", "fieldtype": "Table", "options": "Order Item"},
    {"fieldname": "table_notes", "fieldtype": "Table", "options": "Order Item"},
]})
SORTED = Meta({"name": "Sorted", "sort_field": "idx desc, creation desc", "fields": []})
METAS = {m.name: m for m in (ITEM, CUSTOMER, TERRITORY, SETTINGS, ORDER, SORTED)}
get_meta = METAS.get

T = '"tabOrder"'


def col(fieldname: str) -> str:
    return f'{T}."{fieldname}"'


def lim(dialect, limit: int = 20, offset: int = 0) -> str:
    """A listing's LIMIT clause: bound on SQLite, written as numbers on PostgreSQL (whose
    generic plans a bound LIMIT would rule out)."""
    return " LIMIT ? OFFSET ?" if dialect is SQLITE else f" LIMIT {limit} OFFSET {offset}"


def wrapped(fieldname: str, fallback: str = "''") -> str:
    return f"COALESCE({col(fieldname)}, {fallback})"


@pytest.fixture(params=[SQLITE, POSTGRES], ids=lambda d: d.name)
def dialect(request):
    return request.param


def decoded(kw: dict) -> dict:
    """Request text decoded as the API edge does before the compiler sees it."""
    return {k: jsonargs.loose_arg(v, k) if k in ("fields", "filters", "or_filters") else v for k, v in kw.items()}


def select(dialect, meta: Meta = ORDER, **kw):
    return compile_select(meta, get_meta, dialect, ListArgs(**decoded(kw)))


def where(dialect, filters=None, **kw) -> tuple[str, list]:
    """The WHERE clause and its parameters of a query without joins, order or limit."""
    c = select(dialect, filters=filters, default_order=False, limit=None, **kw)
    assert " LEFT JOIN " not in c.sql
    return c.sql.split(" WHERE ", 1)[1], c.params


def select_part(c) -> str:
    return c.sql.split(" FROM ", 1)[0]


# --- field expressions ---------------------------------------------------------------------

def test_default_is_name_only(dialect):
    c = select(dialect)
    assert c.sql == f'SELECT {col("name")} FROM {T} ORDER BY {col("modified")} DESC' + lim(dialect)
    assert c.params == ([20, 0] if dialect is SQLITE else []) and c.keys == ["name"]


@pytest.mark.parametrize("fields", [None, [], "", "[]"])
def test_empty_fields_mean_name(dialect, fields):
    assert select(dialect, fields=fields).keys == ["name"]


def test_plain_fields_and_alias(dialect):
    c = select(dialect, fields=["name", "status as state", "total AS amount", "`due` as `when due`"])
    assert select_part(c) == f'SELECT {col("name")}, {col("status")}, {col("total")}, {col("due")}'
    assert c.keys == ["name", "state", "amount", "when due"]


def test_fields_as_json_text_and_comma_list(dialect):
    assert select(dialect, fields='["name", "status"]').keys == ["name", "status"]
    assert select(dialect, fields="name, status").keys == ["name", "status"]
    assert select(dialect, fields="status").keys == ["status"]


def test_star_selects_every_column(dialect):
    for star in ("*", ["*"], '["*"]', ["`tabOrder`.*"], ["tabOrder.*"]):
        c = select(dialect, fields=star)
        assert c.keys == list(ORDER.columns)
        assert select_part(c) == "SELECT " + ", ".join(col(n) for n in ORDER.columns)
    assert "items" not in select(dialect, fields=["*"]).keys  # a Table field has no column


def test_qualified_main_columns(dialect):
    for ref in ("`tabOrder`.`total`", "tabOrder.total", "`tabOrder`.total", "`total`"):
        c = select(dialect, fields=[ref])
        assert select_part(c) == f"SELECT {col('total')}" and c.keys == ["total"]
        assert " JOIN " not in c.sql


CHILD_JOIN = (' LEFT JOIN "tabOrder Item" ON "tabOrder Item"."parent" = "tabOrder"."name"'
              ' AND "tabOrder Item"."parenttype" = ?')


@pytest.mark.parametrize("ref", ["items.item_code", "`tabOrder Item`.`item_code`", "tabOrder Item.item_code",
                                 "`tabOrder Item`.item_code"])
def test_child_column_left_joins_the_child_table(dialect, ref):
    c = select(dialect, fields=["name", ref])
    assert c.sql.startswith(f'SELECT {col("name")}, "tabOrder Item"."item_code" FROM {T}{CHILD_JOIN} ORDER BY')
    assert c.params[0] == "Order" and c.keys == ["name", "item_code"]


def test_child_table_joined_once(dialect):
    c = select(dialect, fields=["items.item_code", "items.qty"], filters=[["Order Item", "qty", ">", 1]])
    assert c.sql.count(" JOIN ") == 1
    assert c.params[:2] == ["Order", 1.0]


def test_table_field_whose_name_starts_with_tab(dialect):
    c = select(dialect, fields=["table_notes.item_code"])
    assert '"tabOrder Item"."item_code"' in c.sql


def test_link_dot_notation(dialect):
    c = select(dialect, fields=["name", "customer.customer_group", "billing_customer.customer_group"])
    assert select_part(c) == f'SELECT {col("name")}, "tabCustomer_1"."customer_group", "tabCustomer_2"."customer_group"'
    assert (' LEFT JOIN "tabCustomer" "tabCustomer_1" ON "tabCustomer_1"."name" = "tabOrder"."customer"'
            ' LEFT JOIN "tabCustomer" "tabCustomer_2" ON "tabCustomer_2"."name" = "tabOrder"."billing_customer"'
            ) in c.sql
    assert c.keys == ["name", "customer_group", "customer_group"]


def test_link_alias_of_a_longest_doctype_name_differs_from_its_table(dialect):
    name = "L" * 60
    meta = Meta({"name": name, "fields": [{"fieldname": "up", "fieldtype": "Link", "options": name}]})
    c = compile_select(meta, {name: meta}.get, dialect, ListArgs(fields=["name", "up.name"], default_order=False))
    alias = f'"tab{"L" * 58}_1"'
    assert f' LEFT JOIN "tab{name}" {alias} ON {alias}."name" = "tab{name}"."up"' in c.sql


@pytest.mark.parametrize("ref", ["status.x", "settings.x", "bad_link.item_code", "customer.nope", "items.nope",
                                 "nope.name", "items", "`tabCustomer`.`name`", "tabOrder.nope", "nope"])
def test_unresolvable_columns_are_refused(dialect, ref):
    with pytest.raises(DataError):
        select(dialect, fields=[ref])


def test_unknown_field_message(dialect):
    with pytest.raises(DataError, match="Field not permitted in query: nope"):
        select(dialect, fields=["name", "nope"])


@pytest.mark.parametrize("fn", ["count", "sum", "avg", "min", "max"])
def test_aggregates_with_alias(dialect, fn):
    c = select(dialect, fields=[f"{fn}(total) as v"])
    assert c.sql == f'SELECT {fn.upper()}({col("total")}) FROM {T}' + lim(dialect)  # no default order
    assert c.keys == ["v"]
    upper = select(dialect, fields=[f"{fn.upper()}( `tabOrder`.`total` ) AS v"])
    assert upper.sql == c.sql


def test_aggregate_keys_without_alias(dialect):
    c = select(dialect, fields=["count(*)", "count(distinct name)", "count(name)", "max(posting_date)"])
    # COUNT(name) of the main table is COUNT(*): name is never NULL, and no column is read.
    assert select_part(c) == (f'SELECT COUNT(*), COUNT(DISTINCT {col("name")}), COUNT(*), '
                              f'MAX({col("posting_date")})')
    assert c.keys == ["count(*)", "count(distinct name)", "count(name)", "max(posting_date)"]


def test_aggregate_over_child_column(dialect):
    c = select(dialect, fields=["sum(items.qty) as q"])
    assert select_part(c) == 'SELECT SUM("tabOrder Item"."qty")' and CHILD_JOIN in c.sql


@pytest.mark.parametrize("bad", ["sum(*)", "avg(*)", "lower(name)", "count(nope)", "count(name, status)",
                                 "count()", "count(count(name))"])
def test_bad_aggregates(dialect, bad):
    with pytest.raises((DataError, ValidationError)):
        select(dialect, fields=[bad])


def test_distinct_field(dialect):
    c = select(dialect, fields=["distinct status"])
    assert c.sql == f'SELECT DISTINCT {col("status")} FROM {T}' + lim(dialect)  # no default order
    assert c.keys == ["status"]


def test_distinct_applies_to_the_whole_row_wherever_it_is_written(dialect):
    c = select(dialect, fields=["name", "DISTINCT status"])
    assert select_part(c) == f'SELECT DISTINCT {col("name")}, {col("status")}'


def test_distinct_argument(dialect):
    c = select(dialect, fields=["status"], distinct=True)
    assert select_part(c) == f'SELECT DISTINCT {col("status")}'


@pytest.mark.parametrize("fields", [{"a": 1}, [1], [None], [["name"]], "[1, 2]", 5])
def test_fields_of_wrong_type(dialect, fields):
    with pytest.raises(DataError):
        select(dialect, fields=fields)


def test_sqlite_converters_restore_types():
    c = select(SQLITE, fields=["total", "at", "name", "sum(total) as s", "min(at) as m"])
    assert c.rows([("12", "09:05:00", "n1", "3", "08:00:00")]) == [
        {"total": 12.0, "at": "9:05:00", "name": "n1", "s": 3.0, "m": "8:00:00"}]
    assert c.rows([(None, None, "n", None, None)], as_dict=False) == [[None, None, "n", None, None]]


# --- filter shapes -------------------------------------------------------------------------

EQ_OPEN = (f'{col("status")} = ?', ["Open"])


@pytest.mark.parametrize("filters", [
    [["status", "=", "Open"]],
    [["Order", "status", "=", "Open"]],
    [["Order", "status", "=", "Open", "ignored", "too"]],
    [["status", "Open"]],
    [["status", None, "Open"]],
    [["status", "", "Open"]],
    [[None, "status", "=", "Open"]],
    ["status", "=", "Open"],
    ["Order", "status", "=", "Open"],
    {"status": "Open"},
    {"status": ["=", "Open"]},
    [{"status": "Open"}],
    '[["status", "=", "Open"]]',
    '{"status": "Open"}',
    '{"status": ["=", "Open"]}',
    '["status", "=", "Open"]',
    b'{"status": "Open"}',
])
def test_equivalent_filter_shapes(dialect, filters):
    assert where(dialect, filters) == EQ_OPEN


@pytest.mark.parametrize("filters", [None, [], {}, "", "  ", "[]", "{}", "null"])
def test_empty_filters(dialect, filters):
    c = select(dialect, filters=filters)
    assert " WHERE " not in c.sql


@pytest.mark.parametrize("filters", [["status"], [["status"]], [[]], ["a", "b"], [5], "5", "true", 5,
                                     [[5, "status", "=", "x"]]])
def test_malformed_filters(dialect, filters):
    with pytest.raises(ValidationError):
        select(dialect, filters=filters)


def test_invalid_json_filters(dialect):
    with pytest.raises(DataError, match="Invalid JSON"):
        select(dialect, filters='[["status", "=", "Open"')


def test_normalize_filters_returns_quads():
    assert normalize_filters({"a": ["in", ["x"]], "b": 1}, "Order") == [(None, "a", "in", ["x"]), (None, "b", "=", 1)]
    assert normalize_filters([["Order Item", "qty", ">", 1]], "Order") == [("Order Item", "qty", ">", 1)]


def test_filters_are_anded_and_or_filters_grouped(dialect):
    sql, params = where(dialect, [["status", "=", "Open"], ["qty_int", ">", 2]],
                        or_filters=[["paid", "=", 1], ["total", ">=", "10"]])
    assert sql == (f'({col("status")} = ? AND {col("qty_int")} > ?) AND '
                   f'({col("paid")} = ? OR {col("total")} >= ?)')
    assert params == ["Open", 2, 1, 10.0]


def test_or_filters_alone_and_as_dict(dialect):
    sql, params = where(dialect, None, or_filters={"status": "Open", "paid": 1})
    assert sql == f'({col("status")} = ? OR {col("paid")} = ?)' and params == ["Open", 1]
    sql, _ = where(dialect, None, or_filters=[["status", "=", "Open"]])
    assert sql == f'{col("status")} = ?'


def test_child_doctype_filter_joins(dialect):
    for filters in ([["Order Item", "item_code", "=", "X"]], [["item_code", "=", "X"]],
                    [["items.item_code", "=", "X"]], [["`tabOrder Item`.`item_code`", "=", "X"]],
                    [["Order", "item_code", "=", "X"]]):
        c = select(dialect, filters=filters, default_order=False, limit=None)
        assert c.sql == f'SELECT {col("name")} FROM {T}{CHILD_JOIN} WHERE "tabOrder Item"."item_code" = ?'
        assert c.params == ["Order", "X"]


@pytest.mark.parametrize("filters", [[["Customer", "customer_group", "=", "x"]], [["Nope", "status", "=", "x"]],
                                     [["nope", "=", "x"]], [["Order Item", "nope", "=", "x"]]])
def test_filters_on_unrelated_doctypes_or_unknown_fields(dialect, filters):
    with pytest.raises(DataError, match="Field not permitted"):
        select(dialect, filters=filters)


def test_link_dot_notation_in_filters(dialect):
    c = select(dialect, filters=[["customer.customer_group", "=", "Retail"]], default_order=False, limit=None)
    assert c.sql.endswith(' WHERE "tabCustomer_1"."customer_group" = ?') and c.params == ["Retail"]


# --- operators -----------------------------------------------------------------------------

@pytest.mark.parametrize("op,expected", [
    ("=", "="), ("==", "="), ("!=", "!="), ("<>", "!="), ("<", "<"), (">", ">"), ("<=", "<="), ("=<", "<="),
    (">=", ">="), ("=>", ">="), ("LIKE", "like"), ("Not  Like", "not like"), ("not_like", "not like"),
    ("IN", "in"), ("not_in", "not in"), ("Is", "is"), ("BETWEEN", "between"), ("Timespan", "timespan"),
    (None, "="), ("", "="),
])
def test_operator_normalisation(op, expected):
    assert normalize_operator(op) == expected


@pytest.mark.parametrize("op", ["regexp", "~", "<=>", "= 1 or 1=1", "like binary", 1, ["="], "&&", "in (select 1)"])
def test_unknown_operators(dialect, op):
    with pytest.raises(ValidationError, match="Operator must be one of"):
        select(dialect, filters=[["status", op, "x"]])


def test_every_spec_operator_is_known():
    spec = ("=", "!=", "<", ">", "<=", ">=", "like", "not like", "in", "not in", "is", "between", "timespan",
            "previous", "next", "descendants of", "not descendants of", "ancestors of", "not ancestors of",
            "descendants of (inclusive)")
    assert set(spec) == set(OPERATORS)


# (field, operator, value) -> (condition SQL, parameters). Wrapping in COALESCE happens
# exactly when the column's fallback would satisfy the condition (spec § 3.3).
NULL_RULES = [
    ("status", "=", "Open", f'{col("status")} = ?', ["Open"]),
    ("status", "=", "", f"{wrapped('status')} = ?", [""]),
    ("status", "=", None, f"{wrapped('status')} = ?", [""]),
    ("status", "!=", "Open", f"{wrapped('status')} != ?", ["Open"]),
    ("status", "!=", "", f'{col("status")} != ?', [""]),
    ("status", "<", "b", f"{wrapped('status')} < ?", ["b"]),
    ("status", ">", "b", f'{col("status")} > ?', ["b"]),
    ("status", ">=", "", f"{wrapped('status')} >= ?", [""]),
    ("owner", "!=", "x", f"{wrapped('owner')} != ?", ["x"]),
    ("notes", "!=", "x", f"{wrapped('notes')} != ?", ["x"]),
    # name / creation / modified are never NULL: never wrapped
    ("name", "!=", "x", f'{col("name")} != ?', ["x"]),
    ("name", "=", "", f'{col("name")} = ?', [""]),
    ("creation", "<", "2024-01-01 10:00:00", f'{col("creation")} < ?', ["2024-01-01 10:00:00"]),
    ("modified", "!=", "2024-01-01", f'{col("modified")} != ?', ["2024-01-01 00:00:00"]),
    # numbers and checks are NOT NULL: never wrapped, values coerced
    ("total", "!=", 5, f'{col("total")} != ?', [5.0]),
    ("total", "<", "abc", f'{col("total")} < ?', [0.0]),
    ("qty_int", "=", "3", f'{col("qty_int")} = ?', [3]),
    ("qty_int", "<", "2.7", f'{col("qty_int")} < ?', [2]),
    ("paid", "=", True, f'{col("paid")} = ?', [1]),
    ("docstatus", "!=", None, f'{col("docstatus")} != ?', [0]),
    # dates: NULL reads as 0001-01-01
    ("posting_date", "<", "2024-01-01", f"{wrapped('posting_date', repr('0001-01-01'))} < ?", ["2024-01-01"]),
    ("posting_date", "<=", "2024-01-01", f"{wrapped('posting_date', repr('0001-01-01'))} <= ?", ["2024-01-01"]),
    ("posting_date", ">", "2024-01-01", f'{col("posting_date")} > ?', ["2024-01-01"]),
    ("posting_date", ">=", "2024-01-01", f'{col("posting_date")} >= ?', ["2024-01-01"]),
    ("posting_date", "=", "2024-01-01", f'{col("posting_date")} = ?', ["2024-01-01"]),
    ("posting_date", "=", "", f"{wrapped('posting_date', repr('0001-01-01'))} = ?", ["0001-01-01"]),
    ("posting_date", "!=", "2024-01-01", f"{wrapped('posting_date', repr('0001-01-01'))} != ?", ["2024-01-01"]),
    ("posting_date", "=", "2024-01-01 10:30:00", f'{col("posting_date")} = ?', ["2024-01-01"]),
    ("posting_date", "=", dt.date(2024, 1, 2), f'{col("posting_date")} = ?', ["2024-01-02"]),
    # datetimes: date-only bounds expand; <= takes the whole day
    ("due", "<", "2024-01-01", f"{wrapped('due', repr('0001-01-01 00:00:00'))} < ?", ["2024-01-01 00:00:00"]),
    ("due", "<=", "2024-01-01", f"{wrapped('due', repr('0001-01-01 00:00:00'))} <= ?",
     ["2024-01-01 23:59:59.999999"]),
    ("due", ">", "2024-01-01", f'{col("due")} > ?', ["2024-01-01 00:00:00"]),
    ("due", "=", "2024-01-01T10:00:00", f'{col("due")} = ?', ["2024-01-01 10:00:00"]),
    ("due", ">=", "2024-01-01 10:00:00.5", f'{col("due")} >= ?', ["2024-01-01 10:00:00.500000"]),
    # times
    ("at", "<", "10:00", f"{wrapped('at', repr('00:00:00'))} < ?", ["10:00:00"]),
    ("at", ">", "10:00:01", f'{col("at")} > ?', ["10:00:01"]),
    # in / not in
    ("status", "in", ["Open", "Closed"], f'{col("status")} IN (?, ?)', ["Open", "Closed"]),
    ("status", "in", "Open, Closed", f'{col("status")} IN (?, ?)', ["Open", "Closed"]),
    ("status", "in", [" Open "], f'{col("status")} IN (?)', ["Open"]),
    ("status", "in", "Open", f'{col("status")} IN (?)', ["Open"]),
    ("status", "in", ["Open", ""], f"{wrapped('status')} IN (?, ?)", ["Open", ""]),
    ("status", "in", [], f"{wrapped('status')} IN (?)", [""]),
    ("status", "in", None, f"{wrapped('status')} IN (?)", [""]),
    ("status", "not in", ["Open"], f"{wrapped('status')} NOT IN (?)", ["Open"]),
    ("status", "not in", "Open,Closed", f"{wrapped('status')} NOT IN (?, ?)", ["Open", "Closed"]),
    ("name", "not in", ["a"], f'{col("name")} NOT IN (?)', ["a"]),
    ("total", "in", [1, "2"], f'{col("total")} IN (?, ?)', [1.0, 2.0]),
    ("qty_int", "not in", [1], f'{col("qty_int")} NOT IN (?)', [1]),
    ("posting_date", "in", ["2024-01-01", ""], f"{wrapped('posting_date', repr('0001-01-01'))} IN (?, ?)",
     ["2024-01-01", "0001-01-01"]),
    ("status", "in", [1, True], f'{col("status")} IN (?, ?)', ["1", "1"]),
]


@pytest.mark.parametrize("field,op,value,sql,params", NULL_RULES)
def test_comparison_null_rules(dialect, field, op, value, sql, params):
    assert where(dialect, [[field, op, value]]) == (sql, params)


ESC = " ESCAPE '\\'"


def test_like_operators(dialect):
    like = ("LIKE" if dialect is SQLITE else "ILIKE") + " ?" + ESC
    assert where(dialect, [["status", "like", "%pen%"]]) == (f'{col("status")} {like}', ["%pen%"])
    # a non-empty pattern never matches NULL, even "%" (Frappe only wraps an empty value)
    assert where(dialect, [["status", "like", "%"]]) == (f'{col("status")} {like}', ["%"])
    assert where(dialect, [["status", "like", ""]]) == (f"{wrapped('status')} {like}", [""])
    assert where(dialect, [["status", "like", None]]) == (f"{wrapped('status')} {like}", [""])
    assert where(dialect, [["status", "not like", "O%"]]) == (f"{wrapped('status')} NOT {like}", ["O%"])
    assert where(dialect, [["name", "not like", "O%"]]) == (f'{col("name")} NOT {like}', ["O%"])
    assert where(dialect, [["status", "like", 5]]) == (f'{col("status")} {like}', ["5"])


@pytest.mark.parametrize("pattern,param", [("a\\", "a\\\\"), ("a\\\\", "a\\\\"), ("\\", "\\\\"),
                                           ("a\\%", "a\\%"), ("\\\\\\", "\\\\\\\\")])
def test_like_trailing_backslash_is_literal(dialect, pattern, param):
    assert where(dialect, [["status", "like", pattern]])[1] == [param]


def test_like_casts_non_text_columns_on_postgres():
    assert where(POSTGRES, [["posting_date", "like", "2024%"]]) == (
        f'CAST({col("posting_date")} AS TEXT) ILIKE ?{ESC}', ["2024%"])
    assert where(POSTGRES, [["qty_int", "not like", "1%"]]) == (
        f'CAST({col("qty_int")} AS TEXT) NOT ILIKE ?{ESC}', ["1%"])
    assert where(POSTGRES, [["posting_date", "not like", "2024%"]]) == (
        f'COALESCE(CAST({col("posting_date")} AS TEXT), \'\') NOT ILIKE ?{ESC}', ["2024%"])
    assert where(SQLITE, [["posting_date", "like", "2024%"]]) == (f'{col("posting_date")} LIKE ?{ESC}', ["2024%"])


@pytest.mark.parametrize("value", [["a"], {"a": 1}])
def test_containers_are_not_scalar_values(dialect, value):
    for op in ("=", "like", "<"):
        with pytest.raises(DataError):
            select(dialect, filters=[["status", op, value]])
    with pytest.raises(DataError):
        select(dialect, filters=[["status", "in", [value]]])


@pytest.mark.parametrize("field,value", [("posting_date", "yesterday"), ("due", "2024-13-01"), ("at", "noon"),
                                         ("posting_date", "2024-02-30")])
def test_unreadable_dates_are_refused(dialect, field, value):
    with pytest.raises(DataError):
        select(dialect, filters=[[field, "=", value]])


def test_is_set_and_not_set(dialect):
    for field in ("status", "notes"):
        assert where(dialect, [[field, "is", "set"]]) == (f"{wrapped(field)} != ''", [])
        assert where(dialect, [[field, "is", "not set"]]) == (f"{wrapped(field)} = ''", [])
    assert where(dialect, [["status", "IS", " Not Set "]]) == (f"{wrapped('status')} = ''", [])
    if dialect is POSTGRES:
        assert where(dialect, [["posting_date", "is", "set"]]) == (f'{col("posting_date")} IS NOT NULL', [])
        assert where(dialect, [["due", "is", "not set"]]) == (f'{col("due")} IS NULL', [])
    else:
        assert where(dialect, [["posting_date", "is", "set"]]) == (f"{wrapped('posting_date')} != ''", [])
    for bad in ("maybe", "", None, ["set"], "null"):
        with pytest.raises(ValidationError):
            select(dialect, filters=[["status", "is", bad]])


def test_between(dialect):
    between = f'{col("posting_date")} BETWEEN ? AND ?'
    assert where(dialect, [["posting_date", "between", ["2024-01-01", "2024-01-31"]]]) == (
        between, ["2024-01-01", "2024-01-31"])
    assert where(dialect, {"posting_date": ["between", "2024-01-01, 2024-01-31"]}) == (
        between, ["2024-01-01", "2024-01-31"])
    today = dt.date.today().isoformat()
    assert where(dialect, [["posting_date", "between", ["2024-01-01"]]]) == (between, ["2024-01-01", today])
    assert where(dialect, [["posting_date", "between", [None, "2099-01-01"]]]) == (between, [today, "2099-01-01"])
    # datetime columns: date-only bounds cover whole days
    assert where(dialect, [["creation", "between", ["2024-01-01", "2024-01-31"]]]) == (
        f'{col("creation")} BETWEEN ? AND ?', ["2024-01-01 00:00:00", "2024-01-31 23:59:59.999999"])
    assert where(dialect, [["due", "between", ["2024-01-01 08:00", "2024-01-01 09:00:00"]]]) == (
        f'{col("due")} BETWEEN ? AND ?', ["2024-01-01 08:00:00", "2024-01-01 09:00:00"])
    for bad in (["a", "b", "c"], 5, {"a": 1}):
        with pytest.raises(ValidationError):
            select(dialect, filters=[["posting_date", "between", bad]])
    with pytest.raises(DataError):
        select(dialect, filters=[["posting_date", "between", ["x", "y"]]])


TIMESPANS = ["last week", "last month", "last quarter", "last 6 months", "last year", "yesterday", "today",
             "tomorrow", "this week", "this month", "this quarter", "this year", "next week", "next month",
             "next quarter", "next 6 months", "next year"]


@pytest.mark.parametrize("span", TIMESPANS)
def test_every_timespan(dialect, span):
    sql, (lo, hi) = where(dialect, [["posting_date", "timespan", span.upper()]])
    assert sql == f'{col("posting_date")} BETWEEN ? AND ?' and lo <= hi
    sql, (lo_dt, hi_dt) = where(dialect, [["due", "timespan", span]])
    assert (lo_dt, hi_dt) == (f"{lo} 00:00:00", f"{hi} 23:59:59.999999")


def test_timespan_today(dialect):
    today = dt.date.today().isoformat()
    assert where(dialect, {"posting_date": ["timespan", "today"]})[1] == [today, today]


@pytest.mark.parametrize("today,span,expected", [
    ("2024-05-15", "today", ("2024-05-15", "2024-05-15")),
    ("2024-05-15", "yesterday", ("2024-05-14", "2024-05-14")),
    ("2024-05-15", "tomorrow", ("2024-05-16", "2024-05-16")),
    ("2024-05-15", "this week", ("2024-05-13", "2024-05-19")),
    ("2024-05-15", "this month", ("2024-05-01", "2024-05-31")),
    ("2024-05-15", "last month", ("2024-04-01", "2024-04-30")),
    ("2024-05-15", "next month", ("2024-06-01", "2024-06-30")),
    ("2024-05-15", "this quarter", ("2024-04-01", "2024-06-30")),
    ("2024-05-15", "last quarter", ("2024-01-01", "2024-03-31")),
    ("2024-05-15", "next quarter", ("2024-07-01", "2024-09-30")),
    ("2024-05-15", "this year", ("2024-01-01", "2024-12-31")),
    ("2024-05-15", "last year", ("2023-01-01", "2023-12-31")),
    ("2024-05-15", "next year", ("2025-01-01", "2025-12-31")),
    ("2024-01-31", "last month", ("2023-12-01", "2023-12-31")),
    ("2024-01-31", "last quarter", ("2023-10-01", "2023-12-31")),
    ("2024-12-31", "next month", ("2025-01-01", "2025-01-31")),
    ("2024-11-30", "next quarter", ("2025-01-01", "2025-03-31")),
    ("2024-03-31", "this month", ("2024-03-01", "2024-03-31")),
])
def test_timespan_ranges(today, span, expected):
    assert timespan_range(span, dt.date.fromisoformat(today)) == expected


@pytest.mark.parametrize("value,span", [("1 week", "last week"), ("1 month", "last month"),
                                        ("3 months", "last quarter"), ("6 months", "last 6 months"),
                                        ("1 year", "last year")])
def test_previous_and_next(dialect, value, span):
    today = dt.date.today()
    assert where(dialect, [["posting_date", "previous", value]])[1] == list(timespan_range(span, today))
    assert where(dialect, [["posting_date", "next", value]])[1] == list(
        timespan_range(span.replace("last", "next"), today))


@pytest.mark.parametrize("op,value", [("timespan", "fortnight"), ("timespan", ["today"]), ("timespan", None),
                                      ("previous", "2 weeks"), ("next", "today")])
def test_bad_spans(dialect, op, value):
    with pytest.raises(ValidationError):
        select(dialect, filters=[["posting_date", op, value]])


def test_tree_operators(dialect):
    sql, params = where(dialect, [["territory", "descendants of", "Europe"]])
    assert sql.startswith(f'{col("territory")} IN (WITH RECURSIVE ') and params == ["Europe"]
    sql, params = where(dialect, [["territory", "not descendants of", "Europe"]])
    assert sql.startswith(f"(COALESCE({col('territory')}, '') = '' OR {col('territory')} NOT IN (WITH RECURSIVE ")
    sql, params = where(dialect, [["territory", "ancestors of", "Paris"]])
    assert params == ["Paris", "Paris"]
    sql, params = where(dialect, [["territory", "descendants of (inclusive)", "Europe"]])
    assert sql.endswith(f' OR {col("territory")} = ?)') and params == ["Europe", "Europe"]
    c = compile_select(TERRITORY, get_meta, dialect, ListArgs(filters=[["name", "ancestors of", "Paris"]]))
    assert '"tabTerritory"."name" IN (WITH RECURSIVE' in c.sql
    for field in ("status", "customer"):
        with pytest.raises(ValidationError, match="tree"):
            select(dialect, filters=[[field, "descendants of", "x"]])


# --- order by / group by / limits ------------------------------------------------------------

def order(dialect, order_by, **kw) -> str:
    return select(dialect, order_by=order_by, limit=None, **kw).sql.split(" ORDER BY ", 1)[1]


def test_order_by_terms(dialect):
    assert order(dialect, "total desc, status asc, name") == f'{col("total")} DESC, {col("status")} ASC, {col("name")} ASC'
    assert order(dialect, "`tabOrder`.`total` DESC") == f'{col("total")} DESC'
    assert order(dialect, "tabOrder.total  desc") == f'{col("total")} DESC'
    assert order(dialect, "`status`") == f'{col("status")} ASC'


def test_order_by_child_column(dialect):
    sql = select(dialect, fields=["name", "items.qty"], order_by="`tabOrder Item`.`qty` desc").sql
    assert sql.endswith('ORDER BY "tabOrder Item"."qty" DESC' + lim(dialect)) and CHILD_JOIN in sql


def test_order_by_alias_and_aggregate(dialect):
    c = select(dialect, fields=["status", "count(name) as n"], group_by="status", order_by="n desc")
    assert c.sql == (f'SELECT {col("status")}, COUNT(*) FROM {T} GROUP BY {col("status")} '
                     f'ORDER BY COUNT(*) DESC' + lim(dialect))
    assert c.keys == ["status", "n"]
    assert order(dialect, "count(name) desc", fields=["status"], group_by="status") == 'COUNT(*) DESC'
    assert order(dialect, "max(total)", fields=["status"], group_by="status") == f'MAX({col("total")}) ASC'
    assert order(dialect, "`state` desc", fields=["status as state"]) == f'{col("status")} DESC'


def test_order_by_output_name_of_a_child_column(dialect):
    assert order(dialect, "item_code", fields=["items.item_code"]) == '"tabOrder Item"."item_code" ASC'


def test_order_by_table_not_in_query(dialect):
    with pytest.raises(DataError, match="Please select atleast 1 column from Customer"):
        select(dialect, order_by="`tabCustomer`.`name` desc")


def test_default_order(dialect):
    assert order(dialect, None) == f'{col("modified")} DESC'
    assert order(dialect, "") == f'{col("modified")} DESC'
    c = compile_select(SORTED, get_meta, dialect, ListArgs())
    assert c.sql.endswith('ORDER BY "tabSorted"."idx" DESC, "tabSorted"."creation" DESC' + lim(dialect))
    for kw in ({"fields": ["count(name)"]}, {"fields": ["status"], "group_by": "status"}, {"distinct": True},
               {"default_order": False}):
        assert " ORDER BY " not in select(dialect, **kw).sql


def test_group_by(dialect):
    c = select(dialect, fields=["status", "paid", "count(*) as n"], group_by="status, `tabOrder`.`paid`")
    assert f' GROUP BY {col("status")}, {col("paid")} LIMIT' in c.sql
    c = select(dialect, fields=["items.item_code", "sum(items.qty) as q"], group_by="items.item_code")
    assert ' GROUP BY "tabOrder Item"."item_code"' in c.sql and c.sql.count(" JOIN ") == 1
    for bad in ("nope", "status desc", "(status)", "count(name)"):
        with pytest.raises((DataError, ValidationError)):
            select(dialect, fields=["status"], group_by=bad)


def test_limits(dialect):
    c = select(dialect, limit=5, offset=10)
    if dialect is SQLITE:
        assert c.params[-2:] == [5, 10] and c.sql.endswith(" LIMIT ? OFFSET ?")
    else:
        assert c.params == [] and c.sql.endswith(" LIMIT 5 OFFSET 10")
    c = select(dialect, limit=None)
    assert " LIMIT " not in c.sql and " OFFSET " not in c.sql and c.params == []
    c = select(dialect, limit=0, offset=7)
    if dialect is SQLITE:
        assert c.sql.endswith(" LIMIT -1 OFFSET ?") and c.params == [7]
    else:
        assert c.sql.endswith(" DESC OFFSET 7") and c.params == []


@pytest.mark.parametrize("value,expected", [(None, 20), ("", 20), ("0", None), (0, None), ("5", 5), (100, 100)])
def test_parse_limit(value, expected):
    assert parse_limit(value) == expected


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "1e3", "9" * 30, [1]])
def test_parse_limit_refuses_junk(value):
    with pytest.raises(ValidationError):
        parse_limit(value)
    with pytest.raises(ValidationError):
        parse_offset(value)


def test_parse_offset():
    assert parse_offset(None) == 0 and parse_offset("") == 0 and parse_offset("7") == 7


@pytest.mark.parametrize("value", ["9" * 30, -(10 ** 20), 1e300, "1e30"])
def test_out_of_range_integers_are_refused(dialect, value):
    with pytest.raises(DataError):
        select(dialect, filters=[["qty_int", ">", value]])


def test_too_many_values(dialect):
    select(dialect, filters=[["status", "in", ["a"] * 29000]])
    with pytest.raises(DataError, match="Too many values"):
        select(dialect, filters=[["status", "in", ["a"] * 30001]])
    with pytest.raises(DataError, match="Too many values"):
        compile_count(ORDER, get_meta, dialect, ListArgs(filters=[["status", "not in", ",".join("a" * 40000)]]))


# --- count ---------------------------------------------------------------------------------

def test_count(dialect):
    c = compile_count(ORDER, get_meta, dialect, ListArgs(filters={"status": "Open"}, limit=None))
    assert c.sql == f'SELECT COUNT(*) FROM {T} WHERE {col("status")} = ?' and c.params == ["Open"]
    c = compile_count(ORDER, get_meta, dialect, ListArgs(filters=[["Order Item", "item_code", "=", "X"]], limit=None))
    assert c.sql.startswith(f'SELECT COUNT(DISTINCT {col("name")}) FROM {T}{CHILD_JOIN}')
    c = compile_count(ORDER, get_meta, dialect, ListArgs(distinct=True, or_filters=[["paid", "=", 1]], limit=None))
    assert c.sql == f'SELECT COUNT(DISTINCT {col("name")}) FROM {T} WHERE {col("paid")} = ?'
    c = compile_count(ORDER, get_meta, dialect, ListArgs(limit=100))
    if dialect is SQLITE:
        assert c.sql == f'SELECT COUNT(*) FROM (SELECT {col("name")} FROM {T} LIMIT ? OFFSET ?) t'
        assert c.params == [100, 0]
    else:
        assert c.sql == f'SELECT COUNT(*) FROM (SELECT {col("name")} FROM {T} LIMIT 100 OFFSET 0) t'
        assert c.params == []


# --- semantics on a real (in-memory) SQLite database -------------------------------------------

ROWS = [
    # name, status, posting_date, due, notes, total
    ("o1", "Open", "2024-01-10", "2024-01-10 09:00:00", "a", 10),
    ("o2", "Closed", "2024-02-10", "2024-02-10 23:59:59.5", "", 20),
    ("o3", None, None, None, None, 0),
    ("o4", "", "2023-12-31", "2024-01-01 00:00:00", "x%y", 5),
]


@pytest.fixture(scope="module")
def sqlite_db():
    conn = SQLiteConnection(":memory:")
    for meta in (ORDER, ITEM, CUSTOMER, TERRITORY):
        sync_doctype(conn, meta)
    for i, (name, status, date, due, notes, total) in enumerate(ROWS):
        conn.execute('INSERT INTO "tabOrder" (name, creation, modified, status, posting_date, due, notes, total, '
                     'customer, territory) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
                     [name, f"2024-01-0{i + 1} 10:00:00", f"2024-01-0{i + 1} 10:00:00", status, date, due, notes,
                      total, "c1" if name == "o1" else None, "Paris" if name in ("o1", "o2") else None])
    for parent, idx, code, qty in (("o1", 1, "A", 1), ("o1", 2, "B", 2), ("o2", 1, "A", 5)):
        conn.execute('INSERT INTO "tabOrder Item" (name, parent, parenttype, parentfield, idx, item_code, qty) '
                     "VALUES (?, ?, 'Order', 'items', ?, ?, ?)", [f"{parent}-{idx}", parent, idx, code, qty])
    conn.execute('INSERT INTO "tabCustomer" (name, customer_group) VALUES (?, ?)', ["c1", "Retail"])
    for name, parent in (("World", None), ("Europe", "World"), ("France", "Europe"), ("Paris", "France"),
                         ("Asia", "World")):
        conn.execute('INSERT INTO "tabTerritory" (name, parent_territory) VALUES (?, ?)', [name, parent])
    yield conn
    conn.close()


def names(db, meta=ORDER, **kw) -> list:
    kw.setdefault("order_by", "name asc")
    kw.setdefault("limit", None)
    c = compile_select(meta, get_meta, SQLITE, ListArgs(**kw))
    return [r["name"] for r in c.rows(db.sql(c.sql, c.params))]


@pytest.mark.parametrize("filters,expected", [
    ([["status", "!=", "Open"]], ["o2", "o3", "o4"]),
    ([["status", "=", ""]], ["o3", "o4"]),
    ([["status", "=", "Open"]], ["o1"]),
    ([["status", "not in", ["Open"]]], ["o2", "o3", "o4"]),
    ([["status", "in", ["Open"]]], ["o1"]),
    ([["status", "in", ["Open", ""]]], ["o1", "o3", "o4"]),
    ([["status", "in", "Open,Closed"]], ["o1", "o2"]),
    ([["status", "like", "%"]], ["o1", "o2", "o4"]),
    ([["status", "like", "%pen"]], ["o1"]),
    ([["status", "not like", "%pen"]], ["o2", "o3", "o4"]),
    ([["notes", "like", "%\\%%"]], ["o4"]),                   # backslash escapes a wildcard
    ([["notes", "like", "x\\_y"]], []),
    ([["notes", "like", "x_y"]], ["o4"]),
    ([["notes", "like", "x%"]], ["o4"]),
    ([["status", "is", "set"]], ["o1", "o2"]),
    ([["status", "is", "not set"]], ["o3", "o4"]),
    ([["posting_date", "is", "not set"]], ["o3"]),
    ([["posting_date", "<", "2024-01-01"]], ["o3", "o4"]),
    ([["posting_date", ">", "2024-01-01"]], ["o1", "o2"]),
    ([["posting_date", ">=", "2024-01-10"]], ["o1", "o2"]),
    ([["posting_date", "between", ["2024-01-01", "2024-01-31"]]], ["o1"]),
    ([["due", "between", ["2024-01-01", "2024-02-10"]]], ["o1", "o2", "o4"]),
    ([["due", "<=", "2024-01-10"]], ["o1", "o3", "o4"]),
    ([["due", "<", "2024-01-10"]], ["o3", "o4"]),
    ([["creation", "between", ["2024-01-02", "2024-01-03"]]], ["o2", "o3"]),
    ([["total", ">", 5]], ["o1", "o2"]),
    ([["total", "!=", 0]], ["o1", "o2", "o4"]),
    ([["Order Item", "item_code", "=", "A"]], ["o1", "o2"]),
    ([["customer.customer_group", "=", "Retail"]], ["o1"]),
    ([["territory", "descendants of", "Europe"]], ["o1", "o2"]),
    ([["territory", "descendants of", "Asia"]], []),
    ([["territory", "not descendants of", "Asia"]], ["o1", "o2", "o3", "o4"]),
    ([["territory", "not descendants of", "France"]], ["o3", "o4"]),
    ([["territory", "descendants of (inclusive)", "Paris"]], ["o1", "o2"]),
])
def test_semantics_on_sqlite(sqlite_db, filters, expected):
    assert names(sqlite_db, filters=filters) == expected


def test_semantics_of_or_filters_and_tree_names(sqlite_db):
    assert names(sqlite_db, filters={"total": [">", 1]}, or_filters=[["status", "=", "Open"],
                                                                     ["status", "is", "not set"]]) == ["o1", "o4"]
    assert names(sqlite_db, TERRITORY, filters=[["name", "ancestors of", "Paris"]]) == ["Europe", "France", "World"]
    assert names(sqlite_db, TERRITORY, filters=[["name", "not ancestors of", "Paris"]]) == ["Asia", "Paris"]
    assert names(sqlite_db, TERRITORY, filters=[["name", "descendants of", "Nowhere"]]) == []


def test_child_rows_and_aggregates_on_sqlite(sqlite_db):
    c = compile_select(ORDER, get_meta, SQLITE, ListArgs(fields=["name", "items.item_code"], order_by="name asc, "
                                                         "`tabOrder Item`.`idx` asc", limit=None))
    assert c.rows(sqlite_db.sql(c.sql, c.params), as_dict=False) == [
        ["o1", "A"], ["o1", "B"], ["o2", "A"], ["o3", None], ["o4", None]]
    c = compile_select(ORDER, get_meta, SQLITE, ListArgs(fields=["items.item_code as code", "sum(items.qty) as q"],
                                                         filters=[["Order Item", "qty", ">", 0]],
                                                         group_by="items.item_code", order_by="q desc"))
    assert c.rows(sqlite_db.sql(c.sql, c.params)) == [{"code": "A", "q": 6.0}, {"code": "B", "q": 2.0}]
    c = compile_count(ORDER, get_meta, SQLITE, ListArgs(filters=[["Order Item", "qty", ">", 0]], limit=None))
    assert sqlite_db.sql(c.sql, c.params) == [(2,)]


def test_alias_order_is_by_value_not_by_name(sqlite_db):
    c = compile_select(ORDER, get_meta, SQLITE, ListArgs(fields=["name", "total as amount"],
                                                         order_by="amount desc", limit=None))
    assert [r["name"] for r in c.rows(sqlite_db.sql(c.sql, c.params))] == ["o2", "o1", "o4", "o3"]


# --- property: request text reaches SQL only as parameters ----------------------------------

KNOWN_IDENTS = {m.table for m in METAS.values()} | {c for m in METAS.values() for c in m.columns} \
    | {f"tabCustomer_{i}" for i in (1, 2)} | {f"tabTerritory_{i}" for i in (1, 2)} \
    | {f"tabShop Settings_{i}" for i in (1, 2)}
KEYWORDS = {"SELECT", "DISTINCT", "FROM", "LEFT", "JOIN", "ON", "AND", "OR", "NOT", "WHERE", "GROUP", "BY",
            "ORDER", "ASC", "DESC", "LIMIT", "OFFSET", "COUNT", "SUM", "AVG", "MIN", "MAX", "COALESCE", "IN",
            "LIKE", "ILIKE", "ESCAPE", "BETWEEN", "IS", "NULL", "CAST", "AS", "TEXT", "WITH", "RECURSIVE", "UNION",
            # the fixed names used by the tree CTE and the capped count
            "r", "n", "p", "c", "t"}
_QUOTED = re.compile(r'"([^"]*)"')
_PG_BOUNDS = re.compile(r" LIMIT 20 OFFSET 0$")
_TOKEN = re.compile(r"\s+|\?|\*|,|\.|\(|\)|!=|<=|>=|=|<|>|-1|''|'\\'|'0001-01-01( 00:00:00)?'|'00:00:00'|0\b|[A-Za-z]+")


def assert_only_metadata_in_sql(sql: str, params: list) -> None:
    """Every identifier comes from metadata, every other token from the compiler's fixed vocabulary."""
    if _PG_BOUNDS.search(sql):
        # PostgreSQL's page bounds are written as numbers (``paging.bounds``), and only these:
        # the properties' default page, as if bound.
        sql, params = _PG_BOUNDS.sub(" LIMIT ? OFFSET ?", sql), params + [20, 0]
    for ident in _QUOTED.findall(sql):
        assert ident in KNOWN_IDENTS, f"identifier {ident!r} not from metadata in {sql}"
    rest = _QUOTED.sub(" ", sql)
    pos = 0
    while pos < len(rest):
        m = _TOKEN.match(rest, pos)
        assert m, f"unexpected text {rest[pos:pos + 20]!r} in {sql}"
        word = m.group()
        assert not word.isalpha() or word in KEYWORDS, f"unexpected word {word!r} in {sql}"
        pos = m.end()
    assert sql.count("?") == len(params)


def compile_or_refuse(dialect, **kw):
    """Compile, or refuse with a 417; anything else (a 500) fails the test."""
    try:
        c = select(dialect, **kw)
    except FrappeError as e:
        assert e.http_status == 417, e
        return None
    assert_only_metadata_in_sql(c.sql, c.params)
    return c


SQL_BITS = ["name", "status", "items", "customer", "territory", "tabOrder", "tabOrder Item", ".", ",", " ", "`",
            "'", '"', "(", ")", "*", ";", "--", "/*", "*/", "select", "from", "union", "as", "desc", "asc",
            "distinct", "count", "sum", "max", "version()", "sleep(1)", "1=1", " or ", " and ", "=", "@", "\n",
            "\\", "?", "%s", "$1", "\x00", "é", "item_code", "group by", "where", "having", "pg_sleep", "||", "::",
            "-", "_", "0", "tabCustomer", "customer_group"]
sql_text = st.one_of(st.text(max_size=40), st.lists(st.sampled_from(SQL_BITS), max_size=12).map("".join))
values = st.one_of(st.text(max_size=30), st.integers(), st.floats(allow_nan=True), st.booleans(), st.none(),
                   st.lists(st.text(max_size=10), max_size=3), sql_text)
FILTER_FIELDS = ["status", "posting_date", "due", "at", "total", "qty_int", "paid", "notes", "name", "creation",
                 "items.item_code", "customer.customer_group", "territory"]
ops = st.one_of(st.sampled_from(OPERATORS), sql_text)
fast = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@fast
@given(field=sql_text, dialect=st.sampled_from([SQLITE, POSTGRES]))
def test_property_field_expressions(field, dialect):
    compile_or_refuse(dialect, fields=[field])
    compile_or_refuse(dialect, fields=["name", f"{field} as x"])


@fast
@given(order_by=sql_text, group_by=sql_text, dialect=st.sampled_from([SQLITE, POSTGRES]))
def test_property_order_and_group_by(order_by, group_by, dialect):
    compile_or_refuse(dialect, order_by=order_by)
    compile_or_refuse(dialect, fields=["status", "count(name) as n"], group_by=group_by, order_by="n desc")


@fast
@given(field=st.one_of(st.sampled_from(FILTER_FIELDS), sql_text), op=ops, value=values,
       doctype=st.one_of(st.none(), st.sampled_from(["Order", "Order Item", "Customer"]), sql_text),
       dialect=st.sampled_from([SQLITE, POSTGRES]))
def test_property_filters(field, op, value, doctype, dialect):
    compile_or_refuse(dialect, filters=[[doctype, field, op, value]])
    compile_or_refuse(dialect, or_filters={field: [op, value]} if isinstance(op, str) else {field: value})


@fast
@given(value=st.text(min_size=1, max_size=40), dialect=st.sampled_from([SQLITE, POSTGRES]))
def test_property_values_only_as_parameters(value, dialect):
    benign = select(dialect, filters=[["status", "=", "x"], ["notes", "like", "x"]])
    c = select(dialect, filters=[["status", "=", value], ["notes", "like", value]])
    assert c.sql == benign.sql
    assert c.params[0] == value and c.params[1] in (value, value + "\\")


columns = st.sampled_from(["name", "status", "total", "`due`", "tabOrder.qty_int", "`tabOrder`.`notes`",
                           "items.item_code", "`tabOrder Item`.`qty`", "customer.customer_group",
                           "table_notes.qty", "territory.parent_territory"])
aliases = st.one_of(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True),
                    st.from_regex(r"`[A-Za-z_]([A-Za-z0-9_ ]{0,19}[A-Za-z0-9_])?`", fullmatch=True))
valid_fields = st.one_of(
    columns,
    st.builds("{} as {}".format, columns, aliases),
    st.builds("{}({}) as {}".format, st.sampled_from(["count", "sum", "avg", "min", "max", "COUNT"]), columns,
              aliases),
    st.builds("distinct {}".format, columns),
)


@fast
@given(fields=st.lists(valid_fields, min_size=1, max_size=5), direction=st.sampled_from(["", " asc", " DESC"]),
       dialect=st.sampled_from([SQLITE, POSTGRES]))
def test_property_valid_expressions_compile_from_metadata_only(fields, direction, dialect):
    """Well-formed requests compile; client aliases are resolved, never copied into SQL."""
    c = select(dialect, fields=fields)
    assert_only_metadata_in_sql(c.sql, c.params)
    for key in c.keys:
        c = compile_or_refuse(dialect, fields=fields, order_by=f"{key}{direction}", group_by=None)
        assert c is not None
