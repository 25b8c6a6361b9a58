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
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import mimetypes
import os
import re
import secrets
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import quote, urlsplit

from ristretto.api import filestore
from ristretto.api.asgi import Response
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
PUBLIC_PREFIX = "/files/"
PRIVATE_PREFIX = "/private/files/"
ATTACH_FIELDTYPES = frozenset({"Attach", "Attach Image"})
HOME, ATTACHMENTS = "Home", "Home/Attachments"

# Room is left for the 6-character collision suffix: ``file_name`` is a 140-character
# column, and most file systems allow 255 bytes per name.
MAX_NAME_CHARS = 120
MAX_NAME_BYTES = 200
MAX_EXT_CHARS = 16
MAX_URL_CHARS = 2048

# Guests and Website Users may upload only these (by extension, as Frappe).
GUEST_MIMETYPES = frozenset({
    "image/png", "image/jpeg", "application/pdf", "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.spreadsheet",
    "text/plain", "video/quicktime", "video/mp4",
})
# Types a browser may render inline from the site origin: none of them runs script.
INLINE_MIMETYPES = frozenset({
    "image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "image/bmp",
    "application/pdf", "text/plain", "text/csv",
    "video/mp4", "video/webm", "video/quicktime", "audio/mpeg", "audio/ogg", "audio/wav",
})

# The interpreter's built-in table only, so answers do not depend on /etc/mime.types.
_MIME = mimetypes.MimeTypes()
for _ext, _type in {
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".ods": "application/vnd.oasis.opendocument.spreadsheet",
    ".webp": "image/webp", ".md": "text/markdown", ".webm": "video/webm", ".ogg": "audio/ogg",
}.items():
    _MIME.add_type(_type, _ext)

