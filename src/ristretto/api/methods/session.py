"""``ping``, ``version``, ``login``, ``logout`` and ``frappe.auth.get_logged_user``."""

from __future__ import annotations

from ristretto import __version__
from ristretto.api.authn import clear_session_cookies
from ristretto.api.call import Call
from ristretto.api.registry import whitelist
from ristretto.auth import sessions
from ristretto.exceptions import PermissionError


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


@whitelist("logout", allow_guest=True)
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
