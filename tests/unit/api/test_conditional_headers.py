"""The If-Match / If-None-Match parser: RFC 9110's grammar, strong and weak tags, one pass over a
capped length, and a clear 417 for anything else."""

from __future__ import annotations

import time

import pytest

from ristretto.api.asgi import Request
from ristretto.api.conditional import MAX_LENGTH, parse_tags, preconditions
from ristretto.exceptions import ValidationError
from ristretto.model.etags import ANY, Preconditions


@pytest.mark.parametrize("value,expected", [
    ('"abc"', [(False, '"abc"')]),
    ('W/"abc"', [(True, '"abc"')]),
    ('""', [(False, '""')]),
    ('"a", W/"b" ,"c"', [(False, '"a"'), (True, '"b"'), (False, '"c"')]),
    (' \t"a"\t ', [(False, '"a"')]),
    (', ,"a",,  ,"b",', [(False, '"a"'), (False, '"b"')]),  # empty list elements are allowed
    ('"a,b"', [(False, '"a,b"')]),  # a comma inside a tag is part of it
    ('"W/x"', [(False, '"W/x"')]),
    ('"\x80\xff"', [(False, '"\x80\xff"')]),  # obs-text
    ("", []),
    (" , ", []),
    ("*", ANY),
    (" * ", ANY),
])
def test_valid(value, expected):
    assert parse_tags(value) == expected


@pytest.mark.parametrize("value", [
    "abc",            # not quoted
    '"abc',           # not closed
    '"a" "b"',        # no comma between tags
    '"a"b',
    'w/"a"',          # the weak prefix is case-sensitive
    "W/",
    'W/ "a"',
    '"a b"',          # space is not an etagc
    '"a\x7fb"',
    '"a\x00"',
    '*, "a"',         # "*" stands alone
    "**",
    '"a", *',
])
def test_malformed_is_417(value):
    with pytest.raises(ValidationError) as e:
        parse_tags(value, "If-Match")
    assert e.value.http_status == 417
    assert "If-Match" in e.value.message and "entity tags" in e.value.message


def test_length_cap():
    parse_tags('"' + "a" * (MAX_LENGTH - 2) + '"')
    with pytest.raises(ValidationError) as e:
        parse_tags('"' + "a" * (MAX_LENGTH - 1) + '"', "If-None-Match")
    assert e.value.http_status == 417 and "too long" in e.value.message


@pytest.mark.parametrize("make", [
    lambda n: " " * n,
    lambda n: "," * n,
    lambda n: '"a",' * (n // 4),
    lambda n: 'W/"",' * (n // 5),
    lambda n: '"' + "a" * (n - 2) + '"',
    lambda n: '"' + "a" * (n - 1),     # never closed
    lambda n: " " * (n - 1) + "x",
])
def test_linear_time_up_to_the_cap(make):
    value = make(MAX_LENGTH)
    started = time.perf_counter()
    for _ in range(50):
        try:
            parse_tags(value)
        except ValidationError:
            pass
    # 50 parses of the longest value allowed: far below a millisecond each.
    assert time.perf_counter() - started < 0.5


def _request(*headers: tuple[bytes, bytes]) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "headers": list(headers)})


def test_preconditions_from_headers():
    assert preconditions(_request((b"accept", b"*/*"))) is None
    assert preconditions(_request((b"if-match", b'"a", W/"b"'))) == Preconditions(frozenset({'"a"'}), None)
    assert preconditions(_request((b"if-none-match", b'"a", W/"b"'))) == \
        Preconditions(None, frozenset({'"a"', '"b"'}))
    assert preconditions(_request((b"if-match", b"*"), (b"if-none-match", b"*"))) == Preconditions(ANY, ANY)
    # Only weak tags: If-Match is present and matches nothing.
    assert preconditions(_request((b"if-match", b'W/"a"'))) == Preconditions(frozenset(), None)


def test_repeated_header_lines_are_one_list():
    cond = preconditions(_request((b"if-none-match", b'"a"'), (b"if-none-match", b'"b"')))
    assert cond == Preconditions(None, frozenset({'"a"', '"b"'}))


def test_the_cap_covers_repeated_lines():
    line = (b"if-match", b'"' + b"a" * 1000 + b'"')
    preconditions(_request(*[line] * 4))
    with pytest.raises(ValidationError) as e:
        preconditions(_request(*[line] * 5))
    assert "too long" in e.value.message
