"""API key/secret pairs (``Authorization: token key:secret`` and ``Basic``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ristretto.auth import passwords
from ristretto.auth.users import random_string
from ristretto.db.connection import Connection
from ristretto.db.dialects import quote

if TYPE_CHECKING:
    from ristretto.model.context import Context


def generate_keys(ctx: "Context", user: str) -> tuple[str, str]:
    """New secret (the old one stops working at once); a key is created only if missing."""
    from ristretto.model import document
    doc = document.load(ctx, "User", user)
    api_key = doc.d.get("api_key") or random_string(15)
    api_secret = random_string(32)
    document.update(ctx, "User", user, {"api_key": api_key, "api_secret": api_secret})
    return api_key, api_secret


def authenticate(conn: Connection, api_key: str, api_secret: str) -> str | None:
    """The enabled user owning this key pair, or None."""
    if not api_key or not api_secret or len(api_key) > 140 or len(api_secret) > 512:
        return None
    row = conn.one(f"SELECT name, enabled FROM {quote('tabUser')} WHERE api_key = ?", (api_key,))
    if row is None:
        passwords.secret_matches(None, api_secret)  # same work either way
        return None
    user, enabled = row
    digest = passwords.fetch(conn, "User", user, "api_secret")
    if not passwords.secret_matches(digest, api_secret):
        return None
    if not enabled and user != "Administrator":
        return None
    return user
