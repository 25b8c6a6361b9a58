"""Conditional requests at the API edge: ``If-Match`` / ``If-None-Match`` in, ``ETag`` out.

The headers are parsed here into :class:`ristretto.model.etags.Preconditions` (Python values);
the model computes tags and checks them inside the transaction (``ristretto.model.etags``).
Every document route of every API version goes through these functions:

* a read: ``return conditional.read_document(call, doctype, name)``: the ``{"data": ...}`` body
  with the document's ``ETag``, or 304 Not Modified (no body) when ``If-None-Match`` matches;
* a write: ``document.update(ctx, dt, name, data, expect=conditional.expect(call))`` (``delete``
  likewise), then ``conditional.tag(call, doc)`` so the answer carries the new ``ETag``;
* a document method: ``docmethods.run_stored(call, doctype, name, method)`` checks ``If-Match``.

The grammar (RFC 9110 § 8.8.3, § 13.1.1/2): ``"*"`` or a comma-separated list of entity tags,
``W/"..."`` (weak) or ``"..."`` (strong), empty list elements allowed. One pass over the value,
at most :data:`MAX_LENGTH` characters; a malformed or longer value is a 417 with a clear message
(ignoring it would turn a write the client meant to guard into an unconditional one).
"""

from __future__ import annotations

import re
from typing import Any

from ristretto.api.asgi import NO_CACHE, Request, Response
from ristretto.api.call import Call
from ristretto.exceptions import ValidationError
from ristretto.model import document
from ristretto.model.base import Document
from ristretto.model.etags import ANY, Preconditions, check, etag

# Far more than any client sends (a tag of this server is 32 characters): about 100 tags.
MAX_LENGTH = 4096
# Characters an opaque tag may not hold (etagc = %x21 / %x23-7E / obs-text; '"' ends the tag).
_BAD_ETAGC = re.compile(r"[^\x21\x23-\x7e\x80-\xff]")
_OWS = " \t"


def parse_tags(value: str, header: str = "If-Match") -> str | list[tuple[bool, str]]:
    """``"*"`` -> :data:`ANY`; a list -> ``[(weak, '"opaque"'), ...]`` in order. Linear time."""
    if len(value) > MAX_LENGTH:
        raise ValidationError(f"The {header} header is too long (at most {MAX_LENGTH} characters)",
                              title="Invalid header")
    value = value.strip(_OWS)
    if value == "*":
        return ANY
    tags: list[tuple[bool, str]] = []
    i, n = 0, len(value)
    while i < n:
        c = value[i]
        if c == "," or c in _OWS:  # separators and empty list elements
            i += 1
            continue
        weak = value.startswith("W/", i)
        if weak:
            i += 2
        if i >= n or value[i] != '"':
            raise _malformed(header)
        end = value.find('"', i + 1)
        if end < 0 or _BAD_ETAGC.search(value, i + 1, end):
            raise _malformed(header)
        tags.append((weak, value[i:end + 1]))
        i = end + 1
        while i < n and value[i] in _OWS:
            i += 1
        if i < n and value[i] != ",":
            raise _malformed(header)
    return tags


def _malformed(header: str) -> ValidationError:
    return ValidationError(f'The {header} header must be "*" or a list of entity tags such as "abc" or W/"abc"',
                           title="Invalid header")


def preconditions(request: Request) -> Preconditions | None:
    """The request's ``If-Match`` / ``If-None-Match`` as the model takes them; None when neither
    is present (the common case: two dictionary look-ups)."""
    headers = request.headers
    if "if-match" not in headers and "if-none-match" not in headers:
        return None
    if_match = _header(request, b"if-match")
    if_none_match = _header(request, b"if-none-match")
    strong: Any = None
    if if_match is not None:
        parsed = parse_tags(if_match, "If-Match")
        # Strong comparison: a weak tag matches nothing.
        strong = ANY if parsed == ANY else frozenset(t for weak, t in parsed if not weak)
    weak_ok: Any = None
    if if_none_match is not None:
        parsed = parse_tags(if_none_match, "If-None-Match")
        weak_ok = ANY if parsed == ANY else frozenset(t for _, t in parsed)
    return Preconditions(strong, weak_ok)


def _header(request: Request, name: bytes) -> str | None:
    """Every line of a list header, joined with commas (RFC 9110 § 5.3); the length cap applies
    to the whole, and is checked as the lines are gathered."""
    lines: list[str] = []
    total = 0
    for key, raw in request.scope.get("headers", ()):
        if key.lower() == name:
            total += len(raw) + 1
            if total > MAX_LENGTH + 1:
                header = name.decode().title()
                raise ValidationError(f"The {header} header is too long (at most {MAX_LENGTH} characters)",
                                      title="Invalid header")
            lines.append(raw.decode("latin-1"))
    return ",".join(lines) if lines else None


def expect(call: Call) -> Preconditions | None:
    """The request's preconditions for a document write (``expect=`` of the model's writes)."""
    return preconditions(call.request)


def tag(call: Call, doc: Document) -> None:
    """Send ``doc``'s entity tag with the answer (a read, or the document a write saved)."""
    call.headers.append((b"etag", etag(call.ctx, doc).encode("ascii")))


def read_document(call: Call, doctype: str, name: str) -> dict[str, Any] | Response:
    """A document read: ``{"data": <the document as the user may see it>}`` with its ``ETag``, or
    304 Not Modified when ``If-None-Match`` names the current tag (after the permission check:
    who may not read the document learns nothing from a 304)."""
    ctx = call.ctx
    doc = document.get_doc(ctx, doctype, name)
    current = etag(ctx, doc).encode("ascii")
    cond = preconditions(call.request)
    if cond is not None and check(ctx, doc, cond, safe=True):
        return not_modified(current)
    call.headers.append((b"etag", current))
    return {"data": document.visible_dict(ctx, doc, no_nulls=True)}


def not_modified(current: bytes) -> Response:
    """304: no body; the validators and caching a 200 would carry (RFC 9110 § 15.4.5)."""
    response = Response(b"", 304)
    response.headers = [(b"etag", current), (b"cache-control", NO_CACHE)]
    return response
