"""Fields a user may not read stay unreadable through queries, over HTTP on both databases.

A filter, sort, group or aggregate on a field is an oracle for its values: a user with only
``select`` on User recovered Administrator's ``api_key`` in 90 requests by binary search with
``[["api_key", ">", X]]``, and ``[["Has Role", "role", "=", "System Manager"]]`` listed the
admins. Every such term is refused with a 417 naming the field, on every route that takes
filters or ordering (``/api/resource``, ``frappe.client.get_list/get_count/get_value/get``);
fields the user may read, and every field for a user who may read them, keep working.

Also here: a field name is used exactly as written (``title``` is refused, never read as
``title``).
"""

from __future__ import annotations

import json
from urllib.parse import quote

import httpx
import pytest

PASSWORD = "qp-pw-123"
ROLE = "Ledger Clerk"
LEDGER, TARGET, SETTINGS = "QP Ledger", "QP Target", "QP Settings"
CLERK, PLAIN = "clerk@qp.test", "plain@qp.test"
LEVELLED = [{"role": ROLE, "read": 1},
            {"role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1},
            {"role": "System Manager", "permlevel": 1, "read": 1, "write": 1}]


def _ok(r: httpx.Response) -> dict:
    assert r.status_code == 200, f"{r.request.method} {r.request.url} -> {r.status_code}: {r.text[:800]}"
    return r.json()


def _refused(r: httpx.Response, field: str) -> None:
    """A 417 whose message names the field, and no data."""
    assert r.status_code == 417, f"{r.request.method} {r.request.url} -> {r.status_code}: {r.text[:800]}"
    body = r.json()
    assert body["exc_type"] in ("DataError", "ValidationError") and "data" not in body and "message" not in body
    messages = [json.loads(m)["message"] for m in json.loads(body["_server_messages"])]
    assert f"Field not permitted in query: {field}" in messages, messages


def _params(**params) -> dict:
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}


def _list(c: httpx.Client, doctype: str, **params) -> httpx.Response:
    return c.get(f"/api/resource/{quote(doctype)}", params=_params(**params))


def _rpc(c: httpx.Client, method: str, **params) -> httpx.Response:
    return c.get(f"/api/method/frappe.client.{method}", params=_params(**params))


def _doctype(admin: httpx.Client, name: str, fields: list[dict], permissions: list[dict], **kw) -> None:
    body = {"name": name, "module": "Custom", "custom": 1, "fields": fields, "permissions": permissions, **kw}
    _ok(admin.post("/api/resource/DocType", json=body))


def _login(server, email: str) -> httpx.Client:
    c = server.client()
    _ok(c.post("/api/method/login", json={"usr": email, "pwd": PASSWORD}))
    return c


@pytest.fixture(scope="module")
def world(server):
    admin = server.admin()
    _ok(admin.post("/api/resource/Role", json={"role_name": ROLE}))
    _doctype(admin, TARGET, [{"fieldname": "code", "fieldtype": "Data", "label": "Code"}],
             [{"role": ROLE, "read": 1}, {"role": "System Manager", "read": 1, "write": 1, "create": 1}],
             autoname="field:code")
    _doctype(admin, LEDGER, [
        {"fieldname": "title", "fieldtype": "Data", "label": "Title"},
        {"fieldname": "secret", "fieldtype": "Data", "label": "Secret", "permlevel": 1},
        {"fieldname": "target", "fieldtype": "Link", "options": TARGET, "label": "Target", "permlevel": 1},
        {"fieldname": "open_target", "fieldtype": "Link", "options": TARGET, "label": "Open Target"}], LEVELLED)
    _doctype(admin, SETTINGS, [
        {"fieldname": "open_value", "fieldtype": "Data", "label": "Open"},
        {"fieldname": "secret_value", "fieldtype": "Data", "label": "Secret", "permlevel": 1}], LEVELLED, issingle=1)
    _ok(admin.post(f"/api/resource/{quote(TARGET)}", json={"code": "T1"}))
    ledger = _ok(admin.post(f"/api/resource/{quote(LEDGER)}", json={
        "title": "l1", "secret": "s3cret", "target": "T1", "open_target": "T1"}))["data"]["name"]
    _ok(admin.put(f"/api/resource/{quote(SETTINGS)}/{quote(SETTINGS)}",
                  json={"open_value": "o", "secret_value": "s"}))
    for email, roles in ((CLERK, [{"role": ROLE}]), (PLAIN, [])):
        _ok(admin.post("/api/resource/User", json={"email": email, "first_name": email.split("@")[0],
                                                   "new_password": PASSWORD, "roles": roles}))
    clients = {"admin": admin, "clerk": _login(server, CLERK), "plain": _login(server, PLAIN)}
    yield clients, ledger
    for c in clients.values():
        c.close()


