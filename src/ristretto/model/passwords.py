"""Password fields: the value is kept encrypted outside the row; the row holds a mask.

As in Frappe, the clear value of a Password field (a field type with the ``secret``
trait) goes to ``__Auth`` (doctype, name, fieldname, password, encrypted=1), encrypted
with Fernet under the site's ``encryption_key``, and the row keeps ``*`` repeated
len(value) times. So every read, list, ``get_value`` or Version sees only the mask.
A save that sends a mask back keeps the stored secret; an empty value clears it.
The secrets are written in the document's own transaction, follow a rename and go
with the document; ``get_password`` (System Manager only) decrypts one.

Rows of ``__Auth`` with encrypted=0 (password hashes, API-secret digests kept by
``ristretto.auth``) are never read, written or cleared by a save here; a deleted or
renamed document takes all its rows along (as Frappe's ``delete_all_passwords_for``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, InvalidToken

from ristretto.db.dialects import quote
from ristretto.exceptions import PermissionError, ValidationError
from ristretto.meta.doctype import Meta

if TYPE_CHECKING:
    from ristretto.model.base import Document
    from ristretto.model.context import Context

_AUTH = quote("__Auth")
# Rows moved per statement by the migration (bounded memory on large tables).
_BATCH = 500


class EncryptionKeyError(ValidationError):
    """The site's key is missing, malformed, or not the key a value was encrypted with."""


# --- the cipher ----------------------------------------------------------------------------------

def new_key() -> str:
    """A new random key (32 bytes, url-safe base64), as ``site_config.json`` holds it."""
    return Fernet.generate_key().decode()


def _fernet(key: str) -> Fernet:
    try:
        return Fernet(key.encode() if isinstance(key, str) else key)
    except (ValueError, TypeError, AttributeError):
        raise EncryptionKeyError("encryption_key in site_config.json is not a valid key "
                                 "(32 url-safe base64-encoded bytes)", title="Invalid key") from None


def encrypt(text: str, key: str) -> str:
    return _fernet(key).encrypt(text.encode()).decode()


def decrypt(token: str, key: str) -> str:
    """The clear text; a token made with another key (or altered) is a clear error."""
    cipher = _fernet(key)
    try:
        return cipher.decrypt(token.encode()).decode()
    except (InvalidToken, ValueError, UnicodeError):
        raise EncryptionKeyError("Encryption key is invalid: the stored value was encrypted with another key, "
                                 "please check encryption_key in site_config.json", title="Invalid key") from None


def site_key(ctx: "Context") -> str:
    key = ctx.site_config.get("encryption_key")
    if not key and ctx.encryption_key is not None:
        key = ctx.encryption_key()
    if not key:
        raise EncryptionKeyError("No encryption_key in site_config.json: run 'ristretto migrate'",
                                 title="Missing key")
    return key


# --- masks ---------------------------------------------------------------------------------------

def is_mask(value: Any) -> bool:
    """A value made only of asterisks stands for the stored secret (Frappe's dummy password)."""
    return isinstance(value, str) and value != "" and value.count("*") == len(value)


def mask(value: str) -> str:
    return "*" * len(value)


def secret_fields(meta: Meta) -> tuple[str, ...]:
    # Kept with the definition's other derived data: every save asks.
    fields = meta.sql_cache.get("secret_fields")
    if fields is None:
        fields = meta.sql_cache["secret_fields"] = tuple(f.fieldname for f in meta.data_fields if f.ft.secret)
    return fields


# --- the store -----------------------------------------------------------------------------------

def _set(ctx: "Context", doctype: str, name: str, fieldname: str, value: str, key: str) -> None:
    ctx.db.execute(
        f"INSERT INTO {_AUTH} (doctype, name, fieldname, password, encrypted) VALUES (?, ?, ?, ?, 1) "
        f"ON CONFLICT (doctype, name, fieldname) DO UPDATE SET password = excluded.password, encrypted = 1",
        (doctype, name, fieldname, encrypt(value, key)))


def _clear(ctx: "Context", doctype: str, name: str, fieldname: str) -> None:
    ctx.db.execute(f"DELETE FROM {_AUTH} WHERE doctype = ? AND name = ? AND fieldname = ? AND encrypted = 1",
                   (doctype, name, fieldname))


def _save_row(ctx: "Context", doc: "Document", fields: tuple[str, ...], key_holder: list,
              before: dict | None) -> None:
    """``before``: the row's stored values (None for a new row, which has nothing stored)."""
    name = str(doc.name)
    for fieldname in fields:
        value = doc.d.get(fieldname)
        if value is None or value == "":
            if before is not None and before.get(fieldname) not in (None, ""):
                _clear(ctx, doc.meta.name, name, fieldname)
        elif not is_mask(value):
            if not key_holder:
                key_holder.append(site_key(ctx))
            _set(ctx, doc.meta.name, name, fieldname, str(value), key_holder[0])
            doc.d[fieldname] = mask(str(value))


