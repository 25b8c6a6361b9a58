"""Two app servers on one PostgreSQL database, as two machines behind a load balancer run them.

One PostgreSQL site is made, and its folder copied (same ``site_config.json``: ``db_url``,
``encryption_key``), as a second machine would hold it; a real ``ristretto serve`` runs on each
copy, on ports of their own, with the files in an S3-compatible bucket (moto in server mode on
loopback); the whole module runs twice, the second time with ``redis_url`` too (a real
redis-server; skipped when it is not installed). Everything is checked through HTTP: a
session made on one server works (and ends) on the other, a DocType created on one is usable on
the other at once, a permission changed on one is enforced on the other within a second,
concurrent writers on both share one naming series without duplicate or gap, an account locked
by failed logins on one is locked on the other, a file uploaded through one downloads through the
other (and a delete through either is seen by both), keys replaced through one are honoured by the
other at once, the live change stream on one sees commits made on the other, a server killed
with SIGKILL under write load loses no acknowledged write while the other goes on serving, and
a folder with another ``encryption_key`` is refused. In-process checks with two ``App`` objects
are in ``tests/test_two_apps.py``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import Server, configure_site, make_site, start_server, stop_server
from tests.http import ok, url
from tests.redisserver import redis_server
from tests.s3server import ACCESS_KEY, REGION, SECRET_KEY, bucket_keys, s3_client, s3_server  # noqa: F401

LOCK_AFTER = 3
PASSWORD = "two-servers-pw-1"
WHO = "/api/method/frappe.auth.get_logged_user"
PM = "/api/method/frappe.core.page.permission_manager.permission_manager"
SM_PERMS = [{"role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1}]


def copy_site(source, target):
    """The site folder as another machine holds it: the same configuration, no local state."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("server.log", "*.tmp"))
    return target


def with_keys(server: Server, keys_from: Server) -> Server:
    # ``generate-keys`` replaces the Administrator's key: the one made last is valid on both.
    return dataclasses.replace(server, api_key=keys_from.api_key, api_secret=keys_from.api_secret)


@dataclasses.dataclass
class Pair:
    a: Server
    b: Server
    folder: object  # where more copies of the site go

    @property
    def a_key(self) -> str:
        return json.loads((self.a.site_dir / "site_config.json").read_text())["encryption_key"]


@pytest.fixture(scope="module", params=["postgres", "postgres+redis"])
def pair(request, tmp_path_factory, s3_server):
    """Servers A and B, files in a bucket of their own; with ``redis_url`` too in the second round
    (skipped without redis-server)."""
    tmp = tmp_path_factory.mktemp("two-servers")
    with contextlib.ExitStack() as stack:
        redis_url = stack.enter_context(redis_server(tmp)) if request.param.endswith("redis") else None
        yield from _pair(request, tmp, redis_url, s3_server)


def _pair(request, tmp, redis_url, s3_endpoint):
    site_a = make_site(tmp, "postgres", request)
    configure_site(site_a, allow_consecutive_login_attempts=LOCK_AFTER, allow_login_after_fail=120)
    if redis_url:
        configure_site(site_a, redis_url=redis_url)
    bucket = f"two-servers-{request.param.replace('+', '-')}"
    s3_client(s3_endpoint).create_bucket(Bucket=bucket)
    configure_site(site_a, file_storage="s3", s3_bucket=bucket, s3_prefix="site", s3_endpoint_url=s3_endpoint,
                   s3_region=REGION, s3_access_key_id=ACCESS_KEY, s3_secret_access_key=SECRET_KEY)
    config = json.loads((site_a / "site_config.json").read_text())
    assert config.get("db_url", "").startswith("postgres") and config.get("encryption_key")
    site_b = copy_site(site_a, tmp / "site-b")
    a = start_server(site_a, "postgres")
    try:
        b = start_server(site_b, "postgres")
    except BaseException:
        stop_server(a.proc)
        raise
    try:
        yield Pair(with_keys(a, b), b, tmp)
    finally:
        stop_server(a.proc)
        stop_server(b.proc)


def new_user(admin: httpx.Client, email: str, roles: list[str]) -> str:
    ok(admin.post(url("User"), json={"email": email, "first_name": email.split("@")[0], "new_password": PASSWORD,
                                     "send_welcome_email": 0, "roles": [{"role": r} for r in roles]}))
    return email


