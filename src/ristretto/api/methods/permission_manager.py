"""Frappe's Role Permissions Manager methods (``frappe.core.page.permission_manager.
permission_manager.*``): thin adapters over ``model.permmanager``, which checks that the
caller is a System Manager and does the work. Each call is one request and so one
transaction: the methods that write answer to POST only (a GET runs in a transaction that is
rolled back), so a copy of the standard rows and the change made on it commit together.
"""

from __future__ import annotations

from ristretto.api.call import Call
from ristretto.model import permmanager
from ristretto.whitelist import whitelist

PREFIX = "frappe.core.page.permission_manager.permission_manager"


@whitelist(f"{PREFIX}.get_roles_and_doctypes", methods=("GET", "POST"))
def get_roles_and_doctypes(call: Call):
    return permmanager.roles_and_doctypes(call.ctx)


@whitelist(f"{PREFIX}.get_permissions", methods=("GET", "POST"))
def get_permissions(call: Call, doctype: str | None = None, role: str | None = None):
    return permmanager.get_permissions(call.ctx, doctype, role)


@whitelist(f"{PREFIX}.add", methods=("POST",))
def add(call: Call, parent: str, role: str, permlevel):
    permmanager.add(call.ctx, parent, role, permlevel)


@whitelist(f"{PREFIX}.update", methods=("POST",))
def update(call: Call, doctype: str, role: str, permlevel, ptype: str, value=None,
           if_owner=0):
    return permmanager.update(call.ctx, doctype, role, permlevel, ptype, value, if_owner)


@whitelist(f"{PREFIX}.remove", methods=("POST",))
def remove(call: Call, doctype: str, role: str, permlevel, if_owner=0):
    permmanager.remove(call.ctx, doctype, role, permlevel, if_owner)


@whitelist(f"{PREFIX}.reset", methods=("POST",))
def reset(call: Call, doctype: str):
    permmanager.reset(call.ctx, doctype)
