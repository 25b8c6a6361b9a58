"""Permission-aware list and count queries (``get_list``, ``get_count``).

Bounds every request listing gets: at most :data:`MAX_LIST_FIELDS` selected fields,
the site's optional ``max_page_length`` ceiling (:func:`page_length`), and, for
listings that may be large (no limit, or more than :data:`STREAM_ABOVE` rows), a
:class:`ListStream` instead of a list when the caller can send rows as they come.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from typing import TYPE_CHECKING, Any

import orjson

from ristretto.db.dialects import quote
from ristretto.db.query import ListArgs, compile_count, compile_select
from ristretto.exceptions import DataError, PermissionError, ValidationError
from ristretto.model import countcache, cursors

if TYPE_CHECKING:
    from ristretto.model.context import Context


def _driver_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [sqlite3.OperationalError, sqlite3.DataError,
                                         sqlite3.ProgrammingError]
    try:
        import psycopg
        errors += [psycopg.errors.DataError, psycopg.errors.ProgrammingError,
                   psycopg.errors.InvalidTextRepresentation]
    except ImportError:  # pragma: no cover
        pass
    return tuple(errors)


_DRIVER_ERRORS = _driver_errors()
log = logging.getLogger("ristretto")
# Fields one list request may select: above the column count of the widest DocTypes
# (ERPNext's largest have ~200 data columns), so naming every column still works;
# ``*`` counts as one.
MAX_LIST_FIELDS = 300
# Listings that may return more rows than this are streamed when the caller can (the
# 20-row pages of ordinary use stay on the plain, materialised path).
STREAM_ABOVE = 500


def _list_meta(ctx: "Context", doctype: str, parent: str | None):
    """The DocType to list and the SQL conditions restricting it to rows the user may see."""
    meta = ctx.get_meta(doctype)
    if meta.istable:
        return meta, _child_conditions(ctx, meta, ctx.find_meta(parent) if isinstance(parent, str) and parent else None)
    if not ctx.perms.has(ctx, doctype, "select"):
        # Lists need read or select.
        ctx.perms.check(ctx, doctype, "read")
    return meta, ctx.perms.list_conditions(ctx, meta)


def _child_conditions(ctx: "Context", meta, parent_meta) -> list[tuple[str, list]]:
    """Child rows are listed only through a parent DocType the user may read (05 § 7): rows of
    that parent's readable Table fields, belonging to parent documents the user may see."""
    tables = [tf.fieldname for tf in parent_meta.table_fields if tf.options == meta.name] \
        if parent_meta is not None and not parent_meta.istable else []
    if not tables:
        raise PermissionError(f"Please specify a valid parent DocType for {meta.name}", doctype=meta.name)
    ctx.perms.check(ctx, parent_meta.name, "read")
    levels = ctx.perms.level_access(ctx, parent_meta, "read")
    tables = [name for name in tables if not parent_meta.get_field(name).permlevel
              or parent_meta.get_field(name).permlevel in levels]
    if not tables:
        message = f"Insufficient Permission Level for {parent_meta.name}"
        error = PermissionError(message, doctype=parent_meta.name)
        error.error_message = message
        raise error
    t = quote(meta.table)
    conditions = [(f'{t}."parenttype" = ?', [parent_meta.name]),
                  (f'{t}."parentfield" IN ({", ".join("?" * len(tables))})', tables)]
    parent_rules = ctx.perms.list_conditions(ctx, parent_meta)
    if parent_rules:
        pt = quote(parent_meta.table)
        key = f'CAST({pt}."name" AS TEXT)' if parent_meta.name_is_int else f'{pt}."name"'
        where = " AND ".join(f"({sql})" for sql, _ in parent_rules)
        conditions.append((f'{t}."parent" IN (SELECT {key} FROM {pt} WHERE {where})',
                           [p for _, params in parent_rules for p in params]))
    return conditions + ctx.perms.list_conditions(ctx, meta)


