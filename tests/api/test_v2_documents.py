"""API v2 document routes as scenario tables: list (paging, filters, arguments), insert, read,
update (PATCH/PUT), delete, document methods and the per-DocType bulk routes. In process, on
both databases."""

from __future__ import annotations

import pytest

from tests.api.v2world import build, v2_error
from tests.conftest import BACKENDS
from tests.scenario import ABSENT, Scenario, scenarios

L = "/api/v2/document/Gadget"


@pytest.fixture(scope="module", params=BACKENDS)
def world(request, tmp_path_factory):
    w = build(tmp_path_factory.mktemp(f"v2docs-{request.param}"), request.param, request)
    for title in ("slash/read", "put-me", "patch-me", "patch-stale", "del-me", "del-slash/x", "close-me", "touch-me",
                  "bulk-a", "bulk-b", "bulk-c", "bulk-d"):
        w.gadget(title, status="Open", qty=1)
    yield w
    w.close()


def names(*expected: str):
    return lambda body: [row["name"] for row in body["data"]] == list(expected)


# The hooks Gadget's controller receives (tests/scenario.py's Recorder). ``autoname`` is not
# asked when the name is given; a refused update is refused after ``transform_input``.
INSERT_HOOKS = ["transform_input", "before_insert", "validate", "before_save", "after_insert", "on_update"]
SAVE_HOOKS = ["transform_input", "validate", "before_save", "on_update"]
ASC = {"order_by": "qty asc", "fields": ["name"], "filters": [["title", "like", "g-%"]]}

LIST = [
    Scenario("page 1 of 3", "GET", L, params={**ASC, "limit": 2},
             expect={"data": [{"name": "g-1"}, {"name": "g-2"}], "has_next_page": True}),
    Scenario("page 3 is the last", "GET", L, params={**ASC, "limit": 2, "start": 4},
             expect={"data": [{"name": "g-5"}, {"name": "g-6"}], "has_next_page": False}),
    Scenario("v1 paging aliases", "GET", L, params={**ASC, "limit_page_length": 2, "limit_start": 2},
             expect={"data": [{"name": "g-3"}, {"name": "g-4"}], "has_next_page": True}),
    Scenario("trailing slash", "GET", L + "/", params={**ASC, "limit": 1}, expect=names("g-1")),
    Scenario("every row of a short list", "GET", L, params={"fields": ["name"], "filters": [["title", "like", "g-%"]]},
             expect=lambda b: len(b["data"]) == 6 and b["has_next_page"] is False),
    Scenario("filters as a dict", "GET", L, params={**ASC, "filters": {"status": "Closed", "title": ["like", "g-%"]}},
             expect=names("g-2", "g-4", "g-6")),
    Scenario("filters as lists", "GET", L, params={**ASC, "filters": [["qty", ">", 4], ["title", "like", "g-%"]]},
             expect=names("g-5", "g-6")),
    Scenario("filters as 4-element lists", "GET", L,
             params={**ASC, "filters": [["Gadget", "qty", "<=", 2], ["Gadget", "title", "like", "g-%"]]},
             expect=names("g-1", "g-2")),
    Scenario("or_filters", "GET", L, params={**ASC, "or_filters": [["qty", "=", 1], ["qty", "=", 6]]},
             expect=names("g-1", "g-6")),
    Scenario("order_by desc", "GET", L, params={**ASC, "order_by": "qty desc", "limit": 2},
             expect=names("g-6", "g-5")),
    Scenario("group_by", "GET", L, params={"fields": ["status", "count(name) as n"], "group_by": "status",
                                           "order_by": "status asc", "filters": [["title", "like", "g-%"]]},
             expect={"data": [{"status": "Closed", "n": 3}, {"status": "Open", "n": 3}]}),
    Scenario("as_dict=0 gives rows as lists", "GET", L, params={**ASC, "as_dict": "0", "limit": 1},
             expect={"data": [["g-1"]], "has_next_page": True}),
    Scenario("include=count", "GET", L, params={**ASC, "limit": 1, "include": "count"},
             expect={"data": [{"name": "g-1"}], "count": 6, "count_capped": False}),
    Scenario("debug adds the query", "GET", L, params={**ASC, "limit": 1, "debug": "1"},
             expect={"debug": lambda d: any("SELECT" in e["message"] for e in d)}),
    Scenario("QUERY verb is a read with a JSON body", "QUERY", L, json={**ASC, "limit": 1},
             expect={"data": [{"name": "g-1"}], "has_next_page": True}),
    Scenario("fields must be a list", "GET", L, params={"fields": {"a": 1}}, status=417,
             expect=v2_error("FrappeValueError", "'fields' must be a list")),
    Scenario("filters must be a list or dict", "GET", L, params={"filters": "5"}, status=417,
             expect=v2_error("FrappeValueError", "'filters' must be a list or dictionary")),
    Scenario("order_by must be a string", "QUERY", L, json={"order_by": ["qty"]}, status=417,
             expect=v2_error("FrappeValueError", "'order_by' must be a string")),
    Scenario("bad JSON", "GET", L, params={"fields": "[name"}, status=417, expect=v2_error("DataError")),
    Scenario("negative limit", "GET", L, params={"limit": "-1"}, status=417, expect=v2_error("ValidationError")),
    Scenario("unknown include part", "GET", L, params={"include": "everything"}, status=417,
             expect=v2_error("FrappeValueError", "Unknown include part")),
    Scenario("a child DocType through its parent", "GET", "/api/v2/document/Gadget Part",
             params={"parent": "Gadget", "fields": ["code", "parent"], "filters": {"code": "p3"}},
             expect={"data": [{"code": "p3", "parent": "g-3"}], "has_next_page": False}),
    Scenario("a child DocType without its parent", "GET", "/api/v2/document/Gadget Part", status=403,
             expect=v2_error("PermissionError", "valid parent DocType")),
    Scenario("unknown DocType", "GET", "/api/v2/document/No Such Thing", status=404,
             expect=v2_error("DoesNotExistError")),
    Scenario("POST on the list verb table is insert; PATCH is 405", "PATCH", L, status=405),
]

