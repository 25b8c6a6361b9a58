"""The floor: a bare ASGI app that returns one fixed JSON body for every request.

The benchmark serves this on the same HTTP server, settings and worker count as
``ristretto serve`` and reports every Ristretto workload as a ratio to its req/s.
Nothing here touches a database, parses a request or checks a key: it is the cost of
the HTTP server and the ASGI hop alone, i.e. the most any Python ASGI app can reach
on this machine.

The body has the shape and size of a real "list 20 names" response
(``{"data": [{"name": "<10 hex>"}, ...]}``, 20 entries) so both sides send about the
same number of bytes.

Use it as a plain ASGI callable (``floor_app:app``), through the factory
(``floor_app:create_app``, what the benchmark uses), or run it directly::

    python bench/floor_app.py --port 8001 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import sys

BODY = json.dumps({"data": [{"name": f"{i:010x}"} for i in range(0x1a2b3c4d5e, 0x1a2b3c4d5e + 20)]},
                  separators=(",", ":")).encode()
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope, receive, send):
    kind = scope["type"]
    if kind == "http":
        # Drain the request body (wrk's GETs have none; this keeps POSTs well-behaved).
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False) and message["type"] == "http.request"
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        await send({"type": "http.response.body", "body": BODY})
    elif kind == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_app():
    """App factory, mirroring ``ristretto.api.app:create_app``."""
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    # The server's workers import this module by name: make sure they can find it.
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p)
    # The same server and settings as `ristretto serve` (src/ristretto/cli/server.py).
    from ristretto.cli import server
    sock = server.bind(args.host, args.port, backlog=2048)
    server.serve("floor_app:create_app", sock, workers=args.workers, access=False, backlog=2048)


if __name__ == "__main__":
    main()
