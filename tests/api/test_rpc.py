"""RPC dispatch: the method registry, whitelisting rules, argument binding, transactions.

Covers ``07-rpc-and-files.md`` §§ 1-5 over HTTP on both databases: only registered
names resolve (whatever module a dotted path names), Guest versus ``allow_guest``,
the allowed verbs of every registered method, argument binding and type checks,
the legacy ``cmd=`` entry on ``/`` as FrappeClient and frappe-connector use it, and
commit versus rollback. Transaction rules that no built-in method can show (a GET
to a method that writes) are checked in-process with probe methods added to a
real ``App`` on the same site.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from ristretto.whitelist import MethodRegistry, whitelist
from ristretto.exceptions import FrappeTypeError
from tests.conftest import ADMIN_PASSWORD

SUBMITTABLE = "Conformance Submittable"
DEFAULT = {"GET", "POST", "PUT", "DELETE"}
POST_PUT = {"POST", "PUT"}
VERBS = ("GET", "POST", "PUT", "DELETE", "PATCH")
# The frappe.client methods and their verbs, as 08-client-methods.md lists them.
CLIENT_VERBS = {
    "get_list": DEFAULT, "get_count": DEFAULT, "get": DEFAULT, "get_value": DEFAULT,
    "get_single_value": DEFAULT, "has_permission": DEFAULT, "get_doc_permissions": DEFAULT,
    "get_password": DEFAULT, "get_time_zone": DEFAULT, "is_document_amended": DEFAULT,
    "validate_link": {"GET", "POST"}, "insert": POST_PUT, "insert_many": POST_PUT, "save": POST_PUT,
    "set_value": POST_PUT, "submit": POST_PUT, "cancel": POST_PUT, "delete": {"DELETE", "POST"},
    "rename_doc": POST_PUT, "bulk_update": POST_PUT,
}
# Dotted paths that name real Python callables but are not registered: all refused.
UNREGISTERED = [
    "os.system", "subprocess.run", "ristretto.db.connection.Database", "ristretto.site.install.new_site",
    "__import__", "builtins.eval", "ristretto.api.methods.client.get_list",
    "ristretto.api.methods.client._insert_doc", "frappe.client", "frappe.client._insert_doc",
    "frappe.client.get_list.__globals__", "Frappe.Client.Get_List", "frappe.client.get_list ",
]


# --- helpers -------------------------------------------------------------------------------------

def messages(body: dict) -> list[str]:
    """The texts of the (doubly encoded) ``_server_messages``."""
    return [json.loads(m)["message"] for m in json.loads(body.get("_server_messages") or "[]")]


def fails(r, status: int, exc_type: str) -> dict:
    assert (r.status_code, r.json().get("exc_type")) == (status, exc_type), \
        f"{r.request.method} {r.request.url} -> {r.status_code}: {r.text[:1500]}"
    return r.json()


def message(r, status: int = 200) -> Any:
    assert r.status_code == status, f"{r.request.method} {r.request.url} -> {r.status_code}: {r.text[:1500]}"
    return r.json().get("message")


def todo(admin, description: str) -> dict:
    r = admin.post("/api/resource/ToDo", json={"description": description})
    assert r.status_code == 200, r.text
    return r.json()["data"]


def exists(admin, doctype: str, name: str) -> bool:
    return admin.get(f"/api/resource/{doctype}/{name}").status_code == 200


def count(admin, marker: str) -> int:
    filters = json.dumps({"description": ["like", f"%{marker}%"]})
    return message(admin.get("/api/method/frappe.client.get_count", params={"doctype": "ToDo", "filters": filters}))


@pytest.fixture(scope="module")
def submittable(server):
    with server.admin() as admin:
        r = admin.post("/api/resource/DocType", json={
            "name": SUBMITTABLE, "module": "Custom", "custom": 1, "is_submittable": 1,
            "fields": [{"fieldname": "title", "fieldtype": "Data", "label": "Title"}],
            "permissions": [{"role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1,
                             "submit": 1, "cancel": 1, "amend": 1}]})
        assert r.status_code == 200, r.text
    return SUBMITTABLE


@pytest.fixture(scope="module")
def plain_user(server):
    """A user holding no role that grants anything on the custom DocTypes."""
    server.cli("add-user", "rpc-plain@example.com", "--password", "rpc-plain-pw-1")
    return "rpc-plain@example.com", "rpc-plain-pw-1"


@pytest.fixture(scope="module")
def registered(server) -> dict:
    """The method registry the server builds for this site (same code, same site, in-process)."""
    from ristretto.api.app import App
    from ristretto.site import Site
    site = Site(server.site_dir)
    try:
        return dict(App(site).methods.methods)
    finally:
        site.close()


# --- resolution: only registered names -----------------------------------------------------------

@pytest.mark.parametrize("name", UNREGISTERED)
def test_unregistered_dotted_paths_are_refused(server, admin, name, tmp_path):
    target = tmp_path / "would-be-site"
    args = {"command": f"touch {target}", "path": str(target), "db_url": "", "admin_password": "x"}
    with server.client() as guest:
        attempts = [
            admin.get(f"/api/method/{name}", params=args),
            admin.post(f"/api/method/{name}", json=args),
            admin.post(f"/api/v1/method/{name}", data=args),
            admin.post("/", data={"cmd": name, **args}),
            admin.get("/", params={"cmd": name, **args}),
            guest.get(f"/api/method/{name}", params=args),
            guest.post("/", data={"cmd": name, **args}),
        ]
    for r in attempts:
        body = fails(r, 417, "ValidationError")
        assert any(m.startswith(f"Failed to get method for command {name}") for m in messages(body)), body
    assert not target.exists()


def test_registry_holds_only_decorated_functions(registered):
    from ristretto.api.methods import client
    assert {f"frappe.client.{m}" for m in CLIENT_VERBS} <= set(registered)
    # Helpers of the methods module are not reachable, whatever their name.
    assert not any(n.startswith("frappe.client._") for n in registered)
    assert all(m.fn.__name__ != "_doc" for m in registered.values())
    assert hasattr(client, "_doc")


# --- Guest and allow_guest ------------------------------------------------------------------------

def test_guest_reaches_only_guest_methods(server):
    with server.client() as guest:
        assert message(guest.get("/api/method/ping")) == "pong"
        assert isinstance(message(guest.post("/api/method/version")), str)
        tz = message(guest.get("/api/method/frappe.client.get_time_zone"))
        assert isinstance(tz["time_zone"], str) and tz["time_zone"]
        for verb, name, kw in [("GET", "frappe.client.get_list", {"params": {"doctype": "ToDo"}}),
                               ("GET", "frappe.client.get_count", {"params": {"doctype": "ToDo"}}),
                               ("POST", "frappe.client.insert", {"json": {"doc": {"doctype": "ToDo"}}}),
                               ("GET", "frappe.auth.get_logged_user", {})]:
            body = fails(guest.request(verb, f"/api/method/{name}", **kw), 403, "PermissionError")
            assert any("not whitelisted" in m and name in m for m in messages(body)), body
            titles = [json.loads(m)["title"] for m in json.loads(body["_server_messages"])]
            assert "Method Not Allowed" in titles
            assert "exc" not in body  # Guests never get tracebacks
        # The same through the legacy entry.
        fails(guest.get("/", params={"cmd": "frappe.client.get_count", "doctype": "ToDo"}), 403, "PermissionError")
        fails(guest.post("/", data={"cmd": "frappe.client.delete", "doctype": "ToDo", "name": "x"}),
              403, "PermissionError")


# --- verbs ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", sorted(CLIENT_VERBS))
def test_client_method_verbs(server, admin, method):
    for verb in VERBS:
        r = admin.request(verb, f"/api/method/frappe.client.{method}")
        if verb in CLIENT_VERBS[method]:
            # Allowed: whatever the outcome without arguments, it is not the verb refusal.
            assert r.status_code in (200, 417), f"{verb} {method}: {r.status_code} {r.text[:500]}"
        else:
            body = fails(r, 403, "PermissionError")
            assert messages(body) == ["Not permitted"], body


def test_every_registered_method_answers_its_verbs(server, admin, registered):
    """Each registered method refuses the verbs it does not allow (403) and never fails with a
    5xx on the ones it allows, even called without arguments."""
    assert registered
    for name, method in sorted(registered.items()):
        if name == "login":
            continue  # logs in during request set-up, before dispatch, whatever the verb (as Frappe)
        for verb in VERBS:
            r = admin.request(verb, f"/api/method/{name}")
            if verb not in method.verbs:
                body = fails(r, 403, "PermissionError")
                assert messages(body) == ["Not permitted"], (name, verb, body)
                continue
            # (A 403 here is the method's own refusal, e.g. a CSRF token needs a session.)
            assert r.status_code < 500 or name == "uploadfile", f"{verb} {name}: {r.status_code} {r.text[:500]}"


def test_get_to_a_writing_method_is_refused_and_writes_nothing(server, admin, submittable):
    marker = "rpc-get-writer"
    before = count(admin, marker)
    docs = json.dumps([{"doctype": "ToDo", "description": f"{marker} a"}])
    fails(admin.get("/api/method/frappe.client.insert_many", params={"docs": docs}), 403, "PermissionError")
    fails(admin.get("/", params={"cmd": "frappe.client.insert_many", "docs": docs}), 403, "PermissionError")
    # a cmd on a route that otherwise runs without a transaction
    fails(admin.get("/api/resource/ToDo", params={"cmd": "frappe.client.insert_many", "docs": docs}),
          403, "PermissionError")
    assert count(admin, marker) == before


# --- argument binding ------------------------------------------------------------------------------

def test_unknown_arguments_are_dropped(server, admin):
    todo(admin, "rpc-binding unknown")
    n = message(admin.get("/api/method/frappe.client.get_count",
                          params={"doctype": "ToDo", "bogus": "1", "limit_start": "5", "page_length": "1"}))
    assert isinstance(n, int) and n >= 1


def test_missing_required_argument_is_417(server, admin):
    body = fails(admin.get("/api/method/frappe.client.get_value", params={"doctype": "ToDo"}),
                 417, "FrappeTypeError")
    assert messages(body) == ["get_value() missing 1 required argument: 'fieldname'"]
    body = fails(admin.post("/api/method/frappe.client.set_value", json={}), 417, "FrappeTypeError")
    assert messages(body) == ["set_value() missing 3 required arguments: 'doctype', 'name', 'fieldname'"]


def test_json_array_body_arrives_as_data(server, admin):
    # frappe.client.get_count has no ``data`` parameter: the array is dropped, doctype is missing.
    r = admin.post("/api/method/frappe.client.get_count", json=[{"doctype": "ToDo"}])
    body = fails(r, 417, "FrappeTypeError")
    assert messages(body) == ["get_count() missing 1 required argument: 'doctype'"]


def test_annotated_arguments_are_checked_and_coerced(server, admin):
    todo(admin, "rpc-coerce")
    base = {"doctype": "ToDo", "fields": '["name", "status"]', "limit_page_length": "2"}
    rows = message(admin.get("/api/method/frappe.client.get_list", params={**base, "as_dict": "false"}))
    assert rows and all(isinstance(row, list) for row in rows)
    rows = message(admin.get("/api/method/frappe.client.get_list", params={**base, "as_dict": "True"}))
    assert rows and all(isinstance(row, dict) for row in rows)
    rows = message(admin.post("/api/method/frappe.client.get_list", json={**base, "as_dict": 0}))
    assert rows and all(isinstance(row, list) for row in rows)
    body = fails(admin.get("/api/method/frappe.client.get_list", params={**base, "as_dict": "maybe"}),
                 417, "FrappeTypeError")
    assert messages(body) == ["Argument 'as_dict' should be of type 'bool' but got 'str' instead."]
    r = admin.get("/api/method/frappe.client.get_count", params={"doctype": "ToDo", "debug": "1"})
    assert r.status_code == 200 and "_debug_messages" in r.json()
    # JSON bodies can carry any type: non-text where text is expected is refused, never a 500.
    body = fails(admin.post("/api/method/frappe.client.get_count", json={"doctype": {"a": 1}}),
                 417, "FrappeTypeError")
    assert messages(body) == ["Argument 'doctype' should be of type 'str' but got 'dict' instead."]
    fails(admin.post("/api/method/frappe.client.get_count", json={"doctype": None}), 417, "FrappeTypeError")
    fails(admin.post("/api/method/frappe.client.get_count", json={"doctype": ["ToDo"]}), 417, "FrappeTypeError")
    fails(admin.post("/api/method/frappe.client.rename_doc",
                     json={"doctype": "ToDo", "old_name": "a", "new_name": "b", "merge": "perhaps"}),
          417, "FrappeTypeError")


def test_stripped_arguments_never_reach_a_method(server, submittable, plain_user):
    usr, pwd = plain_user
    with server.client() as c:
        assert c.post("/api/method/login", json={"usr": usr, "pwd": pwd}).status_code == 200
        for extra in ({"ignore_permissions": 1}, {"flags": {"ignore_permissions": True}}):
            r = c.post("/api/method/frappe.client.insert",
                       json={"doc": {"doctype": submittable, "title": "sneaky"}, **extra})
            fails(r, 403, "PermissionError")


def test_cmd_in_the_arguments_selects_the_method(server, admin):
    # Frappe dispatches a cmd argument before any routing: it wins over the path.
    n = message(admin.post("/api/method/ping", json={"cmd": "frappe.client.get_count", "doctype": "ToDo"}))
    assert isinstance(n, int)


def test_none_result_has_no_message_key(server, admin):
    doc = todo(admin, "rpc-none-result")
    r = admin.post("/api/method/frappe.client.delete", data={"doctype": "ToDo", "name": doc["name"]})
    assert r.status_code == 200 and r.json() == {}
    r = admin.get("/api/method/frappe.client.get_value",
                  params={"doctype": "ToDo", "fieldname": "status", "filters": "no-such-todo", "as_dict": "0"})
    assert r.status_code == 200 and r.json() == {}


# --- legacy cmd= on / (FrappeClient, frappe-connector) -----------------------------------------------

def test_frappe_client_wire_protocol(server, submittable):
    """The calls FrappeClient makes, as recorded (10-real-client-traffic.md rows 3-43)."""
    with server.client() as c:
        r = c.post("/", data={"cmd": "login", "usr": "Administrator", "pwd": ADMIN_PASSWORD})
        assert message(r) == "Logged In"
        sid = r.cookies["sid"]
        assert message(c.get("/api/method/frappe.auth.get_logged_user/")) == "Administrator"

        created = c.post("/api/resource/ToDo", data={"data": json.dumps({"doctype": "ToDo",
                                                                          "description": "rpc-cmd set_value"})})
        name = created.json()["data"]["name"]
        value = message(c.get("/", params={"cmd": "frappe.client.get_value", "doctype": "ToDo",
                                           "fieldname": "status", "filters": json.dumps({"name": name})}))
        assert value == {"status": "Open"}
        doc = message(c.post("/", data={"cmd": "frappe.client.set_value", "doctype": "ToDo", "name": name,
                                        "fieldname": "priority", "value": "Low"}))
        assert doc["priority"] == "Low" and doc["name"] == name

        names = message(c.post("/", data={"cmd": "frappe.client.insert_many", "docs": json.dumps([
            {"doctype": "ToDo", "description": "rpc-cmd many 0"},
            {"doctype": "ToDo", "description": "rpc-cmd many 1"}])}))
        assert len(names) == 2 and all(c.get(f"/api/resource/ToDo/{n}").status_code == 200 for n in names)

        rows = message(c.get("/", params={"cmd": "frappe.client.get_list", "doctype": "ToDo",
                                          "fields": json.dumps(["name"]), "limit_page_length": 0,
                                          "filters": json.dumps([["description", "like", "rpc-cmd many%"]])}))
        assert sorted(r["name"] for r in rows) == sorted(names)
        assert message(c.get("/", params={"cmd": "frappe.client.get_count", "doctype": "ToDo",
                                          "filters": json.dumps([["description", "like", "rpc-cmd many%"]])})) == 2

        r = c.post("/", data={"cmd": "frappe.client.delete", "doctype": "ToDo", "name": names[0]})
        assert r.status_code == 200 and "exc" not in r.json()
        assert c.get(f"/api/resource/ToDo/{names[0]}").status_code == 404

        draft = c.post(f"/api/resource/{submittable}", data={"data": json.dumps(
            {"doctype": submittable, "title": "rpc-cmd submit"})}).json()["data"]
        submitted = message(c.post("/", data={"cmd": "frappe.client.submit", "doc": json.dumps(draft)}))
        assert submitted["docstatus"] == 1
        cancelled = message(c.post("/", data={"cmd": "frappe.client.cancel", "doctype": submittable,
                                              "name": draft["name"]}))
        assert cancelled["docstatus"] == 2

        assert c.get("/", params={"cmd": "logout"}).json() == {}
    # The session is gone on the server, not only from the client's cookies.
    with server.client() as other:
        r = other.get("/api/method/frappe.auth.get_logged_user", params={"sid": sid})
        fails(r, 403, "PermissionError")


def test_legacy_login_with_query_parameters(server):
    """FrappeClient's constructor: POST <url>?cmd=login&usr=…&pwd=… with a form content type."""
    with server.client() as c:
        r = c.post("/", params={"cmd": "login", "usr": "Administrator", "pwd": ADMIN_PASSWORD},
                   headers={"content-type": "application/x-www-form-urlencoded"})
        assert message(r) == "Logged In"
        assert message(c.get("/", params={"cmd": "frappe.auth.get_logged_user"})) == "Administrator"
        r = c.post("/", data={"cmd": "login", "usr": "Administrator", "pwd": "wrong"})
        fails(r, 401, "AuthenticationError")


