"""The access log: one line per request, on standard output.

    2026-12-06 13:09:36,073 127.0.0.1 Administrator "POST /api/method/login" 200 231.6ms

Fields: time, client address, user (``-`` when the request never got that far), method and
path, status, milliseconds. The path is the one sent (percent-encoded, so a line break cannot
be injected) without its query string: query strings carry passwords (``pwd``), session ids
(``sid``) and keys, which must never reach a log. Requests refused by the HTTP server before
the application (malformed, too slow, headers too large) are logged with ``"- -"`` and the
reason.

Lines are strings built here, with the time prefix formatted once a second (a ``logging``
record costs about 10 µs, a tenth of a whole small request), and written with ``os.write``:
the lines of one turn of the event loop together, at the end of that turn (one system call for
the dozen requests a busy worker answers in a turn, where one per line cost each request
about 10 µs of server CPU, measured), and at once when no loop runs. ``ristretto serve`` turns
it on (``--no-access-log`` off) for its workers through ``RISTRETTO_ACCESS_LOG``.
"""

from __future__ import annotations

import asyncio
import os
import time
from urllib.parse import quote as urlquote

ENV = "RISTRETTO_ACCESS_LOG"
MAX_PATH = 300


class AccessLog:
    __slots__ = ("fd", "_second", "_prefix", "_held")

    def __init__(self, fd: int = 1):
        self.fd = fd
        self._second = -1
        self._prefix = ""
        self._held: list[str] | None = None   # lines of this loop turn, written at its end

    @classmethod
    def from_env(cls) -> "AccessLog | None":
        """The log ``ristretto serve`` asked for, or None."""
        return cls() if os.environ.get(ENV) == "1" else None

    def write(self, client: str | None, user: str | None, method: str, path: str, status: int, ms: float,
              note: str = "") -> None:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        line = (f'{self._prefix},{int((now - second) * 1000):03d} {client or "-"} {user or "-"} '
                f'"{method} {path}" {status} {ms:.1f}ms{note}\n')
        if self._held is not None:
            self._held.append(line)
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._emit(line)
            return
        self._held = [line]
        loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write the lines held (the end of a loop turn, or a worker stopping)."""
        held, self._held = self._held, None
        if held:
            self._emit("".join(held))

    def _emit(self, text: str) -> None:
        data = memoryview(text.encode("utf-8", "replace"))
        try:
            while data:
                data = data[os.write(self.fd, data):]
        except OSError:  # a closed or full log must not fail the request
            pass

    def request(self, scope: dict, user: str | None, status: int, started: float) -> None:
        client = scope.get("client")
        self.write(client[0] if client else None, user, scope.get("method", "-"), log_path(scope), status,
                   (time.perf_counter() - started) * 1000)


def log_path(scope: dict) -> str:
    """The request path for a log line: as sent (percent-encoded), no query string, capped."""
    raw = scope.get("raw_path")
    path = raw[:MAX_PATH].decode("latin-1") if raw else urlquote(scope.get("path", "")[:MAX_PATH])
    if not path.isprintable():  # servers refuse control characters in a request line; be sure
        path = path.encode("unicode_escape").decode("ascii")
    return path
