"""Housekeeping: each server worker prunes what would otherwise grow without end, when it starts
and then every ``housekeeping_interval`` seconds.

* changes older than ``change_log_retention_days`` (``ristretto.model.changelog.prune``: the
  horizon moves, and a client holding an older cursor is told to resync);
* Webhook Request Log rows older than ``webhook_log_retention_days`` (Frappe keeps 30 days);
* password sessions past their expiry that nobody used again;
* OAuth authorization codes and bearer tokens that expired more than 30 days ago (Frappe's rule).

The work runs on a thread of its own with a connection of its own (SQLite: the process's shared
connection belongs to the request handlers; its writes queue on the same write lock as theirs), in
short transactions of a bounded number of rows (``ristretto.db.batches``), so neither the event
loop nor the other workers' writes wait on it for long. Every worker does it (idempotent deletes:
whichever comes first does the work), so nothing depends on one process staying up.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ristretto.auth import sessions
from ristretto.auth.oauth import records as oauth_records
from ristretto.db.background import OwnConnection
from ristretto.db.sqlite import in_memory
from ristretto.model import changelog
from ristretto.site.settings import setting
from ristretto.webhooks import records as webhook_records

if TYPE_CHECKING:
    from ristretto.site import Site

log = logging.getLogger("ristretto")


@dataclass
class Pruned:
    changes: int = 0
    webhook_logs: int = 0
    sessions: int = 0
    oauth: int = 0

    def __bool__(self) -> bool:
        return bool(self.changes or self.webhook_logs or self.sessions or self.oauth)


def _days(site: "Site", name: str) -> float:
    value = setting(site.config, name)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else 0.0


def tidy(site: "Site", conn: Any) -> Pruned:
    """Prune everything once on ``conn`` (each kind on its own: one failing leaves the others done)."""
    done = Pruned()
    steps = (
        ("changes", lambda: changelog.prune(conn, _days(site, "change_log_retention_days"))),
        ("webhook_logs", lambda: webhook_records.prune_log(conn, _days(site, "webhook_log_retention_days"))),
        ("sessions", lambda: sessions.prune_expired(conn)),
        ("oauth", lambda: oauth_records.prune_expired(conn)),
    )
    for name, step in steps:
        try:
            setattr(done, name, step())
        except Exception:  # noqa: BLE001 - the rest still runs; the next round tries again
            if conn.in_transaction:
                conn.rollback()
            log.exception("housekeeping: pruning %s failed", name.replace("_", " "))
    return done


class Housekeeper:
    """The worker's periodic pruning (started and stopped with the ASGI lifespan)."""

    def __init__(self, site: "Site"):
        self.site = site
        interval = setting(site.config, "housekeeping_interval")
        if isinstance(interval, bool) or not isinstance(interval, (int, float)) or interval < 0:
            from ristretto.site.site import SiteError
            raise SiteError("housekeeping_interval in site_config.json must be a number of seconds "
                            "(0: prune only when a worker starts)")
        self.interval = float(interval)
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="housekeeping")
        self._own = OwnConnection(site.db, time_limit=False)  # batches are short anyway
        self._task: asyncio.Task | None = None
        self.rounds = 0

    def start(self) -> "Housekeeper":
        self._task = asyncio.get_running_loop().create_task(self._run(), name="housekeeping")
        return self

    async def stop(self) -> None:
        if self._task is None:
            return  # never started
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=False)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                pruned = await loop.run_in_executor(self._executor, self._round)
                if pruned:
                    log.info("housekeeping: pruned %d change(s), %d webhook log(s), %d expired session(s), "
                             "%d expired OAuth code(s) and token(s)", pruned.changes, pruned.webhook_logs,
                             pruned.sessions, pruned.oauth)
            except Exception:  # noqa: BLE001 - the database may be back at the next round
                log.exception("housekeeping failed")
            if not self.interval:
                return  # 0: only when the worker starts
            # Workers started together spread their rounds apart.
            await asyncio.sleep(self.interval * random.uniform(0.9, 1.1))

    def _round(self) -> Pruned:
        db = self.site.db
        if db.dialect.name == "sqlite" and in_memory(db.path):
            return Pruned()  # one connection only (tests): nothing this thread may open beside it
        with self._connect() as conn:
            pruned = tidy(self.site, conn)
        self.rounds += 1
        return pruned

    def _connect(self):
        return self._own.connect()

    def _close(self) -> None:
        self._own.close()
