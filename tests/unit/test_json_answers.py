"""``ristretto.api.asgi.dumps``: answers are written without orjson's slower non-string-key option
first and with it only when a key needs it; both paths give the same text, and an answer nested
too deeply is the same 417 on either."""

from __future__ import annotations

import datetime
import decimal

import pytest

from ristretto.api.asgi import dumps
from ristretto.exceptions import ValidationError


def _nested(depth: int, key) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {key: value}
    return value


def test_string_keys_and_other_keys_are_written_alike():
    assert dumps({"a": 1, "b": [decimal.Decimal("1.5"), (1, 2)]}) == b'{"a":1,"b":[1.5,[1,2]]}'
    # Keys that are not strings are written as strings, Frappe's JSON (Python's json) does the same.
    assert dumps({1: "x", "y": {2.5: None, True: datetime.date(2020, 1, 2)}}) == \
        b'{"1":"x","y":{"2.5":null,"true":"2020-01-02"}}'


@pytest.mark.parametrize("key", ["k", 7], ids=["string keys", "number keys"])
def test_an_answer_nested_too_deeply_is_refused_either_way(key):
    assert dumps(_nested(200, key)).count(b"{") == 201
    with pytest.raises(ValidationError, match="more than 254 levels deep"):
        dumps(_nested(300, key))


def test_a_value_that_cannot_be_written_is_still_an_error():
    with pytest.raises(TypeError):
        dumps({"a": object()})
    with pytest.raises(TypeError):
        dumps({1: object()})
