"""The desk's static files (``static/``), served at ``/assets/ristretto/desk/<file>``.

Served from a table read once (``ristretto.api.staticfiles``): no request path reaches the
file system.
"""

from __future__ import annotations

from pathlib import Path

from ristretto.api.staticfiles import StaticFiles

PREFIX = "/assets/ristretto/desk/"
STATIC = Path(__file__).resolve().parent / "static"
_TYPES = {".js": b"text/javascript; charset=utf-8", ".css": b"text/css; charset=utf-8",
          ".svg": b"image/svg+xml"}
# Scripts and styles only from this site; data the page shows comes from the API (same origin).
CSP = (b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       b"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'self'")
FILES = StaticFiles(STATIC, PREFIX, _TYPES)
url = FILES.url
serve = FILES.serve
