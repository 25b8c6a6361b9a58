"""What Frappe's desk views need beyond the plain document API: a form's ``docinfo``
(attachments, comments, versions, the user's rights), a list sidebar's group counts and
the list view's comment counts.

All of it goes through :mod:`ristretto.model.listing` (the one query compiler, no SQL here):

* :func:`docinfo` and :func:`comment_counts` serve documents the caller has already read
  (``document.get_doc`` or a listing checked the read right). The records they list (File,
  Comment, Version) belong to those documents and who may read a document sees them, as in
  Frappe, so they are listed with the system's rights, each list bounded.
* :func:`group_counts` lists with the caller's rights: the filters, the grouped field and
  the rows counted are those the user may read (the compiler refuses an unreadable field).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ristretto.exceptions import DataError
from ristretto.meta.doctype import STANDARD_FIELDS
from ristretto.model import listing, lookups
from ristretto.model.context import AllowAll

if TYPE_CHECKING:
    from ristretto.model.base import Document
    from ristretto.model.context import Context

# The sidebar shows the largest groups only (Frappe: 50).
MAX_GROUPS = 50
# Bounds of a form's docinfo lists (Frappe lists the last 10 versions; comments and
# attachments it does not bound).
MAX_VERSIONS = 10
MAX_COMMENTS = 200
MAX_ATTACHMENTS = 200


def docinfo(ctx: "Context", doc: "Document") -> dict[str, Any]:
    """Frappe's ``docinfo`` of a form, for ``doc`` the caller may read."""
    doctype, name = doc.meta.name, str(doc.name)
    system = replace(ctx, perms=AllowAll())
    info: dict[str, Any] = {"attachments": [], "comments": [], "versions": [], "total_comments": 0,
                            "shared": [], "assignments": []}
    if ctx.find_meta("File") is not None:
        info["attachments"] = listing.get_list(
            system, "File", fields=["name", "file_name", "file_url", "is_private"],
            filters={"attached_to_doctype": doctype, "attached_to_name": name},
            order_by="creation asc", limit=MAX_ATTACHMENTS)
    if ctx.find_meta("Comment") is not None:
        where = {"reference_doctype": doctype, "reference_name": name, "comment_type": "Comment"}
        info["comments"] = listing.get_list(
            system, "Comment", fields=["name", "creation", "content", "owner", "comment_type"],
            filters=where, order_by="creation desc", limit=MAX_COMMENTS)
        info["total_comments"] = listing.get_count(system, "Comment", filters=where)
    if ctx.find_meta("Version") is not None:
        info["versions"] = listing.get_list(
            system, "Version", fields=["name", "owner", "creation", "data"],
            filters={"ref_doctype": doctype, "docname": name}, order_by="creation desc", limit=MAX_VERSIONS)
    target, target_doc = lookups.perm_target(ctx, doc.meta, doc)
    info["permissions"] = {r: int(bool(ctx.perms.has(ctx, target, r, target_doc))) for r in lookups.RIGHTS}
    return info


def comment_counts(ctx: "Context", doctype: str, names: list) -> dict[str, int]:
    """The number of comments on each of ``names`` (rows of ``doctype`` the caller listed, so
    may read): the list view's ``_comment_count``. Frappe reads it from the ``_comments``
    cache column, which Ristretto does not keep: the Comment records are counted instead."""
    if not names or ctx.find_meta("Comment") is None:
        return {}
    rows = listing.get_list(
        replace(ctx, perms=AllowAll()), "Comment", fields=["reference_name", "count(*) as n"],
        filters={"reference_doctype": doctype, "reference_name": ["in", [str(n) for n in names]],
                 "comment_type": "Comment"},
        group_by="reference_name", limit=None, default_order=False)
    return {r["reference_name"]: int(r["n"]) for r in rows}


def group_counts(ctx: "Context", doctype: str, field: Any, filters: Any = None) -> list[dict[str, Any]]:
    """``[{"name": value, "count": n}]`` of the rows matching ``filters``, per value of
    ``field``, largest groups first, at most :data:`MAX_GROUPS`; for ``owner`` the caller's
    own group comes first (Frappe's sidebar shows "created by me" on top)."""
    meta = ctx.get_meta(doctype)
    if not isinstance(field, str) or not (field in STANDARD_FIELDS or meta.get_field(field) is not None):
        raise DataError(f"Field not permitted in query: {field}", title="Invalid field")
    # ``field`` is now a known column name: the compiler reads it from the metadata.
    fields = ["count(*) as count", f"{field} as name"]
    rows = listing.get_list(ctx, doctype, fields=fields, filters=filters, group_by=field,
                            order_by="count desc", limit=MAX_GROUPS, default_order=False)
    if field == "owner":
        mine = [r for r in rows if r["name"] == ctx.user]
        others = [r for r in rows if r["name"] != ctx.user]
        if not mine and (narrowed := _with_owner(filters, ctx.user)) is not None:
            n = listing.get_count(ctx, doctype, filters=narrowed)
            mine = [{"count": n, "name": ctx.user}] if n else []
        rows = (mine + others)[:MAX_GROUPS]
    return rows


def _with_owner(filters: Any, user: str) -> Any:
    """``filters`` narrowed to the user's own rows (None when they already name an owner)."""
    if filters in (None, "", [], {}):
        return {"owner": user}
    if isinstance(filters, dict):
        return None if "owner" in filters else {**filters, "owner": user}
    if isinstance(filters, list):
        return [*filters, ["owner", "=", user]]
    return None
