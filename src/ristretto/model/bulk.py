"""Bulk delete and bulk update: many documents in one request, each standing alone.

Every item runs in its own savepoint: a failing item leaves no partial writes behind and
does not stop the others; it is reported under ``failed`` with its error text. Each item
goes through the ordinary ``document.delete`` / ``document.update``, so permissions, links,
docstatus and every other rule apply exactly as for one document.

Items are Python values (decoded by the API edge): with a ``doctype`` argument, names (delete)
or ``{"name": ..., <field>: ...}`` (update) of that DocType; without, ``{"doctype": ...,
"name": ...}`` objects. An item of the wrong shape fails alone, like any other error.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable

from ristretto.exceptions import FrappeError, FrappeValueError
from ristretto.model import document

if TYPE_CHECKING:
    from ristretto.model.context import Context

log = logging.getLogger("ristretto")
# Items one request may carry: each is a full save or delete with its checks, and a request
# must not hold its worker for long (Frappe queues larger batches as background jobs).
MAX_ITEMS = 200


def _check_list(items: Any, what: str) -> list:
    if not isinstance(items, list):
        raise FrappeValueError(f"'{what}' must be a list", title="Invalid argument")
    if len(items) > MAX_ITEMS:
        raise FrappeValueError(f"At most {MAX_ITEMS} documents in one bulk request (got {len(items)})",
                               title="Too many documents")
    return items


def _error_text(error: BaseException) -> str:
    """What a failed item reports: the error's message; of an unexpected error only its type
    (its text may describe the schema; the server log keeps it)."""
    if isinstance(error, FrappeError):
        return error.message or type(error).__name__
    log.error("bulk item failed", exc_info=error)
    return f"{type(error).__name__}: the operation failed on the server"


def _name(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise FrappeValueError("'name' must be a string or integer")
    return str(value)


def _target(item: Any, doctype: str | None, shape: str) -> tuple[str, str]:
    """(doctype, name) of an item; FrappeValueError when it has the wrong shape."""
    if doctype is not None and not isinstance(item, dict):
        return doctype, _name(item)
    if not isinstance(item, dict):
        raise FrappeValueError(f"Each document must be a dictionary with {shape}")
    if doctype is None:
        doctype = item.get("doctype")
        if not isinstance(doctype, str) or not doctype:
            raise FrappeValueError("'doctype' must be a string")
    return doctype, _name(item.get("name"))


def _summary(done_key: str, done: list, failed: list, total: int) -> dict[str, Any]:
    return {done_key: done, "failed": failed, "total": total,
            "success_count": len(done), "failure_count": len(failed)}


def each(ctx: "Context", items: list, savepoint: str,
         run: Callable[[Any], Any]) -> tuple[list, list[tuple[Any, Exception]]]:
    """``run`` each item in its own savepoint: what each success returned, and each failing item
    with its error (its writes undone; the others go on). Every bulk route's loop (v1's
    ``frappe.client.bulk_update`` too)."""
    done: list = []
    failed: list[tuple[Any, Exception]] = []
    for item in items:
        try:
            with ctx.db.savepoint(savepoint):
                done.append(run(item))
        except Exception as e:  # noqa: BLE001 - reported per item, as Frappe does
            failed.append((item, e))
    return done, failed


def _failures(failed: list[tuple[Any, Exception]], doctype: str | None) -> list[dict]:
    """The ``failed`` entries of a v2 bulk answer: what the item names, and the error's text."""
    out = []
    for item, error in failed:
        dt, name = _loose_target(item, doctype)
        entry = {"name": name, "error": _error_text(error)}
        out.append(entry if doctype is not None else {"doctype": dt, **entry})
    return out


def delete_many(ctx: "Context", items: Any, doctype: str | None = None) -> dict[str, Any]:
    """Delete each item: ``{"deleted", "failed", "total", "success_count", "failure_count"}``.
    With ``doctype``, ``deleted`` lists names; without, ``{"doctype", "name"}`` objects."""
    items = _check_list(items, "names" if doctype is not None else "docs")

    def run(item: Any) -> Any:
        dt, name = _target(item, doctype, "'doctype' and 'name' keys")
        document.delete(ctx, dt, name)
        return name if doctype is not None else {"doctype": dt, "name": name}

    done, failed = each(ctx, items, "bulk_delete_item", run)
    return _summary("deleted", done, _failures(failed, doctype), len(items))


def update_many(ctx: "Context", items: Any, doctype: str | None = None) -> tuple[dict[str, Any], list]:
    """Update each item with its other keys (partial update, ``modified`` checked when sent):
    the summary (``updated`` lists names, or ``{"doctype", "name"}`` without ``doctype``) and
    the saved documents."""
    items = _check_list(items, "docs")
    saved: list = []

    def run(item: Any) -> Any:
        if not isinstance(item, dict):
            raise FrappeValueError("Each update must be a dictionary with 'name' and field values")
        dt, name = _target(item, doctype, "'doctype', 'name', and field values")
        values = {k: v for k, v in item.items() if k not in ("doctype", "name", "flags")}
        saved.append(document.update(ctx, dt, name, values))
        return name if doctype is not None else {"doctype": dt, "name": name}

    done, failed = each(ctx, items, "bulk_update_item", run)
    return _summary("updated", done, _failures(failed, doctype), len(items)), saved


def _loose_target(item: Any, doctype: str | None) -> tuple[Any, Any]:
    """What a failure report names: the item's doctype and name as far as they are usable."""
    if isinstance(item, dict):
        dt, name = item.get("doctype") if doctype is None else doctype, item.get("name")
    else:
        dt, name = doctype, item
    dt = dt if isinstance(dt, str) else None
    name = str(name) if isinstance(name, (str, int)) and not isinstance(name, bool) else None
    return dt, name
