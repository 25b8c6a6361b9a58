"""Every v1 rule holds on API v2 unchanged, because both call the same model: role rights on
every route, permission levels on every answer, CSRF on cookie sessions, and v1 and v2 answering
the same rows to the same user. In process, on both databases."""

from __future__ import annotations

import pytest

from tests.api.v2world import build, v2_error
from tests.conftest import ADMIN_PASSWORD, BACKENDS
from tests.scenario import ABSENT, Scenario, scenarios
from tests.inprocess import InProcess

L = "/api/v2/document/Gadget"
D = "/api/v2/doctype/Gadget"


@pytest.fixture(scope="module", params=BACKENDS)
def world(request, tmp_path_factory):
    w = build(tmp_path_factory.mktemp(f"v2perms-{request.param}"), request.param, request)
    for title in ("user-patch", "user-del", "level-write"):
        w.gadget(title, secret="kept")
    yield w
    w.close()


def denied(body):
    return v2_error("PermissionError")(body)


RIGHTS = [
    *[Scenario(f"{who}: {what}", verb, url, json=body, user=who, status=403, expect=denied)
      for who in ("outsider", "guest")
      for what, verb, url, body in (
          ("list", "GET", L, None), ("read", "GET", L + "/g-1/", None), ("count", "GET", D + "/count", None),
          ("meta", "GET", D + "/meta", None), ("search", "GET", D + "/search", None),
          ("insert", "POST", L, {"title": "nope"}), ("update", "PATCH", L + "/g-1/", {"qty": 0}),
          ("delete", "DELETE", L + "/g-1/", None), ("method GET", "GET", L + "/g-1/method/describe/", None))],
    # Bulk items are refused one by one, each by the model's own check.
    *[Scenario(f"{who}: bulk {kind} items", "POST", f"{L}/bulk_{kind}", user=who, json=body,
               expect={"data": {"success_count": 0, "failed": [{"name": "g-1", "error": lambda e: "ermission" in e}]}})
      for who in ("outsider", "guest", "reader")
      for kind, body in (("update", {"docs": [{"name": "g-1", "qty": 0}]}), ("delete", {"names": ["g-1"]}))],
    Scenario("outsider: a missing document is 403 too (no existence leak)", "GET", L + "/nope/", user="outsider",
             status=403, expect=denied),
    Scenario("reader: list", "GET", L, user="reader", params={"fields": ["name"], "limit": 1},
             expect={"data": [{"name": lambda n: True}], "has_next_page": True}),
    Scenario("reader: read", "GET", L + "/g-1/", user="reader", expect={"data": {"name": "g-1"}}),
    Scenario("reader: update", "PATCH", L + "/g-1/", user="reader", json={"qty": 0}, status=403, expect=denied,
             hooks=["transform_input"]),
    Scenario("reader: delete", "DELETE", L + "/g-1/", user="reader", status=403, expect=denied, hooks=[]),
    Scenario("reader: insert", "POST", L, user="reader", json={"title": "r-1"}, status=403, expect=denied),
    Scenario("reader: method GET needs read", "GET", L + "/g-1/method/describe/", user="reader",
             expect={"data": "g-1:Open"}),
    Scenario("reader: method POST needs write", "POST", L + "/g-1/method/describe/", user="reader",
             status=403, expect=denied),
    Scenario("user: update", "PATCH", L + "/user-patch/", user="user", json={"qty": 5},
             expect={"data": {"qty": 5}}),
    Scenario("user: delete", "DELETE", L + "/user-del/", user="user", status=202, expect={"data": "ok"}),
]

LEVELS = [
    Scenario("read hides a level-1 field", "GET", L + "/g-1/", user="user",
             expect={"data": {"name": "g-1", "qty": 1, "secret": ABSENT}}),
    Scenario("read shows it to the level's role", "GET", L + "/g-1/", user="manager",
             expect={"data": {"secret": "s1"}}),
    Scenario("list of every field hides it", "GET", L, user="user",
             params={"fields": ["*"], "filters": {"name": "g-1"}},
             expect={"data": [{"name": "g-1", "secret": ABSENT}]}),
    Scenario("update answer hides it, the write is put back", "PATCH", L + "/level-write/", user="user",
             json={"secret": "changed", "qty": 3}, expect={"data": {"qty": 3, "secret": ABSENT}}),
    Scenario("method docs hide it", "GET", L + "/g-1/method/describe/", user="user",
             expect={"docs": [{"name": "g-1", "secret": ABSENT}]}),
    Scenario("meta hides it", "GET", D + "/meta", user="user",
             expect={"data": {"fields": lambda fs: "secret" not in {f["fieldname"] for f in fs}}}),
]


