"""The change log: one row per committed change of a document, in commit order.

Every insert, update, submit, cancel, amend, delete and rename the model performs appends a row
(``__changes``) in the writing transaction, so a change is in the log if and only if it committed.
Readers (delta sync, the live stream, webhooks) follow it by ``seq``, a cursor that only grows:

* SQLite serialises writers, so the row id is already in commit order (never reused: pruning always
  keeps the newest row, and a rolled-back row was never seen).
* PostgreSQL commits concurrently: numbers handed out at insert time would become visible out of order
  (a reader could see 11 before 10 commits, move past 10 and lose it). Rows are therefore written
  without a number and numbered after their commit by :func:`sequence`, one sequencer at a time (an
  advisory lock), so every reader sees ``seq`` values appear in order. Readers call it first.

Deletions are tombstones: DocType, name and who, nothing of the document. Rows older than
``change_log_retention_days`` are pruned; the highest pruned ``seq`` is kept (:func:`horizon`) so
that a reader whose cursor is older learns it must resync instead of silently missing changes.

Listeners (``ctx.registry.change_listeners``) see each change inside the writing transaction, with
the document as saved: what they write (a webhook delivery) commits or rolls back with it.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import orjson

from ristretto.db.dialects import quote
from ristretto.db.schema import CHANGE_LOG
from ristretto.model.writeplan import write_plan

if TYPE_CHECKING:
    from ristretto.db.connection import Connection
    from ristretto.model.base import Document
    from ristretto.model.context import Context

ACTIONS = ("insert", "update", "submit", "cancel", "amend", "delete", "rename")
# Records the server writes about other changes (or secrets): logging them would double every
# write (Version), or put credentials' churn in a feed (OAuth codes and tokens), or loop
# (a webhook delivery's own log).
UNLOGGED = frozenset({"Version", "OAuth Authorization Code", "OAuth Bearer Token", "Webhook Request Log"})
HORIZON_KEY = "change_log_horizon"
# Changes removed per transaction when pruning (ristretto.api.housekeeping runs it in a live server).
PRUNE_BATCH = 5000
# An arbitrary constant naming the sequencer's advisory lock (PostgreSQL).
_SEQUENCER_LOCK = 0x52495354  # "RIST"
_T = quote(CHANGE_LOG)
_COLUMNS = "seq, doctype, name, action, at, " + quote("user") + ", fields, old_name, docstatus"
_INSERT = (f"INSERT INTO {_T} (doctype, name, action, at, {quote('user')}, fields, old_name, docstatus) "
           f"VALUES (?, ?, ?, ?, ?, ?, ?, ?)")


@dataclass(frozen=True, slots=True)
class Change:
    seq: int | None          # None until numbered (PostgreSQL, inside the writing transaction)
    doctype: str
    name: str
    action: str
    at: str
    user: str | None
    fields: tuple[str, ...] | None   # changed fields of an update; None: all (insert) or none (delete)
    old_name: str | None             # renames: the name before
    docstatus: int | None

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "doctype": self.doctype, "name": self.name, "action": self.action,
                "at": self.at, "user": self.user,
                "fields": list(self.fields) if self.fields is not None else None,
                "old_name": self.old_name, "docstatus": self.docstatus}


def record(ctx: "Context", action: str, doc: "Document", *, fields: Sequence[str] | None = None,
           old_name: Any = None) -> None:
    """Append ``action`` on ``doc`` to the log, in the current transaction."""
    doctype = doc.meta.name
    if doctype in UNLOGGED:
        return
    at = ctx.now() if action in ("delete", "rename") else str(doc.d.get("modified") or ctx.now())
    change = Change(None, doctype, str(doc.name), action, at, ctx.user,
                    tuple(fields) if fields is not None else None,
                    None if old_name is None else str(old_name), doc.d.get("docstatus"))
    # Nobody reads this statement's result: PostgreSQL sends it with the next one (or COMMIT).
    ctx.db.execute_later(_INSERT, (change.doctype, change.name, action, at, ctx.user,
                                   None if fields is None else orjson.dumps(list(fields)).decode(),
                                   change.old_name, change.docstatus))
    ctx.flags["changes_written"] = True
    for listener in ctx.registry.change_listeners:
        listener(ctx, change, doc)


def record_deleted(ctx: "Context", doctype: str, names: Sequence[Any]) -> None:
    """Tombstones for documents removed without loading them (a deleted document's comments)."""
    _record_rows(ctx, doctype, names, "delete", None)


def record_touched(ctx: "Context", doctype: str, names: Sequence[Any], fields: Sequence[str]) -> None:
    """Updates the server made in bulk without loading the documents (links repointed by a
    rename): in the log for readers, no document events (Frappe fires none either)."""
    _record_rows(ctx, doctype, names, "update", orjson.dumps(list(fields)).decode())


def _record_rows(ctx: "Context", doctype: str, names: Sequence[Any], action: str, fields: str | None) -> None:
    if doctype in UNLOGGED or not names:
        return
    at = ctx.now()
    ctx.db.executemany(_INSERT, [(doctype, str(n), action, at, ctx.user, fields, None, None)
                                 for n in dict.fromkeys(names)])
    ctx.flags["changes_written"] = True


def changed_fields(previous: "Document", doc: "Document") -> list[str]:
    """Fieldnames whose value differs between two states of a document (tables included)."""
    meta = doc.meta
    old, new = previous.d, doc.d
    compared = write_plan(meta).compared
    out = [f for f, a, b in zip(compared, map(old.get, compared), map(new.get, compared)) if a != b]
    for tf in meta.table_fields:
        if _rows(previous.children.get(tf.fieldname, [])) != _rows(doc.children.get(tf.fieldname, [])):
            out.append(tf.fieldname)
    return out


def _rows(rows: list) -> list:
    # Rows are rewritten with the parent's ``modified`` on every save: compare their data only.
    return [(r.name, [r.d.get(f.fieldname) for f in r.meta.data_fields]) for r in rows]


# --- readers -------------------------------------------------------------------------------

def sequence(conn: "Connection") -> None:
    """Number the committed, not yet numbered changes, in order (PostgreSQL; nothing to do on SQLite)."""
    if conn.dialect.name != "postgres":
        return
    if conn.value(f"SELECT 1 FROM {_T} WHERE seq IS NULL LIMIT 1") is None:
        return
    with conn.transaction(write=True):
        # One sequencer at a time; the next statement's snapshot then sees the previous one's numbers.
        conn.value("SELECT pg_advisory_xact_lock(?)", (_SEQUENCER_LOCK,))
        conn.execute(f"UPDATE {_T} AS c SET seq = n.s FROM (SELECT id, nextval('{CHANGE_LOG}_seq') AS s "
                     f"FROM (SELECT id FROM {_T} WHERE seq IS NULL ORDER BY id) AS p) AS n WHERE c.id = n.id")


def read(conn: "Connection", after: int, limit: int, doctypes: Sequence[str] | None = None) -> list[Change]:
    """Up to ``limit`` changes with ``seq > after``, oldest first (call :func:`sequence` first)."""
    sql = f"SELECT {_COLUMNS} FROM {_T} WHERE seq > ?"
    params: list[Any] = [int(after)]
    if doctypes:
        sql += f" AND doctype IN ({', '.join('?' * len(doctypes))})"
        params.extend(doctypes)
    sql += " ORDER BY seq LIMIT ?"
    params.append(int(limit))
    return [_change(row) for row in conn.sql(sql, params)]


def _change(row: Sequence[Any]) -> Change:
    seq, doctype, name, action, at, user, fields, old_name, docstatus = row
    return Change(int(seq), doctype, name, action, at, user,
                  tuple(orjson.loads(fields)) if fields else None, old_name,
                  None if docstatus is None else int(docstatus))


def head(conn: "Connection") -> int:
    """The newest numbered ``seq`` (the horizon when the log is empty)."""
    newest = conn.value(f"SELECT MAX(seq) FROM {_T}")
    return int(newest) if newest is not None else horizon(conn)


def horizon(conn: "Connection") -> int:
    """Every change with ``seq`` at or below this was pruned: an older cursor must resync."""
    value = conn.value(f"SELECT value FROM {quote('__ristretto_state')} WHERE key = ?", (HORIZON_KEY,))
    return int(value) if value else 0


def counted_with_head(conn: "Connection", table: str, doctype: str) -> tuple[int, int, int, bool]:
    """In one statement (one snapshot): the rows of ``table``, the ``seq`` up to which the log
    accounts for them, the horizon, and whether the pair may be kept (PostgreSQL: the reading
    transaction wrote nothing and no committed change of ``doctype`` awaits its number, which
    would come after the head although the count holds it). Call :func:`sequence` first."""
    pg = conn.dialect.name == "postgres"
    sql = (f"SELECT (SELECT COUNT(*) FROM {quote(table)}), "
           f"COALESCE((SELECT MAX(seq) FROM {_T} WHERE doctype = ?), (SELECT MAX(seq) FROM {_T}), 0), "
           f"(SELECT value FROM {quote('__ristretto_state')} WHERE key = ?)")
    params: list[Any] = [doctype, HORIZON_KEY]
    if pg:
        sql += (f", txid_current_if_assigned() IS NULL AND NOT EXISTS "
                f"(SELECT 1 FROM {_T} WHERE seq IS NULL AND doctype = ?)")
        params.append(doctype)
    row = conn.sql(sql, params)[0]
    return int(row[0]), int(row[1]), int(row[2] or 0), bool(row[3]) if pg else True


def count_delta(conn: "Connection", doctype: str, after: int) -> tuple[int | None, int, int, bool]:
    """The changes of ``doctype`` after ``after``, in one statement: the newest ``seq`` (None:
    none), how they change the row count (inserts and amends add one, deletions and merges
    remove one), the horizon, and whether the newest ``seq`` accounts for all of them: on
    PostgreSQL, committed changes not numbered yet count too (they came after any count kept
    with ``after``, which :func:`counted_with_head` keeps only when none was waiting), but while
    one waits, or while the reading transaction has written, the result may not be kept."""
    pg = conn.dialect.name == "postgres"
    sql = (f"SELECT MAX(seq), COALESCE(SUM(CASE WHEN action IN ('insert', 'amend') THEN 1 "
           f"WHEN action = 'delete' THEN -1 ELSE 0 END), 0), "
           f"(SELECT value FROM {quote('__ristretto_state')} WHERE key = ?)")
    params: list[Any] = [HORIZON_KEY]
    if pg:
        sql += (", txid_current_if_assigned() IS NULL AND COALESCE(SUM(CASE WHEN seq IS NULL THEN 1 ELSE 0 END), 0) = 0"
                f" FROM {_T} WHERE doctype = ? AND (seq > ? OR seq IS NULL)")
    else:
        sql += f" FROM {_T} WHERE doctype = ? AND seq > ?"
    params += [doctype, int(after)]
    row = conn.sql(sql, params)[0]
    return (None if row[0] is None else int(row[0])), int(row[1]), int(row[2] or 0), bool(row[3]) if pg else True


def prune(conn: "Connection", retention_days: float, *, now: _dt.datetime | None = None,
          batch: int = PRUNE_BATCH) -> int:
    """Remove numbered changes older than ``retention_days`` (0: keep all); how many went.

    In transactions of at most ``batch`` rows, oldest first, the horizon moving with each: a
    backlog of millions never holds the write lock for long, and stopping half way is safe."""
    if not retention_days or retention_days <= 0:
        return 0
    sequence(conn)
    cutoff = ((now or _dt.datetime.now()) - _dt.timedelta(days=retention_days)).strftime("%Y-%m-%d %H:%M:%S.%f")
    with conn.transaction(write=False):
        last = conn.value(f"SELECT MAX(seq) FROM {_T} WHERE at < ? AND seq IS NOT NULL", (cutoff,))
        newest = conn.value(f"SELECT MAX(seq) FROM {_T}")
    if last is None:
        return 0
    # The newest change always stays: SQLite's next row id is the largest one plus one, so an
    # emptied table would hand out numbers readers have already seen.
    last = min(int(last), int(newest) - 1)
    removed = 0
    while True:
        with conn.transaction(write=True):
            done = horizon(conn)
            if last <= done:
                return removed
            upto = conn.value(f"SELECT MAX(seq) FROM (SELECT seq FROM {_T} WHERE seq > ? AND seq <= ? "
                              f"ORDER BY seq LIMIT ?) AS b", (done, last, max(batch, 1)))
            upto = last if upto is None else int(upto)
            removed += conn.execute(f"DELETE FROM {_T} WHERE seq <= ?", (upto,))
            if not conn.execute(f"UPDATE {quote('__ristretto_state')} SET value = ? WHERE key = ?",
                                (str(upto), HORIZON_KEY)):
                conn.execute(f"INSERT INTO {quote('__ristretto_state')} (key, value) VALUES (?, ?)",
                             (HORIZON_KEY, str(upto)))


__all__ = ["Change", "ACTIONS", "UNLOGGED", "record", "record_deleted", "record_touched", "changed_fields", "sequence", "read",
           "head", "horizon", "prune", "counted_with_head", "count_delta"]
