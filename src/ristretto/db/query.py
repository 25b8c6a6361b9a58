"""The list-query compiler: Frappe's ``fields`` / ``filters`` / ``order_by`` → parameterised SQL.

This is the only place where request text turns into SQL. It works by allowlist:
every field expression, filter key, sort and group term must parse with a small
grammar and resolve to a column of a DocType known to the metadata registry;
every value is a bound parameter. Anything else is refused with a 417
(``DataError``/``ValidationError``) before any SQL exists.

Filter shapes, operators and Frappe's NULL semantics live in ``ristretto.db.filters``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from ristretto.db.dialects import Dialect, quote
from ristretto.exceptions import DataError, ValidationError
from ristretto.meta.doctype import DocField, Meta
from ristretto.meta.fieldtypes import FLOAT, TIME, format_time

from ristretto.db.exprs import (
    Aggregate, Ref, Term, not_permitted, parse_field, parse_group, parse_order, parse_ref,
    restricted as _restricted, split_top_level,
)
from ristretto.db.compiled import Compiled
from ristretto.db.filters import (
    MAX_NAME_LENGTH, Column, build_condition, normalize_filters, normalize_operator,
    too_long,
)
from ristretto.db.paging import bounds, keyset_plan, late_rows

MetaLookup = Callable[[str], "Meta | None"]

# A single character class: linear time.
_FILTER_KEY_CHARS = re.compile(r"[,'();\n]")
# Below SQLite's default 32766 and PostgreSQL's 65535 bind parameters per statement.
_MAX_PARAMS = 30000
# Request-text limits, generous for real clients (Frappe's desk sends a few dozen fields of
# at most a hundred characters): beyond them a request is refused before any parsing.
MAX_FIELDS = 1000               # field expressions, and selected columns once `*` is expanded
MAX_FIELDS_TEXT = 200_000       # characters of `fields` sent as text (JSON or a comma list)
MAX_EXPRESSION_LENGTH = MAX_NAME_LENGTH   # characters in one field expression
MAX_ORDER_LENGTH = 1000         # characters of `order_by`, and of `group_by`


def comparable(col: Column) -> Column:
    """A column a filter, sort or group may use: never a secret (Password) field, whose row
    holds only a mask; comparing it would at best tell its length."""
    if col.field.ft.secret:
        raise DataError(f"Cannot filter, sort or group by Password field {col.field.fieldname}",
                        title="Invalid filter")
    return col


# --- the compiler ----------------------------------------------------------------------

class ListQuery:
    """Compile one list/count request against a DocType."""

    def __init__(self, meta: Meta, get_meta: MetaLookup, dialect: Dialect):
        self.meta = meta
        self.get_meta = get_meta
        self.dialect = dialect
        self.main = quote(meta.table)
        # Joined tables in join order: key -> (sql, params)
        self.joins: dict[str, tuple[str, list[Any]]] = {}
        self.link_aliases: dict[str, tuple[str, Meta]] = {}
        self.where: list[str] = []
        self.where_params: list[Any] = []
        self.distinct = False
        # Output key (alias or fieldname) -> its SQL, so order_by can name a select alias
        # without the client's alias text ever reaching SQL.
        self.outputs: dict[str, str] = {}
        # Field-level read permission: Meta -> readable fieldnames (None: all).
        self.readable: Callable[[Meta], set[str] | None] | None = None
        self._readable_sets: dict[str, set[str] | None] = {}

    def _allowed(self, meta: Meta) -> set[str] | None:
        if meta.name not in self._readable_sets:
            self._readable_sets[meta.name] = self.readable(meta) if self.readable is not None else None
        return self._readable_sets[meta.name]

    def _can_read(self, col: "Column") -> bool:
        """The column's field is readable, and so is the Link/Table field it was reached through."""
        if self.readable is None:
            return True
        allowed = self._allowed(col.meta)
        if allowed is not None and col.field.fieldname not in allowed:
            return False
        if col.through is not None:
            allowed = self._allowed(self.meta)
            return allowed is None or col.through.fieldname in allowed
        return True

    def _check_read(self, col: Column) -> Column:
        """A column used to filter, sort, group or aggregate: refused unless readable, since
        its values could otherwise be recovered one comparison at a time, and never a
        Password field (see ``comparable``)."""
        if not self._can_read(col):
            name = col.field.fieldname
            if col.through is not None:
                name = f"{col.through.fieldname}.{name}"
            raise not_permitted(name)
        return comparable(col)

    # -- column resolution ---------------------------------------------------------

    def _join_child(self, table_field: DocField) -> Meta:
        child = self.get_meta(table_field.options) if table_field.options else None
        if child is None or not child.istable:
            raise not_permitted(table_field.fieldname)
        # A child DocType's fields are readable only through a Table field the user may read
        # (its permlevel): without one, no join; with one, rows of the unreadable Table fields
        # of the same child DocType are left out of the join.
        allowed = self.readable(self.meta) if self.readable is not None else None
        tables = [tf.fieldname for tf in self.meta.table_fields if tf.options == child.name]
        readable = [t for t in tables if allowed is None or t in allowed]
        if not readable:
            raise not_permitted(table_field.fieldname)
        key = child.table
        if key not in self.joins:
            ct = quote(child.table)
            only = f" AND {ct}.\"parentfield\" IN ({', '.join('?' * len(readable))})" if readable != tables else ""
            self.joins[key] = (
                f" LEFT JOIN {ct} ON {ct}.\"parent\" = {self.main}.\"name\" AND {ct}.\"parenttype\" = ?{only}",
                [self.meta.name] + (readable if only else []))
        return child

    def _through(self, tf: DocField) -> DocField:
        """For a child column named without its Table field (a bare filter field, a child
        DocType or table name): a Table field of the same child DocType the user may read,
        since the join holds the rows of every readable one; else ``tf``."""
        allowed = self._allowed(self.meta)
        if allowed is None or tf.fieldname in allowed:
            return tf
        return next((other for other in self.meta.table_fields
                     if other.options == tf.options and other.fieldname in allowed), tf)

    def _join_link(self, link_field: DocField) -> tuple[str, Meta]:
        target = self.get_meta(link_field.options) if link_field.options else None
        if target is None or target.issingle or target.istable:
            raise not_permitted(link_field.fieldname)
        # Columns reached through a Link field the user may not read are dropped from the
        # select list and refused as terms (``Column.through``, ``_can_read``).
        if link_field.fieldname not in self.link_aliases:
            suffix = f"_{len(self.link_aliases) + 1}"
            alias = quote(target.table[:63 - len(suffix)] + suffix)
            self.joins[f"link:{link_field.fieldname}"] = (
                f" LEFT JOIN {quote(target.table)} {alias} ON {alias}.\"name\" = "
                f"{self.main}.{quote(link_field.fieldname)}", [])
            self.link_aliases[link_field.fieldname] = (alias, target)
        return self.link_aliases[link_field.fieldname]

    def _child_table_meta(self, table_name: str) -> tuple[Meta, DocField] | None:
        """The child DocType of the main DocType whose table is ``table_name``, and its Table field."""
        for tf in self.meta.table_fields:
            child = self.get_meta(tf.options)
            if child is not None and child.table == table_name:
                self._join_child(tf)
                return child, self._through(tf)
        return None

    def resolve(self, ref: "Ref | str", *, for_filter_doctype: str | None = None) -> Column:
        """Resolve a column reference to SQL, joining child/link tables as needed."""
        if isinstance(ref, str):
            ref = parse_ref(ref.strip())
        qual, col = ref.qual, ref.col
        if qual is not None:
            return self._qualified(qual, col, ref.text)
        if for_filter_doctype and for_filter_doctype != self.meta.name:
            # 4-element filter naming a child DocType.
            for tf in self.meta.table_fields:
                if tf.options == for_filter_doctype:
                    child = self._join_child(tf)
                    return self._column_of(child, quote(child.table), col, through=self._through(tf))
            raise not_permitted(f"{for_filter_doctype}.{col}")
        return self._main_column(col)

    def _qualified(self, qual: str, col: str, ref: str) -> Column:
        # Field dot notation first: a field may be named like a table ("table_items").
        f = self.meta.get_field(qual)
        if f is not None and f.is_table:
            child = self._join_child(f)
            return self._column_of(child, quote(child.table), col, through=f)
        if f is not None and f.fieldtype == "Link":
            alias, target = self._join_link(f)
            return self._column_of(target, alias, col, through=f)
        if qual == self.meta.table:
            return self._main_column(col)
        found = self._child_table_meta(qual)
        if found is not None:
            child, tf = found
            return self._column_of(child, quote(child.table), col, through=tf)
        if qual.startswith("tab"):
            raise DataError(f"Please select atleast 1 column from {qual[3:]} to sort/group",
                            title="Invalid field")
        raise not_permitted(ref)

    def _main_column(self, col: str) -> Column:
        f = self.meta.get_column(col)
        if f is None:
            raise not_permitted(col)
        return Column(f"{self.main}.{quote(col)}", f, self.meta, True)

    def _column_of(self, meta: Meta, alias_sql: str, col: str, *, through: DocField | None = None) -> Column:
        f = meta.get_column(col)
        if f is None:
            raise not_permitted(col)
        return Column(f"{alias_sql}.{quote(col)}", f, meta, False, through)

    def resolve_filter_field(self, doctype: str | None, fieldname: str) -> Column:
        """Filters may name a field of a child table without saying so (Frappe re-targets)."""
        ref = parse_ref(str(fieldname).strip())
        if doctype in (None, self.meta.name) and ref.qual is None and not self.meta.has_column(ref.col):
            for tf in self.meta.table_fields:
                child = self.get_meta(tf.options)
                if child is not None and child.has_column(ref.col):
                    self._join_child(tf)
                    return self._column_of(child, quote(child.table), ref.col, through=self._through(tf))
        return self.resolve(ref, for_filter_doctype=doctype)

    # -- fields ------------------------------------------------------------------------

    def select_list(self, fields: list[str]) -> tuple[list[str], list[str], list, bool]:
        """SQL select expressions, output keys, converters, and whether any is an aggregate."""
        if len(fields) > MAX_FIELDS:
            raise DataError(f"Too many fields (at most {MAX_FIELDS})", title="Invalid field")
        exprs: list[str] = []
        keys: list[str] = []
        convs: list = []
        has_aggregate = False
        for raw in fields:
            if not isinstance(raw, str):
                raise DataError("Each field must be a string", title="Invalid field")
            if len(raw) > MAX_EXPRESSION_LENGTH:
                raise too_long("A field expression", MAX_EXPRESSION_LENGTH)
            text = raw.strip()
            if not text:
                continue
            parsed = parse_field(text)
            if parsed.star is not None:
                if parsed.star not in ("", self.meta.table):
                    raise _restricted(raw)
                allowed = self._allowed(self.meta)
                for name, f in self.meta.columns.items():
                    if allowed is not None and name not in allowed:
                        continue
                    exprs.append(f"{self.main}.{quote(name)}")
                    keys.append(name)
                    convs.append(self._converter(f))
                    self.outputs.setdefault(name, exprs[-1])
                continue
            if parsed.distinct:
                # SQL knows DISTINCT only for the whole row, wherever the client wrote it.
                self.distinct = True
            if parsed.aggregate is not None:
                expr, conv = self._aggregate(parsed.aggregate)
                key = text
                has_aggregate = True
            else:
                col = self.resolve(parsed.ref)
                if not self._can_read(col):
                    continue  # fields the user may not read are silently dropped
                expr, key, conv = col.sql, col.field.fieldname, self._converter(col.field)
            key = parsed.alias or key
            exprs.append(expr)
            keys.append(key)
            convs.append(conv)
            self.outputs.setdefault(key, expr)
        if len(exprs) > MAX_FIELDS:
            raise DataError(f"Too many fields (at most {MAX_FIELDS})", title="Invalid field")
        return exprs, keys, convs, has_aggregate

    def _aggregate(self, agg: Aggregate) -> tuple[str, Callable[[Any], Any] | None]:
        """SQL of an aggregate; its argument must be readable (an aggregate reveals values)."""
        conv: Callable[[Any], Any] | None = None
        if agg.arg is None:
            inner = "*"
        else:
            col = self._check_read(self.resolve(agg.arg))
            inner = col.sql
            if agg.fn == "count" and not agg.distinct and col.is_main and col.field.fieldname == "name":
                # The main table's name is never NULL: COUNT(*) counts the same rows and needs
                # no column, so a group_by on an indexed column is read from that index alone.
                inner = "*"
            if agg.fn in ("min", "max"):
                conv = self._converter(col.field)
            elif agg.fn in ("sum", "avg"):
                conv = float
        dis = "DISTINCT " if agg.distinct else ""
        return f"{agg.fn.upper()}({dis}{inner})", conv

    def _converter(self, f: DocField):
        if self.dialect.name == "sqlite":
            if f.ft.kind == TIME:
                return format_time
            if f.ft.kind == FLOAT:
                return float
        return None

    # -- filters -----------------------------------------------------------------------

    def add_filters(self, filters: Any, *, combine: str = "AND") -> None:
        conds = normalize_filters(filters, self.meta.name, name="or_filters" if combine == "OR" else "filters")
        if not conds:
            return
        parts: list[str] = []
        params: list[Any] = []
        for doctype, fieldname, op, value in conds:
            sql, p = self.condition(doctype, fieldname, op, value)
            parts.append(sql)
            params.extend(p)
        joined = f" {combine} ".join(parts)
        self.where.append(f"({joined})" if len(parts) > 1 else joined)
        self.where_params.extend(params)

    def add_condition_sql(self, sql: str, params: list[Any]) -> None:
        """Extra conditions (permission rules) built by trusted code from metadata."""
        self.where.append(sql)
        self.where_params.extend(params)

    def condition(self, doctype: str | None, fieldname: Any, op: Any, value: Any) -> tuple[str, list]:
        if not isinstance(fieldname, str) or not fieldname.strip():
            raise DataError(f"Invalid field name {fieldname!r}", title="Invalid filter")
        if len(fieldname) > MAX_NAME_LENGTH:
            raise too_long("A filter's field name", MAX_NAME_LENGTH)
        if doctype is not None and len(doctype) > MAX_NAME_LENGTH:
            raise too_long("A filter's DocType", MAX_NAME_LENGTH)
        if _FILTER_KEY_CHARS.search(fieldname):
            raise DataError(f"Invalid field name {fieldname}", title="Invalid filter")
        op = normalize_operator(op)
        col = self._check_read(self.resolve_filter_field(doctype, fieldname))
        return build_condition(self, col, op, value)

    # -- order / group -------------------------------------------------------------------

    def order_terms(self, order_by: str) -> list[str]:
        if not isinstance(order_by, str):
            raise ValidationError("order_by must be text", title="Illegal SQL Query")
        if len(order_by) > MAX_ORDER_LENGTH:
            raise too_long("order_by", MAX_ORDER_LENGTH)
        out = []
        for term in parse_order(order_by):
            output = self._output(term.whole) if term.whole is not None else None
            if output is not None:
                out.append(f"{output} ASC")
            else:
                out.append(f"{self._term_sql(term)} {'DESC' if term.desc else 'ASC'}")
        return out

    def _output(self, name: str | None) -> str | None:
        """The SQL of a selected output named by its alias or fieldname (not a main column)."""
        if name is None or self.meta.has_column(name):
            return None
        return self.outputs.get(name)

    def _term_sql(self, term: Term) -> str:
        """A sort or group term: a selected output, an aggregate or a readable column."""
        output = self._output(term.output)
        if output is not None:
            return output
        if term.aggregate is not None:
            return self._aggregate(term.aggregate)[0]
        if term.ref is None:
            raise not_permitted(term.text)
        return self._check_read(self.resolve(term.ref)).sql

    def group_terms(self, group_by: str) -> list[str]:
        if not isinstance(group_by, str):
            raise ValidationError("Illegal SQL Query", title="Invalid group_by")
        if len(group_by) > MAX_ORDER_LENGTH:
            raise too_long("group_by", MAX_ORDER_LENGTH)
        return [self._term_sql(term) for term in parse_group(group_by)]

    # -- assembly ----------------------------------------------------------------------

    def linked(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(target.name for _, target in self.link_aliases.values()))

    def from_sql(self) -> tuple[str, list[Any]]:
        sql = f" FROM {self.main}"
        params: list[Any] = []
        for join_sql, join_params in self.joins.values():
            sql += join_sql
            params.extend(join_params)
        if self.where:
            sql += " WHERE " + " AND ".join(self.where)
            params.extend(self.where_params)
        if len(params) > _MAX_PARAMS:
            raise DataError(f"Too many values in filters (at most {_MAX_PARAMS})", title="Invalid filter")
        return sql, params