def _field_filter(ctx: "Context", meta, parent: str | None):
    """Which fields of each queried DocType the user may read, and a cache key for that.

    What is readable depends only on the role set (Administrator: everything), so compiled
    queries are shared by users with the same roles.
    """
    if ctx.user == "Administrator":
        return None, None
    owner = ctx.get_meta(parent) if meta.istable else meta

    def readable(m) -> set[str] | None:
        # Child tables are judged with their parent's rules; linked DocTypes with their own.
        if m is owner or m.istable:
            return ctx.perms.readable_fields(ctx, owner, m)
        return ctx.perms.readable_fields(ctx, m, m)

    # Keyed by the policy too: a trusted context (``AllowAll``) reads every field whatever the
    # roles, and its compiled queries must never serve a request with the same roles.
    return readable, (type(ctx.perms).__qualname__, ctx.roles)


def _run(ctx: "Context", compiled, debug: bool):
    for doctype in compiled.linked:
        ctx.perms.check(ctx, doctype, "read")
    if not compiled.sql:
        return []
    started = time.perf_counter()
    try:
        if ctx.db.in_transaction:
            with ctx.db.savepoint("list_query"):
                rows = ctx.db.sql(compiled.sql, compiled.params)
        else:
            rows = ctx.db.sql(compiled.sql, compiled.params)
    except _DRIVER_ERRORS as e:
        raise _refused(e) from None
    if debug:
        ctx.debug.append(compiled.debug_text())
        ctx.debug.append(f"Execution time: {time.perf_counter() - started:.4f} sec")
    return rows


def _refused(error: BaseException) -> DataError:
    # Every identifier was validated; what the database still refuses is a query
    # shape it does not support (e.g. a GROUP BY rule): the client's error, not ours.
    # The database's own words stay in the server log (they describe the schema).
    log.info("list query refused by the database: %s", str(error).splitlines()[0])
    return DataError("Invalid query: this combination of fields, filters, grouping and ordering "
                     "cannot be run", title="Invalid query")


def _check_field_count(fields: Any) -> None:
    """Refuse more than MAX_LIST_FIELDS selected fields (417)."""
    if isinstance(fields, list):
        count = len(fields)
    elif isinstance(fields, str):
        count = fields.count(",") + 1  # "a, b, c": an upper bound is enough for a cap
    else:
        return
    if count > MAX_LIST_FIELDS:
        raise DataError(f"Too many fields: {count} requested, a list request may select at most "
                        f"{MAX_LIST_FIELDS}", title="Too many fields")


class ListStream:
    """A listing too large to build in memory, run later on a connection of its own.

    ``get_list(..., stream=True)`` has checked permissions and compiled the query; the API
    layer calls :meth:`open` (runs the query, through ``Database.stream``), then
    :meth:`fetch` until it returns no rows, sending each batch on, and always :meth:`close`.
    """

    def __init__(self, ctx: "Context", compiled, as_dict: bool, debug: bool, doctype: str = ""):
        self._compiled = compiled
        self._doctype = doctype
        self._last = None  # the last raw row handed out (its sort key makes the next cursor)
        self._as_dict = as_dict
        self._debug = ctx.debug if debug else None
        self._cursor = None
        # A page (see :meth:`page`): rows still to hand out, and whether a row lay beyond them.
        self._room: int | None = None
        self.more = False

    def page(self, size: int) -> "ListStream":
        """Hand out at most ``size`` rows; the query asked for one more, and :attr:`more` says
        (once the rows are out) whether it existed: a pager's "has next page" without a count."""
        self._room = size
        return self

    def has_next_page(self) -> bool:
        return self.more

    def next_cursor(self) -> str | None:
        """The cursor of the next page (a keyset listing with one), once the rows are out."""
        if not self.more or self._last is None or not self._compiled.key:
            return None
        return cursors.encode(self._doctype, self._compiled.key_text, self._compiled.key_values(self._last))

    def open(self, database) -> None:
        started = time.perf_counter()
        try:
            self._cursor = database.stream(self._compiled.sql, self._compiled.params)
        except _DRIVER_ERRORS as e:
            raise _refused(e) from None
        if self._debug is not None:
            self._debug.append(self._compiled.debug_text())
            self._debug.append(f"Execution time: {time.perf_counter() - started:.4f} sec")

    def fetch(self, n: int) -> list:
        """The next rows (at most ``n``), converted like ``get_list``'s; [] at the end."""
        try:
            rows = self._cursor.fetch(n)
        except _DRIVER_ERRORS as e:  # PostgreSQL evaluates the query at the first FETCH
            raise _refused(e) from None
        if self._room is not None and len(rows) > self._room:
            self.more = True
            rows = rows[:self._room]
        if self._room is not None:
            self._room -= len(rows)
        if rows:
            self._last = rows[-1]
        return self._compiled.rows(rows, as_dict=self._as_dict) if rows else []

    def close(self) -> None:
        cursor, self._cursor = self._cursor, None
        if cursor is not None:
            cursor.close()


