"""``/app`` and everything below it: one HTML shell that boots the front end; ``/desk`` redirects.

The shell is served only to a logged-in user (a Guest goes to the login page and comes back).
It carries the boot data the front end starts from: the user, their roles, the session's CSRF
token (minted here, as Frappe's desk does, so from now on this session's unsafe requests must
send it) and the DocTypes the user may read, grouped by module.
"""

from __future__ import annotations

import json
from html import escape
from urllib.parse import quote

from ristretto.api.asgi import Response
from ristretto.api.call import Call
from ristretto.api.desk import assets
from ristretto.api.pages import layout, login
from ristretto.api.authn import page_csrf_token

APP = "/app"
# The front end's own routes never reach the server as anything but /app/...; a path this long
# is nobody's view.
MAX_PATH = 2000


def boot(call: Call) -> dict:
    ctx = call.ctx
    doctypes = []
    for meta in call.site.registry.all():
        if meta.istable or not ctx.perms.has(ctx, meta.name, "read"):
            continue
        doctypes.append({"name": meta.name, "module": meta.module or "Other", "issingle": int(meta.issingle),
                         "is_submittable": int(meta.is_submittable)})
    doctypes.sort(key=lambda d: (d["module"], d["name"]))
    return {"user": ctx.user, "full_name": _full_name(call), "roles": sorted(ctx.roles),
            "csrf_token": page_csrf_token(call), "doctypes": doctypes,
            "is_system_manager": int(ctx.user == "Administrator" or "System Manager" in ctx.roles)}


def _full_name(call: Call) -> str:
    row = call.ctx.db.one('SELECT full_name FROM "tabUser" WHERE name = ?', (call.ctx.user,))
    return (row[0] if row else None) or call.ctx.user


def app(call: Call, rest: str = "") -> Response:
    path = call.request.path
    if call.ctx.user == "Guest" or not call.sid:
        # Only a browser session may use the desk (an API key or token is not a login).
        query = call.request.query_string.decode("latin-1")
        back = path + (f"?{query}" if query else "")
        return layout.redirect(login.login_url(back[:MAX_PATH]))
    data = json.dumps(boot(call), separators=(",", ":")).replace("<", "\\u003c")
    html = (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="color-scheme" content="light dark">\n'
        '<title>Ristretto</title>\n<link rel="icon" href="data:,">\n'
        f'<link rel="stylesheet" href="{escape(assets.url("desk.css"))}">\n'
        f'<script type="module" src="{escape(assets.url("app.js"))}"></script>\n'
        '</head>\n<body>\n'
        f'<script type="application/json" id="boot">{data}</script>\n'
        '<div id="app" aria-live="polite"><p class="loading">Loading…</p></div>\n'
        '</body>\n</html>\n')
    return layout.page_response(html, csp=assets.CSP)


def desk(call: Call, rest: str = "") -> Response:
    """Frappe's older desk URL: ``/desk#List/ToDo`` and ``/desk/...`` go to ``/app``."""
    return layout.redirect(APP + ("/" + quote(rest, safe="/-_.~") if rest else ""))
