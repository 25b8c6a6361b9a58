"""The Cookie request header is parsed in linear time (the standard library's SimpleCookie is
quadratic on quoted values full of backslashes) and reads what browsers send as before."""

from __future__ import annotations

import time
from http.cookies import SimpleCookie

import pytest

from ristretto.api.asgi import parse_cookie_header

ORDINARY = [
    "sid=abc123",
    "sid=abc123; system_user=yes; full_name=Administrator",
    'sid="quoted value"; user_id=Administrator',
    'a="x\\"y"; b="\\101\\102"',
    "sid=Guest; user_image=; user_id=Guest",
    "sid=a%20b; other=c",
]


@pytest.mark.parametrize("raw", ORDINARY)
def test_reads_what_simplecookie_read(raw):
    jar = SimpleCookie()
    jar.load(raw)
    assert parse_cookie_header(raw) == {k: m.value for k, m in jar.items()}


def test_malformed_parts_are_skipped_and_the_first_name_wins():
    assert parse_cookie_header("junk; sid=one; =x; sid=two;  ;other=3") == {"sid": "one", "other": "3"}


def test_backslash_flood_is_linear():
    raw = 'sid="' + "\\\\" * 200_000 + '"'   # 400 KB: SimpleCookie takes minutes on this
    started = time.thread_time()
    cookies = parse_cookie_header(raw)
    assert time.thread_time() - started < 1.0
    assert cookies["sid"] == "\\" * 200_000
