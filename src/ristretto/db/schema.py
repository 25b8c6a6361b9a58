"""Schema sync: make the database match DocType metadata.

``sync_doctype`` creates a DocType's table, or adds the columns and indexes it is
missing. It never drops a column or narrows a column's type (data is never
thrown away by a migrate); on PostgreSQL it widens columns whose DocField asks
for more room. Changes of a field's storage class are refused earlier, by the
DocType controller.
System tables (series counters, singles, sessions, secrets) are created by
``ensure_system_tables``.
"""

from __future__ import annotations

import re

from ristretto.db.connection import Connection
from ristretto.db.dialects import index_name, quote
from ristretto.meta.doctype import DocField, Meta

# Tables that are not DocTypes. Columns are (name, sqlite type, postgres type).
SYSTEM_TABLES: dict[str, tuple[list[tuple[str, str, str]], list[str]]] = {
    "tabSeries": ([("name", "TEXT NOT NULL", "varchar(140) NOT NULL"),
                   ("current", "INTEGER NOT NULL DEFAULT 0", "bigint NOT NULL DEFAULT 0")], ["name"]),
    "tabSingles": ([("doctype", "TEXT NOT NULL", "varchar(140) NOT NULL"),
                    ("field", "TEXT NOT NULL", "varchar(140) NOT NULL"),
                    ("value", "TEXT", "text")], ["doctype", "field"]),
    "tabSessions": ([("sid", "TEXT NOT NULL", "varchar(140) NOT NULL"),
                     ("user", "TEXT NOT NULL", "varchar(140) NOT NULL"),
                     ("created", "REAL NOT NULL", "double precision NOT NULL"),
                     ("last_updated", "REAL NOT NULL", "double precision NOT NULL"),
                     ("expiry", "REAL NOT NULL", "double precision NOT NULL"),
                     ("ip", "TEXT", "varchar(140)"),
                     ("csrf_token", "TEXT", "varchar(140)")], ["sid"]),
    # Secrets, never part of a document: password hashes and API-secret digests
    # (encrypted 0), and the values of Password fields encrypted with the site's key (1).
    "__Auth": ([("doctype", "TEXT NOT NULL", "varchar(140) NOT NULL"),
                ("name", "TEXT NOT NULL", "varchar(255) NOT NULL"),
                ("fieldname", "TEXT NOT NULL", "varchar(140) NOT NULL"),
                ("password", "TEXT NOT NULL", "text NOT NULL"),
                ("encrypted", "INTEGER NOT NULL DEFAULT 0", "smallint NOT NULL DEFAULT 0")],
               ["doctype", "name", "fieldname"]),
    # Consecutive failed logins per login name and per client address.
    "__login_failures": ([("key", "TEXT NOT NULL", "varchar(255) NOT NULL"),
                          ("failures", "INTEGER NOT NULL DEFAULT 0", "integer NOT NULL DEFAULT 0"),
                          ("last_failure", "REAL NOT NULL", "double precision NOT NULL")], ["key"]),
    # Idempotency-Key claims and the answers they replay (ristretto.api.idempotency); status 0
    # while the first request runs (until ``lease``), its HTTP status once committed.
    "__idempotency": ([("owner", "TEXT NOT NULL", "varchar(140) NOT NULL"),
                       ("idem_key", "TEXT NOT NULL", "varchar(255) NOT NULL"),
                       ("fingerprint", "TEXT NOT NULL", "varchar(64) NOT NULL"),
                       ("token", "TEXT NOT NULL", "varchar(32) NOT NULL"),
                       ("status", "INTEGER NOT NULL DEFAULT 0", "integer NOT NULL DEFAULT 0"),
                       ("lease", "REAL", "double precision"),
                       ("created", "REAL NOT NULL", "double precision NOT NULL"),
                       ("headers", "TEXT", "text"),
                       ("body", "BLOB", "bytea")], ["owner", "idem_key"]),
    # Small key/value state shared by all workers (e.g. the metadata version).
    "__ristretto_state": ([("key", "TEXT NOT NULL", "varchar(140) NOT NULL"),
                           ("value", "TEXT", "text")], ["key"]),
    # Webhook deliveries not yet made (``ristretto.webhooks.queue``): written in the transaction of
    # the change that caused them, claimed by a worker for ``lease_until``, gone once delivered or
    # given up (each attempt is a Webhook Request Log).
    "__webhook_queue": ([("name", "TEXT NOT NULL", "varchar(140) NOT NULL"),
                         ("webhook", "TEXT NOT NULL", "varchar(140) NOT NULL"),
                         ("reference_doctype", "TEXT", "varchar(140)"),
                         ("reference_document", "TEXT", "text"),
                         ("event", "TEXT", "varchar(32)"),
                         ("user", "TEXT", "varchar(255)"),
                         ("url", "TEXT NOT NULL", "text NOT NULL"),
                         ("body", "TEXT NOT NULL", "text NOT NULL"),
                         ("timeout", "REAL NOT NULL DEFAULT 5", "double precision NOT NULL DEFAULT 5"),
                         ("created", "REAL NOT NULL", "double precision NOT NULL"),
                         ("next_attempt", "REAL NOT NULL", "double precision NOT NULL"),
                         ("attempts", "INTEGER NOT NULL DEFAULT 0", "integer NOT NULL DEFAULT 0"),
                         ("lease_until", "REAL NOT NULL DEFAULT 0", "double precision NOT NULL DEFAULT 0"),
                         ("lease_owner", "TEXT", "varchar(64)")], ["name"]),
}


