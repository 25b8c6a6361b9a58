"""The Site object: configuration, database, metadata registry and request contexts.

A site folder holds ``site_config.json`` (``db_url`` and settings), the SQLite
database (``site.db``) unless PostgreSQL is configured, and ``public/files`` /
``private/files``. The apps the configuration lists are imported when the site
is opened (``ristretto.apps``).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import orjson

from ristretto.apps import AppError, LoadedApp, install_controllers, load_apps
from ristretto.auth.cache import AuthCache
from ristretto.auth.oauth.records import OAuthClientController
from ristretto.auth.users import RoleController, UserController
from ristretto.db.connection import Connection, Database
from ristretto.model.context import AllowAll, Context
from ristretto.model.registry import MetaRegistry
from ristretto.webhooks import records as webhook_records

CONFIG_FILE = "site_config.json"


class SiteError(Exception):
    """A site cannot be opened or created (message is shown to the user as is)."""


class Site:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path).resolve()
        config_path = self.path / CONFIG_FILE
        if not config_path.is_file():
            raise SiteError(f"No site at {self.path} (missing {CONFIG_FILE}); create one with 'ristretto new-site'")
        try:
            self.config: dict[str, Any] = orjson.loads(config_path.read_bytes())
        except orjson.JSONDecodeError as e:
            raise SiteError(f"{config_path} is not valid JSON: {e}") from None
        url = self.config.get("db_url") or f"sqlite:///{self.path / 'site.db'}"
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            # Relative SQLite paths are relative to the site folder.
            rel = url[len("sqlite:///"):]
            if not os.path.isabs(rel):
                url = f"sqlite:///{self.path / rel}"
        self.db = Database(url)
        self.registry = MetaRegistry()
        self.registry.controllers["User"] = UserController()
        self.registry.controllers["Role"] = RoleController()
        self.registry.controllers["User Permission"] = RoleController()
        self.registry.controllers["OAuth Client"] = OAuthClientController()
        # A token an administrator revokes or deletes stops working at once (cached bearer checks).
        self.registry.controllers["OAuth Bearer Token"] = RoleController()
        # Webhooks: their controller, and the change listener queueing their deliveries.
        self.webhooks = webhook_records.install(self.registry)
        # Apps come last: they may not replace a built-in controller. Loaded from the
        # configuration only, once, when the site is opened.
        try:
            self.apps: list[LoadedApp] = load_apps(self.config, self.path)
            install_controllers(self.registry.controllers, self.apps)
        except AppError as e:
            self.db.close()
            raise SiteError(str(e)) from None
        self.auth_cache = AuthCache()

    @property
    def name(self) -> str:
        return self.path.name

    def context(self, conn: Connection, *, user: str = "Administrator", roles: frozenset[str] | None = None,
                perms: Any = None, user_type: str = "System User") -> Context:
        return Context(registry=self.registry, db=conn, user=user,
                       roles=roles if roles is not None else frozenset({"Administrator", "System Manager", "All"}),
                       perms=perms or AllowAll(), user_type=user_type, site_config=self.config,
                       encryption_key=self.encryption_key)

    def encryption_key(self) -> str:
        """The key Password fields are encrypted with; created on first need when missing."""
        key = self.config.get("encryption_key")
        if not key:
            key = self.config["encryption_key"] = ensure_encryption_key(self.path)
        return key

    @contextmanager
    def admin(self, *, write: bool = True) -> Iterator[Context]:
        """A trusted context in one transaction (CLI commands, installation)."""
        with self.db.connect() as conn:
            self.registry.ensure_fresh(conn)
            ctx = self.context(conn)
            with conn.transaction(write=write):
                yield ctx

    def user_permissions(self, ctx: Context) -> list[dict]:
        """The User Permission rows of ``ctx.user`` (cached until auth data changes)."""
        cache = self.auth_cache
        rows = cache.get("uperm", ctx.user)
        if rows is None:
            if self.registry.get("User Permission") is None:
                return []
            cols = ("allow", "for_value", "applicable_for", "apply_to_all_doctypes")
            rows = [dict(zip(cols, r)) for r in ctx.db.sql(
                'SELECT allow, for_value, applicable_for, apply_to_all_doctypes FROM "tabUser Permission" '
                'WHERE "user" = ?', (ctx.user,))]
            cache.put("uperm", ctx.user, rows, cache.version)
        return rows

    def files_path(self, private: bool) -> Path:
        return self.path / ("private" if private else "public") / "files"

    def close(self) -> None:
        self.db.close()


def ensure_encryption_key(path: Path) -> str:
    """The ``encryption_key`` of the site's configuration, written there first when missing.

    Decided under an exclusive lock on the configuration file, after reading it again:
    processes that find no key at the same moment (server workers, a CLI command) then
    all use the one key the first of them wrote, never two different ones.
    """
    import fcntl

    from ristretto.model.passwords import new_key
    config_path = path / CONFIG_FILE
    with open(config_path, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        config = orjson.loads(config_path.read_bytes())
        key = config.get("encryption_key")
        if not key:
            key = config["encryption_key"] = new_key()
            tmp = config_path.with_name(CONFIG_FILE + ".tmp")
            tmp.write_bytes(orjson.dumps(config, option=orjson.OPT_INDENT_2))
            os.chmod(tmp, 0o600)  # it now holds the key
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            # Readers see the old file or the new one, never half of it.
            os.replace(tmp, config_path)
        return key
