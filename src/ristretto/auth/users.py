"""Users: the User controller (naming, full name, secrets) and role look-ups."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ristretto.auth import passwords, sessions
from ristretto.db import state
from ristretto.db.connection import Connection
from ristretto.db.dialects import quote
from ristretto.exceptions import ValidationError

if TYPE_CHECKING:
    from ristretto.model.context import Context
    from ristretto.model.document import Document

SPECIAL_USERS = ("Administrator", "Guest")
_ALPHANUM = string.ascii_letters + string.digits


def random_string(length: int) -> str:
    return "".join(secrets.choice(_ALPHANUM) for _ in range(length))


class RoleController:
    """Role and User Permission changes alter what cached users may do."""

    def on_update(self, ctx: "Context", doc: "Document") -> None:
        state.bump(ctx.db, state.AUTH)

    def after_delete(self, ctx: "Context", doc: "Document") -> None:
        state.bump(ctx.db, state.AUTH)


class UserController:
    """Users are named by their e-mail; passwords and API secrets go to ``__Auth``, hashed."""

    def autoname(self, ctx: "Context", doc: "Document", name: Any) -> bool:
        if name in SPECIAL_USERS and ctx.flags.get("install"):
            doc.name = name
            return True
        email = (doc.d.get("email") or "").strip().lower()
        if not email:
            raise ValidationError("Email is required", title="Missing value")
        doc.d["email"] = email
        doc.name = email
        return True

    def validate(self, ctx: "Context", doc: "Document") -> None:
        d = doc.d
        d["full_name"] = " ".join(p for p in (d.get("first_name"), d.get("middle_name"), d.get("last_name")) if p)
        if not d.get("user_type"):
            d["user_type"] = "System User"
        if doc.name in SPECIAL_USERS:
            d["enabled"] = 1 if doc.name == "Administrator" else d.get("enabled", 1)
        password = d.get("new_password")
        if password:
            if len(password) > passwords.MAX_PASSWORD_LENGTH:
                raise ValidationError("Password size exceeded the maximum allowed size", title="Invalid password")
            passwords.store(ctx.db, "User", str(doc.name), "password", passwords.hash_password(password))
            d["new_password"] = None
            # A new password ends every session of the user.
            sessions.delete_for_user(ctx.db, str(doc.name))
        secret = d.get("api_secret")
        if secret and set(secret) != {"*"}:
            passwords.store(ctx.db, "User", str(doc.name), "api_secret", passwords.digest_secret(secret))
        if secret:
            d["api_secret"] = "*" * 8
        if d.get("enabled") in (0, "0") and doc.previous is not None:
            sessions.delete_for_user(ctx.db, str(doc.name))
        # Cached users, roles and keys of every worker are stale from here on.
        state.bump(ctx.db, state.AUTH)

    def on_trash(self, ctx: "Context", doc: "Document") -> None:
        if doc.name in SPECIAL_USERS:
            raise ValidationError(f"User {doc.name} cannot be deleted", title="Not allowed")

    def after_delete(self, ctx: "Context", doc: "Document") -> None:
        passwords.remove_all(ctx.db, "User", str(doc.name))
        sessions.delete_for_user(ctx.db, str(doc.name))


@dataclass(frozen=True)
class UserInfo:
    name: str
    enabled: bool
    user_type: str
    full_name: str
    roles: frozenset[str]


def user_info(conn: Connection, user: str) -> UserInfo | None:
    """Enabled flag, type, full name and effective roles of a user (None if unknown)."""
    row = conn.one(f"SELECT name, enabled, user_type, full_name FROM {quote('tabUser')} WHERE name = ?", (user,))
    if row is None:
        return None
    if user == "Guest":
        roles = frozenset({"Guest"})
    else:
        rows = conn.sql(f"SELECT role FROM {quote('tabHas Role')} WHERE parent = ? AND parenttype = 'User'", (user,))
        roles = {r[0] for r in rows if r[0]} | {"All", "Guest"}
        if user == "Administrator":
            roles |= {r[0] for r in conn.sql(f"SELECT name FROM {quote('tabRole')}")} | {"Administrator"}
        if (row[2] or "System User") == "System User":
            roles.add("Desk User")
        roles = frozenset(roles)
    enabled = bool(row[1]) or user == "Administrator"
    return UserInfo(name=row[0], enabled=enabled, user_type=row[2] or "System User",
                    full_name=row[3] or row[0], roles=roles)


def find_login_user(conn: Connection, login: str) -> str | None:
    """The user a login identifier names: the user name or e-mail (case-insensitive)."""
    if not login or "\x00" in login:
        return None  # no user name holds a NUL (and PostgreSQL text cannot compare with one)
    row = conn.one(f"SELECT name FROM {quote('tabUser')} WHERE name = ?", (login,))
    if row is None:
        row = conn.one(f"SELECT name FROM {quote('tabUser')} WHERE lower(email) = lower(?) OR lower(name) = lower(?)",
                       (login, login))
    return row[0] if row else None
