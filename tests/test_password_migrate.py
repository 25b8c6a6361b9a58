"""``ristretto migrate`` on a site made before Password fields were encrypted (both databases).

The old site is simulated: no ``encryption_key`` in its configuration, ``__Auth``
without its ``encrypted`` column, clear values in the rows of a DocType, a child
table and a Single. Migrate must add the key and the column, move every clear value
into the encrypted store and mask the rows, leave masks alone, and change nothing
when run a second time.
"""

from __future__ import annotations

import json

import pytest

from ristretto.exceptions import PermissionError
from ristretto.model import document, passwords
from ristretto.site import Site
from ristretto.site.install import migrate

LINE = "Old Line"
VAULT = "Old Vault"
SETTINGS = "Old Settings"


def _definitions() -> list[dict]:
    return [
        {"name": LINE, "module": "Custom", "custom": 1, "istable": 1,
         "fields": [{"fieldname": "pin", "fieldtype": "Password", "label": "PIN"}]},
        {"name": VAULT, "module": "Custom", "custom": 1,
         "fields": [{"fieldname": "title", "fieldtype": "Data", "label": "Title"},
                    {"fieldname": "secret", "fieldtype": "Password", "label": "Secret"},
                    {"fieldname": "lines", "fieldtype": "Table", "label": "Lines", "options": LINE}]},
        {"name": SETTINGS, "module": "Custom", "custom": 1, "issingle": 1,
         "fields": [{"fieldname": "token", "fieldtype": "Password", "label": "Token"}]},
    ]


def _snapshot(conn) -> dict:
    return {
        "vault": sorted(conn.sql(f'SELECT name, secret FROM "tab{VAULT}"')),
        "lines": sorted(conn.sql(f'SELECT name, pin FROM "tab{LINE}"')),
        "single": conn.sql('SELECT value FROM "tabSingles" WHERE doctype = ? AND field = ?', (SETTINGS, "token")),
        "auth": sorted(conn.sql('SELECT doctype, name, fieldname, password, encrypted FROM "__Auth"')),
    }


@pytest.fixture
def old_site(site_dir):
    """A site with clear values in its Password columns, as an older version left it."""
    site = Site(site_dir)
    with site.admin() as ctx:
        for d in _definitions():
            document.insert(ctx, "DocType", {k: v for k, v in d.items() if k != "name"}, name=d["name"],
                            force_name=True)
    with site.admin() as ctx:
        document.insert(ctx, VAULT, {"title": "a", "lines": [{"pin": "x"}, {"pin": "y"}]}, name="a", force_name=True)
        document.insert(ctx, VAULT, {"title": "b"}, name="b", force_name=True)
        document.insert(ctx, VAULT, {"title": "kept"}, name="kept", force_name=True)
        document.save_single(ctx, SETTINGS, {})
        db = ctx.db
        db.execute(f'UPDATE "tab{VAULT}" SET secret = ? WHERE name = ?', ("clear-vault-a1", "a"))
        db.execute(f'UPDATE "tab{VAULT}" SET secret = ? WHERE name = ?', ("", "b"))
        db.execute(f'UPDATE "tab{VAULT}" SET secret = ? WHERE name = ?', ("*******", "kept"))
        for i, (name,) in enumerate(db.sql(f'SELECT name FROM "tab{LINE}" ORDER BY idx')):
            db.execute(f'UPDATE "tab{LINE}" SET pin = ? WHERE name = ?', (f"clear-line-pin-{i}", name))
        db.execute('UPDATE "tabSingles" SET value = ? WHERE doctype = ? AND field = ?',
                   ("clear-single-token", SETTINGS, "token"))
        db.execute('DELETE FROM "__Auth" WHERE encrypted = 1')
        db.execute('ALTER TABLE "__Auth" DROP COLUMN encrypted')
    site.config.pop("encryption_key")
    config_path = site_dir / "site_config.json"
    config = json.loads(config_path.read_text())
    del config["encryption_key"]
    config_path.write_text(json.dumps(config))
    site.close()
    yield site_dir