# An arbitrary constant naming the advisory lock that serialises schema upkeep (PostgreSQL).
_SCHEMA_LOCK = 0x52534348  # "RSCH"


def ensure_system_tables(conn: Connection) -> None:
    pg = conn.dialect.name == "postgres"
    if pg:
        # Several servers starting at once after an upgrade would each create a missing table;
        # two concurrent CREATE TABLE IF NOT EXISTS of one name make the second fail (a unique
        # violation in the catalog). Taken for the caller's transaction: one at a time, and the
        # next one sees the tables the first made.
        conn.value("SELECT pg_advisory_xact_lock(?)", (_SCHEMA_LOCK,))
    for table, (cols, pk) in SYSTEM_TABLES.items():
        col_sql = ", ".join(f"{quote(c)} {pgt if pg else st}" for c, st, pgt in cols)
        pk_sql = ", ".join(quote(c) for c in pk)
        conn.execute(f"CREATE TABLE IF NOT EXISTS {quote(table)} ({col_sql}, PRIMARY KEY ({pk_sql}))")
        # Tables made by an older version get the columns added since (``__Auth.encrypted``).
        have = existing_columns(conn, table) or set()
        for c, st, pgt in cols:
            if c not in have:
                conn.execute(f"ALTER TABLE {quote(table)} ADD COLUMN {quote(c)} {pgt if pg else st}")
    conn.execute(f"CREATE INDEX IF NOT EXISTS {quote(index_name('__idempotency', 'created'))} "
                 f"ON {quote('__idempotency')} ({quote('created')})")
    conn.execute(f"CREATE INDEX IF NOT EXISTS {quote(index_name('tabSessions', 'user'))} "
                 f"ON {quote('tabSessions')} ({quote('user')})")
    conn.execute(f"CREATE INDEX IF NOT EXISTS {quote(index_name('__webhook_queue', 'next_attempt'))} "
                 f"ON {quote('__webhook_queue')} (next_attempt)")
    _ensure_change_log(conn)


# The change log (``ristretto.model.changelog``): ``seq`` is the readers' cursor. On SQLite writes are
# serialised, so the row id is already in commit order; on PostgreSQL rows arrive with ``seq`` NULL
# and are numbered after their commit (``changelog.sequence``), keyed by ``id`` until then.
CHANGE_LOG = "__changes"
_CHANGE_COLUMNS = [("doctype", "TEXT NOT NULL", "varchar(140) NOT NULL"),
                   ("name", "TEXT NOT NULL", "text NOT NULL"),
                   ("action", "TEXT NOT NULL", "varchar(16) NOT NULL"),
                   ("at", "TEXT NOT NULL", "varchar(32) NOT NULL"),
                   ("user", "TEXT", "varchar(255)"),
                   ("fields", "TEXT", "text"),
                   ("old_name", "TEXT", "text"),
                   ("docstatus", "INTEGER", "smallint")]


