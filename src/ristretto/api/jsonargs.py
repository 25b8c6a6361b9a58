"""JSON arguments: the one place where request text becomes Python values.

Frappe's clients send structured arguments (``filters``, ``fields``, ``doc``, ``docs``,
``args``...) either as JSON text (query strings, form fields) or already decoded (inside a
JSON body). Every API module reads them through these functions, so each argument is
decoded in linear time (orjson), under a length cap, with the same errors:

* text longer than the cap: 417 ``DataError`` "Argument 'x' is longer than N characters";
* text that should be JSON and is not: 417 ``DataError`` "Invalid JSON in argument 'x'";
* JSON of the wrong shape: 417 ``DataError`` "Argument 'x' must be a JSON object" (array...).

The model and the query compiler then only ever receive Python values.
"""

from __future__ import annotations

from typing import Any

import orjson

from ristretto.exceptions import DataError

# Characters of one argument that describes a query (filters, fields, names, method
# arguments): far above any real filter list, small enough to decode in milliseconds.
MAX_ARG_TEXT = 1_000_000
# Characters of one argument that carries documents (doc, docs, data): as large as a
# request body may be by default, since a document may hold long texts.
MAX_DOC_TEXT = 25 * 1024 * 1024
_TITLE = "Invalid argument"


def too_long(name: str, limit: int) -> DataError:
    return DataError(f"Argument '{name}' is longer than {limit} characters", title=_TITLE)


def invalid(name: str) -> DataError:
    return DataError(f"Invalid JSON in argument '{name}'", title=_TITLE)


def _text(value: Any, name: str, limit: int) -> str | None:
    """The argument as text (bytes decoded), None when it is not text; the cap checked."""
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    if len(value) > limit:
        raise too_long(name, limit)
    return value


def _loads(text: str, name: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # also orjson's nesting limit
        raise invalid(name) from None


def decode(text: str | bytes, name: str, *, limit: int = MAX_ARG_TEXT) -> Any:
    """JSON text → value; 417 when it is too long or not JSON."""
    text = _text(text, name, limit)
    if text is None:
        raise invalid(name)
    return _loads(text, name)


def json_arg(value: Any, name: str, *, limit: int = MAX_ARG_TEXT) -> Any:
    """An argument documented as JSON: JSON text, or a value a JSON body already decoded."""
    text = _text(value, name, limit)
    return value if text is None else _loads(text, name)


def loose_arg(value: Any, name: str, *, limit: int = MAX_ARG_TEXT) -> Any:
    """Frappe's reading of ``fields`` / ``filters``: text that looks like JSON (an array, an
    object, a string, null/true/false) must be JSON; empty text is None; other text (a
    field list ``"name, status"``, a name) stays text; decoded values pass through."""
    text = _text(value, name, limit)
    if text is None:
        return value
    text = text.strip()
    if not text:
        return None
    if text[0] in "[{\"" or text in ("null", "true", "false"):
        return _loads(text, name)
    return text


def maybe_json(value: Any, name: str, *, limit: int = MAX_ARG_TEXT) -> tuple[bool, Any]:
    """(True, decoded value) when ``value`` is JSON text, else (False, the value as given,
    bytes as text): for arguments where text that is not JSON means itself."""
    text = _text(value, name, limit)
    if text is None:
        return False, value
    try:
        return True, orjson.loads(text)
    except orjson.JSONDecodeError:
        return False, text


def object_arg(value: Any, name: str, *, limit: int = MAX_DOC_TEXT) -> dict:
    """A JSON object argument (a copy: callers may change it)."""
    data = json_arg(value, name, limit=limit)
    if not isinstance(data, dict):
        raise DataError(f"Argument '{name}' must be a JSON object", title=_TITLE)
    return dict(data)


def objects_arg(value: Any, name: str, *, limit: int = MAX_DOC_TEXT) -> list[dict]:
    """A JSON array of objects (copies)."""
    data = json_arg(value, name, limit=limit)
    if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
        raise DataError(f"Argument '{name}' must be a JSON array of objects", title=_TITLE)
    return [dict(d) for d in data]


def table_values(meta: Any, values: dict, *, limit: int = MAX_DOC_TEXT) -> dict:
    """``values`` of a document of ``meta`` with child tables sent as text (form fields)
    decoded: JSON rows, or no rows for empty text. ``values`` is changed and returned."""
    for tf in meta.table_fields:
        value = values.get(tf.fieldname)
        if isinstance(value, (str, bytes, bytearray)):
            values[tf.fieldname] = loose_arg(value, tf.fieldname, limit=limit) or []
    return values


def body_value(body: bytes) -> Any:
    """A JSON request body (its size is capped where the body is read); 417 when not JSON."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise DataError("Invalid request body: not valid JSON", title="Invalid request") from None
