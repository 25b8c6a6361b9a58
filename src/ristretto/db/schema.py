"""Schema sync: make the database match DocType metadata.

``sync_doctype`` creates a DocType's table, or adds the columns and indexes it is
missing. It never drops a column or changes a column's type (data is never
thrown away by a migrate); such differences are reported, not applied.
System tables (series counters, singles, sessions, secrets) are created by
``ensure_system_tables``.
"""

from __future__ import annotations

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
    # Password hashes and API-secret digests; never part of a document.
    "__Auth": ([("doctype", "TEXT NOT NULL", "varchar(140) NOT NULL"),
                ("name", "TEXT NOT NULL", "varchar(255) NOT NULL"),
                ("fieldname", "TEXT NOT NULL", "varchar(140) NOT NULL"),
                ("password", "TEXT NOT NULL", "text NOT NULL")], ["doctype", "name", "fieldname"]),
    # Small key/value state shared by all workers (e.g. the metadata version).
    "__ristretto_state": ([("key", "TEXT NOT NULL", "varchar(140) NOT NULL"),
                           ("value", "TEXT", "text")], ["key"]),
}


def ensure_system_tables(conn: Connection) -> None:
    pg = conn.dialect.name == "postgres"
    for table, (cols, pk) in SYSTEM_TABLES.items():
        col_sql = ", ".join(f"{quote(c)} {pgt if pg else st}" for c, st, pgt in cols)
        pk_sql = ", ".join(quote(c) for c in pk)
        conn.execute(f"CREATE TABLE IF NOT EXISTS {quote(table)} ({col_sql}, PRIMARY KEY ({pk_sql}))")
    conn.execute(f"CREATE INDEX IF NOT EXISTS {quote(index_name('tabSessions', 'user'))} "
                 f"ON {quote('tabSessions')} ({quote('user')})")


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


def _indexes(meta: Meta) -> list[tuple[str, bool]]:
    """(column, unique) pairs that should carry an index."""
    wanted: list[tuple[str, bool]] = [("modified", False)]
    if meta.istable:
        wanted.append(("parent", False))
    for f in meta.data_fields:
        if f.unique:
            wanted.append((f.fieldname, True))
        elif f.search_index:
            wanted.append((f.fieldname, False))
    return wanted


def sync_doctype(conn: Connection, meta: Meta) -> list[str]:
    """Create or extend the table of ``meta``; returns the DDL statements run."""
    if meta.issingle or meta.is_virtual:
        return []
    done: list[str] = []
    table = quote(meta.table)
    have = existing_columns(conn, meta.table)
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
    for column, unique in _indexes(meta):
        kind = "ux" if unique else "ix"
        ddl = (f"CREATE {'UNIQUE ' if unique else ''}INDEX IF NOT EXISTS "
               f"{quote(index_name(meta.table, column, kind))} ON {table} ({quote(column)})")
        try:
            with conn.savepoint("ddl_index"):
                conn.execute(ddl)
        except Exception:
            # Existing duplicate values: keep the data, report instead of failing the migrate.
            done.append(f"-- skipped (existing duplicates): {ddl}")
            continue
        if have is None or column not in have:
            done.append(ddl)
    return done


def drop_doctype_table(conn: Connection, meta: Meta) -> None:
    if not meta.issingle:
        conn.execute(f"DROP TABLE IF EXISTS {quote(meta.table)}")
