"""The HTTP server behind ``ristretto serve``: uvicorn with httptools (and uvloop when installed).

Why this server: Frappe clients and ``curl -g`` send ``"``, ``[`` and ``]`` raw in query
strings, and Frappe's usual servers accept them; granian (hyper) answers those requests
with an empty 400 before the application sees them, httptools accepts them.

What is added here, because uvicorn has no setting for it:

- a header read timeout: a connection must deliver a request's complete headers within
  ``header_timeout`` seconds of connecting (or of the request's first byte on a kept-alive
  connection), else it gets a 408 and is closed (slow-header clients cannot hold
  connections open indefinitely);
- a body read timeout: the whole body within ``body_timeout`` seconds of the headers, else a
  408 (if no response has started) and the connection closed; the application sees a
  disconnect and handles nothing;
- a cap on header bytes per request (431 above it), since httptools keeps every header;
- access-log lines for requests refused here, before the application could log them;
- one write per response instead of two: uvicorn writes the status line and headers as soon as
  the application starts its answer, and the body when it comes, so a small answer went out as
  two TCP segments and woke the client twice. Writes made during one turn of the event loop are
  joined (:class:`_Corked`) and go out together at the end of the turn: the same bytes, in the
  same order, no later than the turn that made them (a stream's headers are not held for its
  first event). The bare floor app of ``bench/run.py`` served a third more requests a second
  with it (two workers, the same sitting), and Ristretto's own workloads a fifth to a third more.

The timers are armed only when a read leaves headers or a body incomplete, so a request that
arrives in one read (nearly all) costs no timer at all. Idle kept-alive connections are closed
by uvicorn (``keep_alive``). The listening socket is bound here, without ``SO_REUSEPORT``, so a
port already in use is refused before anything starts.
"""

from __future__ import annotations

import errno
import inspect
import os
import socket

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ristretto.api import accesslog, events

DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_BODY_TIMEOUT = 60.0
DEFAULT_KEEP_ALIVE = 5
# Request line plus headers of one request, counted as received (about: a read that
# completes the headers is counted whole). Large enough for long GET query strings.
MAX_HEADER_BYTES = 512 * 1024


class PortInUse(Exception):
    """The address is taken (another server, or another ``ristretto serve``)."""


class _Corked:
    """The transport a response is written through: writes of one event-loop turn go out as one."""

    __slots__ = ("_transport", "_loop", "_held")

    def __init__(self, transport, loop):
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] | None = None

    def write(self, data) -> None:
        if self._held is None:
            self._held = [data]
            self._loop.call_soon(self.flush)
        else:
            self._held.append(data)

    def flush(self) -> None:
        held, self._held = self._held, None
        if held and not self._transport.is_closing():
            self._transport.write(held[0] if len(held) == 1 else b"".join(held))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name):
        return getattr(self._transport, name)


class Protocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header and body read timeouts and a header size cap."""

    def __init__(self, config, server_state, app_state, _loop=None):
        super().__init__(config, server_state, app_state, _loop)
        self._header_timeout = float(getattr(config, "ristretto_header_timeout", DEFAULT_HEADER_TIMEOUT))
        self._body_timeout = float(getattr(config, "ristretto_body_timeout", DEFAULT_BODY_TIMEOUT))
        self._access = accesslog.AccessLog() if getattr(config, "ristretto_access_log", False) else None
        self._timer = None          # the one clock running: headers or body
        self._reading_headers = True
        self._reading_body = False
        self._header_bytes = 0

    def shutdown(self) -> None:
        # The server is stopping: live change streams end now (clients reconnect elsewhere with
        # Last-Event-ID) instead of holding the worker's exit for their whole lifetime.
        events.server_stopping()
        cycle = self.cycle
        if cycle is not None and isinstance(cycle.transport, _Corked):
            cycle.transport.flush()  # an answer finished this turn goes out before the connection closes
        super().shutdown()

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._start_clock(self._header_timeout, self._headers_too_slow)

    def connection_lost(self, exc) -> None:
        self._stop_clock()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._reading_headers:
            self._header_bytes += len(data)
            if self._header_bytes > MAX_HEADER_BYTES:
                self._refuse(431, b"Request Header Fields Too Large", "request headers too large")
                return
        super().data_received(data)
        # Only a read that leaves a request incomplete starts a clock.
        if self._timer is None and not self.transport.is_closing():
            if self._reading_body:
                self._start_clock(self._body_timeout, self._body_too_slow)
            elif self._reading_headers and self._header_bytes:
                self._start_clock(self._header_timeout, self._headers_too_slow)

    def on_headers_complete(self) -> None:
        self._reading_headers = False
        self._reading_body = True
        self._header_bytes = 0
        self._stop_clock()
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and not isinstance(cycle.transport, _Corked):
            cycle.transport = _Corked(cycle.transport, self.loop)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        # The next bytes on this connection are the next request's headers.
        self._reading_body = False
        self._reading_headers = True
        self._stop_clock()

    def send_400_response(self, msg: str) -> None:
        # httptools refused the request (malformed request line or headers).
        self._log_refusal(400, msg)
        super().send_400_response(msg)

    # --- clocks ---------------------------------------------------------------------------

    def _start_clock(self, seconds: float, expired) -> None:
        if self._timer is None and seconds > 0:
            self._timer = self.loop.call_later(seconds, expired)

    def _stop_clock(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _headers_too_slow(self) -> None:
        self._timer = None
        if not self.transport.is_closing():
            self._refuse(408, b"Request Timeout", "request headers not received in time")

    def _body_too_slow(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_started:
            self._refuse(408, b"Request Timeout", "request body not received in time")
        else:
            self._log_refusal(408, "request body not received in time")
            self.transport.close()

    def _refuse(self, status: int, reason: bytes, message: str) -> None:
        self._stop_clock()
        self._log_refusal(status, message)
        body = message.encode()
        self.transport.write(b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
                             b"content-length: %d\r\nconnection: close\r\n\r\n%s"
                             % (status, reason, len(body), body))
        # The application, if it is waiting for this body, sees a disconnect and handles nothing.
        self.transport.close()

    def _log_refusal(self, status: int, message: str) -> None:
        if self._access is not None:
            self._access.write(self.client[0] if self.client else None, None, "-", "-", status, 0.0,
                               f" ({message})")


def logging_config() -> dict:
    """The server log on stderr: uvicorn's messages, and ours (errors with tracebacks). Access
    lines are not logging records (ristretto.api.accesslog)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        "handlers": {
            "default": {"class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stderr"},
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            # Its lines carry the whole query string (passwords, sids): ours replace them.
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
            "ristretto": {"handlers": ["default"], "level": "INFO", "propagate": False},
        },
    }


def bind(host: str, port: int, backlog: int) -> socket.socket:
    """A listening socket on host:port, without ``SO_REUSEPORT`` (so a second server on the same
    port is refused instead of sharing it); ``SO_REUSEADDR`` allows a restart right after a stop."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise PortInUse(f"{host}:{port} is already in use (another server, or another `ristretto serve`?)"
                            " - stop it or choose another --port") from None
        raise PortInUse(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    sock.set_inheritable(True)
    return sock


def serve(app: str, sock: socket.socket, *, workers: int = 1, header_timeout: float = DEFAULT_HEADER_TIMEOUT,
          body_timeout: float = DEFAULT_BODY_TIMEOUT, keep_alive: int = DEFAULT_KEEP_ALIVE, access: bool = True,
          backlog: int = 2048) -> None:
    """Serve the ASGI app factory ``app`` ("module:function") on ``sock`` until stopped."""
    import uvicorn
    # The workers' applications read it (ristretto.api.accesslog).
    os.environ[accesslog.ENV] = "1" if access else "0"
    try:
        import uvloop  # noqa: F401
        loop = "uvloop"
    except ImportError:  # not built for every platform; asyncio's loop serves as well, slower
        loop = "asyncio"
    config = uvicorn.Config(
        app, factory=True, workers=workers, http=Protocol, loop=loop, lifespan="on", interface="asgi3",
        log_config=logging_config(), access_log=False, proxy_headers=False, server_header=False,
        timeout_keep_alive=keep_alive, backlog=backlog)
    # Read by Protocol in every worker (the config is handed to the worker processes whole).
    config.ristretto_header_timeout = header_timeout
    config.ristretto_body_timeout = body_timeout
    config.ristretto_access_log = access
    if workers == 1:
        uvicorn.Server(config).run(sockets=[sock])
        return
    from uvicorn.supervisors import Multiprocess
    if "target" in inspect.signature(Multiprocess.__init__).parameters:  # older uvicorn releases
        Multiprocess(config, target=uvicorn.Server(config).run, sockets=[sock]).run()
    else:
        Multiprocess(config, sockets=[sock]).run()
