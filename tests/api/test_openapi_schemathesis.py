"""schemathesis against ``/api/openapi.json`` of a real ``ristretto serve`` (both databases): the
description validates as OpenAPI 3.1, and requests generated from it never get a server error.

The budget is fixed: a few examples per operation (``MAX_EXAMPLES``), a fixed seed, no shrinking,
each request at most ``REQUEST_TIMEOUT`` seconds. The caller is the Administrator (every DocType,
every method), with a DocType holding every field type and a child table, so generated bodies
reach every coercion. Excluded: operations that would end the run's own credentials (new API keys
for the caller, logout), the User DocType (the caller's own user) and the live stream. Two independent
verdicts: schemathesis's ``not_a_server_error`` check, and the server's own access log (no 5xx).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
from openapi_spec_validator import validate

from ristretto.meta.fieldtypes import FIELD_TYPES, LAYOUT, TABLE

# A deeper run on demand (not in CI): RISTRETTO_SCHEMATHESIS_EXAMPLES=25,
# RISTRETTO_SCHEMATHESIS_PHASES=examples,coverage,fuzzing, RISTRETTO_SCHEMATHESIS_SEED=99.
MAX_EXAMPLES = int(os.environ.get("RISTRETTO_SCHEMATHESIS_EXAMPLES") or 3)
PHASES = os.environ.get("RISTRETTO_SCHEMATHESIS_PHASES") or "examples,fuzzing"
SEED = os.environ.get("RISTRETTO_SCHEMATHESIS_SEED") or "12"
REQUEST_TIMEOUT = 10
# The live stream answers for as long as it is open (until its lifetime): each generated request
# would only wait out the request timeout. Its arguments are checked by its own tests.
EXCLUDED = r"generate_keys|logout|/User(/|$)|/api/v2/stream"


def _fuzz_doctypes(admin: httpx.Client) -> None:
    fields = [{"fieldname": re.sub(r"\W+", "_", name.lower()), "fieldtype": name, "label": name,
               **({"options": "Alpha\nBeta"} if name == "Select" else {}),
               **({"options": "ToDo"} if name == "Link" else {}),
               **({"options": "ref_type"} if name == "Dynamic Link" else {})}
              for name, row in FIELD_TYPES.items() if row.kind not in (LAYOUT, TABLE)]
    fields.append({"fieldname": "ref_type", "fieldtype": "Link", "options": "DocType", "label": "Ref Type"})
    for body in ({"name": "Fuzz Row", "istable": 1, "fields": fields},
                 {"name": "Fuzz Gadget", "autoname": "hash", "is_submittable": 1,
                  "permissions": [{"role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1,
                                   "submit": 1, "cancel": 1}],
                  "fields": [*fields, {"fieldname": "rows", "fieldtype": "Table", "options": "Fuzz Row",
                                       "label": "Rows"}]}):
        r = admin.post("/api/resource/DocType", json={"module": "Custom", "custom": 1, **body})
        assert r.status_code == 200, r.text


def _schemathesis(srv, tmp_path: Path, name: str, headers: list[str]) -> None:
    """One run of schemathesis against the served description; no operation may fail."""
    junit = tmp_path / f"{name}.xml"
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("st")), "run", f"{srv.base_url}/api/openapi.json", *headers,
         "--checks", "not_a_server_error", "--phases", PHASES,
         "--max-examples", str(MAX_EXAMPLES), "--seed", SEED, "--no-shrink", "--workers", "2",
         "--request-timeout", str(REQUEST_TIMEOUT), "--exclude-path-regex", EXCLUDED,
         "--report", "junit", "--report-junit-path", str(junit)],
        capture_output=True, text=True, cwd=tmp_path,
        timeout=240 * max(1, MAX_EXAMPLES // 3) * (1 + PHASES.count("coverage")))
    (tmp_path / f"{name}.log").write_text(proc.stdout + proc.stderr)
    out = proc.stdout
    assert "Operations:" in out and junit.exists(), out[-6000:] + proc.stderr[-3000:]
    failures = [case.get("name") for case in ET.parse(junit).getroot().iter("testcase")
                if case.find("failure") is not None]
    # the failures' own section (what was sent, what came back) first
    assert failures == [], out[out.find("FAILURES"):][:8000]


def test_schemathesis_finds_no_server_error(server, tmp_path):
    srv = server
    with srv.admin() as admin:
        _fuzz_doctypes(admin)
        spec = admin.get("/api/openapi.json")
    assert spec.status_code == 200, spec.text
    validate(spec.json())
    started = time.monotonic()
    _schemathesis(srv, tmp_path, "administrator", ["-H", f"Authorization: token {srv.api_key}:{srv.api_secret}"])
    # Then as a Guest (the description of a Guest: login, OAuth endpoints, guest methods).
    _schemathesis(srv, tmp_path, "guest", [])
    took = time.monotonic() - started
    log = (srv.site_dir / "server.log").read_text()
    server_errors = re.findall(r'^.*" 5\d\d .*$', log, re.M)
    assert server_errors == [], server_errors[:20]
    requests = len(re.findall(r'" \d{3} ', log))
    assert requests > 1000, requests  # the runs reached the server, many times
    print(f"schemathesis: {requests} requests in {took:.1f} s")
