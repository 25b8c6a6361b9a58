"""The README's first requests ("Then, with the password ...") run as written against a real
server: every shell block of that section is run with curl, only the address and the password
substituted, and every request must succeed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from tests.conftest import ADMIN_PASSWORD, ROOT

README_ADDRESS = "http://127.0.0.1:8000"


def readme_commands() -> list[str]:
    """The commands of the shell blocks between "Then," and the next heading, continuation
    lines joined."""
    text = (ROOT / "README.md").read_text()
    start = text.index("\nThen, ")
    end = text.index("\n## ", start)
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text[start:end], flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        commands += [line.strip() for line in joined.splitlines() if line.strip() and not line.startswith("#")]
    return commands


def test_the_section_has_the_examples():
    commands = readme_commands()
    assert len(commands) >= 4 and all(c.startswith("curl ") for c in commands), commands
    assert any("/api/method/login" in c for c in commands)
    assert any("fields=" in c for c in commands)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_readme_examples_run_as_written(server, tmp_path):
    # Every curl fails on an HTTP error status (and says why) without changing the commands.
    (tmp_path / ".curlrc").write_text("--fail-with-body\n--silent\n--show-error\n")
    env = {"PATH": "/usr/bin:/bin:/usr/local/bin", "CURL_HOME": str(tmp_path), "HOME": str(tmp_path)}
    outputs = []
    for command in readme_commands():
        assert README_ADDRESS in command, command
        run = command.replace(README_ADDRESS, server.base_url).replace("<password>", ADMIN_PASSWORD)
        proc = subprocess.run(["bash", "-c", run], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"{command}\n-> exit {proc.returncode}: {proc.stdout} {proc.stderr}"
        outputs.append(json.loads(proc.stdout))
    assert outputs[0]["message"] == "Logged In"
    assert outputs[1]["data"]["description"] == "Ring Bob"
    for listed in outputs[2:]:
        assert listed["data"] and all("name" in row for row in listed["data"])
    assert outputs[1]["data"]["name"] in {row["name"] for row in outputs[2]["data"]}
    assert "Ring Bob" in {row.get("description") for row in outputs[-1]["data"]}
