"""Frappe's Role Permissions Manager methods (``frappe.core.page.permission_manager.
permission_manager.*``), in process on both databases: answer shapes, System Manager only,
the copy of a DocType's standard rows into Custom DocPerm in the same transaction as the
change (a failing change leaves no partial copy), the refusal to remove the last rule, the
ptype allowlist, and that a rule added here is enforced by the API.

The site is tests/api/v2world.py's (Gadget with four standard rows) plus a role ``Gadget
Auditor`` with no rule anywhere and its user ``auditor``.
"""

from __future__ import annotations

import json
import random

import pytest

from tests.api.v2world import build
from tests.conftest import BACKENDS
from tests.scenario import Scenario, Text, scenarios

PM = "/api/method/frappe.core.page.permission_manager.permission_manager"
AUDITOR = "auditor@v2.test"


@pytest.fixture(scope="module", params=BACKENDS)
def world(request, tmp_path_factory):
    from ristretto.site.install import add_user
    w = build(tmp_path_factory.mktemp(f"permmgr-{request.param}"), request.param, request, gadgets=2)
    w.admin("POST", "/api/resource/Role", json={"role_name": "Gadget Auditor"})
    add_user(w.site, AUDITOR, None, ["Gadget Auditor"])
    w.users["auditor"] = AUDITOR
    yield w
    w.close()


def custom_rows(env, doctype="Gadget"):
    rows = env.admin("GET", "/api/resource/Custom DocPerm", params={
        "filters": json.dumps([["parent", "=", doctype]]), "fields": '["role", "permlevel", "read", "write"]',
        "limit_page_length": "0"})
    return sorted((r["role"], r["permlevel"], r["read"], r["write"]) for r in rows)


def fresh(env):
    """Gadget back on its standard rows (every row starts from there)."""
    env.admin("POST", f"{PM}.reset", json={"doctype": "Gadget"})
    assert custom_rows(env) == []


def no_copy(env, r):
    assert custom_rows(env) == [], "a failed request left Custom DocPerm rows behind"


def error(kind, *words):
    def check(body):
        assert body.get("exc_type") == kind, body
        text = "".join(json.loads(m)["message"] for m in json.loads(body.get("_server_messages", "[]")))
        assert all(w in text for w in words), body
        return True
    return check


STANDARD = [("Gadget Manager", 0, 1, 1), ("Gadget Manager", 1, 1, 1), ("Gadget Reader", 0, 1, 0),
            ("Gadget User", 0, 1, 1)]


def copied_then(*extra, drop=()):
    def check(env, r):
        want = sorted([row for row in STANDARD if row not in drop] + list(extra))
        assert custom_rows(env) == want
    return check


ROWS = [
    Scenario("roles and doctypes: names, no child table, no DocType, no Administrator", "GET",
             f"{PM}.get_roles_and_doctypes",
             expect={"message": lambda m: "Gadget" in m["doctypes"] and "Gadget Part" not in m["doctypes"]
                     and "DocType" not in m["doctypes"] and "Gadget Auditor" in m["roles"]
                     and "Administrator" not in m["roles"] and all(isinstance(x, str) for x in m["roles"])}),
    Scenario("standard rows of a DocType with no custom rows, with linked_doctypes", "GET", f"{PM}.get_permissions",
             params={"doctype": "Gadget"}, before=fresh,
             expect={"message": lambda m: sorted((r["role"], r["permlevel"]) for r in m) ==
                     [("Gadget Manager", 0), ("Gadget Manager", 1), ("Gadget Reader", 0), ("Gadget User", 0)]
                     and all(r["parent"] == "Gadget" and r["linked_doctypes"] == ["Gadget"] for r in m)}),
    Scenario("rows of one role across DocTypes", "GET", f"{PM}.get_permissions", params={"role": "Gadget Reader"},
             before=fresh, expect={"message": lambda m: sorted(r["parent"] for r in m) == ["Gadget", "Gadget Order"]}),
    Scenario("update copies the standard rows first and answers refresh", "POST", f"{PM}.update",
             json={"doctype": "Gadget", "role": "Gadget Reader", "permlevel": 0, "ptype": "write", "value": 1},
             before=fresh, expect={"message": "refresh"},
             after=copied_then(("Gadget Reader", 0, 1, 1), drop=[("Gadget Reader", 0, 1, 0)])),
    Scenario("a failing update leaves no partial copy", "POST", f"{PM}.update",
             json={"doctype": "Gadget", "role": "Gadget Auditor", "permlevel": 0, "ptype": "write", "value": 1},
             before=fresh, status=404, after=no_copy),
    Scenario("an unknown ptype is a 417 and copies nothing", "POST", f"{PM}.update",
             data={"doctype": "Gadget", "role": "Gadget User", "permlevel": "0", "ptype": "name", "value": "1"},
             before=fresh, status=417, expect=error("ValidationError", "Unknown permission type"), after=no_copy),
    Scenario("an SQL fragment as ptype is refused", "POST", f"{PM}.update",
             data={"doctype": "Gadget", "role": "Gadget User", "permlevel": "0", "ptype": "`read`=1, role",
                   "value": "1"}, before=fresh, status=417, after=no_copy),
    Scenario("a bad permlevel is a 417", "POST", f"{PM}.add",
             data={"parent": "Gadget", "role": "Gadget Auditor", "permlevel": "ten"}, before=fresh, status=417,
             after=no_copy),
    Scenario("add: an unknown DocType is a 404", "POST", f"{PM}.add",
             data={"parent": "No Such", "role": "Gadget Auditor", "permlevel": "0"}, status=404),
    Scenario("add: an unknown role is a 404", "POST", f"{PM}.add",
             data={"parent": "Gadget", "role": "No Such Role", "permlevel": "0"}, before=fresh, status=404,
             after=no_copy),
    Scenario("add: a rule that exists already is a 417", "POST", f"{PM}.add",
             data={"parent": "Gadget", "role": "Gadget User", "permlevel": "0"}, before=fresh, status=417,
             after=no_copy),
    Scenario("remove copies, then deletes the one rule", "POST", f"{PM}.remove",
             data={"doctype": "Gadget", "role": "Gadget Reader", "permlevel": "0"}, before=fresh,
             after=copied_then(drop=[("Gadget Reader", 0, 1, 0)])),
    Scenario("non System Manager: 403 on every method", "POST", f"{PM}.update", user="manager",
             json={"doctype": "Gadget", "role": "Gadget Manager", "permlevel": 0, "ptype": "delete", "value": 1},
             before=fresh, status=403, expect=error("PermissionError", "System Manager"), after=no_copy),
    Scenario("non System Manager: 403 on get_permissions", "GET", f"{PM}.get_permissions", user="user",
             params={"doctype": "Gadget"}, status=403, expect=Text(lacks=["Gadget Reader"])),
    Scenario("guest: 403", "GET", f"{PM}.get_roles_and_doctypes", user="guest", status=403),
    Scenario("writes need POST", "GET", f"{PM}.reset", params={"doctype": "Gadget"}, status=403),
]


