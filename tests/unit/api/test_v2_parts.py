"""Pure parts of API v2: argument shapes, bulk item shapes, search fields, a paged listing
stream, and the v2 route table (which handler answers which request)."""

from __future__ import annotations

import pytest

from ristretto.api.routes import router
from ristretto.api.routing import MethodNotAllowed
from ristretto.api.v2 import args, doctypes, documents, methods
from ristretto.exceptions import DataError, FrappeValueError
from ristretto.meta.doctype import Meta
from ristretto.model import bulk, search
from ristretto.model.listing import ListStream


@pytest.mark.parametrize("value,kinds,expected", [
    ('["a", "b"]', list, ["a", "b"]),
    (["a"], list, ["a"]),
    ('{"x": 1}', (list, dict), {"x": 1}),
    ('[["x", "=", 1]]', (list, dict), [["x", "=", 1]]),
    ("", list, None),
    (None, list, None),
    ("false", list, None),
    ("[]", list, []),
])
def test_json_arg_values(value, kinds, expected):
    assert args.json_arg({"k": value} if value is not None else {}, "k", kinds) == expected


@pytest.mark.parametrize("value,kinds,message", [
    ('{"a": 1}', list, "'k' must be a list"),
    ("name", list, "'k' must be a list"),
    ("5", (list, dict), "'k' must be a list or dictionary"),
    ('"text"', dict, "'k' must be a dictionary"),
    (7, list, "'k' must be a list"),
])
def test_json_arg_shapes(value, kinds, message):
    with pytest.raises(FrappeValueError) as e:
        args.json_arg({"k": value}, "k", kinds)
    assert e.value.message == message and e.value.http_status == 417


def test_json_arg_bad_json():
    with pytest.raises(DataError):
        args.json_arg({"k": "[1, 2"}, "k", list)


def test_text_and_include_args():
    assert args.text_arg({"order_by": "qty desc"}, "order_by") == "qty desc"
    assert args.text_arg({}, "order_by") is None
    with pytest.raises(FrappeValueError, match="'order_by' must be a string"):
        args.text_arg({"order_by": ["qty"]}, "order_by")
    assert args.include_arg({"include": " count , "}, ("count",)) == ["count"]
    assert args.include_arg({}, ("count",)) == []
    with pytest.raises(FrappeValueError, match="Unknown include part seen"):
        args.include_arg({"include": "count,seen"}, ("count",))


def test_payload_keeps_document_values_only():
    assert args.payload({"doctype": "X", "flags": {}, "csrf_token": "t", "name": "n", "qty": 1}) == {"name": "n", "qty": 1}


@pytest.mark.parametrize("item,doctype,expected", [
    ("n1", "ToDo", ("ToDo", "n1")),
    (5, "ToDo", ("ToDo", "5")),
    ({"name": "n1"}, "ToDo", ("ToDo", "n1")),
    ({"doctype": "Note", "name": 3}, None, ("Note", "3")),
])
def test_bulk_item_targets(item, doctype, expected):
    assert bulk._target(item, doctype, "keys") == expected


@pytest.mark.parametrize("item,doctype,message", [
    (True, "ToDo", "'name' must be a string or integer"),
    ([1], "ToDo", "'name' must be a string or integer"),
    ("n1", None, "Each document must be a dictionary with keys"),
    ({"name": "n"}, None, "'doctype' must be a string"),
    ({"doctype": "ToDo", "name": None}, None, "'name' must be a string or integer"),
])
def test_bulk_item_shapes(item, doctype, message):
    with pytest.raises(FrappeValueError) as e:
        bulk._target(item, doctype, "keys")
    assert e.value.message == message
    # What the failure report names, as far as the item allows.
    dt, name = bulk._loose_target(item, doctype)
    assert (dt is None or isinstance(dt, str)) and (name is None or isinstance(name, str))


def test_bulk_lists_are_capped():
    with pytest.raises(FrappeValueError, match="'docs' must be a list"):
        bulk._check_list({"a": 1}, "docs")
    with pytest.raises(FrappeValueError, match="At most"):
        bulk._check_list(list(range(bulk.MAX_ITEMS + 1)), "docs")


def test_search_fields_come_from_the_metadata():
    meta = Meta({"name": "Thing", "search_fields": "status, name,  missing, qty,status",
                 "fields": [{"fieldname": "status", "fieldtype": "Data"}, {"fieldname": "qty", "fieldtype": "Int"},
                            {"fieldname": "sb", "fieldtype": "Section Break"}]})
    assert search.search_fields(meta) == ["status", "qty"]


class _Cursor:
    def __init__(self, rows):
        self.rows = list(rows)

    def fetch(self, n):
        out, self.rows = self.rows[:n], self.rows[n:]
        return out


class _Compiled:
    @staticmethod
    def rows(rows, as_dict):
        return [{"n": r[0]} for r in rows]


