"""``frappe.client.*``: the RPC methods FrappeClient, the JS SDK and desk code call.

These are thin adapters: each reads its arguments (request text is decoded by
``ristretto.api.jsonargs``), calls the model (``document``, ``listing``, ``clientops``,
``lookups``), where every permission is checked as on the REST routes, and shapes the
answer. Behaviour follows Frappe v15's ``frappe/client.py``, including its quirks:

* arguments documented as JSON accept JSON text or the native value;
* ``get``, ``insert``, ``save``, ``set_value``, ``submit`` and ``cancel`` return the
  full document dict *with* null fields (unlike ``/api/resource``), less the fields
  above the caller's permlevels;
* a child row inserted or updated through these methods is saved through its
  parent, and the parent is returned;
* writers are whitelisted for POST/PUT only (``delete``: DELETE/POST);
* ``insert_many`` is all or nothing, ``bulk_update`` reports failures per item.

Not here: ``attach_file`` (file storage belongs to the files module).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from ristretto.api import jsonargs
from ristretto.api.args import truthy_arg
from ristretto.api.call import Call
from ristretto.api.errors import format_traceback, may_see_tracebacks
from ristretto.whitelist import whitelist
from ristretto.db.query import MAX_FIELDS_TEXT
from ristretto.exceptions import FrappeError, PermissionError, ValidationError
from ristretto.meta.doctype import CHILD_FIELDS, STANDARD_FIELDS
from ristretto.model import clientops, document, listing, lookups, passwords, rename
from ristretto.model.context import Context
from ristretto.model.document import Document

log = logging.getLogger("ristretto")
WRITE_VERBS = ("POST", "PUT")
MAX_INSERTS = 200
# Frappe's default_fields + child_table_fields: set_value refuses them.
_STANDARD_FIELDNAMES = frozenset(("doctype",) + STANDARD_FIELDS + CHILD_FIELDS)


# --- argument shapes (request text decoded by ristretto.api.jsonargs) ----------------------------

def _safe_filters(value: Any) -> Any:
    """Frappe's ``get_safe_filters``: JSON filters, or else the text itself (a document name)."""
    decoded, parsed = jsonargs.maybe_json(value, "filters")
    if decoded:
        # A number is a name ("5"), like any other text that is not a filter structure.
        return parsed if isinstance(parsed, (dict, list, str)) or parsed is None else value
    if isinstance(parsed, (int, float)) and not isinstance(parsed, bool):
        return str(parsed)
    return parsed


def _name_filters(value: Any) -> Any:
    """Filters where a plain string means ``{"name": ...}``; empty filters mean none."""
    filters = _safe_filters(value)
    if isinstance(filters, str):
        return {"name": filters}
    if filters in (None, {}, []) or not isinstance(filters, (dict, list)):
        return None
    return filters


def _fieldnames(value: Any) -> list:
    """``fieldname`` of get_value: one name, or a JSON array of names (non-JSON text is one name)."""
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        decoded, parsed = jsonargs.maybe_json(value, "fieldname")
        if not decoded:
            return [value]
        if isinstance(parsed, list):
            return parsed
        return [parsed] if isinstance(parsed, str) else [value]
    raise ValidationError("fieldname must be a field name or a list of field names", title="Invalid argument")


def _with_tables(ctx: Context, data: dict) -> dict:
    """A document dict with its child tables sent as text (JSON in a form field) decoded."""
    meta = ctx.find_meta(data["doctype"]) if isinstance(data.get("doctype"), str) else None
    return jsonargs.table_values(meta, data) if meta is not None else data


def _doc(ctx: Context, value: Any) -> dict:
    """The ``doc`` argument: a JSON object describing one document."""
    return _with_tables(ctx, jsonargs.object_arg(value, "doc"))


def _docs(ctx: Context, value: Any) -> list[dict]:
    """The ``docs`` argument: a JSON array of such objects."""
    return [_with_tables(ctx, item) for item in jsonargs.objects_arg(value, "docs")]


def _shown(ctx: Context, doc: Document) -> dict:
    """A document as these methods return it: with null fields (unlike /api/resource),
    without the fields above the user's permlevels."""
    return document.visible_dict(ctx, doc)


# --- reading ------------------------------------------------------------------------------------

