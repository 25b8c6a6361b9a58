"""SQL injection at the compiler: the inputs that broke Frappe, and their relatives.

Every payload must be refused with a 417 (DataError/ValidationError) before any SQL
exists, or, where the input is a value, travel as a bind parameter and leave the SQL
text exactly as a harmless value would.
"""

from __future__ import annotations

import pytest

from ristretto.db.connection import SQLiteConnection
from ristretto.db.dialects import POSTGRES, SQLITE
from ristretto.db.query import ListArgs, compile_count, compile_select
from ristretto.db.schema import sync_doctype
from ristretto.exceptions import DataError, FrappeError, ValidationError
from ristretto.meta.doctype import Meta

CHILD = Meta({"name": "Sessions Item", "istable": 1, "fields": [{"fieldname": "code", "fieldtype": "Data"}]})
DOCTYPE = Meta({"name": "Target", "fields": [
    {"fieldname": "status", "fieldtype": "Data"},
    {"fieldname": "beta", "fieldtype": "Check"},
    {"fieldname": "editable_grid", "fieldtype": "Check"},
    {"fieldname": "posting_date", "fieldtype": "Date"},
    {"fieldname": "user", "fieldtype": "Link", "options": "Secret"},
    {"fieldname": "items", "fieldtype": "Table", "options": "Sessions Item"},
]})
SECRET = Meta({"name": "Secret", "fields": [{"fieldname": "password", "fieldtype": "Password"},
                                            {"fieldname": "token", "fieldtype": "Data"}]})
METAS = {m.name: m for m in (CHILD, DOCTYPE, SECRET)}
DIALECTS = [SQLITE, POSTGRES]


def compile_(dialect, **kw):
    return compile_select(DOCTYPE, METAS.get, dialect, ListArgs(**kw))


def assert_refused(dialect, **kw):
    with pytest.raises((DataError, ValidationError)) as info:
        compile_(dialect, **kw)
    assert info.value.http_status == 417


# Frappe #5633 (row 1 of the anchors table) and its relatives: SQL in `fields`.
FIELD_PAYLOADS = [
    "(select count(*) from tabSessions)",
    "`tabTarget`.`name`,(select count(*) from tabSessions), version(), database(), user()",
    "version()", "database()", "user()", "current_user()", "session_user()", "system_user()",
    "connection_id()", "last_insert_id()", "@@version", "name, @@version", "sleep(5)", "SLEEP (5)",
    "pg_sleep(5)", "benchmark(10000000, md5(1))", "concat(name, status)", "concat_ws(',', name, status)",
    "if(1, name, status)", "ifnull(status, name)", "nullif(name, status)", "coalesce(status, name)",
    "load_file('/etc/passwd')", "lower(name)", "substr(name, 1, 1)", "extract(year from posting_date)",
    "name; drop table tabTarget", "name;", "name -- comment", "name #comment", "name /* c */", "/*!50000 name*/",
    "name union select password from tabSecret", "name UNION ALL SELECT 1", "name from tabSecret",
    "name from tabSecret where 1=1", "select name", "SELECT name FROM tabSecret", "name as x from tabSecret",
    "case when 1=1 then name else status end", "count((select 1))", "count(name); drop table x",
    "max(name) as x; drop table y", "name as `x; drop`", "name as \"x\"\"y\"", "name as 'a', version()",
    "name`, `status", "name' or '1'='1", "name,", "name'", "1", "1=1", "'a'", "\"name\"", "\"tabTarget\".\"name\"",
    "name || 'x'", "name::text", "name collate nocase", "`tabSecret`.`password`", "tabSecret.password",
    "items.code, (select 1)", "count(distinct (select 1))", "sum(name) over ()",
    "name\x00", "*, (select 1)", "`tabTarget`.*, version()", "name as x as y", "json_extract(name, '$')",
    "array_to_string(array(select 1), ',')", "name is not null", "name = 'x'", "count(*) filter (where 1=1)",
]


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
@pytest.mark.parametrize("payload", FIELD_PAYLOADS)
def test_fields(dialect, payload):
    assert_refused(dialect, fields=["name", payload])
    assert_refused(dialect, fields=[payload])


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_other_tables_only_through_a_link_and_reported_for_permission(dialect):
    assert_refused(dialect, fields=["`tabSecret`.`password`"])
    assert_refused(dialect, filters=[["tabSecret.password", "=", "x"]])
    c = compile_(dialect, fields=["user.password"])
    assert c.linked == ("Secret",)  # the listing layer checks read permission on it
    c = compile_(dialect, filters=[["user.token", "like", "h%"]])
    assert c.linked == ("Secret",)
    count = compile_count(DOCTYPE, METAS.get, dialect, ListArgs(filters=[["user.token", "=", "x"]]))
    assert count.linked == ("Secret",)
    assert_refused(dialect, filters=[["user.password", "like", "h%"]])  # a Password field: never filtered
    assert compile_(dialect, fields=["items.code"]).linked == ()


