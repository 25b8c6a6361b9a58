"""The ``"page"`` envelope (``Route.api``): answers and errors of the HTML pages, as HTML.

Page handlers answer with whole responses, or with a page's markup as a string. An error becomes
an HTML page with its status: the login form again for a failed login (``login.failed``),
otherwise a short page naming the error. Unexpected errors say nothing of their cause (the
pipeline has logged it), and no page ever carries a traceback.
"""

from __future__ import annotations

from typing import Any, Callable

from ristretto import exceptions as exc
from ristretto.api.asgi import Response
from ristretto.api.call import Call
from ristretto.api.pages import layout, login

_TITLES = {400: "Bad request", 401: "Not logged in", 403: "Not permitted", 404: "Page not found",
           413: "Request too large", 417: "Invalid request", 429: "Too many requests"}


def render(call: Call, body: Any, status: int, stream_error: Callable[[BaseException], Response]) -> Response:
    if isinstance(body, str):
        return layout.page_response(body, status)
    raise TypeError(f"a page handler answered with {type(body).__name__}, not a page")


def error(call: Call, err: BaseException, base: dict[str, Any], tracebacks: bool) -> Response:
    route = call.route
    if route is not None and route.login:
        return login.failed(call, err)
    if isinstance(err, exc.FrappeError):
        status = err.http_status
        title = err.title or _TITLES.get(status, "Error")
        message = err.message or title
    else:
        status, title = 500, "Server error"
        message = "Something went wrong on the server. Please try again later."
    return layout.error_page(status, title, message)
