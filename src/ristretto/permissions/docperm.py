"""Role permissions from DocPerm rows: the policy the model layer consults.

Administrator may do everything (only their lists pass the rules' conditions, as
in Frappe). Everyone else gets the union of the DocPerm rows (permlevel 0) of their
roles; rights granted only by ``if_owner`` rows hold on their own documents, and
lists are then filtered to ``owner = user`` in SQL.
Fields above permlevel 0 are readable or writable only through rows at their level.
On top of the roles, per-DocType rules (Frappe's permission hooks: ToDo, File and
Note built in, more from apps) and User Permissions can only take rights away, for a
document and its child rows alike; lists get the same restrictions as SQL conditions.
Child DocTypes have no rows of their own: the model layer judges them through their
parent (``access.child_row``, ``listing``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from ristretto.db.dialects import quote
from ristretto.exceptions import PermissionError
from ristretto.meta.fieldtypes import cint
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


AUTOMATIC_ROLES = frozenset({"Administrator", "Guest", "All", "Desk User"})


class ToDoRule:
    """Frappe's ToDo rule: without a role of ToDo's own (other than automatic roles), a user
    sees and handles only ToDos allocated to them or assigned by them."""

    def _bypass(self, ctx: "Context", meta: "Meta", ptype: str) -> bool:
        # Asked on every ToDo read and list: kept per DocType definition (rebuilt when its
        # permissions change) and role set, like the permission set itself.
        key = ("todo_bypass", ptype, ctx.roles)
        bypass = meta.sql_cache.get(key)
        if bypass is None:
            roles = {p.get("role") for p in meta.permissions if cint(p.get(ptype)) and not cint(p.get("permlevel"))}
            bypass = meta.sql_cache[key] = bool((roles - AUTOMATIC_ROLES) & ctx.roles)
        return bypass

    def conditions(self, ctx: "Context", meta: "Meta") -> list[tuple[str, list]]:
        if ctx.user == "Administrator" or self._bypass(ctx, meta, "read"):
            return []
        t = quote(meta.table)
        return [(f"({t}.\"allocated_to\" = ? OR {t}.\"assigned_by\" = ?)", [ctx.user, ctx.user])]

    def allows(self, ctx: "Context", meta: "Meta", doc: Any, ptype: str) -> bool:
        if self._bypass(ctx, meta, ptype):
            return True
        return ctx.user in (doc.d.get("allocated_to"), doc.d.get("assigned_by"))


class FileRule:
    """Private files (their names and URLs too) are for their owner, System Managers, and
    whoever may read the document they are attached to; public files and folders for all
    who may read File at all."""

    def conditions(self, ctx: "Context", meta: "Meta") -> list[tuple[str, list]]:
        if ctx.user == "Administrator" or "System Manager" in ctx.roles:
            return []
        t = quote(meta.table)
        return [(f"({t}.\"is_private\" = 0 OR {t}.\"owner\" = ?)", [ctx.user])]

    def allows(self, ctx: "Context", meta: "Meta", doc: Any, ptype: str) -> bool:
        d = doc.d
        if "System Manager" in ctx.roles or not d.get("is_private") or getattr(doc, "is_new", False) \
                or (d.get("owner") or "").lower() == ctx.user.lower():
            return True
        ref_doctype, ref_name = d.get("attached_to_doctype"), d.get("attached_to_name")
        if ptype not in ("read", "select", "print", "email") or not ref_doctype or not ref_name \
                or ctx.find_meta(ref_doctype) is None:
            return False
        from ristretto.exceptions import DoesNotExistError
        from ristretto.model import document
        try:
            attached = document.load(ctx, ref_doctype, ref_name)
        except DoesNotExistError:
            return False
        return ctx.perms.has(ctx, ref_doctype, "read", attached)


class NoteRule:
    """Frappe's Note rule: a note is for its owner unless it is public. The list condition
    holds for every user, Administrator included (Frappe applies list conditions to all);
    per document, Administrator may still open any note, as every check lets them."""

    def conditions(self, ctx: "Context", meta: "Meta") -> list[tuple[str, list]]:
        t = quote(meta.table)
        if not meta.has_column("public"):
            return [(f"{t}.\"owner\" = ?", [ctx.user])]
        return [(f"({t}.\"owner\" = ? OR {t}.\"public\" = 1)", [ctx.user])]

    def allows(self, ctx: "Context", meta: "Meta", doc: Any, ptype: str) -> bool:
        # A new note will be owned by the user creating it.
        return bool(cint(doc.d.get("public"))) or getattr(doc, "is_new", False) or doc.d.get("owner") == ctx.user


def builtin_rules() -> dict[str, list[Any]]:
    return {"ToDo": [ToDoRule()], "File": [FileRule()], "Note": [NoteRule()]}


class DocPermPolicy:
    """The role permissions plus the rule registry.

    ``rules`` maps a DocType to rule objects with ``conditions(ctx, meta)`` (SQL conditions
    for lists, asked for every user, Administrator included, as Frappe asks its
    ``permission_query_conditions``) and ``allows(ctx, meta, doc, ptype)`` (per document,
    never asked for Administrator). Like Frappe's permission hooks, a rule can only take
    rights away: every rule of a DocType must allow. Apps add theirs after the built-in ones.
    """

    def __init__(self, user_permissions=None, rules: Iterable[tuple[str, Any]] = ()):
        # Callable (ctx) -> list of User Permission rows for ctx.user (cached by the caller).
        self.user_permissions = user_permissions
        self.rules = builtin_rules()
        for doctype, rule in rules:
            self.rules.setdefault(doctype, []).append(rule)

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
        if doc is None or getattr(doc, "d", None) is None:
            return True
        if ptype in ps.owner_only and not getattr(doc, "is_new", False):
            owner = doc.d.get("owner") or ""
            if owner.lower() != ctx.user.lower():
                return False
        for rule in self.rules.get(doctype, ()):
            if not rule.allows(ctx, meta, doc, ptype):
                return False
        return self._user_permissions_allow(ctx, meta, doc)

    def check(self, ctx: "Context", doctype: str, ptype: str, doc: Any = None) -> None:
        if not self.has(ctx, doctype, ptype, doc):
            raise _deny(ctx, doctype, ptype, doc)

    def can_read_doctype(self, ctx: "Context", doctype: str) -> bool:
        return self.has(ctx, doctype, "read") or self.has(ctx, doctype, "select")

    def list_conditions(self, ctx: "Context", meta: "Meta") -> list[tuple[str, list]]:
        conditions: list[tuple[str, list]] = []
        for rule in self.rules.get(meta.name, ()):
            conditions.extend(rule.conditions(ctx, meta))
        if ctx.user == "Administrator":
            return conditions
        ps = self.permset(ctx, meta)
        read_via = "read" if "read" in ps.granted else "select"
        if read_via in ps.owner_only:
            conditions.append((f"{quote(meta.table)}.\"owner\" = ?", [ctx.user]))
        conditions.extend(self._user_permission_conditions(ctx, meta))
        return conditions

    # --- User Permissions ---------------------------------------------------------------

    def _allowed_values(self, ctx: "Context", meta: "Meta") -> dict[str, set[str]]:
        """Target DocType -> allowed names, for the User Permissions that apply to ``meta``."""
        if self.user_permissions is None or ctx.user in ("Administrator", "Guest"):
            return {}
        allowed: dict[str, set[str]] = {}
        for row in self.user_permissions(ctx):
            # Frappe's get_allowed_docs_for_doctype: a permission limited to another DocType
            # (``applicable_for``) does not restrict this one, not even the allowed DocType itself.
            # ``apply_to_all_doctypes`` is a form switch that clears ``applicable_for``; Frappe
            # reads only ``applicable_for`` when evaluating.
            applies = not row.get("applicable_for") or row.get("applicable_for") == meta.name
            if applies and row.get("allow") and row.get("for_value") is not None:
                allowed.setdefault(row["allow"], set()).add(str(row["for_value"]))
        return allowed

    def _restricted_links(self, ctx: "Context", meta: "Meta") -> list[tuple[str, set[str]]]:
        allowed = self._allowed_values(ctx, meta)
        if not allowed:
            return []
        out = []
        if meta.name in allowed:
            out.append(("name", allowed[meta.name]))
        out.extend(_link_restrictions(meta, allowed))
        return out

    def _user_permission_conditions(self, ctx: "Context", meta: "Meta") -> list[tuple[str, list]]:
        restricted = self._restricted_links(ctx, meta)
        if not restricted:
            return []
        strict = bool(ctx.site_config.get("apply_strict_user_permissions"))
        conditions = []
        t = quote(meta.table)
        for fieldname, values in restricted:
            marks = ", ".join("?" * len(values))
            column = f"{t}.{quote(fieldname)}"
            if fieldname == "name" or strict:
                conditions.append((f"{column} IN ({marks})", sorted(values)))
            else:
                conditions.append((f"(COALESCE({column}, '') = '' OR {column} IN ({marks}))", sorted(values)))
        return conditions

    def _user_permissions_allow(self, ctx: "Context", meta: "Meta", doc: Any) -> bool:
        """The document and its child rows pass the user's User Permissions (05 § 6)."""
        allowed = self._allowed_values(ctx, meta)
        if not allowed:
            return True
        strict = bool(ctx.site_config.get("apply_strict_user_permissions"))
        checks: list[tuple[Any, list[tuple[str, set[str]]]]] = [(doc.d, self._restricted_links(ctx, meta))]
        for rows in (getattr(doc, "children", None) or {}).values():
            for row in rows:
                # Child rows' Link fields, judged with the parent's applicable permissions.
                checks.append((row.d, _link_restrictions(row.meta, allowed)))
        for values, restrictions in checks:
            for fieldname, permitted in restrictions:
                value = values.get(fieldname)
                if fieldname == "name":
                    if getattr(doc, "is_new", False):
                        continue
                elif value in (None, "") and not strict:
                    continue
                if str(value) not in permitted:
                    return False
        return True

    def readable_fields(self, ctx: "Context", meta: "Meta", of: "Meta | None" = None) -> set[str] | None:
        """Fields of ``of`` (default ``meta``) the user may read under ``meta``'s rules; None = all."""
        target = of or meta
        if ctx.user == "Administrator":
            return None
        ps = self.permset(ctx, meta)
        if "read" not in ps.granted and target is meta:
            # Select only: the name and the fields shown in link searches.
            allowed = {"name"}
            if meta.title_field:
                allowed.add(meta.title_field)
            allowed.update(f.strip() for f in meta.search_fields.split(",") if f.strip())
            return allowed
        return _fields_at(target, ps.read_levels)

    def writable_fields(self, ctx: "Context", meta: "Meta", of: "Meta | None" = None) -> set[str] | None:
        if ctx.user == "Administrator":
            return None
        ps = self.permset(ctx, meta)
        return _fields_at(of or meta, ps.write_levels | {0})

    def level_access(self, ctx: "Context", meta: "Meta", ptype: str) -> frozenset[int]:
        return self.permset(ctx, meta).level_access(ptype)


def _link_restrictions(meta: "Meta", allowed: dict[str, set[str]]) -> list[tuple[str, set[str]]]:
    """(Link field, allowed values) for the Link fields of ``meta`` that User Permissions restrict."""
    return [(f.fieldname, allowed[f.options]) for f in meta.data_fields
            if f.fieldtype == "Link" and f.options in allowed and not f.ignore_user_permissions]


def _fields_at(meta: "Meta", levels: frozenset[int]) -> set[str] | None:
    # Kept per DocType definition (a new Meta when its fields change); callers get their own set.
    key = ("fields_at", levels)
    cache = meta.sql_cache
    if key not in cache:
        if all(f.permlevel in levels for f in meta.fields if f.fieldname):
            cache[key] = None
        else:
            cache[key] = frozenset(meta.standard_fields).union(
                f.fieldname for f in meta.fields if f.fieldname and f.permlevel in levels)
    allowed = cache[key]
    return None if allowed is None else set(allowed)
