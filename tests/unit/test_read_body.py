"""Request bodies: a truncated body never reaches a handler (``read_body``; slow bodies are the
HTTP server's, see tests/api/test_http_server.py)."""

from __future__ import annotations

import asyncio

import pytest

from ristretto.api.asgi import ClientDisconnected, InvalidRequestBody, content_length, read_body
from ristretto.exceptions import RequestEntityTooLarge


def feeder(*messages):
    """An ASGI ``receive`` giving ``messages`` in order, then ``http.disconnect``."""
    queue = list(messages)

    async def receive():
        return queue.pop(0) if queue else {"type": "http.disconnect"}
    return receive


def chunk(body: bytes, more: bool) -> dict:
    return {"type": "http.request", "body": body, "more_body": more}


def run(coro):
    return asyncio.run(coro)


def test_whole_body_in_chunks():
    assert run(read_body(feeder(chunk(b"ab", True), chunk(b"", True), chunk(b"cd", False)), 10)) == b"abcd"
    assert run(read_body(feeder(chunk(b"abcd", False)), 10, expected=4)) == b"abcd"


def test_disconnect_before_the_end_of_the_body_is_not_a_body():
    with pytest.raises(ClientDisconnected):
        run(read_body(feeder(chunk(b"description=trunc", True)), 1000))
    with pytest.raises(ClientDisconnected):
        run(read_body(feeder(), 1000))


def test_body_shorter_or_longer_than_its_content_length():
    with pytest.raises(InvalidRequestBody):
        run(read_body(feeder(chunk(b"description=x", False)), 1000, expected=500))
    with pytest.raises(InvalidRequestBody):
        run(read_body(feeder(chunk(b"description=x", False)), 1000, expected=3))


def test_too_large():
    with pytest.raises(RequestEntityTooLarge):
        run(read_body(feeder(chunk(b"x" * 6, True), chunk(b"x" * 6, False)), 10))


def test_content_length_header():
    assert content_length({"headers": [(b"host", b"x"), (b"content-length", b"500")]}) == 500
    assert content_length({"headers": [(b"content-length", b"-1")]}) is None
    assert content_length({"headers": [(b"content-length", b"9" * 40)]}) is None
    assert content_length({"headers": []}) is None