def login(server: Server, usr: str, pwd: str = PASSWORD, address: str = "127.0.0.1") -> httpx.Response:
    with httpx.Client(base_url=server.base_url, timeout=30,
                      transport=httpx.HTTPTransport(local_address=address)) as c:
        return c.post("/api/method/login", json={"usr": usr, "pwd": pwd})


def with_sid(server: Server, sid: str) -> httpx.Client:
    return server.client(headers={"Cookie": f"sid={sid}"})


def make_doctype(admin: httpx.Client, name: str, fields: list[dict], **kw) -> dict:
    body = {"name": name, "module": "Custom", "custom": 1, "fields": fields, "permissions": SM_PERMS, **kw}
    return ok(admin.post(url("DocType"), json=body))


def within(seconds: float, check) -> float:
    """Poll ``check()`` until true; how long it took. Fails after ``seconds``."""
    start = time.monotonic()
    while True:
        if check():
            return time.monotonic() - start
        if time.monotonic() - start > seconds:
            raise AssertionError(f"not seen within {seconds} s")
        time.sleep(0.02)


# --- files: uploaded through A, downloaded through B, deleted through B ------------------------

def test_file_uploaded_on_a_downloads_on_b_and_a_delete_on_b_is_gone_on_a(pair):
    config = json.loads((pair.a.site_dir / "site_config.json").read_text())
    with pair.a.admin() as on_a, pair.b.admin() as on_b:
        uploaded = {}
        for private in (0, 1):
            r = on_a.post("/api/method/upload_file", data={"is_private": str(private)},
                          files={"file": (f"shared-{private}.txt", f"from A {private}".encode(), "text/plain")})
            assert r.status_code == 200, r.text
            uploaded[private] = r.json()["message"]
        for private, f in uploaded.items():
            got = on_b.get(f["file_url"])
            assert got.status_code == 200, got.text
            assert got.content == f"from A {private}".encode()
            assert on_b.get("/api/method/download_file", params={"file_url": f["file_url"]}).status_code == 200
        # Nothing on either machine's disk: the bucket holds the bytes.
        assert not list((pair.a.site_dir / "public" / "files").glob("shared-*"))
        assert not list((pair.b.site_dir / "private" / "files").glob("shared-*"))
        for f in uploaded.values():
            assert on_b.delete(f"/api/resource/File/{f['name']}").status_code == 202
        for f in uploaded.values():
            assert on_a.get(f["file_url"]).status_code in (403, 404)  # private: existence not disclosed
            assert on_a.get(f"/api/resource/File/{f['name']}").status_code == 404
        # B removes the objects after its commit, in a thread.
        within(10, lambda: not any("shared-" in key for key in bucket_keys(config)))


# --- (a) one session, both servers --------------------------------------------------------------

def test_session_made_on_a_works_on_b_and_ends_on_both(pair):
    with pair.a.admin() as admin:
        user = new_user(admin, "roamer@two.test", ["System Manager"])
    r = login(pair.a, user)
    assert r.status_code == 200, r.text
    sid = r.cookies["sid"]
    with with_sid(pair.b, sid) as on_b, with_sid(pair.a, sid) as on_a:
        assert on_b.get(WHO).json()["message"] == user
        assert on_a.get(WHO).json()["message"] == user
        # Logged out on B: the session ends on A too, at once (A had it cached).
        assert on_b.post("/api/method/logout").status_code == 200
        r = on_a.get(WHO)
        assert r.status_code in (401, 403) or r.json().get("message") == "Guest", r.text


# --- (b) a DocType created on A is usable on B at once ------------------------------------------

def test_doctype_created_on_a_is_usable_on_b_at_once(pair):
    with pair.a.admin() as on_a, pair.b.admin() as on_b:
        make_doctype(on_a, "TS Widget", [{"fieldname": "title", "fieldtype": "Data", "label": "Title", "reqd": 1}],
                     autoname="hash")
        doc = ok(on_b.post(url("TS Widget"), json={"title": "made on B"}))
        assert ok(on_a.get(url("TS Widget", doc["name"])))["title"] == "made on B"
        # A field added on A is known on B at once.
        definition = ok(on_a.get(url("DocType", "TS Widget")))
        definition["fields"].append({"fieldname": "colour", "fieldtype": "Data", "label": "Colour"})
        ok(on_a.put(url("DocType", "TS Widget"), json={"fields": definition["fields"]}))
        doc = ok(on_b.post(url("TS Widget"), json={"title": "second", "colour": "red"}))
        assert doc["colour"] == "red"
        assert ok(on_a.get(url("TS Widget", doc["name"])))["colour"] == "red"


