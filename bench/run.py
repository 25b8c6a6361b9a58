#!/usr/bin/env python3
"""Ristretto benchmark harness: one command, a fresh site, wrk, a bare-ASGI floor.

    python bench/run.py            # full: 100,000 ToDo rows, ~15 s per workload
    python bench/run.py --quick    # quick: 20,000 rows, ~5 s per workload, < 3 minutes
    python bench/run.py --backend postgres [--quick]      # throwaway PostgreSQL cluster
    python bench/run.py --postgres postgresql://u@127.0.0.1:5432/postgres   # existing server

Steps: (1) a fresh site in a temp folder, (2) ToDo rows written straight into the
database in bulk (see ``load_rows``: the row layout comes from the site's own code),
(3) ``ristretto serve --workers 2`` on a free loopback port and an API key for a
System Manager user (not Administrator, so permission rules are evaluated), (4) each workload driven by ``wrk -t2 -c32 --latency`` with
``Authorization: token key:secret``, (5) the floor: ``bench/floor_app.py`` (a bare ASGI
app with a fixed JSON body) on the same HTTP server and worker count, measured before
and after the Ristretto workloads. Prints a table, writes ``bench/results/<ts>.json``
and ``bench/results/latest.json``; ``--quick`` ends with one ``ratios: ...`` line.

Every process started here is in its own process group and is stopped by its pid.
Every load loop is bounded: wrk runs for a fixed duration under a hard timeout.
Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
HOST = "127.0.0.1"
BENCH_USER = "bench@example.com"
ADMIN_PASSWORD = "bench-admin-pw"
SEED = 20261122

# The five workloads of the issue (and of the final ratios line), then the extras.
MAIN = ("get", "list", "filter", "create", "update")
EXTRA = ("count", "offset", "keyset", "group_by")
# Run order: reads first so they see exactly the loaded rows; writes last.
RUN_ORDER = ("get", "list", "filter", "count", "offset", "keyset", "group_by", "update", "create")
# A method that is not implemented answers one of these: reported as n/a.
NOT_IMPLEMENTED = (403, 404, 417, 501)

WORDS = ("call", "email", "review", "draft", "invoice", "customer", "supplier", "order", "meeting",
         "report", "quarterly", "budget", "follow", "up", "with", "the", "team", "about", "new",
         "release", "update", "website", "fix", "bug", "in", "checkout", "prepare", "slides",
         "for", "board", "send", "contract", "renewal", "check", "inventory", "levels", "plan",
         "sprint", "hire", "designer", "book", "travel", "to", "conference", "pay", "rent",
         "approve", "expenses", "write", "blog", "post", "migrate", "database", "backup",
         "server", "onboard", "intern", "schedule", "demo", "and", "review", "feedback")


def log(msg: str = "") -> None:
    print(msg, flush=True)


# --- processes --------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start(cmd: list[str], logfile: Path, env: dict | None = None, cwd: Path | None = None) -> subprocess.Popen:
    """Start a process in its own session/process group, output to ``logfile``."""
    out = open(logfile, "ab")
    try:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env={**os.environ, **(env or {})},
                                cwd=str(cwd) if cwd else None)
    finally:
        out.close()


def stop(proc: subprocess.Popen | None) -> None:
    """SIGTERM the process group led by ``proc`` (its pid), SIGKILL after 10 s."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(10)


def wait_http(url: str, proc: subprocess.Popen, logfile: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc)
            tail = logfile.read_text(errors="replace")[-3000:] if logfile.exists() else ""
            raise RuntimeError(f"server at {url} did not start:\n{tail}")
        time.sleep(0.1)


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc/<pid>/stat)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # Field 4 (ppid) comes after the parenthesised command, which may contain spaces.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            out.append(int(entry))
    return sorted(out)


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def tree_cpu(pids: list[int]) -> tuple[float, float]:
    """User and system CPU seconds of ``pids`` and all their descendants (``/proc``)."""
    user = system = 0.0
    seen: set[int] = set()
    todo = list(pids)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        user += int(fields[11]) / _TICK
        system += int(fields[12]) / _TICK
        todo.extend(children(pid))
    return user, system


class CpuMeter:
    """CPU per request of one measured run: the server processes (user and system), wrk
    (this process's reaped children), and the PostgreSQL cluster when the harness started it.
    Read alongside req/s: it says where a workload's time goes, and it is steadier than req/s
    on a shared machine."""

    def __init__(self, servers: list[int], db: int | None = None):
        self.servers, self.db = servers, db

    def __enter__(self):
        self._srv = tree_cpu(self.servers)
        self._db = tree_cpu([self.db]) if self.db else (0.0, 0.0)
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        self._wrk = ru.ru_utime + ru.ru_stime
        return self

    def __exit__(self, *exc):
        srv = tree_cpu(self.servers)
        db = tree_cpu([self.db]) if self.db else (0.0, 0.0)
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.seconds = {"server_user": srv[0] - self._srv[0], "server_sys": srv[1] - self._srv[1],
                        "db": sum(db) - sum(self._db), "wrk": ru.ru_utime + ru.ru_stime - self._wrk}
        return False

    def per_request(self, requests: int) -> dict:
        return {k: round(v / max(requests, 1) * 1e6, 1) for k, v in self.seconds.items()}