# --- select-only access: User, as every user without System Manager has it ------------------------

def test_select_only_user_cannot_binary_search_an_api_key(world, server):
    clients, _ = world
    plain, admin = clients["plain"], clients["admin"]
    admin_only = ["name", "=", "Administrator"]
    # what select-only access shows still works: names and the title/search field
    rows = _ok(_list(plain, "User", fields=["name", "full_name"], filters=[admin_only]))["data"]
    assert [r["name"] for r in rows] == ["Administrator"]
    _ok(_list(plain, "User", filters=[["full_name", "like", "%"]]))

    # the reported attack: bisect Administrator's api_key one comparison at a time
    lo, hi, requests = 0, 127, 0
    while lo < hi and requests < 8:
        mid = (lo + hi) // 2
        r = _list(plain, "User", filters=[admin_only, ["api_key", ">", chr(mid)]])
        requests += 1
        _refused(r, "api_key")
        hi = mid  # a refusal tells nothing: the search never narrows on data
    # the same query is fine for a user who may read api_key
    assert _ok(_list(admin, "User", filters=[admin_only, ["api_key", ">", ""]]))["data"] == [{"name": "Administrator"}]


@pytest.mark.parametrize("params", [
    {"filters": {"api_key": [">", "m"]}},
    {"filters": [["User", "api_key", ">", "m"]]},
    {"filters": [["`api_key`", ">", "m"]]},
    {"filters": [["`tabUser`.`api_key`", ">", "m"]]},
    {"filters": [["api_key", "like", "a%"]]},
    {"or_filters": [["api_key", ">", "m"], ["name", "=", "nobody"]]},
    {"order_by": "api_key desc"},
    {"order_by": "name asc, `tabUser`.`api_key` desc"},
    {"fields": ["count(name) as n"], "group_by": "api_key"},
    {"fields": ["count(api_key)"]},
    {"fields": ["max(api_key) as m"]},
    {"fields": ["name"], "order_by": "min(api_key)", "group_by": "name"},
    {"filters": [["owner", "=", "Administrator"]]},
])
def test_select_only_terms_on_unreadable_fields(world, params):
    plain = world[0]["plain"]
    field = "owner" if "owner" in json.dumps(params) else "api_key"
    _refused(_list(plain, "User", **params), field)
    _refused(_rpc(plain, "get_list", doctype="User", **params), field)


def test_count_obeys_the_same_rule(world):
    plain, admin = world[0]["plain"], world[0]["admin"]
    _refused(_rpc(plain, "get_count", doctype="User", filters=[["api_key", ">", "m"]]), "api_key")
    _refused(_rpc(plain, "get_count", doctype="User", or_filters=[["api_key", ">", "m"]]), "api_key")
    assert _ok(_rpc(plain, "get_count", doctype="User", filters=[["name", "=", "Administrator"]]))["message"] == 1
    assert _ok(_rpc(admin, "get_count", doctype="User", filters=[["api_key", "is", "set"]]))["message"] >= 1


def test_has_role_cannot_list_the_admins(world):
    plain, admin = world[0]["plain"], world[0]["admin"]
    # The Table field itself is unreadable to a select-only user: the refusal names it.
    _refused(_list(plain, "User", filters=[["Has Role", "role", "=", "System Manager"]]), "roles")
    _refused(_list(plain, "User", filters=[["roles.role", "=", "System Manager"]]), "roles")
    _refused(_list(plain, "User", filters=[["role", "=", "System Manager"]]), "roles")
    _refused(_rpc(plain, "get_count", doctype="User", filters=[["Has Role", "role", "=", "System Manager"]]),
             "roles")
    rows = _ok(_list(admin, "User", filters=[["Has Role", "role", "=", "System Manager"]],
                     limit_page_length=0))["data"]
    assert {"name": "Administrator"} in rows


# --- permlevels: a Ledger Clerk reads level 0 only --------------------------------------------------

