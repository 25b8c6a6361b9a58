"""Security headers, added in one place to every response just before it is sent (``App._http``).

* ``X-Content-Type-Options: nosniff`` on everything: a browser never guesses a type.
* ``Cache-Control: no-store`` on API answers that did not choose their own caching: they are
  per user and must stay out of browser and shared caches.
* HTML: ``X-Frame-Options: SAMEORIGIN`` (no framing by other sites: clickjacking) and
  ``Referrer-Policy: strict-origin-when-cross-origin`` (no paths or query strings to other sites).

Only the header list is touched, so any response object (whole or streamed body) works.
"""

from __future__ import annotations

from typing import Any

from ristretto.api.asgi import NO_CACHE


_NOSNIFF = (b"x-content-type-options", b"nosniff")
_NO_STORE = (b"cache-control", NO_CACHE)
_HTML = (b"x-frame-options", b"SAMEORIGIN"), (b"referrer-policy", b"strict-origin-when-cross-origin")


def security_headers(response: Any, path: str) -> None:
    # One pass over the list (this runs on every request). Header names are lower case
    # here, as ASGI writes them and every Response of this package makes them.
    headers: list[tuple[bytes, bytes]] = response.headers
    cache = nosniff = html = False
    for name, value in headers:
        if name == b"cache-control":
            cache = True
        elif name == b"x-content-type-options":
            nosniff = True
        elif name == b"content-type":
            html = value[:9].lower() == b"text/html"
    if not nosniff:
        headers.append(_NOSNIFF)
    if not cache and (path.startswith("/api/") or path in ("", "/")):
        headers.append(_NO_STORE)
    if html:
        present = {name for name, _ in headers}
        headers.extend(h for h in _HTML if h[0] not in present)
