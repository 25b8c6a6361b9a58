"""``frappe.client.*``: the RPC methods FrappeClient, the JS SDK and desk code call.

Every method goes through the model layer (``ristretto.model.document`` and
``ristretto.model.listing``) or asks ``ctx.perms`` itself, so each is
permission-checked exactly like the REST routes. Behaviour follows Frappe v15's
``frappe/client.py`` (see ``08-client-methods.md``), including its quirks:

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

import orjson

from ristretto.api.args import truthy_arg
from ristretto.api.call import Call
from ristretto.api.errors import format_traceback, may_see_tracebacks
from ristretto.whitelist import whitelist
from ristretto.db.dialects import quote
from ristretto.exceptions import (
    DataError, DoesNotExistError, FrappeError, PermissionError, TimestampMismatchError,
    ValidationError,
)
from ristretto.meta.doctype import CHILD_FIELDS, STANDARD_FIELDS, Meta
from ristretto.meta.fieldtypes import CHECK, FLOAT, INT, TEXT
from ristretto.model import document, listing, passwords, rename, validation
from ristretto.model.context import Context
from ristretto.model.document import Document

log = logging.getLogger("ristretto")
WRITE_VERBS = ("POST", "PUT")
MAX_INSERTS = 200
# Frappe's default_fields + child_table_fields: set_value refuses them.
_STANDARD_FIELDNAMES = frozenset(("doctype",) + STANDARD_FIELDS + CHILD_FIELDS)
# Frappe's list of rights (frappe.permissions.rights), in its order.
RIGHTS = ("select", "read", "write", "create", "delete", "submit", "cancel", "amend", "print", "email",
          "report", "import", "export", "share")


# --- argument shapes ---------------------------------------------------------------------------

def _json_value(value: Any, name: str) -> Any:
    """A JSON argument: JSON text or an already decoded value."""
    if isinstance(value, (bytes, bytearray)):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            raise ValidationError(f"Invalid JSON in argument '{name}'", title="Invalid argument") from None
    return value


def _doc_arg(value: Any, name: str = "doc") -> dict:
    doc = _json_value(value, name)
    if not isinstance(doc, dict):
        raise ValidationError(f"Argument '{name}' must be a JSON object", title="Invalid argument")
    if not isinstance(doc.get("doctype"), str) or not doc["doctype"]:
        raise ValidationError("doctype is required in the document", title="Invalid argument")
    return dict(doc)


def _docs_arg(value: Any, name: str = "docs") -> list[dict]:
    docs = _json_value(value, name)
    if not isinstance(docs, list) or not all(isinstance(d, dict) for d in docs):
        raise ValidationError(f"Argument '{name}' must be a JSON array of objects", title="Invalid argument")
    return docs


def _safe_filters(value: Any) -> Any:
    """Frappe's ``get_safe_filters``: JSON filters, or else the text itself (a document name)."""
    if isinstance(value, (bytes, bytearray)):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
        # A number is a name ("5"), like any other text that is not a filter structure.
        return parsed if isinstance(parsed, (dict, list, str)) or parsed is None else value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


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
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            return [value]
        if isinstance(parsed, list):
            return parsed
        return [parsed] if isinstance(parsed, str) else [value]
    raise ValidationError("fieldname must be a field name or a list of field names", title="Invalid argument")


# --- shared helpers -----------------------------------------------------------------------------

def _check_parent(ctx: Context, doctype: str, parent: Any) -> None:
    """Child DocTypes are read through a parent that really has them (Frappe's check_parent_permission)."""
    parent_meta = ctx.find_meta(parent) if isinstance(parent, str) and parent else None
    if parent_meta is None or doctype not in parent_meta.child_doctypes():
        raise PermissionError(f"Please specify a valid parent DocType for {doctype}", doctype=doctype)
    ctx.perms.check(ctx, parent_meta.name, "read")


def _payload(data: dict) -> tuple[dict, Any]:
    """Document values without ``doctype`` and ``name`` (the name goes to naming), and the name."""
    values = dict(data)
    values.pop("doctype", None)
    return values, values.pop("name", None)


def _insert_doc(ctx: Context, data: dict) -> Document:
    """Insert a document, or append a child row to its parent; the document saved."""
    doctype = data["doctype"]
    meta = ctx.get_meta(doctype)
    if meta.istable:
        return _append_child(ctx, meta, data)
    values, name = _payload(data)
    return document.insert(ctx, doctype, values, name=name)