# Frappe #5721 (row 2): SQL in filter keys, e.g. 'editable_grid,' and 'beta and 1=1'.
FILTER_KEY_PAYLOADS = [
    "editable_grid,", "editable_grid, 1", "beta and 1=1", "beta or 1=1", "name = name", "name) or (1=1",
    "name;", "name; drop table tabTarget", "name--", "name -- x", "name/**/", "status' or '1'='1", "`status` or 1",
    "status\n", "status\nor 1=1", "(select 1)", "version()", "sleep(5)", "tabTarget.name or 1",
    "items.code or 1", "\"name\"", "\"status\" or \"1\"", "name union select 1", "1", "1=1", "*", "name.",
    ".name", "`tabSecret`.`password`", "status collate nocase", "ifnull(status, '')", "status || 'x'",
    "status::text", "@a", "status\x00",
]


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
@pytest.mark.parametrize("key", FILTER_KEY_PAYLOADS)
def test_filter_keys(dialect, key):
    assert_refused(dialect, filters=[[key, "=", 0]])
    assert_refused(dialect, filters={key: 0})
    assert_refused(dialect, filters=[["Target", key, "=", 0]])
    assert_refused(dialect, or_filters=[["DocType", key, "=", 0]])
    assert_refused(dialect, or_filters=[["Target", key, "=", 0], ["status", "=", "x"]])


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
@pytest.mark.parametrize("doctype", ["Target; drop table tabTarget", "Secret", "Target' or '1'='1", "tabSecret",
                                     "Sessions Item) or (1=1"])
def test_filter_doctypes(dialect, doctype):
    assert_refused(dialect, filters=[[doctype, "status", "=", "x"]])


OPERATOR_PAYLOADS = [
    "= 1 or 1=1", "=1 --", "= 0 union select 1", "in (select name from tabSecret)", "like '%' or '1'='1'",
    "; drop table tabTarget", "is null or 1=1", "regexp", "rlike", "~", "~*", "<=>", "!= 'x' union",
    "sounds like", "between 1 and", "&&", "||", "is not", "not", "=)", "in)", "exists", "= ANY", "@>",
]


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
@pytest.mark.parametrize("op", OPERATOR_PAYLOADS)
def test_operators(dialect, op):
    assert_refused(dialect, filters=[["status", op, "x"]])
    assert_refused(dialect, filters=[["Target", "status", op, "x"]])
    assert_refused(dialect, filters={"status": [op, "x"]})


# Frappe #2784, #7992, #18981 (row 3): SQL in order_by / group_by.
ORDER_PAYLOADS = [
    "(select 1)", "name; drop table tabTarget", "sleep(5)", "name desc, sleep(5)", "name desc, (select 1)",
    "if(1,name,status)", "name desc -- x", "name /* */", "name desc limit 1", "name desc union select 1",
    "ifnull(status,'')", "status = 'Open'", "extractvalue(1,concat(0x5c,version()))", "rand()", "random()",
    "updatexml(1,concat(0x7e,(select version())),1)", "(name)", "`tabSecret`.`password`", "tabSecret.password",
    "name desc nulls first", "name collate \"C\"", "1", "name, 1", "'x'", "\"name\"", "name desc; select 1",
    "status || 'x'", "name::text", "case when 1=1 then name end", "field(name, 'a')", "name desc #",
    "name\ndesc", "lower(name)", "length(name)", "count(select 1)", "count((select 1))", "count(name) desc, pg_sleep(1)",
    "name desc, @@version", "nope desc", "name sideways", "version()", "database()", "user()",
]


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
@pytest.mark.parametrize("order_by", ORDER_PAYLOADS)
def test_order_by(dialect, order_by):
    assert_refused(dialect, order_by=order_by)
    assert_refused(dialect, fields=["status", "count(name) as n"], group_by="status", order_by=order_by)


