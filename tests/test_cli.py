"""The command line contract: names, flags, output and one-line errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx

from tests.conftest import ADMIN_PASSWORD, FIXTURES, run_cli
from tests.pg import free_port


def test_new_site_and_user_commands(tmp_path):
    site = tmp_path / "s1"
    out = run_cli("new-site", str(site), "--admin-password", "pw-1").stdout
    assert "Created site" in out and (site / "site_config.json").exists()
    # A second new-site in the same folder is a clean one-line error.
    again = run_cli("new-site", str(site), check=False)
    assert again.returncode != 0 and again.stderr.strip().startswith("Error:")
    assert len(again.stderr.strip().splitlines()) == 1

    out = run_cli("--site", str(site), "add-user", "jane@example.com", "--password", "secret-1",
                  "--roles", "System Manager").stdout
    assert "jane@example.com" in out
    keys = json.loads(run_cli("--site", str(site), "generate-keys", "jane@example.com").stdout)
    assert set(keys) == {"api_key", "api_secret"} and len(keys["api_secret"]) >= 15
    # RISTRETTO_SITE stands for --site
    run_cli("set-password", "jane@example.com", "secret-2", env={"RISTRETTO_SITE": str(site)})
    assert run_cli("--site", str(site), "migrate").returncode == 0

    bad_role = run_cli("--site", str(site), "add-user", "x@example.com", "--roles", "No Such Role", check=False)
    assert bad_role.returncode != 0 and "No Such Role" in bad_role.stderr
    missing = run_cli("--site", str(tmp_path / "nope"), "migrate", check=False)
    assert missing.returncode != 0 and missing.stderr.startswith("Error:")
    no_user = run_cli("--site", str(site), "generate-keys", "ghost@example.com", check=False)
    assert no_user.returncode != 0 and "ghost@example.com" in no_user.stderr


def test_import_doctypes_command(tmp_path):
    site = tmp_path / "s2"
    run_cli("new-site", str(site), "--admin-password", "pw")
    out = run_cli("--site", str(site), "import-doctypes", str(FIXTURES / "frappe" / "event.json")).stdout
    assert "Event" in out
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    r = run_cli("--site", str(site), "import-doctypes", str(bad), check=False)
    assert r.returncode != 0 and "not valid JSON" in r.stderr


def test_serve_with_nothing_else_creates_a_site(tmp_path):
    """The README quick start: `ristretto serve` in an empty folder."""
    port = free_port()
    env = {**os.environ, "RISTRETTO_ADMIN_PASSWORD": ADMIN_PASSWORD}
    env.pop("RISTRETTO_SITE", None)
    proc = subprocess.Popen([sys.executable, "-m", "ristretto.cli.main", "serve", "--port", str(port)],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True, text=True)
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                r = httpx.post(f"http://127.0.0.1:{port}/api/method/login",
                               json={"usr": "Administrator", "pwd": ADMIN_PASSWORD}, timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert r.status_code == 200 and r.json()["message"] == "Logged In"
        assert (tmp_path / "sites" / "default" / "site_config.json").exists()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    assert "Created a new site" in out and "Administrator" in out


def test_serve_prints_generated_password(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("RISTRETTO_ADMIN_PASSWORD", "RISTRETTO_SITE")}
    proc = subprocess.Popen([sys.executable, "-m", "ristretto.cli.main", "serve", "--port", str(port)],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True, text=True)
    try:
        line = ""
        deadline = time.time() + 30
        while time.time() < deadline and "password:" not in line:
            line = proc.stdout.readline()
        password = line.rsplit("password:", 1)[1].strip()
        for _ in range(100):
            try:
                r = httpx.post(f"http://127.0.0.1:{port}/api/method/login",
                               json={"usr": "Administrator", "pwd": password}, timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert r.status_code == 200
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.communicate(timeout=15)


def test_site_option_after_the_command(tmp_path):
    """The contract spells both `ristretto --site DIR cmd` and `ristretto cmd --site DIR`."""
    site = tmp_path / "s3"
    run_cli("new-site", str(site), "--admin-password", "pw")
    assert run_cli("migrate", "--site", str(site)).returncode == 0
    keys = json.loads(run_cli("generate-keys", "--site", str(site), "Administrator").stdout)
    assert set(keys) == {"api_key", "api_secret"}
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "ristretto.cli.main", "serve", "--site", str(site),
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            start_new_session=True, cwd=tmp_path)
    try:
        for _ in range(100):
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/method/ping", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert r.json() == {"message": "pong"}
        assert not (tmp_path / "sites").exists()  # served the given site, created nothing else
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)


# --- which site a command uses ---------------------------------------------------------------------

def _env_without_site(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("RISTRETTO_SITE", "RISTRETTO_ADMIN_PASSWORD")}
    env.update(extra)
    return env


def _serve_must_fail(args: list[str], cwd, env=None) -> subprocess.CompletedProcess:
    """Run a ``serve`` that must refuse to start (bounded: a server that starts is stopped, with
    its workers, by its process group)."""
    proc = subprocess.Popen([sys.executable, "-m", "ristretto.cli.main", *args], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env or _env_without_site(),
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=15)
        raise AssertionError(f"serve {args} started instead of refusing: {out}") from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_a_missing_site_is_an_error_that_names_new_site(tmp_path):
    missing = tmp_path / "no-such-site"
    for args, env in ((["--site", str(missing), "serve", "--port", str(free_port())], None),
                      (["serve", "--site", str(missing), "--port", str(free_port())], None),
                      (["serve", "--port", str(free_port())], _env_without_site(RISTRETTO_SITE=str(missing)))):
        r = _serve_must_fail(args, tmp_path, env)
        assert r.returncode != 0, r.stdout
        assert r.stderr.startswith("Error:") and "new-site" in r.stderr and len(r.stderr.strip().splitlines()) == 1
        assert "password" not in r.stdout.lower()
    for command in (["migrate"], ["generate-keys", "Administrator"], ["set-password", "Administrator", "x"],
                    ["add-user", "a@example.com"]):
        r = run_cli("--site", str(missing), *command, check=False)
        assert r.returncode != 0 and r.stderr.startswith("Error:") and "new-site" in r.stderr, (command, r.stderr)
        # and with no site given at all, in a folder without ./sites/default
        r = run_cli(*command, check=False, cwd=str(tmp_path), env=_env_without_site())
        assert r.returncode != 0 and r.stderr.startswith("Error:") and "new-site" in r.stderr, (command, r.stderr)
    assert not missing.exists() and not (tmp_path / "sites").exists()


def test_commands_fall_back_to_sites_default(tmp_path):
    """What a bare ``ristretto serve`` created is what ``migrate`` and friends use without --site."""
    run_cli("new-site", str(tmp_path / "sites" / "default"), "--admin-password", "pw")
    env = _env_without_site()
    assert "Migrated" in run_cli("migrate", cwd=str(tmp_path), env=env).stdout
    keys = json.loads(run_cli("generate-keys", "Administrator", cwd=str(tmp_path), env=env).stdout)
    assert set(keys) == {"api_key", "api_secret"}
    assert "Created user" in run_cli("add-user", "fallback@example.com", cwd=str(tmp_path), env=env).stdout


# --- a second server on the same port ---------------------------------------------------------------

def test_a_second_serve_on_a_port_in_use_is_refused(tmp_path, request):
    from tests.conftest import make_site, start_server, stop_server
    first = start_server(make_site(tmp_path / "a", "sqlite", request), "sqlite")
    try:
        port = first.base_url.rsplit(":", 1)[1]
        other = make_site(tmp_path / "b", "sqlite", request)
        r = _serve_must_fail(["--site", str(other), "serve", "--port", port], tmp_path)
        assert r.returncode != 0
        assert r.stderr.startswith("Error:") and port in r.stderr and "in use" in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
        # no site is created by a refused `serve` either
        empty = tmp_path / "empty"
        empty.mkdir()
        r = _serve_must_fail(["serve", "--port", port], empty)
        assert r.returncode != 0 and "in use" in r.stderr and not (empty / "sites").exists()
        # every request still reaches the first site
        with first.admin() as admin:
            for _ in range(20):
                assert admin.get("/api/method/frappe.auth.get_logged_user").json() == {"message": "Administrator"}
    finally:
        stop_server(first.proc)


# --- passwords and keys -----------------------------------------------------------------------------

def _can_log_in(site_dir, user: str, password: str) -> bool:
    """Log in through the application in process (no server needed)."""
    import asyncio

    from ristretto.api.app import App
    from ristretto.site import Site

    async def attempt() -> int:
        site = Site(site_dir)
        try:
            transport = httpx.ASGITransport(app=App(site))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                r = await c.post("/api/method/login", json={"usr": user, "pwd": password})
                return r.status_code
        finally:
            site.close()
    return asyncio.run(attempt()) == 200


def _run_on_a_terminal(args: list[str], answers: list[str], env: dict) -> str:
    """Run the CLI with a pseudo-terminal as its controlling terminal, typing each answer after
    the next prompt; returns everything the terminal showed."""
    import pty
    import select
    pid, fd = pty.fork()
    if pid == 0:  # the child
        try:
            os.execve(sys.executable, [sys.executable, "-m", "ristretto.cli.main", *args], env)
        finally:
            os._exit(127)
    shown = b""
    pending = list(answers)
    deadline = time.time() + 60
    try:
        while time.time() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    break
                if not data:
                    break
                shown += data
                if pending and shown.endswith(b": "):  # a prompt, waiting (echo of our answers ends in \n)
                    os.write(fd, pending.pop(0).encode() + b"\n")
    finally:
        if time.time() >= deadline:
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, shown
    return shown.decode(errors="replace")


def test_set_password_prompts_hidden_twice_without_the_argument(tmp_path):
    site = tmp_path / "pw"
    run_cli("new-site", str(site), "--admin-password", "old-password-1")
    run_cli("--site", str(site), "add-user", "jo@example.com", "--password", "old-password-1")
    env = _env_without_site()
    # on a terminal: asked twice, hidden; a mismatch is asked again
    shown = _run_on_a_terminal(["--site", str(site), "set-password", "jo@example.com"],
                               ["typed-secret-A", "typed-secret-B", "typed-secret-C", "typed-secret-C"], env)
    assert "typed-secret" not in shown and shown.count("New password") == 2 and "do not match" in shown
    assert "Password updated" in shown
    assert _can_log_in(site, "jo@example.com", "typed-secret-C")
    assert not _can_log_in(site, "jo@example.com", "old-password-1")
    # from a pipe (scripts): one line
    r = subprocess.run([sys.executable, "-m", "ristretto.cli.main", "--site", str(site), "set-password",
                        "jo@example.com"], input="piped-secret-D\n", capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert _can_log_in(site, "jo@example.com", "piped-secret-D")
    # an empty password is refused
    r = subprocess.run([sys.executable, "-m", "ristretto.cli.main", "--site", str(site), "set-password",
                        "jo@example.com"], input="\n", capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode != 0 and r.stderr.startswith("Error:")
    assert _can_log_in(site, "jo@example.com", "piped-secret-D")


def test_add_user_without_a_password_says_how_to_set_one(tmp_path):
    site = tmp_path / "au"
    run_cli("new-site", str(site), "--admin-password", "pw")
    out = run_cli("--site", str(site), "add-user", "nopw@example.com").stdout
    assert "No password set" in out and "set-password nopw@example.com" in out
    out = run_cli("--site", str(site), "add-user", "withpw@example.com", "--password", "x-1").stdout
    assert "set-password" not in out


def test_generate_keys_for_guest_is_refused(tmp_path):
    import asyncio

    from ristretto.api.app import App
    from ristretto.site import Site

    site_dir = tmp_path / "gk"
    run_cli("new-site", str(site_dir), "--admin-password", ADMIN_PASSWORD)
    r = run_cli("--site", str(site_dir), "generate-keys", "Guest", check=False)
    assert r.returncode != 0 and r.stderr.startswith("Error:") and "Guest" in r.stderr

    async def over_http() -> httpx.Response:
        site = Site(site_dir)
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=App(site)), base_url="http://t") as c:
                assert (await c.post("/api/method/login", json={"usr": "Administrator", "pwd": ADMIN_PASSWORD})
                        ).status_code == 200
                return await c.post("/api/method/frappe.core.doctype.user.user.generate_keys", json={"user": "Guest"})
        finally:
            site.close()
    r = asyncio.run(over_http())
    assert r.status_code == 417 and "Guest" in r.json()["exception"] and "message" not in r.json()
    site = Site(site_dir)
    try:
        with site.db.connect() as conn:
            assert conn.one('SELECT api_key FROM "tabUser" WHERE name = ?', ("Guest",))[0] in (None, "")
    finally:
        site.close()
    # other users still get keys
    assert set(json.loads(run_cli("--site", str(site_dir), "generate-keys", "Administrator").stdout)) \
        == {"api_key", "api_secret"}
