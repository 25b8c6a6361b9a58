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
from typing import Any, Callable, Iterable

import orjson

from ristretto.db.dialects import Dialect, quote
from ristretto.exceptions import DataError, ValidationError
from ristretto.meta.doctype import DocField, Meta
from ristretto.meta.fieldtypes import FLOAT, TIME, format_time

from ristretto.db.filters import Column, build_condition, normalize_filters, normalize_operator, parse_json_arg

MetaLookup = Callable[[str], "Meta | None"]

AGGREGATES = ("count", "sum", "avg", "min", "max")
_BLOCKED_FUNCTIONS = {
    "concat", "concat_ws", "if", "ifnull", "nullif", "coalesce", "connection_id", "current_user",
    "database", "last_insert_id", "session_user", "system_user", "user", "version", "global",
    "sleep", "benchmark", "load_file", "pg_sleep",
}

# A column reference: name | qualifier.name, the qualifier being a Table/Link field or a
# table (`tabX`, tabX); either part may be backticked.
_COLREF = re.compile(
    r"^(?:`?(?P<qual>[A-Za-z0-9_][A-Za-z0-9 _\-]*)`?\.)?`?(?P<col>[A-Za-z0-9_]+)`?$"
)
_FUNC = re.compile(r"^(?P<fn>[A-Za-z_]+)\s*\(\s*(?P<distinct>distinct\s+)?(?P<arg>.*?)\s*\)$", re.I | re.S)
_ALIAS = re.compile(r"^(?P<expr>.+?)\s+as\s+(?P<alias>`[^`]+`|\"[^\"]+\"|'[^']+'|[A-Za-z_][A-Za-z0-9_]*)$",
                    re.I | re.S)
_ALIAS_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_ ]{0,63}$")
_ORDER_TERM = re.compile(r"^(?P<expr>.+?)(?:\s+(?P<dir>asc|desc))?$", re.I | re.S)
_ORDER_CHARS = re.compile(r"^[a-z0-9\-_ ,`'\".()*]*$", re.I)
# Below SQLite's default 32766 and PostgreSQL's 65535 bind parameters per statement.
_MAX_PARAMS = 30000


def _restricted(text: str) -> DataError:
    return DataError(f"Use of sub-query or function is restricted: {text}", title="Invalid field")


def not_permitted(fieldname: str) -> DataError:
    return DataError(f"Field not permitted in query: {fieldname}", title="Invalid field")


def comparable(col: Column) -> Column:
    """A column a filter, sort or group may use: never a secret (Password) field, whose row
    holds only a mask; comparing it would at best tell its length."""
    if col.field.ft.secret:
        raise DataError(f"Cannot filter, sort or group by Password field {col.field.fieldname}",
                        title="Invalid filter")
    return col



