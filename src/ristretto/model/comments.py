"""Comments on documents: Comment records written on the user's behalf."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ristretto.exceptions import ValidationError
from ristretto.model import document

if TYPE_CHECKING:
    from ristretto.model.context import Context
    from ristretto.model.document import Document

COMMENT_TYPES = ("Comment", "Like", "Info", "Label", "Workflow", "Edit")


def add_comment(ctx: "Context", doc: "Document", content: str | None, *, comment_type: str = "Comment",
                comment_by: str | None = None, ip_address: str | None = None) -> "Document":
    """Add a comment to ``doc`` (the caller has checked the user may see ``doc``)."""
    if not isinstance(content, str) or not content.strip():
        raise ValidationError("Comment cannot be empty", title="Missing value")
    if comment_type not in COMMENT_TYPES:
        raise ValidationError(f"Comment type must be one of {', '.join(COMMENT_TYPES)}", title="Invalid value")
    return document.insert_trusted(ctx, "Comment", {
        "comment_type": comment_type, "reference_doctype": doc.meta.name, "reference_name": str(doc.name),
        "reference_owner": doc.d.get("owner"), "content": content, "comment_email": ctx.user,
        "comment_by": comment_by or ctx.user, "ip_address": ip_address})
