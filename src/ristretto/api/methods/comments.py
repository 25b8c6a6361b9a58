"""Comments on documents (``frappe.desk.form.utils.add_comment``) and their removal."""

from __future__ import annotations

from ristretto.api.call import Call
from ristretto.whitelist import whitelist
from ristretto.exceptions import PermissionError
from ristretto.model import comments, document


@whitelist("frappe.desk.form.utils.add_comment", methods=["POST"])
def add_comment(call: Call, reference_doctype: str, reference_name: str, content: str,
                comment_email: str | None = None, comment_by: str | None = None):
    """Comment on a document the caller may read; returns the Comment."""
    ctx = call.ctx
    doc = document.get_doc(ctx, reference_doctype, reference_name)
    return comments.add_comment(ctx, doc, content, comment_by=comment_by,
                                ip_address=call.request.client).as_dict()


@whitelist("frappe.client.delete_comment", "frappe.desk.form.utils.delete_comment", methods=["POST", "DELETE"])
def delete_comment(call: Call, name: str):
    """The author of a comment (or who may delete Comments) removes it."""
    ctx = call.ctx
    comment = document.load(ctx, "Comment", name)
    if comment.d.get("owner") != ctx.user and not ctx.perms.has(ctx, "Comment", "delete", comment):
        raise PermissionError("Not permitted")
    from dataclasses import replace

    from ristretto.model.context import AllowAll
    document.delete(replace(ctx, perms=AllowAll()), "Comment", name)
    return None
