"""Files: ``upload_file``, storage under the site folder, ``/files`` and ``/private/files``.

Frappe's behaviour is the reference, made stricter where Frappe has had holes
(research notes §3.1 rows 9, 10, 12 and design rule 5):

* Stored names come from the client but are cleaned to one safe path segment
  (:func:`clean_file_name`); every path handed to the file system is resolved with
  ``realpath`` and must stay directly inside the site's files folder.
* A stored file never replaces another one: the final name is claimed with a hard
  link (atomic, fails when the name exists), else a short random suffix is added.
* Writes are durable before the File row commits: temp file in the target folder,
  fsync, link into place, fsync the folder (§3.4 point 4).
* Private files are served only to users allowed to read one of the File records
  of that URL (owner, or readers of the document it is attached to).
* Every file response carries ``X-Content-Type-Options: nosniff``; anything other
  than a safe image, PDF, plain text or media type is forced to download, so HTML,
  SVG and XML never render from the site origin.
* No URL given by a client is ever fetched by the server.

``content_hash`` is a SHA-256 hex digest (Frappe records an MD5 digest).

Here: who may read a file, uploads and downloads. Names, types and paths on disk are in
``ristretto.api.filenames``; the rules of File records on every route in
``ristretto.api.filecontroller``; where the bytes live (local disk or S3) in ``ristretto.api.storage``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ristretto.api import storage as file_storage
from ristretto.api.asgi import Response
from ristretto.api.filenames import (
    GUEST_MIMETYPES, INLINE_MIMETYPES, PRIVATE_PREFIX, PUBLIC_PREFIX, candidate_names, clean_file_name,
    content_type, is_plain_segment, parse_local_url,
)
from ristretto.db.dialects import quote as quote_ident
from ristretto.exceptions import (
    DoesNotExistError, PageDoesNotExistError, PermissionError, RequestEntityTooLarge, ValidationError,
)
from ristretto.meta.fieldtypes import cint
from ristretto.model import document
from ristretto.model.context import AllowAll

if TYPE_CHECKING:
    from ristretto.api.call import Call
    from ristretto.model.context import Context
    from ristretto.model.document import Document

# Same default as the request body limit of the app (``max_file_size`` overrides both).
DEFAULT_MAX_FILE_SIZE = 25 * 1024 * 1024
ATTACH_FIELDTYPES = frozenset({"Attach", "Attach Image"})
HOME, ATTACHMENTS = "Home", "Home/Attachments"
# Flag set in ``ctx.flags``: file URLs whose bytes this request has just stored.
STORED_FLAG = "ristretto.files.stored"


def url_in_use(ctx: "Context", url: str) -> bool:
    return ctx.db.one(f"SELECT 1 FROM {quote_ident('tabFile')} WHERE file_url = ? LIMIT 1", (url,)) is not None


def file_docs(ctx: "Context", url: str) -> list["Document"]:
    rows = ctx.db.sql(f"SELECT name FROM {quote_ident('tabFile')} WHERE file_url = ? ORDER BY creation", (url,))
    return [document.load(ctx, "File", r[0]) for r in rows]


# --- permissions -----------------------------------------------------------------------

def trusted(ctx: "Context") -> bool:
    return isinstance(ctx.perms, AllowAll)


def may_access(ctx: "Context", doc: "Document", ptype: str = "read") -> bool:
    """Frappe's File ``has_permission``, on top of the role permission of File.

    Public files are readable by anyone. Otherwise: Administrator, the owner, or a
    user with read (for ``read``) / write (for changes) on the attached document.
    Unattached files of others: System Managers only (Frappe: nobody).
    """
    if trusted(ctx) or ctx.user == "Administrator":
        return True
    if ptype == "read" and not cint(doc.d.get("is_private")):
        return True
    if ctx.user == "Guest" or not ctx.perms.has(ctx, "File", ptype, doc):
        return False
    if doc.d.get("owner") == ctx.user:
        return True
    ref_doctype, ref_name = doc.d.get("attached_to_doctype"), doc.d.get("attached_to_name")
    if ref_doctype and ref_name:
        return _may_access_reference(ctx, ref_doctype, ref_name, "read" if ptype == "read" else "write")
    return "System Manager" in ctx.roles


def _may_access_reference(ctx: "Context", doctype: str, name: str, ptype: str) -> bool:
    # A boolean question: the policy's refusal message must not reach the response.
    messages = len(ctx.messages)
    try:
        ref = document.get_doc(ctx, doctype, name)
        return ptype == "read" or ctx.perms.has(ctx, doctype, ptype, ref)
    except (DoesNotExistError, PermissionError):
        return False
    finally:
        del ctx.messages[messages:]


def check_reference(ctx: "Context", doctype: str, name: Any) -> "Document":
    """The document a file is attached to; the user must be able to read and write it."""
    ref = document.get_doc(ctx, doctype, name)
    ctx.perms.check(ctx, doctype, "write", ref)
    return ref


def _authorize(ctx: "Context", url: str) -> None:
    """403 unless some File record of ``url`` is readable by the user (404 for none, public)."""
    private = url.startswith(PRIVATE_PREFIX)
    if private and ctx.user == "Guest":
        raise PermissionError("You don't have permission to access this file")
    docs = file_docs(ctx, url)
    if not docs and not private:
        raise DoesNotExistError(f"File {url} not found", doctype="File")
    if not any(may_access(ctx, doc) for doc in docs):
        # No record and no permission look alike: existence is not disclosed.
        raise PermissionError("You don't have permission to access this file")


# --- upload ------------------------------------------------------------------------------

def max_file_size(site: Any) -> int:
    return int(site.config.get("max_file_size") or DEFAULT_MAX_FILE_SIZE)


def upload(call: "Call", form: dict[str, Any]) -> dict:
    """Frappe's ``upload_file``: store the bytes (or register ``file_url``), return the File."""
    ctx = call.ctx
    guest = ctx.user == "Guest"
    if guest and not cint(call.site.config.get("allow_guests_to_upload_files")):
        raise PermissionError("Guests are not allowed to upload files", title="Not permitted")
    if not guest:
        ctx.perms.check(ctx, "File", "create")  # before any byte is written
    data, client_name = _content(call, form)
    values = _attach_values(ctx, form)
    values["is_private"] = cint(form.get("is_private"))
    if data is None:
        return _register_url(ctx, form, values)
    name = clean_file_name(client_name)
    if guest or ctx.user_type == "Website User":
        if content_type(name) not in GUEST_MIMETYPES:
            raise ValidationError("You can only upload JPG, PNG, PDF, TXT or Microsoft documents.",
                                  title="File type not allowed")
    return _store_and_insert(call, name, data, values, guest)