def _ensure_change_log(conn: Connection) -> None:
    pg = conn.dialect.name == "postgres"
    t = quote(CHANGE_LOG)
    cols = ", ".join(f"{quote(c)} {pgt if pg else st}" for c, st, pgt in _CHANGE_COLUMNS)
    if pg:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {t} (id bigserial PRIMARY KEY, seq bigint UNIQUE, {cols})")
        conn.execute(f"CREATE SEQUENCE IF NOT EXISTS {quote(CHANGE_LOG + '_seq')}")
        conn.execute(f"CREATE INDEX IF NOT EXISTS {quote(index_name(CHANGE_LOG, 'pending'))} "
                     f"ON {t} (id) WHERE seq IS NULL")
    else:
        # No AUTOINCREMENT (its counter row is one more page written per commit): a row id is
        # reused only if the newest row is deleted, and pruning always keeps the newest.
        conn.execute(f"CREATE TABLE IF NOT EXISTS {t} (seq INTEGER PRIMARY KEY, {cols})")
    # One index besides the key (each is a page written per commit): readers of some DocTypes
    # with an old cursor. Pruning by ``at`` scans, once per worker start.
    conn.execute(f"CREATE INDEX IF NOT EXISTS {quote(index_name(CHANGE_LOG, 'doctype'))} "
                 f"ON {t} ({quote('doctype')}, seq)")


def existing_columns(conn: Connection, table: str) -> set[str] | None:
    """Column names of a table, or None when the table does not exist."""
    if conn.dialect.name == "sqlite":
        rows = conn.sql(f"PRAGMA table_info({quote(table)})")
        return {r[1] for r in rows} if rows else None
    rows = conn.sql("SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = current_schema() AND table_name = ?", (table,))
    return {r[0] for r in rows} if rows else None


def _column_def(conn: Connection, f: DocField, *, primary: bool = False) -> str:
    ctype = conn.dialect.column_type(f.ft, f.length or None)
    sql = f"{quote(f.fieldname)} {ctype}"
    if primary:
        return sql + " NOT NULL PRIMARY KEY"
    if f.ft.not_null_zero:
        sql += " NOT NULL DEFAULT 0"
    return sql


def _indexes(meta: Meta) -> list[tuple[tuple[str, ...], bool]]:
    """(columns, unique) pairs that should carry an index."""
    # ``modified`` with ``name``: the default list order (newest first, names only) and deep
    # offsets are then answered from the index alone.
    wanted: list[tuple[tuple[str, ...], bool]] = [(("modified", "name"), False)]
    if meta.istable:
        wanted.append((("parent",), False))
    for f in meta.data_fields:
        if f.unique:
            wanted.append(((f.fieldname,), True))
        elif f.search_index:
            wanted.append(((f.fieldname,), False))
    return wanted


def column_types(conn: Connection, table: str) -> dict[str, str]:
    """Column name -> declared type, spelled like ``Dialect.column_type`` (lower case)."""
    if conn.dialect.name == "sqlite":
        return {r[1]: str(r[2]).lower() for r in conn.sql(f"PRAGMA table_info({quote(table)})")}
    out: dict[str, str] = {}
    rows = conn.sql("SELECT column_name, data_type, character_maximum_length, numeric_precision, "
                    "numeric_scale, datetime_precision FROM information_schema.columns "
                    "WHERE table_schema = current_schema() AND table_name = ?", (table,))
    for name, dtype, length, precision, scale, dt_precision in rows:
        if dtype == "character varying":
            out[name] = f"varchar({length})" if length else "varchar"
        elif dtype == "numeric":
            out[name] = f"numeric({precision},{scale})"
        elif dtype.startswith(("timestamp", "time")):
            out[name] = f"{dtype.split()[0]}({dt_precision})"
        else:
            out[name] = dtype
    return out


_SIZED = re.compile(r"^(varchar|numeric)\((\d+)(?:,(\d+))?\)$")


