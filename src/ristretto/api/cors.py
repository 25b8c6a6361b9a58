"""Cross-origin resource sharing: which other origins' pages may call the API from a browser.

``allow_cors`` in site_config.json is ``"*"`` (any http(s) origin), one origin, or a list of
origins, as Frappe reads it (a ``"*"`` inside a list stands for no origin, as in Frappe). It is
parsed once per ``App`` (``Cors.from_config``); ``App._http`` then calls ``Cors.apply`` on every
response. A request whose ``Origin`` is allowed gets that origin echoed in
``Access-Control-Allow-Origin`` (never ``*``: credentials are allowed, and browsers refuse ``*``
with them), ``Access-Control-Allow-Credentials: true`` and ``Vary: Origin`` (the answer depends
on the origin, so a cache must not hand it to another one). A preflight (``OPTIONS`` with
``Access-Control-Request-Method``) from an allowed origin is also told the method and the
headers it asked for, and may be cached a day. Any other origin gets nothing added, so its
browser keeps the answer from the page. ``null`` and non-http(s) origins are never allowed:
sandboxed frames and local files would otherwise read with the user's cookies.

Being allowed here only lets a page *read* answers; whether a cookie session may *write* from
another origin is ``proxy.cross_site``'s decision (listed origins may, ``*`` grants none).
"""

from __future__ import annotations

import re
from typing import Any

from ristretto import exceptions as exc
from ristretto.api.asgi import Request
from ristretto.api.errors import error_response
from ristretto.api.proxy import normalise_origin

# An HTTP method is a token; the longest registered one is far shorter than this.
MAX_METHOD = 32
# Header names a preflight may ask for, comma separated: browsers list only the non-safelisted
# ones a page set (Authorization, Content-Type, X-Frappe-CSRF-Token ...), far below this.
MAX_REQUEST_HEADERS = 2048
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_CREDENTIALS = (b"access-control-allow-credentials", b"true")
_VARY = (b"vary", b"Origin")
_MAX_AGE = (b"access-control-max-age", b"86400")


class Cors:
    """The origins ``allow_cors`` lets read the site's answers with credentials."""

    __slots__ = ("any_origin", "origins")

    def __init__(self, origins: frozenset[str], any_origin: bool = False) -> None:
        self.any_origin = any_origin
        self.origins = origins

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Cors | None":
        """The parsed ``allow_cors``, or None when it allows no origin (nothing to do per request).
        ValueError says what is wrong with it."""
        raw = config.get("allow_cors")
        if not raw:
            return None
        if raw == "*":
            return cls(frozenset(), any_origin=True)
        entries = [raw] if isinstance(raw, str) else raw
        if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
            raise ValueError('allow_cors in site_config.json must be "*", an origin or a list of origins')
        origins = set()
        for entry in entries:
            if entry == "*":
                continue
            origin = normalise_origin(entry)
            if origin is None:
                raise ValueError(f"allow_cors: {entry!r} is not an origin (http[s]://host[:port])")
            origins.add(origin)
        return cls(frozenset(origins)) if origins else None

    def allowed(self, origin: str) -> str | None:
        """The value to echo for the request's ``Origin``, or None when it is not allowed."""
        if origin in self.origins:  # as browsers send it: already in normal form
            return origin
        normal = normalise_origin(origin)
        if normal is None or not (self.any_origin or normal in self.origins):
            return None
        return normal

    def apply(self, request: Request, response: Any) -> Any:
        """``response`` with the CORS headers ``request``'s origin is due (a 417 in place of a
        preflight that cannot be read)."""
        origin = request.header("origin")
        if origin is None:
            return response
        echo = self.allowed(origin)
        if echo is None:
            return response
        headers: list[tuple[bytes, bytes]] = response.headers
        if request.method == "OPTIONS":
            method = request.header("access-control-request-method")
            if method is not None:
                try:
                    extra = _preflight(method, request.header("access-control-request-headers"))
                except exc.ValidationError as e:
                    return error_response(e, messages=[], tracebacks=False)
                headers.extend(extra)
        headers.append((b"access-control-allow-origin", echo.encode("latin-1")))
        headers.append(_CREDENTIALS)
        headers.append(_VARY)
        return response


def _preflight(method: str, requested: str | None) -> list[tuple[bytes, bytes]]:
    """The headers answering a preflight that asked for ``method`` and the ``requested`` headers."""
    method = method.strip()
    if len(method) > MAX_METHOD or not _TOKEN.fullmatch(method):
        raise exc.ValidationError("Access-Control-Request-Method must be one HTTP method")
    out = [(b"access-control-allow-methods", method.encode("ascii")), _MAX_AGE]
    if requested:
        if len(requested) > MAX_REQUEST_HEADERS:
            raise exc.ValidationError(
                f"Access-Control-Request-Headers is longer than {MAX_REQUEST_HEADERS} characters")
        names = [name.strip() for name in requested.split(",")]
        names = [name for name in names if name]
        if not all(_TOKEN.fullmatch(name) for name in names):
            raise exc.ValidationError("Access-Control-Request-Headers must list header names")
        if names:
            out.append((b"access-control-allow-headers", ", ".join(names).encode("ascii")))
    return out

