"""Frappe's OAuth2 / OpenID Connect endpoints over HTTP: thin adapters on ``ristretto.auth.oauth``.

The methods live under Frappe's names (``frappe.integrations.oauth2.*``, so under
``/api/method``, ``/api/v1/method`` and ``/api/v2/method`` alike) and answer OAuth's own
JSON, never wrapped in ``message`` or ``data``. ``get_token``, ``revoke_token`` and
``introspect_token`` read an ``Authorization: Basic`` header as the client's credentials
(``client_credentials``), never as a user's API key pair. The discovery documents and
the JWKS are plain routes (:data:`ROUTES`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from authlib.oauth2.rfc6749.errors import OAuth2Error

from ristretto.api import authn, proxy
from ristretto.api.asgi import Response
from ristretto.api.call import Call
from ristretto.api.pages import consent
from ristretto.api.routing import Route, route
from ristretto.auth import sessions
from ristretto.auth.oauth import claims, keys, records, registration
from ristretto.auth.oauth.server import Limiter, OAuthServer, Request
from ristretto.auth.throttle import clear as clear_attempts, reserve as count_attempt
from ristretto.auth.users import find_login_user
from ristretto.db.dialects import quote as quote_name
from ristretto.exceptions import CSRFTokenError, DoesNotExistError, PermissionError
from ristretto.whitelist import whitelist

_PREFIX = "frappe.integrations.oauth2."
_SINGLES = quote_name("tabSingles")
# Longest value of one OAuth argument read (a redirect URI, a state, a PKCE challenge...).
_MAX_ARG = 4096
RESPONSE_TYPES = ["code", "token", "code id_token", "code token id_token", "id_token", "id_token token"]


# --- plumbing --------------------------------------------------------------------------------------

def issuer(call: Call) -> str:
    return proxy.request_origin(call.request, call.site.config) or "http://localhost"


def settings(call: Call) -> dict[str, Any]:
    rows = call.ctx.db.sql(f"SELECT field, value FROM {_SINGLES} WHERE doctype = 'OAuth Settings'")
    values = {field: value for field, value in rows}
    return {"skip_authorization": values.get("skip_authorization") or "Force",
            "password_grant": str(values.get("enable_password_grant", "1")) not in ("0", "", "None"),
            "registration": str(values.get("enable_dynamic_client_registration", "0")) not in ("0", "", "None")}


class _Attempts(Limiter):
    """Wrong client secrets are counted like failed logins (per client and per address), in the
    request's transaction, which the token endpoint commits whatever its answer."""

    def __init__(self, call: Call):
        self.call = call

    def attempt(self, key: str) -> None:
        count_attempt(self.call.ctx.db, self.call.site.config, key, authn.client_address(self.call),
                      own_transaction=False)

    def succeeded(self, key: str) -> None:
        clear_attempts(self.call.ctx.db, key, authn.client_address(self.call))


def _server(call: Call, password_check=None) -> OAuthServer:
    return OAuthServer(call.ctx, issuer(call), limiter=_Attempts(call), password_check=password_check,
                       password_grant=settings(call)["password_grant"])


def _request(call: Call) -> Request:
    data = {k: v for k, v in call.form.items() if isinstance(v, str) and len(v) <= _MAX_ARG
            and k not in ("cmd", "csrf_token")}
    headers = {}
    auth = call.request.header("authorization")
    if auth is not None:
        headers["Authorization"] = auth
    # The transport's security is the deployment's (Frappe serves OAuth on plain-HTTP sites
    # too): authlib's https-only check is given the URL with https.
    uri = "https://" + issuer(call).split("://", 1)[-1] + call.request.path
    return Request(call.request.method, uri, headers, data)


def _json(body: Any, status: int = 200) -> Response:
    response = Response.json(body, status)
    response.headers.append((b"pragma", b"no-cache"))
    return response


def _answer(result: tuple[int, Any, list], force_400: bool = False) -> Response:
    status, body, headers = result
    location = next((v for k, v in headers if k.lower() == "location"), None)
    if location is not None:
        return redirect(location)
    if force_400 and status >= 400:
        status = 400  # Frappe forces every token error to 400
    return _json(body if body != "" else {}, status)


def redirect(location: str, status: int = 302) -> Response:
    return Response(b"", status, b"text/plain; charset=utf-8", [(b"location", location.encode())])


def _authorize_error(error: OAuth2Error) -> Response:
    if error.redirect_uri:  # authlib sets it only for a redirect URI registered for the client
        return _answer(error())
    return _json({"description": error.description or error.error, "status_code": error.status_code,
                  "error": error.error}, error.status_code)


def _missing(name: str) -> Response:
    return _json({"description": f"Missing '{name}' parameter.", "status_code": 400, "error": "invalid_request"}, 400)


# --- authorization -----------------------------------------------------------------------------------

