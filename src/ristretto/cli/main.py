"""The ``ristretto`` command line.

Every command takes the site from ``--site DIR`` or the ``RISTRETTO_SITE``
environment variable; errors print one line and exit non-zero.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
import orjson

from ristretto.exceptions import FrappeError

DEFAULT_SITE = "sites/default"


class CliError(click.ClickException):
    def show(self, file=None):
        click.echo(f"Error: {self.message}", err=True)


def _site_path(ctx: click.Context) -> str:
    path = ctx.obj.get("site") or os.environ.get("RISTRETTO_SITE")
    if not path:
        raise CliError("no site given: use --site DIR or set RISTRETTO_SITE")
    return path


def _open(ctx: click.Context):
    from ristretto.site import Site, SiteError
    try:
        return Site(_site_path(ctx))
    except SiteError as e:
        raise CliError(str(e)) from None


def _open_site(path):
    from ristretto.site import Site
    return Site(path)


def _run(fn, *args):
    """Run a site operation, turning expected failures into one-line errors."""
    from ristretto.site import SiteError
    try:
        return fn(*args)
    except SiteError as e:
        raise CliError(str(e)) from None
    except FrappeError as e:
        raise CliError(f"{type(e).__name__}: {e.message}") from None


def site_option(fn):
    """``--site DIR`` after the command name as well as before it (both spellings are in use)."""
    def remember(ctx: click.Context, _param, value):
        if value:
            ctx.ensure_object(dict)
            ctx.obj["site"] = value
        return value
    return click.option("--site", "site_after", default=None, expose_value=False, callback=remember,
                        help="Site folder (same as the global --site).")(fn)


@click.group()
@click.option("--site", "site", envvar="RISTRETTO_SITE", default=None, help="Site folder (or RISTRETTO_SITE).")
@click.version_option(package_name="ristretto")
@click.pass_context
def cli(ctx: click.Context, site: str | None) -> None:
    """Ristretto: a fast, Frappe-compatible document API server."""
    ctx.ensure_object(dict)
    ctx.obj["site"] = site


@cli.command("new-site")
@click.argument("directory")
@click.option("--db-url", default=None, help="postgresql://user@host:port/db (default: SQLite in DIR).")
@click.option("--admin-password", default=None, help="Administrator password (default: generated).")
def new_site_cmd(directory: str, db_url: str | None, admin_password: str | None) -> None:
    """Create a site in DIRECTORY."""
    from ristretto.site.install import new_site
    password = admin_password or os.environ.get("RISTRETTO_ADMIN_PASSWORD")
    site, password_used = _run(new_site, directory, db_url, password)
    click.echo(f"Created site at {site.path} ({site.db.dialect.name})")
    if not password:
        click.echo(f"Administrator password: {password_used}")


@cli.command()
@site_option
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Sync every DocType to the database schema."""
    from ristretto.site.install import migrate as do_migrate
    site = _open(ctx)
    done = _run(do_migrate, site)
    click.echo(f"Migrated {site.path}: {len(done)} schema change(s)")


@cli.command("import-doctypes")
@site_option
@click.argument("paths", nargs=-1, required=True)
@click.pass_context
def import_doctypes(ctx: click.Context, paths: tuple[str, ...]) -> None:
    """Load Frappe DocType JSON files or folders, then migrate."""
    from ristretto.site.install import import_doctypes as do_import
    site = _open(ctx)
    names = _run(do_import, site, list(paths))
    click.echo(f"Imported {len(names)} DocType(s): {', '.join(names)}")


@cli.command("add-user")
@site_option
@click.argument("email")
@click.option("--password", default=None)
@click.option("--roles", default="", help='Comma-separated, e.g. "System Manager,Other".')
@click.pass_context
def add_user(ctx: click.Context, email: str, password: str | None, roles: str) -> None:
    """Create a user."""
    from ristretto.site.install import add_user as do_add
    site = _open(ctx)
    role_list = [r.strip() for r in roles.split(",") if r.strip()]
    name = _run(do_add, site, email, password, role_list)
    click.echo(f"Created user {name}")


@cli.command("set-password")
@site_option
@click.argument("user")
@click.argument("password")
@click.pass_context
def set_password(ctx: click.Context, user: str, password: str) -> None:
    """Set a user's password (ends their sessions)."""
    from ristretto.site.install import set_password as do_set
    site = _open(ctx)
    _run(do_set, site, user, password)
    click.echo(f"Password updated for {user}")


@cli.command("generate-keys")
@site_option
@click.argument("user")
@click.pass_context
def generate_keys(ctx: click.Context, user: str) -> None:
    """Create (or regenerate) a user's API key and secret; prints one JSON line."""
    from ristretto.site.install import generate_keys as do_keys
    site = _open(ctx)
    key, secret = _run(do_keys, site, user)
    click.echo(orjson.dumps({"api_key": key, "api_secret": secret}).decode())


@cli.command("sweep-files")
@site_option
@click.option("--orphans", is_flag=True, help="Also remove stored files that no File record names.")
@click.option("--grace", default=3600, show_default=True, type=int,
              help="With --orphans: only files older than this many seconds.")
@click.pass_context
def sweep_files(ctx: click.Context, orphans: bool, grace: int) -> None:
    """Settle uploads and deletes a crash interrupted (every server start does this too)."""
    from ristretto.api.filestore import sweep
    site = _open(ctx)
    try:
        report = sweep(site, orphans_older_than=grace if orphans else None)
    finally:
        site.close()
    for url in report.removed:
        click.echo(f"removed {url}")
    click.echo(f"{report.settled} interrupted upload(s)/delete(s) settled, {len(report.removed)} file(s) removed, "
               f"{report.temporary} temporary file(s) removed, {report.busy} in progress left alone")


@cli.command()
@site_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, workers: int) -> None:
    """Serve the site (created on embedded SQLite in ./sites/default when missing)."""
    from ristretto.site.install import new_site
    path = ctx.obj.get("site") or os.environ.get("RISTRETTO_SITE") or DEFAULT_SITE
    site_dir = Path(path).resolve()
    if not (site_dir / "site_config.json").exists():
        password = os.environ.get("RISTRETTO_ADMIN_PASSWORD")
        site, used = _run(new_site, str(site_dir), None, password)
        click.echo(f"Created a new site at {site_dir} (SQLite).")
        if password:
            click.echo("Log in as Administrator with the password from RISTRETTO_ADMIN_PASSWORD.")
        else:
            click.echo(f"Log in as Administrator with password: {used}")
        site.close()
    if workers < 1:
        raise CliError("--workers must be at least 1")
    # Open the site once before the workers do, so a broken configuration (a listed app
    # that cannot be imported) is one line here rather than a traceback per worker.
    _run(lambda: _open_site(site_dir).close())
    os.environ["RISTRETTO_SITE"] = str(site_dir)
    click.echo(f"Serving {site_dir} on http://{host}:{port} with {workers} worker(s)")
    click.echo(f"  curl -X POST http://{host}:{port}/api/method/login "
               "-H 'Content-Type: application/json' -d '{\"usr\":\"Administrator\",\"pwd\":\"<password>\"}'")
    sys.stdout.flush()
    from granian import Granian
    from granian.constants import Interfaces
    Granian("ristretto.api.app:create_app", address=host, port=port, workers=workers,
            interface=Interfaces.ASGI, factory=True, log_enabled=True, log_access=False,
            backlog=2048).serve()


def main() -> None:
    cli(obj={})


if __name__ == "__main__":
    main()