DOCS = [
    Scenario("insert with the name as given", "POST", L + "/", json={"name": "given-name", "title": "t-given"},
             expect={"data": {"name": "given-name", "title": "t-given", "related": None, "doctype": "Gadget"}},
             hooks=INSERT_HOOKS),
    Scenario("insert runs the model's validation", "POST", L, json={"title": "bad", "status": "Nope"},
             status=417, expect=v2_error("ValidationError"), hooks=["transform_input", "before_insert", "autoname", "validate"]),
    Scenario("insert a duplicate", "POST", L, json={"title": "g-1"}, status=409,
             expect=v2_error("DuplicateEntryError")),
    Scenario("read with trailing slash", "GET", L + "/g-2/",
             expect={"data": {"name": "g-2", "qty": 2, "secret": "s2", "related": None,
                              "parts": [{"code": "p2", "qty": 2}]}}),
    Scenario("read without trailing slash", "GET", L + "/g-2", expect={"data": {"name": "g-2"}}),
    Scenario("read a name with an encoded slash", "GET", L + "/slash%2Fread/", expect={"data": {"name": "slash/read"}}),
    Scenario("DocType with an encoded space", "GET", "/api/v2/document/Gadget%20Order", expect={"data": []}),
    Scenario("read a missing document", "GET", L + "/nope/", status=404,
             expect=lambda b: v2_error("DoesNotExistError", "not found")(b) and "exception" not in b["errors"][0]),
    Scenario("PATCH is partial", "PATCH", L + "/patch-me/", json={"qty": 42},
             expect={"data": {"name": "patch-me", "qty": 42, "status": "Open"}}, hooks=SAVE_HOOKS),
    Scenario("PUT is partial too", "PUT", L + "/put-me/", json={"status": "Closed"},
             expect={"data": {"name": "put-me", "qty": 1, "status": "Closed"}}, hooks=SAVE_HOOKS),
    Scenario("update with a stale modified", "PATCH", L + "/patch-stale/",
             json={"qty": 5, "modified": "2001-01-01 00:00:00"}, status=417,
             expect=v2_error("TimestampMismatchError"), hooks=["transform_input"]),
    Scenario("update a missing document", "PATCH", L + "/nope/", json={"qty": 1}, status=404,
             expect=v2_error("DoesNotExistError")),
    Scenario("delete answers 202", "DELETE", L + "/del-me/", status=202, expect={"data": "ok"},
             hooks=["on_trash", "after_delete"]),
    Scenario("delete a name with a slash", "DELETE", L + "/del-slash/x/", status=202, expect={"data": "ok"}),
    Scenario("delete a missing document", "DELETE", L + "/nope/", status=404,
             expect=lambda b: v2_error("DoesNotExistError")(b) and "exception" not in b["errors"][0]),
    Scenario("document method GET", "GET", L + "/g-1/method/describe/", params={"suffix": "!"},
             expect={"data": "g-1:Open!", "docs": [{"name": "g-1", "doctype": "Gadget"}]}, hooks=[]),
    Scenario("document method POST without trailing slash", "POST", L + "/g-3/method/describe",
             json={"suffix": "?"}, expect={"data": "g-3:Open?"}),
    Scenario("document method changing the document", "POST", L + "/close-me/method/close/",
             expect={"data": ABSENT, "docs": [{"name": "close-me", "status": "Closed"}]}, hooks=SAVE_HOOKS),
    Scenario("a method not allowed on GET", "GET", L + "/g-1/method/close/", status=403,
             expect=v2_error("PermissionError")),
    Scenario("a method that is not whitelisted", "POST", L + "/g-1/method/hidden/", status=403,
             expect=v2_error("PermissionError")),
    Scenario("a hook is not a method", "POST", L + "/g-1/method/validate/", status=403,
             expect=v2_error("PermissionError")),
    Scenario("method of a missing document", "POST", L + "/nope/method/describe/", status=404,
             expect=v2_error("DoesNotExistError")),
    Scenario("DELETE on a method path names a document (none here)", "DELETE", L + "/g-1/method/describe/",
             status=404, expect=v2_error("DoesNotExistError", "g-1/method/describe not found")),
]

