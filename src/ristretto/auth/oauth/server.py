"""The protocol work of the OAuth2 server: authlib's server core with this site's storage and rules.

One :class:`OAuthServer` is made per request (it holds that request's ``Context``, its
issuer URL and its password check), so nothing is shared between requests. authlib
validates the requests and shapes the answers; the rules where Frappe's own provider
went wrong are ours and are enforced here:

* a client authenticates with its secret (HTTP Basic or form) or, when no administrator
  made it confidential, with its ``client_id`` alone; a secret that is sent is always
  checked, and wrong ones are counted against the client (throttled like logins);
* a code is single use, expires after ``records.CODE_LIFETIME``, is bound to its client
  and redirect URI, and a replayed code revokes the tokens issued with it;
* PKCE (``S256``, or ``plain``) is required of every client that did not authenticate;
* refresh tokens are bound to their client and rotated on use;
* no token is issued for a disabled user or one outside the client's allowed roles.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any, Callable

from authlib.oauth2.rfc6749 import AuthorizationServer, OAuth2Request
from authlib.oauth2.rfc6749 import errors
from authlib.oauth2.rfc6749.grants import (AuthorizationCodeGrant, ImplicitGrant, RefreshTokenGrant,
                                          ResourceOwnerPasswordCredentialsGrant)
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7636.challenge import compare_plain_code_challenge, compare_s256_code_challenge
from authlib.oidc.core.grants import OpenIDCode, OpenIDHybridGrant, OpenIDImplicitGrant
from joserfc.jwk import OctKey

from ristretto.auth.oauth import claims, keys, records
from ristretto.auth.users import user_info

if TYPE_CHECKING:
    from ristretto.model.context import Context


class Request(OAuth2Request):
    """An OAuth2 request from the HTTP layer's parsed arguments (query and form alike, as
    Frappe's ``form_dict``) and headers."""

    def __init__(self, method: str, uri: str, headers: dict[str, str], data: dict[str, str]):
        super().__init__(method, uri, headers=headers)
        self._data = data
        self.payload = BasicOAuth2Payload(data)

    @property
    def args(self) -> dict[str, str]:
        return self._data

    @property
    def form(self) -> dict[str, str]:
        return self._data


class Limiter:
    """Counts a client's wrong secrets (``attempt`` before the check, ``succeeded`` after)."""

    def attempt(self, key: str) -> None:  # pragma: no cover - the API layer gives the real one
        pass

    def succeeded(self, key: str) -> None:  # pragma: no cover
        pass


