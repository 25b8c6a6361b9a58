"""The OpenAPI 3.1 description of the site as one caller may use it.

:func:`describe` walks the route table (``ristretto.api.routes``): the API routes (``/api/...``,
``/.well-known/...``; not the HTML pages, not the catch-all 404 routes, not the ``/api/v1/...``
and trailing-slash aliases of a route already described). A route of a whitelisted method
(``method_param``) becomes one path per method the caller may call (Guests: ``allow_guest``
ones only); a document route (a :class:`~.specs.Spec` with a ``right``) one path per DocType the
caller holds that right on, with the DocType's schemas; any other route one path as it stands.
Which DocTypes, rights and fields: :func:`ristretto.model.apiview.doctype_views`.
"""

from __future__ import annotations

import re
from typing import Any, Iterable
from urllib.parse import quote

from ristretto.api.openapi import schemas
from ristretto.api.openapi.specs import PAGE_PROPERTIES, QUERY_PARAMS, Spec, first_line, spec_of, summary_of
from ristretto.api.routing import MethodNotAllowed, Route, Router
from ristretto.model.apiview import DocTypeView, doctype_views
from ristretto.model.context import Context
from ristretto.whitelist import DEFAULT_VERBS, Method, MethodRegistry

OPENAPI_VERSION = "3.1.0"
_PARAM = re.compile(r"\{([a-z_]+)(:path)?\}")
# Verbs OpenAPI 3.1 can describe (QUERY and HEAD are answered, not described).
_VERBS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_ANY_VERB = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"})
_JSON_TYPES = {int: {"type": "integer"}, float: {"type": "number"}, bool: {"type": "boolean"},
               str: {"type": "string"}, dict: {"type": "object"}, list: {"type": "array"}}
_OAUTH = "/api/method/frappe.integrations.oauth2."
_AUTH_ANY = [{"token": []}, {"basic": []}, {"bearer": []}, {"oauth2": []}, {"session": []}]
_AUTH_OR_GUEST = [{}, *_AUTH_ANY]
ERROR = {"type": "object", "description": "Frappe's error body (v1: exc_type, exception, _server_messages; "
                                          "v2: errors)"}


def security_schemes() -> dict[str, Any]:
    return {
        "token": {"type": "apiKey", "in": "header", "name": "Authorization",
                  "description": "An API key pair: `token <api_key>:<api_secret>`"},
        "basic": {"type": "http", "scheme": "basic", "description": "The API key pair as user and password"},
        "bearer": {"type": "http", "scheme": "bearer", "description": "An OAuth 2 access token of this site"},
        "oauth2": {"type": "oauth2", "flows": {"authorizationCode": {
            "authorizationUrl": _OAUTH + "authorize", "tokenUrl": _OAUTH + "get_token",
            "refreshUrl": _OAUTH + "get_token", "scopes": {"all": "Everything the user may do",
                                                            "openid": "The user's identity"}}}},
        "session": {"type": "apiKey", "in": "cookie", "name": "sid",
                    "description": "The session of a password login (unsafe verbs also need the "
                                   "X-Frappe-CSRF-Token header)"},
    }


def describe(ctx: Context, router: Router, methods: MethodRegistry, *, title: str = "Ristretto") -> dict:
    """The whole description for the caller of ``ctx``."""
    builder = _Builder(ctx, router, methods)
    for route in _described_routes(router.routes):
        builder.add(route)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": f"{title} API", "version": str(ctx.registry.version or "0"),
                 "description": ("The API as the caller may use it: DocTypes they cannot read, fields above "
                                 "their permission levels, writes they may not do and methods they may not "
                                 "call are left out. Every `/api/...` route also answers under `/api/v1/...` "
                                 "and with a trailing slash.")},
        "servers": [{"url": "/"}],
        "paths": builder.paths,
        "components": {"schemas": builder.schemas, "parameters": shared_parameters(),
                       "responses": {"Error": {"description": "An error", "content": {
                           "application/json": {"schema": ERROR}}}},
                       "securitySchemes": security_schemes()},
        "security": _AUTH_ANY,
        "tags": [{"name": t} for t in sorted(builder.tags)],
    }


def _described_routes(routes: Iterable[Route]) -> list[Route]:
    seen: set[tuple[int, frozenset[str]]] = set()
    out = []
    for r in routes:
        p = r.pattern
        if r.fallback or r.api not in ("v1", "v2") or (p.endswith("/") and p != "/"):
            continue
        if not (p.startswith("/api/") or p.startswith("/.well-known/")):
            continue
        key = (id(r.handler), r.verbs)
        if key in seen:
            continue  # an alias (/api/v1/...) of a route described already
        seen.add(key)
        out.append(r)
    return out


