"""Small helpers shared by the HTTP tests."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote


def url(doctype: str, name: Any = None) -> str:
    """Resource URL: spaces percent-encoded, ``/`` inside a name kept as is (Frappe routes it)."""
    out = "/api/resource/" + quote(doctype, safe="")
    if name is not None:
        out += "/" + quote(str(name), safe="/")
    return out


def ok(r, status: int = 200) -> Any:
    """Assert the status and return the ``data`` of a resource response."""
    assert r.status_code == status, f"{r.request.method} {r.request.url} -> {r.status_code}: {r.text[:3000]}"
    return r.json().get("data")
