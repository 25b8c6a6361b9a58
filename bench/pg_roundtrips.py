#!/usr/bin/env python3
"""Round trips and statements each bench workload sends to PostgreSQL, and µs per request.

    python bench/pg_roundtrips.py [--rows 2000] [--requests 2000] [--show get]

A throwaway cluster (tests/pg.py) or ``--postgres URL``, a fresh site with ``--rows`` ToDo
documents and an API key of a System Manager, then each workload of ``bench/run.py`` called
straight through the ASGI callable. Statements are counted at psycopg's own entry points
(``Cursor.execute``/``executemany``, which ``Connection.execute`` calls), so the count does not depend on
Ristretto's code and compares two checkouts (``PYTHONPATH=<checkout>/src``). ``--show``
prints the statements of one request of a workload. Counts are deterministic; timings are
not (the machine is shared): compare in one sitting.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import urllib.parse
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
if "ristretto" not in sys.modules:
    try:
        import ristretto  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(ROOT / "src"))

import psycopg  # noqa: E402

from bench.inprocess import bench_site, scope  # noqa: E402

SENT: list[str] = []        # statements, in order
TRIPS: list[int] = [0]      # round trips: statements of one pipeline share one
_PIPELINES: set[int] = set()


def _wrap(cls, name):
    original = getattr(cls, name)

    def wrapper(self, query, *args, **kw):
        SENT.append(query if isinstance(query, str) else str(query))
        pipeline = self._conn._pipeline
        if pipeline is None:
            TRIPS[0] += 1
        elif id(pipeline) not in _PIPELINES:
            _PIPELINES.add(id(pipeline))
            TRIPS[0] += 1
            SENT[-1] = "[pipeline] " + SENT[-1]
        else:
            SENT[-1] = "[  +same ] " + SENT[-1]
        return original(self, query, *args, **kw)
    setattr(cls, name, wrapper)


def _wrap_pipeline():
    original = psycopg.Connection.pipeline

    def pipeline(self):
        cm = original(self)

        class Marked:
            def __enter__(inner):
                p = cm.__enter__()
                _PIPELINES.discard(id(p))
                return p

            def __exit__(inner, *exc):
                return cm.__exit__(*exc)
        return Marked()
    psycopg.Connection.pipeline = pipeline


def _wrap_session() -> None:
    """Checkouts that send statements through psycopg's libpq wrapper (``_Session`` in
    ``ristretto.db.postgres``) are counted at its two entry points instead."""
    try:
        from ristretto.db.pgsession import _Session
    except ImportError:
        return
    run, run_pipeline = _Session.run, _Session.run_pipeline

    def counted_run(self, query, params, prepare=True):
        SENT.append(query)
        TRIPS[0] += 1
        return run(self, query, params, prepare)

    def counted_pipeline(self, items):
        TRIPS[0] += 1
        for i, (query, _, _) in enumerate(items):
            SENT.append(("[pipeline] " if i == 0 else "[  +same ] ") + query)
        return run_pipeline(self, items)
    _Session.run, _Session.run_pipeline = counted_run, counted_pipeline


# Connection.execute runs Cursor.execute: counting the cursor counts each statement once.
for _cls, _name in ((psycopg.Cursor, "execute"), (psycopg.Cursor, "executemany")):
    _wrap(_cls, _name)
_wrap_pipeline()
_wrap_session()


def kind(sql: str) -> str:
    sql = sql.split("] ", 1)[-1]
    head = sql.replace(";", " ").split(None, 1)[0].upper() if sql.strip() else "?"
    return head if head in ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE") else "stmt"


async def call(app, request) -> None:
    body = request.get("body", b"")

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        if message["type"] == "http.response.start" and message["status"] != 200:
            raise RuntimeError(f"{request['method']} {request['path']}: status {message['status']}")

    await app(request, receive, send)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=2000)
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--postgres", metavar="URL", help="server to create a throwaway database on")
    p.add_argument("--show", help="print the statements of one request of this workload")
    args = p.parse_args()

    from ristretto.api.app import App
    from ristretto.site import Site
    from tests.pg import Cluster
    import tempfile

    cluster = Cluster()
    if args.postgres:
        cluster.url = args.postgres
    cluster.start()
    try:
        db_url = cluster.create_database()
        with tempfile.TemporaryDirectory() as tmp:
            site_dir = Path(tmp) / "site"
            key, secret, names = bench_site(site_dir, db_url, args.rows)
            app = App(Site(site_dir))
            auth = f"token {key}:{secret}".encode()
            filter_qs = urllib.parse.urlencode({"fields": '["name","status"]',
                                                "filters": '[["status","=","Open"]]'}).encode()
            offset = f"limit_start={args.rows * 9 // 10}".encode()
            workloads = {
                "get": [scope("GET", f"/api/resource/ToDo/{n}", b"", auth) for n in names[:500]],
                "list": [scope("GET", "/api/resource/ToDo", b"", auth)],
                "filter": [scope("GET", "/api/resource/ToDo", filter_qs, auth)],
                "count": [scope("GET", "/api/method/frappe.client.get_count", b"doctype=ToDo", auth)],
                "offset": [scope("GET", "/api/resource/ToDo", offset, auth)],
                "create": [scope("POST", "/api/resource/ToDo", b"", auth, b'{"description": "bench create"}')],
                "update": [scope("PUT", f"/api/resource/ToDo/{n}", b"", auth, b'{"priority": "High"}')
                           for n in names[:500]],
            }
            loop = asyncio.new_event_loop()
            try:
                for request in workloads["get"][:50]:  # warm caches
                    loop.run_until_complete(call(app, request))
                print(f"{'workload':8s} {'trips':>6s} {'stmts':>6s} {'tx':>4s}  {'µs/req':>8s}  breakdown")
                for name, scopes in workloads.items():
                    SENT.clear()
                    loop.run_until_complete(call(app, scopes[1 % len(scopes)]))
                    loop.run_until_complete(call(app, scopes[2 % len(scopes)]))
                    SENT.clear()
                    TRIPS[0] = 0
                    loop.run_until_complete(call(app, scopes[3 % len(scopes)]))
                    one, trips = list(SENT), TRIPS[0]
                    if args.show == name:
                        for sql in one:
                            print("   ", " ".join(sql.split())[:200])
                    kinds = Counter(kind(s) for s in one)
                    tx = sum(v for k, v in kinds.items() if k != "stmt")
                    rounds = []
                    for r in range(5):
                        started = time.perf_counter()
                        n = args.requests // 5
                        for i in range(n):
                            loop.run_until_complete(call(app, scopes[i % len(scopes)]))
                        rounds.append((time.perf_counter() - started) / n * 1e6)
                    print(f"{name:8s} {trips:6d} {len(one):6d} {tx:4d}  {statistics.median(rounds):8.1f}  "
                          f"{dict(kinds)}  (spread {min(rounds):.0f}-{max(rounds):.0f})")
            finally:
                loop.close()
                app.site.close()
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
