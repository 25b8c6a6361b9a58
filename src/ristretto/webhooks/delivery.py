"""Delivering queued webhooks: a background task in each server worker.

The task claims due deliveries (``ristretto.webhooks.queue``: a lease, so workers never send
one at the same time and a crash only delays it), sends each with httpx's async client to the
URL queued for it (no redirect followed, a total time limit, a capped read of the answer),
signs the body as Frappe does (``X-Frappe-Webhook-Signature``: base64 of HMAC-SHA256 of the
body bytes with the Webhook's secret) and records every attempt in Webhook Request Log. A
2xx answer delivers; anything else is retried after ``webhook_retry_backoff`` seconds,
doubling each time, until ``webhook_max_attempts``. The webhook's method, headers and secret
are read when sending, as Frappe's job reads them.

Database work runs in one thread of its own (on SQLite with a connection of its own, since the
process's shared connection belongs to the request handlers), so the event loop only waits on
sockets. The task wakes on a commit that queued a delivery in this process, and polls every
``webhook_poll_interval`` seconds for the rest (other workers, retries, expired leases).
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import hashlib
import hmac
import logging
import time
from typing import TYPE_CHECKING, Any

import httpx

from ristretto.db.background import OwnConnection
from ristretto.db.dialects import quote
from ristretto.model import passwords
from ristretto.site.settings import setting
from ristretto.webhooks import queue
from ristretto.webhooks.records import record_attempt

if TYPE_CHECKING:
    from ristretto.site import Site

log = logging.getLogger("ristretto")
SIGNATURE_HEADER = "X-Frappe-Webhook-Signature"
DELIVERY_HEADER = "X-Ristretto-Webhook-Delivery"
# Deliveries one worker has in flight at once.
CONCURRENCY = 8
MAX_RESPONSE = 64 * 1024      # bytes of an answer kept in the log
MAX_BACKOFF = 3600.0
STOP_GRACE = 5.0              # seconds a stopping worker waits for its deliveries under way


def signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode("utf8"), body, hashlib.sha256).digest()).decode()


def _number(site: "Site", name: str) -> float:
    value = setting(site.config, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        from ristretto.site.site import SiteError
        raise SiteError(f"{name} in site_config.json must be a number")
    return float(value)


class Deliverer:
    def __init__(self, site: "Site"):
        self.site = site
        self.poll = max(_number(site, "webhook_poll_interval"), 0.05)
        self.backoff = max(_number(site, "webhook_retry_backoff"), 0.0)
        self.max_attempts = max(int(_number(site, "webhook_max_attempts")), 1)
        self.lease = max(_number(site, "webhook_lease_seconds"), 1.0)
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="webhooks")
        self._own = OwnConnection(site.db)   # the database, from the executor's thread
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._inflight: set[asyncio.Task] = set()
        self._client: httpx.AsyncClient | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        # Closed only after the deliveries under way are done (stop).
        self._client = httpx.AsyncClient(follow_redirects=False, trust_env=False)
        self.site.webhooks.wakers.append(self.wake)
        self._task = self._loop.create_task(self._run(), name="webhook-delivery")

    def wake(self) -> None:
        """Look at the queue now (callable from any thread)."""
        loop, event = self._loop, self._wake
        if loop is not None and event is not None and not loop.is_closed():
            loop.call_soon_threadsafe(event.set)

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self.site.webhooks.wakers.remove(self.wake)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        # Deliveries under way get a moment to finish and be recorded; one cut short keeps its
        # lease, and another worker sends it again once the lease expires.
        inflight = list(self._inflight)
        if inflight:
            await asyncio.wait(inflight, timeout=STOP_GRACE)
            for task in inflight:
                task.cancel()
            await asyncio.gather(*inflight, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=False)

    def _close(self) -> None:
        self._own.close()

    # --- the loop ------------------------------------------------------------------------------

    async def _run(self) -> None:
        assert self._wake is not None and self._client is not None
        while True:
            self._wake.clear()
            free = CONCURRENCY - len(self._inflight)
            if free > 0:
                try:
                    claimed = await self._db(self._claim, free)
                except Exception:  # noqa: BLE001 - the database may be back at the next poll
                    log.exception("webhook delivery: claiming from the queue failed")
                    claimed = []
                for delivery in claimed:
                    task = asyncio.create_task(self._deliver(self._client, delivery))
                    self._inflight.add(task)
                    task.add_done_callback(self._finished)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll)

    def _finished(self, task: asyncio.Task) -> None:
        self._inflight.discard(task)
        if self._wake is not None:
            self._wake.set()

    async def _db(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _connect(self):
        return self._own.connect()

    def _claim(self, limit: int) -> list[queue.Delivery]:
        with self._connect() as conn:
            return queue.claim(conn, limit, self.lease)

    # --- one delivery --------------------------------------------------------------------------

    async def _deliver(self, client: httpx.AsyncClient, delivery: queue.Delivery) -> None:
        try:
            await self._attempt(client, delivery)
        except Exception:  # noqa: BLE001 - the lease expires and another attempt is made
            log.exception("webhook delivery %s: recording the attempt failed", delivery.name)

    async def _attempt(self, client: httpx.AsyncClient, delivery: queue.Delivery) -> None:
        try:
            method, headers, gone = await self._db(self._prepare, delivery)
        except Exception as e:  # noqa: BLE001 - a secret that cannot be read and the like: retried
            await self._db(self._record, delivery, None, None, f"Not sent: {type(e).__name__}: {e}", False)
            return
        if gone:
            await self._db(self._record, delivery, None, None, gone, True)
            return
        response: str | None = None
        try:
            status, response = await asyncio.wait_for(
                self._send(client, method, delivery, headers), delivery.timeout)
            error = None if 200 <= status < 300 else f"HTTP {status}"
        except asyncio.TimeoutError:
            error = f"no complete answer within {delivery.timeout:g} s"
        except Exception as e:  # noqa: BLE001 - refused, reset, bad URL...: the attempt failed
            error = f"{type(e).__name__}: {e}"
        await self._db(self._record, delivery, headers, response, error, False)

    @staticmethod
    async def _send(client: httpx.AsyncClient, method: str, delivery: queue.Delivery,
                    headers: dict[str, str]) -> tuple[int, str]:
        async with client.stream(method, delivery.url, content=delivery.body.encode("utf8"), headers=headers,
                                 timeout=delivery.timeout) as r:
            kept = bytearray()
            async for chunk in r.aiter_bytes():
                kept += chunk[:MAX_RESPONSE - len(kept)]
                if len(kept) >= MAX_RESPONSE:
                    break
            return r.status_code, kept.decode("utf8", "replace")

    def _prepare(self, delivery: queue.Delivery) -> tuple[str | None, dict[str, str] | None, str | None]:
        """(method, headers, None) to send ``delivery``, or (None, None, why not) to give up."""
        site = self.site
        with self._connect() as conn:
            site.registry.ensure_fresh(conn)
            with conn.transaction(write=False):
                row = conn.one(f"SELECT request_method, request_structure, enable_security "
                               f"FROM {quote('tabWebhook')} WHERE name = ?", (delivery.webhook,))
                if row is None:
                    return None, None, f"Not sent: Webhook {delivery.webhook} no longer exists"
                method, structure, secure = row
                headers: dict[str, str] = {}
                if structure == "JSON":
                    headers["Content-Type"] = "application/json"
                if secure:
                    secret = passwords.get_password(site.context(conn), "Webhook", delivery.webhook,
                                                    "webhook_secret")
                    headers[SIGNATURE_HEADER] = signature(secret, delivery.body.encode("utf8"))
                for key, value in conn.sql(f"SELECT {quote('key')}, value FROM {quote('tabWebhook Header')} "
                                           f"WHERE parent = ? AND parenttype = 'Webhook' ORDER BY idx",
                                           (delivery.webhook,)):
                    if key and value:
                        headers[str(key)] = str(value)
                headers[DELIVERY_HEADER] = delivery.name
        return (method or "POST"), headers, None

    def _record(self, delivery: queue.Delivery, headers: dict | None, response: str | None, error: str | None,
                give_up: bool) -> None:
        site = self.site
        with self._connect() as conn:
            site.registry.ensure_fresh(conn)
            ctx = site.context(conn)
            with conn.transaction(write=True):
                if error is None or give_up or delivery.attempts >= self.max_attempts:
                    queue.finish(conn, delivery)
                    if error is not None and not give_up:
                        error += f" (attempt {delivery.attempts} of {self.max_attempts}; giving up)"
                else:
                    delay = min(self.backoff * 2 ** (delivery.attempts - 1), MAX_BACKOFF)
                    queue.retry_at(conn, delivery, time.time() + delay)
                    error += f" (attempt {delivery.attempts} of {self.max_attempts}; next in {delay:g} s)"
                    if delay < self.poll and self._loop is not None:
                        self._loop.call_soon_threadsafe(self._loop.call_later, delay, self.wake)
                record_attempt(ctx, delivery.webhook, delivery.reference_doctype, delivery.reference_document,
                               delivery.user, delivery.url, headers, delivery.body, response, error)


def start(site: "Site") -> Deliverer:
    """Start delivering in the running event loop (ASGI lifespan startup)."""
    deliverer = Deliverer(site)
    deliverer.start()
    return deliverer


async def stop(deliverer: Deliverer | None) -> None:
    if deliverer is not None:
        await deliverer.stop()


__all__ = ["Deliverer", "start", "stop", "signature", "SIGNATURE_HEADER", "DELIVERY_HEADER"]
