"""v2 method routes: ``/api/v2/method/...``: login, logout, ping, upload_file, dotted methods,
``<DocType>/<method>`` controller-module functions, ``run_doc_method`` and the bulk routes.

Every method runs through the one method dispatch (``ristretto.api.dispatch``) that v1 and the
legacy ``cmd=`` use; v2 only puts the result in ``data`` (a method returning nothing answers
``{}``).
"""

from __future__ import annotations

from typing import Any

from ristretto import exceptions as exc
from ristretto.api import dispatch, docmethods
from ristretto.api.call import Call
from ristretto.api.v2.args import json_arg
from ristretto.api.v2.documents import answer_with_doc, shown
from ristretto.model import bulk

_READS = frozenset({"GET", "QUERY"})


# Methods v2 answers with its own routes and verbs (``routes.py``): reaching the generic route
# means a verb that route refuses (GET on logout), refused like a method called with a wrong verb.
OWN_ROUTES = frozenset({"login", "logout", "upload_file", "bulk_delete", "bulk_update", "run_doc_method"})


def method(call: Call, name: str) -> Any:
    if name in OWN_ROUTES:
        raise exc.PermissionError("Not permitted")
    return _call(call, name)


def _call(call: Call, name: str) -> Any:
    result = dispatch.call_method(call, name)
    # A whole answer (a download, OAuth's JSON) or a password to check first: passed on as is.
    if isinstance(result, dispatch.UNWRAPPED):
        return result
    return {} if result is None else {"data": result}


def login(call: Call) -> Any:
    # The credentials were checked by the pipeline (a login route); this answers like v1's.
    return _call(call, "login")


def logout(call: Call) -> Any:
    return _call(call, "logout")


def upload_file(call: Call) -> Any:
    return _call(call, "upload_file")


def doctype_method(call: Call, doctype: str, method_name: str) -> Any:
    """``<DocType>/<method>``: the function ``method`` of the module that holds the DocType's
    controller (an app's), when that function is a registered method. Only registered names
    resolve, as for every dotted method."""
    meta = call.ctx.get_meta(doctype)  # an unknown DocType is a 404
    controller = call.ctx.registry.controller(meta.name)
    module = getattr(type(controller), "__module__", None) if controller is not None else None
    if module is None or not method_name.isidentifier():
        raise exc.ValidationError(f"Failed to get method {method_name} of {meta.name}: the DocType has no "
                                  "controller module with that method", title="Method not found")
    return _call(call, f"{module}.{method_name}")


def run_doc_method(call: Call) -> dict[str, Any]:
    """``method`` on the in-memory ``document`` (object or JSON text; over the stored one when
    it exists, its ``modified`` checked), with ``kwargs`` (unknown keys dropped): read
    permission for GET/QUERY; for POST write, or the method's own right (submit, cancel, amend)."""
    ctx, form, verb = call.ctx, call.form, call.request.method
    name = form.get("method")
    if not isinstance(name, str) or not name:
        raise exc.FrappeValueError("'method' must be a string", title="Invalid argument")
    document = json_arg(form, "document", dict)
    if document is None:
        raise exc.FrappeValueError("'document' must be a dictionary", title="Invalid argument")
    kwargs = json_arg(form, "kwargs", dict) or {}
    doc = docmethods.doc_from_dict(ctx, document)
    verb = "GET" if verb in _READS else verb
    ctx.perms.check(ctx, doc.doctype, "read", doc)
    target = docmethods.resolve(ctx, doc, name, verb)
    # The rule of every document method: read for a read; write or the method's own right.
    docmethods.check_right(ctx, doc, target, verb)
    result = target.fn(ctx, doc, **docmethods.bind(ctx, target, kwargs))
    return answer_with_doc(ctx, doc, result)


def bulk_delete(call: Call) -> dict[str, Any]:
    """``{"docs": [{"doctype", "name"}, ...]}``: each deleted on its own; failures reported."""
    return {"data": bulk.delete_many(call.ctx, json_arg(call.form, "docs", list))}


def bulk_update(call: Call) -> dict[str, Any]:
    """``{"docs": [{"doctype", "name", <field>: ...}, ...]}``: each saved on its own."""
    ctx = call.ctx
    summary, saved = bulk.update_many(ctx, json_arg(call.form, "docs", list))
    return {"data": summary, "docs": [shown(ctx, d) for d in saved]}


def not_found(call: Call, rest: str = "") -> Any:
    raise exc.DoesNotExistError("Not found", title="Not found")
