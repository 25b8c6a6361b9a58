"""REST v1: ``/api/resource/<doctype>[/<name>]`` (also under ``/api/v1``)."""

from __future__ import annotations

from typing import Any

from ristretto.api import conditional, docmethods
from ristretto.api.args import document_payload, truthy_arg
from ristretto.api.call import Call
from ristretto.model import document, listing


def list_docs(call: Call, doctype: str) -> dict[str, Any]:
    form = call.form
    if "limit_page_length" in form:
        page = form.get("limit_page_length")
    else:
        page = form.get("limit") or 20
    as_dict = truthy_arg(form.get("as_dict"), True)
    debug = truthy_arg(form.get("debug"), False)
    rows = listing.get_list(
        call.ctx, doctype,
        fields=form.get("fields"), filters=form.get("filters"), or_filters=form.get("or_filters"),
        order_by=form.get("order_by"), group_by=form.get("group_by"),
        limit=listing.page_length(call.ctx, page), offset=listing.parse_offset(form.get("limit_start")),
        as_dict=as_dict, debug=debug, parent=form.get("parent"), stream=True)
    out: dict[str, Any] = {"data": rows}
    return out


def create_doc(call: Call, doctype: str) -> dict[str, Any]:
    payload = document_payload(call.form, call.request)
    payload.pop("doctype", None)
    name = payload.pop("name", None)
    doc = document.insert(call.ctx, doctype, payload, name=name)
    conditional.tag(call, doc)
    return {"data": document.visible_dict(call.ctx, doc, no_nulls=True)}


def read_doc(call: Call, doctype: str, name: str) -> dict[str, Any]:
    if "run_method" in call.form:
        return run_doc_method(call, doctype, name)
    return conditional.read_document(call, doctype, name)


def update_doc(call: Call, doctype: str, name: str) -> dict[str, Any]:
    payload = document_payload(call.form, call.request)
    for key in ("doctype", "name", "flags"):
        payload.pop(key, None)
    doc = document.update(call.ctx, doctype, name, payload, expect=conditional.expect(call))
    conditional.tag(call, doc)
    return {"data": document.visible_dict(call.ctx, doc, no_nulls=True)}


def delete_doc(call: Call, doctype: str, name: str) -> dict[str, Any]:
    document.delete(call.ctx, doctype, name, expect=conditional.expect(call))
    return {"data": "ok", "message": "ok"}


def run_doc_method(call: Call, doctype: str, name: str) -> dict[str, Any]:
    """``run_method=<m>``: a whitelisted document method (``ristretto.api.docmethods``)."""
    return docmethods.run_on_stored(call, doctype, name)