# Bidirectional-text controls can make ``gpj.exe`` display as ``exe.jpg``.
_BIDI = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Characters that would change the meaning of the ``file_url`` (query, fragment,
# escapes) or carry markup into pages showing the name.
_URL_UNSAFE = str.maketrans({c: "_" for c in '<>"?#%'})
# Flag set in ``ctx.flags``: file URLs whose bytes this request has just stored.
_STORED = "ristretto.files.stored"


# --- names -------------------------------------------------------------------------------

def _strip_edges(name: str) -> str:
    """Without leading and trailing whitespace and dots. By index, not by a regex: searching
    for a trailing run retries it from every position (quadratic on a long run of spaces)."""
    start, end = 0, len(name)
    while start < end and (name[start] == "." or name[start].isspace()):
        start += 1
    while end > start and (name[end - 1] == "." or name[end - 1].isspace()):
        end -= 1
    return name[start:end]


def clean_file_name(raw: Any) -> str:
    """One safe path segment from a client-supplied name (417 when nothing is left).

    Keeps the last segment (split on ``/`` and ``\\``), drops control and bidi
    characters, never keeps ``..`` or a leading dot, and shortens long names while
    keeping the extension. A name that needs none of this is returned unchanged.
    """
    text = "" if raw is None else str(raw)
    name = re.split(r"[\\/]", text)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cs") and ch not in _BIDI)
    name = name.translate(_URL_UNSAFE)
    name = re.sub(r"\.{2,}", ".", name)
    name = _strip_edges(name)
    if not name:
        raise ValidationError("A file name is required", title="Invalid file name")
    return _shorten(name)


def split_ext(name: str) -> tuple[str, str]:
    """(stem, ".ext"); a missing or implausibly long extension counts as none."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext) > MAX_EXT_CHARS:
        return name, ""
    return stem, "." + ext


def _shorten(name: str) -> str:
    stem, ext = split_ext(name)
    while stem and (len(stem) + len(ext) > MAX_NAME_CHARS or len((stem + ext).encode()) > MAX_NAME_BYTES):
        stem = stem[:-1]
    return (stem.rstrip() or "file") + ext


def _with_suffix(name: str, suffix: str) -> str:
    # Frappe's scheme for a taken name: the suffix goes between stem and extension.
    stem, ext = split_ext(name)
    return f"{stem}{suffix}{ext}"


def file_type(name: str | None) -> str | None:
    ext = split_ext(name or "")[1]
    return ext[1:].upper() if ext else None


def content_type(name: str) -> str:
    return _MIME.guess_type("x" + split_ext(name)[1], strict=False)[0] or "application/octet-stream"


def is_plain_segment(name: str) -> bool:
    """A name that can only mean a file directly in the folder (no separators, no dot files)."""
    return bool(name) and not name.startswith(".") and not any(c in name for c in "/\\\x00")


# --- storage -----------------------------------------------------------------------------

def files_dir(site: Any, private: bool) -> Path:
    path = site.files_path(private)
    path.mkdir(parents=True, exist_ok=True)
    return path


def resolve(directory: Path, name: str) -> Path | None:
    """The stored file ``name`` in ``directory``, or None (also for anything escaping it)."""
    if not is_plain_segment(name):
        return None
    root = os.path.realpath(directory)
    target = os.path.realpath(os.path.join(root, name))
    if os.path.dirname(target) != root or not os.path.isfile(target):
        return None
    return Path(target)


def store(directory: Path, name: str, data: bytes, taken: Callable[[str], bool]) -> "filestore.Pending":
    """Durably write ``data`` under ``name`` (or a suffixed variant), pending until the commit
    (``ristretto.api.filestore``: disk and database agree after any crash)."""
    candidates = [name] + [_with_suffix(name, secrets.token_hex(3)) for _ in range(15)]
    pending = filestore.write(directory, (c for c in candidates if not taken(c)), data)
    if pending is None:
        raise ValidationError(f"Could not find a free name for {name}", title="Upload failed")
    return pending


def parse_local_url(url: str) -> tuple[bool, str] | None:
    """(is_private, stored name) of a ``/files/...`` or ``/private/files/...`` URL."""
    if url.startswith(PRIVATE_PREFIX):
        return True, url[len(PRIVATE_PREFIX):]
    if url.startswith(PUBLIC_PREFIX):
        return False, url[len(PUBLIC_PREFIX):]
    return None


def local_path(site: Any, url: str) -> Path | None:
    local = parse_local_url(url)
    return resolve(site.files_path(local[0]), local[1]) if local else None


def _digest(path: Path) -> tuple[int, str]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            size += len(chunk)
            h.update(chunk)
    return size, h.hexdigest()


def _url_in_use(ctx: "Context", url: str) -> bool:
    return ctx.db.one(f"SELECT 1 FROM {quote_ident('tabFile')} WHERE file_url = ? LIMIT 1", (url,)) is not None


def _file_docs(ctx: "Context", url: str) -> list["Document"]:
    rows = ctx.db.sql(f"SELECT name FROM {quote_ident('tabFile')} WHERE file_url = ? ORDER BY creation", (url,))
    return [document.load(ctx, "File", r[0]) for r in rows]


# --- permissions -----------------------------------------------------------------------

def _trusted(ctx: "Context") -> bool:
    return isinstance(ctx.perms, AllowAll)


def may_access(ctx: "Context", doc: "Document", ptype: str = "read") -> bool:
    """Frappe's File ``has_permission``, on top of the role permission of File.

    Public files are readable by anyone. Otherwise: Administrator, the owner, or a
    user with read (for ``read``) / write (for changes) on the attached document.
    Unattached files of others: System Managers only (Frappe: nobody).
    """
    if _trusted(ctx) or ctx.user == "Administrator":
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
    docs = _file_docs(ctx, url)
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
    directory = files_dir(call.site, private)
    pending = store(directory, name, data, lambda n: _url_in_use(ctx, prefix + n))
    stored = pending.name
    url = prefix + stored
    try:
        values.update(file_name=stored, file_url=url, file_size=len(data),
                      content_hash=hashlib.sha256(data).hexdigest())
        ctx.flags.setdefault(_STORED, set()).add(url)
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
    if private:
        _authorize(call.ctx, PRIVATE_PREFIX + name)
    path = resolve(call.site.files_path(private), name)
    if path is None:
        raise _not_found()
    return file_response(name, path.read_bytes(), private=private)


def download_file(call: "Call", file_url: Any) -> Response:
    """``download_file?file_url=...``: the bytes as an attachment, if the caller may read them."""
    url = file_url if isinstance(file_url, str) else ""
    local = parse_local_url(url)
    if local is None or not is_plain_segment(local[1]):
        raise DoesNotExistError(f"File {url} not found", doctype="File")
    _authorize(call.ctx, url)
    path = resolve(call.site.files_path(local[0]), local[1])
    if path is None:
        raise _not_found()
    return file_response(local[1], path.read_bytes(), private=local[0], attachment=True)


def file_response(name: str, data: bytes, *, private: bool, attachment: bool = False) -> Response:
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
    return Response(data, 200, ctype.encode("latin-1"), headers)


def _disposition(kind: str, name: str) -> bytes:
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in name)
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}".encode("latin-1")


# --- the File controller -------------------------------------------------------------------

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
        elif url not in ctx.flags.get(_STORED, ()):
            self._adopt_local(ctx, doc, url)
        if not d.get("file_name"):
            d["file_name"] = _name_from_url(url, local)
        d["file_type"] = file_type(d["file_name"])
        if d.get("attached_to_doctype") and d.get("attached_to_name") and not _trusted(ctx):
            check_reference(ctx, d["attached_to_doctype"], d["attached_to_name"])
        if not d.get("folder"):
            d["folder"] = ATTACHMENTS if d.get("attached_to_doctype") else HOME

    def _adopt_local(self, ctx: "Context", doc: "Document", url: str) -> None:
        """A new record for bytes already stored: they must exist, and be the user's to share."""
        private = url.startswith(PRIVATE_PREFIX)
        path = local_path(self.site, url)
        if path is None:
            raise ValidationError(f"File {url} does not exist", title="File not found")
        if private and not _trusted(ctx) and not any(may_access(ctx, other) for other in _file_docs(ctx, url)):
            raise PermissionError("You don't have permission to access this file")
        doc.d["is_private"] = int(private)
        doc.d["file_size"], doc.d["content_hash"] = _digest(path)

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
                and not _trusted(ctx):
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
        if not url or cint(doc.d.get("is_folder")) or _url_in_use(ctx, url):
            return
        path = local_path(self.site, url)
        if path is None:
            return
        pending = filestore.pending_delete(path)
        if pending is None:
            ctx.on_commit.append(lambda: path.unlink(missing_ok=True))
        else:
            # Marked before the commit: a crash in between is settled by the start-up sweep.
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