# --- entry points ----------------------------------------------------------------------------

@dataclass
class ListArgs:
    fields: Any = None
    filters: Any = None
    or_filters: Any = None
    order_by: Any = None
    group_by: Any = None
    limit: int | None = 20
    offset: int = 0
    distinct: bool = False
    default_order: bool = True
    extra: list[tuple[str, list[Any]]] = field(default_factory=list)
    readable: Callable[[Meta], set[str] | None] | None = None
    # Keyset paging (ristretto.db.paging): select the sort key for a next cursor; ``after``: a
    # cursor's values (whether each is NULL shapes the SQL; ``Compiled.with_after`` binds them).
    keyset: bool = False
    after: list[Any] | None = None


def compile_select(meta: Meta, get_meta: MetaLookup, dialect: Dialect, args: ListArgs) -> Compiled:
    q = ListQuery(meta, get_meta, dialect)
    q.distinct = bool(args.distinct)
    q.readable = args.readable
    if isinstance(args.fields, (str, bytes, bytearray)) and len(args.fields) > MAX_FIELDS_TEXT:
        raise too_long("fields", MAX_FIELDS_TEXT)
    fields = args.fields  # Python values: JSON text is decoded at the API edge
    if fields is None or fields == []:
        fields = ["name"]
    elif isinstance(fields, str):
        # Lenient: "name, status" or a single field name.
        fields = split_top_level(fields)
    if not isinstance(fields, list):
        raise DataError("'fields' must be a list", title="Invalid argument")
    exprs, keys, convs, has_agg = q.select_list(fields)
    if not exprs:
        if q.readable is not None and fields:
            # Every requested field was one the user may not read: the result is empty.
            return Compiled("", [], [], [], q.linked())
        raise DataError("No fields to select", title="Invalid field")
    q.add_filters(args.filters)
    q.add_filters(args.or_filters, combine="OR")
    for sql, params in args.extra:
        q.add_condition_sql(sql, params)

    group = q.group_terms(args.group_by) if args.group_by else []
    order: list[str] = []
    order_by = args.order_by
    if isinstance(order_by, str) and order_by.strip():
        order = q.order_terms(order_by)
    elif args.default_order and not has_agg and not group and not q.distinct:
        order = [f"{q.main}.{quote(fn)} {d}" for fn, d in meta.default_order()]

    key, slot = keyset_plan(q, args.keyset, args.after, order_by if isinstance(order_by, str) and order_by.strip()
                            else None, bool(order), bool(group or has_agg), dialect.name)
    if key:
        order = [f"{col.sql} {'DESC' if desc else 'ASC'}" for col, desc in key]
        exprs = exprs + [col.sql for col, _ in key]

    from_sql, params = q.from_sql()
    if slot is not None:
        # The cursor's condition is the last of the WHERE clause: its values end ``params``.
        slot = (len(params) - slot[0], slot[1])
    distinct = "DISTINCT " if q.distinct else ""
    sql = f"SELECT {distinct}{', '.join(exprs)}{from_sql}"
    late = late_rows(dialect.name, q.main, exprs, from_sql, order, int(args.offset or 0), args.limit,
                     not (group or has_agg or q.distinct or q.joins))
    if late is not None:
        return _compiled(late, params, keys, convs, q, key, slot)
    if group:
        sql += " GROUP BY " + ", ".join(group)
    if order:
        sql += " ORDER BY " + ", ".join(order)
    clause, bound = bounds(dialect.name, args.limit, int(args.offset or 0))
    return _compiled(sql + clause, params + bound, keys, convs, q, key, slot)


