"""The webhook delivery queue (table ``__webhook_queue``): what is still to be sent.

A row is written in the transaction of the change that caused it, so a delivery exists if and
only if its change committed. A worker *claims* due rows by setting a lease (``lease_until``,
``lease_owner``) in one short write transaction: a row whose lease has not expired is never
claimed again, so two workers (or servers) never send one delivery at the same time; a worker
that dies mid-delivery leaves a lease that expires, and the row is claimed and sent again
(deliveries are at least once). The outcome of an attempt is written only by the claim that
made it (``lease_owner``): a delivered or abandoned row is removed, a failed one gets its next
attempt time. Each attempt is recorded in Webhook Request Log by the caller.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ristretto.db.dialects import quote

if TYPE_CHECKING:
    from ristretto.db.connection import Connection

TABLE = "__webhook_queue"
_T = quote(TABLE)
_FIELDS = ("name", "webhook", "reference_doctype", "reference_document", "event", "user", "url", "body",
           "timeout", "attempts", "lease_owner")
_SELECT = ", ".join(quote(c) for c in _FIELDS)


@dataclass(frozen=True, slots=True)
class Delivery:
    name: str
    webhook: str
    reference_doctype: str | None
    reference_document: str | None
    event: str | None
    user: str | None
    url: str
    body: str
    timeout: float
    attempts: int          # this one included
    lease_owner: str | None


def enqueue(conn: "Connection", *, webhook: str, url: str, body: str, timeout: float,
            reference_doctype: str | None = None, reference_document: str | None = None,
            event: str | None = None, user: str | None = None, now: float | None = None) -> str:
    """Add a delivery due now, in the caller's transaction; its name."""
    now = time.time() if now is None else now
    name = secrets.token_hex(10)
    conn.execute(f"INSERT INTO {_T} (name, webhook, reference_doctype, reference_document, event, {quote('user')}, "
                 f"url, body, timeout, created, next_attempt, attempts, lease_until) "
                 f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0)",
                 (name, webhook, reference_doctype, reference_document, event, user, url, body, float(timeout),
                  now, now))
    return name


def discard(conn: "Connection", name: str) -> None:
    conn.execute(f"DELETE FROM {_T} WHERE name = ?", (name,))


def claim(conn: "Connection", limit: int, lease: float, now: float | None = None) -> list[Delivery]:
    """Lease up to ``limit`` due deliveries for their timeout plus ``lease`` seconds; counts the attempt."""
    now = time.time() if now is None else now
    # Most polls find nothing due: a plain read answers them without a write transaction.
    if conn.value(f"SELECT 1 FROM {_T} WHERE next_attempt <= ? AND lease_until <= ? LIMIT 1", (now, now)) is None:
        return []
    owner = secrets.token_hex(8)
    # PostgreSQL: rows another claimer has locked are skipped rather than waited for; the outer
    # condition is checked again on the locked row, so a row claimed meanwhile is left alone.
    skip = " FOR UPDATE SKIP LOCKED" if conn.dialect.name == "postgres" else ""
    with conn.transaction(write=True):
        conn.execute(f"UPDATE {_T} SET lease_owner = ?, lease_until = ? + timeout, attempts = attempts + 1 "
                     f"WHERE name IN (SELECT name FROM {_T} WHERE next_attempt <= ? AND lease_until <= ? "
                     f"ORDER BY next_attempt LIMIT ?{skip}) AND lease_until <= ?",
                     (owner, now + lease, now, now, int(limit), now))
        rows = conn.sql(f"SELECT {_SELECT} FROM {_T} WHERE lease_owner = ? ORDER BY next_attempt", (owner,))
    return [Delivery(*r[:8], float(r[8]), int(r[9]), r[10]) for r in rows]


def finish(conn: "Connection", delivery: Delivery) -> bool:
    """Remove a delivered (or abandoned) row, unless another claim has it now."""
    return bool(conn.execute(f"DELETE FROM {_T} WHERE name = ? AND lease_owner = ?",
                             (delivery.name, delivery.lease_owner)))


def retry_at(conn: "Connection", delivery: Delivery, when: float) -> bool:
    """Release the lease and make the row due again at ``when`` (epoch seconds)."""
    return bool(conn.execute(f"UPDATE {_T} SET next_attempt = ?, lease_until = 0, lease_owner = NULL "
                             f"WHERE name = ? AND lease_owner = ?", (when, delivery.name, delivery.lease_owner)))


def pending(conn: "Connection") -> int:
    return int(conn.value(f"SELECT COUNT(*) FROM {_T}") or 0)


__all__ = ["Delivery", "TABLE", "enqueue", "discard", "claim", "finish", "retry_at", "pending"]