def get_list(ctx: "Context", doctype: str, *, fields: Any = None, filters: Any = None,
             or_filters: Any = None, order_by: Any = None, group_by: Any = None,
             limit: int | None = 20, offset: int = 0, as_dict: bool = True, debug: bool = False,
             parent: str | None = None, default_order: bool = True, distinct: bool = False,
             stream: bool = False, keyset: bool = False, after: str | None = None) -> "list | ListStream":
    """The rows of a listing; with ``stream=True`` a :class:`ListStream` instead when the
    listing may be large (no limit or above STREAM_ABOVE rows).

    ``keyset=True``: the rows are a :class:`KeyedPage` (or the stream knows ``next_cursor``)
    whenever the listing is ordered by plain columns; ``after``: a cursor
    (``ristretto.model.cursors``), the listing then starts after the row it names, found by an
    index seek rather than by skipping rows.
    """
    meta, extra = _list_meta(ctx, doctype, parent)
    readable, readable_key = _field_filter(ctx, meta, parent)
    after_values = None
    if after is not None:
        made_for, order, after_values = cursors.decode(after)
        if made_for != meta.name:
            raise cursors.invalid(f"it was made for another DocType than {meta.name}")
    shape = None if after_values is None else tuple(v is None for v in after_values)
    key = _cache_key(fields, filters, or_filters, order_by, group_by, limit, offset, distinct,
                     default_order, keyset, shape, readable_key, extra)
    cache = meta.sql_cache.setdefault("list", {})
    compiled = cache.get(key) if key is not None else None
    if compiled is None:
        # Checked before compiling; a cached query passed this check when it was compiled.
        _check_field_count(fields)
        args = ListArgs(fields=fields, filters=filters, or_filters=or_filters, order_by=order_by,
                        group_by=group_by, limit=limit, offset=offset, distinct=distinct,
                        default_order=default_order, extra=extra, readable=readable,
                        keyset=keyset, after=after_values)
        compiled = compile_select(meta, ctx.find_meta, ctx.dialect, args)
        if key is not None:
            if len(cache) >= 512:
                cache.clear()
            cache[key] = compiled
    if after_values is not None and compiled.sql:
        if order != compiled.key_text:
            raise cursors.invalid("it was made for another order_by than this request's")
        compiled = compiled.with_after(after_values)
    if stream and (not limit or limit > STREAM_ABOVE) and compiled.sql:
        for linked in compiled.linked:
            ctx.perms.check(ctx, linked, "read")
        return ListStream(ctx, compiled, as_dict, debug, meta.name)
    rows = _run(ctx, compiled, debug)
    if compiled.key:
        return KeyedPage(compiled.rows(rows, as_dict=as_dict), meta.name, compiled, rows)
    return compiled.rows(rows, as_dict=as_dict)