def _compiled(sql: str, params: list[Any], keys: list[str], convs: list, q: ListQuery, key, slot) -> Compiled:
    if not key:
        return Compiled(sql, params, keys, convs, q.linked())
    text = ",".join(f"{col.field.fieldname} {'desc' if desc else 'asc'}" for col, desc in key)
    return Compiled(sql, params, keys, convs, q.linked(), tuple(key), text, slot)


def compile_count(meta: Meta, get_meta: MetaLookup, dialect: Dialect, args: ListArgs) -> Compiled:
    q = ListQuery(meta, get_meta, dialect)
    q.readable = args.readable
    q.add_filters(args.filters)
    q.add_filters(args.or_filters, combine="OR")
    for sql, params in args.extra:
        q.add_condition_sql(sql, params)
    from_sql, params = q.from_sql()
    what = f"COUNT(DISTINCT {q.main}.\"name\")" if args.distinct or q.joins else "COUNT(*)"
    if args.limit:
        clause, bound = bounds(dialect.name, args.limit, 0)
        inner = f"SELECT {'DISTINCT ' if args.distinct else ''}{q.main}.\"name\"{from_sql}{clause}"
        return Compiled(f"SELECT COUNT(*) FROM ({inner}) t", params + bound, ["count"], [None],
                        q.linked())
    return Compiled(f"SELECT {what}{from_sql}", params, ["count"], [None], q.linked())
