"""Send a large listing while it is read: chunked JSON, bounded memory.

A listing of every row (``limit_page_length=0``) can be millions of rows. The model
hands back a :class:`~ristretto.model.listing.ListStream` instead of a list; the
response built around it (:class:`StreamingResponse`) writes the same JSON a list
would give, ``{"data":[`` + rows joined with ``,`` + ``]}``, a batch of rows at a
time with ASGI ``more_body`` (chunked transfer). Memory per stream stays at one
batch (sized to about :data:`CHUNK_BYTES` of JSON) whatever the listing's size,
and other requests are served between two batches.

* The query runs, and its first batch is read, before the status line is sent, so
  a refused or timed-out query is an ordinary error response.
* A failure after that (a batch past ``query_timeout``, a lost database) is logged
  and the response is cut off without its final chunk: the server then aborts the
  connection and the client sees an incomplete transfer, never a well-formed body.
* A client that goes away stops the stream, and so does one that stops reading for
  :data:`STALL_SECONDS`; the cursor's connection is released in every case.
* At most ``MAX_STREAMS`` streams per worker run at once (PostgreSQL keeps that many
  connections for them); further ones wait for a turn without holding the worker.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from typing import Any, Callable

from ristretto.api.asgi import NO_CACHE, Response, dumps
from ristretto.db.stream import MAX_STREAMS
from ristretto.exceptions import QueryTimeoutError
from ristretto.model.listing import ListStream

log = logging.getLogger("ristretto")
# Target size of one chunk of JSON; the rows per batch follow from the last batch's size.
CHUNK_BYTES = 1 << 20
FIRST_BATCH = 100
MIN_BATCH, MAX_BATCH = 10, 20_000
# A client that takes longer than this to accept one chunk has stopped reading: the
# stream is cut off rather than holding its database connection and its turn forever.
STALL_SECONDS = 60.0


class StreamingResponse(Response):
    """A body whose ``key`` holds a :class:`ListStream`; sent by :class:`Streamer`."""

    __slots__ = ("rows", "head", "after", "debug", "on_error", "debug_key")

    def __init__(self, body: dict[str, Any], key: str, debug: list[str],
                 on_error: Callable[[BaseException], Response], debug_key: str = "_debug_messages"):
        super().__init__(b"", 200)
        self.headers.append((b"cache-control", NO_CACHE))
        keys = list(body)
        at = keys.index(key)
        before = {k: body[k] for k in keys[:at]}
        self.after = {k: body[k] for k in keys[at + 1:]}
        self.rows: ListStream = body[key]
        self.head = (dumps(before)[:-1] + b"," if before else b"{") + dumps(key) + b":["
        self.debug = debug
        self.on_error = on_error
        self.debug_key = debug_key

    def tail(self) -> bytes:
        # A value known only once every row is out (v2's ``has_next_page``) is a callable.
        after = {k: v() if callable(v) else v for k, v in self.after.items()}
        if self.debug:
            # What the renderer adds at the end of a body: v1's ``_debug_messages`` (a JSON
            # string), v2's ``debug`` (a list of ``{"message": line}``).
            if self.debug_key == "_debug_messages":
                after[self.debug_key] = dumps(self.debug).decode()
            else:
                after[self.debug_key] = [{"message": line} for line in self.debug]
        return b"]" + (b"," + dumps(after)[1:] if after else b"}")


def stream_key(body: Any) -> str | None:
    """The key of a v1 body that holds a ListStream, if any."""
    if isinstance(body, dict):
        for key, value in body.items():
            if isinstance(value, ListStream):
                return key
    return None


def _disconnected(message: asyncio.Future) -> bool:
    """Whether a finished ``receive()`` says the client is gone (the request body was read
    before the handler ran, so nothing else is expected)."""
    try:
        return message.result().get("type") == "http.disconnect"
    except Exception:  # noqa: BLE001 - a failed receive: the connection is gone too
        return True


class Streamer:
    """Runs the streams of one worker: their turns, their blocking reads, their sends."""

    def __init__(self, database, inline: bool):
        self.database = database
        self.inline = inline
        self._slots: asyncio.Semaphore | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

    async def _call(self, fn, *args):
        if self.inline:
            return fn(*args)
        if self._executor is None:
            # Not the handlers' pool: busy handlers must never keep a stream from finishing.
            self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=MAX_STREAMS)
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def send(self, response: StreamingResponse, receive, send) -> None:
        if self._slots is None:
            self._slots = asyncio.Semaphore(MAX_STREAMS)
        async with self._slots:
            rows = response.rows
            try:
                await self._send(response, rows, receive, send)
            finally:
                try:
                    await self._call(rows.close)
                except Exception:  # noqa: BLE001 - the response is decided; keep the worker going
                    log.exception("closing a listing stream failed")

    async def _send(self, response: StreamingResponse, rows: ListStream, receive, send) -> None:
        try:
            await self._call(rows.open, self.database)
            batch = await self._call(rows.fetch, FIRST_BATCH)
        except Exception as e:  # noqa: BLE001 - nothing sent yet: an ordinary error response
            await response.on_error(e).send(send)
            return
        await send({"type": "http.response.start", "status": response.status, "headers": response.headers})
        gone = asyncio.ensure_future(receive())
        try:
            prefix = response.head
            while batch:
                encoded = dumps(batch)
                size = max(1, (len(encoded) - 2) // len(batch))
                chunk = {"type": "http.response.body", "body": prefix + encoded[1:-1], "more_body": True}
                try:
                    await asyncio.wait_for(send(chunk), STALL_SECONDS)
                except asyncio.TimeoutError:
                    log.warning("client stopped reading a listing stream for %s s; cut off", STALL_SECONDS)
                    return
                prefix = b","
                del encoded, chunk
                if gone.done():
                    if _disconnected(gone):
                        log.info("client went away during a listing stream; stopped")
                        return
                    gone = asyncio.ensure_future(receive())
                batch = await self._call(rows.fetch, min(MAX_BATCH, max(MIN_BATCH, CHUNK_BYTES // size)))
            tail = response.tail()
            if prefix is response.head:  # no rows at all
                tail = prefix + tail
            await send({"type": "http.response.body", "body": tail, "more_body": False})
        except QueryTimeoutError as e:
            # Returning without the final chunk makes the server abort the connection.
            log.warning("listing stream cut off: %s", e.message)
        except Exception:  # noqa: BLE001 - logged; the client sees an incomplete transfer
            log.exception("listing stream failed after the response started; cut off")
        finally:
            gone.cancel()
