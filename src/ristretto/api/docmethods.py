"""Document methods: whitelisted controller methods called on one document.

Reached through ``GET|POST /api/resource/<dt>/<name>`` with ``run_method``
(``resource.run_doc_method``) and the legacy RPC ``run_doc_method`` /
``runserverobj`` defined here.

A document method is a controller method marked with
``ristretto.apps.whitelisted_method``, called as ``method(ctx, doc, **kwargs)``.
Every DocType also has the built-in methods ``submit``, ``cancel``, ``amend``, ``rename``
(``name``, ``merge``) and ``add_comment`` (``text``), all POST.
Anything else, including hooks such as ``validate`` and names that do not exist,
is refused with the same 403 "Not permitted", so a client cannot probe which
methods a controller has.
"""

from __future__ import annotations

import inspect
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from ristretto.api import conditional, jsonargs
from ristretto.api.call import Call
from ristretto.whitelist import Method, Param, whitelist
from ristretto.whitelist import _annotation_kind as annotation_kind
from ristretto.apps import doc_method_verbs
from ristretto.exceptions import (
    DoesNotExistError, PermissionError, TimestampMismatchError, ValidationError,
)
from ristretto.model import document
from ristretto.model.context import Context
from ristretto.model.document import Document
from ristretto.model import etags

POST_ONLY = frozenset({"POST"})


# --- built-in methods ------------------------------------------------------------------------

def _submit(ctx: Context, doc: Document) -> Document:
    if doc.is_new:
        # An unsaved document (legacy ``docs``): Frappe's submit inserts it submitted.
        return document.insert(ctx, doc.doctype, {**doc.as_dict(), "docstatus": 1}, name=doc.name)
    # A document built from client values over the stored one saves those values too.
    changes = doc.as_dict() if doc.previous is not None else None
    return document.submit(ctx, doc.doctype, doc.name, changes)


def _cancel(ctx: Context, doc: Document) -> Document:
    return document.cancel(ctx, doc.doctype, doc.name)


def _amend(ctx: Context, doc: Document) -> Document:
    """The new draft amending this cancelled document."""
    from ristretto.model import lifecycle
    return lifecycle.amend(ctx, doc.doctype, doc.name)


def _rename(ctx: Context, doc: Document, name: str, merge: bool = False) -> Document:
    """Rename this document to ``name`` (or merge it into that existing one): the document as
    it is afterwards."""
    from ristretto.model import rename
    new = rename.rename(ctx, doc.doctype, doc.name, name, merge)
    return document.load(ctx, doc.doctype, doc.name if new is None else new)


def _add_comment(ctx: Context, doc: Document, text: str | None = None, content: str | None = None,
                 comment_type: str = "Comment", comment_email: str | None = None,
                 comment_by: str | None = None) -> dict:
    """``doc.add_comment(text=...)``: the caller already holds write permission on ``doc``."""
    from ristretto.model.comments import add_comment
    return add_comment(ctx, doc, text if text is not None else content, comment_type=comment_type,
                       comment_by=comment_by).as_dict()


BUILTINS: dict[str, tuple[frozenset[str], Callable[..., Any]]] = {
    "submit": (POST_ONLY, _submit),
    "cancel": (POST_ONLY, _cancel),
    "amend": (POST_ONLY, _amend),
    "rename": (POST_ONLY, _rename),
    "add_comment": (POST_ONLY, _add_comment),
}
# The right a POST of these built-ins needs on the document instead of ``write``; the model
# operation then checks what it does (submit and cancel also need write, amend needs create).
BUILTIN_RIGHTS = {"submit": "submit", "cancel": "cancel", "amend": "amend"}


def required_right(method_name: str, verb: str) -> str:
    """The permission a document method needs before it runs: ``read`` for GET; for other
    verbs ``write``, or the built-in's own right (submit, cancel, amend)."""
    if verb == "GET":
        return "read"
    return BUILTIN_RIGHTS.get(method_name, "write")