@dataclass
class Compiled:
    sql: str
    params: list[Any]
    keys: list[str]
    converters: list[Callable[[Any], Any] | None]
    # DocTypes joined through Link fields: the caller must check read permission on them.
    linked: tuple[str, ...] = ()

    def rows(self, raw: Iterable[tuple], as_dict: bool = True) -> list:
        conv = [(i, c) for i, c in enumerate(self.converters) if c is not None]
        out = []
        keys = self.keys
        for r in raw:
            if conv:
                r = list(r)
                for i, c in conv:
                    if r[i] is not None:
                        r[i] = c(r[i])
            out.append(dict(zip(keys, r)) if as_dict else list(r))
        return out

    def debug_text(self) -> str:
        return f"{self.sql} -- params: {orjson.dumps(self.params, default=str).decode()}"




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

    def _can_read(self, col: "Column") -> bool:
        if self.readable is None:
            return True
        allowed = self.readable(col.meta)
        return allowed is None or col.field.fieldname in allowed

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

    def _join_link(self, link_field: DocField) -> tuple[str, Meta]:
        target = self.get_meta(link_field.options) if link_field.options else None
        if target is None or target.issingle or target.istable:
            raise not_permitted(link_field.fieldname)
        # Following a Link reads its value: only through a Link field the user may read.
        allowed = self.readable(self.meta) if self.readable is not None else None
        if allowed is not None and link_field.fieldname not in allowed:
            raise not_permitted(link_field.fieldname)
        if link_field.fieldname not in self.link_aliases:
            suffix = f"_{len(self.link_aliases) + 1}"
            alias = quote(target.table[:63 - len(suffix)] + suffix)
            self.joins[f"link:{link_field.fieldname}"] = (
                f" LEFT JOIN {quote(target.table)} {alias} ON {alias}.\"name\" = "
                f"{self.main}.{quote(link_field.fieldname)}", [])
            self.link_aliases[link_field.fieldname] = (alias, target)
        return self.link_aliases[link_field.fieldname]

    def _child_table_meta(self, table_name: str) -> Meta | None:
        """The child DocType of the main DocType whose table is ``table_name``."""
        for tf in self.meta.table_fields:
            child = self.get_meta(tf.options)
            if child is not None and child.table == table_name:
                self._join_child(tf)
                return child
        return None

    def resolve(self, ref: str, *, for_filter_doctype: str | None = None) -> Column:
        """Resolve a column reference to SQL, joining child/link tables as needed."""
        ref = ref.strip()
        m = _COLREF.match(ref)
        if not m:
            raise not_permitted(ref) if re.match(r"^[\w`. ]+$", ref) else _restricted(ref)
        qual, col = m.group("qual"), m.group("col")
        if qual:
            return self._qualified(qual, col, ref)
        if for_filter_doctype and for_filter_doctype != self.meta.name:
            # 4-element filter naming a child DocType.
            for tf in self.meta.table_fields:
                if tf.options == for_filter_doctype:
                    child = self._join_child(tf)
                    return self._column_of(child, quote(child.table), col)
            raise not_permitted(f"{for_filter_doctype}.{col}")
        return self._main_column(col)

    def _qualified(self, qual: str, col: str, ref: str) -> Column:
        # Field dot notation first: a field may be named like a table ("table_items").
        f = self.meta.get_field(qual)
        if f is not None and f.is_table:
            child = self._join_child(f)
            return self._column_of(child, quote(child.table), col)
        if f is not None and f.fieldtype == "Link":
            alias, target = self._join_link(f)
            return self._column_of(target, alias, col)
        if qual == self.meta.table:
            return self._main_column(col)
        child = self._child_table_meta(qual)
        if child is not None:
            return self._column_of(child, quote(child.table), col)
        if qual.startswith("tab"):
            raise DataError(f"Please select atleast 1 column from {qual[3:]} to sort/group",
                            title="Invalid field")
        raise not_permitted(ref)

    def _main_column(self, col: str) -> Column:
        f = self.meta.get_column(col)
        if f is None:
            raise not_permitted(col)
        return Column(f"{self.main}.{quote(col)}", f, self.meta, True)

    def _column_of(self, meta: Meta, alias_sql: str, col: str) -> Column:
        f = meta.get_column(col)
        if f is None:
            raise not_permitted(col)
        return Column(f"{alias_sql}.{quote(col)}", f, meta, False)

    def resolve_filter_field(self, doctype: str | None, fieldname: str) -> Column:
        """Filters may name a field of a child table without saying so (Frappe re-targets)."""
        fieldname = str(fieldname).strip()
        if (doctype in (None, self.meta.name)) and _COLREF.match(fieldname) and "." not in fieldname \
                and not self.meta.has_column(fieldname.strip("`")):
            for tf in self.meta.table_fields:
                child = self.get_meta(tf.options)
                if child is not None and child.has_column(fieldname.strip("`")):
                    self._join_child(tf)
                    return self._column_of(child, quote(child.table), fieldname.strip("`"))
        return self.resolve(fieldname, for_filter_doctype=doctype)

    # -- fields ------------------------------------------------------------------------

    def select_list(self, fields: list[str]) -> tuple[list[str], list[str], list, bool]:
        """SQL select expressions, output keys, converters, and whether any is an aggregate."""
        exprs: list[str] = []
        keys: list[str] = []
        convs: list = []
        has_aggregate = False
        for raw in fields:
            if not isinstance(raw, str):
                raise DataError("Each field must be a string", title="Invalid field")
            text = raw.strip()
            if not text:
                continue
            self._guard(text)
            alias = None
            am = _ALIAS.match(text)
            if am:
                text = am.group("expr").strip()
                alias = am.group("alias").strip("`\"'")
                if not _ALIAS_NAME.match(alias):
                    raise _restricted(raw)
            if text == "*" or text == f"`{self.meta.table}`.*" or text == f"{self.meta.table}.*":
                allowed = self.readable(self.meta) if self.readable is not None else None
                for name, f in self.meta.columns.items():
                    if allowed is not None and name not in allowed:
                        continue
                    exprs.append(f"{self.main}.{quote(name)}")
                    keys.append(name)
                    convs.append(self._converter(f))
                    self.outputs.setdefault(name, exprs[-1])
                continue
            if re.match(r"^distinct\s+", text, re.I):
                # SQL knows DISTINCT only for the whole row, wherever the client wrote it.
                self.distinct = True
                text = re.sub(r"^distinct\s+", "", text, flags=re.I)
            fm = _FUNC.match(text)
            if fm:
                agg = self._aggregate(fm, raw)
                if agg is None:
                    continue  # over a field the user may not read: silently dropped
                expr, key, conv = agg
                has_aggregate = True
            elif "(" in text or ")" in text:
                raise _restricted(raw)
            else:
                col = self.resolve(text)
                if not self._can_read(col):
                    continue  # fields the user may not read are silently dropped
                expr, key, conv = col.sql, col.field.fieldname, self._converter(col.field)
            key = alias or key
            exprs.append(expr)
            keys.append(key)
            convs.append(conv)
            self.outputs.setdefault(key, expr)
        return exprs, keys, convs, has_aggregate

    def _aggregate(self, fm: re.Match, raw: str) -> tuple[str, str, Callable[[Any], Any] | None] | None:
        fn = fm.group("fn").lower()
        if fn in _BLOCKED_FUNCTIONS:
            raise DataError(f"Use of function {fn} in field is restricted", title="Invalid field")
        if fn not in AGGREGATES:
            raise _restricted(raw)
        arg = fm.group("arg").strip()
        conv: Callable[[Any], Any] | None = None
        if arg == "*":
            if fn != "count":
                raise _restricted(raw)
            inner = "*"
        else:
            col = self.resolve(arg)
            if not self._can_read(col):
                return None
            inner = col.sql
            if fn in ("min", "max"):
                conv = self._converter(col.field)
            elif fn in ("sum", "avg"):
                conv = float
        dis = "DISTINCT " if fm.group("distinct") else ""
        return f"{fn.upper()}({dis}{inner})", raw.strip(), conv

    def _converter(self, f: DocField):
        if self.dialect.name == "sqlite":
            if f.ft.kind == TIME:
                return format_time
            if f.ft.kind == FLOAT:
                return float
        return None

    @staticmethod
    def _guard(text: str) -> None:
        low = text.lower()
        if "/*" in low or "--" in low or ";" in low or re.search(r"\bunion\b", low):
            raise ValidationError("Illegal SQL Query", title="Invalid field")
        if re.search(r"\(\s*(select|create|insert|delete|drop|update|case|show)\b", low):
            raise _restricted(text)
        if re.match(r"^\s*(select|delete|update|drop|create)\s", low) or \
                re.search(r"\s(from|group\s+by|order\s+by|where|join)\s", low):
            raise _restricted(text)

    # -- filters -----------------------------------------------------------------------

    def add_filters(self, filters: Any, *, combine: str = "AND") -> None:
        conds = normalize_filters(filters, self.meta.name)
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
        if re.search(r"[,'();\n]", fieldname):
            raise DataError(f"Invalid field name {fieldname}", title="Invalid filter")
        op = normalize_operator(op)
        col = comparable(self.resolve_filter_field(doctype, fieldname))
        return build_condition(self, col, op, value)

    # -- order / group -------------------------------------------------------------------

    def order_terms(self, order_by: str) -> list[str]:
        if not isinstance(order_by, str):
            raise ValidationError("order_by must be text", title="Illegal SQL Query")
        if not _ORDER_CHARS.match(order_by):
            raise ValidationError("Illegal SQL Query", title="Invalid order_by")
        low = order_by.lower()
        if re.search(r"\bselect\b|\bsleep\s*\(|\bfrom\b|/\*|--", low):
            raise ValidationError("Cannot use sub-query in order by", title="Illegal SQL Query")
        out = []
        for term in _split_top_level(order_by):
            term = term.strip()
            if not term:
                continue
            m = _ORDER_TERM.match(term)
            if not m:
                raise ValidationError("Illegal SQL Query", title="Invalid order_by")
            expr = m.group("expr").strip()
            direction = (m.group("dir") or "ASC").upper()
            out.append(f"{self._sort_expr(expr)} {direction}")
        return out

    def _output(self, expr: str) -> str | None:
        """The SQL of a selected output named by its alias or fieldname (not a main column)."""
        bare = expr.strip("`\"'")
        return self.outputs.get(bare) if not self.meta.has_column(bare) else None

    def _sort_expr(self, expr: str) -> str:
        output = self._output(expr)
        if output is not None:
            return output
        fm = _FUNC.match(expr)
        if fm:
            fn = fm.group("fn").lower()
            if fn not in AGGREGATES:
                raise ValidationError("Illegal SQL Query", title="Invalid order_by")
            arg = fm.group("arg").strip()
            inner = "*" if arg == "*" and fn == "count" else comparable(self.resolve(arg)).sql
            dis = "DISTINCT " if fm.group("distinct") else ""
            return f"{fn.upper()}({dis}{inner})"
        if "(" in expr or ")" in expr or "'" in expr or '"' in expr:
            raise ValidationError("Illegal SQL Query", title="Invalid order_by")
        return comparable(self.resolve(expr)).sql

    def group_terms(self, group_by: str) -> list[str]:
        if not isinstance(group_by, str) or not _ORDER_CHARS.match(group_by) or "(" in group_by:
            raise ValidationError("Illegal SQL Query", title="Invalid group_by")
        if re.search(r"\bselect\b|\bfrom\b|/\*|--", group_by.lower()):
            raise ValidationError("Illegal SQL Query", title="Invalid group_by")
        return [self._output(t.strip()) or comparable(self.resolve(t.strip())).sql
                for t in group_by.split(",") if t.strip()]

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


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts



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