def start_profiles(folder: str, key: str, servers: list, duration: int) -> list[subprocess.Popen]:
    """py-spy on every worker of ``servers`` for ``duration`` seconds (``--profile``)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        raise SystemExit("--profile needs py-spy (pip install py-spy)")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    procs = []
    for server in servers:
        for pid in children(server.pid):
            if b"multiprocessing" in _cmdline(pid) and b"resource_tracker" in _cmdline(pid):
                continue
            procs.append(subprocess.Popen(
                [spy, "record", "--pid", str(pid), "--duration", str(duration), "--rate", "250", "--nonblocking",
                 "--format", "raw", "--output", str(out / f"{key}-{pid}.txt")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
    return procs


def finish_profiles(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            stop(proc)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def process_rss(proc: subprocess.Popen) -> dict:
    """RSS of the server's main process and of each worker (its direct children, except
    multiprocessing's resource tracker)."""
    workers = [{"pid": p, "rss_mib": round((rss_kib(p) or 0) / 1024, 1)} for p in children(proc.pid)
               if b"resource_tracker" not in _cmdline(p)]
    return {"main": {"pid": proc.pid, "rss_mib": round((rss_kib(proc.pid) or 0) / 1024, 1)},
            "workers": workers}


# --- wrk --------------------------------------------------------------------------------

def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    log("wrk not found: installing it from Debian's packages (apt-get install -y wrk)")
    if os.geteuid() != 0:
        raise SystemExit("wrk is missing and this is not root: install it with 'sudo apt-get install -y wrk'")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(["apt-get", "install", "-y", "wrk"], env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=False)
        subprocess.run(["apt-get", "install", "-y", "wrk"], env=env, capture_output=True, check=True)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("could not install wrk")
    return found


# Appended to every script: prints one machine-readable line at the end of the run.
LUA_DONE = r"""
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"""

# Requests use wrk.headers (the -H options: Authorization, Accept and, for writes,
# Content-Type): passing a headers table to wrk.format would replace them.
# Each wrk thread gets its own id (set from the main Lua state in setup()) so the
# threads start at different points of the rotation.
LUA_THREADS = r"""
local next_id = 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end
"""


def lua_names(names: list[str]) -> str:
    return "local names = {" + ",".join(f'"{n}"' for n in names) + "}\n"


# The requests of a rotating workload are formatted once, in init(), and request() hands them out
# in turn: wrk runs on the same two cores as the server, and formatting each request in Lua cost it
# about 8 µs more per request than the floor's fixed one (the CPU table's wrk column), CPU taken
# from the server being measured. The requests sent are the same.
LUA_ROTATE = r"""
local reqs, n, i = {}, 0, 0
function request()
  i = i + 1
  if i > n then i = 1 end
  return reqs[i]
end
"""


def lua_get(names: list[str]) -> str:
    return LUA_THREADS + lua_names(names) + LUA_ROTATE + r"""
function init(args)
  n = #names
  for k = 1, n do
    reqs[k] = wrk.format("GET", "/api/resource/ToDo/" .. names[((k + id * 1009) % n) + 1])
  end
end
""" + LUA_DONE


def lua_update(names: list[str]) -> str:
    return LUA_THREADS + lua_names(names) + LUA_ROTATE + r"""
local body = '{"priority": "High"}'
function init(args)
  n = #names
  for k = 1, n do
    reqs[k] = wrk.format("PUT", "/api/resource/ToDo/" .. names[((k + id * 1009) % n) + 1], nil, body)
  end
end
""" + LUA_DONE


def lua_create(count: int = 10000) -> str:
    # Descriptions repeat after ``count`` requests of a thread; names are the server's own.
    return LUA_THREADS + LUA_ROTATE + r"""
function init(args)
  n = %d
  for k = 1, n do
    reqs[k] = wrk.format("POST", "/api/resource/ToDo", nil, string.format('{"description": "bench create %%d-%%d"}', id, k))
  end
end
""" % count + LUA_DONE


def lua_static(method: str = "GET") -> str:
    # The URL's path and query come from the command line (wrk.path).
    return LUA_DONE


def run_wrk(wrk: str, url: str, script: Path, duration: int, *, threads: int, connections: int,
            headers: list[str], logfile: Path) -> dict:
    """One bounded wrk run; returns its parsed summary plus the raw text."""
    cmd = [wrk, f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "5s",
           "-s", str(script)]
    for h in headers:
        cmd += ["-H", h]
    cmd.append(url)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=duration + 30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=10)
        raise RuntimeError(f"wrk did not finish within {duration + 30} s: {out[-2000:]}")
    with open(logfile, "a") as f:
        f.write(f"$ {' '.join(c if not c.startswith('Authorization') else 'Authorization: token ***' for c in cmd)}\n{out}\n")
    m = re.search(r"^BENCHJSON (\{.*\})$", out, re.M)
    if proc.returncode != 0 or not m:
        raise RuntimeError(f"wrk failed (exit {proc.returncode}):\n{out[-2000:]}")
    s = json.loads(m.group(1))
    secs = s["duration_us"] / 1e6
    non2xx = s["status"]  # wrk counts responses with status > 399 here ("Non-2xx or 3xx responses")
    socket_errors = s["connect"] + s["read"] + s["write"] + s["timeout"]
    return {
        "requests": s["requests"], "seconds": round(secs, 3),
        "rps": round(s["requests"] / secs, 1),
        # Only successful responses count towards the ratio.
        "ok_rps": round(max(s["requests"] - non2xx, 0) / secs, 1),
        "p50_ms": round(s["p50_us"] / 1000, 2), "p90_ms": round(s["p90_us"] / 1000, 2),
        "p99_ms": round(s["p99_us"] / 1000, 2), "max_ms": round(s["max_us"] / 1000, 2),
        "non2xx": non2xx, "socket_errors": socket_errors,
        "errors": {k: s[k] for k in ("connect", "read", "write", "timeout", "status")},
        "raw": "\n".join(line for line in out.splitlines() if not line.startswith("BENCHJSON")),
    }