# --- (c) a permission changed on B is enforced on A within a second -----------------------------

def test_permission_changed_on_b_is_enforced_on_a_within_a_second(pair):
    with pair.a.admin() as on_a, pair.b.admin() as on_b:
        ok(on_a.post(url("Role"), json={"role_name": "TS Auditor"}))
        make_doctype(on_a, "TS Ledger", [{"fieldname": "title", "fieldtype": "Data", "label": "Title"}],
                     autoname="hash")
        entry = ok(on_a.post(url("TS Ledger"), json={"title": "secret"}))["name"]
        user = new_user(on_a, "auditor@two.test", ["TS Auditor"])
        r = login(pair.a, user)
        assert r.status_code == 200, r.text
        with with_sid(pair.a, r.cookies["sid"]) as auditor_on_a:
            # Seen on A first, so A holds what it derived from the rules in its caches.
            assert auditor_on_a.get(url("TS Ledger", entry)).status_code == 403
            ok(on_b.post(f"{PM}.add", json={"parent": "TS Ledger", "role": "TS Auditor", "permlevel": 0}))
            within(1.0, lambda: auditor_on_a.get(url("TS Ledger", entry)).status_code == 200)
            # A role taken away from the user on B: refused on A within a second.
            ok(on_b.put(url("User", user), json={"roles": []}))
            within(1.0, lambda: auditor_on_a.get(url("TS Ledger", entry)).status_code == 403)
            # And the rule removed on B (role given back): refused on A within a second.
            ok(on_b.put(url("User", user), json={"roles": [{"role": "TS Auditor"}]}))
            within(1.0, lambda: auditor_on_a.get(url("TS Ledger", entry)).status_code == 200)
            ok(on_b.post(f"{PM}.reset", json={"doctype": "TS Ledger"}))
            within(1.0, lambda: auditor_on_a.get(url("TS Ledger", entry)).status_code == 403)


# --- (d) one naming series, writers on both -----------------------------------------------------

WRITERS, EACH = 8, 12


def test_concurrent_writers_on_both_share_one_naming_series(pair):
    with pair.a.admin() as on_a:
        make_doctype(on_a, "TS Ticket", [{"fieldname": "title", "fieldtype": "Data", "label": "Title"}],
                     autoname="TST-.#####", naming_rule="Expression (old style)")

    def writer(i: int) -> list[str]:
        server = pair.a if i % 2 else pair.b
        made = []
        with server.admin() as c:
            for j in range(EACH):
                made.append(ok(c.post(url("TS Ticket"), json={"title": f"w{i}-{j}"}))["name"])
        return made

    with ThreadPoolExecutor(WRITERS) as pool:
        names = [n for made in pool.map(writer, range(WRITERS)) for n in made]
    assert len(names) == len(set(names)) == WRITERS * EACH
    assert sorted(names) == [f"TST-{n:05d}" for n in range(1, WRITERS * EACH + 1)]
    with pair.b.admin() as on_b:
        stored = ok(on_b.get(url("TS Ticket"), params={"fields": '["name"]', "limit_page_length": 0}))
    assert sorted(r["name"] for r in stored) == sorted(names)


# --- (e) an account locked on A is locked on B --------------------------------------------------

def test_account_locked_by_failed_logins_on_a_is_locked_on_b(pair):
    with pair.a.admin() as on_a:
        user = new_user(on_a, "locked@two.test", ["System Manager"])
    # Each failure from an address of its own: only the user's counter can lock.
    for i in range(LOCK_AFTER):
        r = login(pair.a, user, "wrong-password", f"127.0.21.{i + 1}")
        assert r.status_code == 401, r.text
    r = login(pair.b, user, PASSWORD, "127.0.21.99")
    assert r.status_code == 429 and "locked" in r.text, r.text
    # The right password on A is refused too, and another user on B is not affected.
    assert login(pair.a, user, PASSWORD, "127.0.21.98").status_code == 429
    with pair.b.admin() as on_b:
        other = new_user(on_b, "free@two.test", ["System Manager"])
    assert login(pair.b, other, PASSWORD, "127.0.21.97").status_code == 200