@pytest.mark.parametrize("params,field", [
    ({"filters": [["secret", "=", "s3cret"]]}, "secret"),
    ({"filters": {"secret": ["like", "s%"]}}, "secret"),
    ({"or_filters": [["secret", ">", "a"]]}, "secret"),
    ({"order_by": "secret desc"}, "secret"),
    ({"fields": ["count(name) as n"], "group_by": "secret"}, "secret"),
    ({"fields": ["max(secret) as m"]}, "secret"),
    # through a Link field the clerk may not read, even to a DocType the clerk may read
    ({"filters": [["target.code", "=", "T1"]]}, "target.code"),
    ({"filters": [["target.name", "is", "set"]]}, "target.name"),
    ({"order_by": "target.code desc"}, "target.code"),
])
def test_permlevel_fields_in_every_position(world, params, field):
    clerk = world[0]["clerk"]
    _refused(_list(clerk, LEDGER, **params), field)
    _refused(_rpc(clerk, "get_list", doctype=LEDGER, **params), field)


def test_readable_terms_still_work_and_unreadable_fields_are_still_dropped(world):
    (clients, ledger) = world
    clerk, admin = clients["clerk"], clients["admin"]
    rows = _ok(_list(clerk, LEDGER, fields=["name", "title", "secret", "target.code"],
                     filters=[["title", "=", "l1"], ["open_target.code", "=", "T1"]], order_by="title asc"))["data"]
    assert rows == [{"name": ledger, "title": "l1"}]
    rows = _ok(_list(admin, LEDGER, fields=["name", "secret"], filters=[["secret", "=", "s3cret"],
                                                                         ["target.code", "=", "T1"]]))["data"]
    assert rows == [{"name": ledger, "secret": "s3cret"}]


def test_get_value_get_and_get_count_with_unreadable_filters(world):
    (clients, ledger) = world
    clerk = clients["clerk"]
    _refused(_rpc(clerk, "get_value", doctype=LEDGER, fieldname="title", filters=[["secret", "=", "s3cret"]]),
             "secret")
    _refused(_rpc(clerk, "get_value", doctype=LEDGER, fieldname="title", filters={"secret": "s3cret"}), "secret")
    _refused(_rpc(clerk, "get", doctype=LEDGER, filters={"secret": "s3cret"}), "secret")
    _refused(_rpc(clerk, "get_count", doctype=LEDGER, filters={"secret": "s3cret"}), "secret")
    # a Single's values are matched in Python: the same rule
    _refused(_rpc(clerk, "get_value", doctype=SETTINGS, fieldname="open_value", filters={"secret_value": "s"}),
             "secret_value")
    assert _ok(_rpc(clerk, "get_value", doctype=SETTINGS, fieldname="open_value",
                    filters={"open_value": "o"}))["message"] == {"open_value": "o"}
    assert _ok(_rpc(clerk, "get_value", doctype=LEDGER, fieldname="title",
                    filters={"title": "l1"}))["message"] == {"title": "l1"}
    assert _ok(_rpc(clients["admin"], "get_value", doctype=LEDGER, fieldname="title",
                    filters={"secret": "s3cret"}))["message"] == {"title": "l1"}


# --- identifiers are used exactly as written ---------------------------------------------------------

@pytest.mark.parametrize("bad", ["title`", "`title", "``title``", "ti`tle`", "`title`x", "title\"", "'title'"])
def test_identifiers_are_refused_not_repaired(world, bad):
    admin = world[0]["admin"]
    for r in (_list(admin, LEDGER, fields=["name", bad]),
              _rpc(admin, "get_value", doctype=LEDGER, fieldname=bad, filters={"title": "l1"}),
              _rpc(admin, "get_value", doctype=LEDGER, fieldname=json.dumps(["name", bad]), filters={"title": "l1"}),
              _list(admin, LEDGER, filters=[[bad, "=", "l1"]]),
              _list(admin, LEDGER, order_by=f"{bad} desc"),
              _list(admin, LEDGER, fields=["title", "count(name) as n"], group_by=bad)):
        assert r.status_code == 417, f"{r.request.url} -> {r.status_code}: {r.text[:500]}"
        assert "data" not in r.json() and "message" not in r.json()


def test_exact_identifiers_still_work(world):
    admin = world[0]["admin"]
    rows = _ok(_list(admin, LEDGER, fields=["name", "`title`", "`tabQP Ledger`.`title` as t"],
                     filters=[["`title`", "=", "l1"]], order_by="`title` desc"))["data"]
    assert [(r["title"], r["t"]) for r in rows] == [("l1", "l1")]
    assert _ok(_rpc(admin, "get_value", doctype=LEDGER, fieldname="title",
                    filters={"title": "l1"}))["message"] == {"title": "l1"}
