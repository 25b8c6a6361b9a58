"""The desk's static files (``static/``), served at ``/assets/ristretto/desk/<file>``.

The files are read once, when first asked for, into a table keyed by their path inside
``static/``: a request names a key of that table or gets a 404, so no request path ever
reaches the file system. URLs carry a content hash (``?v=``), so browsers may keep the files.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ristretto.api.asgi import Response
from ristretto.api.call import Call
from ristretto.exceptions import DoesNotExistError

PREFIX = "/assets/ristretto/desk/"
STATIC = Path(__file__).resolve().parent / "static"
_TYPES = {".js": b"text/javascript; charset=utf-8", ".css": b"text/css; charset=utf-8",
          ".svg": b"image/svg+xml"}
# Scripts and styles only from this site; data the page shows comes from the API (same origin).
CSP = (b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       b"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'self'")
_files: dict[str, tuple[bytes, bytes, str]] | None = None


def _load() -> dict[str, tuple[bytes, bytes, str]]:
    global _files
    if _files is None:
        table = {}
        for path in sorted(STATIC.rglob("*")):
            if path.is_file() and path.suffix in _TYPES:
                body = path.read_bytes()
                table[path.relative_to(STATIC).as_posix()] = (body, _TYPES[path.suffix],
                                                              hashlib.sha256(body).hexdigest()[:12])
        _files = table
    return _files


def url(name: str) -> str:
    return f"{PREFIX}{name}?v={_load()[name][2]}"


def serve(call: Call, file: str) -> Response:
    entry = _load().get(file)
    if entry is None:
        raise DoesNotExistError("Not found", title="Not found")
    body, ctype, _ = entry
    # Modules import each other by plain relative paths; the shell's ?v= changes with every
    # release of app.js, and the rest is revalidated cheaply.
    return Response(body, 200, ctype, [(b"cache-control", b"private, max-age=300")])