def _content(call: "Call", form: dict[str, Any]) -> tuple[bytes | None, Any]:
    """(bytes, client file name) from the ``file`` part or base64 ``filedata``."""
    limit = max_file_size(call.site)
    part = call.files.get("file")
    if part is not None:
        data, name = part.data, part.filename
    elif form.get("filedata") not in (None, ""):
        data = _decode_base64(form["filedata"], limit)
        name = form.get("filename") or form.get("file_name")
    else:
        return None, form.get("file_name")
    if len(data) > limit:
        raise RequestEntityTooLarge(f"File exceeds the limit of {limit} bytes", title="File too large")
    return data, name


def _decode_base64(value: Any, limit: int) -> bytes:
    if not isinstance(value, str):
        raise ValidationError("filedata must be base64 text", title="Invalid file data")
    if value.startswith("data:") and "," in value:
        value = value.split(",", 1)[1]  # a data: URL, as browsers produce
    # Refuse before decoding: the decoded size is about 3/4 of the text.
    if len(value) // 4 * 3 > limit + 3:
        raise RequestEntityTooLarge(f"File exceeds the limit of {limit} bytes", title="File too large")
    try:
        return base64.b64decode(value)
    except (binascii.Error, ValueError):
        raise ValidationError("filedata is not valid base64", title="Invalid file data") from None


def _attach_values(ctx: "Context", form: dict[str, Any]) -> dict[str, Any]:
    """Folder and attachment fields; the target document is checked before any byte is written."""
    folder = form.get("folder")
    values: dict[str, Any] = {"folder": str(folder) if folder not in (None, "") else None}
    doctype, docname = form.get("doctype"), form.get("docname")
    if doctype in (None, "") or docname in (None, ""):
        values["folder"] = values["folder"] or HOME
        return values
    if not isinstance(doctype, str):
        raise ValidationError("doctype must be text", title="Invalid value")
    check_reference(ctx, doctype, docname)
    fieldname = form.get("fieldname")
    values.update(attached_to_doctype=doctype, attached_to_name=str(docname),
                  attached_to_field=str(fieldname) if fieldname not in (None, "") else None,
                  folder=values["folder"] or ATTACHMENTS)
    return values


def _register_url(ctx: "Context", form: dict[str, Any], values: dict[str, Any]) -> dict:
    url = form.get("file_url")
    if url in (None, ""):
        raise ValidationError("No file attached", title="No file")
    if ctx.user == "Guest":
        raise PermissionError("Guests may only upload file contents", title="Not permitted")
    values["file_url"] = str(url)
    if form.get("file_name") not in (None, ""):
        values["file_name"] = clean_file_name(form["file_name"])
    return _insert(ctx, values)