class KeyedPage(list):
    """Rows of a keyset listing, which can give the cursor that follows any of them."""

    def __init__(self, rows: list, doctype: str, compiled, raw: list):
        super().__init__(rows)
        self._doctype, self._compiled, self._raw = doctype, compiled, raw

    def cursor_after(self, i: int) -> str:
        return cursors.encode(self._doctype, self._compiled.key_text, self._compiled.key_values(self._raw[i]))


# Longer request texts are compiled each time rather than kept as cache keys, so that the
# cache (512 entries per DocType) stays small whatever clients send.
_MAX_CACHED_TEXT = 8192
_NATIVE_ONLY = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
# A tuple is the (policy, role set) the query was compiled for (``_field_filter``); requests
# never carry one (JSON decodes to lists).
_KEY_TYPES = (str, int, bool, list, dict, tuple)


def _cache_key(*parts: Any) -> tuple | None:
    """A key for the compiled query when every argument is a JSON value, as requests carry
    them (the usual case): lists and dicts are keyed by their JSON text."""
    *args, extra = parts
    key: list[Any] = []
    size = 0
    for a in args:  # one pass, no generator: this runs for every listing request
        if a is None:
            pass
        elif not isinstance(a, _KEY_TYPES):
            return None
        elif isinstance(a, (list, dict)):
            try:
                # Datetimes and the like are not request values: such queries are not cached.
                text = orjson.dumps(a, option=_NATIVE_ONLY)
            except orjson.JSONEncodeError:
                return None
            size += len(text)
            a = (type(a).__name__, text)
        elif isinstance(a, str):
            size += len(a)
        key.append(a)
    if size > _MAX_CACHED_TEXT:
        return None
    try:
        out = (*key, tuple([(sql, tuple(p)) for sql, p in extra]) if extra else ())
        hash(out)
        return out
    except TypeError:
        return None


def get_count(ctx: "Context", doctype: str, *, filters: Any = None, or_filters: Any = None,
              distinct: bool = False, limit: int | None = None, debug: bool = False,
              parent: str | None = None) -> int:
    meta, extra = _list_meta(ctx, doctype, parent)
    if not (extra or filters or or_filters or debug) and countcache.applies(ctx, meta):
        # The whole table (DISTINCT names of one table are its rows): a kept count.
        n = countcache.count(ctx, meta)
        return min(n, limit) if limit else n
    readable, _ = _field_filter(ctx, meta, parent)
    args = ListArgs(filters=filters, or_filters=or_filters, distinct=distinct, limit=limit, extra=extra,
                    readable=readable)
    compiled = compile_count(meta, ctx.find_meta, ctx.dialect, args)
    rows = _run(ctx, compiled, debug)
    return int(rows[0][0]) if rows else 0


# LIMIT/OFFSET are bound as 64-bit integers by both databases.
_MAX_ROWS = 2**63 - 1


def _whole_number(value: Any, name: str) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ValidationError(f"Invalid {name} {value!r}: must be a whole number", title="Invalid argument") from None
    if n < 0:
        raise ValidationError(f"{name} cannot be negative", title="Invalid argument")
    if n > _MAX_ROWS:
        raise ValidationError(f"{name} is too large", title="Invalid argument")
    return n


def parse_limit(value: Any, default: int | None = 20) -> int | None:
    """Frappe's page length: absent -> default, 0 -> unlimited, junk -> 417."""
    if value is None or value == "":
        return default
    return _whole_number(value, "limit") or None


def page_length(ctx: "Context", value: Any, default: int | None = 20) -> int | None:
    """A request's page length: :func:`parse_limit` under the site's ``max_page_length``.

    A larger page, or 0 (every row), is clamped to the ceiling rather than refused:
    Frappe clients send 0 to mean "all" and would otherwise fail outright.
    """
    limit = parse_limit(value, default)
    cap = ctx.site_config.get("max_page_length")
    if cap and (limit is None or limit > cap):
        return int(cap)
    return limit


def parse_offset(value: Any) -> int:
    if value in (None, ""):
        return 0
    return _whole_number(value, "limit_start")
