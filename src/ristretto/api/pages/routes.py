"""The page routes: ``/login`` and the pages' stylesheet. Their errors are HTML (``api="page"``)."""

from __future__ import annotations

from ristretto.api.pages import layout, login
from ristretto.api.routing import Route, route

ROUTES: list[Route] = [
    route(login.LOGIN_PATH, "GET", login.show, api="page"),
    route(login.LOGIN_PATH, "POST", login.submit, api="page", login=True),
    route(layout.STYLE_PATH, "GET", lambda call: layout.stylesheet(), api="page", transaction=False),
]