BULK = [
    Scenario("bulk_update per DocType", "POST", L + "/bulk_update",
             json={"docs": [{"name": "bulk-a", "qty": 7}, {"name": "nope", "qty": 1}, "junk"]},
             expect={"data": {"updated": ["bulk-a"], "total": 3, "success_count": 1, "failure_count": 2,
                              "failed": [{"name": "nope", "error": lambda e: "not found" in e},
                                         {"name": "junk", "error": lambda e: "dictionary" in e}]},
                     "docs": [{"name": "bulk-a", "qty": 7}]}, hooks=SAVE_HOOKS + ["transform_input"]),
    Scenario("bulk_delete per DocType", "POST", L + "/bulk_delete/", json={"names": ["bulk-b", "nope", 5]},
             expect={"data": {"deleted": ["bulk-b"], "total": 3, "failure_count": 2}}),
    Scenario("bulk_delete names must be a list", "POST", L + "/bulk_delete", json={"names": "bulk-c"},
             status=417, expect=v2_error("FrappeValueError", "'names' must be a list")),
    Scenario("bulk_update docs must be a list", "POST", L + "/bulk_update", json={"docs": {"name": "bulk-c"}},
             status=417, expect=v2_error("FrappeValueError", "'docs' must be a list")),
    Scenario("PUT on a bulk path updates a document of that name", "PUT", L + "/bulk_delete",
             json={"names": []}, status=404, expect=v2_error("DoesNotExistError", "Gadget bulk_delete not found")),
    Scenario("bulk_delete across DocTypes", "POST", "/api/v2/method/bulk_delete",
             json={"docs": [{"doctype": "Gadget", "name": "bulk-c"}, {"doctype": 5, "name": "x"}]},
             expect={"data": {"deleted": [{"doctype": "Gadget", "name": "bulk-c"}],
                              "failed": [{"doctype": None, "name": "x", "error": "'doctype' must be a string"}]}}),
    Scenario("bulk_update across DocTypes", "POST", "/api/v2/method/bulk_update/",
             json={"docs": [{"doctype": "Gadget", "name": "bulk-d", "qty": 3}]},
             expect={"data": {"updated": [{"doctype": "Gadget", "name": "bulk-d"}]}, "docs": [{"qty": 3}]}),
    Scenario("method-level bulk routes are POST only", "GET", "/api/v2/method/bulk_delete", status=403),
]


@scenarios(*LIST)
def test_list(world, scenario):
    scenario.run(world)