def test_post_logout_also_ends_the_session(server):
    with server.client() as c:
        sid = c.post("/api/method/login", json={"usr": "Administrator", "pwd": ADMIN_PASSWORD}).cookies["sid"]
        assert c.post("/api/method/logout", json={}).json() == {}
    with server.client() as other:
        fails(other.get("/api/method/frappe.auth.get_logged_user", params={"sid": sid}), 403, "PermissionError")


# --- commit and rollback -------------------------------------------------------------------------------

def test_post_that_fails_after_writing_leaves_nothing(server, admin):
    marker = "rpc-atomic"
    docs = [{"doctype": "ToDo", "description": f"{marker} ok"},
            {"doctype": "ToDo", "description": f"{marker} bad", "status": "Not A Status"}]
    fails(admin.post("/api/method/frappe.client.insert_many", json={"docs": docs}), 417, "ValidationError")
    assert count(admin, marker) == 0
    fails(admin.post("/", data={"cmd": "frappe.client.insert_many", "docs": json.dumps(docs)}),
          417, "ValidationError")
    assert count(admin, marker) == 0
    names = message(admin.post("/api/method/frappe.client.insert_many", json={"docs": docs[:1]}))
    assert len(names) == 1 and count(admin, marker) == 1


# --- in-process: probes a built-in method cannot provide ---------------------------------------------

