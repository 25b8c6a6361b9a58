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


def security_headers(response: Any, path: str) -> None:
    headers: list[tuple[bytes, bytes]] = response.headers
    names = {name.lower() for name, _ in headers}
    if b"x-content-type-options" not in names:
        headers.append((b"x-content-type-options", b"nosniff"))
    if b"cache-control" not in names and (path.startswith("/api/") or path in ("", "/")):
        headers.append((b"cache-control", NO_CACHE))
    ctype = next((value for name, value in headers if name.lower() == b"content-type"), b"")
    if ctype.lower().startswith(b"text/html"):
        if b"x-frame-options" not in names:
            headers.append((b"x-frame-options", b"SAMEORIGIN"))
        if b"referrer-policy" not in names:
            headers.append((b"referrer-policy", b"strict-origin-when-cross-origin"))
