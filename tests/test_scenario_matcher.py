"""The scenario tables' body matcher (tests/scenario.py ``contains``) refuses what it should: a
table whose rows could never fail would test nothing."""

from __future__ import annotations

import pytest

from tests.scenario import ABSENT, Text, contains

BODY = {"data": {"name": "g-1", "qty": 1, "secret": None, "parts": [{"code": "p1"}, {"code": "p2"}]},
        "note": "it said \"hello\""}

MATCHES = [
    ("subset of keys", {"data": {"name": "g-1"}}),
    ("None equals None", {"data": {"secret": None}}),
    ("absent key", {"data": {"missing": ABSENT}}),
    ("list item by item", {"data": {"parts": [{"code": "p1"}, {}]}}),
    ("callable", {"data": {"qty": lambda q: q < 2}}),
    ("text as compact JSON", Text('"qty":1', lacks=['"qty":2'])),
    ("text of a string", {"note": Text('"hello"')}),
]
MISMATCHES = [
    ("wrong value", {"data": {"qty": 2}}),
    ("missing key", {"data": {"nope": 1}}),
    ("key that must be absent", {"data": {"secret": ABSENT}}),
    ("None is not a wildcard", {"data": {"name": None}}),
    ("too few items", {"data": {"parts": [{"code": "p1"}]}}),
    ("too many items", {"data": {"parts": [{}, {}, {}]}}),
    ("item differs", {"data": {"parts": [{"code": "p1"}, {"code": "p3"}]}}),
    ("object expected", {"data": {"qty": {"x": 1}}}),
    ("callable returns False", {"data": {"qty": lambda q: q > 2}}),
    ("callable asserts", {"data": {"qty": lambda q: (_ for _ in ()).throw(AssertionError("no"))}}),
    ("text missing", Text('"qty":2')),
    ("text present that must not be", Text(lacks=['"qty":1'])),
]


@pytest.mark.parametrize("fragment", [f for _, f in MATCHES], ids=[n for n, _ in MATCHES])
def test_matches(fragment):
    contains(BODY, fragment)


@pytest.mark.parametrize("fragment", [f for _, f in MISMATCHES], ids=[n for n, _ in MISMATCHES])
def test_mismatches(fragment):
    with pytest.raises(AssertionError):
        contains(BODY, fragment)
