"""The Role Permissions Manager's operations (Frappe's ``permission_manager`` page methods):
list the roles and DocTypes, read a DocType's effective permission rows, and add, change,
remove or reset its Custom DocPerm rows. System Managers only.

Custom DocPerm rows replace a DocType's own DocPerm rows wholesale, so the first change to a
DocType that has none copies its standard rows into Custom DocPerm before applying the change
(Frappe's ``setup_custom_perms``). Every operation runs inside the caller's transaction: when a
step fails the request rolls back and no partial copy is left to replace the DocType's rights.
Removing the last rule is refused, as in Frappe (a DocType with no Custom DocPerm row would
silently fall back to its standard rows). Rights are changed only through an allowlist of
DocPerm columns, the only identifiers this module puts in SQL besides metadata column names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ristretto.db.dialects import quote
from ristretto.exceptions import DoesNotExistError, PermissionError, ValidationError
from ristretto.model import document

if TYPE_CHECKING:
    from ristretto.model.context import Context

# The rights a row may grant (DocPerm's check columns); ``if_owner`` restricts the row.
RIGHTS = ("select", "read", "write", "create", "delete", "submit", "cancel", "amend", "report", "export",
          "import", "share", "print", "email", "if_owner")
MAX_PERMLEVEL = 9
_SERVER_COLUMNS = ("name", "owner", "creation", "modified", "modified_by", "docstatus", "idx",
                   "parent", "parentfield", "parenttype")


def only_system_manager(ctx: "Context") -> None:
    if not (ctx.is_admin or "System Manager" in ctx.roles):
        raise PermissionError("This action is only allowed for System Manager", title="Not Permitted")


def roles_and_doctypes(ctx: "Context") -> dict[str, list[str]]:
    """The DocTypes a rule can be set on (not child tables, not DocType itself) and the enabled
    roles (not Administrator, who has every right whatever the rows say)."""
    only_system_manager(ctx)
    doctypes = [r[0] for r in ctx.db.sql(
        f"SELECT name FROM {quote('tabDocType')} WHERE istable = 0 AND name <> ? ORDER BY name", ("DocType",))]
    roles = [r[0] for r in ctx.db.sql(
        f"SELECT name FROM {quote('tabRole')} WHERE name <> ? AND (disabled = 0 OR disabled IS NULL) "
        f"ORDER BY name", ("Administrator",))]
    return {"doctypes": doctypes, "roles": roles}


def get_permissions(ctx: "Context", doctype: str | None = None, role: str | None = None) -> list[dict]:
    """The effective rows of ``doctype`` (its Custom DocPerm rows, else its own), or every
    effective row naming ``role`` (of ``doctype`` only, if given); each with ``linked_doctypes``."""
    only_system_manager(ctx)
    if doctype not in (None, ""):
        _check_doctype(ctx, doctype)
    if role not in (None, ""):
        _check_role(ctx, role)
        custom = {r["parent"] for r in _rows(ctx, "Custom DocPerm")}
        out = [r for r in _rows(ctx, "Custom DocPerm", role=role)]
        out += [r for r in _rows(ctx, "DocPerm", role=role) if r["parent"] not in custom]
        if doctype not in (None, ""):
            out = [r for r in out if r["parent"] == doctype]
        out.sort(key=lambda r: (r["parent"], r.get("permlevel") or 0))
    else:
        if doctype in (None, ""):
            raise ValidationError("doctype or role is required", title="Missing argument")
        out = _rows(ctx, "Custom DocPerm", parent=doctype) or _rows(ctx, "DocPerm", parent=doctype)
    links: dict[str, list[str]] = {}
    for row in out:
        if row["parent"] not in links:
            links[row["parent"]] = _linked_doctypes(ctx, row["parent"])
        row["linked_doctypes"] = links[row["parent"]]
    return out


def setup_custom_perms(ctx: "Context", doctype: str) -> bool:
    """Copy ``doctype``'s standard rows into Custom DocPerm unless it has some; True if copied."""
    if _rows(ctx, "Custom DocPerm", parent=doctype):
        return False
    keep = [c for c in ctx.get_meta("Custom DocPerm").column_names if c not in _SERVER_COLUMNS]
    for row in _rows(ctx, "DocPerm", parent=doctype):
        values = {c: row.get(c) for c in keep if c in row}
        values.update(parent=doctype, parenttype="DocType", parentfield="permissions")
        document.insert(ctx, "Custom DocPerm", values)
    return True


def add(ctx: "Context", parent: str, role: str, permlevel: Any) -> None:
    """A new rule for ``role`` at ``permlevel`` granting read only."""
    only_system_manager(ctx)
    _check_doctype(ctx, parent)
    _check_role(ctx, role)
    level = _level(permlevel)
    setup_custom_perms(ctx, parent)
    if _find(ctx, parent, role, level, 0) is not None:
        raise ValidationError(f"{parent}: Only one rule allowed with the same Role, Level and Only If Creator",
                              title="Duplicate rule")
    document.insert(ctx, "Custom DocPerm", {
        "parent": parent, "parenttype": "DocType", "parentfield": "permissions", "role": role,
        "permlevel": level, "if_owner": 0, "read": 1, "write": 0, "create": 0, "delete": 0})