def run_wrk_split(wrk: str, urls: list[str], script: Path, duration: int, *, threads: int, connections: int,
                  headers: list[str], logfile: Path) -> dict:
    """``run_wrk`` against several servers at once (``--servers``): the threads and connections
    shared out, one wrk per server, run side by side; requests and rates summed, latencies the
    worst of the runs."""
    if len(urls) == 1:
        return run_wrk(wrk, urls[0], script, duration, threads=threads, connections=connections,
                       headers=headers, logfile=logfile)
    from concurrent.futures import ThreadPoolExecutor
    n = len(urls)
    with ThreadPoolExecutor(n) as pool:
        runs = list(pool.map(lambda u: run_wrk(wrk, u, script, duration, threads=max(1, threads // n),
                                               connections=max(1, connections // n), headers=headers,
                                               logfile=logfile), urls))
    out = {k: round(sum(r[k] for r in runs), 1) for k in ("rps", "ok_rps")}
    out.update({k: sum(r[k] for r in runs) for k in ("requests", "non2xx", "socket_errors")})
    out.update({k: max(r[k] for r in runs) for k in ("seconds", "p50_ms", "p90_ms", "p99_ms", "max_ms")})
    out["errors"] = {k: sum(r["errors"][k] for r in runs) for k in runs[0]["errors"]}
    out["raw"] = "\n".join(r["raw"] for r in runs)
    out["per_server_rps"] = [r["rps"] for r in runs]
    return out


# --- site and rows ----------------------------------------------------------------------

def ristretto_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "ristretto.cli.main", *args]


def cli(*args: str) -> str:
    proc = subprocess.run(ristretto_cmd(*args), capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise RuntimeError(f"ristretto {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def generate(n: int, seed: int = SEED):
    """Deterministic ToDo contents: yields (index, description, status, priority, date, creation)."""
    rng = random.Random(seed)
    base = dt.datetime(2025, 1, 1, 8, 0, 0)
    day0 = dt.date(2025, 1, 1)
    statuses, status_w = ("Open", "Closed", "Cancelled"), (50, 35, 15)
    priorities, priority_w = ("High", "Medium", "Low"), (20, 60, 20)
    for i in range(n):
        words = rng.choices(WORDS, k=rng.randint(4, 16))
        description = " ".join(words).capitalize() + f" #{i}"
        status = rng.choices(statuses, status_w)[0]
        priority = rng.choices(priorities, priority_w)[0]
        date = (day0 + dt.timedelta(days=rng.randint(0, 400))).isoformat()
        # One row a minute (strictly increasing), with random seconds and microseconds.
        created = base + dt.timedelta(minutes=i, seconds=rng.randint(0, 59), microseconds=rng.randint(0, 999999))
        yield i, description, status, priority, date, created.strftime("%Y-%m-%d %H:%M:%S.%f")


def load_rows(site_dir: Path, n: int, chunk: int = 5000) -> tuple[list[str], dict]:
    """Write ``n`` ToDo rows straight into the site's database, in one transaction.

    The row layout is the site's own: one ToDo is first inserted through
    ``ristretto.model.document.insert`` (defaults, standard columns, naming, stamps)
    and rolled back; its row is the template, in the ToDo Meta's column order, and each
    bulk row overrides only name, owner/modified_by, creation/modified, status,
    priority, date and description. Names come from ``ristretto.model.naming.make_hash``
    (what a hash-named ToDo gets) and timestamps are Frappe's ``YYYY-MM-DD HH:MM:SS.ffffff``.
    Returns the names in insertion order and facts about the load.
    """
    from ristretto.db.dialects import quote
    from ristretto.model import document, naming
    from ristretto.site import Site

    site = Site(site_dir)
    t0 = time.monotonic()
    try:
        with site.db.connect() as conn:
            site.registry.ensure_fresh(conn)
            meta = site.registry.get("ToDo")
            cols = list(meta.column_names)
            table = quote(meta.table)
            # Template row through the real insert path, then rolled back.
            conn.begin(write=True)
            try:
                doc = document.insert(site.context(conn), "ToDo", {"description": "template"})
                row = conn.one(f"SELECT {', '.join(quote(c) for c in cols)} FROM {table} WHERE name = ?",
                               (doc.name,))
            finally:
                conn.rollback()
            template = dict(zip(cols, row))
            fixed = {c: template[c] for c in cols if c not in (
                "name", "owner", "modified_by", "creation", "modified", "status", "priority", "date",
                "description")}
            pos = {c: i for i, c in enumerate(cols)}
            base = [template[c] for c in cols]
            sql = f"INSERT INTO {table} ({', '.join(quote(c) for c in cols)}) VALUES ({', '.join('?' * len(cols))})"
            names: list[str] = []
            seen: set[str] = set()
            batch: list[list] = []
            with conn.transaction(write=True):
                for i, description, status, priority, date, ts in generate(n):
                    name = naming.make_hash()
                    while name in seen:  # 40-bit random names: collisions are rare but possible
                        name = naming.make_hash()
                    seen.add(name)
                    names.append(name)
                    r = base.copy()
                    r[pos["name"]] = name
                    r[pos["owner"]] = r[pos["modified_by"]] = "Administrator"
                    r[pos["creation"]] = r[pos["modified"]] = ts
                    r[pos["status"]], r[pos["priority"]] = status, priority
                    r[pos["date"]], r[pos["description"]] = date, description
                    batch.append(r)
                    if len(batch) >= chunk:
                        conn.executemany(sql, batch)
                        batch.clear()
                if batch:
                    conn.executemany(sql, batch)
            count = conn.value(f"SELECT COUNT(*) FROM {table}")
            if conn.dialect.name == "postgres":
                # What autovacuum does shortly after a bulk load: statistics, and the visibility
                # map without which count and deep offsets cannot use index-only scans (one heap
                # visit per row: 2.6x slower count, 3x slower offset at 100k rows).
                conn.execute(f"VACUUM (ANALYZE) {table}")
            else:
                conn.sql("PRAGMA wal_checkpoint(TRUNCATE)")  # start the run without a large WAL
        import resource
        facts = {"rows": count, "seconds": round(time.monotonic() - t0, 2), "columns": cols,
                 "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                 "template_columns": {k: v for k, v in fixed.items()}}
        return names, facts
    finally:
        site.close()


def count_rows(site_dir: Path) -> int:
    from ristretto.site import Site
    site = Site(site_dir)
    try:
        with site.db.connect() as conn:
            return int(conn.value('SELECT COUNT(*) FROM "tabToDo"'))
    finally:
        site.close()


def http_json(method: str, url: str, headers: dict, body: bytes | None = None) -> tuple[int, object]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw[:500].decode(errors="replace")


# --- the run ------------------------------------------------------------------------------

def machine_info() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
        mem_gib = round(int(mem) / 1024 / 1024, 1)
    except (OSError, IndexError, ValueError):
        mem_gib = None
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"],
                                capture_output=True, text=True).stdout.strip())
    try:
        import uvicorn
        server_version = f"uvicorn {uvicorn.__version__}"
    except Exception:  # noqa: BLE001
        server_version = None
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[:1]
    return {"cpu": cpu, "cpus": os.cpu_count(), "mem_gib": mem_gib, "kernel": platform.release(),
            "python": platform.python_version(), "server": server_version,
            "wrk": wrk_version[0] if wrk_version else None, "commit": commit + ("+dirty" if dirty else "")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Ristretto benchmark (see bench/README.md)")
    p.add_argument("--quick", action="store_true", help="20,000 rows, ~5 s per workload (< 3 minutes)")
    p.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--postgres", metavar="URL",
                   help="PostgreSQL server to create a throwaway database on (implies --backend postgres); "
                        "without it a throwaway cluster is started (tests/pg.py)")
    p.add_argument("--rows", type=int, help="ToDo rows to load (default 100,000; quick 20,000)")
    p.add_argument("--offset", type=int, help="rows skipped by the offset workload, and the position of the "
                                              "keyset workload's cursor (default 9/10 of --rows)")
    p.add_argument("--duration", type=int, help="seconds per workload (default 15; quick 5)")
    p.add_argument("--warmup", type=int, help="warm-up seconds before each workload (default 3; quick 1)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--servers", type=int, default=1,
                   help="ristretto serve processes on one site, each with --workers workers, wrk's connections "
                        "shared out between them (the floor then runs servers x workers workers)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    p.add_argument("--connections", type=int, default=32, help="wrk connections")
    p.add_argument("--only", help="comma-separated subset of workloads, e.g. get,list")
    p.add_argument("--keep", action="store_true", help="keep the temp folder (site, logs) afterwards")
    p.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                   help="a site_config.json setting for the run (repeatable), e.g. --set threaded_requests=true")
    p.add_argument("--profile", metavar="DIR",
                   help="sample every server worker with py-spy during each measured workload and write "
                        "DIR/<workload>-<pid>.txt (collapsed stacks; pip install py-spy, needs ptrace rights). "
                        "Sampling costs the workers CPU: req/s of a profiled run are not comparable")
    args = p.parse_args(argv)
    backend = "postgres" if args.postgres else args.backend
    rows = args.rows or (20_000 if args.quick else 100_000)
    duration = args.duration or (5 if args.quick else 15)
    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 3)
    if rows < 100 or duration < 1 or duration > 600 or args.workers < 1 or not 1 <= args.servers <= 8:
        p.error("--rows must be >= 100, --duration within 1..600, --workers >= 1 and --servers within 1..8")
    only = set(args.only.split(",")) if args.only else None
    settings: dict = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        try:
            settings[key] = json.loads(value)
        except json.JSONDecodeError:
            settings[key] = value
        if not sep or not key:
            p.error(f"--set takes KEY=VALUE, not {item!r}")
    if only and not only <= set(RUN_ORDER):
        p.error(f"--only takes workloads from {', '.join(RUN_ORDER)}")

    try:
        import ristretto  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(ROOT / "src"))
        os.environ["PYTHONPATH"] = os.pathsep.join(x for x in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if x)
        try:
            import ristretto  # noqa: F401
        except ImportError as e:
            raise SystemExit(f"cannot import ristretto ({e}): run with the project's Python, e.g. "
                             f"/work/venv/bin/python bench/run.py, after 'pip install -e .'")

    wrk = ensure_wrk()
    started = dt.datetime.now()
    stamp = started.strftime("%Y%m%d-%H%M%S")
    tmp = Path(tempfile.mkdtemp(prefix="ristretto-bench-"))
    site_dir = tmp / "site"
    wrk_log = tmp / "wrk.log"
    offset_start = args.offset if args.offset is not None else rows * 9 // 10  # 90,000 of 100,000
    if not 1 <= offset_start < rows:
        p.error("--offset must be within 1..rows-1")
    mode = "quick" if args.quick else "full"
    log(f"Ristretto benchmark ({mode}): backend={backend}, rows={rows:,}, {duration} s per workload "
        f"(+{warmup} s warm-up), wrk -t{args.threads} -c{args.connections}, {args.workers} server workers"
        + (f" in each of {args.servers} servers" if args.servers > 1 else ""))
    if args.quick and rows != 100_000:
        log(f"  quick mode: {rows:,} rows instead of 100,000; offset list uses limit_start={offset_start:,}")
    log(f"  temp folder: {tmp}")

    cluster = None
    server = floor = None
    others: list[subprocess.Popen] = []  # --servers: the servers after the first
    pg_admin_url = db_name = None
    results: dict = {}
    floors: list[dict] = []
    rss: dict = {}
    rows_after = None
    notes: list[str] = []
    load_facts: dict = {}
    failure: BaseException | None = None
    server_log = site_dir / "server.log"
    try:
        # (1) a fresh site
        db_url = None
        if backend == "postgres":
            if args.postgres:
                pg_admin_url = args.postgres
            else:
                sys.path.insert(0, str(ROOT))
                from tests.pg import Cluster
                cluster = Cluster(durable=True)  # PostgreSQL's own durability defaults
                if not cluster.available():
                    raise SystemExit("PostgreSQL binaries (initdb, pg_ctl) not found: install postgresql "
                                     "or pass --postgres URL")
                log("  starting a throwaway PostgreSQL cluster (tests/pg.py)")
                pg_admin_url = cluster.start()
            import psycopg
            db_name = f"rt_bench_{stamp.replace('-', '_')}_{os.getpid()}"
            with psycopg.connect(pg_admin_url, autocommit=True) as c:
                c.execute(f'CREATE DATABASE "{db_name}"')
            db_url = pg_admin_url.rsplit("/", 1)[0] + "/" + db_name
        db_pid = cluster.postmaster_pid() if cluster is not None else None
        t0 = time.monotonic()
        cli("new-site", str(site_dir), *(["--db-url", db_url] if db_url else []), "--admin-password", ADMIN_PASSWORD)
        log(f"(1) site created in {time.monotonic() - t0:.1f} s: {site_dir} ({backend})")
        if settings:
            config_path = site_dir / "site_config.json"
            config_path.write_text(json.dumps({**json.loads(config_path.read_text()), **settings}, indent=2))
            log(f"    site_config.json: {json.dumps(settings)}")

        # (2) rows
        names, load_facts = load_rows(site_dir, rows)
        log(f"(2) loaded {load_facts['rows']:,} ToDo rows straight into the database in bulk "
            f"(executemany in one transaction, row layout from the site's own insert) "
            f"in {load_facts['seconds']} s (peak RSS of this process {load_facts['peak_rss_mib']} MiB)")
        if load_facts["rows"] != rows:
            raise RuntimeError(f"expected {rows} rows, found {load_facts['rows']}")
        rng = random.Random(SEED + 1)
        sample = rng.sample(range(rows), min(rows, 10_000))
        get_names = [names[i] for i in sample]
        update_names = [names[i] for i in rng.sample(range(rows), min(rows, 10_000))]
        check = set(sample[:3])
        expected = {names[i]: d for i, d, *_ in generate(rows) if i in check}

        # (5, first half) the floor, before the Ristretto workloads
        floor_port = free_port()
        floor_log = tmp / "floor.log"
        floor = start([sys.executable, str(BENCH / "floor_app.py"), "--host", HOST, "--port", str(floor_port),
                       "--workers", str(args.workers * args.servers)], floor_log, cwd=BENCH)
        floor_url = f"http://{HOST}:{floor_port}/"
        wait_http(floor_url, floor, floor_log)
        floor_script = tmp / "floor.lua"
        floor_script.write_text(lua_static())
        if warmup:
            run_wrk(wrk, floor_url, floor_script, warmup, threads=args.threads, connections=args.connections,
                    headers=[], logfile=wrk_log)
        with CpuMeter([floor.pid]) as meter:
            floors.append(run_wrk(wrk, floor_url, floor_script, duration, threads=args.threads,
                                  connections=args.connections, headers=[], logfile=wrk_log))
        floors[-1]["cpu_us"] = meter.per_request(floors[-1]["requests"])
        log(f"(5) floor (bare ASGI on the same server, {args.workers * args.servers} workers), before: "
            f"{floors[0]['rps']:,.0f} req/s")
        floor_rss = process_rss(floor)
        stop(floor)
        floor = None

        # (3) the server
        port = free_port()
        base = f"http://{HOST}:{port}"
        server = start(ristretto_cmd("--site", str(site_dir), "serve", "--host", HOST, "--port", str(port),
                                     "--workers", str(args.workers)), server_log)
        wait_http(f"{base}/api/method/ping", server, server_log)
        bases = [base]
        for i in range(1, args.servers):
            # Another server on the same site, as another machine would run it (same site folder
            # here: the same site_config.json and database).
            other_port = free_port()
            other_log = tmp / f"server{i + 1}.log"
            others.append(start(ristretto_cmd("--site", str(site_dir), "serve", "--host", HOST, "--port",
                                              str(other_port), "--workers", str(args.workers)), other_log))
            bases.append(f"http://{HOST}:{other_port}")
            wait_http(f"{bases[-1]}/api/method/ping", others[-1], other_log)
        # A System Manager, not Administrator: Administrator skips permission evaluation, and
        # the workloads must pay for DocPerm rules, the ToDo rule and field filtering.
        cli("--site", str(site_dir), "add-user", BENCH_USER, "--password", "bench-pw-" + str(os.getpid()),
            "--roles", "System Manager")
        keys = json.loads(cli("--site", str(site_dir), "generate-keys", BENCH_USER).strip().splitlines()[-1])
        auth = f"token {keys['api_key']}:{keys['api_secret']}"
        headers = {"Authorization": auth, "Accept": "application/json"}
        log(f"(3) ristretto serve --workers {args.workers} on {', '.join(bases)}; API key generated for {BENCH_USER} "
            "(System Manager: permission checks on)")

        # Sanity: loaded rows read back through the API as generated.
        for name, desc in expected.items():
            status, body = http_json("GET", f"{base}/api/resource/ToDo/{name}", headers)
            if status != 200 or not isinstance(body, dict) or body.get("data", {}).get("description") != desc:
                raise RuntimeError(f"GET /api/resource/ToDo/{name} -> {status}: {str(body)[:300]}")

        # (4) the workloads
        filter_qs = urllib.parse.urlencode({"fields": '["name","status"]', "filters": '[["status","=","Open"]]'})
        group_qs = urllib.parse.urlencode({"doctype": "ToDo", "fields": '["status","count(name) as n"]',
                                           "group_by": "status"})
        # The keyset page starts where the offset page does: the cursor of the row before it.
        cursor = ""
        if not only or "keyset" in only:
            status, body = http_json("GET", f"{base}/api/v2/document/ToDo?start={offset_start - 1}&limit=1", headers)
            cursor = body.get("next_cursor") or "" if isinstance(body, dict) else ""
            if status != 200 or not cursor:
                notes.append(f"keyset: no cursor at row {offset_start:,} (HTTP {status}: {str(body)[:200]})")
        workloads = {
            "get": ("get one by name (10,000 rotating)", "GET", "/api/resource/ToDo/{name}",
                    lua_get(get_names)),
            "list": ("list 20 names, newest first", "GET", "/api/resource/ToDo", lua_static()),
            "filter": ("list 20, 2 fields, status=Open", "GET", f"/api/resource/ToDo?{filter_qs}",
                       lua_static()),
            "count": (f"count ({rows:,} rows)", "GET", "/api/method/frappe.client.get_count?doctype=ToDo",
                      lua_static()),
            "offset": (f"list 20, limit_start={offset_start:,}", "GET",
                       f"/api/resource/ToDo?limit_start={offset_start}", lua_static()),
            "keyset": (f"v2 list 20 after a cursor at row {offset_start:,}", "GET",
                       f"/api/v2/document/ToDo?after={cursor}", lua_static()),
            "group_by": ("count per status (group_by)", "GET",
                         f"/api/method/frappe.client.get_list?{group_qs}", lua_static()),
            "update": ("update one field (PUT, rotating)", "PUT", "/api/resource/ToDo/{name}",
                       lua_update(update_names)),
            "create": ("create (POST)", "POST", "/api/resource/ToDo", lua_create()),
        }
        for key in RUN_ORDER:
            if only and key not in only:
                continue
            title, method, path, lua = workloads[key]
            entry: dict = {"workload": title, "method": method, "path": path}
            # One request first: a method that is not implemented is reported as n/a.
            probe_path = path.replace("{name}", update_names[0] if key == "update" else get_names[0])
            body = b'{"description": "bench probe"}' if key == "create" else (
                b'{"priority": "High"}' if key == "update" else None)
            h = {**headers, **({"Content-Type": "application/json"} if body else {})}
            status, payload = http_json(method, base + probe_path, h, body)
            entry["probe_status"] = status
            if key == "count" and status in NOT_IMPLEMENTED:
                entry.update(na=True, note=f"HTTP {status}: not implemented")
                results[key] = entry
                log(f"(4) {key:<7} n/a (HTTP {status}: {str(payload)[:120]})")
                continue
            if status != 200:
                entry["probe_body"] = str(payload)[:500]
                notes.append(f"{key}: probe request answered HTTP {status}: {str(payload)[:200]}")
            script = tmp / f"{key}.lua"
            script.write_text(lua)
            target = "/api/resource/ToDo" if "{name}" in path or key == "create" else path
            urls = [b + target for b in bases]
            hdrs = [f"Authorization: {auth}", "Accept: application/json"]
            if body:
                hdrs.append("Content-Type: application/json")
            if warmup:
                run_wrk_split(wrk, urls, script, warmup, threads=args.threads, connections=args.connections,
                              headers=hdrs, logfile=wrk_log)
            samplers = start_profiles(args.profile, key, [server, *others], duration) if args.profile else []
            with CpuMeter([p.pid for p in (server, *others)], db_pid) as meter:
                r = run_wrk_split(wrk, urls, script, duration, threads=args.threads, connections=args.connections,
                                  headers=hdrs, logfile=wrk_log)
            finish_profiles(samplers)
            entry.update(r)
            entry["cpu_us"] = meter.per_request(r["requests"])
            results[key] = entry
            flag = "" if not (r["non2xx"] or r["socket_errors"]) else (
                f"  !! {r['non2xx']} non-2xx, {r['socket_errors']} socket errors")
            log(f"(4) {key:<7} {r['rps']:>9,.0f} req/s  p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms{flag}")
            for proc in [server, *others]:
                if proc.poll() is not None:
                    raise RuntimeError(f"a server exited (code {proc.returncode}) during '{key}'")

        # RSS per worker, after the run, while the server is still up.
        rss = {"server": process_rss(server), "floor_before_stop": floor_rss}
        stop(server)
        server = None
        for proc in others:
            stop(proc)
        others = []
        rows_after = count_rows(site_dir)
        created = sum(results[k]["requests"] - results[k]["non2xx"] for k in ("create",) if k in results
                      and not results[k].get("na"))
        log(f"    ToDo rows after the run: {rows_after:,} (loaded {rows:,}"
            + ("; the create workload, its warm-up and probe added the rest)" if "create" in results else ")"))
        if "create" in results and rows_after < rows + created:
            notes.append(f"rows after the run ({rows_after}) < loaded + successful creates ({rows + created})")

        # (5, second half) the floor again, after.
        floor_port = free_port()
        floor = start([sys.executable, str(BENCH / "floor_app.py"), "--host", HOST, "--port", str(floor_port),
                       "--workers", str(args.workers * args.servers)], floor_log, cwd=BENCH)
        floor_url = f"http://{HOST}:{floor_port}/"
        wait_http(floor_url, floor, floor_log)
        if warmup:
            run_wrk(wrk, floor_url, floor_script, warmup, threads=args.threads, connections=args.connections,
                    headers=[], logfile=wrk_log)
        with CpuMeter([floor.pid]) as meter:
            floors.append(run_wrk(wrk, floor_url, floor_script, duration, threads=args.threads,
                                  connections=args.connections, headers=[], logfile=wrk_log))
        floors[-1]["cpu_us"] = meter.per_request(floors[-1]["requests"])
        log(f"(5) floor after: {floors[1]['rps']:,.0f} req/s")
        stop(floor)
        floor = None
    except BaseException as e:  # noqa: BLE001 - report what we have, then re-raise below
        failure = e
    finally:
        stop(server)
        stop(floor)
        for proc in others:
            stop(proc)
        # Server errors: keep the server log next to the results.
        server_errors = []
        if server_log.exists():
            text = server_log.read_text(errors="replace")
            server_errors = [ln for ln in text.splitlines()
                             if re.search(r"Traceback|ERROR|Error:|Exception|panic|exited", ln)]
        if cluster is not None:
            cluster.stop()
        elif pg_admin_url and db_name:
            try:
                import psycopg
                with psycopg.connect(pg_admin_url, autocommit=True) as c:
                    c.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
            except Exception as e:  # noqa: BLE001
                log(f"  could not drop database {db_name}: {e}")

    RESULTS.mkdir(exist_ok=True)
    if server_log.exists():
        shutil.copy(server_log, RESULTS / f"{stamp}-server.log")
    if wrk_log.exists():
        shutil.copy(wrk_log, RESULTS / f"{stamp}-wrk.log")
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    if failure is not None:
        log(f"\nFAILED: {failure}")
        if server_errors:
            log("server log (errors):\n  " + "\n  ".join(server_errors[:30]))
        log(f"logs: {RESULTS / f'{stamp}-server.log'}, {RESULTS / f'{stamp}-wrk.log'}")
        if isinstance(failure, (KeyboardInterrupt, SystemExit)):
            raise failure
        return 1

    floor_rps = sum(f["rps"] for f in floors) / len(floors)
    for key, e in results.items():
        if not e.get("na"):
            e["ratio"] = round(e["ok_rps"] / floor_rps, 3)
            e["flagged"] = bool(e["non2xx"] or e["socket_errors"] or e.get("probe_status") != 200)

    # The table.
    log("")
    log(f"{'workload':<46} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'ratio':>6}  errors")
    log("-" * 100)
    for f, when in zip(floors, ("before", "after")):
        log(f"{'floor: bare ASGI, fixed JSON (' + when + ')':<46} {f['rps']:>9,.0f} {f['p50_ms']:>8.2f} "
            f"{f['p99_ms']:>8.2f} {f['rps'] / floor_rps:>6.2f}  {f['non2xx'] + f['socket_errors'] or ''}")
    for key in MAIN + EXTRA:
        e = results.get(key)
        if e is None:
            continue
        label = f"{key}: {e['workload']}"
        if e.get("na"):
            log(f"{label:<46} {'n/a':>9} {'':>8} {'':>8} {'n/a':>6}  {e['note']}")
            continue
        err = ""
        if e["flagged"]:
            err = (f"!! {e['non2xx']} non-2xx" + (f", {e['socket_errors']} socket" if e["socket_errors"] else "")
                   + (f", probe HTTP {e['probe_status']}" if e.get("probe_status") != 200 else ""))
        log(f"{label:<46} {e['rps']:>9,.0f} {e['p50_ms']:>8.2f} {e['p99_ms']:>8.2f} {e['ratio']:>6.2f}  {err}")
    log("-" * 100)
    log(f"floor = mean of before/after = {floor_rps:,.0f} req/s; ratio = successful req/s / floor")
    # Where each request's time goes: CPU µs per request of the server's processes (user and
    # kernel), of wrk, and of PostgreSQL (a cluster the harness started). On this machine they
    # share the cores, so req/s is roughly cores / their sum.
    log("")
    log(f"{'CPU µs per request':<46} {'server':>9} {'(user':>8} {'sys)':>8} {'wrk':>6} {'db':>6} {'total':>7}")
    rows_cpu = [(f"floor ({when})", f) for f, when in zip(floors, ("before", "after"))]
    rows_cpu += [(key, results[key]) for key in MAIN + EXTRA if key in results and "cpu_us" in results[key]]
    for label, e in rows_cpu:
        c = e.get("cpu_us")
        if not c:
            continue
        server_us = c["server_user"] + c["server_sys"]
        log(f"{label:<46} {server_us:>9.1f} {c['server_user']:>8.1f} {c['server_sys']:>8.1f} {c['wrk']:>6.1f} "
            f"{c['db'] if backend == 'postgres' and c['db'] else 0:>6.1f} {server_us + c['wrk'] + c['db']:>7.1f}")
    srv = rss.get("server", {})
    if srv:
        workers = ", ".join(f"pid {w['pid']}: {w['rss_mib']} MiB" for w in srv["workers"])
        log(f"RSS after the run: server main {srv['main']['rss_mib']} MiB; workers: {workers or 'none found'}")
        fl = rss.get("floor_before_stop") or {}
        if fl:
            log(f"  (floor app workers: {', '.join(str(w['rss_mib']) + ' MiB' for w in fl['workers'])})")
    flagged = [k for k, e in results.items() if e.get("flagged")]
    if flagged:
        log(f"!! workloads with errors (not counted in req/s ratios): {', '.join(flagged)}")
    for note in notes:
        log(f"!! {note}")
    if server_errors:
        log(f"!! server log has {len(server_errors)} error line(s), e.g.:\n  " + "\n  ".join(server_errors[:10]))

    record = {
        "date": started.isoformat(timespec="seconds"), "mode": mode, "backend": backend,
        "command": " ".join([Path(sys.executable).name, "bench/run.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine_info(), "rows": rows, "rows_loaded": "bulk executemany straight into the database "
        "(row layout from ristretto.model.document.insert; see bench/README.md)",
        "load_seconds": load_facts.get("seconds"), "offset": offset_start, "rows_after_run": rows_after, "duration_s": duration, "warmup_s": warmup,
        "wrk": {"threads": args.threads, "connections": args.connections}, "workers": args.workers, "servers": args.servers,
        "settings": settings,
        "floor": {"rps": round(floor_rps, 1), "runs": floors}, "workloads": results, "rss": rss,
        "server_error_lines": server_errors[:100], "notes": notes,
        "ratios": {k: results[k].get("ratio") for k in MAIN if k in results},
    }
    text = json.dumps(record, indent=2)
    (RESULTS / f"{stamp}.json").write_text(text)
    if not only:  # a partial run (--only) is kept under its timestamp but is not "latest"
        (RESULTS / "latest.json").write_text(text)
        (RESULTS / f"latest-{backend}.json").write_text(text)
    log(f"results: {RESULTS / (stamp + '.json')}{'' if only else ' (and latest.json)'}; logs: {stamp}-server.log, {stamp}-wrk.log")
    if args.quick:
        log("ratios: " + " ".join(f"{k}={results[k]['ratio']:.2f}" if k in results and "ratio" in results[k]
                                  else f"{k}=n/a" for k in MAIN))
    return 0


if __name__ == "__main__":
    sys.exit(main())