def check_right(ctx: Context, doc: Document, method: Method, verb: str) -> None:
    """Raise PermissionError unless the user holds ``required_right`` on ``doc``. A controller
    method named like a built-in is the controller's: it needs ``write``."""
    builtin = method.fn is BUILTINS.get(method.name, (None, None))[1]
    right = required_right(method.name, verb) if builtin or verb == "GET" else "write"
    ctx.perms.check(ctx, doc.doctype, right, doc)


# --- resolution and binding ------------------------------------------------------------------

def not_permitted() -> PermissionError:
    # A plain error without ``error_message``: the body has exactly Frappe's four keys.
    return PermissionError("Not permitted")


def resolve(ctx: Context, doc: Document, name: Any, verb: str) -> Method:
    """The whitelisted method ``name`` of ``doc`` allowing ``verb``; 403 otherwise."""
    if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
        raise not_permitted()
    controller = ctx.registry.controller(doc.doctype)
    fn = getattr(controller, name, None) if controller is not None else None
    verbs = doc_method_verbs(fn) if callable(fn) else None
    if verbs is None:
        if name not in BUILTINS:
            raise not_permitted()
        verbs, fn = BUILTINS[name]
    if verb not in verbs:
        raise not_permitted()
    return _describe(name, fn, verbs)


def _describe(name: str, fn: Callable, verbs: frozenset[str]) -> Method:
    """The method as the registry describes functions, so arguments bind by the same rules."""
    params: list[Param] = []
    takes_kwargs = False
    for p in list(inspect.signature(fn).parameters.values())[2:]:  # after (ctx, doc)
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            takes_kwargs = True
        elif p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY):
            kind, nullable = annotation_kind(p.annotation)
            params.append(Param(p.name, p.default is inspect.Parameter.empty, kind,
                                nullable or p.default is None))
    return Method(name, fn, verbs, False, tuple(params), takes_kwargs, call_param="ctx")


