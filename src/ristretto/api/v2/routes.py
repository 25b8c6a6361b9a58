"""The v2 routes (``/api/v2/...``), each also with a trailing slash; every answer in ``data``.

Handlers live in ``methods`` (``/method/...``), ``documents`` (``/document/...``) and
``doctypes`` (``/doctype/...``). ``QUERY`` is a read wherever it is accepted (no commit, no
CSRF check), with its arguments in the body.
"""

from __future__ import annotations

from ristretto.api.routing import Route, route, with_trailing_slash
from ristretto.api.v2 import batch, doctypes, documents, methods

_V2 = "/api/v2"
_LIST = f"{_V2}/document/{{doctype}}"
_DOC = f"{_V2}/document/{{doctype}}/{{name:path}}"
_DOCTYPE = f"{_V2}/doctype/{{doctype}}"
_READ = ("GET", "QUERY")
_METHOD = ("GET", "POST", "QUERY")


def _v2(pattern: str, verbs, handler, **flags) -> Route:
    return route(pattern, verbs, handler, api="v2", **flags)


ROUTES: list[Route] = [
    *with_trailing_slash([
        _v2(f"{_V2}/method/login", "*", methods.login, login=True),
        _v2(f"{_V2}/method/logout", "POST", methods.logout),
        _v2(f"{_V2}/method/upload_file", "POST", methods.upload_file),
        _v2(f"{_V2}/method/bulk_delete", "POST", methods.bulk_delete),
        _v2(f"{_V2}/method/bulk_update", "POST", methods.bulk_update),
        _v2(f"{_V2}/batch", "POST", batch.run),  # several document requests in one transaction
        _v2(f"{_V2}/method/run_doc_method", _METHOD, methods.run_doc_method),
        _v2(f"{_V2}/method/{{name}}", "*", methods.method, method_param="name"),
        _v2(f"{_V2}/method/{{doctype}}/{{method_name}}", "*", methods.doctype_method),
        # Reads of documents need no transaction: each statement sees committed data, and a
        # streamed listing reads from its own snapshot.
        _v2(_LIST, _READ, documents.list_docs, transaction=False),
        _v2(_LIST, "POST", documents.create_doc),
        _v2(f"{_LIST}/bulk_delete", "POST", documents.bulk_delete_docs),
        _v2(f"{_LIST}/bulk_update", "POST", documents.bulk_update_docs),
        _v2(_DOC, "GET", documents.read_doc, transaction=False),
        _v2(f"{_DOC}/copy", "GET", documents.copy_doc, transaction=False),
        _v2(_DOC, ("PATCH", "PUT"), documents.update_doc),
        _v2(_DOC, "DELETE", documents.delete_doc, status=202),
        # A GET method runs in a transaction that is rolled back: it never writes.
        _v2(f"{_DOC}/method/{{method}}", _METHOD, documents.doc_method),
        _v2(f"{_DOCTYPE}/meta", "GET", doctypes.meta, transaction=False),
        _v2(f"{_DOCTYPE}/count", _READ, doctypes.count, transaction=False),
        _v2(f"{_DOCTYPE}/search", "GET", doctypes.search, transaction=False),
    ]),
    *with_trailing_slash([_v2(_V2, "*", methods.not_found, fallback=True)]),
    _v2(f"{_V2}/{{rest:path}}", "*", methods.not_found, fallback=True),
]
