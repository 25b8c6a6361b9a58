"""The e-mail check of Data fields with options "Email": same answers as the former regex, in
linear time."""

from __future__ import annotations

import re
import time

from hypothesis import given, settings, strategies as st

from ristretto.model.validation import is_email

# The rule as a regex, kept here as the oracle (it backtracks on crafted input; the check does not).
ORACLE = re.compile(r"^[A-Za-z0-9._%+'\-!#$&*/=?^`{|}~]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}$")


def test_examples():
    for good in ("a@b.co", "first.last+tag@mail.example.org", "x@localhost.dev", "o'neil@x-y.io"):
        assert is_email(good), good
    for bad in ("", "a", "a@", "@b.co", "a@b", "a@b.c", "a@@b.co", "a@b.c0", "a b@c.co", "a@b_c.co", "a@.co",
                "a@b.cö"):
        assert not is_email(bad), bad


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet="ab.@-_+1 é", max_size=20))
def test_agrees_with_the_rule(text):
    assert is_email(text) == bool(ORACLE.match(text))


def test_long_crafted_input_is_quick():
    hostile = "a@" + "a." * 50_000 + "!"
    started = time.thread_time()
    assert not is_email(hostile)
    assert time.thread_time() - started < 0.5
