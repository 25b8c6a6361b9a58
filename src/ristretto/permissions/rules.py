"""Evaluation of DocPerm rows for a set of roles (pure: no database, no request).

The result, a :class:`PermSet`, says per right whether it is granted, whether it
is granted only through ``if_owner`` rows (then it holds only on the user's own
documents), and at which permlevels each right is held (Frappe's
``get_permlevel_access``: the levels of the rows granting it). It is computed
once per (DocType definition, role set) and cached by the policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ristretto.meta.fieldtypes import cint

RIGHTS = ("select", "read", "write", "create", "delete", "submit", "cancel", "amend", "print", "email",
          "report", "import", "export", "share")
ALL_LEVELS = frozenset(range(10))
_NO_LEVELS: frozenset[int] = frozenset()


@dataclass(frozen=True)
class PermSet:
    granted: frozenset[str]          # rights granted by some row at permlevel 0
    owner_only: frozenset[str]       # of those, rights granted only by if_owner rows
    read_levels: frozenset[int]      # permlevels whose fields may be read
    write_levels: frozenset[int]     # permlevels whose fields may be written
    # right -> permlevels of the rows granting it (any row of the roles, if_owner or not)
    levels: dict[str, frozenset[int]] = field(default_factory=dict, compare=False)

    def allows(self, ptype: str) -> bool:
        return ptype in self.granted

    def can_list(self) -> bool:
        return "read" in self.granted or "select" in self.granted

    def level_access(self, ptype: str) -> frozenset[int]:
        return self.levels.get(ptype, _NO_LEVELS)


FULL = PermSet(frozenset(RIGHTS), frozenset(), ALL_LEVELS, ALL_LEVELS, {r: ALL_LEVELS for r in RIGHTS})


def evaluate(rows: list[dict], roles: frozenset[str], *, submittable: bool, allow_import: bool) -> PermSet:
    granted: set[str] = set()
    by_owner_rows: set[str] = set()
    by_plain_rows: set[str] = set()
    levels: dict[str, set[int]] = {}
    for row in rows:
        if row.get("role") not in roles:
            continue
        level = cint(row.get("permlevel"))
        owner = bool(cint(row.get("if_owner")))
        for right in RIGHTS:
            if not cint(row.get(right)):
                continue
            levels.setdefault(right, set()).add(level)
            if level == 0:
                granted.add(right)
                (by_owner_rows if owner else by_plain_rows).add(right)
    if not submittable:
        granted -= {"submit", "cancel", "amend"}
    if not allow_import:
        granted.discard("import")
    # A right given only by if_owner rows applies to own documents; create never is restricted.
    owner_only = {r for r in by_owner_rows - by_plain_rows if r != "create"} & granted
    read_levels = frozenset(levels.get("read", ()))
    write_levels = frozenset(levels.get("write", ()))
    return PermSet(frozenset(granted), frozenset(owner_only), read_levels, write_levels,
                   {r: frozenset(v) for r, v in levels.items()})
