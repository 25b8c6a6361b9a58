"""Role permissions from DocPerm rows: the policy the model layer consults.

Administrator may do everything. Everyone else gets the union of the DocPerm
rows (permlevel 0) of their roles; rights granted only by ``if_owner`` rows hold
on their own documents, and lists are then filtered to ``owner = user`` in SQL.
Fields above permlevel 0 are readable or writable only through rows at their level.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ristretto.db.dialects import quote
from ristretto.exceptions import PermissionError
from ristretto.permissions.rules import FULL, PermSet, evaluate

if TYPE_CHECKING:
    from ristretto.meta.doctype import Meta
    from ristretto.model.context import Context


def _deny(ctx: "Context", doctype: str, ptype: str, doc: Any) -> PermissionError:
    if doc is not None and getattr(doc, "name", None) is not None:
        message = f"Insufficient Permission for {doctype} ({ptype})"
    else:
        message = f"No permission for {doctype}"
    ctx.msgprint(f"User {ctx.user} does not have doctype access via role permission for document {doctype}",
                 title="Not permitted", indicator="red")
    error = PermissionError(message, doctype=doctype)
    error.error_message = message
    return error


class DocPermPolicy:
    def permset(self, ctx: "Context", meta: "Meta") -> PermSet:
        if ctx.user == "Administrator":
            return FULL
        key = ("perm", ctx.roles)
        ps = meta.sql_cache.get(key)
        if ps is None:
            ps = meta.sql_cache[key] = evaluate(meta.permissions, ctx.roles, submittable=bool(meta.is_submittable),
                                                allow_import=bool(meta.allow_import))
        return ps

    def has(self, ctx: "Context", doctype: str, ptype: str, doc: Any = None) -> bool:
        if ctx.user == "Administrator":
            return True
        meta = ctx.find_meta(doctype)
        if meta is None:
            return False
        ps = self.permset(ctx, meta)
        if ptype not in ps.granted:
            # With select only, lists still work (restricted fields).
            return False
        if ptype in ps.owner_only and doc is not None and getattr(doc, "d", None) is not None \
                and not getattr(doc, "is_new", False):
            owner = doc.d.get("owner") or ""
            return owner.lower() == ctx.user.lower()
        return True

    def check(self, ctx: "Context", doctype: str, ptype: str, doc: Any = None) -> None:
        if not self.has(ctx, doctype, ptype, doc):
            raise _deny(ctx, doctype, ptype, doc)

    def can_read_doctype(self, ctx: "Context", doctype: str) -> bool:
        return self.has(ctx, doctype, "read") or self.has(ctx, doctype, "select")

    def list_conditions(self, ctx: "Context", meta: "Meta") -> list[tuple[str, list]]:
        if ctx.user == "Administrator":
            return []
        ps = self.permset(ctx, meta)
        conditions: list[tuple[str, list]] = []
        read_via = "read" if "read" in ps.granted else "select"
        if read_via in ps.owner_only:
            conditions.append((f"{quote(meta.table)}.\"owner\" = ?", [ctx.user]))
        return conditions

    def readable_fields(self, ctx: "Context", meta: "Meta") -> set[str] | None:
        if ctx.user == "Administrator":
            return None
        ps = self.permset(ctx, meta)
        return _fields_at(meta, ps.read_levels)

    def writable_fields(self, ctx: "Context", meta: "Meta") -> set[str] | None:
        if ctx.user == "Administrator":
            return None
        ps = self.permset(ctx, meta)
        return _fields_at(meta, ps.write_levels | {0})


def _fields_at(meta: "Meta", levels: frozenset[int]) -> set[str] | None:
    if all(f.permlevel in levels for f in meta.fields if f.fieldname):
        return None
    allowed = set(meta.standard_fields)
    for f in meta.fields:
        if f.fieldname and f.permlevel in levels:
            allowed.add(f.fieldname)
    return allowed
