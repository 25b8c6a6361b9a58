"""``/api/openapi.json`` describes the API as each caller may use it (in process, both databases).

``Gadget`` (child table ``Gadget Part``) is readable by the role Gadget Reader (read only) and
writable by Gadget Maker, who also holds permission level 1 (the ``secret_note`` field and the
child rows' ``cost``). ``Vault`` is readable only by a role nobody here holds. The description
each user gets must leave out what they may not do, and validate as OpenAPI 3.1.
"""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate

from tests.conftest import BACKENDS
from tests.inprocess import InProcess, open_site, token_for

READER, MAKER = "reader@example.com", "maker@example.com"
# DocPerm rows default to write, create and delete (as in Frappe): a read-only row says so.
GADGET_PERMS = [{"role": "Gadget Reader", "read": 1, "write": 0, "create": 0, "delete": 0},
                {"role": "Gadget Maker", "read": 1, "write": 1, "create": 1, "delete": 1},
                {"role": "Gadget Maker", "permlevel": 1, "read": 1, "write": 1}]
DOC = "/api/v2/document/Gadget"


@pytest.fixture(scope="module", params=BACKENDS)
def world(request, tmp_path_factory):
    from ristretto.api.app import App
    from ristretto.site.install import add_user
    site = open_site(tmp_path_factory.mktemp(f"openapi-{request.param}"), request.param, request)
    app = App(site)
    admin = InProcess(app, headers=token_for(site, "Administrator"))
    for role in ("Gadget Reader", "Gadget Maker", "Vault Keeper"):
        assert admin.post("/api/resource/Role", json={"role_name": role}).status_code == 200
    for body in (
        {"name": "Gadget Part", "istable": 1, "fields": [
            {"fieldname": "code", "fieldtype": "Data", "label": "Code", "reqd": 1},
            {"fieldname": "cost", "fieldtype": "Currency", "label": "Cost", "permlevel": 1}]},
        {"name": "Gadget", "autoname": "hash", "permissions": GADGET_PERMS, "fields": [
            {"fieldname": "title", "fieldtype": "Data", "label": "Title", "reqd": 1},
            {"fieldname": "kind", "fieldtype": "Select", "label": "Kind", "options": "Small\nLarge"},
            {"fieldname": "weight", "fieldtype": "Float", "label": "Weight"},
            {"fieldname": "made_on", "fieldtype": "Date", "label": "Made On"},
            {"fieldname": "active", "fieldtype": "Check", "label": "Active"},
            {"fieldname": "secret_note", "fieldtype": "Data", "label": "Secret Note", "permlevel": 1},
            {"fieldname": "parts", "fieldtype": "Table", "options": "Gadget Part", "label": "Parts"}]},
        {"name": "Vault", "permissions": [{"role": "Vault Keeper", "read": 1, "write": 1, "create": 1}],
         "fields": [{"fieldname": "content", "fieldtype": "Data", "label": "Content"}]},
    ):
        r = admin.post("/api/resource/DocType", json={"module": "Custom", "custom": 1, **body})
        assert r.status_code == 200, r.text
    add_user(site, READER, None, ["Gadget Reader"])
    add_user(site, MAKER, None, ["Gadget Maker"])
    clients = {user: InProcess(app, headers=token_for(site, user)) for user in (READER, MAKER)}
    clients["Administrator"] = admin
    clients["Guest"] = InProcess(app)
    yield app, clients
    site.close()


def _spec(world, user: str) -> dict:
    r = world[1][user].get("/api/openapi.json")
    assert r.status_code == 200, r.text
    spec = r.json()
    validate(spec)  # OpenAPI 3.1, every caller's description
    return spec