def test_migrate_encrypts_existing_clear_values_once(old_site):
    site_dir = old_site
    site = Site(site_dir)
    try:
        migrate(site)
        key = json.loads((site_dir / "site_config.json").read_text())["encryption_key"]
        assert key and key == site.config["encryption_key"]
        with site.db.connect() as conn:
            first = _snapshot(conn)
        assert first["vault"] == [("a", "*" * len("clear-vault-a1")), ("b", ""), ("kept", "*******")]
        assert sorted(v for _, v in first["lines"]) == ["*" * len("clear-line-pin-0")] * 2
        assert first["single"] == [("*" * len("clear-single-token"),)]
        text = json.dumps(first)
        for clear in ("clear-vault-a1", "clear-line-pin-0", "clear-line-pin-1", "clear-single-token"):
            assert clear not in text
        encrypted = {(d, n, f): (p, e) for d, n, f, p, e in first["auth"]}
        assert all(e == 1 for (d, _, _), (_, e) in encrypted.items() if d in (VAULT, LINE, SETTINGS))
        assert passwords.decrypt(encrypted[(VAULT, "a", "secret")][0], key) == "clear-vault-a1"
        assert passwords.decrypt(encrypted[(SETTINGS, SETTINGS, "token")][0], key) == "clear-single-token"
        pins = sorted(passwords.decrypt(p, key) for (d, _, _), (p, _) in encrypted.items() if d == LINE)
        assert pins == ["clear-line-pin-0", "clear-line-pin-1"]
        # Masks and empty values are left alone: nothing to encrypt.
        assert (VAULT, "kept", "secret") not in encrypted and (VAULT, "b", "secret") not in encrypted
        # The hashes kept by the auth layer (Administrator's password) stay as they were.
        assert encrypted[("User", "Administrator", "password")][1] == 0
        # The model decrypts what migrate stored.
        with site.admin() as ctx:
            assert passwords.get_password(ctx, VAULT, "a", "secret") == "clear-vault-a1"
            assert passwords.get_password(ctx, SETTINGS, SETTINGS, "token") == "clear-single-token"
        done = migrate(site)
        assert not [d for d in done if "Password" in d]
        with site.db.connect() as conn:
            assert _snapshot(conn) == first
    finally:
        site.close()


def test_a_site_without_a_key_gets_one_on_first_need(old_site):
    site_dir = old_site
    site = Site(site_dir)
    try:
        with site.db.connect() as conn, conn.transaction():
            from ristretto.db.schema import ensure_system_tables
            ensure_system_tables(conn)
        assert "encryption_key" not in site.config
        with site.admin() as ctx:
            document.insert(ctx, VAULT, {"title": "new", "secret": "first-need-1"}, name="new", force_name=True)
        key = json.loads((site_dir / "site_config.json").read_text())["encryption_key"]
        assert (site_dir / "site_config.json").stat().st_mode & 0o777 == 0o600
        with site.admin() as ctx:
            assert passwords.get_password(ctx, VAULT, "new", "secret") == "first-need-1"
        # A second process opening the site reads the same key.
        other = Site(site_dir)
        try:
            assert other.encryption_key() == key
        finally:
            other.close()
    finally:
        site.close()


def test_get_password_in_the_model_needs_system_manager(old_site):
    site_dir = old_site
    site = Site(site_dir)
    try:
        migrate(site)
        with site.db.connect() as conn, conn.transaction():
            ctx = site.context(conn, user="someone@example.com", roles=frozenset({"All", "Desk User"}))
            with pytest.raises(PermissionError):
                passwords.get_password(ctx, VAULT, "a", "secret")
    finally:
        site.close()


def test_new_site_writes_a_key(site_dir):
    key = json.loads((site_dir / "site_config.json").read_text()).get("encryption_key")
    assert key and passwords.decrypt(passwords.encrypt("x", key), key) == "x"
    # The file holds the key: its owner alone may read it.
    assert (site_dir / "site_config.json").stat().st_mode & 0o777 == 0o600


def test_a_field_that_becomes_a_password_field_is_encrypted_at_once(site_dir):
    site = Site(site_dir)
    try:
        definition = {"module": "Custom", "custom": 1,
                      "fields": [{"fieldname": "code", "fieldtype": "Data", "label": "Code"}]}
        with site.admin() as ctx:
            document.insert(ctx, "DocType", definition, name="Code Holder", force_name=True)
        with site.admin() as ctx:
            document.insert(ctx, "Code Holder", {"code": "clear-code-1"}, name="c1", force_name=True)
        with site.admin() as ctx:
            fields = [{"fieldname": "code", "fieldtype": "Password", "label": "Code"}]
            document.update(ctx, "DocType", "Code Holder", {"fields": fields})
        with site.admin() as ctx:
            assert ctx.db.sql('SELECT code FROM "tabCode Holder"') == [("*" * len("clear-code-1"),)]
            assert "clear-code-1" not in json.dumps(ctx.db.sql('SELECT * FROM "__Auth"'))
            assert passwords.get_password(ctx, "Code Holder", "c1", "code") == "clear-code-1"
            # Deleting the DocType takes its documents' secrets with it.
            document.delete(ctx, "DocType", "Code Holder")
            assert ctx.db.sql('SELECT 1 FROM "__Auth" WHERE doctype = ?', ("Code Holder",)) == []
    finally:
        site.close()


def test_serve_upgrades_the_server_tables_before_migrate(old_site, backend):
    """An upgraded site that has not been migrated yet still saves Password values over HTTP:
    ``serve`` brings the server's own tables (``__Auth.encrypted``) up to date at start."""
    from tests.conftest import start_server, stop_server

    srv = start_server(old_site, backend)
    try:
        with srv.admin() as admin:
            r = admin.put(f"/api/resource/{VAULT}/b", json={"secret": "after-upgrade-7"})
            assert r.status_code == 200, r.text
            assert r.json()["data"]["secret"] == "*" * len("after-upgrade-7")
            r = admin.get("/api/method/frappe.client.get_password",
                          params={"doctype": VAULT, "name": "b", "fieldname": "secret"})
            assert r.status_code == 200 and r.json()["message"] == "after-upgrade-7", r.text
    finally:
        stop_server(srv.proc)
