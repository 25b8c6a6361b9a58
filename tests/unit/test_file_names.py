"""Client-supplied file names are cleaned in linear time, with the same edge rule as before."""

from __future__ import annotations

import re
import time

import pytest

from ristretto.api.filenames import clean_file_name

EDGES = re.compile(r"^[\s.]+|[\s.]+$")  # the rule, as a (quadratic) regex: the oracle


@pytest.mark.parametrize("raw", ["report.pdf", "  .hidden.txt ", "..a b..", "\t.x.\n", "a . b . c", "...name ... ."])
def test_edges_follow_the_rule(raw):
    assert clean_file_name(raw) == clean_file_name(EDGES.sub("", raw))
    cleaned = clean_file_name(raw)
    assert cleaned == EDGES.sub("", cleaned) and not cleaned.startswith(".")


def test_a_long_run_of_spaces_is_linear():
    raw = "a" + " " * 200_000 + "b.txt"
    started = time.thread_time()
    clean_file_name(raw)
    assert time.thread_time() - started < 1.0