@whitelist("rpc_test.write_probe")
def _write_probe(call, description: str, fail: bool = False):
    from ristretto.exceptions import ValidationError
    from ristretto.model import document
    doc = document.insert(call.ctx, "ToDo", {"description": description})
    if fail:
        raise ValidationError("probe failed after writing")
    return doc.name


@pytest.fixture(scope="module")
def probe_app(server):
    from ristretto.api.app import App
    from ristretto.site import Site
    site = Site(server.site_dir)
    app = App(site)
    app.methods.add_module(SimpleNamespace(write_probe=_write_probe))
    yield app
    site.close()


def _handle(server, app, verb: str, path: str, query: str = "", body: Any = None):
    from ristretto.api.asgi import Request
    headers = [(b"authorization", f"token {server.api_key}:{server.api_secret}".encode())]
    raw = b""
    if body is not None:
        raw = json.dumps(body).encode()
        headers.append((b"content-type", b"application/json"))
    scope = {"type": "http", "method": verb, "path": path, "query_string": query.encode(),
             "headers": headers, "client": ("127.0.0.1", 1)}
    response = app.handle(Request(scope, raw))
    return response.status, json.loads(response.body or b"{}")


def test_get_runs_in_a_rolled_back_transaction(server, admin, probe_app):
    marker = "rpc-probe-get"
    status, body = _handle(server, probe_app, "GET", "/api/method/rpc_test.write_probe",
                           f"description={marker}")
    assert status == 200 and body["message"]
    assert not exists(admin, "ToDo", body["message"]) and count(admin, marker) == 0
    # the same through cmd on a route served without a transaction
    status, body = _handle(server, probe_app, "GET", "/api/resource/ToDo",
                           f"cmd=rpc_test.write_probe&description={marker}")
    assert status == 200 and count(admin, marker) == 0
    status, body = _handle(server, probe_app, "GET", "/", f"cmd=rpc_test.write_probe&description={marker}")
    assert status == 200 and count(admin, marker) == 0


