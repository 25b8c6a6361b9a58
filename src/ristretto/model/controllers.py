"""Controllers: per-DocType lifecycle hooks.

A controller is any object with some of the hook methods below, each called as
``hook(ctx, doc)``. Built-in controllers live here (DocType: schema migration on
save) and in the layers that own the DocType (the User controller is in
``ristretto.auth``); apps register theirs in the site's registry.

Hooks: ``transform_input(ctx, data) -> data``, ``autoname(ctx, doc, name) -> bool``,
``before_insert``, ``validate``, ``before_save``, ``before_submit``, ``before_cancel``,
``after_insert``, ``on_update``, ``on_submit``, ``on_cancel``, ``on_trash``,
``after_delete``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ristretto.db import schema
from ristretto.db.connection import IntegrityError
from ristretto.db.dialects import quote
from ristretto.exceptions import CharacterLengthExceededError, DuplicateEntryError, NameError, ValidationError
from ristretto.meta.core import core_definitions, effective_definition
from ristretto.meta.doctype import CHILD_FIELDS, DocField, Meta, normalize_definition
from ristretto.meta.fieldtypes import JSON, TEXT, VARCHAR_LEN
from ristretto.model import passwords

if TYPE_CHECKING:
    from ristretto.model.context import Context
    from ristretto.model.document import Document

# Fieldnames a DocField may not take. ``idx`` is tolerated: Frappe's own Web Page uses it.
_RESERVED = frozenset({"name", "owner", "creation", "modified", "modified_by", "docstatus", "doctype"}
                      | set(CHILD_FIELDS))


class Controller:
    """Base class for controllers; every hook is optional."""


class DocTypeController(Controller):
    """Saving a DocType document creates or migrates its table in the same transaction."""

    def transform_input(self, ctx: "Context", data: dict) -> dict:
        if isinstance(data.get("fields"), list) and data.get("field_order"):
            data = normalize_definition(data)
        return data

    def validate(self, ctx: "Context", doc: "Document") -> None:
        definition = doc.as_dict()
        reserved = _RESERVED if definition.get("istable") else _RESERVED - set(CHILD_FIELDS)
        for f in definition.get("fields", []):
            if f.get("fieldname") in reserved:
                raise ValidationError(f"Fieldname {f['fieldname']} is reserved", title="Invalid fieldname")
        # Case-insensitively: SQLite column names are (``Title`` and ``title`` are one column).
        names = [f.get("fieldname").lower() for f in definition.get("fields", []) if f.get("fieldname")]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValidationError(f"Fieldname {sorted(dupes)[0]} appears more than once", title="Duplicate fieldname")
        meta = Meta(definition)  # validates names and field definitions
        if doc.previous is None:
            _check_new_name(ctx, meta)
        else:
            _check_storage_changes(ctx, Meta(effective_definition(doc.previous.as_dict())), meta)
        for f in meta.table_fields:
            target = ctx.find_meta(f.options)
            # An unknown child DocType is tolerated (exports reference other apps' tables).
            if target is not None and not target.istable:
                raise ValidationError(f"Option {f.options} for field {f.label} is not a child table",
                                      title="Invalid Option")
        if meta.is_submittable and not any(r.d.get("fieldname") == "amended_from"
                                           for r in doc.children.get("fields", [])):
            from ristretto.model.clientvalues import child_rows as _child_rows
            rows = [r.as_dict() for r in doc.children.get("fields", [])]
            rows.append({"fieldname": "amended_from", "fieldtype": "Link", "label": "Amended From",
                         "options": meta.name, "read_only": 1, "no_copy": 1})
            doc.children["fields"] = _child_rows(ctx, doc, "fields", ctx.get_meta("DocField"), rows)
        for perm in doc.children.get("permissions", []):
            role = perm.d.get("role")
            if role and ctx.find_meta("Role") is not None and not _exists(ctx, "Role", role):
                _insert_raw(ctx, "Role", role, {"role_name": role})
        module = doc.d.get("module") or "Custom"
        doc.d["module"] = module
        if ctx.find_meta("Module Def") is not None and not _exists(ctx, "Module Def", module):
            # Like Frappe, a DocType brings its module and roles into existence.
            _insert_raw(ctx, "Module Def", module, {
                "module_name": module, "app_name": "custom" if doc.d.get("custom") else "ristretto",
                "custom": int(bool(doc.d.get("custom")))})

    def on_update(self, ctx: "Context", doc: "Document") -> None:
        meta = Meta(effective_definition(doc.as_dict()))
        schema.sync_doctype(ctx.db, meta)
        ctx.registry.put(meta)
        if doc.previous is not None:
            # A field that has just become a Password field still holds clear values.
            passwords.move_clear_values(ctx, meta)
        ctx.registry.bump_version(ctx.db)
        # Force a reload from the database on the next request: if this transaction rolls
        # back, the definition put above must not survive.
        ctx.registry.version = None

    def on_trash(self, ctx: "Context", doc: "Document") -> None:
        if doc.name in core_definitions():
            raise ValidationError(f"Cannot delete the built-in DocType {doc.name}", title="Not allowed")

    def after_delete(self, ctx: "Context", doc: "Document") -> None:
        meta = ctx.find_meta(doc.name)
        if meta is not None:
            schema.drop_doctype_table(ctx.db, meta)
        passwords.remove_doctype(ctx, doc.name)
        ctx.registry.remove(doc.name)
        ctx.registry.bump_version(ctx.db)
        ctx.registry.version = None


def _check_new_name(ctx: "Context", meta: Meta) -> None:
    """A new DocType's table must not be another DocType's or a system table.

    Compared case-insensitively: SQLite table names are, and Frappe's DocType names are
    too (MariaDB's collation), so ``todo`` would otherwise share ``tabToDo``.
    """
    low = meta.name.lower()
    for other in ctx.registry.all():
        # The same name is the primary key's business (and, at install, the built-in
        # definition registered before its document is saved).
        if other.name != meta.name and other.name.lower() == low:
            raise DuplicateEntryError(f"DocType {other.name} already exists", title="Duplicate Name",
                                      doctype="DocType")
    if any(meta.table.lower() == t.lower() for t in schema.SYSTEM_TABLES):
        raise NameError(f"{meta.name} is a reserved name", title="Invalid name")


def _storage_class(f: DocField) -> str:
    """Fields of one class can share a column; a change across classes cannot be migrated."""
    if f.ft.not_null_zero:
        return "number"
    return "text" if f.ft.kind in (TEXT, JSON) else f.ft.kind


def _check_storage_changes(ctx: "Context", old: Meta, new: Meta) -> None:
    """Refuse definition changes the existing table cannot follow.

    Migrations add and widen columns but never convert data (``db/schema.py``): a field
    may change its type only within its storage class (Data to Select, Int to Float,
    ...), and the naming rule may change to or from ``autoincrement`` (which changes
    the type of ``name``) only while the DocType has no documents, as in Frappe; nor may a
    DocType with documents become Single or Virtual.
    """
    for f in new.data_fields:
        before = old.get_column(f.fieldname)
        if before is not None and before.fieldname not in old.standard_fields \
                and _storage_class(before) != _storage_class(f):
            raise ValidationError(f"Fieldtype cannot be changed from {before.fieldtype} to {f.fieldtype} "
                                  f"for {f.label}", title="Invalid fieldtype change")
    def has_rows() -> bool:
        return not (old.issingle or old.is_virtual) and schema.existing_columns(ctx.db, old.table) is not None \
            and ctx.db.one(f"SELECT 1 FROM {quote(old.table)} LIMIT 1") is not None

    if old.name_is_int != new.name_is_int and has_rows():
        raise ValidationError("Can only change to/from Autoincrement naming rule when there is no data "
                              "in the doctype", title="Invalid naming rule change")
    # Its documents would stay in a table nothing reads any more (and a save that looks one
    # up would not find it, then fail to insert it again: a 500).
    if (new.issingle and not old.issingle or new.is_virtual and not old.is_virtual) and has_rows():
        raise ValidationError(f"{old.name} has documents: it cannot become a "
                              f"{'Single' if new.issingle else 'Virtual'} DocType", title="Invalid change")


def _insert_raw(ctx: "Context", doctype: str, name: str, data: dict) -> None:
    """Insert a supporting record (module, role) without the caller's permission checks."""
    from ristretto.model.document import insert_record
    if len(name) > VARCHAR_LEN:
        # Its name column holds 140 characters (PostgreSQL would refuse the row with a 500).
        raise CharacterLengthExceededError(
            f"{doctype}: '{name[:20]}...' will get truncated, as max characters allowed is {VARCHAR_LEN}",
            title="Value too big")
    try:
        with ctx.db.savepoint("supporting_record"):
            insert_record(ctx, doctype, data, name=name)
    except IntegrityError:
        # A concurrent request created it since _exists looked (PostgreSQL): it exists, as wanted.
        if not _exists(ctx, doctype, name):
            raise


def _exists(ctx: "Context", doctype: str, name: Any) -> bool:
    from ristretto.model.document import exists
    return exists(ctx, doctype, name)


class MetaChangeController(Controller):
    """Records whose change alters effective metadata (Custom DocPerm)."""

    def on_update(self, ctx: "Context", doc: "Document") -> None:
        ctx.registry.bump_version(ctx.db)
        ctx.registry.version = None

    after_delete = on_update


def builtin_controllers() -> dict[str, object]:
    return {"DocType": DocTypeController(), "Custom DocPerm": MetaChangeController()}
