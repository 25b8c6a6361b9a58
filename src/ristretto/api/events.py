"""Send the live stream of changes (server-sent events) without holding the worker.

The handler of ``/api/v2/stream`` checks the request in the ordinary pipeline (who is asking,
which DocTypes, where to start) and answers an :class:`EventStream`; the App hands it to its
:class:`ChangeStreams`, which sends it with awaits, so the worker serves other requests while
the stream is open:

* changes are read in short database calls, a batch at a time, filtered for the caller by the
  model (``changefeed.page``: the same rules as delta sync), each sent as
  ``id: <seq>`` / ``event: change`` / ``data: <json>``;
* between batches the stream waits: woken at once in-process when a request of this worker
  commits changes (:meth:`ChangeStreams.notify`); that commit is also announced (Redis with
  ``redis_url``, else PostgreSQL's ``NOTIFY``) and every worker of every server listens while it
  has streams open (``ristretto.db.notify``), so a commit on another server wakes them at once
  too; one poller per worker (every :data:`POLL_SECONDS`) covers what nothing announces (a
  lost announcement, SQLite's other workers without Redis, writes of CLI commands); ``seq``
  follows commit order, so reading after the last sent ``seq`` never loses or repeats a change;
* a comment every :data:`HEARTBEAT_SECONDS` keeps proxies from closing an idle connection;
* it ends when the client goes away (``http.disconnect``), stops reading for
  :data:`STALL_SECONDS`, or after ``change_stream_max_seconds``: clients reconnect with
  ``Last-Event-ID`` and lose nothing. At most ``change_stream_max_open`` streams per worker
  (503 beyond).

The caller's identity (user and roles) is the one checked when the stream started.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import weakref
from typing import Any, Callable, Iterator

from ristretto.api.asgi import NO_CACHE, Response, dumps
from ristretto.db import notify as db_notify
from ristretto.db import state
from ristretto.db.connection import Connection, SQLiteConnection
from ristretto.exceptions import FrappeError
from ristretto.model import changefeed, changelog
from ristretto.site.settings import setting

log = logging.getLogger("ristretto")
HEARTBEAT_SECONDS = 15.0
# How often a worker looks for changes committed elsewhere (other workers, other servers).
POLL_SECONDS = 0.3
# Changes read per database call of a stream.
BATCH = 200
# A client that takes longer than this to accept one chunk has stopped reading.
STALL_SECONDS = 30.0
# How long a client should wait before reconnecting (the SSE ``retry`` field), in ms.
RETRY_MS = 1000


# Every ChangeStreams of this process, for :func:`server_stopping`.
_ALL: "weakref.WeakSet[ChangeStreams]" = weakref.WeakSet()


def server_stopping() -> None:
    """The HTTP server is shutting down: end every open stream of this process (on its loop)."""
    for streams in list(_ALL):
        streams.stop()


class TooManyStreamsError(FrappeError):
    """This worker has as many open streams as it may hold."""
    http_status = 503


class EventStream(Response):
    """The answer of ``/api/v2/stream``: what to send, sent by :class:`ChangeStreams`."""

    __slots__ = ("user", "roles", "user_type", "doctypes", "cursor", "include_docs", "refuse")

    def __init__(self, *, user: str, roles: frozenset[str], user_type: str, doctypes: list[str] | None,
                 cursor: int, include_docs: bool, refuse: Callable[[BaseException], Response]):
        super().__init__(b"", 200, b"text/event-stream; charset=utf-8")
        # No caching, and no buffering by a reverse proxy (nginx reads X-Accel-Buffering).
        self.headers.append((b"cache-control", NO_CACHE))
        self.headers.append((b"x-accel-buffering", b"no"))
        self.user, self.roles, self.user_type = user, roles, user_type
        self.doctypes = doctypes
        self.cursor = cursor
        self.include_docs = include_docs
        self.refuse = refuse


def encode(entry: dict[str, Any]) -> bytes:
    # orjson writes no line breaks: the JSON is one ``data:`` line.
    return b"id: %d\nevent: change\ndata: %s\n\n" % (entry["seq"], dumps(entry))


class ChangeSignal:
    """Wakes waiting streams; ``notify`` may be called from any thread."""

    def __init__(self) -> None:
        self.generation = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self._waiters: set[asyncio.Future] = set()

    def notify(self) -> None:
        loop = self.loop
        if loop is None or loop.is_closed():
            return  # no stream was ever opened in this worker
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self.fire()
            return
        try:
            loop.call_soon_threadsafe(self.fire)
        except RuntimeError:  # the loop closed meanwhile: nobody is waiting
            pass

    def fire(self) -> None:
        self.generation += 1
        waiters, self._waiters = self._waiters, set()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self, generation: int, timeout: float) -> None:
        """Until a change after ``generation`` (returns at once if one came already) or ``timeout``."""
        if generation != self.generation or timeout <= 0:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            self._waiters.discard(waiter)


def _disconnected(message: asyncio.Future) -> bool:
    try:
        return message.result().get("type") == "http.disconnect"
    except Exception:  # noqa: BLE001 - a failed receive: the connection is gone too
        return True


class ChangeStreams:
    """The open change streams of one worker: their number, their reads, their wake-ups."""

    def __init__(self, site, policy):
        self.site = site
        self.policy = policy
        self.max_open = int(setting(site.config, "change_stream_max_open"))
        self.max_seconds = float(setting(site.config, "change_stream_max_seconds"))
        # PostgreSQL reads go over a socket: off the event loop, on pooled connections. SQLite's
        # are microseconds of local work: on the loop, on a connection of the streams' own, which
        # sees only committed changes whatever the handlers' connection is in the middle of.
        self.threaded = site.db.dialect.name == "postgres"
        self._sqlite: SQLiteConnection | None = None
        self.signal = ChangeSignal()
        self.open = 0
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._poller: asyncio.Task | None = None
        # Commits announced to, and heard from, the other workers and servers (Redis, or
        # PostgreSQL's NOTIFY; SQLite alone: the poll).
        self.announced = db_notify.carrier(site.db, site.config) is not None
        self._notifier = db_notify.Notifier(site.db, site.config) if self.announced else None
        self._listener: db_notify.Listener | None = None
        self.stopping = False
        _ALL.add(self)

    def stop(self) -> None:
        """End the open streams (they finish their response properly) and refuse new ones."""
        self.stopping = True
        self.signal.notify()

    def notify(self) -> None:
        """A request of this worker committed changes: wake the streams now, here and elsewhere."""
        self.signal.notify()
        if self._notifier is not None:
            self._notifier.notify()

    async def _call(self, fn, *args):
        if not self.threaded:
            return fn(*args)
        if self._executor is None:
            # Not the handlers' pool: busy handlers must not keep streams from reading.
            self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="changes")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    # --- database calls (short, each on a connection of its own) ----------------------------

    @contextlib.contextmanager
    def _connect(self) -> Iterator[Connection]:
        if not self.threaded:
            if self._sqlite is None:
                self._sqlite = SQLiteConnection(self.site.db.path, self.site.db.query_timeout)
            yield self._sqlite
            return
        with self.site.db.connect() as conn:
            yield conn

    def _read(self, stream: EventStream, cursor: int) -> changefeed.Page:
        site = self.site
        with self._connect() as conn:
            versions = state.read(conn)
            site.registry.ensure_fresh(conn, versions.get(state.META), known=True)
            site.auth_cache.sync(versions.get(state.AUTH))
            ctx = site.context(conn, user=stream.user, roles=stream.roles, perms=self.policy,
                               user_type=stream.user_type)
            return changefeed.page(ctx, cursor, BATCH, stream.doctypes, include_docs=stream.include_docs)

    def _head(self) -> int:
        with self._connect() as conn:
            changelog.sequence(conn)
            return changelog.head(conn)

    async def _poll(self) -> None:
        """While streams are open: wake them when the log grew (changes of other processes)."""
        seen: int | None = None
        while self.open > 0:
            await asyncio.sleep(POLL_SECONDS)
            try:
                newest = await self._call(self._head)
            except Exception:  # noqa: BLE001 - a lost database: the streams' own reads report it
                log.warning("change stream poll failed", exc_info=True)
                continue
            if newest != seen:
                seen = newest
                self.signal.fire()

    # --- sending ---------------------------------------------------------------------------

    async def send(self, stream: EventStream, receive, send) -> None:
        if self.open >= self.max_open or self.stopping:
            message = "This server is shutting down; reconnect shortly" if self.stopping else \
                f"This server has {self.max_open} change streams open; try again shortly"
            refused = stream.refuse(TooManyStreamsError(message, title="Too many streams"))
            refused.headers.extend(h for h in stream.headers if h[0] not in (b"content-type", b"cache-control",
                                                                              b"x-accel-buffering"))
            refused.headers.append((b"retry-after", b"5"))
            await refused.send(send)
            return
        self.open += 1
        self.signal.loop = asyncio.get_running_loop()
        if self._poller is None or self._poller.done():
            self._poller = asyncio.ensure_future(self._poll())
        if self.announced and self._listener is None:
            self._listener = db_notify.Listener(self.site.db, self.site.config, self.signal.notify).start()
        try:
            await self._stream(stream, receive, send)
        finally:
            self.open -= 1
            if self.open == 0:
                if self._poller is not None:
                    self._poller.cancel()  # nothing to wake until the next stream opens
                    self._poller = None
                if self._listener is not None:
                    self._listener.stop()
                    self._listener = None
                if self._sqlite is not None:
                    self._sqlite.close()
                    self._sqlite = None

    async def _write(self, send, body: bytes) -> bool:
        try:
            await asyncio.wait_for(send({"type": "http.response.body", "body": body, "more_body": True}),
                                   STALL_SECONDS)
            return True
        except asyncio.TimeoutError:
            log.warning("client stopped reading a change stream for %s s; cut off", STALL_SECONDS)
        except Exception:  # noqa: BLE001 - the connection is gone
            pass
        return False

    async def _stream(self, stream: EventStream, receive, send) -> None:
        loop = asyncio.get_running_loop()
        ends = loop.time() + self.max_seconds
        await send({"type": "http.response.start", "status": stream.status, "headers": stream.headers})
        cursor = stream.cursor
        gone = asyncio.ensure_future(receive())
        alive = await self._write(send, b"retry: %d\n: changes after %d\n\n" % (RETRY_MS, cursor))
        beat = loop.time() + HEARTBEAT_SECONDS
        try:
            while alive and not self.stopping:
                generation = self.signal.generation
                try:
                    page = await self._call(self._read, stream, cursor)
                except changefeed.ChangeLogExpiredError:
                    break  # pruned past the cursor: reconnecting answers 410 (resync)
                except Exception:  # noqa: BLE001 - logged; the client reconnects with Last-Event-ID
                    log.exception("change stream read failed; stream ended")
                    break
                if page.data:
                    alive = await self._write(send, b"".join(encode(e) for e in page.data))
                    beat = loop.time() + HEARTBEAT_SECONDS
                cursor = page.next_cursor
                if page.has_next_page or not alive:
                    await asyncio.sleep(0)  # a long replay still lets the worker's other requests in
                    continue
                now = loop.time()
                if now >= ends:
                    break
                if now >= beat:
                    alive = await self._write(send, b": heartbeat\n\n")
                    beat = now + HEARTBEAT_SECONDS
                    continue
                waiter = asyncio.ensure_future(self.signal.wait(generation, min(beat, ends) - now))
                try:
                    await asyncio.wait({gone, waiter}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiter.cancel()
                if gone.done():
                    if _disconnected(gone):
                        return
                    gone = asyncio.ensure_future(receive())
            if alive:
                # Over (lifetime, a pruned cursor, a failed read): end the response properly; the
                # client reconnects with Last-Event-ID.
                try:
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                except Exception:  # noqa: BLE001 - the client left meanwhile
                    pass
        finally:
            gone.cancel()