def update(ctx: "Context", doctype: str, role: str, permlevel: Any, ptype: str, value: Any = None,
           if_owner: Any = 0) -> str | None:
    """Set right ``ptype`` of the rule (role, permlevel, if_owner) to ``value`` (0 or 1);
    ``"refresh"`` when the standard rows were copied first (the page then reloads them)."""
    only_system_manager(ctx)
    _check_doctype(ctx, doctype)
    _check_role(ctx, role)
    if ptype not in RIGHTS:
        raise ValidationError(f"Unknown permission type {str(ptype)[:40]!r}; one of: {', '.join(RIGHTS)}",
                              title="Invalid permission type")
    level, owner, flag = _level(permlevel), _flag(if_owner, "if_owner"), _flag(value, "value")
    copied = setup_custom_perms(ctx, doctype)
    name = _find(ctx, doctype, role, level, owner)
    if name is None:
        raise DoesNotExistError(f"{doctype} has no rule for {role} at level {level}", doctype="Custom DocPerm")
    document.update(ctx, "Custom DocPerm", name, {ptype: flag})
    return "refresh" if copied else None


def remove(ctx: "Context", doctype: str, role: str, permlevel: Any, if_owner: Any = 0) -> None:
    """Delete the rule (role, permlevel, if_owner); the last rule of a DocType stays."""
    only_system_manager(ctx)
    _check_doctype(ctx, doctype)
    _check_role(ctx, role)
    level, owner = _level(permlevel), _flag(if_owner, "if_owner")
    setup_custom_perms(ctx, doctype)
    name = _find(ctx, doctype, role, level, owner)
    if name is None:
        raise DoesNotExistError(f"{doctype} has no rule for {role} at level {level}", doctype="Custom DocPerm")
    document.delete(ctx, "Custom DocPerm", name)
    if not _rows(ctx, "Custom DocPerm", parent=doctype):
        # The caller's transaction rolls the deletion (and any copy) back.
        raise ValidationError("There must be atleast one permission rule.", title="Cannot Remove")


def reset(ctx: "Context", doctype: str) -> None:
    """Delete every Custom DocPerm row of ``doctype``: its own rows apply again."""
    only_system_manager(ctx)
    _check_doctype(ctx, doctype)
    for row in _rows(ctx, "Custom DocPerm", parent=doctype):
        document.delete(ctx, "Custom DocPerm", row["name"])


# --- helpers ----------------------------------------------------------------------------------

def _rows(ctx: "Context", doctype: str, *, parent: str | None = None, role: str | None = None) -> list[dict]:
    meta = ctx.get_meta(doctype)
    cols = list(meta.column_names)
    where, args = [], []
    if doctype == "DocPerm":
        where.append("parenttype = ?")
        args.append("DocType")
    if parent is not None:
        where.append("parent = ?")
        args.append(parent)
    if role is not None:
        where.append("role = ?")
        args.append(role)
    sql = f"SELECT {', '.join(quote(c) for c in cols)} FROM {quote(meta.table)}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = [dict(zip(cols, r)) for r in ctx.db.sql(sql + " ORDER BY parent, permlevel, idx", tuple(args))]
    return rows


def _find(ctx: "Context", doctype: str, role: str, level: int, if_owner: int) -> str | None:
    for row in _rows(ctx, "Custom DocPerm", parent=doctype, role=role):
        if int(row.get("permlevel") or 0) == level and int(row.get("if_owner") or 0) == if_owner:
            return row["name"]
    return None


def _check_doctype(ctx: "Context", doctype: Any) -> None:
    meta = ctx.find_meta(doctype) if isinstance(doctype, str) and len(doctype) <= 140 else None
    if meta is None or meta.istable or meta.name == "DocType":
        raise DoesNotExistError(f"DocType {str(doctype)[:140]} not found", doctype="DocType")


def _check_role(ctx: "Context", role: Any) -> None:
    if not isinstance(role, str) or len(role) > 140 or role == "Administrator" or not document.exists(ctx, "Role", role):
        raise DoesNotExistError(f"Role {str(role)[:140]} not found", doctype="Role")


def _level(value: Any) -> int:
    try:
        level = int(str(value).strip()) if len(str(value)) <= 4 else -1
    except ValueError:
        level = -1
    if not 0 <= level <= MAX_PERMLEVEL:
        raise ValidationError(f"permlevel must be a whole number from 0 to {MAX_PERMLEVEL}", title="Invalid level")
    return level


def _flag(value: Any, name: str) -> int:
    text = "0" if value in (None, "", False) else "1" if value is True else str(value).strip().lower()
    if text in ("0", "false"):
        return 0
    if text in ("1", "true"):
        return 1
    raise ValidationError(f"{name} must be 0 or 1", title="Invalid value")


def _linked_doctypes(ctx: "Context", doctype: str) -> list[str]:
    """The DocTypes ``doctype`` links to (its Link fields and its child tables' ones)."""
    meta = ctx.find_meta(doctype)
    if meta is None:
        return []
    out: set[str] = set()
    for f in meta.fields:
        if f.fieldtype == "Link" and f.options:
            out.add(f.options)
        elif f.fieldtype in ("Table", "Table MultiSelect") and f.options:
            child = ctx.find_meta(f.options)
            out.update(c.options for c in (child.fields if child else []) if c.fieldtype == "Link" and c.options)
    return sorted(out)
