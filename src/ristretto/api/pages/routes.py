"""The page routes: ``/login``, ``/logout``, the pages' stylesheet and the admin UI (``/app``). Their
errors are HTML (``api="page"``)."""

from __future__ import annotations

from ristretto.api.desk import assets, shell
from ristretto.api.pages import layout, login
from ristretto.api.routing import Route, route

ROUTES: list[Route] = [
    route(login.LOGIN_PATH, "GET", login.show, api="page"),
    route(login.LOGIN_PATH, "POST", login.submit, api="page", login=True),
    route(login.LOGOUT_PATH, "POST", login.logout, api="page"),
    route(layout.STYLE_PATH, "GET", lambda call: layout.stylesheet(), api="page", transaction=False),
    # The admin web UI: one shell for every /app path (the front end routes), its static files.
    route(shell.APP, "GET", shell.app, api="page"),
    route(shell.APP + "/{rest:path}", "GET", shell.app, api="page"),
    route("/desk", "GET", shell.desk, api="page"),
    route("/desk/{rest:path}", "GET", shell.desk, api="page"),
    route(assets.PREFIX + "{file:path}", "GET", assets.serve, api="page", transaction=False),
]