def _store_and_insert(call: "Call", name: str, data: bytes, values: dict[str, Any], guest: bool) -> dict:
    ctx = call.ctx
    private = bool(values["is_private"])
    prefix = PRIVATE_PREFIX if private else PUBLIC_PREFIX
    storage = file_storage.of(call.site)
    work = call.storage_work
    if work is not None:
        pending = work.take(name)  # stored off the event loop since the first pass
        if url_in_use(ctx, prefix + pending.name):  # a row for that URL came meanwhile
            pending.rolled_back()
            raise ValidationError(f"Could not find a free name for {name}", title="Upload failed")
    else:
        candidates = [c for c in candidate_names(name) if not url_in_use(ctx, prefix + c)]
        if storage.remote and call.stream:
            # Network calls never run on the event loop: the pipeline stores the bytes in a
            # thread and calls again (a batch step cannot; it stores them here).
            return file_storage.StorageWork(storage, private, candidates, data)
        pending = storage.put(private, candidates, data)
        if pending is None:
            raise ValidationError(f"Could not find a free name for {name}", title="Upload failed")
    stored = pending.name
    url = prefix + stored
    try:
        values.update(file_name=stored, file_url=url, file_size=len(data),
                      content_hash=hashlib.sha256(data).hexdigest())
        ctx.flags.setdefault(STORED_FLAG, set()).add(url)
        # The bytes follow the transaction: kept if the row commits, removed if not.
        ctx.on_commit.append(pending.committed)
        ctx.on_rollback.append(pending.rolled_back)
        if guest:
            # Frappe stores guest uploads without permission checks; the attach target
            # was already checked with the guest's own permissions.
            perms, ctx.perms = ctx.perms, AllowAll()
            try:
                return _insert(ctx, values)
            finally:
                ctx.perms = perms
        return _insert(ctx, values)
    except BaseException:
        # The File row will not commit: the bytes must not stay behind.
        pending.rolled_back()
        raise


def _insert(ctx: "Context", values: dict[str, Any]) -> dict:
    doc = document.insert(ctx, "File", values)
    field = values.get("attached_to_field")
    if field and values.get("attached_to_doctype"):
        ref_meta = ctx.get_meta(values["attached_to_doctype"])
        f = ref_meta.get_field(field)
        if f is not None and f.fieldtype in ATTACH_FIELDTYPES:
            document.update(ctx, ref_meta.name, values["attached_to_name"], {field: doc.d["file_url"]})
    return document.visible_dict(ctx, doc, no_nulls=True)


# --- download ----------------------------------------------------------------------------

def _not_found() -> Exception:
    return PageDoesNotExistError("File not found", title="Not found")


def serve(call: "Call", private: bool, name: str) -> Response:
    """``GET /files/<name>`` and ``GET /private/files/<name>``."""
    if call.request.method not in ("GET", "HEAD"):
        return Response(b"<h1>405 Method Not Allowed</h1>", 405, b"text/html; charset=utf-8")
    if not is_plain_segment(name):
        raise _not_found()
    storage = file_storage.of(call.site)
    if private or storage.remote:
        # On a shared storage a public object is served only while a File row names it (the
        # bytes of a delete whose removal a crash interrupted stay unreachable).
        _authorize(call.ctx, (PRIVATE_PREFIX if private else PUBLIC_PREFIX) + name)
    response = storage.response(private, name, attachment=False, head=call.request.method == "HEAD")
    if response is None:
        raise _not_found()
    return response


def download_file(call: "Call", file_url: Any) -> Response:
    """``download_file?file_url=...``: the bytes as an attachment, if the caller may read them."""
    url = file_url if isinstance(file_url, str) else ""
    local = parse_local_url(url)
    if local is None or not is_plain_segment(local[1]):
        raise DoesNotExistError(f"File {url} not found", doctype="File")
    _authorize(call.ctx, url)
    response = file_storage.of(call.site).response(local[0], local[1], attachment=True,
                                                   head=call.request.method == "HEAD")
    if response is None:
        raise _not_found()
    return response


def file_response(name: str, data: bytes, *, private: bool, attachment: bool = False) -> Response:
    ctype, headers = file_headers(name, private=private, attachment=attachment)
    return Response(data, 200, ctype, headers)


def file_headers(name: str, *, private: bool, attachment: bool = False) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """(content type, headers) of a stored file's answer, whatever the storage."""
    ctype = content_type(name)
    headers = [(b"x-content-type-options", b"nosniff")]
    if attachment or ctype not in INLINE_MIMETYPES:
        headers.append((b"content-disposition", _disposition("attachment", name)))
    if ctype != "application/pdf":
        # Defence in depth should a browser render it anyway (PDF viewers break under it).
        headers.append((b"content-security-policy", b"default-src 'none'; sandbox"))
    if private:
        headers.append((b"cache-control", b"private"))
    if ctype.startswith("text/"):
        ctype += "; charset=utf-8"
    return ctype.encode("latin-1"), headers


def _disposition(kind: str, name: str) -> bytes:
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in name)
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}".encode("latin-1")