GROUP_PAYLOADS = ORDER_PAYLOADS + [
    "status having 1=1", "status with rollup", "status, (select 1)", "status desc", "count(name)",
    "status order by name", "name from tabSecret",
]


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
@pytest.mark.parametrize("group_by", GROUP_PAYLOADS)
def test_group_by(dialect, group_by):
    assert_refused(dialect, fields=["status", "count(name) as n"], group_by=group_by)


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
@pytest.mark.parametrize("bad", [["name"], {"a": 1}, 5])
def test_order_and_group_by_must_be_text(dialect, bad):
    assert_refused(dialect, group_by=bad)


# Values never change the SQL text: they are parameters, compared literally.
VALUE_PAYLOADS = [
    "' or '1'='1", "x' or 1=1 --", "1; drop table \"tabTarget\"; --", "Robert'); DROP TABLE Students;--",
    "%' union select password from tabSecret --", "\\", "\\'", "?", "??", "%s", "%(x)s", "$1", "' || version() || '",
    "\" or \"\"=\"", "*/ select 1 /*", "`name`", "\"tabTarget\"", "'); select pg_sleep(5); --",
    "x\nor 1=1", "é'ü\"", "' and sleep(5) and '", "0x27", "N'x'", "E'\\x27'",
]


def conditions(v: str) -> list:
    return [["status", "=", v], ["status", "!=", v], ["status", "<", v], ["status", "like", f"%{v}%"],
            ["status", "not like", v], ["status", "in", [v, "w"]], ["status", "not in", [v]],
            ["items.code", "=", v], ["Sessions Item", "code", ">", v], ["user", "=", v],
            ["user.token", "=", v]]


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
@pytest.mark.parametrize("value", VALUE_PAYLOADS)
def test_values_are_parameters(dialect, value):
    benign = compile_(dialect, filters=conditions("v"), or_filters={"status": "v", "beta": 1})
    c = compile_(dialect, filters=conditions(value), or_filters={"status": value, "beta": 1})
    assert c.sql == benign.sql
    assert c.params.count(value) >= 8
    count = compile_count(DOCTYPE, METAS.get, dialect, ListArgs(filters=conditions(value)))
    assert count.sql == compile_count(DOCTYPE, METAS.get, dialect, ListArgs(filters=conditions("v"))).sql


@pytest.fixture(scope="module")
def db():
    conn = SQLiteConnection(":memory:")
    for meta in METAS.values():
        sync_doctype(conn, meta)
    for name, status in (("a", "Open"), ("b", "' or '1'='1"), ("c", None)):
        conn.execute('INSERT INTO "tabTarget" (name, status) VALUES (?, ?)', [name, status])
    conn.execute('INSERT INTO "tabSecret" (name, password) VALUES (?, ?)', ["s", "hunter2"])
    yield conn
    conn.close()


def run(db, **kw) -> list:
    kw.setdefault("order_by", "name asc")
    c = compile_(SQLITE, **kw)
    return [r["name"] for r in c.rows(db.sql(c.sql, c.params))]


@pytest.mark.parametrize("value", VALUE_PAYLOADS)
def test_values_match_literally_on_sqlite(db, value):
    stored = value == "' or '1'='1"
    assert run(db, filters=[["status", "=", value]]) == (["b"] if stored else [])
    assert run(db, filters=[["status", "!=", value]]) == (["a", "c"] if stored else ["a", "b", "c"])
    assert set(run(db, filters=[["status", "like", f"%{value}%"]])) <= {"b"}
    assert run(db, filters=[["status", "in", [value, "Open"]]]) == (["a", "b"] if stored else ["a"])


def test_literal_match_of_a_stored_payload(db):
    assert run(db, filters={"status": "' or '1'='1"}) == ["b"]
    assert run(db, filters=[["status", "in", "' or '1'='1"]]) == ["b"]
    assert run(db, filters=[["status", "!=", "' or '1'='1"]]) == ["a", "c"]


def test_every_refusal_leaves_the_table_working(db):
    for payload in FIELD_PAYLOADS + ORDER_PAYLOADS:
        with pytest.raises(FrappeError):
            run(db, fields=[payload], order_by=payload)
    assert run(db) == ["a", "b", "c"]
    assert db.sql('SELECT COUNT(*) FROM "tabSecret"') == [(1,)]