@scenarios(*ROWS)
def test_permission_manager(world, scenario):
    scenario.run(world)


def test_last_rule_cannot_be_removed(world):
    fresh(world)
    world.admin("POST", f"{PM}.add", json={"parent": "Gadget Order", "role": "Gadget Auditor", "permlevel": 0})
    for role, level in [("Gadget User", 0), ("Gadget Manager", 0), ("Gadget Manager", 1), ("Gadget Reader", 0)]:
        world.admin("POST", f"{PM}.remove", json={"doctype": "Gadget Order", "role": role, "permlevel": level})
    r = world.client("admin").post(f"{PM}.remove", json={"doctype": "Gadget Order", "role": "Gadget Auditor",
                                                          "permlevel": 0})
    assert r.status_code == 417, r.text
    assert error("ValidationError", "There must be atleast one permission rule")(r.json())
    assert custom_rows(world, "Gadget Order") == [("Gadget Auditor", 0, 1, 0)]
    world.admin("POST", f"{PM}.reset", json={"doctype": "Gadget Order"})
    assert custom_rows(world, "Gadget Order") == []


def test_added_rule_is_enforced_and_reset_takes_it_back(world):
    fresh(world)
    auditor = world.client("auditor")
    assert auditor.get("/api/resource/Gadget/g-1").status_code == 403
    world.admin("POST", f"{PM}.add", json={"parent": "Gadget", "role": "Gadget Auditor", "permlevel": 0})
    r = auditor.get("/api/resource/Gadget/g-1")
    assert r.status_code == 200 and r.json()["data"]["name"] == "g-1", r.text
    assert auditor.put("/api/resource/Gadget/g-1", json={"qty": 7}).status_code == 403
    assert world.admin("POST", f"{PM}.update", json={"doctype": "Gadget", "role": "Gadget Auditor",
                                                     "permlevel": 0, "ptype": "write", "value": 1}) is None
    assert auditor.put("/api/resource/Gadget/g-1", json={"qty": 7}).status_code == 200
    world.admin("POST", f"{PM}.reset", json={"doctype": "Gadget"})
    assert auditor.get("/api/resource/Gadget/g-1").status_code == 403


# --- no input is a 500 ------------------------------------------------------------------------

_JUNK = [None, True, 3, -7, "", " ", "x" * 200, [], [0, 1], {}, {"a": 1}, 1.5, "1; drop"]
_ARGS = {
    "doctype": ["Gadget", "Gadget", "Gadget Order", "Gadget Part", "DocType", "No Such"],
    "role": ["Gadget User", "Gadget Reader", "Gadget Auditor", "Gadget Auditor", "Administrator", "Nope"],
    "permlevel": [0, 1, "0", "2", "x", "1.5", "99999", -1],
    "ptype": ["read", "write", "if_owner", "submit", "name", "read`"],
    "value": [0, 1, "1", "0", "yes"],
    "if_owner": [0, 1, "1"],
}
_CALLS = {"get_permissions": ("doctype", "role"), "add": ("parent", "role", "permlevel"),
          "update": ("doctype", "role", "permlevel", "ptype", "value", "if_owner"),
          "remove": ("doctype", "role", "permlevel", "if_owner"), "reset": ("doctype",),
          "get_roles_and_doctypes": ()}


def _calls(count: int, seed: int):
    """``count`` calls with mostly plausible arguments (so the checks past the first are
    reached), sometimes junk or missing ones; the same calls every run."""
    rnd = random.Random(seed)
    for _ in range(count):
        method = rnd.choice(sorted(_CALLS))
        args = {p: rnd.choice(_ARGS["doctype" if p == "parent" else p]) if rnd.random() < 0.85 else rnd.choice(_JUNK)
                for p in _CALLS[method] if rnd.random() < 0.9}
        yield method, args, rnd.choice(["json", "form"])


def test_no_argument_is_a_500(world):
    client = world.client("admin")
    for method, args, how in _calls(300, seed=11):
        if how == "json":
            r = client.post(f"{PM}.{method}", json=args)
        else:
            r = client.post(f"{PM}.{method}", data={k: v if isinstance(v, str) else json.dumps(v)
                                                     for k, v in args.items()})
        assert r.status_code < 500, f"{method} {args} ({how}) -> {r.status_code} {r.text[:1000]}"
        if r.status_code >= 400:
            assert "exc_type" in r.json(), r.text
