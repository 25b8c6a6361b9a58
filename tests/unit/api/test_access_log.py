"""The access log (ristretto.api.accesslog): the lines of one event-loop turn are written together
at its end, in order; with no loop running a line is written at once; a worker stopping writes
what it holds."""

from __future__ import annotations

import asyncio
import os

from ristretto.api.accesslog import AccessLog


def _pipe() -> tuple[int, int]:
    r, w = os.pipe()
    os.set_blocking(r, False)
    return r, w


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 1 << 16)
    except BlockingIOError:
        return b""


def test_lines_of_one_turn_go_out_together_at_its_end():
    r, w = _pipe()
    log = AccessLog(w)

    async def turn():
        for i in range(5):
            log.write("127.0.0.1", "ann", "GET", f"/api/resource/ToDo/{i}", 200, 1.5)
        assert _read(r) == b""  # held while the turn runs
        await asyncio.sleep(0)  # the turn ends
        return _read(r)

    loop = asyncio.new_event_loop()
    try:
        out = loop.run_until_complete(turn())
    finally:
        loop.close()
        os.close(w)
    lines = out.decode().splitlines()
    assert [line.split('"')[1] for line in lines] == [f"GET /api/resource/ToDo/{i}" for i in range(5)]
    assert all(line.endswith(" 200 1.5ms") and " 127.0.0.1 ann " in line for line in lines)
    os.close(r)


def test_without_a_loop_a_line_is_written_at_once():
    r, w = _pipe()
    log = AccessLog(w)
    log.write(None, None, "-", "-", 408, 0.0, " (request headers not received in time)")
    assert _read(r).decode().endswith(' - - "- -" 408 0.0ms (request headers not received in time)\n')
    os.close(r)
    os.close(w)


def test_flush_writes_what_is_held():
    r, w = _pipe()
    log = AccessLog(w)

    async def stop_now():
        log.write("127.0.0.1", "ann", "POST", "/api/method/logout", 200, 2.0)
        log.flush()  # a worker stopping does not wait for the end of the turn
        return _read(r)

    loop = asyncio.new_event_loop()
    try:
        assert b'"POST /api/method/logout" 200 2.0ms' in loop.run_until_complete(stop_now())
    finally:
        loop.close()
    os.close(r)
    os.close(w)
