"""frappectl, Frappe's own command-line client, against a served site: it speaks API v2 only.

The client comes from the package index, unchanged, installed by pip into a throwaway venv once
per test session; the test is skipped only when pip cannot reach the index. It is driven as a
script would drive it: the site and an API key (``ristretto generate-keys``, made by the
``server`` fixture) in ``FRAPPE_SITE`` / ``FRAPPE_API_KEY`` /
``FRAPPE_API_SECRET``, JSON on stdout (stdout is not a terminal), a real ``ristretto serve``
on SQLite and PostgreSQL. Covered: the API-key check, list (meta-driven default fields, chosen
fields, limit), filters in the list, dict and 4-element forms, order, paging through
``has_next_page``, count with and without filters, meta, and create/read/update/delete.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

OPEN = ["fc-1 alpha", "fc-3 charlie", "fc-5 echo"]
TODOS = [("fc-1 alpha", "Open", "High"), ("fc-2 bravo", "Closed", "Medium"), ("fc-3 charlie", "Open", "Low"),
         ("fc-4 delta", "Cancelled", "Medium"), ("fc-5 echo", "Open", "Medium")]
PAGED = 205  # more than one of frappectl's pages (200 rows) when it fetches everything


@pytest.fixture(scope="session")
def frappectl(frappectl_venv) -> Path:
    """The ``frappectl`` script of the venv holding the package as published."""
    return frappectl_venv / "bin" / "frappectl"


@pytest.fixture(scope="module")
def fctl(frappectl, server, tmp_path_factory):
    """Runs frappectl against the module's server as Administrator (API key) and seeds ToDos."""
    home = tmp_path_factory.mktemp("frappectl-home")
    # A small environment of its own: no proxy variables (httpx honours them), no user config.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
           "XDG_CONFIG_HOME": str(home / ".config"), "LANG": "C.UTF-8", "COLUMNS": "300",
           "FRAPPE_SITE": server.base_url, "FRAPPE_API_KEY": server.api_key, "FRAPPE_API_SECRET": server.api_secret}

    def run(*args: str, ok: bool = True, **overrides: str) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(frappectl), *args], capture_output=True, text=True, timeout=120,
                              env={**env, **overrides})
        if ok:
            assert proc.returncode == 0, f"frappectl {' '.join(args)} -> {proc.returncode}\n" \
                                         f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        return proc

    with server.admin() as admin:
        for description, status, priority in TODOS:
            r = admin.post("/api/resource/ToDo", json={"description": description, "status": status,
                                                       "priority": priority})
            assert r.status_code == 200, r.text
        for start in range(0, PAGED, 100):
            docs = [{"doctype": "ToDo", "description": f"pg-{i:03d}"} for i in range(start, min(start + 100, PAGED))]
            r = admin.post("/api/method/frappe.client.insert_many", json={"docs": docs})
            assert r.status_code == 200, r.text
    return run


def rows(proc: subprocess.CompletedProcess) -> list:
    return json.loads(proc.stdout)


def descriptions(proc: subprocess.CompletedProcess) -> list[str]:
    return [row["description"] for row in rows(proc)]


def test_api_key_is_checked(fctl):
    who = json.loads(fctl("auth", "whoami").stdout)
    assert (who["user"], who["auth"], who["source"]) == ("Administrator", "api_key", "env")
    wrong = fctl("auth", "whoami", ok=False, FRAPPE_API_SECRET="not-the-secret")
    assert wrong.returncode == 1 and "Authentication failed (401)" in wrong.stderr, wrong.stderr
    # The list call reports the server's own message for a 401.
    wrong = fctl("doc", "list", "ToDo", "--fields", "name", ok=False, FRAPPE_API_SECRET="not-the-secret")
    assert wrong.returncode == 1 and "error:" in wrong.stderr and wrong.stdout == "", wrong.stderr


def test_list(fctl):
    # No --fields: frappectl reads the meta first and asks for name, the title field and the
    # in_list_view fields. Newest first by default.
    listed = rows(fctl("doc", "list", "ToDo", "-f", "description like fc-%"))
    assert [r["description"] for r in listed] == [t[0] for t in reversed(TODOS)]
    assert {"name", "description", "status", "priority"} <= set(listed[0])
    assert [(r["status"], r["priority"]) for r in reversed(listed)] == [t[1:] for t in TODOS]
    listed = rows(fctl("doc", "list", "ToDo", "--fields", "name,status", "-f", "description like fc-%",
                       "--limit", "2"))
    assert len(listed) == 2 and all(set(r) == {"name", "status"} for r in listed)


