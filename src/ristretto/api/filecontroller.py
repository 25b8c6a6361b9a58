"""The File controller: the rules every File record obeys, whichever route writes it (upload,
``/api/resource/File``, RPC).

* A new record for bytes already on disk must name an existing stored file that the user may
  share; its size and hash are read from the bytes, never taken from the client.
* A record's ``file_url``, ``is_private`` and ``is_folder`` never change; an external URL is
  registered as a link (http or https only) and never fetched.
* Bytes are removed only once the delete of their last record has committed
  (``ristretto.api.storage``; its sweep settles what a crash interrupted).
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ristretto.api import storage as file_storage
from ristretto.api.filenames import MAX_URL_CHARS, clean_file_name, file_type, parse_local_url
from ristretto.api.files import (
    ATTACHMENTS, HOME, STORED_FLAG, check_reference, file_docs, may_access, trusted, url_in_use,
)
from ristretto.db.dialects import quote as quote_ident
from ristretto.exceptions import PermissionError, ValidationError
from ristretto.meta.fieldtypes import cint

if TYPE_CHECKING:
    from ristretto.model.context import Context
    from ristretto.model.document import Document


class FileController:
    """Lifecycle of File documents created on any route (upload, /api/resource/File, RPC)."""

    def __init__(self, site: Any):
        self.site = site

    def validate(self, ctx: "Context", doc: "Document") -> None:
        if doc.previous is not None:
            self._validate_change(ctx, doc)
        elif not cint(doc.d.get("is_folder")):
            self._validate_new(ctx, doc)
        self._check_folder(ctx, doc)

    def _validate_new(self, ctx: "Context", doc: "Document") -> None:
        d = doc.d
        url = d.get("file_url")
        if not isinstance(url, str) or not url:
            raise ValidationError("A File needs a file_url or content", title="No file")
        local = parse_local_url(url)
        if local is None:
            _check_external_url(url)
            d.update(is_private=0, file_size=0, content_hash=None)
        elif url not in ctx.flags.get(STORED_FLAG, ()):
            self._adopt_local(ctx, doc, url)
        if not d.get("file_name"):
            d["file_name"] = _name_from_url(url, local)
        d["file_type"] = file_type(d["file_name"])
        if d.get("attached_to_doctype") and d.get("attached_to_name") and not trusted(ctx):
            check_reference(ctx, d["attached_to_doctype"], d["attached_to_name"])
        if not d.get("folder"):
            d["folder"] = ATTACHMENTS if d.get("attached_to_doctype") else HOME

    def _adopt_local(self, ctx: "Context", doc: "Document", url: str) -> None:
        """A new record for bytes already stored: they must exist, and be the user's to share."""
        private, name = parse_local_url(url)
        storage = file_storage.of(self.site)
        if storage.remote:
            # Known from a File row already naming the bytes (no network call on the event
            # loop); bytes no row names are a dead request's and not shared.
            row = ctx.db.one(f"SELECT file_size, content_hash FROM {quote_ident('tabFile')} "
                             f"WHERE file_url = ? LIMIT 1", (url,))
            found = (row[0], row[1]) if row is not None else None
        else:
            found = storage.digest(private, name)
        if found is None:
            raise ValidationError(f"File {url} does not exist", title="File not found")
        if private and not trusted(ctx) and not any(may_access(ctx, other) for other in file_docs(ctx, url)):
            raise PermissionError("You don't have permission to access this file")
        doc.d["is_private"] = int(private)
        doc.d["file_size"], doc.d["content_hash"] = found

    def _validate_change(self, ctx: "Context", doc: "Document") -> None:
        before = doc.previous.d
        for key in ("file_url", "is_private", "is_folder"):
            if str(doc.d.get(key) or "") != str(before.get(key) or ""):
                raise ValidationError(f"{key} of a File cannot be changed", title="Not allowed")
        for key in ("file_size", "content_hash", "file_type"):
            doc.d[key] = before.get(key)  # computed from the bytes, never from the client
        if not may_access(ctx, doc.previous, "write"):
            raise PermissionError("You don't have permission to change this file")
        ref = (doc.d.get("attached_to_doctype"), doc.d.get("attached_to_name"))
        if all(ref) and ref != (before.get("attached_to_doctype"), before.get("attached_to_name")) \
                and not trusted(ctx):
            check_reference(ctx, *ref)

    def _check_folder(self, ctx: "Context", doc: "Document") -> None:
        folder = doc.d.get("folder")
        if folder in (None, ""):
            return
        row = ctx.db.one(f"SELECT is_folder FROM {quote_ident('tabFile')} WHERE name = ?", (str(folder),))
        if row is None or not cint(row[0]):
            raise ValidationError(f"Folder {folder} does not exist", title="Invalid folder")

    def on_trash(self, ctx: "Context", doc: "Document") -> None:
        if doc.name in (HOME, ATTACHMENTS):
            raise ValidationError(f"Cannot delete the {doc.name} folder", title="Not allowed")
        if not may_access(ctx, doc, "delete"):
            raise PermissionError("You don't have permission to delete this file")

    def after_delete(self, ctx: "Context", doc: "Document") -> None:
        # The bytes go only once the delete has committed: a request failing after this
        # point keeps both the record and its file.
        url = doc.d.get("file_url")
        if not url or cint(doc.d.get("is_folder")) or url_in_use(ctx, url):
            return
        local = parse_local_url(url)
        pending = file_storage.of(self.site).pending_delete(*local) if local is not None else None
        if pending is not None:
            # Local disk: marked before the commit, a crash in between is settled by the start-up
            # sweep (ristretto.api.s3store says what remains on S3).
            ctx.on_commit.append(pending.committed)
            ctx.on_rollback.append(pending.rolled_back)


def _name_from_url(url: str, local: tuple[bool, str] | None) -> str:
    if local is not None:
        return clean_file_name(local[1])
    parts = urlsplit(url)
    return clean_file_name(parts.path.rsplit("/", 1)[-1] or parts.hostname)


def _check_external_url(url: str) -> None:
    """Only http(s) URLs are registered as links; they are never fetched."""
    bad = ValidationError(f"Invalid file URL {url[:200]}: use /files/..., /private/files/... or an "
                          "http(s) URL", title="Invalid URL")
    if len(url) > MAX_URL_CHARS or any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in url):
        raise bad
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        raise bad from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise bad