def _widens(current: str, wanted: str) -> bool:
    """Whether converting a column from ``current`` to ``wanted`` can never lose data.

    Such a conversion either keeps every value or fails (numeric overflow); narrowing
    conversions (which PostgreSQL would silently truncate or round) are never made:
    validation then keeps the values within the new, smaller limit instead.
    """
    cur, want = _SIZED.match(current), _SIZED.match(wanted)
    if cur and want and cur.group(1) == want.group(1) == "varchar":
        return int(want.group(2)) > int(cur.group(2))
    if cur and want and cur.group(1) == want.group(1) == "numeric":
        c_int, w_int = int(cur.group(2)) - int(cur.group(3)), int(want.group(2)) - int(want.group(3))
        return (w_int, int(want.group(3))) != (c_int, int(cur.group(3))) and w_int >= c_int \
            and int(want.group(3)) >= int(cur.group(3))
    if cur and cur.group(1) == "varchar":
        return wanted == "text"
    if current in ("smallint", "integer"):
        return wanted == "bigint" or bool(want and want.group(1) == "numeric")
    return current == "bigint" and bool(want and want.group(1) == "numeric")


def _is_empty(conn: Connection, table: str) -> bool:
    return conn.one(f"SELECT 1 FROM {quote(table)} LIMIT 1") is None


def sync_doctype(conn: Connection, meta: Meta) -> list[str]:
    """Create or extend the table of ``meta``; returns the DDL statements run.

    Existing tables get their missing columns, and on PostgreSQL columns whose
    DocField now asks for a wider type (a longer ``length``, Data to Small Text,
    Rating to Float) are widened. An empty table whose ``name`` type changed (naming
    rule to or from autoincrement) is re-created.
    """
    if meta.issingle or meta.is_virtual:
        return []
    done: list[str] = []
    table = quote(meta.table)
    have = existing_columns(conn, meta.table)
    if have is not None:
        types = column_types(conn, meta.table)
        wanted_name = conn.dialect.column_type(meta.columns["name"].ft).lower()
        if types.get("name") != wanted_name and _is_empty(conn, meta.table):
            drop_doctype_table(conn, meta)
            done.append(f"DROP TABLE {table}")
            have = None
    if have is None:
        cols = [_column_def(conn, f, primary=(f.fieldname == "name")) for f in meta.columns.values()]
        ddl = f"CREATE TABLE {table} ({', '.join(cols)})"
        conn.execute(ddl)
        done.append(ddl)
    else:
        for f in meta.columns.values():
            if f.fieldname not in have:
                ddl = f"ALTER TABLE {table} ADD COLUMN {_column_def(conn, f)}"
                conn.execute(ddl)
                done.append(ddl)
                continue
            wanted = conn.dialect.column_type(f.ft, f.length or None).lower()
            if conn.dialect.name == "postgres" and f.fieldname != "name" \
                    and _widens(types.get(f.fieldname, wanted), wanted):
                column = quote(f.fieldname)
                ddl = f"ALTER TABLE {table} ALTER COLUMN {column} TYPE {wanted} USING {column}::{wanted}"
                try:
                    with conn.savepoint("ddl_widen"):
                        conn.execute(ddl)
                except Exception:  # noqa: BLE001 - values that do not fit: keep the column as it is
                    done.append(f"-- skipped (existing values do not fit): {ddl}")
                    continue
                done.append(ddl)
    for columns, unique in _indexes(meta):
        kind = "ux" if unique else "ix"
        column = ",".join(columns)
        ddl = (f"CREATE {'UNIQUE ' if unique else ''}INDEX IF NOT EXISTS "
               f"{quote(index_name(meta.table, column, kind))} ON {table} "
               f"({', '.join(quote(c) for c in columns)})")
        try:
            with conn.savepoint("ddl_index"):
                conn.execute(ddl)
        except Exception:
            # Existing duplicate values: keep the data, report instead of failing the migrate.
            done.append(f"-- skipped (existing duplicates): {ddl}")
            continue
        if have is None or columns[0] not in have:
            done.append(ddl)
    return done


def drop_doctype_table(conn: Connection, meta: Meta) -> None:
    if not meta.issingle:
        conn.execute(f"DROP TABLE IF EXISTS {quote(meta.table)}")