def test_filters_in_list_dict_and_4_element_forms(fctl):
    base = ("doc", "list", "ToDo", "--fields", "name,description", "--order-by", "description asc")
    assert descriptions(fctl(*base, "-f", "description like fc-%", "-f", "status=Open")) == OPEN
    assert descriptions(fctl(*base, "--filters-json", '[["description", "like", "fc-%"], '
                                                      '["priority", "!=", "Medium"]]')) == ["fc-1 alpha",
                                                                                            "fc-3 charlie"]
    assert descriptions(fctl(*base, "--filters-json",
                             '{"description": ["like", "fc-%"], "status": "Closed"}')) == ["fc-2 bravo"]
    assert descriptions(fctl(*base, "--filters-json",
                             '[["ToDo", "description", "like", "fc-%"], ["ToDo", "status", "!=", "Open"]]')) \
        == ["fc-2 bravo", "fc-4 delta"]


def test_order(fctl):
    base = ("doc", "list", "ToDo", "--fields", "name,description", "-f", "description like fc-%")
    names = [t[0] for t in TODOS]
    assert descriptions(fctl(*base, "--order-by", "description asc")) == names
    assert descriptions(fctl(*base, "--order-by", "description desc")) == names[::-1]
    by_priority = descriptions(fctl(*base, "--order-by", "priority asc, description desc"))
    assert by_priority == ["fc-1 alpha", "fc-3 charlie", "fc-5 echo", "fc-4 delta", "fc-2 bravo"]


def test_paging_follows_has_next_page(fctl):
    proc = fctl("--debug", "doc", "list", "ToDo", "--fields", "name,description", "-f", "description like pg-%",
                "--order-by", "description asc", "--all")
    assert descriptions(proc) == [f"pg-{i:03d}" for i in range(PAGED)]
    pages = [line for line in proc.stderr.splitlines() if line.startswith("→ GET") and "/api/v2/document/ToDo?" in line]
    # 200 rows and has_next_page true, then the last 5 rows and has_next_page false: two requests.
    assert len(pages) == 2 and "start=0" in pages[0] and "start=200" in pages[1], proc.stderr[-3000:]


def test_count(fctl):
    def count(*args: str) -> int:
        return json.loads(fctl("api", "doctype/ToDo/count", *args).stdout)
    assert count() == len(TODOS) + PAGED
    assert count("-F", 'filters:=[["description", "like", "fc-%"], ["status", "=", "Open"]]') == len(OPEN)
    assert count("-F", 'filters:={"status": "Closed"}') == 1
    assert count("-F", 'filters:=[["ToDo", "description", "like", "pg-%"]]') == PAGED


def test_meta(fctl):
    meta = json.loads(fctl("doctype", "show", "ToDo").stdout)
    assert (meta["name"], meta["title_field"]) == ("ToDo", "description")
    assert not meta["istable"] and not meta["is_submittable"] and not meta["issingle"]
    fields = {f["fieldname"]: f for f in meta["fields"]}
    assert fields["status"]["fieldtype"] == "Select" and fields["status"]["options"] == "Open\nClosed\nCancelled"
    assert fields["description"]["reqd"] is True
    assert {p["role"] for p in meta["permissions"] if p.get("read")} >= {"All", "System Manager"}
    raw = json.loads(fctl("doctype", "show", "ToDo", "--raw").stdout)  # the meta as the server sent it
    assert raw["name"] == "ToDo"
    assert {"status", "priority", "description"} <= {f.get("fieldname") for f in raw["fields"]}
    missing = fctl("doctype", "show", "No Such DocType", ok=False)
    assert missing.returncode == 1 and "error:" in missing.stderr


def test_create_read_update_delete(fctl):
    created = json.loads(fctl("doc", "create", "ToDo", "--set", "description=fc-crud", "--set", "priority=High").stdout)
    name = created["name"]
    assert (created["description"], created["priority"], created["status"]) == ("fc-crud", "High", "Open")
    got = json.loads(fctl("doc", "get", "ToDo", name).stdout)
    assert (got["name"], got["description"]) == (name, "fc-crud")
    updated = json.loads(fctl("doc", "update", "ToDo", name, "--set", "status=Closed").stdout)
    assert (updated["status"], updated["description"]) == ("Closed", "fc-crud")
    assert json.loads(fctl("doc", "get", "ToDo", name).stdout)["status"] == "Closed"
    assert json.loads(fctl("doc", "delete", "ToDo", name).stdout) == {"deleted": name, "doctype": "ToDo"}
    gone = fctl("doc", "get", "ToDo", name, ok=False)
    assert gone.returncode == 1 and "error:" in gone.stderr
