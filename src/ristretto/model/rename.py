"""Renaming a document (or merging it into another) and repointing every Link to it.

All statements run in the caller's transaction: any failure leaves nothing renamed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ristretto.db import state
from ristretto.db.connection import IntegrityError
from ristretto.db.dialects import quote
from ristretto.exceptions import DuplicateEntryError, ValidationError
from ristretto.meta.doctype import Meta
from ristretto.model import changelog, document, naming, passwords
from ristretto.model.base import Document

if TYPE_CHECKING:
    from ristretto.model.context import Context

# Renaming these would also have to rename tables (DocType) or the keys of the
# authentication store and permission caches (User, Role): refused rather than half done.
_NOT_RENAMABLE = frozenset({"DocType", "User", "Role"})
# Tables whose rows are DocType definitions: changing them changes the metadata.
_DEFINITION_DOCTYPES = frozenset({"DocType", "DocField", "DocPerm", "Custom DocPerm"})


def rename(ctx: "Context", doctype: str, old_name: Any, new_name: Any, merge: bool = False) -> Any:
    """Rename ``old_name`` to ``new_name`` (or merge into it); returns the new name, or None
    when the name does not change. Needs ``allow_rename`` and write (and delete to merge)."""
    meta = ctx.get_meta(doctype)
    if meta.issingle or meta.istable or meta.is_virtual or doctype in _NOT_RENAMABLE:
        raise ValidationError(f"{doctype} documents cannot be renamed", title="Not allowed")
    ctx.perms.check(ctx, doctype, "write")
    if not meta.allow_rename:
        raise ValidationError(f"{doctype} not allowed to be renamed", title="Not allowed")
    old = document.load(ctx, doctype, old_name, for_update=True)
    ctx.perms.check(ctx, doctype, "write", old)
    new = _valid_new_name(meta, new_name)
    if str(new) == str(old.name):
        ctx.msgprint("Please select a new name to rename")
        return None
    exists = document.exists(ctx, doctype, new)
    if merge and not exists:
        raise ValidationError(f"{doctype} {new} does not exist, select a new target to merge",
                              title="Cannot merge")
    if not merge and exists:
        raise DuplicateEntryError(f"Another {doctype} with name <b>{new}</b> exists, select another name",
                                  title="Duplicate Name")
    if merge:
        ctx.perms.check(ctx, doctype, "delete", old)
    changed = _repoint_links(ctx, doctype, old.name, new)
    if merge:
        _delete_rows(ctx, meta, old.name)
        passwords.remove(ctx, old)
        # For a reader of the change log a merge is the old document's deletion.
        changelog.record(ctx, "delete", old)
    else:
        _rename_rows(ctx, meta, old.name, new)
        passwords.rename(ctx, doctype, old.name, new)
        renamed = document.load(ctx, doctype, new)
        changelog.record(ctx, "rename", renamed, old_name=old.name)
    if changed & _DEFINITION_DOCTYPES:
        # A DocType definition changed (e.g. its module): every worker reloads metadata.
        ctx.registry.bump_version(ctx.db)
        ctx.registry.version = None
    if "User Permission" in changed:
        # Workers cache each user's User Permission rows until auth data changes.
        state.bump(ctx.db, state.AUTH)
    return new


def _valid_new_name(meta: Meta, new_name: str) -> Any:
    if meta.name_is_int:
        try:
            return int(str(new_name).strip())
        except ValueError:
            raise ValidationError(f"Name of {meta.name} must be a number", title="Invalid name") from None
    probe = Document(meta, {"name": new_name})
    naming.validate_name(meta, probe)  # the checks a new document's name gets
    return probe.name


def _rename_rows(ctx: "Context", meta: Meta, old: Any, new: Any) -> None:
    sets = [(quote("name"), new)]
    autoname = meta.autoname
    if autoname.lower().startswith("field:"):
        # The field the name is made from follows the name (Frappe's update_autoname_field).
        fieldname = autoname.split(":", 1)[1].strip()
        if meta.has_column(fieldname):
            sets.append((quote(fieldname), str(new)))
    assignments = ", ".join(f"{col} = ?" for col, _ in sets)
    try:
        with ctx.db.savepoint("rename_doc"):
            ctx.db.execute(f"UPDATE {quote(meta.table)} SET {assignments} WHERE name = ?",
                           [v for _, v in sets] + [old])
    except IntegrityError:
        raise DuplicateEntryError(f"Another {meta.name} with name <b>{new}</b> exists, select another name",
                                  title="Duplicate Name") from None
    for child_meta in _child_metas(ctx, meta):
        ctx.db.execute(f"UPDATE {quote(child_meta.table)} SET parent = ? WHERE parent = ? AND parenttype = ?",
                       (str(new), str(old), meta.name))


def _delete_rows(ctx: "Context", meta: Meta, old: Any) -> None:
    """Merge: the old document disappears once everything points at the target."""
    ctx.db.execute(f"DELETE FROM {quote(meta.table)} WHERE name = ?", (old,))
    for child_meta in _child_metas(ctx, meta):
        ctx.db.execute(f"DELETE FROM {quote(child_meta.table)} WHERE parent = ? AND parenttype = ?",
                       (str(old), meta.name))


def _child_metas(ctx: "Context", meta: Meta) -> list[Meta]:
    out = []
    for table in meta.table_fields:
        child = ctx.find_meta(table.options)
        if child is not None and child.istable and child not in out:
            out.append(child)
    return out


def _log_repointed(ctx: "Context", other: Meta, fieldname: str, where: str, params: tuple) -> None:
    """Change-log rows for the documents whose link the rename is about to repoint: a row of a
    child table is a change of its parent's table field."""
    if other.istable:
        rows = ctx.db.sql(f"SELECT parenttype, parent, parentfield FROM {quote(other.table)} {where}", params)
        by_parent: dict[tuple[str, str], list[str]] = {}
        for parenttype, parent, parentfield in rows:
            by_parent.setdefault((parenttype, parentfield), []).append(parent)
        for (parenttype, parentfield), parents in by_parent.items():
            changelog.record_touched(ctx, parenttype, parents, [parentfield])
    else:
        names = [n for (n,) in ctx.db.sql(f"SELECT name FROM {quote(other.table)} {where}", params)]
        changelog.record_touched(ctx, other.name, names, [fieldname])


