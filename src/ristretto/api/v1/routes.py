"""The v1 routes: ``/api/method/<name>`` and ``/api/resource/<doctype>[/<name>]``, each also
under ``/api/v1`` and with a trailing slash; stored files; the site's front page."""

from __future__ import annotations

from typing import Any

from ristretto import exceptions as exc
from ristretto.api import dispatch, files
from ristretto.api.asgi import Response
from ristretto.api.call import Call
from ristretto.api.routing import Route, route, with_trailing_slash
from ristretto.api.v1 import resource


def method(call: Call, name: str) -> Any:
    result = dispatch.call_method(call, name)
    # A whole answer (a download, OAuth's JSON) or a password to check first: passed on as is.
    if isinstance(result, dispatch.UNWRAPPED):
        return result
    return {} if result is None else {"message": result}


def login(call: Call) -> Any:
    return method(call, "login")


def command(call: Call) -> Any:
    """Legacy ``cmd=<method>`` on any path."""
    return method(call, call.form["cmd"])


def not_found(call: Call, rest: str = "") -> Any:
    raise exc.DoesNotExistError("Not found", title="Not found")


def home(call: Call) -> Response:
    return Response(b"<!doctype html><title>Ristretto</title><p>Ristretto is running. "
                    b"The API is under <code>/api/</code>.</p>", 200, b"text/html; charset=utf-8")


def public_file(call: Call, path: str) -> Any:
    # The name is checked and resolved safely in ristretto.api.files.
    return files.serve(call, False, path)


def private_file(call: Call, path: str) -> Any:
    return files.serve(call, True, path)


# ``cmd=`` in the arguments wins over the path, as in Frappe; ``cmd=login`` is a login.
COMMAND = route("/", "*", command)
COMMAND_LOGIN = route("/", "*", command, login=True)


def _api(prefix: str) -> list[Route]:
    doc = f"{prefix}/resource/{{doctype}}/{{name:path}}"
    listing = f"{prefix}/resource/{{doctype}}"
    return with_trailing_slash([
        route(f"{prefix}/method/login", "*", login, login=True),
        route(f"{prefix}/method/{{name}}", "*", method, method_param="name"),
        # Reads of documents need no transaction: each statement sees committed data.
        route(listing, "GET", resource.list_docs, transaction=False),
        route(listing, "POST", resource.create_doc),
        route(doc, "GET", resource.read_doc, transaction=False),
        route(doc, "PUT", resource.update_doc),
        route(doc, "DELETE", resource.delete_doc, status=202),
        route(doc, "POST", resource.run_doc_method),
    ])


ROUTES: list[Route] = [
    *_api("/api"),
    *_api("/api/v1"),
    route("/api/{rest:path}", "*", not_found, fallback=True),
    route("/files/{path:path}", "*", public_file),
    route("/private/files/{path:path}", "*", private_file),
    route("/", "*", home),
]
