"""The change log as one user may see it: delta sync pages and the live stream's batches.

Both read ``__changes`` (``ristretto.model.changelog``) after a cursor and keep only what the
caller may read now, judged with the model's own read rules:

* a change of a document is shown when the document exists and is readable by the caller now:
  one listing query per DocType and batch (``listing.get_list`` with the user's conditions and
  ``name in (...)``), so role rules, ``if_owner``, User Permissions and per-DocType rules apply
  exactly as they do to a list request;
* a deletion (a tombstone: DocType, name, who) only for DocTypes the caller may read;
* ``fields`` (the changed fields of an update) reduced to those the caller may read (permlevels).

A page may hold fewer rows than asked for once rows are filtered out; its cursor still moves
past every row it read, so a client never loops on unreadable rows and never skips a readable
one. A cursor below the log's horizon (pruned changes) is refused with
:class:`ChangeLogExpiredError`: the client must resync rather than silently miss deletions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from ristretto.exceptions import DoesNotExistError, FrappeError, FrappeValueError, PermissionError
from ristretto.model import changelog, document, listing
from ristretto.model.access import get_doc

if TYPE_CHECKING:
    from ristretto.model.changelog import Change
    from ristretto.model.context import Context

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# Rows one page may read from the log when most are filtered out: a page always ends in
# bounded time, and its cursor tells the client where to go on.
MAX_SCAN = 5000
# Names per ``name in (...)`` query: well below both databases' bound-parameter limits.
_IN_CHUNK = 500
# A cursor is a decimal sequence number: 19 digits hold every 64-bit value.
_MAX_CURSOR_TEXT = 19
MAX_DOCTYPES = 100


class ChangeLogExpiredError(FrappeError):
    """The cursor is older than the change log keeps: the client must resync."""
    http_status = 410


@dataclass
class Page:
    data: list[dict[str, Any]]
    next_cursor: int
    has_next_page: bool


def parse_cursor(value: Any, name: str = "since") -> int:
    """A cursor from a request: decimal digits (``"0"``: from the start); junk is a 417."""
    if value is None or value == "":
        return 0
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise FrappeValueError(f"'{name}' must be a cursor: the decimal number of a change", title="Invalid cursor")
    text = str(value).strip()
    if not text.isascii() or not text.isdigit() or len(text) > _MAX_CURSOR_TEXT:
        raise FrappeValueError(f"'{name}' must be a cursor: the decimal number of a change (got {text[:40]!r})",
                               title="Invalid cursor")
    return int(text)


def parse_limit(value: Any) -> int:
    if value is None or value == "":
        return DEFAULT_LIMIT
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise FrappeValueError(f"'limit' must be a whole number from 1 to {MAX_LIMIT}", title="Invalid argument") from None
    if isinstance(value, bool) or not 1 <= n <= MAX_LIMIT:
        raise FrappeValueError(f"'limit' must be a whole number from 1 to {MAX_LIMIT}", title="Invalid argument")
    return n


def check_doctypes(ctx: "Context", doctypes: Sequence[str] | None) -> list[str] | None:
    """The DocTypes a feed is restricted to, each one the caller may read (else 404 / 403)."""
    if not doctypes:
        return None
    if len(doctypes) > MAX_DOCTYPES:
        raise FrappeValueError(f"At most {MAX_DOCTYPES} DocTypes per request", title="Invalid argument")
    out: list[str] = []
    for name in doctypes:
        if not isinstance(name, str) or not name:
            raise FrappeValueError("'doctype' must name DocTypes", title="Invalid argument")
        ctx.get_meta(name)  # 404 for an unknown DocType
        ctx.perms.check(ctx, name, "read")
        if name not in out:
            out.append(name)
    return out


def check_cursor(ctx: "Context", cursor: int) -> None:
    """Refuse a cursor whose following changes were pruned (call ``changelog.sequence`` first)."""
    horizon = changelog.horizon(ctx.db)
    if cursor < horizon:
        raise ChangeLogExpiredError(
            f"The change log no longer holds the changes after cursor {cursor} (it keeps those after "
            f"{horizon}): resync (read the documents again), then follow the changes from the current cursor",
            title="Resync needed")
    if cursor > horizon:
        newest = changelog.head(ctx.db)
        if cursor > newest:
            # Never handed out by this log (another site's, or a database restored from a backup):
            # waiting for the numbers to catch up would silently skip every change until then.
            raise ChangeLogExpiredError(
                f"Cursor {cursor} is ahead of this change log (its newest change is {newest}): resync "
                "(read the documents again), then follow the changes from the current cursor",
                title="Resync needed")


def head(ctx: "Context") -> int:
    changelog.sequence(ctx.db)
    return changelog.head(ctx.db)


def page(ctx: "Context", since: int, limit: int, doctypes: Sequence[str] | None = None, *,
         include_docs: bool = False, max_scan: int = MAX_SCAN) -> Page:
    """Up to ``limit`` readable changes after ``since``, in order, and where to go on.

    ``next_cursor`` is the last row read (shown or not); ``has_next_page`` says whether the log
    held more rows after it when read.
    """
    changelog.sequence(ctx.db)
    check_cursor(ctx, since)
    out: list[dict[str, Any]] = []
    cursor, scanned = since, 0
    while True:
        want = min(limit - len(out), max_scan - scanned)
        # One row more than needed: whether a next page exists, without another query.
        rows = changelog.read(ctx.db, cursor, want + 1, doctypes)
        more = len(rows) > want
        rows = rows[:want]
        shown = visible(ctx, rows, include_docs=include_docs)
        for change in rows:
            entry = shown.get(change.seq)
            if entry is not None:
                out.append(entry)
                if len(out) == limit:
                    # Cut at the last row shown: the rest of the batch is the next page's.
                    later = change.seq != rows[-1].seq or more
                    return Page(out, change.seq, later)
        scanned += len(rows)
        if rows:
            cursor = rows[-1].seq
        if not more:
            return Page(out, cursor, False)
        if scanned >= max_scan:
            return Page(out, cursor, True)


def visible(ctx: "Context", changes: Sequence["Change"], *, include_docs: bool = False) -> dict[int, dict[str, Any]]:
    """seq -> the change as the caller may see it, for the changes they may see."""
    by_doctype: dict[str, list["Change"]] = {}
    for change in changes:
        by_doctype.setdefault(change.doctype, []).append(change)
    out: dict[int, dict[str, Any]] = {}
    for doctype, group in by_doctype.items():
        meta = ctx.find_meta(doctype)
        # A child DocType's rows are judged through their parent, whose own change is logged.
        if meta is None or meta.istable or not ctx.perms.has(ctx, doctype, "read"):
            continue
        if meta.issingle:
            readable_names = {c.name for c in group}  # no per-document rules: the DocType's
        else:
            live = sorted({c.name for c in group if c.action != "delete"})
            readable_names = _readable(ctx, meta, live)
        fields = ctx.perms.readable_fields(ctx, meta)
        docs: dict[str, Any] = {}
        for change in group:
            if change.action != "delete" and change.name not in readable_names:
                continue
            entry = change.as_dict()
            if fields is not None and change.fields is not None:
                entry["fields"] = [f for f in change.fields if f in fields]
            if include_docs:
                entry["doc"] = _doc(ctx, change, docs)
            out[change.seq] = entry
    return out


def _readable(ctx: "Context", meta, names: list[str]) -> set[str]:
    """The names among ``names`` of documents that exist and the caller may read now."""
    found: set[str] = set()
    for i in range(0, len(names), _IN_CHUNK):
        chunk = names[i:i + _IN_CHUNK]
        rows = listing.get_list(ctx, meta.name, fields=["name"], filters=[["name", "in", chunk]],
                                limit=None, as_dict=False, default_order=False)
        found.update(str(row[0]) for row in rows)
    return found


def _doc(ctx: "Context", change: "Change", cache: dict[str, Any]) -> dict[str, Any] | None:
    """The document as a read would show it now (None for a deletion)."""
    if change.action == "delete":
        return None
    if change.name not in cache:
        shown_messages = len(ctx.messages)
        try:
            cache[change.name] = document.visible_dict(ctx, get_doc(ctx, change.doctype, change.name))
        except (DoesNotExistError, PermissionError):
            # Deleted or hidden since the page was filtered: the change stays, without a document.
            del ctx.messages[shown_messages:]
            cache[change.name] = None
    return cache[change.name]


__all__ = ["ChangeLogExpiredError", "Page", "page", "visible", "head", "check_cursor", "check_doctypes",
           "parse_cursor", "parse_limit", "DEFAULT_LIMIT", "MAX_LIMIT"]
