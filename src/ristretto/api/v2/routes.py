"""The v2 routes (``/api/v2/...``), each also with a trailing slash; every answer in ``data``."""

from __future__ import annotations

from typing import Any

from ristretto import exceptions as exc
from ristretto.api import dispatch
from ristretto.api.asgi import Response
from ristretto.api.call import Call
from ristretto.api.routing import Route, route, with_trailing_slash


def method(call: Call, name: str) -> Any:
    result = dispatch.call_method(call, name)
    if isinstance(result, Response):
        return result
    return {} if result is None else {"data": result}


def login(call: Call) -> Any:
    # The credentials were checked by the pipeline (a login route); this answers like v1's.
    return method(call, "login")


def not_found(call: Call, rest: str = "") -> Any:
    raise exc.DoesNotExistError("Not found", title="Not found")


ROUTES: list[Route] = [
    *with_trailing_slash([
        route("/api/v2/method/login", "*", login, api="v2", login=True),
        route("/api/v2/method/{name}", "*", method, api="v2"),
    ]),
    *with_trailing_slash([route("/api/v2", "*", not_found, api="v2", fallback=True)]),
    route("/api/v2/{rest:path}", "*", not_found, api="v2", fallback=True),
]
