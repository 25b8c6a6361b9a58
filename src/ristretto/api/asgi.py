"""A thin ASGI kernel: the request and response objects every handler uses.

No framework routing or middleware stack: Frappe's API has a fixed, small set of
URL shapes, dispatched in ``ristretto.api.app`` with plain string operations.
"""

from __future__ import annotations

import datetime as _dt
import decimal
from typing import Any
from urllib.parse import quote as urlquote

import orjson

from ristretto.exceptions import FrappeError, RequestEntityTooLarge, ValidationError

NO_CACHE = b"no-store,no-cache,must-revalidate,max-age=0"


class Request:
    __slots__ = ("scope", "method", "path", "query_string", "headers", "_cookies", "body", "client", "user")

    def __init__(self, scope: dict, body: bytes = b""):
        self.scope = scope
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.query_string: bytes = scope.get("query_string", b"")
        # Every request reads some (authorization, content-type, cookie): built at once, a plain
        # attribute then. Names lower-cased; the first of a repeated header wins.
        h: dict[str, str] = {}
        for k, v in scope.get("headers", ()):
            key = k.decode("latin-1").lower()
            if key not in h:
                h[key] = v.decode("latin-1")
        self.headers = h
        self._cookies: dict[str, str] | None = None
        self.body = body
        client = scope.get("client")
        self.client: str | None = client[0] if client else None
        # Who the request was authenticated as, once known (for the access log).
        self.user: str | None = None

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    @property
    def cookies(self) -> dict[str, str]:
        if self._cookies is None:
            raw = self.headers.get("cookie")
            self._cookies = parse_cookie_header(raw) if raw else {}
        return self._cookies

    @property
    def content_type(self) -> str:
        return (self.headers.get("content-type") or "").split(";", 1)[0].strip().lower()

    @property
    def is_https(self) -> bool:
        return self.scope.get("scheme") == "https" or self.headers.get("x-forwarded-proto") == "https"


def parse_cookie_header(raw: str) -> dict[str, str]:
    """``name=value; name2="quoted"`` -> a dict, in one pass (the first of a repeated name wins,
    as browsers send the most specific cookie first). The standard library's ``SimpleCookie``
    takes quadratic time on quoted values full of backslashes (CVE-2024-7592 on the Pythons
    this runs on): a 160 KB header held a worker for 43 s. Malformed parts are skipped."""
    out: dict[str, str] = {}
    for part in raw.split(";"):
        name, eq, value = part.partition("=")
        name = name.strip()
        if not eq or not name or name in out:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            value = _unquote(value[1:-1])
        out[name] = value
    return out


def _unquote(text: str) -> str:
    """The content of a quoted cookie value: ``\\c`` is ``c``, ``\\ooo`` an octal byte."""
    if "\\" not in text:
        return text
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n:
            octal = text[i + 1:i + 4]
            if len(octal) == 3 and all(d in "01234567" for d in octal):
                out.append(chr(int(octal, 8)))
                i += 4
                continue
            out.append(text[i + 1])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _default(obj: Any) -> Any:
    if isinstance(obj, decimal.Decimal):
        return float(obj)
    if isinstance(obj, _dt.datetime):
        return obj.strftime("%Y-%m-%d %H:%M:%S.%f" if obj.microsecond else "%Y-%m-%d %H:%M:%S")
    if isinstance(obj, _dt.date):
        return obj.isoformat()
    if isinstance(obj, _dt.time):
        return obj.strftime("%H:%M:%S.%f" if obj.microsecond else "%H:%M:%S").lstrip("0") or "0"
    if isinstance(obj, _dt.timedelta):
        return str(obj)
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "replace")
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def dumps(obj: Any) -> bytes:
    try:
        # Without OPT_NON_STR_KEYS first: that option doubles the cost of every answer, and
        # only a few hold a key that is not a string (the encoder then refuses, and the
        # answer is written again with it; a string-keyed answer is the same either way).
        return orjson.dumps(obj, default=_default)
    except orjson.JSONEncodeError as e:
        if "recursion" in str(e).lower():
            raise _too_deep() from None
    try:
        return orjson.dumps(obj, default=_default, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError as e:
        if "recursion" not in str(e).lower():
            raise
        raise _too_deep() from None


def _too_deep() -> ValidationError:
    # Only a client's own data nests this deep (echoed back, e.g. bulk_update's failed_docs):
    # orjson reads 1024 levels but writes 254.
    return ValidationError("The answer would nest values more than 254 levels deep",
                           title="Value nested too deeply")


class Response:
    __slots__ = ("status", "body", "headers")

    def __init__(self, body: bytes = b"", status: int = 200, content_type: bytes = b"application/json",
                 headers: list[tuple[bytes, bytes]] | None = None):
        self.status = status
        self.body = body
        self.headers: list[tuple[bytes, bytes]] = [(b"content-type", content_type)]
        if headers:
            self.headers.extend(headers)

    @classmethod
    def json(cls, obj: Any, status: int = 200) -> "Response":
        r = cls(dumps(obj), status)
        r.headers.append((b"cache-control", NO_CACHE))
        return r

    def set_cookie(self, name: str, value: str, *, max_age: int | None = None, http_only: bool = False,
                   secure: bool = False, expire: bool = False) -> None:
        parts = [f"{name}={urlquote(value, safe='')}", "Path=/", "SameSite=Lax"]
        if expire:
            parts.append("Expires=Thu, 01 Jan 1970 00:00:00 GMT")
            parts.append("Max-Age=0")
        elif max_age is not None:
            parts.append(f"Max-Age={max_age}")
        if http_only:
            parts.append("HttpOnly")
        if secure:
            parts.append("Secure")
        self.headers.append((b"set-cookie", "; ".join(parts).encode("latin-1", "replace")))

    async def send(self, send) -> None:
        # A 304 has no body, and its Content-Length could only be the 200's (RFC 9110 § 8.6).
        headers = self.headers if self.status == 304 else \
            self.headers + [(b"content-length", str(len(self.body)).encode())]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


class ClientDisconnected(Exception):
    """The client went away before its request body was complete: nothing may be handled."""


class InvalidRequestBody(FrappeError):
    http_status = 400


async def read_body(receive, limit: int, expected: int | None = None) -> bytes:
    """Read the whole request body, refusing more than ``limit`` bytes (413). A disconnect before
    the end of the body raises ``ClientDisconnected`` and a body of another length than the
    Content-Length ``expected`` is a 400: a truncated body never reaches a handler. (How long a
    client may take to send it is the HTTP server's limit: ``serve --body-timeout``.)"""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected()
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise RequestEntityTooLarge(f"Request body exceeds the limit of {limit} bytes",
                                            title="Request too large")
            chunks.append(chunk)
        more = message.get("more_body", False)
    if expected is not None and size != expected:
        raise InvalidRequestBody(f"The request body has {size} bytes, its Content-Length says {expected}",
                                 title="Bad request")
    return b"".join(chunks)


def content_length(scope: dict) -> int | None:
    """The request's Content-Length header as a number (None when absent or not a number)."""
    for k, v in scope.get("headers", ()):
        if k == b"content-length":  # ASGI header names are lower case
            return int(v) if v.isdigit() and len(v) <= 18 else None
    return None
