"""Dynamic client registration (RFC 7591): an application registers itself as an OAuth Client.

Off unless OAuth Settings ``enable_dynamic_client_registration`` is set: registration is
anonymous, so anyone who can reach the site could add clients. What a registration may ask
for is narrow — the authorization code grant (with refresh tokens), the ``code`` response
type, this site's scopes, exact redirect URIs — and the client is made through the model
like one an administrator creates, so the same validation applies. A public client
(``token_endpoint_auth_method: none``) must then use PKCE; a confidential one gets its
secret once, in the answer.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ristretto.auth.oauth.records import check_redirect_uri_text, load_client
from ristretto.exceptions import ValidationError

if TYPE_CHECKING:
    from ristretto.model.context import Context

SCOPES = ("all", "openid")
_METHODS = {"none": "None", "client_secret_basic": "Client Secret Basic",
            "client_secret_post": "Client Secret Post"}
_GRANTS = frozenset({"authorization_code", "refresh_token"})
MAX_REDIRECT_URIS = 10
MAX_NAME = 140


class RegistrationError(Exception):
    """An RFC 7591 error: ``error`` is its code, the message its description."""

    def __init__(self, error: str, description: str):
        super().__init__(description)
        self.error = error
        self.description = description


def _strings(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RegistrationError("invalid_client_metadata", f"'{what}' must be a list of strings")
    return value


def register(ctx: "Context", metadata: Any) -> dict:
    """Create an OAuth Client from RFC 7591 metadata; the registration answer."""
    if not isinstance(metadata, dict):
        raise RegistrationError("invalid_client_metadata", "The request body must be a JSON object")
    uris = _strings(metadata.get("redirect_uris"), "redirect_uris")
    if not uris or len(uris) > MAX_REDIRECT_URIS:
        raise RegistrationError("invalid_redirect_uri",
                                f"Between 1 and {MAX_REDIRECT_URIS} redirect URIs are required")
    for uri in uris:
        try:
            check_redirect_uri_text(uri)
        except ValidationError as e:
            raise RegistrationError("invalid_redirect_uri", e.message) from None
    name = metadata.get("client_name") or "Registered application"
    if not isinstance(name, str) or len(name) > MAX_NAME:
        raise RegistrationError("invalid_client_metadata", f"'client_name' must be text of at most {MAX_NAME} characters")
    method = metadata.get("token_endpoint_auth_method", "client_secret_basic")
    if method not in _METHODS:
        raise RegistrationError("invalid_client_metadata",
                                f"'token_endpoint_auth_method' must be one of {', '.join(_METHODS)}")
    grants = set(_strings(metadata.get("grant_types", ["authorization_code"]), "grant_types"))
    if not grants or not grants <= _GRANTS:
        raise RegistrationError("invalid_client_metadata", "Only the authorization_code and refresh_token grants "
                                                           "may be registered")
    if set(_strings(metadata.get("response_types", ["code"]), "response_types")) != {"code"}:
        raise RegistrationError("invalid_client_metadata", "Only the 'code' response type may be registered")
    scope = metadata.get("scope") or " ".join(SCOPES)
    if not isinstance(scope, str) or not scope.split() or any(s not in SCOPES for s in scope.split()):
        raise RegistrationError("invalid_client_metadata", f"'scope' may hold only: {' '.join(SCOPES)}")
    from ristretto.model import document
    from ristretto.model.context import AllowAll
    trusted = replace(ctx, perms=AllowAll())
    doc = document.insert(trusted, "OAuth Client", {
        "app_name": name, "redirect_uris": "\n".join(uris), "default_redirect_uri": uris[0],
        "scopes": " ".join(dict.fromkeys(scope.split())), "grant_type": "Authorization Code",
        "response_type": "Code", "token_endpoint_auth_method": _METHODS[method], "skip_authorization": 0})
    answer = {"client_id": doc.name, "client_id_issued_at": int(time.time()), "client_name": name,
              "redirect_uris": uris, "grant_types": sorted(grants), "response_types": ["code"],
              "token_endpoint_auth_method": method, "scope": " ".join(dict.fromkeys(scope.split()))}
    if method != "none":
        answer["client_secret"] = load_client(ctx, doc.name).secret
        answer["client_secret_expires_at"] = 0
    return answer