def _authorize_query(call: Call) -> str:
    args = {k: v for k, v in call.form.items() if isinstance(v, str) and k not in ("cmd", "csrf_token", "sid")}
    return urlencode(args, quote_via=quote)


# Committed whatever the verb: a GET may issue a code (skip_authorization) or mint the CSRF token.
@whitelist(_PREFIX + "authorize", methods=["GET", "POST"], allow_guest=True, xss_safe=True, commit=True)
def authorize(call: Call, **kwargs):
    ctx = call.ctx
    if ctx.user == "Guest":
        back = f"/api/method/{_PREFIX}authorize?{_authorize_query(call)}"
        return redirect("/login?" + urlencode({"redirect-to": back}, quote_via=quote))
    for name in ("client_id", "response_type"):
        if not isinstance(call.form.get(name), str) or not call.form.get(name):
            return _missing(name)
    server = _server(call)
    request = _request(call)
    try:
        grant = server.get_consent_grant(request, end_user=ctx.user)
    except OAuth2Error as e:
        return _authorize_error(e)
    client = grant.client
    if not client.may_use(ctx.roles):
        return _json({"description": "You are not allowed to use this application", "status_code": 403,
                      "error": "access_denied"}, 403)
    mode = settings(call)["skip_authorization"]
    if client.skip_authorization or (mode == "Auto" and records.has_active_token(ctx, client.client_id, ctx.user)):
        return _answer(server.create_authorization_response(request, grant_user=ctx.user, grant=grant))
    fields = dict(request.payload.data)
    redirect_uri = request.payload.redirect_uri or client.get_default_redirect_uri()
    deny_params = {"error": "access_denied"}
    if request.payload.state:
        deny_params["state"] = request.payload.state
    deny = redirect_uri + ("&" if "?" in redirect_uri else "?") + urlencode(deny_params, quote_via=quote)
    return consent.render(call, app_name=client.app_name, user=ctx.user, scopes=request.scope.split(),
                          action=f"/api/method/{_PREFIX}approve", fields=fields, deny_url=deny,
                          csrf_token=_csrf_token(call))


def _csrf_token(call: Call) -> str:
    """The session's CSRF token (made now if it has none): the consent form posts it back."""
    token = sessions.ensure_csrf_token(call.ctx.db, call.sid)
    if token is None:
        raise PermissionError("Not permitted")
    return token


@whitelist(_PREFIX + "approve", methods=["POST"], xss_safe=True)
def approve(call: Call, **kwargs):
    """The consent page's Allow: the code (or token) goes to the client's redirect URI."""
    ctx = call.ctx
    if ctx.user == "Guest" or not call.sid:
        raise PermissionError("Not permitted")
    # The session's CSRF token, minted by the consent page, was checked against the form's by
    # the pipeline; a session that never saw a consent page has none, and may not approve.
    session = sessions.resume(ctx.db, call.sid)
    if session is None or not session.csrf_token:
        raise CSRFTokenError("Invalid Request", title="Invalid Request")
    server = _server(call)
    request = _request(call)
    request.method = "GET"  # authlib's authorization endpoint is validated as the GET it came from
    try:
        grant = server.get_consent_grant(request, end_user=ctx.user)
    except OAuth2Error as e:
        return _authorize_error(e)
    if not grant.client.may_use(ctx.roles):
        return _json({"description": "You are not allowed to use this application", "status_code": 403,
                      "error": "access_denied"}, 403)
    return _answer(server.create_authorization_response(request, grant_user=ctx.user, grant=grant))


# --- tokens ------------------------------------------------------------------------------------------

@whitelist(_PREFIX + "get_token", methods=["POST", "GET"], allow_guest=True, xss_safe=True, commit=True,
           client_credentials=True)
def get_token(call: Call, **kwargs):
    form = call.form
    password_grant = form.get("grant_type") == "password" and settings(call)["password_grant"]
    work = call.password_work
    if password_grant and work is None and form.get("username") and form.get("password"):
        # The password is checked off the event loop; this handler runs again with the result.
        return authn.begin_password_check(call, call.ctx.db, form.get("username"), form.get("password"),
                                          in_transaction=True)

    def password_check(username: str, password: str) -> str | None:
        if work is None or work.user is None or find_login_user(call.ctx.db, username.strip()) != work.user:
            return None
        info = authn.checked_user(call, call.ctx.db, work)
        return info.name if info is not None else None

    server = _server(call, password_check)
    return _answer(server.create_token_response(_request(call)), force_400=True)


def _token_request(call: Call) -> tuple[OAuthServer, Request, records.Client | None]:
    server = _server(call)
    request = _request(call)
    return server, request, server.client_of(request, required=False)


def _find(call: Call, token: Any, hint: Any) -> records.Token | None:
    kinds = ("refresh_token", "access_token") if hint == "refresh_token" else ("access_token", "refresh_token")
    for kind in kinds:
        found = records.find_token(call.ctx.db, token, kind)
        if found is not None:
            return found
    return None