def test_post_commits_and_an_error_rolls_back(server, admin, probe_app):
    marker = "rpc-probe-post"
    status, body = _handle(server, probe_app, "POST", "/api/method/rpc_test.write_probe",
                           body={"description": f"{marker} kept"})
    assert status == 200 and exists(admin, "ToDo", body["message"])
    status, body = _handle(server, probe_app, "POST", "/api/method/rpc_test.write_probe",
                           body={"description": f"{marker} failed", "fail": True})
    assert status == 417 and body["exc_type"] == "ValidationError"
    assert count(admin, f"{marker} failed") == 0
    status, body = _handle(server, probe_app, "PUT", "/api/method/rpc_test.write_probe",
                           body={"description": f"{marker} put", "fail": "no"})
    assert status == 200 and exists(admin, "ToDo", body["message"])
    status, body = _handle(server, probe_app, "POST", "/api/method/rpc_test.write_probe",
                           body={"description": marker, "fail": "sometimes"})
    assert status == 417 and body["exc_type"] == "FrappeTypeError"


# --- the registry itself (no server) ----------------------------------------------------------------------

def _method(fn, name: str = "t.fn", **options):
    registry = MethodRegistry()
    registry.add_module(SimpleNamespace(fn=whitelist(name, **options)(fn)))
    return registry.get(name)