def _schema(spec: dict, ref: dict) -> dict:
    return spec["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]]


def test_a_reader_gets_reads_only_and_no_field_above_their_level(world):
    spec = _spec(world, READER)
    paths = spec["paths"]
    assert set(paths[DOC]) == {"get"}, paths[DOC].get("post", {}).get("summary")
    assert set(paths[DOC + "/{name}"]) == {"get"}
    for path, ops in paths.items():
        assert "Vault" not in path
        # every v2 route of Gadget is a read (a document's methods need only read, as in Frappe)
        if path.startswith(DOC) and not path.endswith("/method/{method}"):
            assert set(ops) == {"get"}, path
    assert not any(k.startswith("Gadget.") for k in spec["components"]["schemas"]), "no write schemas"
    rows = paths[DOC]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    gadget = _schema(spec, rows["properties"]["data"]["items"])
    assert {"title", "kind", "parts", "name", "modified"} <= set(gadget["properties"])
    assert "secret_note" not in gadget["properties"]
    part = gadget["properties"]["parts"]["items"]["properties"]
    assert "code" in part and "cost" not in part


def test_a_maker_gets_writes_typed_schemas_and_level_one_fields(world):
    spec = _spec(world, MAKER)
    paths = spec["paths"]
    assert {"get", "post"} <= set(paths[DOC])
    assert {"get", "put", "patch", "delete"} <= set(paths[DOC + "/{name}"])
    assert {"get", "post", "put", "delete"} <= set(paths["/api/resource/Gadget/{name}"])
    new = _schema(spec, paths[DOC]["post"]["requestBody"]["content"]["application/json"]["schema"])
    assert new["required"] == ["title"]
    props = new["properties"]
    assert props["kind"]["enum"] == ["", "Small", "Large", None]
    assert props["weight"]["type"] == ["number", "null"]
    assert props["active"]["enum"] == [0, 1, None] and props["made_on"]["format"] == "date"
    assert spec["components"]["schemas"]["Gadget"]["properties"]["active"]["enum"] == [0, 1]  # as read
    assert "secret_note" in props
    assert props["parts"]["type"] == "array"
    assert props["parts"]["items"]["required"] == ["code"] and "cost" in props["parts"]["items"]["properties"]
    assert not any("Vault" in p for p in paths)


def test_administrator_sees_every_doctype(world):
    paths = _spec(world, "Administrator")["paths"]
    assert "/api/v2/document/Vault" in paths and "/api/v2/document/Gadget" in paths
    assert "/api/v2/document/Gadget%20Part" not in paths  # child tables only through their parent


def test_guests_see_only_methods_that_allow_guests(world):
    app, clients = world
    spec = _spec(world, "Guest")
    names = [p.rsplit("/", 1)[1] for p in spec["paths"] if p.startswith("/api/method/")]
    assert "ping" in names and "login" in names
    for name in names:
        method = app.methods.get(name)
        assert method is None or method.allow_guest, name  # None: a route of its own (login)
    assert "frappe.client.get_list" not in names
    # v2's own logout route answers POST only; the generic method route does not add a GET
    assert set(spec["paths"]["/api/v2/method/logout"]) == {"post"}
    assert not any("/document/" in p or "/resource/" in p for p in spec["paths"])
    # a logged-in user may call every method
    assert "/api/method/frappe.client.get_list" in _spec(world, READER)["paths"]


def test_security_schemes_name_every_way_to_authenticate(world):
    schemes = _spec(world, READER)["components"]["securitySchemes"]
    assert schemes["token"] == {"type": "apiKey", "in": "header", "name": "Authorization",
                                "description": schemes["token"]["description"]}
    assert schemes["basic"]["scheme"] == "basic" and schemes["bearer"]["scheme"] == "bearer"
    flow = schemes["oauth2"]["flows"]["authorizationCode"]
    assert flow["tokenUrl"] == "/api/method/frappe.integrations.oauth2.get_token"
    assert schemes["session"] == {**schemes["session"], "in": "cookie", "name": "sid"}


def test_a_new_field_appears_at_once(world):
    """Descriptions are cached per metadata version: a change to a DocType is seen at once."""
    clients = world[1]
    before = _spec(world, MAKER)
    assert "colour" not in before["components"]["schemas"]["Gadget"]["properties"]
    r = clients["Administrator"].post("/api/method/frappe.client.insert", json={"doc": {
        "doctype": "Custom Field", "dt": "Gadget", "fieldname": "colour", "fieldtype": "Data", "label": "Colour"}})
    if r.status_code != 200:  # no Custom Field DocType: change the DocType itself
        meta = clients["Administrator"].get("/api/resource/DocType/Gadget").json()["data"]
        meta["fields"].append({"fieldname": "colour", "fieldtype": "Data", "label": "Colour"})
        r = clients["Administrator"].put("/api/resource/DocType/Gadget", json={"fields": meta["fields"]})
    assert r.status_code == 200, r.text
    after = _spec(world, MAKER)
    assert "colour" in after["components"]["schemas"]["Gadget"]["properties"]


def test_switched_off_by_site_config(world):
    app, clients = world
    app.site.config["openapi"] = False
    try:
        assert clients[READER].get("/api/openapi.json").status_code == 404
        assert clients[READER].get("/api/docs").status_code == 404
    finally:
        app.site.config.pop("openapi")
    assert clients[READER].get("/api/openapi.json").status_code == 200


def _described(world, user: str, extra: list) -> dict:
    """The description over the route table plus ``extra`` routes (as another module adds them)."""
    from ristretto.api import routes
    from ristretto.api.openapi.generate import describe
    from ristretto.api.routing import Router
    app, _ = world
    site = app.site
    with site.db.connect() as conn:
        roles = frozenset({"All", "Gadget Reader"}) if user == READER else frozenset({"Administrator", "All"})
        ctx = site.context(conn, user=user, roles=roles, perms=app.policy)
        return describe(ctx, Router([*routes.router().routes, *extra]), app.methods)


def test_routes_added_to_the_table_are_described_without_changing_the_generator(world):
    from ristretto.api.openapi.specs import Spec
    from ristretto.api.routing import route

    def feed(call):
        """Changes after a cursor."""

    def history(call, doctype, name):
        """Versions of a document."""
    history.openapi = Spec("Versions of a document", "read", result="docs")

    extra = [route("/api/v2/feed/{topic}", "GET", feed, api="v2"),
             route("/api/v2/document/{doctype}/{name:path}/history", "GET", history, api="v2")]
    spec = _described(world, READER, extra)
    validate(spec)
    feed_op = spec["paths"]["/api/v2/feed/{topic}"]["get"]
    assert feed_op["summary"] == "Changes after a cursor." and feed_op["parameters"][0]["name"] == "topic"
    assert "get" in spec["paths"][DOC + "/{name}/history"]
    assert "/api/v2/document/Vault/{name}/history" not in spec["paths"]  # per DocType, by rights
    assert "/api/v2/document/Vault/{name}/history" in _described(world, "Administrator", extra)["paths"]


def test_the_change_feed_stream_and_batch_are_described_precisely(world):
    spec = _spec(world, READER)
    validate(spec)
    feed = spec["paths"]["/api/v2/changes"]["get"]
    assert {p["name"] for p in feed["parameters"]} == {"since", "doctype", "limit", "include_docs"}
    page = feed["responses"]["200"]["content"]["application/json"]["schema"]
    assert page["required"] == ["data", "next_cursor", "has_next_page"]
    assert "delete" in page["properties"]["data"]["items"]["properties"]["action"]["enum"]
    stream = spec["paths"]["/api/v2/stream"]["get"]
    assert list(stream["responses"]["200"]["content"]) == ["text/event-stream"]
    assert "last_event_id" in {p["name"] for p in stream["parameters"]}
    body = spec["paths"]["/api/v2/batch"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["requests"] and body["properties"]["requests"]["type"] == "array"
    guest = _spec(world, "Guest")["paths"]
    assert not {"/api/v2/changes", "/api/v2/stream", "/api/v2/batch"} & set(guest)


def test_the_docs_page_and_its_files_come_from_this_site_only(world):
    import re
    import tomllib
    from fnmatch import fnmatch
    from pathlib import Path

    from ristretto.api.openapi import views
    client = world[1]["Guest"]
    r = client.get("/api/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe" not in csp
    assets = re.findall(r'(?:src|href)="(/assets/ristretto/openapi/[^"]+)"', r.text)
    assert len(assets) == 2, r.text
    for url in assets:
        a = client.get(url.replace("&amp;", "&"))
        assert a.status_code == 200 and a.headers["content-type"].split(";")[0] in ("text/javascript", "text/css")
        # nothing fetched from another host: no absolute URL in the page's files
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", a.text), url
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", r.text)
    assert client.get("/assets/ristretto/openapi/../views.py").status_code == 404
    assert client.get("/assets/ristretto/openapi/nothing.js").status_code == 404
    # the files ship in the package
    root = Path(views.__file__).resolve().parents[4]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["ristretto"]
    for path in views.STATIC.iterdir():
        rel = path.relative_to(root / "src" / "ristretto").as_posix()
        assert any(fnmatch(rel, p) and rel.count("/") == p.count("/") for p in patterns), rel
