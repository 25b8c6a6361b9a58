"""The per-request state of the HTTP layer, handed to every handler and method."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ristretto.api.args import UploadedFile
from ristretto.api.asgi import Request
from ristretto.model.context import Context


@dataclass
class Call:
    ctx: Context
    request: Request
    form: dict[str, Any]
    files: dict[str, UploadedFile]
    site: Any
    # Keys merged into the v1 response body (login's full_name, session_expired, ...).
    extra: dict[str, Any] = field(default_factory=dict)
    # (name, value, options) cookies to set; value None expires the cookie.
    cookies: list[tuple[str, str | None, dict]] = field(default_factory=list)
    # Headers added to a successful answer (the ETag of a document read or written).
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    sid: str | None = None
    auth_via: str = "guest"
    # The auth_version this request read; cache entries are stored under it.
    auth_version: str | None = None
    # The whitelisted methods (ristretto.whitelist.MethodRegistry) and the matched route.
    methods: Any = None
    route: Any = None
    # A handler that needs a password checked (the OAuth password grant) answers with an
    # ``authn.PasswordWork``; the pipeline runs it off the event loop and calls the handler
    # again with the checked work here.
    password_work: Any = None
    # Likewise an upload to a network file storage (``ristretto.api.storage.StorageWork``).
    storage_work: Any = None
    # Whether a listing may answer with a stream read from its own snapshot; a batch step may not
    # (its snapshot would not see the batch's earlier, uncommitted steps).
    stream: bool = True

    @property
    def user(self) -> str:
        return self.ctx.user

    def set_cookie(self, name: str, value: str | None, **options: Any) -> None:
        self.cookies = [c for c in self.cookies if c[0] != name]
        self.cookies.append((name, value, options))
