"""Row counts of whole DocTypes without a full scan per request.

``get_count`` of a DocType with no condition at all (no filters, no permission rule, not a child
table) is ``COUNT(*)`` of the table: a scan of its smallest index, linear in its rows (tens of
milliseconds at a million). Each worker keeps, per DocType, the count with the change log's
``seq`` up to which it is exact (``ristretto.model.changelog``); a request reads the changes of
that DocType logged since (an index range of ``__changes``, usually empty) and adds inserts and
amends, subtracts deletions and merges. The first count of a DocType in a worker is a real one,
read in the same statement as the log's head.

What could make a kept count wrong, and the guards:

* Only tables of at least :data:`MIN_ROWS` rows are kept at all; smaller ones are counted for
  real every time (cheap), so what follows concerns large tables only.
* Rows written outside the model (the bench loader, a manual SQL fix) are not in the log: every
  kept count is refreshed by a real count after ``count_cache_seconds`` (site configuration,
  default 60; 0 turns the cache off), so such an error lasts at most that long.
* Uncommitted changes visible to the counting transaction (the request's own writes, rolled back
  later; on SQLite a rolled-back log row's ``seq`` may be handed out again): a count is kept only
  when the request wrote nothing to the log (``ctx.flags["changes_written"]``) and, on
  PostgreSQL, when its transaction holds no transaction id; on SQLite, when no group commit is
  open on the connection (whose members' writes it would see).
* PostgreSQL numbers changes after their commit (``changelog.sequence``, which a count runs
  unless it is inside a transaction): a committed change still without a number is in a count
  but not in the head, so no pair is kept while one exists for the DocType; once a pair is kept,
  changes without a number are all later than it and are added like numbered ones.
* Pruned changes: a kept ``seq`` below the horizon is recounted (the changes may be gone).
* DocTypes the log leaves out (``changelog.UNLOGGED``) are always counted.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ristretto.model import changelog

if TYPE_CHECKING:
    from ristretto.meta.doctype import Meta
    from ristretto.model.context import Context

DEFAULT_SECONDS = 60.0  # the setting's default (ristretto.site.settings)
# Smaller tables are always counted for real: that costs well under a millisecond, and it
# keeps rows written outside the model (a bulk load, a manual fix) out of harm's way where
# the cache would gain nothing.
MIN_ROWS = 10_000
_KEY = "count_cache"
_clock = time.monotonic


def seconds(ctx: "Context") -> float:
    value = ctx.site_config.get("count_cache_seconds")
    return DEFAULT_SECONDS if value is None else float(value)


def applies(ctx: "Context", meta: "Meta") -> bool:
    """Whether counts of ``meta``'s whole table may come from the cache."""
    return bool(seconds(ctx)) and not meta.istable and not meta.issingle and meta.name not in changelog.UNLOGGED


def count(ctx: "Context", meta: "Meta") -> int:
    """The rows of ``meta``'s table, from the worker's kept count when it is still exact."""
    conn = ctx.db
    # Numbering waiting changes (PostgreSQL) commits a transaction of its own: only outside the
    # request's, and only when a waiting change keeps the result from being kept (one round trip
    # saved on the usual count, whose delta is empty and numbered).
    may_number = not conn.in_transaction
    # Not kept either while a group commit is open on the connection (ristretto.db.groupcommit):
    # the count then sees other requests' writes that are not committed yet.
    keep = not ctx.flags.get("changes_written") and getattr(conn, "write_group", None) is None
    ttl = seconds(ctx)
    now = _clock()
    cached = meta.sql_cache.get(_KEY)
    if cached is not None and now - cached[2] < ttl:
        seq, n, stamp = cached
        newest, delta, horizon, clean = changelog.count_delta(conn, meta.name, seq)
        if not clean and may_number:
            changelog.sequence(conn)
            newest, delta, horizon, clean = changelog.count_delta(conn, meta.name, seq)
        if seq >= horizon:
            if n + delta < MIN_ROWS:
                meta.sql_cache.pop(_KEY, None)  # shrunk: counted for real from now on
            elif (newest is not None or delta) and keep and clean:
                meta.sql_cache[_KEY] = (newest if newest is not None else seq, n + delta, stamp)
            return n + delta
    if may_number:
        changelog.sequence(conn)
    n, head, horizon, clean = changelog.counted_with_head(conn, meta.table, meta.name)
    if keep and clean and n >= MIN_ROWS:
        meta.sql_cache[_KEY] = (head, n, now)
    return n