def test_bind_coerces_annotated_parameters():
    def fn(call, n: int, flag: bool = False, opts: dict | None = None, items: list | None = None,
           ratio: float = 1.0, label: str | None = None, raw=None):
        return None

    m = _method(fn)
    kwargs = m.bind({"n": " 5 ", "flag": "Yes", "opts": '{"a": 1}', "items": "[1, 2]", "ratio": "0.5",
                     "label": 7, "raw": "[1]", "other": "dropped", "cmd": "x", "flags": "{}",
                     "ignore_permissions": "1", "sid": "s", "csrf_token": "t", "call": "not the call"})
    assert kwargs == {"n": 5, "flag": True, "opts": {"a": 1}, "items": [1, 2], "ratio": 0.5, "label": "7",
                      "raw": "[1]"}
    assert m.bind({"n": 3, "opts": None, "label": None}) == {"n": 3, "opts": None, "label": None}
    for bad in ({"n": "5.5"}, {"n": "five"}, {"n": None}, {"n": 1, "flag": "2"}, {"n": 1, "opts": "[1]"},
                {"n": 1, "items": "{bad json"}, {"n": 1, "label": {"x": 1}}):
        with pytest.raises(FrappeTypeError):
            m.bind(bad)
    with pytest.raises(FrappeTypeError, match=r"fn\(\) missing 1 required argument: 'n'"):
        m.bind({})


