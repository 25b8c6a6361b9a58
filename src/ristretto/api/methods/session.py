"""Session methods: ``ping``, ``version``, ``login``, ``logout``, ``get_logged_user``, API keys, CSRF token."""

from __future__ import annotations

import secrets
from dataclasses import replace

from ristretto import __version__
from ristretto.api.authn import clear_session_cookies
from ristretto.api.call import Call
from ristretto.whitelist import whitelist
from ristretto.auth import apikeys, sessions
from ristretto.exceptions import DoesNotExistError, PermissionError, ValidationError
from ristretto.model import document
from ristretto.model.context import AllowAll


@whitelist("ping", allow_guest=True)
def ping(call: Call):
    return "pong"


@whitelist("version", allow_guest=True)
def version(call: Call):
    return __version__


@whitelist("login", allow_guest=True)
def login(call: Call, **kwargs):
    # The login itself happens during request set-up (ristretto.api.authn.login);
    # its response keys are already in call.extra.
    return None


@whitelist("logout", allow_guest=True, commit=True)  # FrappeClient logs out with a GET
def logout(call: Call):
    if call.sid:
        sessions.delete(call.ctx.db, call.sid)
        call.sid = None
    clear_session_cookies(call)
    return None


@whitelist("frappe.auth.get_logged_user")
def get_logged_user(call: Call):
    if call.ctx.user == "Guest":
        raise PermissionError("Not permitted")
    return call.ctx.user


@whitelist("frappe.core.doctype.user.user.generate_keys", methods=["POST"])
def generate_keys(call: Call, user: str):
    """New API secret for ``user`` (System Manager, or the user themself); returned once."""
    ctx = call.ctx
    if not isinstance(user, str) or not user:
        raise ValidationError("Argument 'user' is required", title="Missing argument")
    if ctx.user != user and "System Manager" not in ctx.roles and ctx.user != "Administrator":
        raise PermissionError("Not permitted")
    if not document.exists(ctx, "User", user):
        raise DoesNotExistError(f"User {user} not found", doctype="User")
    # Authorised above; the User document itself may be beyond the caller's DocPerm rights.
    api_key, api_secret = apikeys.generate_keys(replace(ctx, perms=AllowAll()), user)
    return {"api_key": api_key, "api_secret": api_secret}


@whitelist("frappe.sessions.get_csrf_token", methods=["POST"])
def get_csrf_token(call: Call):
    """Mint the CSRF token of the caller's session (what a desk page embeds); from then on
    unsafe requests on this session must send it in ``X-Frappe-CSRF-Token``."""
    if not call.sid:
        raise PermissionError("Not permitted")
    token = secrets.token_urlsafe(24)
    sessions.set_csrf_token(call.ctx.db, call.sid, token)
    return token
