"""Evaluation of DocPerm rows for a set of roles (pure: no database, no request).

The result, a :class:`PermSet`, says per right whether it is granted, whether it
is granted only through ``if_owner`` rows (then it holds only on the user's own
documents), and which permlevels the roles may read and write. It is computed
once per (DocType definition, role set) and cached by the policy.
"""

from __future__ import annotations

from dataclasses import dataclass

from ristretto.meta.fieldtypes import cint

RIGHTS = ("select", "read", "write", "create", "delete", "submit", "cancel", "amend", "print", "email",
          "report", "import", "export", "share")


@dataclass(frozen=True)
class PermSet:
    granted: frozenset[str]          # rights granted by some row at permlevel 0
    owner_only: frozenset[str]       # of those, rights granted only by if_owner rows
    read_levels: frozenset[int]      # permlevels whose fields may be read
    write_levels: frozenset[int]     # permlevels whose fields may be written

    def allows(self, ptype: str) -> bool:
        return ptype in self.granted

    def can_list(self) -> bool:
        return "read" in self.granted or "select" in self.granted


FULL = PermSet(frozenset(RIGHTS), frozenset(), frozenset(range(10)), frozenset(range(10)))


def evaluate(rows: list[dict], roles: frozenset[str], *, submittable: bool, allow_import: bool) -> PermSet:
    granted: set[str] = set()
    by_owner_rows: set[str] = set()
    by_plain_rows: set[str] = set()
    read_levels: set[int] = set()
    write_levels: set[int] = set()
    for row in rows:
        if row.get("role") not in roles:
            continue
        level = cint(row.get("permlevel"))
        if level == 0:
            owner = bool(cint(row.get("if_owner")))
            for right in RIGHTS:
                if cint(row.get(right)):
                    granted.add(right)
                    (by_owner_rows if owner else by_plain_rows).add(right)
        if cint(row.get("read")) or cint(row.get("write")):
            read_levels.add(level)
        if cint(row.get("write")):
            write_levels.add(level)
    if not submittable:
        granted -= {"submit", "cancel", "amend"}
    if not allow_import:
        granted.discard("import")
    # A right given only by if_owner rows applies to own documents; create never is restricted.
    owner_only = {r for r in by_owner_rows - by_plain_rows if r != "create"} & granted
    if "read" not in granted and "select" not in granted:
        read_levels.discard(0)
    return PermSet(frozenset(granted), frozenset(owner_only), frozenset(read_levels), frozenset(write_levels))