def save(ctx: "Context", doc: "Document") -> None:
    """Move the clear values of the document's and its rows' Password fields to the store.

    Called by every write of the model, in its transaction, right before the row is written.
    Rows removed from a child table take their secrets with them.
    """
    key_holder: list[str] = []
    previous = doc.previous
    fields = secret_fields(doc.meta)
    if fields:
        _save_row(ctx, doc, fields, key_holder, previous.d if previous is not None else None)
    for tf in doc.meta.table_fields:
        child_meta = ctx.find_meta(tf.options)
        child_fields = secret_fields(child_meta) if child_meta is not None else ()
        if not child_fields:
            continue
        rows = doc.children.get(tf.fieldname, [])
        old_rows = {str(r.name): r.d for r in previous.children.get(tf.fieldname, [])} if previous else {}
        for row in rows:
            _save_row(ctx, row, child_fields, key_holder, None if row.is_new else old_rows.get(str(row.name)))
        kept = {str(r.name) for r in rows}
        for old_name in old_rows.keys() - kept:
            remove_all(ctx, child_meta.name, old_name)


def remove_all(ctx: "Context", doctype: str, name: Any) -> None:
    ctx.db.execute(f"DELETE FROM {_AUTH} WHERE doctype = ? AND name = ?", (doctype, str(name)))


def remove(ctx: "Context", doc: "Document") -> None:
    """A deleted document's secrets, and its rows', go with it."""
    remove_all(ctx, doc.meta.name, doc.name)
    for tf in doc.meta.table_fields:
        child_meta = ctx.find_meta(tf.options)
        if child_meta is not None and secret_fields(child_meta):
            for row in doc.children.get(tf.fieldname, []):
                remove_all(ctx, child_meta.name, row.name)


def remove_doctype(ctx: "Context", doctype: str) -> None:
    """A deleted DocType's table is dropped: its documents' secrets go too."""
    ctx.db.execute(f"DELETE FROM {_AUTH} WHERE doctype = ?", (doctype,))


def rename(ctx: "Context", doctype: str, old: Any, new: Any) -> None:
    ctx.db.execute(f"UPDATE {_AUTH} SET name = ? WHERE doctype = ? AND name = ?", (str(new), doctype, str(old)))


def get_password(ctx: "Context", doctype: str, name: Any, fieldname: str) -> str:
    """The clear value of a Password field: for System Managers only (Frappe's ``only_for``)."""
    if not ctx.is_admin and "System Manager" not in ctx.roles:
        raise PermissionError("This action is only allowed for <b>System Manager</b>", title="Not Permitted")
    meta = ctx.get_meta(doctype)
    f = meta.get_field(fieldname) if isinstance(fieldname, str) else None
    if f is None or not f.ft.secret:
        raise ValidationError(f"{fieldname} is not a Password field of {doctype}", title="Invalid field")
    from ristretto.model.document import get_doc
    doc = get_doc(ctx, doctype, name)  # 404 / 403 as for reading it
    value = doc.d.get(fieldname)
    if value and not is_mask(value):
        return str(value)  # not moved to the store yet (before 'ristretto migrate'), as Frappe does
    stored = ctx.db.value(f"SELECT password FROM {_AUTH} WHERE doctype = ? AND name = ? AND fieldname = ? "
                          f"AND encrypted = 1", (meta.name, str(doc.name), fieldname))
    if stored is None:
        # Frappe raises AuthenticationError here, which would also end the caller's session.
        raise ValidationError(f"Password not found for {doctype} {doc.name} {fieldname}", title="Not found")
    return decrypt(stored, site_key(ctx))


# --- migration -----------------------------------------------------------------------------------

def move_clear_values(ctx: "Context", meta: Meta, only: set[str] | None = None) -> int:
    """Encrypt the clear values still in ``meta``'s Password columns into the store and mask
    the rows (values written before Password fields were encrypted, or by a field that has
    just become a Password field). Masks and empty values are left alone, so running it
    again changes nothing. Returns the number of values moved."""
    fields = [fn for fn in secret_fields(meta) if only is None or fn in only]
    if not fields or meta.is_virtual:
        return 0
    key_holder: list[str] = []

    def put(name: str, fieldname: str, value: str) -> None:
        if not key_holder:
            key_holder.append(site_key(ctx))
        _set(ctx, meta.name, name, fieldname, value, key_holder[0])

    moved = 0
    if meta.issingle:
        singles = quote("tabSingles")
        for fieldname in fields:
            value = ctx.db.value(f"SELECT value FROM {singles} WHERE doctype = ? AND field = ?",
                                 (meta.name, fieldname))
            if value not in (None, "") and not is_mask(value):
                put(meta.name, fieldname, str(value))
                ctx.db.execute(f"UPDATE {singles} SET value = ? WHERE doctype = ? AND field = ?",
                               (mask(str(value)), meta.name, fieldname))
                moved += 1
        return moved
    table = quote(meta.table)
    for fieldname in fields:
        col = quote(fieldname)
        # Only values that are not empty and not a mask; each batch masks what it reads,
        # so the same query then returns the next batch.
        sql = (f"SELECT name, {col} FROM {table} WHERE {col} IS NOT NULL AND {col} != '' "
               f"AND REPLACE({col}, '*', '') != '' LIMIT {_BATCH}")
        while True:
            rows = ctx.db.sql(sql)
            if not rows:
                break
            for name, value in rows:
                put(str(name), fieldname, str(value))
                ctx.db.execute(f"UPDATE {table} SET {col} = ? WHERE name = ?", (mask(str(value)), name))
            moved += len(rows)
    return moved