class OAuthServer(AuthorizationServer):
    def __init__(self, ctx: "Context", issuer: str, *, limiter: Limiter,
                 password_check: Callable[[str, str], str | None] | None = None,
                 password_grant: bool = True):
        super().__init__()
        self.ctx, self.issuer, self.limiter = ctx, issuer, limiter
        self.password_check = password_check
        self.password_grant = password_grant
        self._clients: dict[str, records.Client | None] = {}
        # The client this request authenticated as (one per request).
        self.client: records.Client | None = None
        self.register_grant(CodeGrant, [PKCE(required=True), IdToken(self)])
        self.register_grant(TokenGrant)
        self.register_grant(OIDCImplicitGrant)
        self.register_grant(OIDCHybridGrant, [IdToken(self)])
        self.register_grant(RefreshGrant)
        if password_grant:
            self.register_grant(PasswordGrant)
        generator = BearerTokenGenerator(_credential, _credential, lambda client, grant_type: records.TOKEN_LIFETIME)
        self.register_token_generator("default", generator)

    # --- authlib's hooks --------------------------------------------------------------------------

    def query_client(self, client_id: Any) -> records.Client | None:
        if client_id not in self._clients:
            client = records.load_client(self.ctx, client_id)
            if client is not None:
                client.password_grant = self.password_grant
            self._clients[client_id] = client
        return self._clients[client_id]

    def save_token(self, token: dict, request: OAuth2Request) -> None:
        code, old = request.authorization_code, request.refresh_token
        code_hash = code.code_hash if isinstance(code, records.Code) else \
            old.code_hash if isinstance(old, records.Token) else None
        records.save_token(self.ctx, token, request.client.client_id, request.user, code_hash)

    def create_oauth2_request(self, request: Request) -> Request:
        return request

    def create_json_request(self, request):  # pragma: no cover - no JSON endpoints here
        raise NotImplementedError

    def handle_response(self, status: int, body: Any, headers: list) -> tuple[int, Any, list]:
        return status, body, headers

    def send_signal(self, name: str, *args, **kwargs) -> None:
        pass

    def validate_requested_scope(self, scope: str | None) -> None:
        pass  # checked against the client by records.Client.get_allowed_scope

    def authenticate_client(self, request: OAuth2Request, methods, endpoint: str = "token") -> records.Client:
        return self.client_of(request)

    # --- our rules ---------------------------------------------------------------------------------

    def client_of(self, request: OAuth2Request, required: bool = True) -> records.Client | None:
        """The client a token, revocation or introspection request authenticates as (see the
        module's docstring); None when ``required`` is false and the request names none."""
        basic_id, basic_secret = extract_basic_authorization(request.headers)
        data = request.payload.data
        form_id, form_secret = data.get("client_id") or None, data.get("client_secret") or None
        if basic_id and form_id and basic_id != form_id:
            raise errors.InvalidClientError(description="The client_id does not match the HTTP Basic credentials.")
        if basic_secret and form_secret:
            raise errors.InvalidRequestError("More than one client authentication method was used.")
        client_id = basic_id or form_id
        if not client_id and data.get("grant_type") == "refresh_token":
            # A public client may refresh with the refresh token alone (Frappe's clients do);
            # the token names its client, which must then be one that needs no secret.
            token = records.find_token(self.ctx.db, data.get("refresh_token"), "refresh_token")
            client_id = token.client_id if token is not None else None
        if not client_id:
            if required:
                raise errors.InvalidClientError(description="Missing 'client_id' parameter.")
            return None
        secret = basic_secret if basic_id else form_secret
        key = f"oauth-client:{client_id}"[:200]
        if secret:
            self.limiter.attempt(key)
        client = self.query_client(client_id)
        if client is None:
            raise errors.InvalidClientError(description="The client does not exist on this server.")
        if secret:
            if not client.check_client_secret(secret):
                raise errors.InvalidClientError(description="Invalid client secret.")
            self.limiter.succeeded(key)
            request.auth_method = "client_secret_basic" if basic_id else "client_secret_post"
        elif client.confidential:
            raise errors.InvalidClientError(description="This client must authenticate with its secret.")
        else:
            request.auth_method = "none"
        self.client = client
        return client

    def may_have_token(self, user: str | None, client: records.Client) -> str | None:
        """``user`` if it is enabled and holds one of the client's allowed roles, else None."""
        if not user:
            return None
        info = user_info(self.ctx.db, user)
        if info is None or not info.enabled or user == "Guest" or not client.may_use(info.roles):
            return None
        return user

    def id_token_key(self, client: records.Client):
        if client.id_token_signed_response_alg == "HS256":
            return OctKey.import_key(client.secret)
        return keys.signing_key(self.ctx)


def _credential(*args: Any, **kwargs: Any) -> str:
    return records.new_credential()


# --- the grants -------------------------------------------------------------------------------------

class CodeGrant(AuthorizationCodeGrant):
    # Our own client authentication (OAuthServer.client_of) decides; authlib only needs a name.
    TOKEN_ENDPOINT_AUTH_METHODS = ["none", "client_secret_basic", "client_secret_post"]
    AUTHORIZATION_CODE_LENGTH = 43

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        save_code(self.server, code, request)

    def query_authorization_code(self, code: str, client: records.Client) -> records.Code | None:
        return records.claim_code(self.server.ctx, code, client)

    def delete_authorization_code(self, authorization_code: records.Code) -> None:
        pass  # made invalid when it was claimed

    def authenticate_user(self, authorization_code: records.Code) -> str | None:
        return self.server.may_have_token(authorization_code.user, self.request.client)


def save_code(server: OAuthServer, code: str, request: OAuth2Request) -> None:
    data = request.payload.data
    client = request.client
    records.save_code(server.ctx, code, client, request.user, request.scope,
                      request.payload.redirect_uri or client.get_default_redirect_uri(),
                      data.get("nonce"), data.get("code_challenge"), data.get("code_challenge_method"))


class _NamedByClientId:
    """The implicit and hybrid grants answer at the authorization endpoint, where a client is
    only named (by ``client_id``), never authenticated: a confidential client's secret stays
    out of the browser."""

    def authenticate_token_endpoint_client(self):
        client = self.server.query_client(self.request.payload.client_id)
        if client is None:
            raise errors.InvalidClientError(description="The client does not exist on this server.")
        self.request.client = client
        return client


class TokenGrant(_NamedByClientId, ImplicitGrant):
    pass


