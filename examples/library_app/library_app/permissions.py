"""Permission rules of the Library app: members see only their own loans.

A rule narrows what the DocPerm rows of a DocType allow (it never grants anything):
``conditions`` restrict lists in SQL (identifiers from the metadata, values as ``?``
parameters), ``allows`` decides for one document.
"""

from __future__ import annotations

from ristretto.db.dialects import quote

STAFF_ROLES = frozenset({"Librarian", "System Manager"})


class MemberLoans:
    """A loan's ``member`` holds the borrower's user id: without a staff role, a user sees
    and handles only their own loans."""

    @staticmethod
    def _staff(ctx) -> bool:
        return ctx.user == "Administrator" or bool(STAFF_ROLES & ctx.roles)

    def conditions(self, ctx, meta) -> list[tuple[str, list]]:
        if self._staff(ctx):
            return []
        return [(f'{quote(meta.table)}."member" = ?', [ctx.user])]

    def allows(self, ctx, meta, doc, ptype: str) -> bool:
        return self._staff(ctx) or doc.get("member") == ctx.user
