"""Server tracebacks reach only Administrator and System Managers, and only while
``allow_error_traceback`` is on: in error bodies and in ``bulk_update``'s ``failed_docs``
(in process, SQLite: no storage is involved)."""

from __future__ import annotations

import json

import pytest

from tests.inprocess import InProcess, open_site, token_for

BULK = "/api/method/frappe.client.bulk_update"


@pytest.fixture(scope="module")
def app(request, tmp_path_factory):
    from ristretto.api.app import App
    from ristretto.site.install import add_user
    site = open_site(tmp_path_factory.mktemp("tracebacks"), "sqlite", request)
    add_user(site, "desk@example.com", None, [])
    add_user(site, "manager@example.com", None, ["System Manager"])
    yield site, App(site)
    site.close()


def bulk_failure(client: InProcess) -> str:
    """The ``exc`` of a bulk_update item that fails (a ToDo that does not exist)."""
    r = client.post(BULK, json={"docs": [{"doctype": "ToDo", "docname": "no-such-todo", "status": "Closed"}]})
    assert r.status_code == 200, r.text
    failed = r.json()["message"]["failed_docs"]
    assert len(failed) == 1, failed
    return failed[0]["exc"]


def error_body(client: InProcess, user: str) -> dict:
    """An error body of an ordinary failure (417)."""
    r = client.post("/api/resource/ToDo", json={"description": "x", "status": "Not a status", "allocated_to": user})
    assert r.status_code == 417, r.text
    return r.json()


@pytest.mark.parametrize("user", ["desk@example.com", "manager@example.com", "Administrator"])
def test_tracebacks_follow_one_rule(app, user):
    site, asgi = app
    client = InProcess(asgi, headers=token_for(site, user))
    shown = user != "desk@example.com"
    exc = bulk_failure(client)
    assert ("Traceback (most recent call last)" in exc) == shown, exc
    assert "DoesNotExistError" in exc
    assert ("exc" in error_body(client, user)) == shown
    site.config["allow_error_traceback"] = False
    try:
        exc = bulk_failure(client)
        assert "Traceback" not in exc and exc.startswith("DoesNotExistError: "), exc
        assert "exc" not in error_body(client, user)
    finally:
        site.config.pop("allow_error_traceback")


def test_unexpected_errors_show_no_details_to_ordinary_users(request, tmp_path_factory):
    """An error that is not one of Frappe's (a bug in an app's hook) leaves only its type to an
    ordinary user; a System Manager gets the traceback."""
    from ristretto.api.app import App
    from ristretto.model import document
    from ristretto.site.install import add_user, migrate
    tmp = tmp_path_factory.mktemp("boom")
    (tmp / "boom_app" / "doctypes").mkdir(parents=True)
    (tmp / "boom_app" / "__init__.py").write_text(
        "class BoomItem:\n"
        "    def validate(self, ctx, doc):\n"
        "        if doc.get('title') == 'boom':\n"
        "            raise RuntimeError('internal detail of tabBoom Item')\n"
        "\n"
        "controllers = {'Boom Item': BoomItem}\n")
    (tmp / "boom_app" / "doctypes" / "boom_item.json").write_text(json.dumps({
        "doctype": "DocType", "name": "Boom Item", "module": "Boom", "autoname": "hash",
        "fields": [{"fieldname": "title", "fieldtype": "Data", "label": "Title"}],
        "permissions": [{"role": "All", "read": 1, "write": 1, "create": 1}]}))
    site = open_site(tmp, "sqlite", request, apps=["boom_app"], app_paths=[str(tmp)])
    try:
        migrate(site)
        add_user(site, "desk@example.com", None, [])
        add_user(site, "manager@example.com", None, ["System Manager"])
        with site.admin() as ctx:
            name = document.insert(ctx, "Boom Item", {"title": "fine"}).name
        asgi = App(site)
        docs = {"docs": [{"doctype": "Boom Item", "docname": name, "title": "boom"}]}
        r = InProcess(asgi, headers=token_for(site, "desk@example.com")).post(BULK, json=docs)
        assert r.status_code == 200, r.text
        exc = r.json()["message"]["failed_docs"][0]["exc"]
        assert exc.startswith("RuntimeError: ") and "internal detail" not in exc and "Traceback" not in exc, exc
        r = InProcess(asgi, headers=token_for(site, "manager@example.com")).post(BULK, json=docs)
        exc = r.json()["message"]["failed_docs"][0]["exc"]
        assert "Traceback" in exc and "internal detail of tabBoom Item" in exc, exc
    finally:
        site.close()