def _append_child(ctx: Context, meta: Meta, data: dict) -> Document:
    parenttype, parent, parentfield = data.get("parenttype"), data.get("parent"), data.get("parentfield")
    for key, value in (("parenttype", parenttype), ("parent", parent), ("parentfield", parentfield)):
        validation.check_scalar(value, key)
    if not (parenttype and parent and parentfield):
        raise ValidationError("Parenttype, Parent and Parentfield are required to insert a child record",
                              title="Missing parent")
    parent_meta = ctx.get_meta(str(parenttype))
    table = parent_meta.get_table_field(str(parentfield))
    if table is None or table.options != meta.name:
        raise ValidationError(f"{parentfield} is not a table of {meta.name} rows in {parenttype}",
                              title="Invalid parent")
    current = document.get_doc(ctx, parent_meta.name, parent)
    rows = [row.as_dict() for row in current.children.get(table.fieldname, [])]
    row = {k: v for k, v in data.items() if k not in ("doctype", "name", "idx") + CHILD_FIELDS}
    rows.append(row)
    # Saved through the parent so its validation and hooks run, as in Frappe.
    return document.update(ctx, parent_meta.name, current.name, {table.fieldname: rows})


def _save_full(ctx: Context, data: dict) -> Document:
    """Frappe's ``frappe.get_doc(dict).save()``: the dict is the whole document.

    New when it has no ``name`` (or ``__islocal``); otherwise every field left out is
    cleared, every child table left out is emptied, and ``modified`` must be the
    stored value (the timestamp check).
    """
    doctype = data["doctype"]
    meta = ctx.get_meta(doctype)
    values, name = _payload(data)
    if name in (None, "") or values.pop("__islocal", None):
        return _insert_doc(ctx, data)
    if meta.istable:
        raise ValidationError("Child rows are saved through their parent", title="Not allowed")
    if meta.issingle:
        return document.save_single(ctx, doctype, values)
    if values.get("modified") in (None, ""):
        _missing_modified(ctx, doctype, name)
    full: dict[str, Any] = {f.fieldname: None for f in meta.data_fields}
    full.update({t.fieldname: [] for t in meta.table_fields})
    full["docstatus"] = 0
    full.update(values)
    return document.update(ctx, doctype, name, full)


def _missing_modified(ctx: Context, doctype: str, name: Any) -> None:
    """A saved dict without ``modified`` always conflicts in Frappe (it compares with nothing)."""
    stored = document.get_doc(ctx, doctype, name)  # 404 / 403 before any conflict report
    ctx.perms.check(ctx, doctype, "write", stored)
    raise TimestampMismatchError(
        f"Error: Document has been modified after you have opened it ({stored.d.get('modified')}, None). "
        f"Please refresh to get the latest document.", title="Document Modified")


def _perm_target(ctx: Context, meta: Meta, doc: Document | None) -> tuple[str, Document | None]:
    """Rights on a child row are the rights on its parent document."""
    if doc is None or not meta.istable:
        return meta.name, doc
    parenttype = doc.d.get("parenttype")
    if not parenttype or ctx.find_meta(parenttype) is None:
        return meta.name, doc
    try:
        return parenttype, document.load(ctx, parenttype, doc.d.get("parent"))
    except DoesNotExistError:
        return parenttype, None


def _shown(ctx: Context, doc: Document) -> dict:
    """A document as these methods return it: with null fields (unlike /api/resource),
    without the fields above the user's permlevels."""
    return document.visible_dict(ctx, doc)


def _load_or_none(ctx: Context, meta: Meta, name: Any) -> Document | None:
    try:
        return document.load(ctx, meta.name, name)
    except DoesNotExistError:
        return None


# --- reading ------------------------------------------------------------------------------------

@whitelist("frappe.client.get_list")
def get_list(call: Call, doctype: str, fields=None, filters=None, group_by=None, order_by=None,
             limit_start=None, limit_page_length=20, parent=None, debug: bool = False, as_dict: bool = True,
             or_filters=None):
    # limit / start / page_length are not parameters here: Frappe ignores them too.
    return listing.get_list(
        call.ctx, doctype, fields=fields, filters=filters, or_filters=or_filters, order_by=order_by,
        group_by=group_by, limit=listing.page_length(call.ctx, limit_page_length),
        offset=listing.parse_offset(limit_start), as_dict=as_dict, debug=debug,
        parent=parent if isinstance(parent, str) else None, stream=True)


