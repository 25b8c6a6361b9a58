"""A DocType's definition as a logged-in user may see it (API v2 ``/doctype/<dt>/meta``).

The effective definition (stored DocType merged with customisations: properties, ``fields``,
``permissions``, ...) is shown to logged-in users who may read (or select) the DocType, or, for a
child table, some DocType that holds it; its fields at permission levels the user cannot read
are left out, as they are of the documents. Guests see no definitions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ristretto.exceptions import PermissionError

if TYPE_CHECKING:
    from ristretto.model.context import Context


def _refuse(doctype: str) -> PermissionError:
    error = PermissionError(f"No permission for {doctype}", doctype=doctype)
    error.error_message = error.message
    return error


def visible_meta(ctx: "Context", doctype: str) -> dict[str, Any]:
    if ctx.user == "Guest":
        raise PermissionError("Not permitted: log in to read DocType definitions")
    meta = ctx.get_meta(doctype)
    perms = ctx.perms
    owner = meta
    if ctx.user != "Administrator":
        if meta.istable:
            # A child table is seen through a DocType that holds it (05: child-table rule).
            owner = next((m for m in ctx.registry.all() if not m.istable and meta.name in m.child_doctypes()
                          and perms.can_read_doctype(ctx, m.name)), None)
            if owner is None:
                raise _refuse(doctype)
        elif not perms.can_read_doctype(ctx, doctype):
            raise _refuse(doctype)
    out = dict(meta.definition)
    if ctx.user != "Administrator":
        levels = perms.level_access(ctx, owner, "read")
        out["fields"] = [f for f in out.get("fields") or [] if isinstance(f, dict)
                         and _level(f) in levels]
    out["name"] = meta.name
    out.setdefault("doctype", "DocType")
    return out


def _level(field: dict) -> int:
    try:
        return int(field.get("permlevel") or 0)
    except (TypeError, ValueError):
        return 0
