"""The ASGI application: the request pipeline.

Pipeline (Frappe's order): read the body → match the route (``ristretto.api.routes``: its flags
decide the rest) → parse arguments (``cmd=`` wins over the path) → login or resume the session →
``Authorization`` header → the route's handler, in a transaction committed for POST/PUT/DELETE/
PATCH and rolled back otherwise → render in the route's envelope (v1 or v2, answers and error
bodies alike) → cookies.

Handlers run on the event loop thread: a SQLite query is a few microseconds of
local work, cheaper than a thread hop, and with PostgreSQL on the same machine the
GIL leaves a thread pool little to gain (measured). ``threaded_requests`` in the
site config moves handlers to a thread pool, for a database behind a slow link.

SQLite writes use group commit (``ristretto.api.groupcommit``, ``ristretto.db.groupcommit``): the
writes a worker handles in one turn of its loop share one commit, each in a savepoint of its
own, and every answer given while that commit is pending waits for it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import logging
import os
import time
from typing import Any

from ristretto import exceptions as exc
from ristretto.api import authn, docmethods, filecontroller, idempotency, oauth, proxy, routes, storage
from ristretto.api.args import parse_form
from ristretto.api.accesslog import AccessLog, log_path
from ristretto.api.asgi import ClientDisconnected, InvalidRequestBody, Request, Response, content_length, read_body
from ristretto.api.call import Call
from ristretto.api.cors import Cors
from ristretto.api.errors import error_response, may_see_tracebacks
from ristretto.api.events import ChangeStreams, EventStream
from ristretto.api.groupcommit import GroupCommits
from ristretto.api.housekeeping import Housekeeper
from ristretto.api.headers import security_headers
from ristretto.api.methods import comments as comment_methods
from ristretto.api.methods import files as file_methods
from ristretto.api.methods import client as client_methods
from ristretto.api.methods import desk as desk_methods
from ristretto.api.methods import permission_manager as permission_manager_methods
from ristretto.api.methods import search as search_methods
from ristretto.api.methods import session as session_methods
from ristretto.api.methods import webhooks as webhook_methods
from ristretto.api.pages import envelope as page_envelope
from ristretto.api.routing import MethodNotAllowed, Route
from ristretto.api.streaming import StreamingResponse, Streamer
from ristretto.api.v1 import envelope as v1_envelope
from ristretto.api.v1.routes import COMMAND, COMMAND_LOGIN
from ristretto.api.v2 import envelope as v2_envelope
from ristretto.backup import walship
from ristretto.whitelist import MethodRegistry
from ristretto.apps import AppError, permission_rules, register_methods
from ristretto.auth import passwords
from ristretto.db import state
from ristretto.permissions.docperm import DocPermPolicy
from ristretto.site import Site, SiteError
from ristretto.site.settings import setting
from ristretto.webhooks import delivery as webhook_delivery

log = logging.getLogger("ristretto")
DEFAULT_MAX_BODY = 25 * 1024 * 1024
# Seconds one database statement of a request may run (site_config ``query_timeout``;
# 0 turns the limit off). Ordinary requests take milliseconds; a query this slow holds
# its worker, so it is cancelled and answered with QueryTimeoutError.
DEFAULT_QUERY_TIMEOUT = 20.0
_GUEST_ROLES = frozenset({"Guest"})
# Times a request whose write group was lost under it runs again before it is answered 503
# (WriteNotCommitted): a loss that repeats (a full disk) is not worth more tries.
LOST_GROUP_RETRIES = 2
# How each API version shapes its answers and its error bodies (a route's ``api`` flag).
ENVELOPES = {"v1": v1_envelope, "v2": v2_envelope, "page": page_envelope}


class App:
    def __init__(self, site: Site, access_log: AccessLog | None = None):
        self.site = site
        self.access_log = access_log
        self.methods = MethodRegistry()
        for module in (session_methods, client_methods, comment_methods, docmethods, file_methods, search_methods,
                       oauth, desk_methods, permission_manager_methods, webhook_methods):
            self.methods.add_module(module)
        site.registry.controllers["File"] = filecontroller.FileController(site)
        storage.of(site)  # a misconfigured file storage stops the start, not every upload
        # Apps last: their functions may not take a built-in name (apps.register_methods).
        try:
            register_methods(self.methods, site.apps)
        except AppError as e:
            raise SiteError(str(e)) from None
        self.policy = DocPermPolicy(user_permissions=site.user_permissions, rules=permission_rules(site.apps))
        self.max_body = int(site.config.get("max_file_size") or DEFAULT_MAX_BODY)
        # Handlers run on the event loop thread by default: measured here, PostgreSQL on the
        # same machine served 10-55 % more requests that way than through a thread pool (the
        # GIL leaves threads little to gain). ``threaded_requests`` in site_config.json
        # turns the pool on for a database across a slow network link.
        self.inline = not site.config.get("threaded_requests", not site.db.dialect.inline)
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._passwords: concurrent.futures.ThreadPoolExecutor | None = None
        try:
            proxy.trusted_networks(site.config)
            # None when no origin is allowed: then a response costs one attribute test.
            self.cors = Cors.from_config(site.config)
        except ValueError as e:
            raise SiteError(str(e)) from None
        site.db.set_query_timeout(_site_limits(site.config))
        self.router = routes.router()
        self.streamer = Streamer(site.db, self.inline)
        # SQLite with handlers on the event loop: one worker's writes of a loop turn share a commit.
        self.groups = GroupCommits(site.db) if self.inline and site.db.dialect.name == "sqlite" \
            and setting(site.config, "group_commit") else None
        self.changes = ChangeStreams(site, self.policy)
        self.housekeeper = Housekeeper(site)  # started with the lifespan (a server worker)

    # --- ASGI ------------------------------------------------------------------------

    async def __call__(self, scope, receive, send):
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self._warm_up()
                    # Copying the WAL back into the database is this thread's job, not a commit's,
                    # or, with continuous backup on, the WAL shipper's alone.
                    self.shipper = walship.start_in_server(self.site)
                    self.site.db.start_checkpointer()
                    # Webhook deliveries are sent by a background task in every worker.
                    self.webhooks = webhook_delivery.start(self.site)
                    # Old changes and logs, expired sessions and tokens: pruned now and periodically.
                    self.housekeeper.start()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await webhook_delivery.stop(getattr(self, "webhooks", None))
                    await self.housekeeper.stop()
                    if getattr(self, "shipper", None) is not None:
                        self.shipper.stop()
                    if self.access_log is not None:
                        self.access_log.flush()
                    self.site.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    def _warm_up(self) -> None:
        """Load metadata before the first request, then move everything alive now out of the
        garbage collector's way: long-lived objects no longer cost a scan per collection."""
        try:
            with self.site.db.connect() as conn:
                versions = state.read(conn)
                self.site.registry.ensure_fresh(conn, versions.get(state.META), known=True)
        except Exception:  # noqa: BLE001 - the first request reports a broken site properly
            log.exception("warm-up failed")
        try:
            # Uploads and deletes a crash interrupted: the file storage follows the File rows again.
            # Safe beside busy workers (local disk: a request in flight holds its marker's lock;
            # S3: markers younger than the grace period are left alone).
            report = storage.of(self.site).sweep(self.site)
            if report.removed or report.settled or report.temporary:
                log.warning("file sweep: %d interrupted upload(s) settled, %d file(s) removed, "
                            "%d temporary file(s) removed", report.settled, len(report.removed),
                            report.temporary)
        except Exception:  # noqa: BLE001 - serving matters more; the next start sweeps again
            log.exception("file sweep failed")
        gc.collect()
        gc.freeze()

    async def _http(self, scope, receive, send):
        started = time.perf_counter()
        access = self.access_log
        try:
            body = await read_body(receive, self.max_body, content_length(scope))
        except ClientDisconnected:
            # Nothing to answer and nothing to handle: a truncated body is never committed.
            if access:
                access.request(scope, None, 499, started)
            return
        except (exc.RequestEntityTooLarge, InvalidRequestBody) as e:
            response = error_response(e, messages=[], tracebacks=False)
            if self.cors is not None:
                response = self.cors.apply(Request(scope), response)
            # The rest of the body is not read: the connection cannot carry another request.
            response.headers.append((b"connection", b"close"))
            security_headers(response, scope["path"])
            await response.send(send)
            if access:
                access.request(scope, None, response.status, started)
            return
        req = Request(scope, body)
        response = await self._answer(req)
        runs = 1
        while self.groups is not None and self.site.db.write_group() is not None \
                and not await self.groups.durable():
            # The write group this request ran in was lost (another request's write was stopped
            # by query_timeout, or the commit failed): nothing of what it wrote or saw may be
            # acknowledged. Nothing of it was saved either, and its answer is not sent yet, so it
            # runs again, in a new group. (The request that lost the group keeps its own error:
            # the group had already ended when its handler returned.)
            if runs > LOST_GROUP_RETRIES:
                response = error_response(exc.WriteNotCommitted(), messages=[], tracebacks=False)
                break
            runs += 1
            response = await self._answer(req)
        if self.cors is not None:
            response = self.cors.apply(req, response)
        security_headers(response, req.path)
        if isinstance(response, StreamingResponse):
            await self.streamer.send(response, receive, send)
        elif isinstance(response, EventStream):
            await self.changes.send(response, receive, send)
        elif isinstance(response, storage.StreamedResponse):
            await response.stream(receive, send)
        else:
            await response.send(send)
        if access:
            access.request(scope, req.user, response.status, started)

    async def _answer(self, req: Request) -> Response:
        """The request handled (its answer not yet sent)."""
        if self.groups is not None and req.method in authn.UNSAFE:
            await self.groups.ready_to_write()
        # Handlers on the event loop (the default) are called straight away: one coroutine fewer.
        response = self.handle(req, None) if self.inline else await self._dispatch(req, None)
        if isinstance(response, authn.PasswordWork):
            # A login's Argon2 check (~0.1 s of CPU) runs in its own small pool between two passes
            # of the pipeline: it holds neither the event loop nor the database write lock, so a
            # flood of logins costs only its own CPU.
            await asyncio.get_running_loop().run_in_executor(self._password_pool(), response.run)
            if self.groups is not None and req.method in authn.UNSAFE:
                await self.groups.ready_to_write()  # the login writes its session
            response = await self._dispatch(req, response)
        elif isinstance(response, storage.StorageWork):
            # An upload's bytes go to a network storage from a thread, like a password check.
            work = response
            await asyncio.get_running_loop().run_in_executor(storage.executor(), work.run)
            if self.groups is not None and req.method in authn.UNSAFE:
                await self.groups.ready_to_write()
            try:
                response = await self._dispatch(req, work)
            finally:
                work.release()  # bytes the second pass did not take (it failed before) go
        return response

    async def _dispatch(self, req: Request, login: authn.PasswordWork | None) -> Response | authn.PasswordWork:
        if self.inline:
            return self.handle(req, login)
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=int(os.environ.get("RISTRETTO_PG_POOL", "8")))
        return await asyncio.get_running_loop().run_in_executor(self._executor, self.handle, req, login)

    def _password_pool(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._passwords is None:
            # As many threads as hashes may run at once (ristretto.auth.passwords).
            self._passwords = concurrent.futures.ThreadPoolExecutor(
                max_workers=passwords.MAX_CONCURRENT_HASHES, thread_name_prefix="argon2")
        return self._passwords

    # --- pipeline ----------------------------------------------------------------------

    def handle(self, req: Request, login: authn.PasswordWork | None = None) -> Response | authn.PasswordWork:
        """The pipeline. The first pass of a login answers with its :class:`~authn.PasswordWork`
        instead of a response; once its ``run()`` is done, the second pass (``login``) logs in."""
        if req.method == "OPTIONS":
            return Response(b"", 200, b"text/plain")
        site = self.site
        # A request assumes the version tokens read last; if they changed it runs again (db.state),
        # its transaction rolled back. (A login's first pass hands back work to do off the loop,
        # so it reads them at once.)
        assume, ctx = login is None, None
        while True:
            try:
                with site.db.connect() as conn:
                    if self.inline and req.method not in authn.UNSAFE:
                        conn.read_snapshot()
                    versions = state.read(conn, assume=assume)
                    site.registry.ensure_fresh(conn, versions.get(state.META), known=True)
                    site.auth_cache.sync(versions.get(state.AUTH))
                    ctx = site.context(conn, user="Guest", roles=_GUEST_ROLES, perms=self.policy,
                                       user_type="Website User")
                    call = Call(ctx, req, {}, {}, site, auth_version=versions.get(state.AUTH), methods=self.methods)
                    response = self._run(call, conn, login) if self.groups is None \
                        else self._grouped(call, conn, login, versions)
                    state.settle(conn)
                    return response
            except state.StaleVersions:
                assume = False
                if ctx is not None:
                    ctx.run_callbacks(committed=False)
            except Exception as e:  # noqa: BLE001 - database unreachable and the like
                log.exception("request failed before dispatch")
                return error_response(e, messages=[], tracebacks=False)

    def _grouped(self, call: Call, conn, login: authn.PasswordWork | None,
                 versions: dict[str, str]) -> Response | authn.PasswordWork:
        """:meth:`_run` with the request's writes joining the worker's write group (group commit)."""
        conn.group_writes = True
        # The tokens this request read answer its later look-ups (db.state.value: no statement
        # per write for the webhooks' token), as on PostgreSQL; its own bumps update them. Only
        # while it runs: the connection serves the worker's next request after it.
        conn.versions = versions
        try:
            response = self._run(call, conn, login)
        finally:
            conn.group_writes = False
            conn.versions = None
        if not self.groups.flush_unawaited():
            return error_response(exc.WriteNotCommitted(), messages=[], tracebacks=False)
        return response

    def _run(self, call: Call, conn, login: authn.PasswordWork | None) -> Response | authn.PasswordWork:
        ctx = call.ctx
        req = call.request
        write = req.method in authn.UNSAFE
        try:
            # The route is known before anything else: its flags say how to answer, errors included.
            refused = False
            params: dict[str, str] = {}
            try:
                matched = self.router.match(req.path, req.method)
            except MethodNotAllowed as e:
                matched, refused = None, True
                call.route = e.route
            if matched is not None:
                call.route, params = matched
            call.form, call.files = parse_form(req)
            cmd = call.form.get("cmd")
            if isinstance(cmd, str) and cmd:
                call.route, params, refused = (COMMAND_LOGIN if cmd == "login" else COMMAND), {}, False
            route = call.route
            if route is not None and route.login:
                if login is None:
                    return authn.begin_login(call, conn)
                with conn.transaction():
                    identity = authn.login(call, conn, login)
            else:
                if isinstance(login, storage.StorageWork):
                    call.storage_work = login  # an upload's second pass
                else:
                    call.password_work = login
                # Only a method route (or cmd=) with an Authorization header asks whether the
                # header is an OAuth client's: two attribute checks on every other request.
                own = route is not None and (route.method_param is not None or route is COMMAND) \
                    and "authorization" in req.headers and self._client_credentials(call, params)
                identity = authn.resume(call, conn, not own)
            info = identity.info
            ctx.user, ctx.roles, ctx.user_type = info.name, info.roles, info.user_type
            req.user = info.name
            if refused:
                response = Response(b"<h1>405 Method Not Allowed</h1>", 405, b"text/html; charset=utf-8")
            elif route is None:
                raise exc.PageDoesNotExistError("Page not found", title="Not found")
            else:
                response = self._handle(call, conn, route, params, write)
        except Exception as e:  # noqa: BLE001 - every error becomes Frappe's error body
            conn.rollback()
            ctx.run_callbacks(committed=False)
            idempotency.abandon(ctx, conn)
            response = self._error(call, e)
        if isinstance(response, (authn.PasswordWork, storage.StorageWork)):
            return response  # the second pass answers, cookies and all
        self._cookies(call, response)
        return response

    def _handle(self, call: Call, conn, route: Route, params: dict[str, str], write: bool) -> Response:
        """Run the route's handler in the transaction its flags ask for; its answer."""
        ctx = call.ctx
        claim = None
        if write and idempotency.HEADER in call.request.headers:
            # The key is claimed (or its first answer replayed) before anything runs.
            claim = idempotency.start(call, conn)
            if isinstance(claim, Response):
                return claim
        # Unsafe verbs run in a transaction that is committed; safe ones in one rolled back,
        # unless the route reads without one.
        transactional = write or route.transaction
        if transactional:
            conn.begin(write=write)
        result = route.handler(call, **params)
        if isinstance(result, (authn.PasswordWork, storage.StorageWork)):
            # A password to check (an upload's bytes to store) off the event loop first
            # (App._answer); what led to it (the attempt's throttling count) is kept.
            if write:
                conn.commit()
            else:
                conn.rollback()
            idempotency.abandon(ctx, conn)
            return result
        # Encoded before the commit: an answer that cannot be written (values nested too
        # deeply) rolls the request back instead of reporting an error for committed work.
        if isinstance(result, Response):
            response = result
        else:
            response = ENVELOPES[route.api].render(call, result, route.status,
                                                   lambda e: self._stream_error(call, e))
        if call.headers:
            response.headers.extend(call.headers)
        if write:
            if claim is not None:
                claim.finish(conn, response)  # the answer commits with the write
            conn.commit()
            # After the commit that makes it true (with group commit: the group's, still to come).
            conn.when_durable(lambda ok: self._settled(ctx, ok))
        elif transactional:
            conn.rollback()
            ctx.run_callbacks(committed=False)
        return response

    def _settled(self, ctx, committed: bool) -> None:
        ctx.run_callbacks(committed=committed)
        if committed and ctx.flags.get("changes_written"):
            self.changes.notify()  # live streams of this worker read the new changes now

    def _client_credentials(self, call: Call, params: dict[str, str]) -> bool:
        """Whether the method called takes OAuth client credentials in ``Authorization``."""
        route = call.route
        name = call.form.get("cmd") if route is COMMAND else params.get(route.method_param)
        method = self.methods.get(name) if isinstance(name, str) else None
        return method is not None and method.client_credentials

    def _error(self, call: Call, error: BaseException) -> Response:
        ctx = call.ctx
        if not isinstance(error, exc.FrappeError):
            # An unexpected error: its traceback goes to the server log, with the request it broke.
            log.error("unhandled error in %s %s (user %s)", call.request.method, log_path(call.request.scope),
                      ctx.user, exc_info=error)
        if isinstance(error, exc.DoesNotExistError) and error.doctype and ctx.user != "Administrator":
            # Existence masking: who may not read the DocType learns nothing about its records.
            if not self.policy.has(ctx, error.doctype, "read"):
                masked = exc.PermissionError(f"No permission for {error.doctype}", doctype=error.doctype)
                masked.error_message = masked.message
                masked.suppress_traceback = True
                ctx.messages = []
                error = masked
        base = dict(call.extra)
        route = call.route
        if isinstance(error, exc.AuthenticationError):
            authn.clear_session_cookies(call)
            if route is not None and route.login:
                base["message"] = error.message
        tracebacks = may_see_tracebacks(ctx, self.site.config)
        envelope = ENVELOPES[route.api if route is not None else "v1"]
        return envelope.error(call, error, base, tracebacks)

    def _stream_error(self, call: Call, error: BaseException) -> Response:
        """The answer when a streamed listing fails before its first byte was sent."""
        response = self._error(call, error)
        self._cookies(call, response)
        if self.cors is not None:  # sent in place of the stream, which had them already
            response = self.cors.apply(call.request, response)
        return response

    def _cookies(self, call: Call, response: Response) -> None:
        for name, value, options in call.cookies:
            if value is None:
                response.set_cookie(name, "", expire=True, secure=call.request.is_https)
            else:
                response.set_cookie(name, value, **options)
        if call.ctx.user == "Guest" and call.auth_via == "guest" and not call.cookies \
                and call.request.cookies.get("sid") != "Guest":
            response.set_cookie("sid", "Guest", http_only=True, secure=call.request.is_https)


def _site_limits(config: dict[str, Any]) -> float | None:
    """Check the request limits of site_config.json; the query timeout in seconds (None: off)."""
    cap = config.get("max_page_length")
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 0):
        raise SiteError("max_page_length in site_config.json must be a whole number of rows (0: no ceiling)")
    timeout = config.get("query_timeout", DEFAULT_QUERY_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0:
        raise SiteError("query_timeout in site_config.json must be a number of seconds (0: no limit)")
    return float(timeout) or None


def create_app(site_path: str | None = None) -> App:
    """ASGI application factory (``RISTRETTO_SITE`` names the site folder)."""
    path = site_path or os.environ.get("RISTRETTO_SITE") or "sites/default"
    return App(Site(path), AccessLog.from_env())
