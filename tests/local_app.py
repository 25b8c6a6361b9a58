"""In-process HTTP: requests to an ``App`` through httpx's ASGI transport, no server process.

``InProcess`` is a small synchronous client (one event loop per request) that keeps the
cookies a response sets, like a browser, and reports a client address of its choice.
``open_site`` makes a site on either database for it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import configure_site, make_site


class InProcess:
    def __init__(self, app: Any, *, headers: dict[str, str] | None = None,
                 address: str = "127.0.0.1") -> None:
        self.app = app
        self.headers = dict(headers or {})
        self.address = address
        self.cookies = httpx.Cookies()

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, client=(self.address, 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                         headers=self.headers, cookies=self.cookies) as client:
                response = await client.request(method, url, **kw)
                self.cookies = client.cookies
                return response

        return asyncio.run(send())

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("POST", url, **kw)

    def put(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("PUT", url, **kw)

    def delete(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("DELETE", url, **kw)


def open_site(tmp: Path, backend: str, request: Any, **config: Any) -> Any:
    """A new site on ``backend`` with ``config`` added to its site_config.json, opened."""
    from ristretto.site import Site
    site_dir = make_site(tmp, backend, request)
    if config:
        configure_site(site_dir, **config)
    return Site(site_dir)


def token_for(site: Any, user: str) -> dict[str, str]:
    """Authorization headers with a fresh API key pair of ``user``."""
    from ristretto.site.install import generate_keys
    key, secret = generate_keys(site, user)
    return {"Authorization": f"token {key}:{secret}"}