def _path_key(pattern: str) -> str:
    return _PARAM.sub(lambda m: "{" + m.group(1) + "}", pattern)


def _op_id(verb: str, path: str) -> str:
    return verb.lower() + "_" + re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_")


class _Builder:
    def __init__(self, ctx: Context, router: Router, methods: MethodRegistry):
        self.ctx, self.router, self.methods = ctx, router, methods
        self.guest = ctx.user == "Guest"
        self.views = doctype_views(ctx)
        self.paths: dict[str, dict[str, Any]] = {}
        self.tags: set[str] = set()
        self.schemas: dict[str, Any] = {}
        self._refs: dict[tuple[str, str], dict[str, str]] = {}
        # Paths a route names literally: a method of the same name is that route's, not the
        # generic method route's (v2 answers login, logout... with routes of their own).
        self._literal = {r.pattern for r in router.routes if "{" not in r.pattern}

    def add(self, route: Route) -> None:
        verbs = [v for v in _VERBS if v in route.verbs]
        if route.verbs >= _ANY_VERB:
            verbs = ["GET", "POST"]  # "any verb" routes: the two that matter
        if route.method_param:
            self._methods(route, verbs)
            return
        spec = spec_of(route.handler)
        if spec is not None and spec.right is not None and "{doctype}" in route.pattern:
            if self.guest and not spec.guests:
                return
            for view in self.views:
                if view.can(spec.right) and (spec.singles or not view.meta.issingle):
                    self._doc_route(route, verbs, spec, view)
            return
        if spec is not None and self.guest and not spec.guests:
            return
        self._plain(route, verbs, spec or Spec(summary_of(route.handler)))

    def _schema(self, view: DocTypeView, kind: str) -> dict[str, str]:
        """A reference to the DocType's schema ``kind``: "doc" (as read), "new", "change"."""
        ref = self._refs.get((view.name, kind))
        if ref is None:
            base = re.sub(r"[^A-Za-z0-9._-]+", "_", view.name) + ("" if kind == "doc" else "." + kind)
            key, n = base, 1
            while key in self.schemas:
                n += 1
                key = f"{base}_{n}"
            if kind == "doc":
                children = {c: (v.meta, v.readable) for c, v in view.children.items()}
                self.schemas[key] = schemas.document_schema(view.meta, view.readable, children)
            else:
                children = {c: (v.meta, v.writable) for c, v in view.children.items()}
                self.schemas[key] = schemas.write_schema(view.meta, view.writable, children, new=kind == "new")
            ref = self._refs[(view.name, kind)] = {"$ref": f"#/components/schemas/{key}"}
        return ref

    # --- routes of every kind -------------------------------------------------------------

    def _answers(self, route: Route, path: str, verb: str) -> bool:
        """Whether ``route`` itself answers ``path`` (a literal route may take it first)."""
        try:
            found = self.router.match(path, verb)
        except MethodNotAllowed:
            return False
        return found is not None and found[0].handler is route.handler

    def _put(self, path: str, verb: str, op: dict[str, Any], tag: str) -> None:
        op.setdefault("operationId", _op_id(verb, path))
        op["tags"] = [tag]
        self.tags.add(tag)
        self.paths.setdefault(path, {})[verb.lower()] = op

    def _plain(self, route: Route, verbs: list[str], spec: Spec) -> None:
        path = _path_key(route.pattern)
        params = [_path_param(name) for name, _ in _PARAM.findall(route.pattern)]
        tag = "OAuth" if "well-known" in path else "API"
        for verb in verbs:
            op = {"summary": spec.summary or summary_of(route.handler), "parameters": list(params),
                  "responses": _responses(route, {}, answer=spec.answer, media=spec.media)}
            if verb == "GET":
                op["parameters"] += _query(spec.query)
            elif spec.request is not None:
                op["requestBody"] = _json_body(spec.request, required=True)
            elif spec.body == "args":
                op["requestBody"] = _json_body({"type": "object"}, required=False)
            self._put(path, verb, op, tag)

    def _doc_route(self, route: Route, verbs: list[str], spec: Spec, view: DocTypeView) -> None:
        meta = view.meta
        pattern = route.pattern.replace("{doctype}", quote(meta.name, safe=""))
        path = _path_key(pattern)
        params = [_doc_param(n, view) for n, _ in _PARAM.findall(pattern)]
        body = None
        if spec.body in ("new", "change"):
            body = self._schema(view, spec.body)
        elif spec.body == "docs":
            body = {"type": "object", "required": ["docs"], "properties": {"docs": {
                "type": "array", "items": {"allOf": [self._schema(view, "change"), {
                    "type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}]}}}}
        elif spec.body == "names":
            body = {"type": "object", "required": ["names"],
                    "properties": {"names": {"type": "array", "items": {"type": "string"}}}}
        elif spec.body == "args":
            body = {"type": "object", "description": "The method's keyword arguments"}
        result: Any = {}
        if spec.result in ("doc", "docs"):
            result = self._schema(view, "doc")
            if spec.result == "docs":
                result = {"type": "array", "items": result}
        elif spec.result == "count":
            result = {"type": "integer", "minimum": 0}
        for verb in verbs:
            if not self._answers(route, pattern.replace("{name:path}", "x").replace("{method}", "x"), verb):
                continue
            op: dict[str, Any] = {"summary": f"{spec.summary}: {meta.name}", "parameters": list(params),
                                  "responses": _responses(route, result)}
            if spec.description:
                op["description"] = spec.description
            if spec.paged:
                op["responses"][str(route.status)]["content"]["application/json"]["schema"]["properties"] \
                    .update(PAGE_PROPERTIES)
            if verb == "GET":
                op["parameters"] += _query(spec.query)
            elif body is not None:
                op["requestBody"] = _json_body(body, required=spec.body != "args")
                if verb not in ("GET", "DELETE"):
                    op["parameters"] += [q for q in _query(spec.query) if q.get("required")]
            self._put(path, verb, op, meta.name)

    def _methods(self, route: Route, verbs: list[str]) -> None:
        param = route.method_param
        for name in self.methods.names():
            method = self.methods.get(name)
            if method is None or (self.guest and not method.allow_guest):
                continue
            path = route.pattern.replace("{" + param + "}", name)
            if path in self._literal and path != route.pattern:
                continue
            allowed = ["GET", "POST"] if method.verbs == DEFAULT_VERBS else [v for v in verbs if v in method.verbs]
            for verb in allowed:
                if verb not in route.verbs or not self._answers(route, path, verb):
                    continue
                self._put(path, verb, _method_op(route, method, verb), "Methods")


def _method_op(route: Route, method: Method, verb: str) -> dict[str, Any]:
    doc = first_line(method.fn)
    op: dict[str, Any] = {"summary": doc or method.name, "description": f"The whitelisted method `{method.name}`",
                          "parameters": [],
                          "responses": _responses(route, {}, method=True)}
    params = [p for p in method.params if not p.name.startswith("_")]
    if verb == "GET":
        for p in params:
            schema = _JSON_TYPES.get(p.kind, {}) if p.kind not in (dict, list, None) else {"type": "string"}
            entry = {"name": p.name, "in": "query", "required": p.required, "schema": schema}
            if p.kind in (dict, list):
                entry["description"] = _JSON_TEXT
            op["parameters"].append(entry)
    else:
        props = {p.name: dict(_JSON_TYPES.get(p.kind, {})) for p in params}
        body: dict[str, Any] = {"type": "object", "properties": props}
        required = [p.name for p in params if p.required]
        if required:
            body["required"] = required
        op["requestBody"] = _json_body(body, required=bool(required))
    if method.allow_guest:
        op["security"] = _AUTH_OR_GUEST
    return op


_JSON_TEXT = "JSON text"


def _path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}


def _doc_param(name: str, view: DocTypeView) -> dict[str, Any]:
    param = _path_param(name)
    if name == "name" and view.meta.issingle:
        param["schema"] = {"type": "string", "enum": [view.meta.name]}
    return param


def _query(names: tuple[Any, ...]) -> list[dict[str, Any]]:
    out = []
    for n in names:
        if isinstance(n, dict):
            out.append({"required": False, **n})
        else:
            out.append({"$ref": f"#/components/parameters/{n}"})
    return out


def shared_parameters() -> dict[str, Any]:
    return {n: {"name": n, "in": "query", "required": False, "schema": schema, "description": text}
            for n, (schema, text) in QUERY_PARAMS.items()}


def _json_body(schema: dict[str, Any], *, required: bool) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def _responses(route: Route, result: Any, *, method: bool = False, answer: dict[str, Any] | None = None,
               media: str = "application/json") -> dict[str, Any]:
    key = "data" if route.api == "v2" or not method else "message"
    if answer is not None:
        schema: dict[str, Any] = answer
    elif route.api == "v2" or result:
        schema = {"type": "object", "properties": {key: result}}
    else:
        schema = {}
    return {str(route.status): {"description": "Done", "content": {media: {"schema": schema}}},
            "default": {"$ref": "#/components/responses/Error"}}
