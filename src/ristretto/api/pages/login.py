"""The login page: ``GET /login`` shows the form, ``POST /login`` logs in and goes on;
``POST /logout`` ends the session (a form's button: a link could log anyone out from another site).

The form is plain HTML (no script): it posts ``usr``, ``pwd`` and ``redirect-to`` to ``/login``,
a route flagged ``login``, so the request pipeline checks the password (off the event loop) before
:func:`submit` runs; a failed login comes back through the page envelope as this form again, with
the reason and the status of the failure (``failed``). After a login, and for a visitor already
logged in, the answer is a 303 to ``redirect-to``, which is only ever a path on this site
(:func:`safe_redirect`): a link to the login page can never send someone elsewhere.
"""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import quote

from ristretto import exceptions as exc
from ristretto.api import authn, proxy
from ristretto.api.asgi import Response
from ristretto.api.call import Call
from ristretto.auth import sessions
from ristretto.api.pages import layout

LOGIN_PATH = "/login"
LOGOUT_PATH = "/logout"
# A longer ``redirect-to`` is no link a person follows: the front page instead.
MAX_REDIRECT = 2048


def safe_redirect(value: Any) -> str:
    """``value`` if it is a path on this site, else ``/``.

    A path starts with one ``/``; ``//host`` and ``/\\host`` are other sites to a browser (which
    reads a backslash as a slash), and a value without the leading slash may carry a scheme
    (``https:``, ``javascript:``). Browsers drop tabs and newlines inside URLs (``/\\t/host`` is
    ``//host``), so no control character or white space is accepted anywhere. Letters outside
    ASCII are percent-encoded so that the value fits a ``Location`` header.
    """
    if not isinstance(value, str) or not value or len(value) > MAX_REDIRECT:
        return "/"
    if value[0] != "/" or "\\" in value or value[1:2] == "/":
        return "/"
    if not all(c.isprintable() and not c.isspace() for c in value):
        return "/"
    if value.isascii():
        return value
    return "".join(c if c.isascii() else quote(c, safe="") for c in value)


def login_url(redirect_to: Any) -> str:
    """The login page's URL that comes back to ``redirect_to`` (a path on this site)."""
    return f"{LOGIN_PATH}?redirect-to={quote(safe_redirect(redirect_to), safe='')}"


def render(call: Call, *, error: str | None = None, status: int = 200, usr: str = "",
           redirect_to: str = "/") -> Response:
    """The login form; ``error`` (text) is said above it, and the fields are marked invalid."""
    alert = invalid = ""
    # After a failure with the name kept, the password is what to type again.
    retry = bool(error and usr)
    if error:
        alert = f'<p class="alert" id="login-error" role="alert">{escape(error)}</p>\n'
        invalid = ' aria-invalid="true" aria-describedby="login-error"'
    body = (
        '<h1 id="title">Log in</h1>\n'
        '<p class="lead">Enter your e-mail address or user name and your password.</p>\n'
        f'{alert}'
        f'<form method="post" action="{LOGIN_PATH}" aria-labelledby="title">\n'
        f'<input type="hidden" name="redirect-to" value="{escape(safe_redirect(redirect_to))}">\n'
        '<div class="field"><label for="usr">E-mail or user name</label>\n'
        f'<input id="usr" name="usr" type="text" value="{escape(usr)}" autocomplete="username" '
        f'autocapitalize="none" spellcheck="false" required{"" if retry else " autofocus"}{invalid}></div>\n'
        '<div class="field"><label for="pwd">Password</label>\n'
        f'<input id="pwd" name="pwd" type="password" autocomplete="current-password" required'
        f'{" autofocus" if retry else ""}{invalid}></div>\n'
        '<button type="submit" class="block">Log in</button>\n</form>')
    return layout.page("Log in", body, status=status)


def show(call: Call) -> Response:
    """``GET /login``: the form, or straight on for a visitor already logged in."""
    target = safe_redirect(call.form.get("redirect-to"))
    if call.ctx.user != "Guest":
        return layout.redirect(target)
    return render(call, redirect_to=target)


def submit(call: Call) -> Response:
    """``POST /login``, once the pipeline has logged the user in: on to ``redirect-to``."""
    if proxy.cross_site(call.request, call.site.config):
        # A page on another site must not log the browser in to an account of its choosing
        # (login CSRF): the new session's cookies are withdrawn, so it is never used.
        authn.clear_session_cookies(call)
        raise exc.CSRFTokenError("This login form was sent from another site. Log in here instead.",
                                 title="Invalid Request")
    return layout.redirect(safe_redirect(call.form.get("redirect-to")))


def failed(call: Call, error: BaseException) -> Response:
    """The form again after a failed ``POST /login``, saying why, with the failure's status."""
    if isinstance(error, exc.FrappeError):
        status, message = error.http_status, error.message or "Login failed"
    else:  # logged by the pipeline; its details are not for the visitor
        status, message = 500, "The login could not be completed. Please try again."
    usr = call.form.get("usr")
    return render(call, error=message, status=status, usr=usr if isinstance(usr, str) else "",
                  redirect_to=safe_redirect(call.form.get("redirect-to")))


def logout(call: Call) -> Response:
    """``POST /logout``: the session ends and the browser goes to the login page, which comes back
    to ``redirect-to``. The pipeline has checked the session's CSRF token and refused a form sent
    from another site."""
    if call.sid:
        sessions.delete(call.ctx.db, call.sid)
        call.sid = None
    authn.clear_session_cookies(call)
    return layout.redirect(login_url(call.form.get("redirect-to")))
