"""API key/secret pairs (``Authorization: token key:secret`` and ``Basic``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ristretto.auth import passwords
from ristretto.auth.users import random_string
from ristretto.db.connection import Connection
from ristretto.db.dialects import quote
from ristretto.exceptions import ValidationError

if TYPE_CHECKING:
    from ristretto.model.context import Context


def generate_keys(ctx: "Context", user: str) -> tuple[str, str]:
    """New secret (the old one stops working at once); a key is created only if missing."""
    from ristretto.model import document
    doc = document.load(ctx, "User", user)
    if doc.name == "Guest":
        # Keys would authenticate as Guest: nothing gained, and a credential nobody should hold.
        raise ValidationError("API keys cannot be generated for Guest", title="Not allowed")
    api_key = doc.d.get("api_key") or random_string(15)
    api_secret = random_string(32)
    document.update(ctx, "User", user, {"api_key": api_key, "api_secret": api_secret})
    return api_key, api_secret


@dataclass(frozen=True)
class KeyRecord:
    user: str
    digest: str | None
    enabled: bool


def lookup(conn: Connection, api_key: str) -> KeyRecord | None:
    if not api_key or len(api_key) > 140 or "\x00" in api_key:  # no key holds a NUL
        return None
    row = conn.one(f"SELECT name, enabled FROM {quote('tabUser')} WHERE api_key = ?", (api_key,))
    if row is None:
        return None
    user, enabled = row
    return KeyRecord(user, passwords.fetch(conn, "User", user, "api_secret"),
                     bool(enabled) or user == "Administrator")


def check(record: KeyRecord | None, api_secret: str) -> str | None:
    """The user a key record authenticates with ``api_secret``, or None (constant-time compare)."""
    if not api_secret or len(api_secret) > 512:
        return None
    matches = passwords.secret_matches(record.digest if record else None, api_secret)
    if record is None or not matches or not record.enabled:
        return None
    return record.user


def authenticate(conn: Connection, api_key: str, api_secret: str) -> str | None:
    """The enabled user owning this key pair, or None."""
    return check(lookup(conn, api_key), api_secret)
