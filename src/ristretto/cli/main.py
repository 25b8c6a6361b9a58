"""The ``ristretto`` command line.

Every command takes the site from ``--site DIR`` or the ``RISTRETTO_SITE``
environment variable, else ``./sites/default`` when it exists; only ``serve`` with no
site given creates that one. Errors print one line and exit non-zero.
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


def _given_site(ctx: click.Context) -> str | None:
    return ctx.obj.get("site") or os.environ.get("RISTRETTO_SITE")


def _site_path(ctx: click.Context) -> str:
    """The site a command works on: --site / RISTRETTO_SITE, else ./sites/default when it exists
    (what a bare ``ristretto serve`` created). Never creates a site."""
    path = _given_site(ctx)
    if path:
        return path
    if (Path(DEFAULT_SITE) / "site_config.json").is_file():
        return DEFAULT_SITE
    raise CliError(f"no site given and no ./{DEFAULT_SITE}: use --site DIR or set RISTRETTO_SITE "
                   "(create a site with 'ristretto new-site DIR')")


def _open(ctx: click.Context):
    from ristretto.site import Site, SiteError
    try:
        return Site(_site_path(ctx))
    except SiteError as e:
        raise CliError(str(e)) from None


def _open_site(path):
    from ristretto.site import Site
    return Site(path)


def _prepare_to_serve(path) -> None:
    """Open the site once before the workers do (a broken configuration is one line here, not
    a traceback per worker) and bring the server's own tables (sessions, secrets, login
    counters) up to this version, so an upgrade cannot break a request before ``migrate``."""
    from ristretto.backup import walship
    from ristretto.db.schema import ensure_system_tables
    from ristretto.site import keycheck
    site = _open_site(path)
    try:
        if walship.replica_path(site) is not None:
            try:
                walship.schedule_of(site)
            except ValueError as e:
                raise CliError(str(e)) from None
        with site.db.connect() as conn, conn.transaction(write=True):
            ensure_system_tables(conn)
            keycheck.check(conn, site)  # every server of the site holds the same key
    finally:
        site.close()


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
    if not password:
        click.echo(f"No password set: {name} cannot log in with a password until one is set with "
                   f"'ristretto --site {site.path} set-password {name}'")


@cli.command("set-password")
@site_option
@click.argument("user")
@click.argument("password", required=False)
@click.pass_context
def set_password(ctx: click.Context, user: str, password: str | None) -> None:
    """Set a user's password (ends their sessions).

    Without PASSWORD (which would stay in the shell's history) it is asked for, hidden and
    twice, on a terminal, or read as one line from standard input otherwise (scripts)."""
    from ristretto.site.install import set_password as do_set
    site = _open(ctx)
    if password is None:
        password = _read_password()
    if not password:
        raise CliError("the password must not be empty")
    _run(do_set, site, user, password)
    click.echo(f"Password updated for {user}")


def _read_password() -> str:
    if sys.stdin.isatty():
        return click.prompt("New password", hide_input=True, confirmation_prompt=True)
    return sys.stdin.readline().rstrip("\r\n")


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


@cli.command("rotate-oauth-key")
@site_option
@click.option("--keep-days", default=7.0, show_default=True, type=click.FloatRange(min=0),
              help="Days the retired public key stays in the JWKS, so id_tokens signed with it still verify.")
@click.pass_context
def rotate_oauth_key(ctx: click.Context, keep_days: float) -> None:
    """Sign OpenID Connect id_tokens with a new RSA key from now on (every worker at once); prints
    one JSON line: the new kid, the retired kid and until when (epoch seconds) it is published."""
    from ristretto.auth.oauth import keys
    site = _open(ctx)

    def do_rotate(site):
        with site.admin() as admin:
            return keys.rotate(admin, keep_days)
    click.echo(orjson.dumps(_run(do_rotate, site)).decode())


@cli.command("sweep-files")
@site_option
@click.option("--orphans", is_flag=True, help="Also remove stored files that no File record names.")
@click.option("--grace", default=3600, show_default=True, type=int,
              help="With --orphans: only files older than this many seconds.")
@click.pass_context
def sweep_files(ctx: click.Context, orphans: bool, grace: int) -> None:
    """Settle uploads and deletes a crash interrupted (every server start does this too)."""
    from ristretto.api.storage import of
    site = _open(ctx)
    try:
        report = of(site).sweep(site, orphans_older_than=grace if orphans else None)
    finally:
        site.close()
    for url in report.removed:
        click.echo(f"removed {url}")
    click.echo(f"{report.settled} interrupted upload(s)/delete(s) settled, {len(report.removed)} file(s) removed, "
               f"{report.temporary} temporary file(s) removed, {report.busy} in progress left alone")


@cli.command()
@site_option
@click.option("--to", "to", default=None, help="Folder to put the backup folder in (default: <site>/backups).")
@click.pass_context
def backup(ctx: click.Context, to: str | None) -> None:
    """A consistent snapshot of the database and the files, taken while the site serves."""
    from ristretto.backup.snapshot import BackupError, take
    from ristretto.cli.progress import progress_display
    path = _site_path(ctx)
    with progress_display() as progress:
        try:
            manifest = _run(take, path, to, progress)
        except BackupError as e:
            raise CliError(str(e)) from None
    for url in manifest["missing_files"]:
        click.echo(f"warning: {url} was deleted before its bytes were copied", err=True)
    click.echo(f"Backed up {sum(manifest['counts']['tables'].values())} row(s) and "
               f"{manifest['counts']['files']} file(s) as of {manifest['snapshot_time']} to {manifest['path']}")


@cli.command()
@click.argument("source")
@click.argument("target_site_dir")
@click.option("--db-url", default=None, help="PostgreSQL backups: the new database to restore into.")
@click.option("--to-time", default=None, help="Continuous (WAL) backups: replay up to this ISO time (UTC unless it names a zone).")
def restore(source: str, target_site_dir: str, db_url: str | None, to_time: str | None) -> None:
    """Restore a backup folder (or a WAL replica) SOURCE into the new site folder TARGET_SITE_DIR."""
    from datetime import datetime, timezone
    from ristretto.backup.restore import restore as do_restore
    from ristretto.backup.snapshot import BackupError
    from ristretto.backup.walrestore import WalRestoreError
    from ristretto.cli.progress import progress_display
    when = None
    if to_time:
        try:
            when = datetime.fromisoformat(to_time)
        except ValueError:
            raise CliError(f"--to-time {to_time!r} is not an ISO date and time") from None
        when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    with progress_display() as progress:
        try:
            done = do_restore(source, target_site_dir, db_url=db_url, to_time=when, progress=progress)
        except BackupError as e:
            raise CliError(str(e)) from None
        except WalRestoreError as e:
            raise CliError(str(e)) from None
    click.echo(f"Restored into {target_site_dir}: " + orjson.dumps(done, default=str).decode())


@cli.command()
@site_option
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1),
              help="Worker processes that will share the database (all servers together).")
@click.pass_context
def doctor(ctx: click.Context, workers: int) -> None:
    """Check the site's configuration and reachability: one line per check, non-zero exit on an error."""
    from ristretto.cli.doctor import ERROR, run
    checks = run(_site_path(ctx), workers)
    for check in checks:
        click.echo(check.line())
    if any(c.status == ERROR for c in checks):
        sys.exit(1)


@cli.command()
@site_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
@click.option("--header-timeout", default=10.0, show_default=True, type=float,
              help="Seconds a client has to send a request's headers (then 408 and closed).")
@click.option("--body-timeout", default=60.0, show_default=True, type=float,
              help="Seconds a client has to send a request's whole body (then 408 and closed).")
@click.option("--keep-alive", default=5, show_default=True, type=int,
              help="Seconds an idle kept-alive connection stays open.")
@click.option("--access-log/--no-access-log", default=True, show_default=True,
              help="One line per request on stdout: time, client, user, method, path (no query string), "
                   "status, milliseconds.")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, workers: int, header_timeout: float, body_timeout: float,
          keep_alive: int, access_log: bool) -> None:
    """Serve the site (created on embedded SQLite in ./sites/default when no site is given)."""
    from ristretto.cli import server
    from ristretto.site.install import new_site
    if workers < 1:
        raise CliError("--workers must be at least 1")
    if header_timeout <= 0 or body_timeout <= 0 or keep_alive < 1:
        raise CliError("--header-timeout and --body-timeout must be positive, --keep-alive at least 1")
    given = _given_site(ctx)
    site_dir = Path(given or DEFAULT_SITE).resolve()
    # Only a bare `ristretto serve` creates a site: a --site naming a missing folder is a typo.
    if given and not (site_dir / "site_config.json").exists():
        raise CliError(f"No site at {site_dir} (missing site_config.json); "
                       f"create one with 'ristretto new-site {given}'")
    # The port first: a second server on a port in use is refused before it creates or opens anything.
    try:
        sock = server.bind(host, port, backlog=2048)
    except server.PortInUse as e:
        raise CliError(str(e)) from None
    if not (site_dir / "site_config.json").exists():
        password = os.environ.get("RISTRETTO_ADMIN_PASSWORD")
        site, used = _run(new_site, str(site_dir), None, password)
        click.echo(f"Created a new site at {site_dir} (SQLite).")
        if password:
            click.echo("Log in as Administrator with the password from RISTRETTO_ADMIN_PASSWORD.")
        else:
            click.echo(f"Log in as Administrator with password: {used}")
        site.close()
    # Open the site once before the workers do, so a broken configuration (a listed app
    # that cannot be imported) is one line here rather than a traceback per worker.
    _run(_prepare_to_serve, site_dir)
    os.environ["RISTRETTO_SITE"] = str(site_dir)
    click.echo(f"Serving {site_dir} on http://{host}:{port} with {workers} worker(s)")
    click.echo(f"  Admin UI: http://{host}:{port}/app")
    click.echo(f"  curl -X POST http://{host}:{port}/api/method/login "
               "-H 'Content-Type: application/json' -d '{\"usr\":\"Administrator\",\"pwd\":\"<password>\"}'")
    sys.stdout.flush()
    server.serve("ristretto.api.app:create_app", sock, workers=workers, header_timeout=header_timeout,
                 body_timeout=body_timeout, keep_alive=keep_alive, access=access_log, backlog=2048)


@cli.command()
@site_option
@click.option("--once", is_flag=True, help="Take a snapshot and ship what is committed now, then exit.")
@click.pass_context
def replicate(ctx: click.Context, once: bool) -> None:
    """Ship the SQLite site's WAL to its wal_replica folder until stopped (continuous backup)."""
    from ristretto.backup import walship
    site = _open(ctx)
    try:
        click.echo(_run(walship.replicate, site, once))
    finally:
        site.close()


def main() -> None:
    cli(obj={})


if __name__ == "__main__":
    main()