class PKCE(CodeChallenge):
    # Frappe's clients send the method in lower case ("s256"), as Frappe stores it.
    SUPPORTED_CODE_CHALLENGE_METHOD = ["plain", "S256", "s256"]
    CODE_CHALLENGE_METHODS = {"plain": compare_plain_code_challenge, "S256": compare_s256_code_challenge,
                              "s256": compare_s256_code_challenge}

    def validate_code_verifier(self, grant, result):
        # RFC 7636 asks for 43 to 128 characters; Frappe accepts shorter ones (its documented
        # example uses "420"), which only weakens the client that chose it. The characters
        # stay the RFC's and the length stays capped.
        verifier = grant.request.form.get("code_verifier")
        if verifier and _SHORT_VERIFIER.match(verifier) and len(verifier) < 43:
            grant.request.form["code_verifier"] = verifier
            return self._check_short(grant, verifier)
        return super().validate_code_verifier(grant, result)

    def _check_short(self, grant, verifier: str) -> None:
        code = grant.request.authorization_code
        challenge = self.get_authorization_code_challenge(code)
        if not challenge:
            raise errors.InvalidRequestError("The authorization request had no 'code_challenge', "
                                             "but a 'code_verifier' was provided.")
        method = self.get_authorization_code_challenge_method(code) or self.DEFAULT_CODE_CHALLENGE_METHOD
        if not self.CODE_CHALLENGE_METHODS[method](verifier, challenge):
            raise errors.InvalidGrantError(description="Code challenge failed.")


_SHORT_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{1,42}$")


class RefreshGrant(RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["none", "client_secret_basic", "client_secret_post"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> records.Token | None:
        token = records.find_token(self.server.ctx.db, refresh_token, "refresh_token")
        return token if token is not None and not token.is_revoked() else None

    def authenticate_user(self, refresh_token: records.Token) -> str:
        user = self.server.may_have_token(refresh_token.user, self.request.client)
        if user is None:  # disabled since, or no longer in the client's allowed roles
            raise errors.InvalidGrantError(description="The user of this refresh token may not have a token.")
        return user

    def revoke_old_credential(self, refresh_token: records.Token) -> None:
        records.revoke(self.server.ctx, refresh_token)


class PasswordGrant(ResourceOwnerPasswordCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["none", "client_secret_basic", "client_secret_post"]

    def authenticate_user(self, username: str, password: str) -> str | None:
        check = self.server.password_check
        user = check(username, password) if check is not None else None
        # authlib sets request.client only after this check.
        user = self.server.may_have_token(user, self.server.client)
        if user is None:  # RFC 6749: invalid resource owner credentials are an invalid grant
            raise errors.InvalidGrantError(description="Invalid username or password.")
        return user


# --- OpenID Connect ---------------------------------------------------------------------------------

class _IdTokenSigning:
    """How this site signs id_tokens: HS256 with the client's secret (as Frappe, so clients
    verify with the secret they hold) or RS256 with the site key published as JWKS."""

    server: OAuthServer

    def resolve_client_private_key(self, client: records.Client):
        return self.server.id_token_key(client)

    def get_client_algorithm(self, client: records.Client) -> str:
        return client.id_token_signed_response_alg

    def get_client_claims(self, client: records.Client) -> dict:
        return {"iss": self.server.issuer, "aud": client.client_id,
                "exp": int(time.time()) + records.TOKEN_LIFETIME}

    def get_encode_header(self, client: records.Client) -> dict:
        alg = client.id_token_signed_response_alg
        header = {"typ": "jwt", "alg": alg}
        if alg == "RS256":
            header["kid"] = keys.signing_key(self.server.ctx).kid
        return header

    def generate_user_info(self, user: str, scope: str) -> dict:
        out = claims.user_claims(self.server.ctx, user, self.server.issuer)
        out.pop("iss", None)
        return out

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        client_id = request.payload.client_id
        return self.server.ctx.db.value(
            f"SELECT 1 FROM {records.CODES} WHERE client = ? AND nonce = ?", (client_id, nonce)) is not None


class IdToken(_IdTokenSigning, OpenIDCode):
    def __init__(self, server: OAuthServer):
        super().__init__(require_nonce=False)
        self.server = server


class OIDCImplicitGrant(_NamedByClientId, _IdTokenSigning, OpenIDImplicitGrant):
    pass


class OIDCHybridGrant(_NamedByClientId, _IdTokenSigning, OpenIDHybridGrant):
    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        save_code(self.server, code, request)

