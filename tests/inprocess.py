"""An in-process HTTP client of a site: ``App(Site(path))`` through ``httpx.ASGITransport``.

No server process and no port: for tests where a real server adds nothing. Requests are
synchronous calls (each runs the ASGI app on this object's event loop).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from ristretto.api.app import App
from ristretto.site import Site
from ristretto.site.install import generate_keys


class InProcess:
    def __init__(self, site_dir: Path):
        self.app = App(Site(site_dir))
        self.loop = asyncio.new_event_loop()
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app),
                                        base_url="http://127.0.0.1", timeout=30)

    def token(self, user: str) -> dict[str, str]:
        """``Authorization`` header with a new API key pair of ``user``."""
        key, secret = generate_keys(self.app.site, user)
        return {"Authorization": f"token {key}:{secret}"}

    def request(self, method: str, url: str, **kw) -> httpx.Response:
        self.client.cookies.clear()  # every request stands alone: a login's cookie is not reused
        return self.loop.run_until_complete(self.client.request(method, url, **kw))

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()
        self.app.site.close()
