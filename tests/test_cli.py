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