@whitelist(_PREFIX + "revoke_token", methods=["POST"], allow_guest=True, xss_safe=True, client_credentials=True)
def revoke_token(call: Call, **kwargs):
    """Revoke a token (access or refresh: the pair goes together). ``{}`` whether or not it was
    known (RFC 7009); a client that authenticates may revoke only its own tokens."""
    try:
        _server_, _request_, client = _token_request(call)
    except OAuth2Error as e:
        return _answer(e(), force_400=True)
    found = _find(call, call.form.get("token"), call.form.get("token_type_hint"))
    if found is not None and (client is None or found.client_id == client.client_id):
        records.revoke(call.ctx, found)
    return _json({})


@whitelist(_PREFIX + "introspect_token", methods=["POST"], allow_guest=True, xss_safe=True,
           client_credentials=True)
def introspect_token(call: Call, **kwargs):
    try:
        _server_, _request_, client = _token_request(call)
    except OAuth2Error as e:
        return _answer(e(), force_400=True)
    hint = call.form.get("token_type_hint")
    found = _find(call, call.form.get("token"), hint)
    refresh = found is not None and hint == "refresh_token"
    if found is None or found.is_revoked() or (not refresh and found.is_expired()) \
            or (client is not None and found.client_id != client.client_id):
        return _json({"active": False})
    owner = records.load_client(call.ctx, found.client_id)
    body: dict[str, Any] = {"client_id": found.client_id, "trusted_client": int(bool(owner and owner.skip_authorization)),
                            "active": True, "exp": int(found.expires_at), "scope": found.scopes,
                            "token_type": "Bearer"}
    if "openid" in found.scopes.split():
        body.update(claims.user_claims(call.ctx, found.user, issuer(call)))
        body["aud"] = found.client_id
    return _json(body)


@whitelist(_PREFIX + "openid_profile", methods=["GET", "POST"])
def openid_profile(call: Call, **kwargs):
    if call.ctx.user == "Guest":
        raise PermissionError("Not permitted")
    return _json(claims.user_claims(call.ctx, call.ctx.user, issuer(call)))


@whitelist(_PREFIX + "register_client", methods=["POST"], allow_guest=True, xss_safe=True)
def register_client(call: Call, **kwargs):
    """RFC 7591 registration (JSON body), when OAuth Settings enables it; 201 with the client."""
    if not settings(call)["registration"]:
        raise DoesNotExistError("Dynamic client registration is not enabled on this site", title="Not found")
    try:
        return _json(registration.register(call.ctx, call.form), 201)
    except registration.RegistrationError as e:
        return _json({"error": e.error, "error_description": e.description}, 400)


# --- discovery ---------------------------------------------------------------------------------------

def _endpoint(call: Call, name: str) -> str:
    return f"{issuer(call)}/api/method/{_PREFIX}{name}"


def _metadata(call: Call) -> dict[str, Any]:
    """What both discovery documents say, from the same settings the endpoints enforce."""
    base = issuer(call)
    grants = ["authorization_code", "refresh_token"]
    if settings(call)["password_grant"]:
        grants.append("password")
    return {
        "issuer": base,
        "authorization_endpoint": _endpoint(call, "authorize"),
        "token_endpoint": _endpoint(call, "get_token"),
        "userinfo_endpoint": _endpoint(call, "openid_profile"),
        "revocation_endpoint": _endpoint(call, "revoke_token"),
        "introspection_endpoint": _endpoint(call, "introspect_token"),
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "grant_types_supported": grants,
        "scopes_supported": ["all", "openid"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256", "plain"],
        **_registration_endpoint(call),
    }


def openid_configuration(call: Call) -> Response:
    meta = _metadata(call)
    meta["grant_types_supported"] = [*meta["grant_types_supported"], "implicit"]
    return Response.json({
        **meta,
        "response_types_supported": RESPONSE_TYPES,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["HS256", "RS256"],
        "claims_supported": ["sub", "name", "given_name", "family_name", "email", "picture", "roles", "iss",
                             "aud", "exp", "iat", "nonce", "at_hash"],
    })


def authorization_server(call: Call) -> Response:
    """RFC 8414 metadata: what OAuth-only clients (frappectl) read before anything else."""
    return Response.json({
        **_metadata(call),
        "response_types_supported": ["code"],
        "revocation_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
    })


def _registration_endpoint(call: Call) -> dict[str, str]:
    # Advertised only when enabled: its presence is what tells clients to register themselves.
    return {"registration_endpoint": _endpoint(call, "register_client")} if settings(call)["registration"] else {}


def jwks(call: Call) -> Response:
    return Response.json(keys.jwks(call.ctx))


ROUTES: list[Route] = [
    route("/.well-known/openid-configuration", "GET", openid_configuration, transaction=False),
    route("/.well-known/oauth-authorization-server", "GET", authorization_server, transaction=False),
    route("/.well-known/jwks.json", "GET", jwks, transaction=False),
]