@scenarios(*RIGHTS)
def test_rights(world, scenario):
    scenario.run(world)


@scenarios(*LEVELS)
def test_permission_levels(world, scenario):
    scenario.run(world)


def test_an_unreadable_field_in_a_filter_reveals_nothing(world):
    user = world["user"]
    hit = user.get(D + "/count", params={"filters": '{"secret": "s1"}'})
    miss = user.get(D + "/count", params={"filters": '{"secret": "no such value"}'})
    # Refused, or answered without telling a matching value from a missing one.
    assert hit.status_code == miss.status_code
    assert hit.status_code != 200 or hit.json() == miss.json()


def test_a_write_at_a_level_the_user_lacks_is_put_back(world):
    world.gadget("level-put-back", secret="kept", qty=1)
    r = world["user"].request("PATCH", L + "/level-put-back/", json={"secret": "changed", "qty": 3})
    assert r.status_code == 200, r.text
    stored = world["manager"].get(L + "/level-put-back/").json()["data"]
    assert stored["qty"] == 3 and stored["secret"] == "kept"


@pytest.mark.parametrize("who", ["admin", "user", "reader", "manager"])
def test_v1_and_v2_answer_the_same_rows_and_counts(world, who):
    client = world[who]
    params = {"fields": '["name", "qty", "status"]', "order_by": "name asc", "filters": '[["qty", "<", 5]]'}
    v1 = client.get("/api/resource/Gadget", params={**params, "limit_page_length": "0"}).json()["data"]
    v2 = client.get(L, params={**params, "limit": "100"}).json()["data"]
    assert v1 == v2 and v1
    count = client.get("/api/method/frappe.client.get_count",
                       params={"doctype": "Gadget", "filters": params["filters"]}).json()["message"]
    assert client.get(D + "/count", params={"filters": params["filters"]}).json() == {"data": count}
    for name in ("g-1", "g-2"):
        assert client.get(f"/api/resource/Gadget/{name}").json()["data"] == \
            {k: v for k, v in client.get(f"{L}/{name}/").json()["data"].items() if v is not None}


def _cookie_session(world) -> tuple[InProcess, str]:
    client = InProcess(world.app)
    r = client.post("/api/v2/method/login", json={"usr": "Administrator", "pwd": ADMIN_PASSWORD})
    assert r.status_code == 200, r.text
    r = client.post("/api/v2/method/frappe.sessions.get_csrf_token")
    assert r.status_code == 200, r.text
    return client, r.json()["data"]


@pytest.mark.parametrize("verb,url,body", [
    ("POST", L, {"title": "csrf-1"}),
    ("PATCH", L + "/g-1/", {"qty": 11}),
    ("DELETE", L + "/g-2/", None),
    ("POST", L + "/g-1/method/close/", {}),
    ("POST", "/api/v2/method/run_doc_method", {"method": "close", "document": {"doctype": "Gadget", "name": "g-1"}}),
    ("POST", L + "/bulk_delete", {"names": ["g-3"]}),
    ("POST", "/api/v2/method/logout", {}),
])
def test_csrf_on_cookie_sessions(world, verb, url, body):
    """A cookie session that holds a CSRF token must send it on every unsafe v2 request."""
    client, token = _cookie_session(world)
    kw = {"json": body} if body is not None else {}
    r = client.request(verb, url, **kw)
    assert r.status_code == 400, r.text
    assert v2_error("CSRFTokenError")(r.json())
    assert "exception" not in r.json()["errors"][0]
    # Nothing was written.
    admin = world["admin"]
    assert admin.get(L + "/csrf-1/").status_code == 404
    assert admin.get(L + "/g-1/").json()["data"]["status"] == "Open"
    for name in ("g-2", "g-3"):
        assert admin.get(f"{L}/{name}/").status_code == 200
    # With the token the request goes through (reads never need it).
    assert client.get(L + "/g-1/").status_code == 200
    r = client.request(verb, url, headers={"X-Frappe-CSRF-Token": token}, **kw)
    assert r.status_code in (200, 202), r.text
    # Put back what the request changed, for the next case.
    for i in (2, 3):
        if admin.get(f"{L}/g-{i}/").status_code == 404:
            world.gadget(f"g-{i}", qty=i, status="Closed" if i == 2 else "Open", secret=f"s{i}",
                         parts=[{"code": f"p{i}", "qty": i}])
    assert admin.request("PATCH", L + "/g-1/", json={"qty": 1, "status": "Open"}).status_code == 200
    if admin.get(L + "/csrf-1/").status_code == 200:
        assert admin.delete(L + "/csrf-1/").status_code == 202
