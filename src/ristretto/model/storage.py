"""Reading and writing document rows: the SQL of the model layer (no checks, no hooks).

Statement texts are built once per DocType definition and kept in ``Meta.sql_cache``;
every identifier comes from the metadata, every value is a parameter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from ristretto.db.connection import IntegrityError
from ristretto.db.dialects import quote
from ristretto.exceptions import DoesNotExistError, DuplicateEntryError, UniqueValidationError
from ristretto.meta.doctype import Meta
from ristretto.meta.fieldtypes import CHECK, FLOAT, INT
from ristretto.model.base import Document

if TYPE_CHECKING:
    from ristretto.model.context import Context


def select_sql(meta: Meta) -> str:
    sql = meta.sql_cache.get("select_one")
    if sql is None:
        cols = ", ".join(quote(c) for c in meta.column_names)
        sql = meta.sql_cache["select_one"] = f"SELECT {cols} FROM {quote(meta.table)} WHERE name = ?"
    return sql


def children_sql(meta: Meta) -> str:
    sql = meta.sql_cache.get("select_children")
    if sql is None:
        cols = ", ".join(quote(c) for c in meta.column_names)
        sql = meta.sql_cache["select_children"] = (
            f"SELECT {cols} FROM {quote(meta.table)} WHERE parent = ? AND parenttype = ? "
            f"AND parentfield = ? ORDER BY idx")
    return sql


def name_key(meta: Meta, name: Any) -> Any:
    """The name as the ``name`` column holds it; None when no document can have it."""
    if meta.name_is_int:
        try:
            return int(name)
        except (TypeError, ValueError):
            return None
    name = str(name)
    # No name contains NUL (PostgreSQL text cannot even be compared with one).
    return None if "\x00" in name else name


def load(ctx: "Context", doctype: str, name: Any, *, for_update: bool = False) -> Document:
    """Read a document with its child rows; 404 when it does not exist. No permission check."""
    meta = ctx.get_meta(doctype)
    if meta.issingle:
        return load_single(ctx, meta)
    key = name_key(meta, name)
    row = None
    if key is not None:
        sql = select_sql(meta)
        if for_update and ctx.dialect.name == "postgres":
            sql += " FOR UPDATE"
        row = ctx.db.one(sql, (key,))
    if row is None:
        raise DoesNotExistError(f"{doctype} {name} not found", doctype=doctype)
    doc = Document(meta, dict(zip(meta.column_names, row)))
    load_children(ctx, doc)
    return doc


def load_children(ctx: "Context", doc: Document) -> None:
    for tf in doc.meta.table_fields:
        child_meta = ctx.find_meta(tf.options)
        if child_meta is None or not child_meta.istable:
            continue
        rows = ctx.db.sql(children_sql(child_meta), (str(doc.name), doc.meta.name, tf.fieldname))
        doc.children[tf.fieldname] = [Document(child_meta, dict(zip(child_meta.column_names, r))) for r in rows]


def load_single(ctx: "Context", meta: Meta) -> Document:
    rows = ctx.db.sql(f"SELECT field, value FROM {quote('tabSingles')} WHERE doctype = ?", (meta.name,))
    d: dict[str, Any] = {c: None for c in meta.column_names}
    for field, value in rows:
        f = meta.get_column(field)
        if f is not None:
            d[field] = from_single_text(f, value)
    d.update(name=meta.name, docstatus=0, idx=0)
    doc = Document(meta, d)
    for tf in meta.table_fields:
        child_meta = ctx.find_meta(tf.options)
        if child_meta is not None:
            rows = ctx.db.sql(children_sql(child_meta), (meta.name, meta.name, tf.fieldname))
            doc.children[tf.fieldname] = [Document(child_meta, dict(zip(child_meta.column_names, r)))
                                          for r in rows]
    return doc


def from_single_text(f, value: Any) -> Any:
    if value is None:
        return None
    kind = f.ft.kind
    try:
        if kind in (INT, CHECK):
            return int(float(value))
        if kind == FLOAT:
            return float(value)
    except ValueError:
        return 0
    return value


def exists(ctx: "Context", doctype: str, name: Any) -> bool:
    meta = ctx.get_meta(doctype)
    if meta.issingle:
        return name == meta.name
    key = name_key(meta, name)
    return key is not None and ctx.db.one(f"SELECT 1 FROM {quote(meta.table)} WHERE name = ?", (key,)) is not None


def insert_sql(meta: Meta) -> str:
    sql = meta.sql_cache.get("insert")
    if sql is None:
        cols = meta.column_names
        sql = meta.sql_cache["insert"] = (
            f"INSERT INTO {quote(meta.table)} ({', '.join(quote(c) for c in cols)}) "
            f"VALUES ({', '.join('?' * len(cols))})")
    return sql


def update_sql(meta: Meta) -> str:
    sql = meta.sql_cache.get("update")
    if sql is None:
        cols = [c for c in meta.column_names if c != "name"]
        sql = meta.sql_cache["update"] = (
            f"UPDATE {quote(meta.table)} SET {', '.join(f'{quote(c)} = ?' for c in cols)} WHERE name = ?")
    return sql


def row_values(doc: Document) -> list[Any]:
    return list(map(doc.d.get, doc.meta.column_names))


def update_values(doc: Document, name: Any) -> list[Any]:
    """Parameters of :func:`update_sql`: every column but ``name``, in order, then the name."""
    meta = doc.meta
    columns = meta.sql_cache.get("update_columns")
    if columns is None:
        columns = meta.sql_cache["update_columns"] = tuple(c for c in meta.column_names if c != "name")
    values = list(map(doc.d.get, columns))
    values.append(name)
    return values


def write_children(ctx: "Context", doc: Document, fieldnames: Iterable[str]) -> None:
    for fieldname in fieldnames:
        tf = doc.meta.get_table_field(fieldname)
        child_meta = ctx.find_meta(tf.options) if tf else None
        if child_meta is None or not child_meta.istable:
            continue
        ctx.db.execute(
            f"DELETE FROM {quote(child_meta.table)} WHERE parent = ? AND parenttype = ? AND parentfield = ?",
            (str(doc.name), doc.meta.name, fieldname))
        rows = doc.children.get(fieldname, [])
        if rows:
            ctx.db.executemany(insert_sql(child_meta), [row_values(r) for r in rows])


def integrity_error(doc: Document, err: IntegrityError) -> Exception:
    text = str(err).lower()
    if "unique" not in text and "duplicate" not in text:
        # Not a uniqueness violation (SQLite also reports NOT NULL here): a server bug,
        # not the client's error, so it stays a 500.
        return err
    if "primary" in text or ".name" in text or "_pkey" in text:
        return DuplicateEntryError(f"{doc.meta.name} {doc.name} already exists", title="Duplicate Name",
                                   doctype=doc.meta.name)
    return UniqueValidationError(f"Duplicate value in {doc.meta.name}: {err}", title="Duplicate value")