def compile_select(meta: Meta, get_meta: MetaLookup, dialect: Dialect, args: ListArgs) -> Compiled:
    q = ListQuery(meta, get_meta, dialect)
    q.distinct = bool(args.distinct)
    q.readable = args.readable
    fields = parse_json_arg(args.fields, "fields") if args.fields is not None else None
    if fields is None or fields == []:
        fields = ["name"]
    elif isinstance(fields, str):
        # Lenient: "name, status" or a single field name.
        fields = [x for x in _split_top_level(fields)]
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

    from_sql, params = q.from_sql()
    distinct = "DISTINCT " if q.distinct else ""
    sql = f"SELECT {distinct}{', '.join(exprs)}{from_sql}"
    if group:
        sql += " GROUP BY " + ", ".join(group)
    if order:
        sql += " ORDER BY " + ", ".join(order)
    if args.limit:
        sql += " LIMIT ? OFFSET ?"
        params = params + [int(args.limit), int(args.offset or 0)]
    elif args.offset:
        sql += " LIMIT -1 OFFSET ?" if dialect.name == "sqlite" else " OFFSET ?"
        params = params + [int(args.offset)]
    return Compiled(sql, params, keys, convs, q.linked())


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
        inner = f"SELECT {'DISTINCT ' if args.distinct else ''}{q.main}.\"name\"{from_sql} LIMIT ?"
        return Compiled(f"SELECT COUNT(*) FROM ({inner}) t", params + [int(args.limit)], ["count"], [None],
                        q.linked())
    return Compiled(f"SELECT {what}{from_sql}", params, ["count"], [None], q.linked())
