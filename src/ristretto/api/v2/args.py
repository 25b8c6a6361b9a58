"""Arguments of v2 requests: JSON values and their shapes, in one place.

v2 arguments arrive in ``form_dict`` (a JSON body or query-string/form fields): a JSON-valued
argument (``fields``, ``filters``, ``document``, ``kwargs``...) is JSON text or an already
decoded value. A value of the wrong shape is a ``FrappeValueError`` (417) naming the argument,
e.g. "'fields' must be a list", as Frappe's v2 answers.
"""

from __future__ import annotations

from typing import Any

from ristretto.api.args import truthy_arg
from ristretto.api.jsonargs import loose_arg
from ristretto.exceptions import FrappeValueError

__all__ = ["json_arg", "text_arg", "include_arg", "truthy_arg", "payload"]

# What a v2 write takes from form_dict besides document values: never stored.
_NOT_VALUES = ("doctype", "flags", "cmd", "sid", "csrf_token")
_SHAPES = {list: "a list", dict: "a dictionary", (list, dict): "a list or dictionary"}


def json_arg(form: dict[str, Any], key: str, kinds: type | tuple[type, ...]) -> Any:
    """The decoded JSON argument ``key`` (None when absent or empty), of one of ``kinds``."""
    value = loose_arg(form.get(key), key)
    if not isinstance(value, kinds):
        if value is None or value == "" or value is False:
            return None  # absent, as Frappe reads an empty value
        raise FrappeValueError(f"'{key}' must be {_SHAPES.get(kinds, kinds)}", title="Invalid argument")
    return value


def text_arg(form: dict[str, Any], key: str) -> str | None:
    value = form.get(key)
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise FrappeValueError(f"'{key}' must be a string", title="Invalid argument")
    return value


def include_arg(form: dict[str, Any], known: tuple[str, ...]) -> list[str]:
    """The parts ``include`` names (comma-separated); an unknown one is refused."""
    value = text_arg(form, "include")
    parts = [p.strip() for p in value.split(",") if p.strip()] if value else []
    for part in parts:
        if part not in known:
            raise FrappeValueError(f"Unknown include part {part}. Known parts: {', '.join(known)}",
                                   title="Invalid argument")
    return parts


def payload(form: dict[str, Any]) -> dict[str, Any]:
    """A v2 insert or update carries the document in form_dict itself."""
    return {k: v for k, v in form.items() if k not in _NOT_VALUES}
