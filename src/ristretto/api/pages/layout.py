"""The shared page shell and stylesheet of every HTML page Ristretto serves.

:func:`page` wraps a body fragment (already escaped by its caller) in the HTML shell: language,
viewport, title, the one stylesheet (served by :func:`stylesheet` at :data:`STYLE_URL`, versioned
by its content so browsers may keep it), and a centred card. Pages are per user and are never
cached (``no-store``). The Content-Security-Policy allows nothing but the stylesheet (no script
at all); ``form-action`` is deliberately left open: Chrome applies it to the redirects that
follow a form's POST, and the OAuth approve POST redirects to the client's own origin.
"""

from __future__ import annotations

import hashlib
from html import escape

from ristretto.api.asgi import NO_CACHE, Response
from ristretto.api.pages.style import CSS

HTML = b"text/html; charset=utf-8"
STYLESHEET = CSS.encode()
_VERSION = hashlib.sha256(STYLESHEET).hexdigest()[:12]
STYLE_PATH = "/assets/ristretto/page.css"
STYLE_URL = f"{STYLE_PATH}?v={_VERSION}"
CSP = (b"default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; "
       b"frame-ancestors 'self'")

# The mark beside the site name: a small cup, drawn inline (no image request).
_MARK = ('<svg class="mark" viewBox="0 0 32 32" width="32" height="32" aria-hidden="true" focusable="false">'
         '<path d="M6 11h17v7a8 8 0 0 1-8 8h-1a8 8 0 0 1-8-8z" fill="currentColor"/>'
         '<path d="M23 13h2a3.5 3.5 0 0 1 0 7h-2.3" fill="none" stroke="currentColor" stroke-width="2.2"/>'
         '<path d="M11 4.5c-1.2 1.4 1.2 2.6 0 4M16 4.5c-1.2 1.4 1.2 2.6 0 4" fill="none" '
         'stroke="currentColor" stroke-width="1.6" stroke-linecap="round" opacity=".55"/></svg>')


def page(title: str, body: str, *, status: int = 200, site_name: str = "Ristretto",
         headers: list[tuple[bytes, bytes]] | None = None) -> Response:
    """A whole HTML page: ``body`` is trusted markup (its caller escaped every value in it);
    ``title`` and ``site_name`` are text and are escaped here."""
    html = (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="color-scheme" content="light dark">\n'
        f'<title>{escape(title)} · {escape(site_name)}</title>\n'
        '<link rel="icon" href="data:,">\n'
        f'<link rel="stylesheet" href="{STYLE_URL}">\n</head>\n<body>\n'
        '<main class="card">\n'
        f'<p class="brand">{_MARK}<span>{escape(site_name)}</span></p>\n'
        f'{body}\n</main>\n</body>\n</html>\n')
    return page_response(html, status, headers)


def page_response(html: str, status: int = 200, headers: list[tuple[bytes, bytes]] | None = None,
                  csp: bytes = CSP) -> Response:
    """A complete HTML document as a response: never cached, under the pages' policy (or ``csp``)."""
    return Response(html.encode(), status, HTML, [(b"cache-control", NO_CACHE),
                                                  (b"content-security-policy", csp), *(headers or ())])


def error_page(status: int, title: str, message: str) -> Response:
    """A page saying what went wrong (``title`` and ``message`` are text)."""
    body = (f'<h1 id="title">{escape(title)}</h1>\n'
            f'<p class="alert" role="alert">{escape(message)}</p>\n'
            '<p class="actions"><a class="button secondary" href="/">Go to the home page</a></p>')
    return page(title, body, status=status)


def redirect(location: str, status: int = 303) -> Response:
    """A redirect (``location`` is already safe: a checked path or a registered URI)."""
    return Response(b"", status, HTML, [(b"location", location.encode("latin-1")),
                                        (b"cache-control", NO_CACHE)])


def stylesheet() -> Response:
    # Versioned by content in STYLE_URL: a changed stylesheet has a new URL, so browsers may keep
    # it long (private: the pipeline may renew the session cookie on any answer).
    return Response(STYLESHEET, 200, b"text/css; charset=utf-8",
                    [(b"cache-control", b"private, max-age=31536000, immutable")])
