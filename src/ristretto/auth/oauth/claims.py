"""The OpenID Connect claims of a user, as Frappe's userinfo, introspection and id_token carry them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ristretto.auth.users import user_info
from ristretto.db.dialects import quote

if TYPE_CHECKING:
    from ristretto.model.context import Context

# Roles every user holds implicitly; Frappe's ``roles`` claim lists those of the user record
# (plus these, as frappe.get_roles does).
_USER = quote("tabUser")


def user_claims(ctx: "Context", user: str, issuer: str) -> dict:
    """``sub``, ``name``, ``given_name``, ``family_name``, ``email``, ``picture``, ``roles``, ``iss``."""
    row = ctx.db.one(f"SELECT first_name, last_name, email, user_image FROM {_USER} WHERE name = ?", (user,))
    first, last, email, image = row if row else (None, None, None, None)
    info = user_info(ctx.db, user)
    picture = None
    if image:
        picture = image if image.startswith(("http://", "https://")) else issuer + "/" + image.lstrip("/")
    return {
        # The user's name is their stable identifier here (Frappe uses a per-provider id).
        "sub": user,
        "name": " ".join(p for p in (first, last) if p) or user,
        "given_name": first,
        "family_name": last,
        "email": email,
        "picture": picture,
        "roles": sorted(info.roles) if info else [],
        "iss": issuer,
    }
