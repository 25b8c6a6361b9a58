"""The field-type table: storage per dialect, coercion and fallbacks."""

from __future__ import annotations

import pytest

from ristretto.exceptions import ValidationError
from ristretto.meta.fieldtypes import (
    FIELD_TYPES, NULL_FALLBACK, coerce_value, format_time, get_fieldtype, parse_datetime,
)

DATA_TYPES = ["Currency", "Int", "Long Int", "Float", "Percent", "Check", "Small Text", "Long Text", "Code",
              "Text Editor", "Markdown Editor", "HTML Editor", "Date", "Datetime", "Time", "Text", "Data",
              "Link", "Dynamic Link", "Password", "Select", "Rating", "Read Only", "Attach", "Attach Image",
              "Signature", "Color", "Barcode", "Geolocation", "Duration", "Icon", "Phone", "Autocomplete", "JSON"]
LAYOUT_TYPES = ["Section Break", "Column Break", "Tab Break", "HTML", "Button", "Image", "Fold", "Heading"]


@pytest.mark.parametrize("name", DATA_TYPES)
def test_every_data_type_has_columns_on_both_dialects(name):
    ft = FIELD_TYPES[name]
    assert ft.column_type("sqlite") and ft.column_type("postgres")
    assert ft.kind in NULL_FALLBACK


@pytest.mark.parametrize("name", LAYOUT_TYPES + ["Table", "Table MultiSelect"])
def test_layout_and_tables_have_no_column(name):
    assert not FIELD_TYPES[name].has_column


def test_varchar_length_in_postgres():
    assert FIELD_TYPES["Data"].column_type("postgres", 40) == "varchar(40)"
    assert FIELD_TYPES["Data"].column_type("postgres") == "varchar(140)"


@pytest.mark.parametrize("fieldtype,value,expected", [
    ("Int", "42", 42), ("Int", "abc", 0), ("Int", 3.9, 3), ("Int", None, 0),
    ("Check", "1", 1), ("Check", True, 1), ("Check", "0", 0), ("Check", "abc", 0),
    ("Float", "1.5", 1.5), ("Float", "x", 0.0), ("Currency", 10, 10.0),
    ("Rating", 7, 1.0), ("Rating", -1, 0.0),
    ("Data", 5, "5"), ("Data", 5.0, "5"), ("Data", True, "1"),
    ("Date", "2024-02-03", "2024-02-03"), ("Date", "2024-02-03 10:00:00", "2024-02-03"), ("Date", "", None),
    ("Datetime", "2024-02-03T10:11:12", "2024-02-03 10:11:12"),
    ("Datetime", "2024-02-03 10:11:12.500000", "2024-02-03 10:11:12.500000"),
    ("Datetime", "2024-02-03", "2024-02-03 00:00:00"),
    ("Time", "9:05", "09:05:00"), ("Time", "09:05:07.25", "09:05:07.250000"),
    ("JSON", {"b": 1, "a": 2}, '{\n  "a": 2,\n  "b": 1\n}'), ("JSON", "", None),
])
def test_coercion(fieldtype, value, expected):
    assert coerce_value(FIELD_TYPES[fieldtype], value, "Label") == expected


@pytest.mark.parametrize("fieldtype,value", [
    ("Date", "not a date"), ("Datetime", "2024-13-01"), ("Time", "25:99"), ("Data", ["a"]),
    ("Int", {"a": 1}), ("JSON", "{not json"), ("Float", 1e20),
])
def test_bad_values_are_validation_errors(fieldtype, value):
    with pytest.raises(ValidationError):
        coerce_value(FIELD_TYPES[fieldtype], value, "Label")


def test_time_output_is_frappe_style():
    assert format_time("09:05:00") == "9:05:00"
    assert format_time("12:00:00") == "12:00:00"
    assert format_time("00:30:00") == "0:30:00"


def test_datetime_drops_zero_microseconds():
    assert parse_datetime("2024-01-01 10:00:00.000000") == "2024-01-01 10:00:00"


def test_unknown_fieldtype_is_stored_as_text():
    assert get_fieldtype("Some Future Type").kind == "text"


@pytest.mark.parametrize("depth", [300, 900])
def test_json_nested_too_deeply_is_a_validation_error(depth):
    # Found by the fuzzer: orjson writes at most 254 levels; deeper client data was a 500.
    value: object = 1
    for _ in range(depth):
        value = [value]
    with pytest.raises(ValidationError, match="Meta"):
        coerce_value(FIELD_TYPES["JSON"], value, "Meta")
    shallow = [[1]]
    assert coerce_value(FIELD_TYPES["JSON"], shallow, "Meta").replace(" ", "").replace("\n", "") == "[[1]]"
