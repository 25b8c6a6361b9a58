"""The in-process HTTP client of a site: requests to an ``App`` through httpx's ASGI transport.

No server process and no port, for API tests where a real server adds nothing. Durability,
several workers and cache invalidation keep real ``ristretto serve`` processes (the
``server`` fixtures in ``tests/conftest.py``).

``InProcess`` is synchronous. Each request runs the app on the client's own event loop, as
in one server worker. Like a browser it keeps the cookies responses set (``keep_cookies=False``
makes every request stand alone), and it reports the client address it is given.
``InProcess.open(site_dir)`` opens a site folder and closes it with the client; ``open_site``
makes a site on either database, ``token_for`` an API key pair of a user.
"""

from __future__ import annotations

import asyncio
import weakref
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import configure_site, make_site


class InProcess:
    def __init__(self, app: Any, *, headers: dict[str, str] | None = None,
                 address: str = "127.0.0.1", keep_cookies: bool = True) -> None:
        self.app = app
        self.headers = dict(headers or {})  # sent with every request (a request's own win)
        self.keep_cookies = keep_cookies
        self._owns_site = False
        self._loop = asyncio.new_event_loop()
        # A client nobody closed still gives its loop back when it is collected.
        self._finalizer = weakref.finalize(self, self._loop.close)
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 40000)),
                                        base_url="http://127.0.0.1", timeout=30)

    @classmethod
    def open(cls, site_dir: Path, **kw: Any) -> "InProcess":
        """A client of ``App(Site(site_dir))``; ``close()`` closes the site too."""
        from ristretto.api.app import App
        from ristretto.site import Site
        client = cls(App(Site(site_dir)), **kw)
        client._owns_site = True
        return client

    @property
    def site(self) -> Any:
        return self.app.site

    @property
    def cookies(self) -> httpx.Cookies:
        return self.client.cookies

    def token(self, user: str) -> dict[str, str]:
        """``Authorization`` header with a new API key pair of ``user``."""
        return token_for(self.site, user)

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        if not self.keep_cookies:
            self.client.cookies.clear()
        headers = httpx.Headers(self.headers)
        headers.update(kw.pop("headers", None) or {})
        return self._loop.run_until_complete(self.client.request(method, url, headers=headers, **kw))

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("POST", url, **kw)

    def put(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("PUT", url, **kw)

    def patch(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("PATCH", url, **kw)

    def delete(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("DELETE", url, **kw)

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._loop.run_until_complete(self.client.aclose())
        self._finalizer()
        if self._owns_site:
            self.site.close()

    def __enter__(self) -> "InProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
