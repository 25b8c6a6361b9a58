"""Creating a site, migrating it, importing DocTypes and managing users from the CLI."""

from __future__ import annotations

import os

import secrets
from pathlib import Path
from typing import Iterable

import orjson

from ristretto.apps import app_definition_files
from ristretto.auth import apikeys
from ristretto.auth.oauth import keys as oauth_keys
from ristretto.db import schema
from ristretto.db.dialects import quote
from ristretto.db.connection import Database
from ristretto.meta.core import core_definitions, load_definition_file
from ristretto.meta.doctype import Meta, normalize_definition
from ristretto.model import document, passwords
from ristretto.model.context import Context
from ristretto.site.site import CONFIG_FILE, Site, SiteError

STANDARD_ROLES = ("Administrator", "System Manager", "Guest", "All", "Desk User")
STANDARD_MODULES = ("Core", "Desk", "Custom", "Integrations", "Website")


def new_site(path: str | Path, db_url: str | None = None, admin_password: str | None = None, *,
             apps: list[str] | None = None, app_paths: list[str] | None = None) -> tuple[Site, str]:
    """Create a site folder and database; returns the site and the Administrator password.

    ``apps`` / ``app_paths`` go into the site configuration; the apps' DocTypes are
    installed with the built-in ones.
    """
    path = Path(path).resolve()
    if (path / CONFIG_FILE).exists():
        raise SiteError(f"A site already exists at {path}")
    if db_url and not db_url.startswith(("postgresql://", "postgres://", "sqlite:")):
        raise SiteError(f"Unsupported --db-url {db_url!r}: use postgresql://user@host:port/dbname")
    if db_url and db_url.startswith(("postgresql", "postgres")):
        _check_postgres(db_url)
    path.mkdir(parents=True, exist_ok=True)
    for sub in ("public/files", "private/files"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    # The key Password fields are encrypted with: made here, kept in the site's configuration.
    config = {"db_url": db_url or "sqlite:///site.db", "session_expiry": "240:00:00",
              "encryption_key": passwords.new_key()}
    if apps:
        config["apps"] = list(apps)
    if app_paths:
        config["app_paths"] = list(app_paths)
    # Readable by the site's owner only: it holds the encryption key (and a database password).
    fd = os.open(path / CONFIG_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(orjson.dumps(config, option=orjson.OPT_INDENT_2))
    password = admin_password or secrets.token_urlsafe(12)
    try:
        site = Site(path)
    except SiteError:
        (path / CONFIG_FILE).unlink(missing_ok=True)
        raise
    try:
        install(site, password)
    except Exception:
        (path / CONFIG_FILE).unlink(missing_ok=True)
        raise
    return site, password


def _check_postgres(url: str) -> None:
    try:
        import psycopg
        with psycopg.connect(url, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except Exception as e:  # noqa: BLE001 - shown to the user as one line
        raise SiteError(f"Cannot connect to PostgreSQL at {url}: {str(e).strip().splitlines()[0]}") from None


def install(site: Site, admin_password: str) -> None:
    with site.db.connect() as conn, conn.transaction():
        schema.ensure_system_tables(conn)
        definitions = core_definitions()
        for d in definitions.values():
            meta = Meta(d)
            schema.sync_doctype(conn, meta)
            site.registry.put(meta)
        ctx = site.context(conn)
        ctx.flags["install"] = True
        for role in STANDARD_ROLES:
            document.insert(ctx, "Role", {"role_name": role, "desk_access": 0 if role == "Guest" else 1},
                            name=role, force_name=True)
        for module in STANDARD_MODULES:
            document.insert(ctx, "Module Def", {"module_name": module, "app_name": "frappe",
                                                "custom": 1 if module == "Custom" else 0},
                            name=module, force_name=True)
        for d in definitions.values():
            _save_definition(ctx, d)
        document.insert(ctx, "User", {"email": "admin@example.com", "first_name": "Administrator",
                                      "user_type": "System User", "enabled": 1,
                                      "new_password": admin_password,
                                      "roles": [{"role": "Administrator"}, {"role": "System Manager"}]},
                        name="Administrator", force_name=True)
        document.insert(ctx, "User", {"email": "guest@example.com", "first_name": "Guest",
                                      "user_type": "Website User", "enabled": 1,
                                      "roles": [{"role": "Guest"}]},
                        name="Guest", force_name=True)
        document.insert(ctx, "File", {"file_name": "Home", "is_folder": 1, "is_home_folder": 1},
                        name="Home", force_name=True)
        document.insert(ctx, "File", {"file_name": "Attachments", "is_folder": 1, "is_attachments_folder": 1,
                                      "folder": "Home"}, name="Home/Attachments", force_name=True)
        _install_app_doctypes(site, ctx)
        oauth_keys.ensure(ctx)
        site.registry.bump_version(conn)
        site.registry.version = None


def _save_definition(ctx: Context, definition: dict) -> None:
    """Insert or replace a DocType document (and so create or migrate its table)."""
    d = normalize_definition(definition)
    name = d["name"]
    payload = {k: v for k, v in d.items() if k not in ("doctype", "name", "owner", "creation", "modified",
                                                        "modified_by", "idx", "docstatus")}
    payload.setdefault("fields", [])
    payload.setdefault("permissions", [])
    # Exported files leave out keys whose value is 0: they must not take defaults.
    ctx.flags["in_import"] = True
    try:
        if document.exists(ctx, "DocType", name):
            document.update(ctx, "DocType", name, payload)
        else:
            document.insert(ctx, "DocType", payload, name=name, force_name=True)
    finally:
        ctx.flags.pop("in_import", None)


def migrate(site: Site) -> list[str]:
    """Sync built-in definitions and every stored DocType to the database schema."""
    done: list[str] = []
    with site.db.connect() as conn, conn.transaction():
        schema.ensure_system_tables(conn)
        site.registry.load(conn)
        ctx = site.context(conn)
        for d in core_definitions().values():
            done += schema.sync_doctype(conn, Meta(d))
        site.registry.load(conn)
        done += _install_new_builtins(site, ctx)
        for meta in site.registry.all():
            done += schema.sync_doctype(conn, meta)
        _install_app_doctypes(site, ctx)
        done += _encrypt_password_values(site, ctx)
        if oauth_keys.ensure(ctx):
            done.append("made the site's OAuth signing key (RS256)")
        site.registry.bump_version(conn)
        site.registry.version = None
    return done


def _install_new_builtins(site: Site, ctx: Context) -> list[str]:
    """Store the built-in DocTypes a site made by an older version lacks (the OAuth ones came
    later), so that they are served like the others."""
    stored = {row[0] for row in ctx.db.sql(f"SELECT name FROM {quote('tabDocType')}")}
    missing = [d for name, d in core_definitions().items() if name not in stored]
    if not missing:
        return []
    ctx.flags["install"] = True
    try:
        for d in missing:
            _save_definition(ctx, d)
    finally:
        ctx.flags.pop("install", None)
    site.registry.load(ctx.db)
    return [f"installed built-in DocType {d['name']}" for d in missing]


def _encrypt_password_values(site: Site, ctx: Context) -> list[str]:
    """Move clear values of Password fields (written before they were encrypted) to the
    encrypted store. A site made before keys existed gets its ``encryption_key`` here:
    migrate is the upgrade step and runs alone, so no server worker has to make one."""
    site.encryption_key()
    done = []
    for meta in site.registry.all():
        moved = passwords.move_clear_values(ctx, meta)
        if moved:
            done.append(f"encrypted {moved} Password value(s) of {meta.name}")
    return done


def _install_app_doctypes(site: Site, ctx: Context) -> list[str]:
    """Insert or update the DocTypes shipped in the apps' ``doctypes/`` folders.

    Run on every migrate, so editing an app's JSON and migrating applies the change
    (saving an unchanged definition migrates nothing). Each DocType's module is
    recorded as belonging to its app, as Frappe's Module Def does.
    """
    done: list[str] = []
    for app in site.apps:
        definitions = []
        for f in app_definition_files([app]):
            try:
                definitions.append(load_definition_file(f))
            except ValueError as e:
                raise SiteError(f"App {app.name!r}: {e}") from None
        definitions.sort(key=lambda d: 0 if d.get("istable") else 1)
        for d in definitions:
            module = d.get("module")
            if module and not document.exists(ctx, "Module Def", module):
                document.insert(ctx, "Module Def", {"module_name": module, "app_name": app.name},
                                name=module, force_name=True)
            try:
                _save_definition(ctx, d)
            except Exception as e:  # noqa: BLE001 - report which app and DocType failed
                raise SiteError(f"App {app.name!r}, DocType {d.get('name')}: "
                                f"{getattr(e, 'message', None) or e}") from None
            done.append(f"{app.name}: {d['name']}")
    return done


def collect_definition_files(paths: Iterable[str | Path]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files += sorted(x for x in p.rglob("*.json") if x.is_file())
        elif p.is_file():
            files.append(p)
        else:
            raise SiteError(f"No such file or folder: {p}")
    return files


def import_doctypes(site: Site, paths: Iterable[str | Path]) -> list[str]:
    """Load Frappe DocType JSON files (child tables first), then migrate."""
    definitions = []
    for f in collect_definition_files(paths):
        try:
            definitions.append(load_definition_file(f))
        except ValueError as e:
            raise SiteError(str(e)) from None
    # Child tables first so parents can join them as soon as they exist.
    definitions.sort(key=lambda d: 0 if d.get("istable") else 1)
    names = []
    with site.admin() as ctx:
        for d in definitions:
            try:
                _save_definition(ctx, d)
            except Exception as e:  # noqa: BLE001 - report which file failed
                raise SiteError(f"{d.get('name')}: {getattr(e, 'message', None) or e}") from None
            names.append(d["name"])
    migrate(site)
    return names


def add_user(site: Site, email: str, password: str | None, roles: list[str]) -> str:
    with site.admin() as ctx:
        for role in roles:
            if not document.exists(ctx, "Role", role):
                raise SiteError(f"Role {role!r} does not exist")
        first = email.split("@")[0]
        doc = document.insert(ctx, "User", {"email": email, "first_name": first, "new_password": password,
                                            "roles": [{"role": r} for r in roles]})
        return doc.name


def set_password(site: Site, user: str, password: str) -> None:
    with site.admin() as ctx:
        if not document.exists(ctx, "User", user):
            raise SiteError(f"User {user!r} does not exist")
        document.update(ctx, "User", user, {"new_password": password})


def generate_keys(site: Site, user: str) -> tuple[str, str]:
    with site.admin() as ctx:
        if not document.exists(ctx, "User", user):
            raise SiteError(f"User {user!r} does not exist")
        return apikeys.generate_keys(ctx, user)


__all__ = ["new_site", "install", "migrate", "import_doctypes", "add_user", "set_password", "generate_keys",
           "Database"]
