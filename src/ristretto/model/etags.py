"""Entity tags of documents and the preconditions of conditional requests (RFC 9110 § 8.8, § 13).

A document's tag is strong and changes with every save: it is a digest of the DocType, the name
and ``modified`` (every save stamps it, to the microsecond), and of which fields the user may read.
That last part is there because users whose roles read different permlevels get different bodies
for the same document: a strong tag must tell apart every representation of a resource, or a
client that kept one user's copy would be told "not modified" for another user, or for the same
user after their roles changed. Most users read every field of most DocTypes; they all share one
tag, and for them the part costs one dictionary look-up.

The API edge parses ``If-Match`` / ``If-None-Match`` into :class:`Preconditions`; the model checks
them with :func:`check` against the document it loaded. For a write that is the row locked for the
transaction (``load(..., for_update=True)``: ``SELECT ... FOR UPDATE`` on PostgreSQL, where READ
COMMITTED would otherwise let two transactions read the same old row; SQLite writers already hold
the database's write lock), so of two writers holding the same tag, the second waits for the
first to commit, then reads the new ``modified`` and is refused with 412.
"""

from __future__ import annotations

from hashlib import blake2b
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ristretto.exceptions import PreconditionFailedError

if TYPE_CHECKING:
    from ristretto.meta.doctype import Meta
    from ristretto.model.base import Document
    from ristretto.model.context import Context

# ``If-Match: *`` / ``If-None-Match: *``: any current version of the document.
ANY = "*"


@dataclass(frozen=True, slots=True)
class Preconditions:
    """What a request asks of the document's current tag. Each field is None (header absent),
    :data:`ANY`, or the tags listed, each in its quoted form (``'"abc"'``): for ``if_match`` only
    the strong ones (strong comparison: a weak tag never matches), for ``if_none_match`` every
    tag with its ``W/`` dropped (weak comparison)."""
    if_match: str | frozenset[str] | None = None
    if_none_match: str | frozenset[str] | None = None


def etag(ctx: "Context", doc: "Document") -> str:
    """The document's strong entity tag as this user sees it, quoted (the ``ETag`` header value)."""
    meta = doc.meta
    d = doc.d
    modified = d.get("modified")
    if isinstance(modified, str) and len(modified) == 19:
        # PostgreSQL prints a timestamp without its fraction when that is zero: the same instant
        # as the ".000000" the save stamped.
        modified += ".000000"
    raw = f"{meta.name}\x00{d.get('name')}\x00{modified}\x00{_view(ctx, meta, d)}"
    return f'"{blake2b(raw.encode("utf-8", "surrogatepass"), digest_size=15).hexdigest()}"'


def check(ctx: "Context", doc: "Document", expect: Preconditions | None, *, safe: bool = False) -> bool:
    """Evaluate ``expect`` against ``doc`` in RFC 9110's order: a failed ``If-Match`` raises
    :class:`PreconditionFailedError` (412); a matching ``If-None-Match`` answers True on a safe
    request (the caller answers 304 Not Modified) and raises 412 on any other. Call it after the
    permission checks: a request refused without its preconditions is refused the same with them."""
    if expect is None:
        return False
    tag = None
    if expect.if_match is not None:
        tag = etag(ctx, doc)
        if expect.if_match != ANY and tag not in expect.if_match:
            raise _failed(doc, "has been modified since you read it")
    if expect.if_none_match is not None:
        if expect.if_none_match == ANY or (tag or etag(ctx, doc)) in expect.if_none_match:
            if safe:
                return True
            raise _failed(doc, "has a version the request excludes (If-None-Match)")
    return False


def _failed(doc: "Document", why: str) -> PreconditionFailedError:
    return PreconditionFailedError(
        f"{doc.meta.name} {doc.name} {why}. Please read it again and retry with its current ETag.",
        title="Precondition Failed", doctype=doc.meta.name)


def _view(ctx: "Context", meta: "Meta", d: dict[str, Any]) -> str:
    """Which fields of the document (and its rows) this user reads: '' for all of them.

    Field-level read access depends only on the user's roles (and on being Administrator), so
    the answer is kept per DocType definition, like the permission set it comes from. A child
    row read on its own is shown under its parent DocType's rules (``document.visible_dict``)."""
    owner = meta
    if meta.istable:
        owner = ctx.find_meta(d.get("parenttype") or "") or meta
    key = ("etag_view", meta.name, ctx.user == "Administrator", ctx.roles, type(ctx.perms))
    cache = owner.sql_cache
    view = cache.get(key)
    if view is None:
        view = cache[key] = _compute_view(ctx, owner, meta)
    return view


def _compute_view(ctx: "Context", owner: "Meta", meta: "Meta") -> str:
    parts: list[str] = []
    readable = ctx.perms.readable_fields(ctx, owner, meta)
    if readable is not None:
        parts.append(",".join(sorted(readable)))
    for tf in meta.table_fields:
        child = ctx.find_meta(tf.options)
        if child is None:
            continue
        allowed = ctx.perms.readable_fields(ctx, owner, child)
        if allowed is not None:
            parts.append(f"{tf.fieldname}:{','.join(sorted(allowed))}")
    return ";".join(parts)