@whitelist("frappe.client.get_list")
def get_list(call: Call, doctype: str, fields=None, filters=None, group_by=None, order_by=None,
             limit_start=None, limit_page_length=20, parent=None, debug: bool = False, as_dict: bool = True,
             or_filters=None):
    # limit / start / page_length are not parameters here: Frappe ignores them too.
    return listing.get_list(
        call.ctx, doctype, fields=jsonargs.loose_arg(fields, "fields", limit=MAX_FIELDS_TEXT),
        filters=jsonargs.loose_arg(filters, "filters"), or_filters=jsonargs.loose_arg(or_filters, "or_filters"),
        order_by=order_by,
        group_by=group_by, limit=listing.page_length(call.ctx, limit_page_length),
        offset=listing.parse_offset(limit_start), as_dict=as_dict, debug=debug,
        parent=parent if isinstance(parent, str) else None, stream=True)


@whitelist("frappe.client.get_count")
def get_count(call: Call, doctype: str, filters=None, debug: bool = False, cache=None):
    # or_filters, distinct and limit are read from the whole request, as Frappe's count does.
    form = call.form
    parent = form.get("parent")
    return listing.get_count(
        call.ctx, doctype, filters=_name_filters(filters),
        or_filters=jsonargs.loose_arg(form.get("or_filters"), "or_filters"), distinct=truthy_arg(form.get("distinct"), False), limit=listing.parse_limit(form.get("limit"), None),
        debug=debug, parent=parent if isinstance(parent, str) else None)


@whitelist("frappe.client.get")
def get(call: Call, doctype: str, name: str | None = None, filters=None, parent=None):
    ctx = call.ctx
    meta = ctx.get_meta(doctype)
    if meta.istable:
        lookups.check_parent(ctx, doctype, parent)
    if name:
        doc = document.get_doc(ctx, doctype, name)
    elif filters is not None and filters != "":
        doc = document.get_doc(ctx, doctype, lookups.first_match(ctx, meta, _name_filters(filters), parent))
    else:
        doc = document.get_doc(ctx, doctype, doctype)  # the Single's record (404 for others)
    return _shown(ctx, doc)


@whitelist("frappe.client.get_value")
def get_value(call: Call, doctype: str, fieldname, filters=None, as_dict: bool = True, debug: bool = False,
              parent=None):
    fields = _fieldnames(fieldname)
    rows = lookups.get_values(call.ctx, doctype, fields, _name_filters(filters), as_dict=as_dict, debug=debug,
                              parent=parent)
    if as_dict:
        return rows[0] if rows else {}
    if not rows:
        return None
    return rows[0] if len(fields) > 1 else rows[0][0]


@whitelist("frappe.client.get_single_value")
def get_single_value(call: Call, doctype: str, field: str):
    return lookups.single_value(call.ctx, doctype, field)


@whitelist("frappe.client.has_permission")
def has_permission(call: Call, doctype: str, docname: str | None = None, perm_type: str = "read"):
    return {"has_permission": lookups.has_permission(call.ctx, doctype, docname, perm_type)}


@whitelist("frappe.client.get_doc_permissions")
def get_doc_permissions(call: Call, doctype: str, docname: str):
    return {"permissions": lookups.doc_permissions(call.ctx, doctype, docname)}


@whitelist("frappe.client.get_password")
def get_password(call: Call, doctype: str, name: str, fieldname: str):
    """The decrypted value of a Password field (System Manager only; see model.passwords).

    User passwords and API secrets are hashed, not encrypted: they are reported as not
    found (417), like a Password field that holds no value.
    """
    return passwords.get_password(call.ctx, doctype, name, fieldname)


@whitelist("frappe.client.get_time_zone", allow_guest=True)
def get_time_zone(call: Call):
    return {"time_zone": call.ctx.site_config.get("time_zone") or _system_time_zone()}


def _system_time_zone() -> str:
    """The server's IANA zone: timestamps are written in the server's local time."""
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz and "/" in tz and not tz.startswith("/"):
        return tz
    try:
        text = Path("/etc/timezone").read_text().strip()
        if text:
            return text
    except OSError:
        pass
    try:
        target = str(Path("/etc/localtime").resolve())
        if "zoneinfo/" in target:
            return target.split("zoneinfo/", 1)[1]
    except OSError:
        pass
    return "UTC"


@whitelist("frappe.client.is_document_amended")
def is_document_amended(call: Call, doctype: str, docname: str):
    return lookups.is_amended(call.ctx, doctype, docname)