def _repoint_links(ctx: "Context", doctype: str, old: Any, new: Any) -> set[str]:
    """Point Link and Dynamic Link values (and File attachments) at the new name.

    Returns the DocTypes whose rows changed.
    """
    old_s, new_s = str(old), str(new)
    changed: set[str] = set()
    for other, fieldname in ctx.registry.links_to(doctype):
        if other.is_virtual:
            continue
        if other.issingle:
            n = ctx.db.execute(f"UPDATE {quote('tabSingles')} SET value = ? WHERE doctype = ? AND field = ? "
                               f"AND value = ?", (new_s, other.name, fieldname, old_s))
            if n:
                changelog.record_touched(ctx, other.name, [other.name], [fieldname])
        else:
            where = f"WHERE {quote(fieldname)} = ?"
            _log_repointed(ctx, other, fieldname, where, (old_s,))
            n = ctx.db.execute(f"UPDATE {quote(other.table)} SET {quote(fieldname)} = ? {where}", (new_s, old_s))
        if n:
            changed.add(other.name)
    for other, fieldname, type_field in ctx.registry.dynamic_links():
        # Only values whose DocType field names the renamed DocType point at this document.
        where = f"WHERE {quote(fieldname)} = ? AND {quote(type_field)} = ?"
        _log_repointed(ctx, other, fieldname, where, (old_s, doctype))
        n = ctx.db.execute(f"UPDATE {quote(other.table)} SET {quote(fieldname)} = ? {where}",
                           (new_s, old_s, doctype))
        if n:
            changed.add(other.name)
    file_meta = ctx.find_meta("File")
    if file_meta is not None and file_meta.has_column("attached_to_name") \
            and file_meta.has_column("attached_to_doctype"):
        where = "WHERE attached_to_name = ? AND attached_to_doctype = ?"
        _log_repointed(ctx, file_meta, "attached_to_name", where, (old_s, doctype))
        if ctx.db.execute(f"UPDATE {quote(file_meta.table)} SET attached_to_name = ? {where}",
                          (new_s, old_s, doctype)):
            changed.add("File")
    return changed
