"""The permission policy.

Current rule (until DocPerm evaluation lands): Administrator and users holding
the System Manager role may do everything; every other user, and Guest, may do
nothing with documents. The model layer calls this policy for every read and
write, so the rule holds on every route.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ristretto.exceptions import PermissionError

if TYPE_CHECKING:
    from ristretto.meta.doctype import Meta
    from ristretto.model.context import Context

SUPERUSER_ROLES = frozenset({"Administrator", "System Manager"})


class RolePolicy:
    def has(self, ctx: "Context", doctype: str, ptype: str, doc: Any = None) -> bool:
        if ctx.user == "Administrator":
            return True
        return bool(SUPERUSER_ROLES & ctx.roles) and ctx.user != "Guest"

    def check(self, ctx: "Context", doctype: str, ptype: str, doc: Any = None) -> None:
        if not self.has(ctx, doctype, ptype, doc):
            if doc is not None and getattr(doc, "name", None) is not None:
                message = f"Insufficient Permission for {doctype} ({ptype})"
            else:
                message = f"No permission for {doctype}"
            ctx.msgprint(f"User {ctx.user} does not have doctype access via role permission for document {doctype}",
                         title="Not permitted", indicator="red")
            error = PermissionError(message, doctype=doctype)
            error.error_message = message
            raise error

    def list_conditions(self, ctx: "Context", meta: "Meta") -> list[tuple[str, list]]:
        return []

    def readable_fields(self, ctx: "Context", meta: "Meta", of: "Meta | None" = None) -> set[str] | None:
        return None

    def writable_fields(self, ctx: "Context", meta: "Meta", of: "Meta | None" = None) -> set[str] | None:
        return None

    def can_read_doctype(self, ctx: "Context", doctype: str) -> bool:
        return self.has(ctx, doctype, "read")