# --- the OAuth signing key rotated through B's folder signs on A at once ------------------------

def test_oauth_key_rotated_on_b_is_used_on_a_at_once(pair):
    with pair.a.client() as on_a:
        before = on_a.get("/.well-known/jwks.json").json()["keys"][0]["kid"]  # A loads its key
        out = json.loads(pair.b.cli("rotate-oauth-key").stdout)
        assert out["retired_kid"] == before
        published = [k["kid"] for k in on_a.get("/.well-known/jwks.json").json()["keys"]]
    assert published[0] == out["kid"] != before and before in published


# --- the live change stream on B sees commits made on A -----------------------------------------

def test_stream_on_b_sees_a_commit_on_a_at_once(pair):
    with pair.a.admin() as on_a:
        make_doctype(on_a, "TS Event", [{"fieldname": "title", "fieldtype": "Data", "label": "Title"}],
                     autoname="hash")
    seen: dict[str, float] = {}
    ready = threading.Event()

    def follow():
        with pair.b.admin() as on_b, on_b.stream("GET", "/api/v2/stream", params={"doctype": "TS Event"},
                                                 timeout=httpx.Timeout(30, read=10)) as r:
            assert r.status_code == 200
            for line in r.iter_lines():
                if line.startswith(": changes after"):
                    ready.set()
                if line.startswith("data: "):
                    entry = json.loads(line[6:])
                    seen[entry["name"]] = time.monotonic()
                    if len(seen) >= 3:
                        return

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    assert ready.wait(10)
    delays = []
    with pair.a.admin() as on_a:
        for i in range(3):
            sent = time.monotonic()
            name = ok(on_a.post(url("TS Event"), json={"title": f"e{i}"}))["name"]
            within(2.0, lambda: name in seen)
            delays.append(seen[name] - sent)
            time.sleep(0.1)
    reader.join(10)
    assert max(delays) < 1.0, delays


# --- (f) kill -9 one server under write load ----------------------------------------------------

def test_kill_9_one_server_under_load_loses_no_acknowledged_write(pair):
    with pair.a.admin() as on_a:
        make_doctype(on_a, "TS Order", [{"fieldname": "title", "fieldtype": "Data", "label": "Title"}],
                     autoname="TSO-.#####", naming_rule="Expression (old style)")
    # A third machine joins, to be killed (A and B go on for the other tests' sake).
    victim = start_server(copy_site(pair.a.site_dir, pair.folder / "site-c"), "postgres")
    # Its start made the Administrator a new key pair: A and B refuse the old one and take the
    # new one at once (each had the old one cached).
    with pair.a.admin() as old_on_a:
        assert old_on_a.get(url("TS Order")).status_code in (401, 403)
    pair.a, pair.b = with_keys(pair.a, victim), with_keys(pair.b, victim)
    acknowledged: list[tuple[str, str, float]] = []   # (server, name, when)
    lock = threading.Lock()
    killed_at: list[float] = []
    stop = threading.Event()

    def writer(i: int) -> None:
        server, label = (pair.a, "a") if i % 2 else (victim, "c")
        deadline = time.monotonic() + 8
        with server.admin() as c:
            for j in range(400):  # bounded in count and in time
                if stop.is_set() or time.monotonic() > deadline:
                    return
                try:
                    r = c.post(url("TS Order"), json={"title": f"{label}{i}-{j}"})
                except httpx.HTTPError:
                    time.sleep(0.02)  # the killed server: nothing acknowledged
                    continue
                if r.status_code == 200:
                    with lock:
                        acknowledged.append((label, r.json()["data"]["name"], time.monotonic()))

    try:
        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(writer, i) for i in range(4)]
            within(10, lambda: sum(1 for s, _, _ in acknowledged if s == "c") >= 20)
            os.killpg(victim.proc.pid, signal.SIGKILL)
            killed_at.append(time.monotonic())
            victim.proc.wait(10)
            # A goes on serving: writes acknowledged after the kill.
            within(10, lambda: sum(1 for s, _, t in acknowledged if s == "a" and t > killed_at[0] + 0.5) >= 20)
            stop.set()
            for f in futures:
                f.result()
    finally:
        stop.set()
        stop_server(victim.proc)
    with pair.a.admin() as on_a:
        stored = {r["name"] for r in ok(on_a.get(url("TS Order"), params={"fields": '["name"]',
                                                                          "limit_page_length": 0}))}
        assert on_a.get("/api/method/ping").status_code == 200
    names = [n for _, n, _ in acknowledged]
    assert len(names) == len(set(names))
    missing = sorted(set(names) - stored)
    assert not missing, f"{len(missing)} acknowledged writes lost: {missing[:10]}"
    assert any(s == "c" for s, _, _ in acknowledged) and any(s == "a" for s, _, _ in acknowledged)