def bind(ctx: Context, method: Method, args: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments from request arguments: unknown ones dropped, annotated ones checked."""
    args = {k: v for k, v in args.items() if k not in ("doc", "run_method")}
    return method.bind(args, sanitize=ctx.user == "Guest")


def to_json(ctx: Context, value: Any) -> Any:
    """A method result as JSON data: documents become dicts without nulls, as in Frappe,
    holding only the fields the user may read."""
    if isinstance(value, Document):
        return document.visible_dict(ctx, value, no_nulls=True)
    if isinstance(value, (list, tuple)):
        return [to_json(ctx, v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(ctx, v) for k, v in value.items()}
    return value


@contextmanager
def rolled_back_on_get(call: Call) -> Iterator[None]:
    """A GET never writes: run it in a transaction that is always rolled back.

    Reads of ``/api/resource`` otherwise run without a transaction (each statement
    in autocommit), where a method's writes would stick.
    """
    conn = call.ctx.db
    if call.request.method != "GET" or conn.in_transaction:
        yield
        return
    conn.begin(write=False)
    try:
        yield
    finally:
        conn.rollback()
        call.ctx.run_callbacks(committed=False)


# --- v1: /api/resource/<dt>/<name> with run_method -----------------------------------------

def run_on_stored(call: Call, doctype: str, name: str) -> dict[str, Any]:
    """``run_method=<m>`` on a stored document (``run_stored``)."""
    method_name = call.form.get("run_method")
    if method_name in (None, ""):
        raise ValidationError("Missing argument: run_method", title="Missing argument")
    return run_stored(call, doctype, name, method_name)


def run_stored(call: Call, doctype: str, name: str, method_name: Any) -> dict[str, Any]:
    """v1's answer of a method on a stored document (``call_stored``)."""
    with rolled_back_on_get(call):
        _, result = call_stored(call, doctype, name, method_name, call.request.method)
        return {"data": to_json(call.ctx, result)}


def call_stored(call: Call, doctype: str, name: str, method_name: Any, verb: str) -> tuple[Document, Any]:
    """Run a method on a stored document, for every API version: read permission for a read
    (``verb`` GET); for POST write, or the built-in's own right (``required_right``).
    ``If-Match`` is checked against the document locked for the transaction, so the method runs
    on the version the client named (412 otherwise); ``If-None-Match`` is not: a method's answer
    is not the document's representation. The document and the method's result."""
    ctx = call.ctx
    cond = conditional.expect(call)
    if cond is not None:
        cond = etags.Preconditions(cond.if_match) if cond.if_match is not None else None
    doc = document.get_doc(ctx, doctype, name, for_update=cond is not None and verb != "GET")
    method = resolve(ctx, doc, method_name, verb)
    check_right(ctx, doc, method, verb)
    etags.check(ctx, doc, cond)
    return doc, method.fn(ctx, doc, **bind(ctx, method, call.form))


# --- legacy RPC: run_doc_method / runserverobj ---------------------------------------------

@whitelist("run_doc_method", "runserverobj", "frappe.desk.form.run_method.runserverobj",
           methods=("GET", "POST"))
def run_doc_method(call: Call, method: str, docs: Any = None, dt: str | None = None, dn: str | None = None,
                   arg: Any = None, args: Any = None):
    """Frappe's desk-style call: ``dt`` + ``dn`` (stored) or ``docs`` (in memory); ``read`` permission."""
    ctx = call.ctx
    if dt:
        doc = document.get_doc(ctx, dt, dn or dt)  # dn defaults to dt: a single DocType
    else:
        doc = doc_from_dict(ctx, docs)
        ctx.perms.check(ctx, doc.doctype, "read", doc)
    target = resolve(ctx, doc, method, call.request.method)
    kwargs = _legacy_args(ctx, target, args if args not in (None, "") else (arg if arg is not None else ""))
    result = target.fn(ctx, doc, **kwargs)
    call.extra["docs"] = [document.visible_dict(ctx, current(ctx, doc, result), no_nulls=True)]
    return to_json(ctx, result)


def _legacy_args(ctx: Context, method: Method, args: Any) -> dict[str, Any]:
    """Frappe's rules: no parameters → nothing; a parameter ``args`` or a non-dict → that
    one value, positionally; a dict → keyword arguments (unknown keys dropped)."""
    # Text that is not JSON is a plain scalar string.
    args = jsonargs.maybe_json(args, "args", limit=jsonargs.MAX_DOC_TEXT)[1]
    names = tuple(p.name for p in method.params)
    if not names and not method.takes_kwargs:
        return {}
    if "args" in names or not isinstance(args, dict):
        return {"args" if "args" in names else names[0]: args} if names else {}
    return bind(ctx, method, args)


def doc_from_dict(ctx: Context, docs: Any) -> Document:
    """An in-memory document from a client dict; over the stored one when it exists."""
    docs = jsonargs.json_arg(docs, "docs", limit=jsonargs.MAX_DOC_TEXT)
    if isinstance(docs, list) and len(docs) == 1:
        docs = docs[0]
    if not isinstance(docs, dict) or not isinstance(docs.get("doctype"), str):
        raise ValidationError("Argument 'docs' must be a document with a doctype (or give dt and dn)",
                              title="Invalid argument")
    doctype = docs["doctype"]
    meta = ctx.get_meta(doctype)
    docs = jsonargs.table_values(meta, dict(docs))
    name = meta.name if meta.issingle else docs.get("name")
    if name not in (None, "") and document.exists(ctx, doctype, name):
        stored = document.load(ctx, doctype, name)
        modified = docs.get("modified")
        if modified not in (None, "") and str(modified) != str(stored.d.get("modified")):
            raise TimestampMismatchError(
                f"Error: Document has been modified after you have opened it ({stored.d.get('modified')}, "
                f"{modified}). Please refresh to get the latest document.", title="Document Modified")
        doc = document.new_doc(ctx, doctype, {**stored.as_dict(), **docs})
        for key in ("name", "owner", "creation", "modified", "modified_by"):
            doc.d[key] = stored.d.get(key)
        doc.is_new = False
        doc.previous = stored
        return doc
    doc = document.new_doc(ctx, doctype, docs)
    doc.name = name if name not in (None, "") else None
    return doc


def current(ctx: Context, doc: Document, result: Any) -> Document:
    """The document as it is after the method (for the response's ``docs``)."""
    if isinstance(result, Document) and result.doctype == doc.doctype:
        return result
    if doc.name is not None:
        try:
            return document.load(ctx, doc.doctype, doc.name)
        except DoesNotExistError:
            pass
    return doc
