"""What the caller may do with each DocType, for a description of the API (``/api/openapi.json``).

:func:`doctype_views` answers, from the permission policy alone (never rules of its own), which
DocTypes the caller may read (or select), what else they may do with them (create, write,
delete, submit, cancel), and which fields of the DocType and of its child tables they may read
and write (the policy's ``readable_fields`` / ``writable_fields``, so permlevels apply exactly as
they do to the documents). Child tables are described through the DocTypes that hold them.
Virtual DocTypes (no table) are left out: the document routes do not serve them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ristretto.meta.doctype import Meta
    from ristretto.model.context import Context

# The rights a description distinguishes, beyond reading.
ACTIONS = ("create", "write", "delete", "submit", "cancel")


@dataclass(frozen=True)
class ChildView:
    """A child table of a visible DocType: its fields the caller may read and write."""
    meta: "Meta"
    readable: frozenset[str] | None   # None: every field
    writable: frozenset[str] | None


@dataclass(frozen=True)
class DocTypeView:
    """One DocType as the caller may use it."""
    meta: "Meta"
    rights: frozenset[str]            # "select", "read" if held, and those of ACTIONS held
    readable: frozenset[str] | None   # None: every field
    writable: frozenset[str] | None
    children: dict[str, ChildView]    # by child DocType name

    @property
    def name(self) -> str:
        return self.meta.name

    def can(self, right: str) -> bool:
        return right in self.rights


def _frozen(fields: set[str] | None) -> frozenset[str] | None:
    return None if fields is None else frozenset(fields)


def doctype_views(ctx: "Context") -> list[DocTypeView]:
    """The DocTypes (not child tables, not virtual) the caller may read or select, by name."""
    perms = ctx.perms
    views: list[DocTypeView] = []
    for meta in sorted(ctx.registry.all(), key=lambda m: m.name):
        if meta.istable or meta.is_virtual or not perms.can_read_doctype(ctx, meta.name):
            continue
        # Whoever may read may also select (list names and titles, search for links).
        rights = {"select", "read"} if perms.has(ctx, meta.name, "read") else {"select"}
        rights.update(a for a in ACTIONS if perms.has(ctx, meta.name, a))
        if not meta.is_submittable:
            rights -= {"submit", "cancel"}
        writes = bool(rights & {"create", "write"})
        children: dict[str, ChildView] = {}
        for child_name in meta.child_doctypes():
            child = ctx.find_meta(child_name)
            if child is not None and child_name not in children:
                children[child_name] = ChildView(
                    child, _frozen(perms.readable_fields(ctx, meta, child)),
                    _frozen(perms.writable_fields(ctx, meta, child)) if writes else frozenset())
        views.append(DocTypeView(meta, frozenset(rights), _frozen(perms.readable_fields(ctx, meta)),
                                 _frozen(perms.writable_fields(ctx, meta)) if writes else frozenset(),
                                 children))
    return views