@whitelist("frappe.client.get_count")
def get_count(call: Call, doctype: str, filters=None, debug: bool = False, cache=None):
    # or_filters, distinct and limit are read from the whole request, as Frappe's count does.
    form = call.form
    parent = form.get("parent")
    return listing.get_count(
        call.ctx, doctype, filters=_name_filters(filters), or_filters=form.get("or_filters"),
        distinct=truthy_arg(form.get("distinct"), False), limit=listing.parse_limit(form.get("limit"), None),
        debug=debug, parent=parent if isinstance(parent, str) else None)


@whitelist("frappe.client.get")
def get(call: Call, doctype: str, name: str | None = None, filters=None, parent=None):
    ctx = call.ctx
    meta = ctx.get_meta(doctype)
    if meta.istable:
        _check_parent(ctx, doctype, parent)
    if name:
        doc = document.get_doc(ctx, doctype, name)
    elif filters is not None and filters != "":
        doc = document.get_doc(ctx, doctype, _first_match(ctx, meta, filters, parent))
    else:
        doc = document.get_doc(ctx, doctype, doctype)  # the Single's record (404 for others)
    return _shown(ctx, doc)


def _first_match(ctx: Context, meta: Meta, filters: Any, parent: Any) -> Any:
    rows = listing.get_list(ctx, meta.name, fields=["name"], filters=_name_filters(filters), limit=1,
                            parent=parent if meta.istable else None)
    if not rows:
        raise DoesNotExistError(f"{meta.name} not found", doctype=meta.name)
    return rows[0]["name"]


@whitelist("frappe.client.get_value")
def get_value(call: Call, doctype: str, fieldname, filters=None, as_dict: bool = True, debug: bool = False,
              parent=None):
    ctx = call.ctx
    meta = ctx.get_meta(doctype)
    if meta.istable:
        _check_parent(ctx, doctype, parent)
    else:
        ctx.perms.check(ctx, doctype, "read")
    fields = _fieldnames(fieldname)
    filters = _name_filters(filters)
    if meta.issingle:
        rows = _single_values(ctx, meta, fields, filters, as_dict)
    else:
        rows = listing.get_list(ctx, doctype, fields=fields, filters=filters, limit=1, as_dict=as_dict,
                                debug=debug, parent=parent if meta.istable else None)
    if as_dict:
        return rows[0] if rows else {}
    if not rows:
        return None
    return rows[0] if len(fields) > 1 else rows[0][0]


def _single_values(ctx: Context, meta: Meta, fields: list, filters: Any, as_dict: bool) -> list:
    """get_value on a Single DocType: its stored values, when they match dict filters."""
    doc = document.get_doc(ctx, meta.name, meta.name)
    readable = ctx.perms.readable_fields(ctx, meta)
    for f in fields:
        if not isinstance(f, str) or not meta.has_column(f) or (readable is not None and f not in readable):
            raise ValidationError(f"Field not permitted in query: {f}", title="Invalid field")
    if isinstance(filters, dict):
        for key, value in filters.items():
            if readable is not None and meta.has_column(key) and key not in readable:
                # Matching on a field the user may not read would reveal its value.
                raise ValidationError(f"Field not permitted in query: {key}", title="Invalid field")
            f = meta.get_column(key) if isinstance(key, str) else None
            if f is not None and f.ft.secret:
                raise DataError(f"Cannot filter, sort or group by Password field {key}", title="Invalid filter")
            if str(doc.d.get(key)) != str(value):
                return []
    values = [doc.d.get(f) for f in fields]
    return [dict(zip(fields, values))] if as_dict else [values]


@whitelist("frappe.client.get_single_value")
def get_single_value(call: Call, doctype: str, field: str):
    ctx = call.ctx
    meta = ctx.get_meta(doctype)
    if not meta.issingle:
        raise ValidationError(f"{doctype} is not a Single DocType", title="Invalid argument")
    ctx.perms.check(ctx, doctype, "read")
    f = meta.get_column(field)
    if f is None:
        raise ValidationError(f"Field {field} does not exist on {doctype}", title="Invalid field")
    readable = ctx.perms.readable_fields(ctx, meta)
    if readable is not None and field not in readable:
        raise PermissionError(f"No permission to read {field} of {doctype}", doctype=doctype)
    value = document.get_doc(ctx, doctype, doctype).d.get(field)
    # Frappe casts by field type: numbers default to 0, text to "".
    if value is None and f.ft.kind in (INT, CHECK, FLOAT):
        return 0
    if value is None and f.ft.kind == TEXT:
        return ""
    return value


