"""The page routes: ``/login``, ``/logout`` and the pages' stylesheet. Their errors are HTML (``api="page"``)."""

from __future__ import annotations

from ristretto.api.pages import layout, login
from ristretto.api.routing import Route, route

ROUTES: list[Route] = [
    route(login.LOGIN_PATH, "GET", login.show, api="page"),
    route(login.LOGIN_PATH, "POST", login.submit, api="page", login=True),
    route(login.LOGOUT_PATH, "POST", login.logout, api="page"),
    route(layout.STYLE_PATH, "GET", lambda call: layout.stylesheet(), api="page", transaction=False),
]