@whitelist("frappe.client.validate_link", methods=["GET", "POST"])
def validate_link(call: Call, doctype: str, docname: str, fields=None):
    ctx = call.ctx
    meta = ctx.get_meta(doctype)
    lookups.check_link_target(ctx, meta, docname)
    # Frappe answers {"name": null} for a missing document (``values.name`` is set either way).
    name = lookups.stored_name(ctx, meta, docname)
    values: dict[str, Any] = {"name": name}
    if name is None:
        return values
    wanted = jsonargs.json_arg(fields, "fields") if fields not in (None, "") else None
    if not wanted:
        return values
    try:
        values.update(get_value(call, doctype, wanted if isinstance(wanted, list) else [wanted], {"name": name}))
    except PermissionError:
        ctx.msgprint(f"You need <b>Read</b> permission to fetch values from <b>{doctype}</b> <b>{name}</b>",
                     title="Cannot Fetch Values", indicator="orange")
    return values


# --- writing ------------------------------------------------------------------------------------

@whitelist("frappe.client.insert", methods=WRITE_VERBS)
def insert(call: Call, doc=None):
    ctx = call.ctx
    return _shown(ctx, clientops.insert_doc(ctx, _doc(ctx, doc)))


@whitelist("frappe.client.insert_many", methods=WRITE_VERBS)
def insert_many(call: Call, docs=None):
    items = _docs(call.ctx, docs)
    if len(items) > MAX_INSERTS:
        raise ValidationError(f"Only {MAX_INSERTS} inserts allowed in one request", title="Too many documents")
    # Not per item: the first failure fails the request and rolls back every insert.
    return [clientops.insert_doc(call.ctx, item).name for item in items]


@whitelist("frappe.client.save", methods=WRITE_VERBS)
def save(call: Call, doc):
    ctx = call.ctx
    return _shown(ctx, clientops.save_doc(ctx, _doc(ctx, doc)))


@whitelist("frappe.client.set_value", methods=WRITE_VERBS)
def set_value(call: Call, doctype: str, name: str, fieldname, value=None):
    if isinstance(fieldname, str) and fieldname in _STANDARD_FIELDNAMES:
        raise ValidationError("Cannot edit standard fields", title="Not allowed")
    return _shown(call.ctx, clientops.set_values(call.ctx, doctype, name, _set_value_values(fieldname, value)))


def _set_value_values(fieldname: Any, value: Any) -> dict:
    """Frappe's reading: a truthy value sets one field; else fieldname holds JSON values (or clears it)."""
    if value:
        if not isinstance(fieldname, str):
            raise ValidationError("fieldname must be a field name when value is given", title="Invalid argument")
        return {fieldname: value}
    decoded, values = jsonargs.maybe_json(fieldname, "fieldname")
    if not decoded and isinstance(values, str):
        return {values: ""}
    if not isinstance(values, dict):
        raise ValidationError("fieldname must be a field name or a JSON object of values", title="Invalid argument")
    return values


@whitelist("frappe.client.submit", methods=WRITE_VERBS)
def submit(call: Call, doc):
    data = _doc(call.ctx, doc)
    data["docstatus"] = 1
    return _shown(call.ctx, clientops.save_doc(call.ctx, data))


@whitelist("frappe.client.cancel", methods=WRITE_VERBS)
def cancel(call: Call, doctype: str, name: str):
    # The normal update path: it checks the cancel right, the 1 -> 2 transition and links.
    return _shown(call.ctx, document.cancel(call.ctx, doctype, name))


@whitelist("frappe.client.delete", methods=("DELETE", "POST"))
def delete(call: Call, doctype: str, name: str):
    # The rule of every route (a child row goes through its parent) lives in the model.
    document.delete(call.ctx, doctype, name)
    return None


@whitelist("frappe.client.bulk_update", methods=WRITE_VERBS)
def bulk_update(call: Call, docs):
    items = _docs(call.ctx, docs)
    for item in items:
        item.pop("flags", None)
    failed = clientops.update_each(call.ctx, items)
    return {"failed_docs": [{"doc": item, "exc": _failure_text(call, e)} for item, e in failed]}


def _failure_text(call: Call, error: BaseException) -> str:
    # The traceback rule of error bodies; others get the error line, and of an unexpected
    # error only its type (its text may describe the schema; the server log keeps it).
    if not isinstance(error, FrappeError):
        log.error("bulk_update item failed", exc_info=error)
    if may_see_tracebacks(call.ctx, call.site.config):
        return format_traceback(error)
    if isinstance(error, FrappeError):
        return f"{type(error).__name__}: {error.message}"
    return f"{type(error).__name__}: the update failed on the server"


# --- renaming -----------------------------------------------------------------------------------

@whitelist("frappe.client.rename_doc", methods=WRITE_VERBS)
def rename_doc(call: Call, doctype: str, old_name: str, new_name: str, merge: bool = False):
    """Rename (or merge into another) a document and repoint every Link to it."""
    return rename.rename(call.ctx, doctype, old_name, new_name, merge)
