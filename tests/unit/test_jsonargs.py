"""``ristretto.api.jsonargs``: request text → Python values, one set of errors, capped, linear."""

from __future__ import annotations

import gc
import time

import pytest

from ristretto.api import jsonargs
from ristretto.api.jsonargs import MAX_ARG_TEXT
from ristretto.db.filters import normalize_filters
from ristretto.exceptions import DataError, ValidationError
from ristretto.meta.doctype import Meta


def refused(fn, *args, match: str, **kw) -> DataError:
    with pytest.raises(DataError, match=match) as info:
        fn(*args, **kw)
    assert info.value.http_status == 417
    return info.value


def test_json_arg_takes_text_or_decoded_values():
    assert jsonargs.json_arg('{"a": [1, 2]}', "doc") == {"a": [1, 2]}
    assert jsonargs.json_arg(b'[1]', "doc") == [1]
    value = {"a": 1}
    assert jsonargs.json_arg(value, "doc") is value
    assert jsonargs.json_arg(None, "doc") is None
    refused(jsonargs.json_arg, "{oops", "doc", match="^Invalid JSON in argument 'doc'$")
    refused(jsonargs.json_arg, "", "doc", match="Invalid JSON in argument 'doc'")


@pytest.mark.parametrize("text, value", [
    ('[["status", "=", "Open"]]', [["status", "=", "Open"]]),
    ('  {"status": "Open"} ', {"status": "Open"}),
    ('"name"', "name"),
    ("null", None), ("true", True),
    ("", None), ("   ", None),
    ("name, status", "name, status"),   # a field list stays text
    (" 5 ", "5"),                       # a name stays text
    (b'["name"]', ["name"]),
    (["name"], ["name"]), (7, 7),
])
def test_loose_arg_reads_frappe_shapes(text, value):
    assert jsonargs.loose_arg(text, "filters") == value


def test_loose_arg_refuses_broken_json_naming_the_argument():
    refused(jsonargs.loose_arg, '[["status", "=", "Open"', "or_filters", match="Invalid JSON in argument 'or_filters'")
    refused(jsonargs.loose_arg, '{"a": }', "fields", match="Invalid JSON in argument 'fields'")


def test_maybe_json_keeps_text_that_is_not_json():
    assert jsonargs.maybe_json('{"a": 1}', "fieldname") == (True, {"a": 1})
    assert jsonargs.maybe_json("status", "fieldname") == (False, "status")
    assert jsonargs.maybe_json(b"status", "fieldname") == (False, "status")
    assert jsonargs.maybe_json({"a": 1}, "args") == (False, {"a": 1})


def test_object_and_objects_args():
    given = {"doctype": "ToDo"}
    got = jsonargs.object_arg(given, "doc")
    assert got == given and got is not given  # a copy: callers may change it
    assert jsonargs.object_arg('{"doctype": "ToDo"}', "doc") == given
    refused(jsonargs.object_arg, "[1, 2]", "doc", match="^Argument 'doc' must be a JSON object$")
    refused(jsonargs.object_arg, "{x", "data", match="^Invalid JSON in argument 'data'$")
    assert jsonargs.objects_arg('[{"a": 1}]', "docs") == [{"a": 1}]
    for bad in ('{"a": 1}', '["ToDo"]', "[[]]", 5):
        refused(jsonargs.objects_arg, bad, "docs", match="^Argument 'docs' must be a JSON array of objects$")


def test_every_reader_caps_the_text_naming_the_argument():
    long_text = '["' + "x" * MAX_ARG_TEXT + '"]'
    for fn in (jsonargs.json_arg, jsonargs.loose_arg, jsonargs.maybe_json, jsonargs.decode):
        refused(fn, long_text, "filters", match=f"^Argument 'filters' is longer than {MAX_ARG_TEXT} characters$")
    refused(jsonargs.loose_arg, "a" * 101, "fields", limit=100, match="Argument 'fields' is longer than 100")
    # a document may be larger than a query argument
    assert jsonargs.object_arg('{"text": "' + "x" * MAX_ARG_TEXT + '"}', "doc")["text"] == "x" * MAX_ARG_TEXT


def test_nesting_beyond_the_decoders_limit_is_invalid_json():
    refused(jsonargs.json_arg, "[" * 5000 + "]" * 5000, "filters", match="Invalid JSON in argument 'filters'")


def test_table_values_decodes_child_tables_sent_as_text():
    meta = Meta({"name": "Crate", "fields": [
        {"fieldname": "title", "fieldtype": "Data"},
        {"fieldname": "parts", "fieldtype": "Table", "options": "Crate Part"}]})
    values = jsonargs.table_values(meta, {"title": '[{"code": "a"}]', "parts": '[{"code": "a"}]'})
    assert values == {"title": '[{"code": "a"}]', "parts": [{"code": "a"}]}  # only tables are decoded
    assert jsonargs.table_values(meta, {"parts": ""}) == {"parts": []}
    refused(jsonargs.table_values, meta, {"parts": "[{"}, match="Invalid JSON in argument 'parts'")


def test_body_value():
    assert jsonargs.body_value(b'{"a": 1}') == {"a": 1}
    refused(jsonargs.body_value, b"{", match="Invalid request body: not valid JSON")


def test_the_query_compiler_takes_values_not_text():
    assert normalize_filters([["status", "=", "Open"]], "ToDo") == [(None, "status", "=", "Open")]
    with pytest.raises(ValidationError, match="Filters must be a list or a dict"):
        normalize_filters('[["status", "=", "Open"]]', "ToDo")


def _best(fn, text: str) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        try:
            fn(text, "filters")
        except DataError:
            pass
        best = min(best, time.perf_counter() - started)
    return best


@pytest.mark.parametrize("make", [
    lambda n: '[["title", "in", ["' + "x" * n + '"]]]',
    lambda n: "[" + "1," * (n // 2) + "1]",
    lambda n: '[["a", "=", "' + "\\\\" * (n // 2) + '"',   # unterminated, full of escapes
    lambda n: " " * n + "x",
])
def test_decoding_time_grows_linearly(make):
    gc.collect()
    gc.disable()
    try:
        small, large = max(_best(jsonargs.loose_arg, make(10_000)), 1e-5), _best(jsonargs.loose_arg, make(400_000))
    finally:
        gc.enable()
    # 40 times the text: a linear reader takes about 40 times as long, a quadratic one 1600.
    assert large < small * 200 + 0.05, (small, large)
