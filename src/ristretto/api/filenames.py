"""File names, types and places on disk: what ``ristretto.api.files`` stores and serves.

* A stored name comes from the client but is cleaned to one safe path segment
  (:func:`clean_file_name`); every path handed to the file system is resolved with
  ``realpath`` and must stay directly inside the site's files folder (:func:`resolve`).
* A stored file never replaces another: the storage claims the final name atomically
  (``ristretto.api.storage``), else tries a name from :func:`candidate_names`.
* The content type of a name comes from the interpreter's own table plus a few office and
  media types, so answers do not depend on the machine's ``/etc/mime.types``.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import re
import secrets
import unicodedata
from pathlib import Path
from typing import Any

from ristretto.exceptions import ValidationError

PUBLIC_PREFIX = "/files/"
PRIVATE_PREFIX = "/private/files/"

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


def candidate_names(name: str) -> list[str]:
    """``name``, then suffixed variants: the names an upload of ``name`` may be stored under."""
    return [name] + [_with_suffix(name, secrets.token_hex(3)) for _ in range(15)]


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


def digest(path: Path) -> tuple[int, str]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            size += len(chunk)
            h.update(chunk)
    return size, h.hexdigest()
