"""``/api/openapi.json`` (the description, per caller), ``/api/docs`` (the page that shows it) and
the page's static files, all served from this package: no other host is ever asked for anything.

Generating the description walks every DocType and method; the answer depends only on the
metadata version and on who asks as far as permissions go (Administrator, or a set of roles), so
encoded descriptions are kept per (metadata version, caller kind, roles), a few dozen and
32 MiB at most per site (measured: 8 ms to build for 20 DocTypes, 73 ms for 120; 0.3 ms cached).
``site_config.json`` ``openapi`` = false turns both routes off (404).
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from html import escape
from pathlib import Path

from ristretto.api.asgi import Response, dumps
from ristretto.api.authn import page_csrf_token
from ristretto.api.call import Call
from ristretto.api.openapi.generate import describe
from ristretto.api.pages import layout
from ristretto.api.routing import Route, route
from ristretto.api.staticfiles import StaticFiles
from ristretto.exceptions import DoesNotExistError
from ristretto.site.settings import setting

SPEC_PATH = "/api/openapi.json"
DOCS_PATH = "/api/docs"
PREFIX = "/assets/ristretto/openapi/"
STATIC = Path(__file__).resolve().parent / "static"
_TYPES = {".js": b"text/javascript; charset=utf-8", ".css": b"text/css; charset=utf-8"}
FILES = StaticFiles(STATIC, PREFIX, _TYPES)
# The page's script and style come from this site only; it asks only this site for data.
CSP = (b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       b"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'self'")
# Descriptions kept per site: callers with distinct role sets are few; a large site's description
# is a few MiB, so the total is capped too (the newest is always kept).
_CACHED = 32
_CACHED_BYTES = 32 * 1024 * 1024
_caches: "weakref.WeakKeyDictionary[object, OrderedDict[tuple, bytes]]" = weakref.WeakKeyDictionary()
_lock = threading.Lock()
_router = None


def _routes():
    global _router
    if _router is None:
        from ristretto.api import routes  # the table that lists these very routes
        _router = routes.router()
    return _router


def _enabled(call: Call) -> None:
    if not setting(call.site.config, "openapi"):
        raise DoesNotExistError("Not found", title="Not found")


def openapi_json(call: Call) -> Response:
    """The OpenAPI 3.1 description of the API as the caller may use it."""
    _enabled(call)
    ctx = call.ctx
    registry = ctx.registry
    key = (registry.version, ctx.user == "Administrator", ctx.user == "Guest", ctx.roles)
    with _lock:
        cache = _caches.setdefault(registry, OrderedDict())
        body = cache.get(key)
        if body is not None:
            cache.move_to_end(key)
    if body is None:
        body = dumps(describe(ctx, _routes(), call.methods))
        with _lock:
            cache[key] = body
            total = sum(len(b) for b in cache.values())
            while len(cache) > 1 and (len(cache) > _CACHED or total > _CACHED_BYTES):
                total -= len(cache.popitem(last=False)[1])
    return Response(body, 200, b"application/json")


def docs(call: Call) -> Response:
    """The interactive page: the description, grouped by tag, with a form to try each operation."""
    _enabled(call)
    boot = dumps({"spec": SPEC_PATH, "user": call.ctx.user, "csrf_token": page_csrf_token(call)})
    boot_text = boot.decode().replace("<", "\\u003c")  # never ends the script element
    html = (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="color-scheme" content="light dark">\n'
        '<title>API · Ristretto</title>\n<link rel="icon" href="data:,">\n'
        f'<link rel="stylesheet" href="{escape(FILES.url("docs.css"))}">\n'
        f'<script type="module" src="{escape(FILES.url("docs.js"))}"></script>\n'
        '</head>\n<body>\n'
        f'<script type="application/json" id="boot">{boot_text}</script>\n'
        '<header><h1>API</h1><p id="who"></p>'
        '<label>Authorization <input id="auth" type="password" autocomplete="off" '
        'placeholder="token key:secret, or empty for this session"></label>'
        '<input id="filter" type="search" placeholder="Filter paths"></header>\n'
        '<main id="docs" aria-live="polite"><p class="loading">Loading…</p></main>\n'
        '</body>\n</html>\n')
    return layout.page_response(html, csp=CSP)


ROUTES: list[Route] = [
    route(SPEC_PATH, "GET", openapi_json),
    route(DOCS_PATH, "GET", docs, api="page"),
    route(PREFIX + "{file:path}", "GET", FILES.serve, api="page", transaction=False),
]