@scenarios(*DOCS)
def test_documents(world, scenario):
    scenario.run(world)


@scenarios(*BULK)
def test_bulk(world, scenario):
    scenario.run(world)


def test_the_default_page_is_20_rows(world):
    for i in range(22):
        world.gadget(f"dflt-{i:02d}")
    r = world["admin"].get(L, params={"filters": '[["title", "like", "dflt-%"]]', "order_by": "title asc"})
    body = r.json()
    assert [row["name"] for row in body["data"]] == [f"dflt-{i:02d}" for i in range(20)]
    assert body["has_next_page"] is True


def test_insert_update_delete_are_stored(world):
    """Read back through v1: the v2 writes went through the same model."""
    admin = world["admin"]
    assert admin.post(L, json={"name": "stored-1", "title": "stored-1", "qty": 1}).status_code == 200
    assert admin.request("PATCH", L + "/stored-1/", json={"qty": 8}).status_code == 200
    assert admin.get("/api/resource/Gadget/stored-1").json()["data"]["qty"] == 8
    assert admin.delete(L + "/stored-1/").status_code == 202
    assert admin.get("/api/resource/Gadget/stored-1").status_code == 404


def test_a_failed_bulk_item_leaves_nothing_behind(world):
    """A failing item rolls back alone: the good ones around it are kept."""
    world.gadget("bulk-atomic", qty=1)
    r = world["admin"].post(L + "/bulk_update", json={"docs": [
        {"name": "bulk-atomic", "qty": 2}, {"name": "bulk-atomic", "qty": 3, "status": "Nope"}]})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["success_count"] == 1
    stored = world["admin"].get(L + "/bulk-atomic").json()["data"]
    assert stored["qty"] == 2 and stored["status"] != "Nope"


def test_a_get_method_never_writes(world):
    r = world["admin"].get(L + "/touch-me/method/touch/")
    assert r.status_code == 200 and r.json()["data"] == "touched", r.text
    assert world["admin"].get(L + "/touch-me").json()["data"]["qty"] == 1


def test_child_row_delete_and_update_go_through_the_parent(world):
    admin = world["admin"]
    parent = world.gadget("with-parts", parts=[{"code": "a", "qty": 1}, {"code": "b", "qty": 2}])
    first, second = (row["name"] for row in parent["parts"])
    r = admin.request("PATCH", f"/api/v2/document/Gadget Part/{second}/", json={"qty": 9})
    assert r.status_code == 200 and r.json()["data"]["qty"] == 9, r.text
    r = admin.delete(f"/api/v2/document/Gadget Part/{first}/")
    assert r.status_code == 202 and r.json() == {"data": "ok"}, r.text
    parts = admin.get(L + "/with-parts").json()["data"]["parts"]
    assert [(p["code"], p["qty"]) for p in parts] == [("b", 9)]


def test_submit_and_cancel_through_the_document_method_route(world):
    admin = world["manager"]
    r = admin.post("/api/v2/document/Gadget Order", json={"title": "order-1"})
    assert r.status_code == 200, r.text
    r = admin.post("/api/v2/document/Gadget Order/order-1/method/submit/")
    assert r.status_code == 200, r.text
    assert r.json()["docs"][0]["docstatus"] == 1
    r = admin.delete("/api/v2/document/Gadget Order/order-1/")
    assert r.status_code == 417 and r.json()["errors"][0]["type"] == "ValidationError", r.text
    r = admin.post("/api/v2/document/Gadget Order/order-1/method/cancel/")
    assert r.status_code == 200 and r.json()["docs"][0]["docstatus"] == 2, r.text
    # The user role has no submit right: refused by the model.
    r = world["user"].post("/api/v2/document/Gadget Order", json={"title": "order-2"})
    assert r.status_code == 200, r.text
    r = world["user"].post("/api/v2/document/Gadget Order/order-2/method/submit/")
    assert r.status_code == 403 and r.json()["errors"][0]["type"] == "PermissionError", r.text


