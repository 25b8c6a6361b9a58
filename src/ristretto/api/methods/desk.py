"""The RPC methods of Frappe's desk (list view, list sidebar, form) with Frappe's answers,
so the desk and front ends built with Frappe's UI libraries work against Ristretto.

Thin adapters over the model: listings and counts are ``model.listing``'s (the same
permission rules and query compiler as ``frappe.client.get_list``), documents are read and
written through ``model.document`` / ``model.clientops`` (every rule of a save applies),
and a form's extra data comes from ``model.deskviews``. Shapes follow Frappe v15:

* ``frappe.desk.reportview.get`` answers in ``message`` with the compressed form
  ``{"keys": [...], "values": [[...]]}``, or ``[]`` when no row matched (Frappe's
  ``compress`` returns the empty result itself);
* ``frappe.desk.form.load.getdoc`` and ``frappe.desk.form.save.savedocs`` answer with
  ``docs`` (a list of one document, child rows included) and ``docinfo`` at the top of the
  body, not in ``message`` (Frappe appends to ``frappe.response.docs``); ``getdoc`` leaves
  out null fields, ``savedocs`` keeps them (Frappe's ``as_dict`` there), and a document
  saved from a new form carries its form name in ``localname``.

``reportview.get`` takes ``view`` as Frappe does but without effect (Frappe uses it only to
drop ``report_hide`` fields in the Report view); ``with_comment_count`` counts the Comment
records of each row (Frappe reads a ``_comments`` cache column Ristretto does not keep).
``get_group_by_count`` answers to Frappe v15's name (``frappe.desk.listview``) and to the
``reportview`` one.

One difference: ``getdoc`` of a missing document is the API's 404 (after the 403 that hides
existence from who may not read the DocType), where Frappe answers an empty ``message``.
"""

from __future__ import annotations

from typing import Any

from ristretto.api import jsonargs
from ristretto.api.args import truthy_arg
from ristretto.api.call import Call
from ristretto.db.query import MAX_FIELDS_TEXT
from ristretto.exceptions import ValidationError
from ristretto.model import clientops, deskviews, document, listing
from ristretto.model.context import Context
from ristretto.model.document import Document
from ristretto.whitelist import whitelist

# One page of the list view is built in memory (the compressed form needs every row's keys):
# a page asking for more rows (or all, 0) gets this many, under the site's max_page_length.
MAX_REPORT_PAGE = 5000
_ACTIONS = {"Save": 0, "Submit": 1, "Update": 1, "Cancel": 2}


# --- list view ----------------------------------------------------------------------------------

@whitelist("frappe.desk.reportview.get", methods=("GET", "POST"))
def get(call: Call, doctype: str, fields=None, filters=None, or_filters=None, order_by=None, start=None,
        page_length=None, group_by=None, with_comment_count=None, view=None, limit_start=None,
        limit_page_length=None, limit=None, distinct=None):
    # Frappe's aliases: start / page_length win over limit_start / limit_page_length / limit.
    size = page_length if page_length not in (None, "") else limit_page_length \
        if limit_page_length not in (None, "") else limit
    rows = listing.get_list(
        call.ctx, doctype, fields=jsonargs.loose_arg(fields, "fields", limit=MAX_FIELDS_TEXT),
        filters=jsonargs.loose_arg(filters, "filters"), or_filters=jsonargs.loose_arg(or_filters, "or_filters"),
        order_by=order_by, group_by=group_by, limit=_page(call.ctx, size),
        offset=listing.parse_offset(start if start not in (None, "") else limit_start),
        distinct=truthy_arg(distinct, False))
    if not rows:
        return []
    keys = list(rows[0])
    if truthy_arg(with_comment_count, False) and "name" in keys and "_comment_count" not in keys:
        counts = deskviews.comment_counts(call.ctx, doctype, [r["name"] for r in rows if r.get("name")])
        keys.append("_comment_count")
        for row in rows:
            row["_comment_count"] = counts.get(str(row.get("name")), 0)
    return {"keys": keys, "values": [[row.get(k) for k in keys] for row in rows]}


