"""Password fields over HTTP on both databases: encrypted outside the row, masked everywhere.

The clear value must never be in the document's row, in ``__Auth`` or in any answer
(read, list ``*``, ``get_value``, ``frappe.client.get``, Version records); filters,
sorts and groups on a Password field are refused; ``frappe.client.get_password``
decrypts for System Managers only. The database is read directly to check the rows.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from ristretto.model import passwords
from ristretto.site import Site
from tests.http import ok, url

LINE = "PW Line"
VAULT = "PW Vault"
SETTINGS = "PW Settings"
SUBMITTED = "PW Submitted"
SM_PERMS = [{"role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1}]
READER_PERMS = [{"role": "PW Reader", "read": 1, "write": 1, "create": 1}]


def rpc(client, method: str, verb: str = "GET", **kw):
    return client.request(verb, f"/api/method/frappe.client.{method}", **kw)


def message(r) -> Any:
    assert r.status_code == 200, f"{r.request.method} {r.request.url} -> {r.status_code}: {r.text[:1500]}"
    return r.json().get("message")


def db_rows(server, sql: str, params=()) -> list[tuple]:
    site = Site(server.site_dir)
    try:
        with site.db.connect() as conn:
            return conn.sql(sql, params)
    finally:
        site.close()


def auth_rows(server, doctype: str, name: Any = None) -> list[tuple]:
    sql = 'SELECT name, fieldname, password, encrypted FROM "__Auth" WHERE doctype = ?'
    params: list = [doctype]
    if name is not None:
        sql += " AND name = ?"
        params.append(str(name))
    return db_rows(server, sql, params)


def stored_secret(server, doctype: str, name: Any, fieldname: str) -> str | None:
    """The decrypted value held in ``__Auth`` (decrypted here with the site's key)."""
    rows = [r for r in auth_rows(server, doctype, name) if r[1] == fieldname]
    if not rows:
        return None
    assert rows[0][3] == 1
    key = json.loads((server.site_dir / "site_config.json").read_text())["encryption_key"]
    return passwords.decrypt(rows[0][2], key)


def assert_nowhere(server, clear: str) -> None:
    """No row of the test DocTypes, of ``__Auth`` or of Version holds the clear value."""
    for table in (f"tab{VAULT}", f"tab{LINE}", "__Auth", "tabVersion", "tabSingles"):
        cols = [c for (c,) in db_rows(server, "SELECT column_name FROM information_schema.columns "
                                              "WHERE table_name = ?", (table,))] \
            if server.backend == "postgres" else [r[1] for r in db_rows(server, f'PRAGMA table_info("{table}")')]
        for row in db_rows(server, f'SELECT * FROM "{table}"'):
            assert not any(clear in str(v) for v in row), f"{clear!r} found in {table}: {dict(zip(cols, row))}"


@pytest.fixture(scope="module")
def doctypes(server):
    definitions = [
        {"name": LINE, "istable": 1, "permissions": [],
         "fields": [{"fieldname": "label", "fieldtype": "Data", "label": "Label"},
                    {"fieldname": "pin", "fieldtype": "Password", "label": "PIN"}]},
        {"name": VAULT, "allow_rename": 1, "track_changes": 1, "permissions": SM_PERMS + READER_PERMS,
         "fields": [{"fieldname": "title", "fieldtype": "Data", "label": "Title"},
                    {"fieldname": "secret", "fieldtype": "Password", "label": "Secret"},
                    {"fieldname": "lines", "fieldtype": "Table", "label": "Lines", "options": LINE}]},
        {"name": SUBMITTED, "is_submittable": 1,
         "permissions": [{**SM_PERMS[0], "submit": 1, "cancel": 1}],
         "fields": [{"fieldname": "title", "fieldtype": "Data", "label": "Title", "allow_on_submit": 1},
                    {"fieldname": "secret", "fieldtype": "Password", "label": "Secret"}]},
        {"name": SETTINGS, "issingle": 1, "permissions": SM_PERMS,
         "fields": [{"fieldname": "site_title", "fieldtype": "Data", "label": "Site Title"},
                    {"fieldname": "api_token", "fieldtype": "Password", "label": "API Token"}]},
    ]
    with server.admin() as admin:
        for d in definitions:
            body = {"module": "Custom", "custom": 1, **d}
            body.setdefault("permissions", SM_PERMS)
            ok(admin.post(url("DocType"), json=body))
    return VAULT


@pytest.fixture(scope="module")
def reader(server, doctypes):
    """A logged-in user who may read and write the vault but is no System Manager."""
    server.cli("add-user", "pw-reader@example.com", "--password", "pw-reader-pw-1", "--roles", "PW Reader")
    with server.client() as c:
        r = c.post("/api/method/login", json={"usr": "pw-reader@example.com", "pwd": "pw-reader-pw-1"})
        assert r.status_code == 200, r.text
        yield c


def new_vault(admin, title: str, secret: str | None = None, pin: str = "") -> dict:
    body: dict = {"title": title, "lines": [{"label": "a", "pin": pin}] if pin else []}
    if secret is not None:
        body["secret"] = secret
    return ok(admin.post(url(VAULT), json=body))


def test_reads_and_lists_show_only_a_mask(server, admin, doctypes):
    clear, pin = "hunter2-read-Zq9", "pin-4711-read"
    created = new_vault(admin, "read", clear, pin)
    name = created["name"]
    assert created["secret"] == "*" * len(clear)
    assert created["lines"][0]["pin"] == "*" * len(pin)
    doc = ok(admin.get(url(VAULT, name)))
    assert doc["secret"] == "*" * len(clear) and doc["lines"][0]["pin"] == "*" * len(pin)
    rows = ok(admin.get(url(VAULT), params={"fields": '["*"]', "filters": json.dumps({"name": name})}))
    assert rows == [{**rows[0], "secret": "*" * len(clear)}]
    rows = ok(admin.get(url(VAULT), params={"fields": '["secret", "lines.pin"]',
                                            "filters": json.dumps({"name": name})}))
    assert rows == [{"secret": "*" * len(clear), "pin": "*" * len(pin)}]
    value = message(rpc(admin, "get_value", params={"doctype": VAULT, "fieldname": "secret", "filters": name}))
    assert value == {"secret": "*" * len(clear)}
    got = message(rpc(admin, "get", params={"doctype": VAULT, "name": name}))
    assert got["secret"] == "*" * len(clear) and got["lines"][0]["pin"] == "*" * len(pin)
    # The rows hold the masks; the store holds the values, encrypted.
    assert db_rows(server, f'SELECT secret FROM "tab{VAULT}" WHERE name = ?', (name,)) == [("*" * len(clear),)]
    assert db_rows(server, f'SELECT pin FROM "tab{LINE}" WHERE parent = ?', (name,)) == [("*" * len(pin),)]
    assert stored_secret(server, VAULT, name, "secret") == clear
    assert stored_secret(server, LINE, created["lines"][0]["name"], "pin") == pin
    assert_nowhere(server, clear)
    assert_nowhere(server, pin)


@pytest.mark.parametrize("params", [
    {"filters": json.dumps([["secret", "=", "x"]])},
    {"filters": json.dumps({"secret": ["like", "h%"]})},
    {"or_filters": json.dumps([["secret", ">", "h"], ["title", "=", "x"]])},
    {"filters": json.dumps([["lines.pin", "=", "x"]])},
    {"filters": json.dumps([[LINE, "pin", "like", "p%"]])},
    {"filters": json.dumps([["pin", "=", "x"]])},  # a child field named without its table
    {"order_by": "secret desc"},
    {"order_by": "title asc, `tabPW Vault`.secret"},
    {"order_by": "max(secret) desc", "fields": '["title"]', "group_by": "title"},
    {"group_by": "secret", "fields": '["count(name)"]'},
])
def test_filters_sorts_and_groups_on_a_password_field_are_refused(server, admin, doctypes, params):
    r = admin.get(url(VAULT), params=params)
    assert r.status_code == 417, r.text
    assert "Password field" in r.text and ("secret" in r.text or "pin" in r.text)


def test_filters_refused_on_every_route(server, admin, doctypes):
    name = new_vault(admin, "routes")["name"]
    for method, params in [
        ("get_list", {"doctype": VAULT, "filters": json.dumps({"secret": "x"})}),
        ("get_count", {"doctype": VAULT, "filters": json.dumps({"secret": "x"})}),
        ("get_value", {"doctype": VAULT, "fieldname": "title", "filters": json.dumps({"secret": "x"})}),
        ("get", {"doctype": VAULT, "filters": json.dumps({"secret": "x"})}),
        ("get_value", {"doctype": SETTINGS, "fieldname": "site_title", "filters": json.dumps({"api_token": "x"})}),
    ]:
        r = rpc(admin, method, params=params)
        assert r.status_code == 417 and "Password field" in r.text, (method, r.status_code, r.text[:500])
    assert message(rpc(admin, "get_value", params={"doctype": VAULT, "fieldname": "title", "filters": name}))


def test_get_password_is_for_system_managers_only(server, admin, reader, doctypes):
    created = new_vault(admin, "gp", "hunter2-gp-7", "pin-gp-7")
    name, row = created["name"], created["lines"][0]["name"]
    ask = lambda c, dt, n, f: rpc(c, "get_password", params={"doctype": dt, "name": n, "fieldname": f})  # noqa: E731
    assert message(ask(admin, VAULT, name, "secret")) == "hunter2-gp-7"
    assert message(ask(admin, LINE, row, "pin")) == "pin-gp-7"
    # The reader may read the document (and sees the mask) but may not decrypt.
    assert ok(reader.get(url(VAULT, name)))["secret"] == "*" * len("hunter2-gp-7")
    r = ask(reader, VAULT, name, "secret")
    assert r.status_code == 403 and r.json()["exc_type"] == "PermissionError"
    assert "hunter2-gp-7" not in r.text
    with server.client() as guest:
        assert ask(guest, VAULT, name, "secret").status_code == 403
    assert ask(admin, VAULT, name, "title").status_code == 417  # not a Password field
    assert ask(admin, VAULT, "no-such-vault", "secret").status_code == 404


def test_update_with_the_mask_keeps_a_new_value_changes_empty_clears(server, admin, doctypes):
    created = new_vault(admin, "upd", "hunter2-first", "pin-first")
    name, row = created["name"], created["lines"][0]
    # The document as read, sent back whole (masks included): nothing secret changes.
    doc = ok(admin.get(url(VAULT, name)))
    saved = message(rpc(admin, "save", "POST", json={"doc": {**doc, "title": "upd 2"}}))
    assert saved["title"] == "upd 2" and saved["secret"] == "*" * len("hunter2-first")
    ok(admin.put(url(VAULT, name), json={"secret": "*****", "lines": [dict(row)]}))
    assert stored_secret(server, VAULT, name, "secret") == "hunter2-first"
    assert stored_secret(server, LINE, row["name"], "pin") == "pin-first"
    # A new value replaces the stored one (REST, set_value, a child row through its parent).
    ok(admin.put(url(VAULT, name), json={"secret": "hunter2-second"}))
    assert stored_secret(server, VAULT, name, "secret") == "hunter2-second"
    message(rpc(admin, "set_value", "POST", json={"doctype": VAULT, "name": name, "fieldname": "secret",
                                                  "value": "hunter2-third"}))
    assert stored_secret(server, VAULT, name, "secret") == "hunter2-third"
    ok(admin.put(url(LINE, row["name"]), json={"pin": "pin-second"}))
    assert stored_secret(server, LINE, row["name"], "pin") == "pin-second"
    # An empty value clears the secret.
    ok(admin.put(url(VAULT, name), json={"secret": ""}))
    assert stored_secret(server, VAULT, name, "secret") is None
    r = rpc(admin, "get_password", params={"doctype": VAULT, "name": name, "fieldname": "secret"})
    assert r.status_code == 417
    # A row removed from the table takes its secret with it.
    ok(admin.put(url(VAULT, name), json={"lines": []}))
    assert auth_rows(server, LINE, row["name"]) == []
    for clear in ("hunter2-first", "hunter2-second", "hunter2-third", "pin-first", "pin-second"):
        assert_nowhere(server, clear)


def test_every_write_path_encrypts(server, admin, doctypes):
    names = message(rpc(admin, "insert_many", "POST", json={"docs": [
        {"doctype": VAULT, "title": "many 1", "secret": "hunter2-many-1"},
        {"doctype": VAULT, "title": "many 2", "secret": "hunter2-many-2",
         "lines": [{"label": "x", "pin": "pin-many-2"}]}]}))
    inserted = message(rpc(admin, "insert", "POST", json={"doc": {"doctype": VAULT, "title": "ins",
                                                                  "secret": "hunter2-insert"}}))
    assert inserted["secret"] == "*" * len("hunter2-insert")
    result = message(rpc(admin, "bulk_update", "POST", json={"docs": [
        {"doctype": VAULT, "docname": names[0], "secret": "hunter2-bulk"}]}))
    assert result == {"failed_docs": []}
    appended = message(rpc(admin, "insert", "POST", json={"doc": {
        "doctype": LINE, "parenttype": VAULT, "parent": names[0], "parentfield": "lines",
        "label": "appended", "pin": "pin-appended"}}))
    assert all(r["pin"] == "*" * len(r["pin"]) for r in appended["lines"])
    ok(admin.put(url(SETTINGS, SETTINGS), json={"site_title": "s", "api_token": "token-single-1"}))
    assert ok(admin.get(url(SETTINGS, SETTINGS)))["api_token"] == "*" * len("token-single-1")
    assert message(rpc(admin, "get_single_value", params={"doctype": SETTINGS, "field": "api_token"})) \
        == "*" * len("token-single-1")
    assert message(rpc(admin, "get_password", params={"doctype": SETTINGS, "name": SETTINGS,
                                                      "fieldname": "api_token"})) == "token-single-1"
    assert stored_secret(server, VAULT, names[0], "secret") == "hunter2-bulk"
    assert stored_secret(server, VAULT, names[1], "secret") == "hunter2-many-2"
    for clear in ("hunter2-many-1", "hunter2-many-2", "pin-many-2", "hunter2-insert", "hunter2-bulk",
                  "pin-appended", "token-single-1"):
        assert_nowhere(server, clear)


def test_delete_and_rename_carry_the_secret(server, admin, doctypes):
    created = new_vault(admin, "del", "hunter2-del", "pin-del")
    name, row = created["name"], created["lines"][0]["name"]
    assert auth_rows(server, VAULT, name) and auth_rows(server, LINE, row)
    r = admin.delete(url(VAULT, name))
    assert r.status_code in (200, 202), r.text
    assert auth_rows(server, VAULT, name) == [] and auth_rows(server, LINE, row) == []

    name = new_vault(admin, "ren", "hunter2-ren")["name"]
    new_name = f"renamed-{name}"
    message(rpc(admin, "rename_doc", "POST", json={"doctype": VAULT, "old_name": name, "new_name": new_name}))
    assert auth_rows(server, VAULT, name) == []
    assert stored_secret(server, VAULT, new_name, "secret") == "hunter2-ren"
    assert message(rpc(admin, "get_password", params={"doctype": VAULT, "name": new_name,
                                                      "fieldname": "secret"})) == "hunter2-ren"


def test_versions_never_record_the_clear_value(server, admin, doctypes):
    name = new_vault(admin, "ver", "hunter2-v1", "pin-v1")["name"]
    doc = ok(admin.get(url(VAULT, name)))
    ok(admin.put(url(VAULT, name), json={"title": "ver 2", "secret": "hunter2-version-two",
                                         "lines": [{**doc["lines"][0], "pin": "pin-version-two"},
                                                   {"label": "added", "pin": "pin-added-row"}]}))
    versions = ok(admin.get(url("Version"), params={"fields": '["data"]',
                                                    "filters": json.dumps({"ref_doctype": VAULT, "docname": name})}))
    assert versions, "the save was not tracked"
    text = json.dumps(versions)
    assert "ver 2" in text
    for clear in ("hunter2-v1", "hunter2-version-two", "pin-v1", "pin-version-two", "pin-added-row"):
        assert clear not in text
        assert_nowhere(server, clear)


def test_errors_never_carry_the_clear_value(server, admin, doctypes):
    doc = ok(admin.post(url(SUBMITTED), json={"title": "t", "secret": "hunter2-submitted", "docstatus": 1}))
    assert doc["docstatus"] == 1 and doc["secret"] == "*" * len("hunter2-submitted")
    # The mask sent back is no change; a new value is refused without echoing either value.
    ok(admin.put(url(SUBMITTED, doc["name"]), json={"title": "t2", "secret": doc["secret"]}))
    r = admin.put(url(SUBMITTED, doc["name"]), json={"secret": "hunter2-changed-after"})
    assert r.status_code == 417 and r.json()["exc_type"] == "UpdateAfterSubmitError", r.text
    assert "hunter2-changed-after" not in r.text and "Secret" in r.text
    assert stored_secret(server, SUBMITTED, doc["name"], "secret") == "hunter2-submitted"
