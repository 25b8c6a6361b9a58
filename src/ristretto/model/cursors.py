"""Keyset cursors of v2 lists (``after=``): opaque, URL-safe text naming a position in a listing.

A cursor is base64url (no padding) of compact JSON ``{"d": doctype, "o": order, "v": values}``:
the DocType, the listing's sort key as text (``"modified desc,name desc"``, see
``ristretto.db.compiled.Compiled.key_text``) and the key values of the last row of a page. It is
not signed: it grants nothing (its values are bound parameters compared with columns the user
may already sort by) and a tampered one is checked like any other argument, so decoding refuses
anything that is not exactly this shape (417), in linear time and under a length cap.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import decimal
from typing import Any

import orjson

from ristretto.exceptions import DataError

# Characters of a cursor: a sort key of a few columns fits in a few hundred.
MAX_CURSOR_LENGTH = 4096


def invalid(reason: str) -> DataError:
    return DataError(f"Invalid cursor: {reason}", title="Invalid cursor")


def _plain(value: Any) -> Any:
    """A database value as JSON: temporal values and PostgreSQL's numerics as text."""
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return str(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, _dt.timedelta):
        secs = value.total_seconds()
        return f"{int(secs // 3600):02d}:{int(secs % 3600 // 60):02d}:{secs % 60:09.6f}"
    return value


def encode(doctype: str, order: str, values: list[Any]) -> str:
    text = orjson.dumps({"d": doctype, "o": order, "v": [_plain(v) for v in values]})
    return base64.urlsafe_b64encode(text).rstrip(b"=").decode("ascii")


def decode(cursor: Any) -> tuple[str, str, list[Any]]:
    """(doctype, order, values) of a cursor; a 417 for anything else."""
    if not isinstance(cursor, str) or not cursor:
        raise invalid("it must be the text a previous page gave as next_cursor")
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise invalid(f"it is longer than {MAX_CURSOR_LENGTH} characters")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        body = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise invalid("it is not a cursor this server made") from None
    if not isinstance(body, dict) or set(body) != {"d", "o", "v"} or not isinstance(body["d"], str) \
            or not isinstance(body["o"], str) or not isinstance(body["v"], list) or not body["v"] \
            or any(isinstance(v, (list, dict)) for v in body["v"]):
        raise invalid("it is not a cursor this server made")
    return body["d"], body["o"], body["v"]
