"""The one method dispatch of every API version: a registered method, run by Frappe's rules.

``/api/method/<name>``, ``/api/v1/method/<name>``, ``/api/v2/method/<name>`` and the legacy
``cmd=<name>`` all come here; each version only wraps the result in its own envelope.
Only registered names resolve: a dotted path from a request is never imported.
"""

from __future__ import annotations

from typing import Any

from ristretto import exceptions as exc
from ristretto.api.asgi import Response
from ristretto.api.authn import UNSAFE, PasswordWork
from ristretto.api.call import Call
from ristretto.api.storage import StorageWork

# Results every version passes on unwrapped: a whole answer (a download, OAuth's own JSON),
# or a password to check (bytes to store) off the event loop before the method runs again.
UNWRAPPED = (Response, PasswordWork, StorageWork)


def call_method(call: Call, name: str) -> Any:
    """Run the registered method ``name`` with the request's arguments; its result."""
    method = call.methods.get(name)
    if method is None:
        raise exc.ValidationError(f"Failed to get method for command {name} with method not registered",
                                  title="Method not found")
    ctx = call.ctx
    guest = ctx.user == "Guest"
    if guest and not method.allow_guest:
        raise exc.PermissionError(
            "<details><summary>You are not permitted to access this resource.</summary>"
            f"Function <b>{name}</b> is not whitelisted.</details>", title="Method Not Allowed")
    verb = call.request.method
    if verb not in method.verbs:
        raise exc.PermissionError("Not permitted")
    kwargs = method.bind(call.form, sanitize=guest and not method.xss_safe)
    if method.commit and verb not in UNSAFE:
        # A method that must persist on any verb (logout): its own committed transaction
        # instead of the request's rolled-back one.
        conn = ctx.db
        conn.rollback()
        with conn.transaction(write=True):
            result = method.fn(call, **kwargs)
        conn.when_durable(lambda ok: ctx.run_callbacks(committed=ok))
        return result
    return method.fn(call, **kwargs)