def _stream(rows: int, page: int, batch: int) -> tuple[list, bool]:
    stream = ListStream.__new__(ListStream)
    stream._compiled, stream._as_dict, stream._debug = _Compiled(), True, None
    stream._room, stream.more = None, False
    # The query asks for one row more than the page.
    stream._cursor = _Cursor([(i,) for i in range(min(rows, page + 1))])
    stream.page(page)
    out: list = []
    while True:
        got = stream.fetch(batch)
        if not got:
            break
        out += got
    return out, stream.has_next_page()


@pytest.mark.parametrize("rows,page,batch,more", [
    (10, 4, 100, True), (10, 4, 1, True), (10, 4, 4, True), (4, 4, 4, False), (4, 4, 3, False),
    (3, 4, 2, False), (0, 4, 10, False), (5, 4, 5, True),
])
def test_a_paged_stream_hands_out_one_page_and_knows_the_next(rows, page, batch, more):
    out, has_next = _stream(rows, page, batch)
    assert [r["n"] for r in out] == list(range(min(rows, page)))
    assert has_next is more


ROUTES = [
    ("GET", "/api/v2/document/ToDo", documents.list_docs, {"doctype": "ToDo"}),
    ("QUERY", "/api/v2/document/ToDo/", documents.list_docs, {"doctype": "ToDo"}),
    ("POST", "/api/v2/document/Sales Order", documents.create_doc, {"doctype": "Sales Order"}),
    ("GET", "/api/v2/document/ToDo/a/b/", documents.read_doc, {"doctype": "ToDo", "name": "a/b"}),
    ("PATCH", "/api/v2/document/ToDo/x", documents.update_doc, {"doctype": "ToDo", "name": "x"}),
    ("PUT", "/api/v2/document/ToDo/x/", documents.update_doc, {"doctype": "ToDo", "name": "x"}),
    ("DELETE", "/api/v2/document/ToDo/x/", documents.delete_doc, {"doctype": "ToDo", "name": "x"}),
    ("POST", "/api/v2/document/ToDo/x/method/submit/", documents.doc_method,
     {"doctype": "ToDo", "name": "x", "method": "submit"}),
    ("QUERY", "/api/v2/document/ToDo/x/method/m", documents.doc_method, {"doctype": "ToDo", "name": "x", "method": "m"}),
    ("POST", "/api/v2/document/ToDo/bulk_delete/", documents.bulk_delete_docs, {"doctype": "ToDo"}),
    ("POST", "/api/v2/document/ToDo/bulk_update", documents.bulk_update_docs, {"doctype": "ToDo"}),
    ("GET", "/api/v2/document/ToDo/bulk_update", documents.read_doc, {"doctype": "ToDo", "name": "bulk_update"}),
    ("GET", "/api/v2/doctype/ToDo/meta/", doctypes.meta, {"doctype": "ToDo"}),
    ("QUERY", "/api/v2/doctype/ToDo/count", doctypes.count, {"doctype": "ToDo"}),
    ("GET", "/api/v2/doctype/ToDo/search/", doctypes.search, {"doctype": "ToDo"}),
    ("POST", "/api/v2/method/login/", methods.login, {}),
    ("POST", "/api/v2/method/logout", methods.logout, {}),
    ("GET", "/api/v2/method/logout", methods.method, {"name": "logout"}),  # refused there
    ("POST", "/api/v2/method/upload_file/", methods.upload_file, {}),
    ("POST", "/api/v2/method/bulk_delete", methods.bulk_delete, {}),
    ("POST", "/api/v2/method/bulk_update/", methods.bulk_update, {}),
    ("QUERY", "/api/v2/method/run_doc_method", methods.run_doc_method, {}),
    ("GET", "/api/v2/method/frappe.client.get/", methods.method, {"name": "frappe.client.get"}),
    ("DELETE", "/api/v2/method/Sales Order/make_it", methods.doctype_method,
     {"doctype": "Sales Order", "method_name": "make_it"}),
    ("GET", "/api/v2/nothing", methods.not_found, {"rest": "nothing"}),
]


@pytest.mark.parametrize("verb,path,handler,params", ROUTES, ids=[f"{r[0]} {r[1]}" for r in ROUTES])
def test_v2_route_table(verb, path, handler, params):
    route, got = router().match(path, verb)
    assert route.handler is handler and got == params and route.api == "v2"


@pytest.mark.parametrize("verb,path", [("POST", "/api/v2/doctype/ToDo/meta"), ("PATCH", "/api/v2/document/ToDo"),
                                       ("POST", "/api/v2/doctype/ToDo/search/")])
def test_v2_verbs_a_route_refuses(verb, path):
    with pytest.raises(MethodNotAllowed):
        router().match(path, verb)


def test_v2_statuses_and_transactions():
    table = router()
    assert table.match("/api/v2/document/ToDo/x", "DELETE")[0].status == 202
    # Reads without a transaction; a document method always in one (a GET's writes are rolled back).
    assert table.match("/api/v2/document/ToDo", "GET")[0].transaction is False
    assert table.match("/api/v2/document/ToDo/x/method/m", "GET")[0].transaction is True
    assert table.match("/api/v2/method/login", "POST")[0].login is True
