"""The HTTP protocol of ``ristretto serve`` (ristretto.cli.server.Protocol) driven directly, with a
transport that records what is written: a whole answer goes out in one write (status line,
headers and body together), while a streamed answer's headers are not held for its first chunk."""

from __future__ import annotations

import asyncio

from uvicorn.config import Config
from uvicorn.server import ServerState

from ristretto.cli.server import Protocol

REQUEST = b"GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


class Recorder:
    """What a socket transport would have sent, write by write."""

    def __init__(self):
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data):
        self.writes.append(bytes(data))

    def close(self):
        self.closed = True

    def is_closing(self):
        return self.closed

    def get_extra_info(self, name, default=None):
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def pause_reading(self):
        pass

    def resume_reading(self):
        pass


def _serve(app, requests: bytes, turns: int = 50) -> Recorder:
    loop = asyncio.new_event_loop()
    try:
        config = Config(app=app, http=Protocol, lifespan="off", log_config=None)
        config.load()
        protocol = Protocol(config, ServerState(), {}, _loop=loop)
        transport = Recorder()
        protocol.connection_made(transport)
        protocol.data_received(requests)

        async def settle():
            for _ in range(turns):
                await asyncio.sleep(0)
        loop.run_until_complete(settle())
        protocol.connection_lost(None)
        loop.run_until_complete(settle())
        return transport
    finally:
        loop.close()


async def whole(scope, receive, send):
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"11")]})
    await send({"type": "http.response.body", "body": b'{"ok":true}'})


def test_a_whole_answer_is_one_write():
    writes = _serve(whole, REQUEST).writes
    assert len(writes) == 1, writes
    head, _, body = writes[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and b"content-length: 11" in head and body == b'{"ok":true}'


def test_pipelined_answers_keep_their_order():
    writes = _serve(whole, REQUEST * 3).writes
    sent = b"".join(writes)
    assert sent.count(b"HTTP/1.1 200 OK") == 3 and sent.count(b'{"ok":true}') == 3
    assert len(writes) == 3  # one per answer


async def streamed(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
    for _ in range(5):
        await asyncio.sleep(0)  # the stream has nothing to say yet
    await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


def test_a_streams_headers_go_out_before_its_first_event():
    writes = _serve(streamed, REQUEST).writes
    assert writes[0].startswith(b"HTTP/1.1 200 OK") and writes[0].endswith(b"\r\n\r\n"), writes
    assert b"data: 1" in b"".join(writes[1:])