def test_bind_passes_everything_to_kwargs_functions_except_stripped():
    def fn(call, a, **kwargs):
        return None

    m = _method(fn)
    assert m.bind({"a": 1, "b": 2, "ignore_permissions": 1, "flags": {}, "cmd": "x"}) == {"a": 1, "b": 2}


def test_guest_arguments_are_sanitised_unless_xss_safe():
    def fn(call, text=None):
        return None

    m = _method(fn, allow_guest=True)
    assert m.bind({"text": "<script>alert(1)</script>"}, sanitize=True)["text"] == \
        "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert m.bind({"text": "plain & simple"}, sanitize=True)["text"] == "plain & simple"
    safe = _method(fn, "t.safe", allow_guest=True, xss_safe=True)
    assert safe.xss_safe and not m.xss_safe


def test_a_name_cannot_be_registered_twice():
    def one(call):
        return 1

    def two(call):
        return 2

    registry = MethodRegistry()
    registry.add_module(SimpleNamespace(one=whitelist("t.same")(one)))
    registry.add_module(SimpleNamespace(one=one))  # the same function again is harmless
    with pytest.raises(ValueError):
        registry.add_module(SimpleNamespace(two=whitelist("t.same")(two)))


def test_logout_commits_on_any_verb():
    from ristretto.api.methods import session
    registry = MethodRegistry()
    registry.add_module(session)
    assert registry.get("logout").commit and not registry.get("ping").commit