@whitelist("frappe.client.has_permission")
def has_permission(call: Call, doctype: str, docname: str | None = None, perm_type: str = "read"):
    # Reports, never throws: an unknown DocType or document is simply "no".
    ctx = call.ctx
    meta = ctx.find_meta(doctype)
    if meta is None:
        return {"has_permission": False}
    doc = None
    if docname not in (None, ""):
        doc = _load_or_none(ctx, meta, docname)
        if doc is None:
            return {"has_permission": False}
    target, target_doc = _perm_target(ctx, meta, doc)
    return {"has_permission": bool(ctx.perms.has(ctx, target, perm_type.strip().lower(), target_doc))}


@whitelist("frappe.client.get_doc_permissions")
def get_doc_permissions(call: Call, doctype: str, docname: str):
    ctx = call.ctx
    meta = ctx.get_meta(doctype)
    doc = document.load(ctx, doctype, docname)
    target, target_doc = _perm_target(ctx, meta, doc)
    # Who cannot even read the DocType learns nothing about its documents.
    if not (ctx.perms.has(ctx, target, "read") or ctx.perms.has(ctx, target, "select")):
        ctx.perms.check(ctx, target, "read")
    return {"permissions": {r: int(bool(ctx.perms.has(ctx, target, r, target_doc))) for r in RIGHTS}}


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
    ctx = call.ctx
    meta = ctx.find_meta(doctype)
    if meta is None or not meta.has_column("amended_from") or not ctx.perms.has(ctx, doctype, "read"):
        return False
    try:
        return listing.get_count(ctx, doctype, filters=[["amended_from", "=", docname]], limit=1) > 0
    except (PermissionError, DataError):  # DataError: amended_from is above the user's permlevels
        return False


@whitelist("frappe.client.validate_link", methods=["GET", "POST"])
def validate_link(call: Call, doctype: str, docname: str, fields=None):
    ctx = call.ctx
    meta = ctx.get_meta(doctype)
    if doctype != "DocType":
        target = doctype
        if meta.istable:
            row = _load_or_none(ctx, meta, docname)
            target = (row.d.get("parenttype") if row is not None else None) or doctype
        if not (ctx.perms.has(ctx, target, "select") or ctx.perms.has(ctx, target, "read")):
            raise PermissionError(f"You do not have Read or Select Permissions for <b>{doctype}</b>",
                                  doctype=doctype)
    values: dict[str, Any] = {}
    name = _stored_name(ctx, meta, docname)
    if name is None:
        return values
    values["name"] = name
    wanted = _json_value(fields, "fields") if fields not in (None, "") else None
    if not wanted:
        return values
    try:
        values.update(get_value(call, doctype, wanted if isinstance(wanted, list) else [wanted], {"name": name}))
    except PermissionError:
        ctx.msgprint(f"You need <b>Read</b> permission to fetch values from <b>{doctype}</b> <b>{name}</b>",
                     title="Cannot Fetch Values", indicator="orange")
    return values


def _stored_name(ctx: Context, meta: Meta, docname: str) -> Any:
    """The name as stored; case-insensitive like Frappe on MariaDB when no exact match exists."""
    if meta.issingle:
        return meta.name if docname == meta.name else None
    if document.exists(ctx, meta.name, docname):
        return int(docname) if meta.name_is_int else docname
    if meta.name_is_int or "\x00" in docname:
        return None
    row = ctx.db.one(f"SELECT name FROM {quote(meta.table)} WHERE LOWER(name) = LOWER(?) LIMIT 1", (docname,))
    return row[0] if row else None


# --- writing ------------------------------------------------------------------------------------

@whitelist("frappe.client.insert", methods=WRITE_VERBS)
def insert(call: Call, doc=None):
    ctx = call.ctx
    return _shown(ctx, _insert_doc(ctx, _doc_arg(doc)))


@whitelist("frappe.client.insert_many", methods=WRITE_VERBS)
def insert_many(call: Call, docs=None):
    items = _docs_arg(docs)
    if len(items) > MAX_INSERTS:
        raise ValidationError(f"Only {MAX_INSERTS} inserts allowed in one request", title="Too many documents")
    items = [_doc_arg(item, f"docs[{i}]") for i, item in enumerate(items)]
    # Not per item: the first failure fails the request and rolls back every insert.
    return [_insert_doc(call.ctx, item).name for item in items]