def test_large_pages_stream_and_still_know_the_next_page(world, monkeypatch):
    """Above the streaming threshold the rows are streamed (chunked, like v1), and
    ``has_next_page`` (which follows the rows) is still right."""
    from ristretto.model import listing
    monkeypatch.setattr(listing, "STREAM_ABOVE", 2)
    admin = world["admin"]
    for start, expected, more in ((0, ["g-1", "g-2", "g-3", "g-4"], True), (4, ["g-5", "g-6"], False)):
        r = admin.get(L, params={"fields": '["name"]', "filters": '[["title","like","g-%"]]',
                                 "order_by": "qty asc", "limit": "4", "start": str(start), "debug": "1"})
        assert r.status_code == 200, r.text
        assert "content-length" not in r.headers  # chunked: the stream, not a materialised list
        body = r.json()
        assert [row["name"] for row in body["data"]] == expected
        assert body["has_next_page"] is more
        assert any("SELECT" in e["message"] for e in body["debug"])


def test_conditional_requests(world):
    """ETag on reads and writes, 304 on If-None-Match, 412 on a stale If-Match, on v2 as on v1."""
    admin = world["admin"]
    world.gadget("etag-1", qty=1, status="Open")
    r = admin.get(L + "/etag-1/")
    tag = r.headers["etag"]
    assert r.status_code == 200 and tag.startswith('"')
    assert admin.get("/api/resource/Gadget/etag-1").headers["etag"] == tag  # one tag per version
    r = admin.get(L + "/etag-1/", headers={"If-None-Match": tag})
    assert r.status_code == 304 and r.content == b"" and r.headers["etag"] == tag
    # Two clients holding the same tag: the first write wins, the second is refused.
    first = admin.request("PATCH", L + "/etag-1/", json={"qty": 2}, headers={"If-Match": tag})
    assert first.status_code == 200, first.text
    new_tag = first.headers["etag"]
    assert new_tag != tag
    second = world["manager"].request("PATCH", L + "/etag-1/", json={"qty": 3}, headers={"If-Match": tag})
    assert second.status_code == 412
    assert v2_error("PreconditionFailedError")(second.json())
    for verb, url, body in (("PUT", L + "/etag-1/", {"qty": 4}), ("DELETE", L + "/etag-1/", None),
                            ("POST", L + "/etag-1/method/close/", {})):
        kw = {"json": body} if body is not None else {}
        r = admin.request(verb, url, headers={"If-Match": tag}, **kw)
        assert r.status_code == 412 and r.json()["errors"][0]["type"] == "PreconditionFailedError", (verb, r.text)
    stored = admin.get(L + "/etag-1/")
    assert stored.json()["data"]["qty"] == 2 and stored.json()["data"]["status"] == "Open"
    r = admin.post(L + "/etag-1/method/close/", headers={"If-Match": new_tag})
    assert r.status_code == 200, r.text
    r = admin.delete(L + "/etag-1/", headers={"If-Match": admin.get(L + "/etag-1/").headers["etag"]})
    assert r.status_code == 202, r.text
    r = admin.post(L, json={"title": "etag-2"})
    assert r.status_code == 200 and r.headers["etag"] == admin.get(L + "/etag-2/").headers["etag"]


def test_a_link_to_an_autoincrement_name_reads_as_text(world):
    """v2 reads give Link values as text even when the linked DocType's names are integers (Frappe
    converts them on v2 reads; here they are stored as text)."""
    admin = world["admin"]
    for body in ({"name": "Counter Thing", "autoname": "autoincrement",
                  "fields": [{"fieldname": "label", "fieldtype": "Data", "label": "Label"}]},
                 {"name": "Counter Ref", "autoname": "hash",
                  "fields": [{"fieldname": "thing", "fieldtype": "Link", "label": "Thing", "options": "Counter Thing"}]}):
        r = admin.post("/api/resource/DocType", json={"module": "Custom", "custom": 1, **body})
        assert r.status_code == 200, r.text
    thing = admin.post("/api/v2/document/Counter Thing", json={"label": "one"}).json()["data"]
    assert isinstance(thing["name"], int)
    ref = admin.post("/api/v2/document/Counter Ref", json={"thing": thing["name"]})
    assert ref.status_code == 200, ref.text
    name = ref.json()["data"]["name"]
    assert ref.json()["data"]["thing"] == str(thing["name"])
    assert admin.get(f"/api/v2/document/Counter Ref/{name}/").json()["data"]["thing"] == str(thing["name"])
