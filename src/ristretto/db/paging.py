"""Deep pages: keyset cursors (``after=<cursor>``), and the shape of a deep offset.

Keyset: a listing ordered by columns of its DocType, with ``name`` appended as the tie-breaker,
has a total order; the page after a row is then ``WHERE (key) > (that row's key)``, which the
database answers with an index seek where an offset would skip rows one by one. The cursor's
text is ``ristretto.model.cursors``'.

Offset: skipping rows is linear whatever the shape, but on PostgreSQL a page of columns outside
the sort index visits the table for every skipped row; :func:`late_rows` finds the page's names
first (an index-only walk) and reads only the page's own rows. (SQLite defers the table read of
a row until a column is needed, so a skipped row costs it no table read.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ristretto.db.exprs import parse_order
from ristretto.db.filters import _INT64_MAX, _INT64_MIN, Column, _nullable
from ristretto.exceptions import DataError
from ristretto.meta.fieldtypes import CHECK, DATE, DATETIME, FLOAT, INT, TIME, parse_date, parse_datetime, parse_time

if TYPE_CHECKING:
    from ristretto.db.query import ListQuery


def nulls_first(dialect_name: str, desc: bool) -> bool:
    """Where the database puts NULLs in an ORDER BY without NULLS FIRST/LAST: SQLite sorts them
    as the smallest value, PostgreSQL as the largest."""
    return (dialect_name == "sqlite") != desc


def keyset_condition(terms: list[tuple[Column, bool]], values: list[Any],
                     dialect_name: str) -> tuple[str, list[int]]:
    """Rows strictly after ``values`` in the order ``terms`` ((column, descending) pairs whose last
    column is unique): SQL and, for each ``?`` in it, the index of the value it binds.

    Written as ``t1 >= v1 AND (t1 > v1 OR <after the rest>)``, so that the first term bounds an
    index range (a seek, not a scan) on both databases. A nullable column's NULLs are placed
    where the database sorts them (:func:`nulls_first`), so no row is lost or repeated.
    """
    def strict(i: int) -> tuple[str, list[int]]:
        col, desc = terms[i]
        op = "<" if desc else ">"
        first = nulls_first(dialect_name, desc)
        if values[i] is None:
            return (f"{col.sql} IS NOT NULL" if first else "1=0"), []
        if _nullable(col) and not first:
            return f"({col.sql} {op} ? OR {col.sql} IS NULL)", [i]
        return f"{col.sql} {op} ?", [i]

    def weak(i: int) -> tuple[str, list[int]]:
        col, desc = terms[i]
        op = "<=" if desc else ">="
        first = nulls_first(dialect_name, desc)
        if values[i] is None:
            return ("1=1" if first else f"{col.sql} IS NULL"), []
        if _nullable(col) and not first:
            return f"({col.sql} {op} ? OR {col.sql} IS NULL)", [i]
        return f"{col.sql} {op} ?", [i]

    def after(i: int) -> tuple[str, list[int]]:
        s_sql, s_idx = strict(i)
        if i == len(terms) - 1:
            return s_sql, s_idx
        w_sql, w_idx = weak(i)
        r_sql, r_idx = after(i + 1)
        return f"{w_sql} AND ({s_sql} OR ({r_sql}))", w_idx + s_idx + r_idx

    sql, idx = after(0)
    return f"({sql})", idx


# A cursor value longer than this is not one the database handed out.
MAX_CURSOR_VALUE = 1000


def keyset_value(col: Column, value: Any) -> Any:
    """A cursor's value for ``col``, checked against the column's type (a tampered cursor is
    refused here with a 417, never by the database)."""
    f = col.field
    kind = f.ft.kind

    def bad() -> DataError:
        return DataError(f"Invalid cursor: bad value for {f.fieldname}", title="Invalid cursor")

    if value is None:
        if not _nullable(col):
            raise bad()
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise bad()
    if kind in (INT, CHECK):
        if not isinstance(value, int) or not _INT64_MIN <= value <= _INT64_MAX:
            raise bad()
        return value
    if isinstance(value, str) and (len(value) > MAX_CURSOR_VALUE or "\x00" in value):
        raise bad()  # (PostgreSQL text holds no NUL: the database never handed one out)
    if kind == FLOAT:
        if isinstance(value, str):  # PostgreSQL's numeric arrives as Decimal, sent as text
            try:
                float(value)
            except ValueError:
                raise bad() from None
            if not all(c in "0123456789.-+eE" for c in value):
                raise bad()
        return value
    if not isinstance(value, str):
        raise bad()
    parse = {DATE: parse_date, DATETIME: parse_datetime, TIME: parse_time}.get(kind)
    if parse is not None:
        try:
            parse(value)  # bound as sent: SQLite compares the stored text as it is
        except ValueError:
            raise bad() from None
    return value


def keyset_terms(q: "ListQuery", order_by: str | None) -> list[tuple[Column, bool]] | None:
    """The order as (main-table column, descending) pairs with ``name`` as the tie-breaker,
    or None when it is not a plain column order (an alias, an aggregate, a joined column):
    a cursor can then not be made."""
    if order_by is None:
        terms = [(q._main_column(fn), d == "DESC") for fn, d in q.meta.default_order()]
    else:
        terms = []
        for term in parse_order(order_by):
            if term.ref is None or term.aggregate is not None or q._output(term.whole) is not None \
                    or q._output(term.output) is not None:
                return None
            col = q._check_read(q.resolve(term.ref))
            if not col.is_main:
                return None
            terms.append((col, term.desc))
    out: list[tuple[Column, bool]] = []
    for col, desc in terms:
        if col.field.fieldname in (c.field.fieldname for c, _ in out):
            continue  # a repeated column decides nothing
        out.append((col, desc))
        if col.field.fieldname == "name":
            return out  # unique: later terms decide nothing
    return out + [(q._main_column("name"), out[-1][1] if out else False)]


def keyset_plan(q: "ListQuery", keyset: bool, after: list[Any] | None, order_by: str | None, ordered: bool,
                grouped: bool, dialect_name: str) -> tuple[list[tuple[Column, bool]] | None, tuple | None]:
    """The listing's sort key (None: no cursor can follow it) and, for a cursor's values
    ``after``, its condition added to ``q``: then also (how many parameters it has, the value
    index of each), which ``Compiled.with_after`` binds."""
    if not (keyset or after is not None):
        return None, None
    # Rows of a grouped, aggregated or DISTINCT listing are not table rows, and a child table's
    # join repeats them (a cursor would skip the repeats): no key. (A Link joins one row at most.)
    plain = not (grouped or q.distinct or any(not k.startswith("link:") for k in q.joins))
    key = keyset_terms(q, order_by) if plain and (ordered or order_by) else None
    if after is None:
        return key, None
    if key is None:
        raise DataError("A cursor ('after') needs a listing ordered by columns of the DocType, "
                        "without group_by, aggregates or distinct", title="Invalid cursor")
    if len(after) != len(key):
        raise DataError("Invalid cursor: it does not fit this listing", title="Invalid cursor")
    cond, idx = keyset_condition(key, list(after), dialect_name)
    q.add_condition_sql(cond, [None] * len(idx))
    return key, (len(idx), tuple(idx))


def bounds(dialect_name: str, limit: int | None, offset: int) -> tuple[str, list[int]]:
    """The ``LIMIT``/``OFFSET`` clause of a listing and the values it binds.

    PostgreSQL gets the two numbers written into the text, as integers (``int`` of a checked
    argument: nothing else can reach it). Bound, they keep PostgreSQL from ever using a prepared
    statement's generic plan: its estimate of an unknown LIMIT is a tenth of the table, so the
    generic plan always looks dearer than a custom one, and every execution of a listing was
    planned again (``pg_prepared_statements`` showed 0 generic plans after thousands of runs).
    With the numbers in the text, the usual pages (limit 20 or 21, offset 0) are a handful of
    statements, each planned once. SQLite has no such planner and keeps them bound."""
    if dialect_name == "postgres":
        if limit:
            return f" LIMIT {int(limit)} OFFSET {int(offset)}", []
        return (f" OFFSET {int(offset)}", []) if offset else ("", [])
    if limit:
        return " LIMIT ? OFFSET ?", [int(limit), int(offset)]
    return (" LIMIT -1 OFFSET ?", [int(offset)]) if offset else ("", [])


# Offsets from this deep are answered in two steps on PostgreSQL (:func:`late_rows`).
LATE_ROWS_FROM = 1000


def late_rows(dialect_name: str, main: str, exprs: list[str], from_sql: str, order: list[str],
              offset: int, limit: int | None, plain: bool) -> str | None:
    """For a deep page of a plain listing (no joins, grouping or DISTINCT) on PostgreSQL: the
    query that selects the page's rows by the names of an inner, otherwise identical query (same
    parameters, in the same order; the bounds written as :func:`bounds` writes them); None to
    keep the ordinary shape."""
    if dialect_name != "postgres" or not plain or not order or not limit or offset < LATE_ROWS_FROM:
        return None
    by = ", ".join(order)
    inner = f'SELECT {main}."name"{from_sql} ORDER BY {by}{bounds(dialect_name, limit, offset)[0]}'
    return f'SELECT {", ".join(exprs)} FROM {main} WHERE {main}."name" IN ({inner}) ORDER BY {by}'
