"""Server errors schemathesis found through ``/api/openapi.json`` on PostgreSQL, each now a clear
417 on both databases (in process).

* A decimal just below 10^12 (``999999999999.9999``) passed the range check, but PostgreSQL makes
  a decimal of a float through its 15 significant digits (``1000000000000``), which
  ``numeric(21,9)`` cannot hold: "numeric field overflow" (500), in a document or a child row.
* Saving a DocType creates the Roles its permission rows name and its Module Def, before the
  rows' own values are checked: a name of more than 140 characters reached PostgreSQL's
  ``varchar(140)`` name column (500); SQLite stored it. And two saves creating the same Role at
  once (schemathesis runs two workers): the second hit the unique name on PostgreSQL (500).
* A DocType with documents (Role) could be made Single or Virtual; the next DocType save naming a
  role then failed (500, both databases).
"""

from __future__ import annotations

import pytest

from tests.conftest import BACKENDS
from tests.inprocess import InProcess, open_site, token_for

LONG = "r" * 141


@pytest.fixture(scope="module", params=BACKENDS)
def admin(request, tmp_path_factory):
    from ristretto.api.app import App
    site = open_site(tmp_path_factory.mktemp(f"findings-{request.param}"), request.param, request)
    client = InProcess(App(site), headers=token_for(site, "Administrator"))
    for body in ({"name": "Measure Row", "istable": 1, "fields": [
                     {"fieldname": "amount", "fieldtype": "Currency", "label": "Amount"}]},
                 {"name": "Measure", "autoname": "hash", "fields": [
                     {"fieldname": "amount", "fieldtype": "Float", "label": "Amount"},
                     {"fieldname": "rows", "fieldtype": "Table", "options": "Measure Row", "label": "Rows"}]}):
        r = client.post("/api/resource/DocType", json={"module": "Custom", "custom": 1, **body})
        assert r.status_code == 200, r.text
    yield client
    site.close()


@pytest.mark.parametrize("body", [{"amount": 999999999999.9999}, {"rows": [{"amount": 999999999999.9999}]},
                                  {"amount": "-999999999999.99999"}], ids=["field", "child row", "text"])
def test_a_decimal_that_rounds_to_13_digits_is_refused(admin, body):
    r = admin.post("/api/v2/document/Measure", json=body)
    assert r.status_code == 417, r.text
    assert "out of range" in r.text


def test_the_largest_decimals_that_fit_are_kept(admin):
    r = admin.post("/api/v2/document/Measure", json={"amount": 999999999999.99, "rows": [{"amount": -999999999999.5}]})
    assert r.status_code == 200, r.text
    doc = admin.get(f"/api/v2/document/Measure/{r.json()['data']['name']}").json()["data"]
    assert doc["amount"] == 999999999999.99 and doc["rows"][0]["amount"] == -999999999999.5


@pytest.mark.parametrize("body", [
    {"permissions": [{"role": LONG, "read": 1}]},
    {"module": LONG},
], ids=["role", "module"])
def test_a_doctype_naming_a_role_or_module_too_long_is_refused(admin, body):
    r = admin.post("/api/resource/DocType", json={"name": "Long Names", "custom": 1, "module": "Custom",
                                                  "fields": [{"fieldname": "t", "fieldtype": "Data", "label": "T"}],
                                                  **body})
    assert r.status_code == 417, r.text
    assert "max characters allowed is 140" in r.text
    assert admin.get(f"/api/resource/Role/{LONG}").status_code == 404
    assert admin.get("/api/resource/DocType/Long Names").status_code == 404


def test_two_doctypes_creating_the_same_role_at_once_both_save(admin):
    """Each DocType's save looks for the Role, finds none and creates it; on PostgreSQL the second
    waited for the first's commit and then hit the unique name (500). Both now save."""
    import threading

    from ristretto.model import document
    site = admin.site
    if site.db.dialect.name == "sqlite":
        pytest.skip("SQLite serialises writers (one connection per process): the race cannot happen")
    a_wrote, b_started = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def body(name: str) -> dict:
        return {"name": name, "module": "Custom", "custom": 1, "permissions": [{"role": "Race Role", "read": 1}],
                "fields": [{"fieldname": "t", "fieldtype": "Data", "label": "T"}]}

    def first() -> None:
        try:
            with site.db.connect() as conn, conn.transaction(write=True):
                document.insert(site.context(conn), "DocType", body("Race A"), name="Race A")
                a_wrote.set()
                b_started.wait(10)
                threading.Event().wait(0.3)  # the second is blocked on the Role's name by now
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)
            a_wrote.set()

    thread = threading.Thread(target=first)
    thread.start()
    assert a_wrote.wait(20)
    with site.db.connect() as conn:
        b_started.set()
        with conn.transaction(write=True):
            document.insert(site.context(conn), "DocType", body("Race B"), name="Race B")
    thread.join(20)
    assert errors == []
    assert admin.get("/api/resource/Role/Race Role").status_code == 200
    for name in ("Race A", "Race B"):
        assert admin.get(f"/api/resource/DocType/{name}").status_code == 200


@pytest.mark.parametrize("field", ["issingle", "is_virtual"])
def test_a_doctype_with_documents_cannot_become_single_or_virtual(admin, field):
    """Role (it has documents) turned Single was accepted; the next save of a DocType naming a
    role then found no Role and failed to insert it again (500)."""
    r = admin.patch("/api/v2/document/DocType/Role", json={field: 1})
    assert r.status_code == 417, r.text
    assert "Role has documents" in r.text
    r = admin.put("/api/resource/DocType/Measure", json={"permissions": [{"role": "System Manager", "read": 1}]})
    assert r.status_code == 200, r.text
    assert admin.get("/api/resource/Role/System Manager").status_code == 200
    # a DocType without documents may still become one
    empty = f"Empty {field}"
    r = admin.post("/api/resource/DocType", json={"name": empty, "module": "Custom", "custom": 1,
                                                  "fields": [{"fieldname": "t", "fieldtype": "Data", "label": "T"}]})
    assert r.status_code == 200, r.text
    assert admin.patch(f"/api/v2/document/DocType/{empty}", json={field: 1}).status_code == 200