# --- every server holds the site's one encryption_key ------------------------------------------

def serve_briefly(folder, seconds: float = 30) -> tuple[int | None, str]:
    """``ristretto serve`` on the folder; its exit code and output (None: still serving after
    ``seconds``, then stopped by its pid)."""
    proc = subprocess.Popen([sys.executable, "-m", "ristretto.cli.main", "--site", str(folder), "serve", "--port",
                             "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=seconds)
        return proc.returncode, out.decode(errors="replace")
    except subprocess.TimeoutExpired:
        stop_server(proc)
        return None, proc.stdout.read().decode(errors="replace") if proc.stdout else ""


def test_a_server_whose_encryption_key_differs_refuses_to_start(pair):
    """A folder with another key (or none, which would make a new one on first need) would write
    Password fields no other server can read: ``serve`` refuses it, saying what to copy."""
    for n, change in enumerate(({"encryption_key": "bm90LXRoZS1rZXktYnV0LTMyLWJ5dGVzLWxvbmcuLi4="}, {})):
        folder = copy_site(pair.a.site_dir, pair.folder / f"site-wrong-key-{n}")
        config = json.loads((folder / "site_config.json").read_text())
        config.pop("encryption_key")
        (folder / "site_config.json").write_text(json.dumps({**config, **change}))
        code, out = serve_briefly(folder)
        assert code != 0 and "copy encryption_key" in out, out
        assert "encryption_key" not in json.loads((folder / "site_config.json").read_text()) or change
    # A site without a key yet (made before keys existed): its first server makes one and records
    # it; a second folder still without it is refused rather than making another.
    from ristretto.cli import main as cli_main
    from ristretto.site import Site, keycheck
    keyless = [copy_site(pair.a.site_dir, pair.folder / f"site-keyless-{n}") for n in range(2)]
    for folder in keyless:
        config = json.loads((folder / "site_config.json").read_text())
        config.pop("encryption_key")
        (folder / "site_config.json").write_text(json.dumps(config))
    site = Site(keyless[0])
    try:
        with site.db.connect() as conn, conn.transaction():
            conn.execute('DELETE FROM "__ristretto_state" WHERE key = ?', (keycheck.KEY,))
        cli_main._prepare_to_serve(keyless[0])
        made = json.loads((keyless[0] / "site_config.json").read_text())["encryption_key"]
        assert made != pair.a_key
        with site.db.connect() as conn:
            assert conn.value('SELECT value FROM "__ristretto_state" WHERE key = ?',
                              (keycheck.KEY,)) == keycheck.fingerprint(made)
        with pytest.raises(keycheck.KeyMismatch, match="copy encryption_key"):
            cli_main._prepare_to_serve(keyless[1])
        assert "encryption_key" not in json.loads((keyless[1] / "site_config.json").read_text())
    finally:
        # The database's own key back, for the tests after this one.
        with site.db.connect() as conn, conn.transaction():
            conn.execute('UPDATE "__ristretto_state" SET value = ? WHERE key = ?',
                         (keycheck.fingerprint(pair.a_key), keycheck.KEY))
        site.close()
    # The right key still starts (A and B did, and they go on serving).
    with pair.b.admin() as on_b:
        assert on_b.get("/api/method/ping").status_code == 200
