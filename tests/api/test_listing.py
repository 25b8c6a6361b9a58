"""List semantics over HTTP on both databases: operators and NULLs on real rows.

One data set per server (module and backend): six ToDo rows with known values,
NULL dates and statuses among them, found again through a marker in the
description. Expected results are written as the rows' keys (``k1`` ...).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

TODAY = dt.date.today().isoformat()

# key: values sent on insert (a missing date takes the DocType default, today)
ROWS = {
    "k1": {"status": "Open", "priority": "High", "date": "2024-01-10", "allocated_to": "Administrator"},
    "k2": {"status": "Closed", "priority": "Low", "date": "2024-02-10"},
    "k3": {"status": None, "priority": "Medium", "date": None},
    "k4": {"status": "Cancelled", "priority": "High", "date": "2023-12-31", "allocated_to": ""},
    "k5": {"status": "Open", "priority": "Medium", "date": None},
    "k6": {"status": "Open", "priority": "Low"},
}


def _json(value):
    return value if isinstance(value, str) else json.dumps(value)


def get_list(admin, **params):
    r = admin.get("/api/resource/ToDo", params={k: _json(v) for k, v in params.items()})
    assert r.status_code == 200, r.text
    return r.json()["data"]


@pytest.fixture(scope="module")
def data(server):
    marker = f"lst-{uuid.uuid4().hex[:8]}"
    names = {}
    with server.admin() as admin:
        for key, values in ROWS.items():
            r = admin.post("/api/resource/ToDo", json={"description": f"{marker} {key}", **values})
            assert r.status_code == 200, r.text
            names[key] = r.json()["data"]["name"]
    return marker, names


@pytest.fixture
def keys(admin, data):
    """keys(filters, **params) -> sorted keys of the data-set rows the list returns."""
    marker, _ = data

    def run(filters=(), **params):
        rows = get_list(admin, fields=["description"], limit_page_length=0,
                        filters=[*filters, ["description", "like", f"{marker} %"]], **params)
        return sorted(row["description"].rsplit(" ", 1)[1] for row in rows)
    return run


@pytest.mark.parametrize("filters,expected", [
    ([["status", "=", "Open"]], ["k1", "k5", "k6"]),
    ([["status", "!=", "Open"]], ["k2", "k3", "k4"]),          # NULL status matches !=
    ([["status", "=", ""]], ["k3"]),                           # = '' matches NULL
    ([["status", "in", ["Open", "Closed"]]], ["k1", "k2", "k5", "k6"]),
    ([["status", "in", "Open, Closed"]], ["k1", "k2", "k5", "k6"]),
    ([["status", "in", ["Open", ""]]], ["k1", "k3", "k5", "k6"]),
    ([["status", "not in", ["Open"]]], ["k2", "k3", "k4"]),
    ([["status", "not in", "Open,Cancelled"]], ["k2", "k3"]),
    ([["status", "in", []]], ["k3"]),
    ([["priority", "like", "h%"]], ["k1", "k4"]),               # case-insensitive on both databases
    ([["priority", "like", "%"]], ["k1", "k2", "k3", "k4", "k5", "k6"]),
    ([["status", "like", "%"]], ["k1", "k2", "k4", "k5", "k6"]),  # a pattern never matches NULL
    ([["status", "not like", "%pen"]], ["k2", "k3", "k4"]),
    ([["priority", "not like", "%High%"]], ["k2", "k3", "k5", "k6"]),
    ([["date", "is", "set"]], ["k1", "k2", "k4", "k6"]),
    ([["date", "is", "not set"]], ["k3", "k5"]),
    ([["status", "is", "not set"]], ["k3"]),
    ([["allocated_to", "is", "set"]], ["k1"]),
    ([["allocated_to", "is", "not set"]], ["k2", "k3", "k4", "k5", "k6"]),
    ([["date", "<", "2024-01-01"]], ["k3", "k4", "k5"]),       # NULL dates read as 0001-01-01
    ([["date", "<=", "2024-01-10"]], ["k1", "k3", "k4", "k5"]),
    ([["date", ">", "2024-01-01"]], ["k1", "k2", "k6"]),       # ... and never match >
    ([["date", ">=", "2024-01-10"]], ["k1", "k2", "k6"]),
    ([["date", "=", "2024-01-10"]], ["k1"]),
    ([["date", "!=", "2024-01-10"]], ["k2", "k3", "k4", "k5", "k6"]),
    ([["date", "between", ["2024-01-01", "2024-01-31"]]], ["k1"]),
    ([["date", "between", ["2023-12-31", "2024-02-10"]]], ["k1", "k2", "k4"]),
    ([["date", "between", "2024-01-01, 2024-01-31"]], ["k1"]),
    ([["date", "like", "2024%"]], ["k1", "k2"]),
    ([["date", "not like", "2024%"]], ["k3", "k4", "k5", "k6"]),
    ([["creation", "like", f"{TODAY}%"]], ["k1", "k2", "k3", "k4", "k5", "k6"]),
    ([["date", "previous", "1 year"]], []),
    ([["date", "next", "1 week"]], ["k6"]),
    ([["date", "timespan", "today"]], ["k6"]),
    ([["date", "timespan", "last year"]], []),
    ([["creation", "between", [TODAY, TODAY]]], ["k1", "k2", "k3", "k4", "k5", "k6"]),
    ([["creation", "between", ["2000-01-01", "2000-01-02"]]], []),
    ([["creation", "timespan", "today"]], ["k1", "k2", "k3", "k4", "k5", "k6"]),
    ([["creation", "timespan", "yesterday"]], []),
    ([["creation", ">", "2000-01-01"]], ["k1", "k2", "k3", "k4", "k5", "k6"]),
    ([["creation", "<", "2000-01-01 00:00:00"]], []),
    ([["modified", "<=", TODAY]], ["k1", "k2", "k3", "k4", "k5", "k6"]),  # a date-only bound takes the day
    ([["ToDo", "priority", "=", "High"], ["status", "!=", "Cancelled"]], ["k1"]),
    ([["priority", "High"]], ["k1", "k4"]),
    ([["docstatus", "=", 0]], ["k1", "k2", "k3", "k4", "k5", "k6"]),
    ([["docstatus", "!=", 0]], []),
])
def test_operators(keys, filters, expected):
    assert keys(filters) == expected


def test_dict_and_json_text_filters(admin, data, keys):
    marker, names = data
    rows = get_list(admin, filters={"description": ["like", f"{marker} %"], "status": ["!=", "Open"],
                                    "priority": "High"})
    assert [r["name"] for r in rows] == [names["k4"]]
    rows = get_list(admin, filters=json.dumps(["description", "=", f"{marker} k2"]))
    assert [r["name"] for r in rows] == [names["k2"]]


def test_or_filters_with_filters(keys):
    assert keys([["priority", "in", ["High", "Low"]]],
                or_filters=[["status", "=", "Closed"], ["date", "is", "not set"]]) == ["k2"]
    assert keys([["status", "=", "Open"]], or_filters=[["priority", "=", "High"], ["date", "is", "not set"]]) \
        == ["k1", "k5"]
    assert keys(or_filters={"status": "Cancelled", "priority": "Low"}) == ["k2", "k4", "k6"]


def test_group_by_count_order_by_alias(admin, data):
    marker, _ = data
    rows = get_list(admin, fields=["status", "count(name) as n"], group_by="status", order_by="n desc, status asc",
                    filters=[["description", "like", f"{marker} %"], ["status", "is", "set"]])
    assert rows == [{"status": "Open", "n": 3}, {"status": "Cancelled", "n": 1}, {"status": "Closed", "n": 1}]
    rows = get_list(admin, fields=["priority", "count(*) as n", "max(date) as last", "min(date) as first"],
                    group_by="priority", order_by="priority asc",
                    filters=[["description", "like", f"{marker} %"]])
    assert rows == [{"priority": "High", "n": 2, "last": "2024-01-10", "first": "2023-12-31"},
                    {"priority": "Low", "n": 2, "last": TODAY, "first": "2024-02-10"},
                    {"priority": "Medium", "n": 2, "last": None, "first": None}]


def test_aggregates_without_group_by(admin, data):
    marker, _ = data
    rows = get_list(admin, fields=["count(name) as n", "min(date) as first", "max(date) as last", "count(*)",
                                   "count(distinct status) as statuses", "count(date)"],
                    filters=[["description", "like", f"{marker} %"]])
    assert rows == [{"n": 6, "first": "2023-12-31", "last": TODAY, "count(*)": 6, "statuses": 3, "count(date)": 4}]


def test_distinct(admin, data):
    marker, _ = data
    rows = get_list(admin, fields=["distinct priority"], order_by="priority asc",
                    filters=[["description", "like", f"{marker} %"]])
    assert rows == [{"priority": "High"}, {"priority": "Low"}, {"priority": "Medium"}]


def test_fields_star(admin, data):
    marker, names = data
    for fields in (["*"], "*", '["*"]'):
        rows = get_list(admin, fields=fields, filters=[["description", "=", f"{marker} k1"]])
        assert len(rows) == 1
        row = rows[0]
        assert row["name"] == names["k1"] and row["status"] == "Open" and row["date"] == "2024-01-10"
        assert {"owner", "creation", "modified", "modified_by", "docstatus", "idx", "priority", "allocated_to",
                "description", "sender", "_assign"} <= set(row)


def test_link_dot_notation(admin, data):
    marker, names = data
    full_name = admin.get("/api/resource/User/Administrator").json()["data"].get("full_name")
    rows = get_list(admin, fields=["name", "allocated_to.full_name as who"],
                    filters=[["description", "like", f"{marker} %"], ["allocated_to", "is", "set"]])
    assert rows == [{"name": names["k1"], "who": full_name}]


def test_paging_and_unlimited(admin):
    marker = f"page-{uuid.uuid4().hex[:8]}"
    for i in range(25):
        r = admin.post("/api/resource/ToDo", json={"description": f"{marker} {i:02d}"})
        assert r.status_code == 200
    base = {"filters": [["description", "like", f"{marker} %"]], "fields": ["description"]}
    assert len(get_list(admin, **base)) == 20
    assert len(get_list(admin, **base, limit_page_length=0)) == 25
    assert len(get_list(admin, **base, limit_page_length="")) == 20
    page = get_list(admin, **base, order_by="description asc", limit_start=22, limit_page_length=5)
    assert [r["description"] for r in page] == [f"{marker} {i}" for i in (22, 23, 24)]
    rest = get_list(admin, **base, order_by="description asc", limit_start=20, limit_page_length=0)
    assert [r["description"] for r in rest] == [f"{marker} {i}" for i in range(20, 25)]


@pytest.mark.parametrize("params", [{"limit_page_length": "abc"}, {"limit_page_length": "-1"},
                                    {"limit_start": "x"}, {"limit_page_length": "9" * 30},
                                    {"limit_start": "9" * 30}])
def test_bad_paging(admin, params):
    r = admin.get("/api/resource/ToDo", params=params)
    assert r.status_code == 417, r.text


def test_as_array(admin, data):
    marker, names = data
    rows = get_list(admin, fields=["name", "status"], as_dict=0, order_by="name asc",
                    filters=[["description", "in", [f"{marker} k1", f"{marker} k3"]]])
    assert rows == sorted([[names["k1"], "Open"], [names["k3"], None]])


@pytest.fixture(scope="module")
def notes(server):
    marker = f"note-{uuid.uuid4().hex[:8]}"
    names = {}
    with server.admin() as admin:
        for key, seen in (("seen", [{"user": "Administrator"}]), ("twice", [{"user": "Administrator"},
                                                                           {"user": "Guest"}]),
                          ("unseen", [])):
            r = admin.post("/api/resource/Note", json={"title": f"{marker} {key}", "public": int(key == "seen"),
                                                       "seen_by": seen})
            assert r.status_code == 200, r.text
            names[key] = r.json()["data"]["name"]
    return marker, names


def list_notes(admin, **params):
    r = admin.get("/api/resource/Note", params={k: _json(v) for k, v in params.items()})
    assert r.status_code == 200, r.text
    return r.json()["data"]


def test_child_table_fields(admin, notes):
    marker, names = notes
    rows = list_notes(admin, fields=["name", "seen_by.user"], filters=[["title", "like", f"{marker} %"]],
                      order_by="name asc, `tabNote Seen By`.`idx` asc", limit_page_length=0)
    expected = sorted([(names["seen"], "Administrator"), (names["twice"], "Administrator"),
                       (names["twice"], "Guest"), (names["unseen"], None)], key=lambda x: x[0])
    assert [(r["name"], r["user"]) for r in rows] == expected


@pytest.mark.parametrize("filters", [
    [["Note Seen By", "user", "=", "Administrator"]],
    [["user", "=", "Administrator"]],
    [["seen_by.user", "=", "Administrator"]],
    [["`tabNote Seen By`.`user`", "=", "Administrator"]],
])
def test_child_table_filters(admin, notes, filters):
    marker, names = notes
    base = [["title", "like", f"{marker} %"]]
    rows = list_notes(admin, fields=["name"], filters=[*base, *filters])
    assert sorted(r["name"] for r in rows) == sorted([names["seen"], names["twice"]])
    rows = list_notes(admin, fields=["name"], filters=[*base, ["Note Seen By", "user", "=", "Guest"]])
    assert [r["name"] for r in rows] == [names["twice"]]


def test_child_aggregates(admin, notes):
    marker, names = notes
    rows = list_notes(admin, fields=["name", "count(seen_by.user) as n"], group_by="name", order_by="n desc",
                      filters=[["title", "like", f"{marker} %"]])
    assert [(r["name"], r["n"]) for r in rows] == [(names["twice"], 2), (names["seen"], 1), (names["unseen"], 0)]
    rows = list_notes(admin, fields=["sum(public) as s", "avg(public) as a"],
                      filters=[["title", "like", f"{marker} %"]])
    assert rows[0]["s"] == 1 and abs(rows[0]["a"] - 1 / 3) < 1e-9


def test_table_still_intact(admin, data, keys):
    assert keys() == ["k1", "k2", "k3", "k4", "k5", "k6"]
