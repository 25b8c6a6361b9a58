"""Keyset cursors: the text codec (``ristretto.model.cursors``), the value checks and the
"after" condition (``ristretto.db.paging``), the latter run on an in-memory SQLite table with
NULLs and duplicates against every position of the listing."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import itertools
import sqlite3

import pytest

from ristretto.db.filters import Column
from ristretto.db.paging import keyset_condition, keyset_value, nulls_first
from ristretto.exceptions import DataError
from ristretto.meta.doctype import Meta
from ristretto.model import cursors

META = Meta({"name": "Thing", "fields": [
    {"fieldname": "n", "fieldtype": "Int"}, {"fieldname": "t", "fieldtype": "Data"},
    {"fieldname": "d", "fieldtype": "Date"}, {"fieldname": "f", "fieldtype": "Float"}]})


def col(name: str) -> Column:
    return Column(f'"{name}"', META.get_column(name), META, True)


def test_round_trip_is_url_safe_and_keeps_values():
    values = ["2025-01-01 10:00:00.5", "a/b+c?&=", None, 3, 1.25]
    text = cursors.encode("Thing", "modified desc,name desc", values)
    assert all(c.isalnum() or c in "-_" for c in text)
    assert cursors.decode(text) == ("Thing", "modified desc,name desc", values)


def test_database_values_become_text():
    text = cursors.encode("Thing", "o", [dt.datetime(2025, 1, 2, 3, 4, 5, 6), dt.date(2025, 1, 2),
                                         decimal.Decimal("1.50"), dt.time(1, 2, 3)])
    assert cursors.decode(text)[2] == ["2025-01-02 03:04:05.000006", "2025-01-02", "1.50", "01:02:03"]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize("bad", [
    None, "", 5, "!!!", "A" * (cursors.MAX_CURSOR_LENGTH + 1), _b64(b"\xff\xfe"), _b64(b"[1,2]"),
    _b64(b'{"d":"Thing","o":"x"}'), _b64(b'{"d":"Thing","o":"x","v":[],"x":1}'),
    _b64(b'{"d":"Thing","o":"x","v":[]}'), _b64(b'{"d":1,"o":"x","v":[1]}'),
    _b64(b'{"d":"Thing","o":"x","v":[[1]]}'), _b64(b'{"d":"Thing","o":"x","v":"ab"}'),
])
def test_anything_else_is_refused(bad):
    with pytest.raises(DataError, match="Invalid cursor"):
        cursors.decode(bad)


@pytest.mark.parametrize("name,value", [("n", "1"), ("n", True), ("n", 2**64), ("n", 1.5), ("d", "2025-13-01"),
                                        ("d", 5), ("f", "1e5; drop"), ("f", "nan"), ("t", "x" * 1001), ("t", "a\x00b"),
                                        ("name", None), ("modified", None), ("t", [1])])
def test_values_are_checked_against_the_column(name, value):
    with pytest.raises(DataError, match="Invalid cursor"):
        keyset_value(col(name), value)


def test_good_values_pass_as_sent():
    assert keyset_value(col("n"), 7) == 7
    assert keyset_value(col("d"), "2025-01-02") == "2025-01-02"
    assert keyset_value(col("f"), "1.50") == "1.50"
    assert keyset_value(col("t"), None) is None


ROWS = [(i, d, t) for i, (d, t) in enumerate(
    (d, t) for d, t in itertools.product([None, "2025-01-01", "2025-01-02"], [None, "a", "b"]) for _ in range(2))]


@pytest.mark.parametrize("desc_d,desc_t", list(itertools.product([False, True], repeat=2)))
def test_after_each_row_comes_exactly_the_rest(desc_d, desc_t):
    """Every position of a listing ordered on two nullable columns (then the unique id): the
    condition selects exactly the rows after it, in SQLite's NULL order (the PostgreSQL order
    is checked through HTTP in tests/api/test_list_cursor.py)."""
    assert len(ROWS) == 18
    db = sqlite3.connect(":memory:")
    db.execute('CREATE TABLE t ("name" INTEGER, "d" TEXT, "t" TEXT)')
    db.executemany("INSERT INTO t VALUES (?, ?, ?)", [(i * 7 % 19, d, t) for i, d, t in ROWS])
    terms = [(col("d"), desc_d), (col("t"), desc_t), (col("name"), False)]
    order = ", ".join(f'"{c.field.fieldname}" {"DESC" if d else "ASC"}' for c, d in terms)
    listing = db.execute(f'SELECT "d", "t", "name" FROM t ORDER BY {order}').fetchall()
    for i, row in enumerate(listing):
        sql, idx = keyset_condition(terms, list(row), "sqlite")
        rest = db.execute(f"SELECT d, t, name FROM t WHERE {sql} ORDER BY {order}", [row[j] for j in idx]).fetchall()
        assert rest == listing[i + 1:]


def test_null_order_follows_the_database():
    assert nulls_first("sqlite", False) and not nulls_first("sqlite", True)
    assert not nulls_first("postgres", False) and nulls_first("postgres", True)


def test_a_deep_offset_on_postgresql_reads_only_the_rows_of_its_page():
    """The page's names come from an inner query (an index-only walk over the skipped rows);
    shallow pages, SQLite, and listings with joins or grouping keep the ordinary shape."""
    from ristretto.db.dialects import POSTGRES, SQLITE
    from ristretto.db.paging import LATE_ROWS_FROM
    from ristretto.db.query import ListArgs, compile_select
    T = '"tabThing"'

    def sql(dialect, **kw):
        return compile_select(META, lambda n: META if n == "Thing" else None, dialect,
                              ListArgs(fields=["name", "t"], **kw))

    deep = sql(POSTGRES, offset=LATE_ROWS_FROM, limit=21)
    assert deep.sql == (f'SELECT {T}."name", {T}."t" FROM {T} WHERE {T}."name" IN (SELECT {T}."name" FROM {T} '
                        f'ORDER BY {T}."modified" DESC LIMIT 21 OFFSET {LATE_ROWS_FROM}) ORDER BY {T}."modified" DESC')
    assert deep.params == []
    filtered = sql(POSTGRES, offset=LATE_ROWS_FROM, limit=21, filters={"t": "x"})
    assert filtered.sql.count("WHERE") == 2 and filtered.params == ["x"]
    for shallow in (sql(POSTGRES, offset=LATE_ROWS_FROM - 1, limit=21), sql(SQLITE, offset=LATE_ROWS_FROM, limit=21),
                    sql(POSTGRES, offset=LATE_ROWS_FROM, limit=21, group_by="t"),
                    sql(POSTGRES, offset=LATE_ROWS_FROM, limit=None)):
        assert " IN (SELECT" not in shallow.sql