@whitelist("frappe.client.save", methods=WRITE_VERBS)
def save(call: Call, doc):
    ctx = call.ctx
    return _shown(ctx, _save_full(ctx, _doc_arg(doc)))


@whitelist("frappe.client.set_value", methods=WRITE_VERBS)
def set_value(call: Call, doctype: str, name: str, fieldname, value=None):
    ctx = call.ctx
    if isinstance(fieldname, str) and fieldname in _STANDARD_FIELDNAMES:
        raise ValidationError("Cannot edit standard fields", title="Not allowed")
    values = _set_value_values(fieldname, value)
    meta = ctx.get_meta(doctype)
    if not meta.istable:
        return _shown(ctx, document.update(ctx, doctype, name, values))
    row = document.load(ctx, doctype, name)
    parenttype, parent = row.d.get("parenttype"), row.d.get("parent")
    if not parenttype or ctx.find_meta(parenttype) is None:
        raise DoesNotExistError(f"{doctype} {name} not found", doctype=doctype)
    document.update(ctx, doctype, name, values)  # saves the parent
    return _shown(ctx, document.get_doc(ctx, parenttype, parent))


def _set_value_values(fieldname: Any, value: Any) -> dict:
    """Frappe's reading: a truthy value sets one field; else fieldname holds JSON values (or clears it)."""
    if value:
        if not isinstance(fieldname, str):
            raise ValidationError("fieldname must be a field name when value is given", title="Invalid argument")
        return {fieldname: value}
    values = fieldname
    if isinstance(fieldname, str):
        try:
            values = orjson.loads(fieldname)
        except orjson.JSONDecodeError:
            return {fieldname: ""}
    if not isinstance(values, dict):
        raise ValidationError("fieldname must be a field name or a JSON object of values", title="Invalid argument")
    return values


@whitelist("frappe.client.submit", methods=WRITE_VERBS)
def submit(call: Call, doc):
    data = _doc_arg(doc)
    data["docstatus"] = 1
    return _shown(call.ctx, _save_full(call.ctx, data))


@whitelist("frappe.client.cancel", methods=WRITE_VERBS)
def cancel(call: Call, doctype: str, name: str):
    # The normal update path: it checks the cancel right, the 1 -> 2 transition and links.
    return _shown(call.ctx, document.cancel(call.ctx, doctype, name))


@whitelist("frappe.client.delete", methods=("DELETE", "POST"))
def delete(call: Call, doctype: str, name: str):
    ctx = call.ctx
    meta = ctx.get_meta(doctype)
    if meta.istable:
        _delete_child(ctx, meta, name)
    else:
        document.delete(ctx, doctype, name)
    return None


def _delete_child(ctx: Context, meta: Meta, name: Any) -> None:
    """A child row is removed through its parent, which is saved (its hooks and validation run)."""
    row = document.load(ctx, meta.name, name)
    parenttype, parent, field = row.d.get("parenttype"), row.d.get("parent"), row.d.get("parentfield")
    parent_doc = None
    if parenttype and ctx.find_meta(parenttype) is not None:
        try:
            parent_doc = document.load(ctx, parenttype, parent)
        except DoesNotExistError:
            parent_doc = None
    # A parent the user may not write is reported as not found (Frappe).
    if parent_doc is None or not ctx.perms.has(ctx, parenttype, "write", parent_doc):
        raise DoesNotExistError(f"{meta.name} {name} not found", doctype=meta.name)
    rows = [r.as_dict() for r in parent_doc.children.get(field, []) if r.name != row.name]
    document.update(ctx, parenttype, parent_doc.name, {field: rows})


@whitelist("frappe.client.bulk_update", methods=WRITE_VERBS)
def bulk_update(call: Call, docs):
    ctx = call.ctx
    failed: list[dict] = []
    for item in _docs_arg(docs):
        item.pop("flags", None)
        try:
            # Each item stands alone: a failing one leaves no partial writes behind.
            with ctx.db.savepoint("bulk_update_item"):
                values = {k: v for k, v in item.items() if k not in ("doctype", "docname", "name")}
                document.update(ctx, str(item.get("doctype")), item.get("docname"), values)
        except Exception as e:  # noqa: BLE001 - collected and reported, as Frappe does
            failed.append({"doc": item, "exc": _failure_text(call, e)})
    return {"failed_docs": failed}


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
