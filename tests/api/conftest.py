"""Fixtures shared by the API tests: frappectl, Frappe's own command-line client, as published."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# pip's words when it cannot reach the index (DNS, refused or dropped connections, proxy): it
# warns on each retry, then reports no matching distribution.
UNREACHABLE = ("Failed to establish a new connection", "Temporary failure in name resolution",
               "Name or service not known", "Network is unreachable", "No route to host",
               "Connection refused", "ProxyError", "ConnectTimeoutError", "Read timed out",
               "connection broken by", "Could not fetch URL", "Max retries exceeded")
# The release these tests were written against: a later one may change its output or requests,
# which should be a deliberate update here rather than a red build one morning.
FRAPPECTL = "frappectl==0.21.1"
# frappectl keeps OAuth tokens in the OS keyring only; without a desktop session the file
# keyring of keyrings.alt is the one that works (PYTHON_KEYRING_BACKEND names it).
KEYRINGS_ALT = "keyrings.alt>=5"


@pytest.fixture(scope="session")
def frappectl_venv(tmp_path_factory) -> Path:
    """A new venv holding frappectl as published (and the file keyring), made once per run."""
    venv = tmp_path_factory.mktemp("frappectl-venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
    proc = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", FRAPPECTL, KEYRINGS_ALT],
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        out = proc.stdout + proc.stderr
        unreachable = [line for line in out.splitlines() if any(word in line for word in UNREACHABLE)]
        if unreachable and "No matching distribution found" in out:
            pytest.skip("pip cannot reach the package index to install frappectl: " + unreachable[-1][:300])
        raise AssertionError(f"pip install frappectl failed:\n{out[-4000:]}")
    return venv


@pytest.fixture
def receiver():
    """A webhook receiver on loopback (tests/webhook_receiver.py), closed after the test."""
    from tests.webhook_receiver import Receiver
    r = Receiver()
    yield r
    r.close()
