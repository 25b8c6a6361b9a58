#!/usr/bin/env python3
"""Per-request cost of the application itself, without a server or sockets.

    python bench/inprocess.py [--requests 20000] [--rows 2000] [--cpu] [--postgres URL]

A fresh site in a temp folder (SQLite, or with ``--postgres URL`` a new database on that
PostgreSQL server, dropped afterwards), ``--rows`` ToDo documents, an API key of a System
Manager (not Administrator, so permission rules are evaluated), then each workload called
straight through the ASGI callable ``--requests`` times (a bounded loop) with pre-built
scopes. Prints microseconds per request (the median of five rounds). Machines here are noisy:
compare two checkouts in one sitting, alternating, e.g. with ``PYTHONPATH=<checkout>/src``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

# This checkout's code, unless PYTHONPATH names another (comparing two checkouts in one sitting).
if not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from ristretto.api.app import App  # noqa: E402
from ristretto.model import document  # noqa: E402
from ristretto.site import Site  # noqa: E402
from ristretto.site.install import add_user, generate_keys, new_site  # noqa: E402


def scope(method: str, path: str, query: bytes, auth: bytes, body: bytes = b"") -> dict:
    headers = [(b"host", b"127.0.0.1"), (b"authorization", auth)]
    if body:
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    return {"body": body,"type": "http", "method": method, "path": path, "raw_path": path.encode(), "query_string": query,
            "headers": headers, "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 8000), "scheme": "http", "http_version": "1.1", "root_path": ""}


CLOCK = time.perf_counter  # --cpu: time.process_time, the process's CPU time (steadier on a busy machine)


async def run(app: App, scopes: list[dict], n: int, concurrency: int = 1) -> float:
    """Microseconds per request for ``n`` requests, ``concurrency`` of them in flight at a time
    (as many connections of one worker; writes then share group commits)."""
    if concurrency > 1:
        started = CLOCK()
        per = n // concurrency

        async def lane(k: int) -> None:
            await run(app, scopes[k % len(scopes):] + scopes[:k % len(scopes)], per)

        await asyncio.gather(*(lane(k) for k in range(concurrency)))
        return (CLOCK() - started) / (per * concurrency) * 1e6
    started = CLOCK()
    for i in range(n):
        request = scopes[i % len(scopes)]
        body = request.get("body", b"")

        async def receive(body=body):
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message):
            if message["type"] == "http.response.start" and message["status"] != 200:
                raise RuntimeError(f"status {message['status']}")

        await app(request, receive, send)
    return (CLOCK() - started) / n * 1e6


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--requests", type=int, default=20000)
    p.add_argument("--rows", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=1,
                   help="requests in flight at once on the one event loop (default 1: one after the other)")
    p.add_argument("--only", choices=("get", "list", "filter", "keyset", "method", "create", "update"),
                   help="one workload")
    p.add_argument("--cpu", action="store_true",
                   help="count the process's CPU time, not wall time: steadier while other work shares the machine")
    p.add_argument("--postgres", metavar="URL",
                   help="a PostgreSQL server (postgresql://user@host:port/db) to create the site's database on")
    p.add_argument("--threaded", action="store_true",
                   help="handlers on a thread pool (the site's threaded_requests setting)")
    p.add_argument("--profile", metavar="FILE", help="cProfile the measured rounds into FILE (prints calls per request)")
    args = p.parse_args()
    if args.cpu:
        global CLOCK
        CLOCK = time.process_time
    db_url = _create_database(args.postgres) if args.postgres else None
    try:
        return _bench(args, db_url)
    finally:
        if db_url:
            _drop_database(args.postgres, db_url)


def _create_database(server: str) -> str:
    import uuid

    import psycopg
    name = "bench_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{server.rsplit('/', 1)[0]}/{name}"


def _drop_database(server: str, db_url: str) -> None:
    import psycopg
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db_url.rsplit("/", 1)[1]}" WITH (FORCE)')


def _server_cpu(db_url: str | None) -> float | None:
    """CPU seconds the PostgreSQL server processes serving this database have used so far
    (a server on this machine, read from /proc; None if it cannot be read)."""
    if not db_url:
        return None
    import psycopg
    try:
        with psycopg.connect(db_url, autocommit=True) as conn:
            pids = [r[0] for r in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")]
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
        return total
    except (OSError, psycopg.Error, ValueError):
        return None


def bench_site(site_dir: Path, db_url: str | None, rows: int) -> tuple[str, str, list[str]]:
    """A new site with ``rows`` ToDo documents (half Open, half Closed) and an API key of a
    System Manager (not Administrator: permission rules are evaluated); (key, secret, names)."""
    site, _ = new_site(site_dir, db_url, "bench-admin-pw")
    add_user(site, "bench@example.com", "bench-pw-123", ["System Manager"])
    key, secret = generate_keys(site, "bench@example.com")
    with site.admin() as ctx:
        names = [document.insert(ctx, "ToDo", {"description": f"row {i}", "status": ("Open", "Closed")[i % 2]}).name
                 for i in range(rows)]
    if db_url:
        # What autovacuum does shortly after a load (as bench/run.py): statistics and the
        # visibility map, which the plans of a real site's listings rest on.
        import psycopg
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute('VACUUM (ANALYZE) "tabToDo"')
    site.close()
    return key, secret, names


def _cursor(app: App, auth: bytes, row: int) -> bytes:
    """The v2 listing's cursor of the row before ``row`` (the keyset workload's page starts there)."""
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    request = scope("GET", "/api/v2/document/ToDo", f"start={row - 1}&limit=1".encode(), auth)
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(app(request, receive, send))
    finally:
        loop.close()
    body = json.loads(b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"))
    return body["next_cursor"].encode()


def _bench(args, db_url: str | None) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        site_dir = Path(tmp) / "site"
        key, secret, names = bench_site(site_dir, db_url, args.rows)
        if args.threaded:
            config = site_dir / "site_config.json"
            config.write_text(json.dumps({**json.loads(config.read_text()), "threaded_requests": True}))
        app = App(Site(site_dir))
        auth = f"token {key}:{secret}".encode()
        filter_qs = urllib.parse.urlencode({"fields": '["name","status"]', "filters": '[["status","=","Open"]]'})
        workloads = {
            "get": [scope("GET", f"/api/resource/ToDo/{n}", b"", auth) for n in names[:500]],
            "list": [scope("GET", "/api/resource/ToDo", b"", auth)],
            "filter": [scope("GET", "/api/resource/ToDo", filter_qs.encode(), auth)],
            "keyset": [scope("GET", "/api/v2/document/ToDo", b"after=" + _cursor(app, auth, args.rows * 9 // 10), auth)],
            "method": [scope("GET", "/api/method/ping", b"", auth)],
            "create": [scope("POST", "/api/resource/ToDo", b"", auth, b'{"description": "bench create"}')],
            "update": [scope("PUT", f"/api/resource/ToDo/{n}", b"", auth, b'{"priority": "High"}')
                       for n in names[:500]],
        }
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(run(app, workloads["get"], 200))  # warm caches
            for name, scopes in workloads.items():
                if args.only and name != args.only:
                    continue
                profiler = None
                if args.profile:
                    import cProfile
                    profiler = cProfile.Profile(CLOCK)
                    profiler.enable()
                server = _server_cpu(db_url)
                rounds = [loop.run_until_complete(run(app, scopes, args.requests // 5, args.concurrency))
                          for _ in range(5)]
                line = f"{name:8s} {statistics.median(rounds):8.1f} µs/request"
                if server is not None:
                    done = (args.requests // 5 // args.concurrency) * args.concurrency * 5
                    used = (_server_cpu(db_url) or 0.0) - server
                    line += f"  (server {used / done * 1e6:6.1f} µs/request)"
                if profiler is not None:
                    import pstats
                    profiler.disable()
                    stats = pstats.Stats(profiler)
                    n = (args.requests // 5 // args.concurrency) * args.concurrency * 5
                    line += f"  {stats.total_calls / n:.1f} calls/request (profiled)"
                    stats.dump_stats(f"{args.profile}.{name}")
                print(line)
        finally:
            loop.close()
            app.site.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
