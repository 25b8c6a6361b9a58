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
from ristretto.exceptions import ValidationError
from ristretto.meta.core import core_definitions
from ristretto.meta.doctype import CHILD_FIELDS, Meta, normalize_definition

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
        for f in definition.get("fields", []):
            if f.get("fieldname") in _RESERVED:
                raise ValidationError(f"Fieldname {f['fieldname']} is reserved", title="Invalid fieldname")
        names = [f.get("fieldname") for f in definition.get("fields", []) if f.get("fieldname")]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValidationError(f"Fieldname {sorted(dupes)[0]} appears more than once", title="Duplicate fieldname")
        meta = Meta(definition)  # validates names and field definitions
        if meta.is_submittable and not any(r.d.get("fieldname") == "amended_from"
                                           for r in doc.children.get("fields", [])):
            from ristretto.model.document import _child_rows
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
        meta = Meta(doc.as_dict())
        schema.sync_doctype(ctx.db, meta)
        ctx.registry.put(meta)
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
        ctx.registry.remove(doc.name)
        ctx.registry.bump_version(ctx.db)
        ctx.registry.version = None


def _insert_raw(ctx: "Context", doctype: str, name: str, data: dict) -> None:
    """Insert a supporting record (module, role) without the caller's permission checks."""
    from ristretto.model.document import _insert_sql, _row_values, _stamp, new_doc
    doc = new_doc(ctx, doctype, data)
    doc.name = name
    _stamp(ctx, doc, ctx.now())
    ctx.db.execute(_insert_sql(doc.meta), _row_values(doc))


def _exists(ctx: "Context", doctype: str, name: Any) -> bool:
    from ristretto.model.document import exists
    return exists(ctx, doctype, name)


def builtin_controllers() -> dict[str, object]:
    return {"DocType": DocTypeController()}