def _page(ctx: Context, value: Any) -> int:
    size = listing.page_length(ctx, value)
    return MAX_REPORT_PAGE if size is None or size > MAX_REPORT_PAGE else size


@whitelist("frappe.desk.reportview.get_count", methods=("GET", "POST"))
def get_count(call: Call, doctype: str, filters=None, or_filters=None, distinct=None, limit=None):
    return listing.get_count(
        call.ctx, doctype, filters=jsonargs.loose_arg(filters, "filters"),
        or_filters=jsonargs.loose_arg(or_filters, "or_filters"), distinct=truthy_arg(distinct, False),
        limit=listing.parse_limit(limit, None))


@whitelist("frappe.desk.listview.get_group_by_count", "frappe.desk.reportview.get_group_by_count",
           methods=("GET", "POST"))
def get_group_by_count(call: Call, doctype: str, field: str, current_filters=None):
    return deskviews.group_counts(call.ctx, doctype, field, jsonargs.loose_arg(current_filters, "current_filters"))


# --- form ---------------------------------------------------------------------------------------

@whitelist("frappe.desk.form.load.getdoc", methods=("GET", "POST"))
def getdoc(call: Call, doctype: str, name: str):
    ctx = call.ctx
    doc = document.get_doc(ctx, doctype, name)  # read permission; 403 / 404
    call.extra["docs"] = [document.visible_dict(ctx, doc, no_nulls=True)]
    call.extra["docinfo"] = deskviews.docinfo(ctx, doc)
    return None


@whitelist("frappe.desk.form.save.savedocs", methods=("POST", "PUT"))
def savedocs(call: Call, doc, action: str):
    ctx = call.ctx
    if action not in _ACTIONS:
        raise ValidationError(f"action must be one of {', '.join(_ACTIONS)}", title="Invalid argument")
    data = jsonargs.object_arg(doc, "doc")
    meta = ctx.find_meta(data["doctype"]) if isinstance(data.get("doctype"), str) else None
    if meta is not None:
        jsonargs.table_values(meta, data)
    localname = _local_names(data)
    saved = _save(ctx, data, action, is_new=localname is not None or data.get("name") in (None, ""))
    shown = document.visible_dict(ctx, saved)
    if localname is not None:
        shown["localname"] = localname
    call.extra["docs"] = [shown]
    call.extra["docinfo"] = deskviews.docinfo(ctx, saved)
    return None


def _save(ctx: Context, data: dict, action: str, *, is_new: bool) -> Document:
    if action == "Cancel" and not is_new and data.get("modified") not in (None, ""):
        # Only the docstatus moves (the stored values stay as submitted); ``modified`` is
        # still compared with the stored one.
        return document.update(ctx, _doctype(data), data["name"],
                               {"docstatus": 2, "modified": data["modified"]})
    # Frappe's savedocs: the whole document saved with the action's docstatus (a new one
    # inserted; without ``modified`` an existing one is refused as modified meanwhile).
    data["docstatus"] = _ACTIONS[action]
    return clientops.save_doc(ctx, data)


def _doctype(data: dict) -> str:
    doctype = data.get("doctype")
    if not isinstance(doctype, str) or not doctype:
        raise ValidationError("doctype is required in the document", title="Invalid argument")
    return doctype


def _local_names(data: dict) -> str | None:
    """Frappe's ``set_local_name``: a document (or row) made in a form (``__islocal``) carries
    a temporary name, dropped so that naming gives the real one (``__newname`` when the form
    let the user choose it). The document's temporary name, or None if it was not local.
    Other ``__`` keys are the form's own state and are not stored."""
    local = bool(data.get("__islocal"))
    localname = None
    if local:
        localname = data.get("name") if isinstance(data.get("name"), str) else ""
        data["name"] = data.get("__newname") or None
    for key in [k for k in data if isinstance(k, str) and k.startswith("__")]:
        del data[key]
    for value in list(data.values()):
        if not isinstance(value, list):
            continue
        for row in value:
            if isinstance(row, dict):
                if local or row.get("__islocal"):
                    row.pop("name", None)
                for key in [k for k in row if isinstance(k, str) and k.startswith("__")]:
                    del row[key]
    return localname
