"""OAuth clients, authorization codes and bearer tokens as stored, and the rules bound to them.

Codes, access tokens and refresh tokens are kept only as SHA-256 hex digests (the
``authorization_code``, ``access_token`` and ``refresh_token`` columns): a copy of the
database lets nobody act as a user. A client's secret is a Password field (encrypted
with the site key), because HS256 id_tokens are signed with it and must be verifiable
by the client with the same secret.

Clients are read through :func:`load_client`; the ``OAuth Client`` controller keeps
their records sound (``client_id`` = name, a secret, registered redirect URIs, matching
grant and response types) and bumps ``auth_version`` on every change, so cached bearer
checks that depend on a client's scopes are dropped everywhere.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin
from authlib.oauth2.rfc6749.errors import InvalidScopeError
from authlib.oidc.core import AuthorizationCodeMixin

from ristretto.db import state
from ristretto.db.connection import Connection
from ristretto.db.batches import delete_in_batches
from ristretto.db.dialects import quote
from ristretto.exceptions import ValidationError
from ristretto.model import passwords

if TYPE_CHECKING:
    from ristretto.model.base import Document
    from ristretto.model.context import Context

CLIENTS = quote("tabOAuth Client")
CLIENT_ROLES = quote("tabOAuth Client Role")
CODES = quote("tabOAuth Authorization Code")
# Days expired codes and tokens are kept before housekeeping removes them (ristretto.api.housekeeping).
EXPIRED_KEPT_DAYS = 30
TOKENS = quote("tabOAuth Bearer Token")
# A code is exchanged within seconds by a working client; RFC 6749 asks for at most 10 minutes.
CODE_LIFETIME = 300
TOKEN_LIFETIME = 3600
# Longer credentials are refused before any hashing or lookup.
MAX_CREDENTIAL = 512
CONFIDENTIAL = frozenset({"Client Secret Basic", "Client Secret Post"})
# Response types a client may ask for whatever its configured type (OpenID Connect).
OIDC_RESPONSE_TYPES = frozenset({"id_token", "id_token token", "code id_token", "code id_token token"})
_UNSAFE_SCHEMES = frozenset({"javascript", "data", "vbscript", "file", "blob", "about"})


def digest(credential: str) -> str:
    return hashlib.sha256(credential.encode()).hexdigest()


def new_credential() -> str:
    return secrets.token_urlsafe(32)


def _stamp(epoch: float) -> str:
    return _dt.datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M:%S.%f")


def prune_expired(conn: Connection, days: float = EXPIRED_KEPT_DAYS, now: float | None = None) -> int:
    """Remove authorization codes and bearer tokens that expired more than ``days`` ago (Frappe
    clears bearer tokens 30 days after their expiry; a refresh token dies with its row); how many
    went."""
    cutoff = _stamp((time.time() if now is None else now) - days * 86400)
    return sum(delete_in_batches(conn, table, "name", "expiration_time < ?", (cutoff,))
               for table in ("tabOAuth Authorization Code", "tabOAuth Bearer Token"))


def _epoch(value: Any) -> float:
    if isinstance(value, _dt.datetime):
        return value.timestamp()
    try:
        return _dt.datetime.fromisoformat(str(value)).timestamp()
    except (TypeError, ValueError):
        return 0.0


# --- clients ---------------------------------------------------------------------------------------

@dataclass
class Client(ClientMixin):
    client_id: str
    app_name: str
    scopes: tuple[str, ...]
    redirect_uris: tuple[str, ...]
    default_redirect_uri: str
    grant_type: str
    response_type: str
    auth_method: str
    skip_authorization: bool
    allowed_roles: frozenset[str]
    alg: str
    secret: str | None
    password_grant: bool = True

    @property
    def confidential(self) -> bool:
        """Set so by an administrator: must authenticate with its secret at the token endpoint."""
        return self.auth_method in CONFIDENTIAL

    @property
    def id_token_signed_response_alg(self) -> str:
        # HS256 needs a secret both sides hold. A client an administrator declared public
        # ("None") holds none it could keep, and a client left unset (Frappe's default) signs
        # with its secret as Frappe does; otherwise the site's RSA key signs.
        if self.alg == "RS256" or not self.secret or self.auth_method == "None":
            return "RS256"
        return "HS256"

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.default_redirect_uri

    def get_allowed_scope(self, scope: str | None) -> str:
        """The scopes granted for a request: all of the client's when none are asked; a scope
        the client was not registered with is refused, not silently dropped."""
        if not scope:
            return " ".join(self.scopes)
        asked = scope.split()
        if any(s not in self.scopes for s in asked):
            raise InvalidScopeError(f"The client may not ask for '{scope}'")
        return " ".join(dict.fromkeys(asked))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris  # exact match, as registered

    def check_client_secret(self, client_secret: str) -> bool:
        if not self.secret or not isinstance(client_secret, str) or len(client_secret) > MAX_CREDENTIAL:
            return False
        return hmac.compare_digest(client_secret.encode(), self.secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method != "none" or not self.confidential

    def check_response_type(self, response_type: str) -> bool:
        if response_type in OIDC_RESPONSE_TYPES:
            return True
        return response_type == {"Code": "code", "Token": "token"}.get(self.response_type, "code")

    def check_grant_type(self, grant_type: str) -> bool:
        if grant_type == "password":
            return self.password_grant
        return grant_type in ("authorization_code", "refresh_token", "implicit")

    def may_use(self, roles: frozenset[str]) -> bool:
        return not self.allowed_roles or bool(self.allowed_roles & roles)


def load_client(ctx: "Context", client_id: Any) -> Client | None:
    if not isinstance(client_id, str) or not client_id or len(client_id) > 140 or "\x00" in client_id:
        return None
    row = ctx.db.one(
        f"SELECT name, app_name, scopes, redirect_uris, default_redirect_uri, grant_type, response_type, "
        f"token_endpoint_auth_method, skip_authorization, id_token_signed_response_alg FROM {CLIENTS} "
        f"WHERE name = ?", (client_id,))
    if row is None:
        return None
    name, app_name, scopes, uris, default_uri, grant, response, method, skip, alg = row
    roles = frozenset(r[0] for r in ctx.db.sql(
        f"SELECT role FROM {CLIENT_ROLES} WHERE parent = ? AND parenttype = 'OAuth Client'", (name,)) if r[0])
    secret = ctx.db.value(f"SELECT password FROM {quote('__Auth')} WHERE doctype = 'OAuth Client' AND name = ? "
                          f"AND fieldname = 'client_secret' AND encrypted = 1", (name,))
    registered = tuple(dict.fromkeys([*(uris or "").split(), *([default_uri] if default_uri else [])]))
    return Client(client_id=name, app_name=app_name or name, scopes=tuple((scopes or "").split()),
                  redirect_uris=registered, default_redirect_uri=default_uri or (registered[0] if registered else ""),
                  grant_type=grant or "Authorization Code", response_type=response or "Code",
                  auth_method=method or "", skip_authorization=bool(skip), allowed_roles=roles,
                  alg=alg or "HS256",
                  secret=passwords.decrypt(secret, passwords.site_key(ctx)) if secret else None)


def check_redirect_uri_text(uri: str) -> None:
    """A redirect URI a client may register: absolute, no fragment, no script-like scheme."""
    parts = urlsplit(uri)
    if not parts.scheme or parts.scheme.lower() in _UNSAFE_SCHEMES or parts.fragment or len(uri) > 2000:
        raise ValidationError(f"Invalid redirect URI {uri!r}: an absolute URI without a fragment is required",
                              title="Invalid redirect URI")
    if parts.scheme.lower() in ("http", "https") and not parts.netloc:
        raise ValidationError(f"Invalid redirect URI {uri!r}: no host", title="Invalid redirect URI")


class OAuthClientController:
    """Keeps OAuth Client records sound; every change invalidates cached bearer checks."""

    def validate(self, ctx: "Context", doc: "Document") -> None:
        d = doc.d
        d["client_id"] = str(doc.name)
        if doc.previous is None and not d.get("user"):
            d["user"] = ctx.user
        if not d.get("client_secret"):
            d["client_secret"] = secrets.token_urlsafe(24)
        pairs = {("Authorization Code", "Code"), ("Implicit", "Token")}
        grant, response = d.get("grant_type") or "Authorization Code", d.get("response_type") or "Code"
        if (grant, response) not in pairs:
            raise ValidationError(f"Combination of Grant Type (<b>{grant}</b>) and Response Type "
                                  f"(<b>{response}</b>) not allowed", title="Invalid client")
        d["grant_type"], d["response_type"] = grant, response
        uris = (d.get("redirect_uris") or "").split()
        default = (d.get("default_redirect_uri") or "").strip()
        for uri in [*uris, *([default] if default else [])]:
            check_redirect_uri_text(uri)
        d["default_redirect_uri"] = default
        if not (d.get("scopes") or "").split():
            raise ValidationError("Scopes are required", title="Missing value")
        state.bump(ctx.db, state.AUTH)

    def on_trash(self, ctx: "Context", doc: "Document") -> None:
        # Its codes and tokens go with it (they link to it) and stop working at once.
        ctx.db.execute(f"DELETE FROM {CODES} WHERE client = ?", (str(doc.name),))
        ctx.db.execute(f"DELETE FROM {TOKENS} WHERE client = ?", (str(doc.name),))
        state.bump(ctx.db, state.AUTH)


# --- authorization codes -----------------------------------------------------------------------------

@dataclass
class Code(AuthorizationCodeMixin):
    name: str
    code_hash: str
    client_id: str
    user: str
    scopes: str
    redirect_uri: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: float

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scopes

    def get_nonce(self) -> str | None:
        return self.nonce or None

    def get_auth_time(self) -> int | None:
        return None


def save_code(ctx: "Context", code: str, client: Client, user: str, scope: str, redirect_uri: str,
              nonce: str | None, challenge: str | None, method: str | None) -> None:
    from ristretto.model import document
    document.insert_record(ctx, "OAuth Authorization Code", {
        "client": client.client_id, "user": user, "scopes": scope, "authorization_code": digest(code),
        "expiration_time": _stamp(time.time() + CODE_LIFETIME),
        "redirect_uri_bound_to_authorization_code": redirect_uri, "validity": "Valid",
        "nonce": nonce, "code_challenge": challenge,
        "code_challenge_method": (method or ("plain" if challenge else "")).lower() or None})


def claim_code(ctx: "Context", code: Any, client: Client) -> Code | None:
    """The code's record, made invalid in the same statement (a code is used once). A code
    used before revokes what was issued with it; an unknown, expired, or another client's
    code is None."""
    if not isinstance(code, str) or not code or len(code) > MAX_CREDENTIAL:
        return None
    hashed = digest(code)
    # Another client's code is not touched: its owner can still redeem it.
    row = ctx.db.one(
        f"UPDATE {CODES} SET validity = 'Invalid', modified = ? WHERE authorization_code = ? "
        f"AND client = ? AND validity = 'Valid' RETURNING name, client, \"user\", scopes, "
        f"redirect_uri_bound_to_authorization_code, nonce, code_challenge, code_challenge_method, "
        f"expiration_time", (ctx.now(), hashed, client.client_id))
    if row is None:
        if ctx.db.value(f"SELECT name FROM {CODES} WHERE authorization_code = ? AND client = ?",
                        (hashed, client.client_id)) is not None:
            # Replayed: whoever holds the tokens of the first exchange may hold a stolen code.
            revoke_where(ctx, "authorization_code = ?", (hashed,))
        return None
    record = Code(row[0], hashed, row[1], row[2], row[3] or "", row[4] or "", row[5], row[6], row[7],
                  _epoch(row[8]))
    return record if record.expires_at > time.time() else None


# --- bearer tokens ---------------------------------------------------------------------------------

@dataclass
class Token(TokenMixin):
    name: str
    client_id: str
    user: str
    scopes: str
    expires_at: float
    expires_in: int
    status: str
    # The code the first token of this line was issued for (kept through refreshes, so a
    # replayed code revokes them all).
    code_hash: str | None = None

    def check_client(self, client: Client) -> bool:
        return self.client_id == client.client_id

    def get_scope(self) -> str:
        return self.scopes

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return self.expires_at <= time.time()

    def is_revoked(self) -> bool:
        return self.status != "Active"

    def get_user(self) -> str:
        return self.user

    def get_client(self) -> str:
        return self.client_id


_TOKEN_COLUMNS = "name, client, \"user\", scopes, expiration_time, expires_in, status, authorization_code"


def _token(row) -> Token:
    return Token(row[0], row[1], row[2], row[3] or "", _epoch(row[4]), int(row[5] or 0), row[6] or "Active",
                 row[7])


def save_token(ctx: "Context", token: dict, client_id: str, user: str, code_hash: str | None) -> None:
    from ristretto.model import document
    expires_in = int(token.get("expires_in") or TOKEN_LIFETIME)
    refresh = token.get("refresh_token")
    document.insert_record(ctx, "OAuth Bearer Token", {
        "client": client_id, "user": user, "scopes": token.get("scope") or "",
        "access_token": digest(token["access_token"]), "refresh_token": digest(refresh) if refresh else None,
        "expiration_time": _stamp(time.time() + expires_in), "expires_in": expires_in, "status": "Active",
        "authorization_code": code_hash})


def find_token(conn: Connection, token: Any, kind: str = "access_token") -> Token | None:
    if not isinstance(token, str) or not token or len(token) > MAX_CREDENTIAL:
        return None
    column = "refresh_token" if kind == "refresh_token" else "access_token"
    row = conn.one(f"SELECT {_TOKEN_COLUMNS} FROM {TOKENS} WHERE {column} = ?", (digest(token),))
    return _token(row) if row else None


def revoke(ctx: "Context", token: Token) -> None:
    revoke_where(ctx, "name = ?", (token.name,))


def revoke_where(ctx: "Context", condition: str, params: tuple) -> None:
    """Revoke the tokens matching a fixed condition of this module (never request text)."""
    ctx.db.execute(f"UPDATE {TOKENS} SET status = 'Revoked', modified = ? WHERE status = 'Active' AND {condition}",
                   (ctx.now(), *params))
    # Bearer checks cached by any worker are stale from here on.
    state.bump(ctx.db, state.AUTH)


def has_active_token(ctx: "Context", client_id: str, user: str) -> bool:
    return ctx.db.value(f"SELECT name FROM {TOKENS} WHERE client = ? AND \"user\" = ? AND status = 'Active' "
                        f"AND expiration_time > ?", (client_id, user, ctx.now())) is not None


@dataclass(frozen=True)
class BearerCheck:
    """What a request needs from an access token: cached per auth_version by the API layer."""
    user: str | None
    expires_at: float


def bearer_check(conn: Connection, access_token: str) -> BearerCheck:
    """The user of a live access token (user None: unknown, revoked, or carrying a scope its
    client no longer has); the expiry is checked by the caller on every request."""
    token = find_token(conn, access_token)
    if token is None or token.status != "Active":
        return BearerCheck(None, 0.0)
    scopes = conn.value(f"SELECT scopes FROM {CLIENTS} WHERE name = ?", (token.client_id,))
    if scopes is None or not set(token.scopes.split()) <= set(scopes.split()):
        return BearerCheck(None, 0.0)
    return BearerCheck(token.user, token.expires_at)
