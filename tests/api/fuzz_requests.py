"""Hypothesis strategies for the HTTP fuzz test: one drawn :class:`Req` is one request.

Strategies are built from what the site holds (:class:`Target`): its DocTypes and
fieldnames, some names of stored documents and child rows, and the method registry
of the app, so a method registered later is fuzzed without changing this file. Values
mix plausible input (real fieldnames, operators, names) with arbitrary JSON and text,
so requests get past the first checks and reach the model and the database.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

# Guest is refused early on most routes: it gets a smaller share.
WHO = ("admin", "admin", "admin", "user", "user", "user", "guest")
VERBS = ("GET", "POST", "PUT", "DELETE", "PATCH")
OPERATORS = ("=", "!=", ">", "<", ">=", "<=", "like", "not like", "in", "not in", "between", "is",
             "timespan", "descendants of", "ancestors of", "not descendants of", "not ancestors of",
             "set", "not set", "Between", "IN", "LIKE", "regexp", "~")
EXPRESSIONS = ("*", "count(name)", "count(*)", "sum(idx)", "max(modified)", "min(creation)", "avg(idx)",
               "count(distinct name)", "name as alias", "`tabToDo`.`name`", "\"tabNote\".\"title\"",
               "tabToDo.name", "seen_by.user", "items.code", "roles.role", "_user_tags", "_assign",
               "_comments", "_liked_by", "_seen", "name desc", "locate('a', name)")
# Arguments of methods whose names say what they hold.
DOCTYPE_ARGS = frozenset({"doctype", "dt", "reference_doctype", "parent", "parenttype", "attached_to_doctype"})
NAME_ARGS = frozenset({"name", "docname", "dn", "old_name", "new_name", "reference_name", "user",
                       "attached_to_name"})
FIELD_ARGS = frozenset({"fields", "fieldname", "field", "pluck"})
FILTER_ARGS = frozenset({"filters", "or_filters"})


@dataclass
class Target:
    doctypes: list[str]
    fields: dict[str, list[str]]          # fieldnames (with columns) per DocType
    types: dict[str, dict[str, tuple[str, str]]]  # per DocType: fieldname -> (fieldtype, options)
    tables: dict[str, dict[str, str]]     # per DocType: Table fieldname -> child DocType
    names: dict[str, list[str]]           # names a fuzzed request may change or delete
    row_names: list[str]                  # names of stored child rows
    methods: list[tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]]  # name, verbs, required, optional
    file_urls: list[str] = field(default_factory=list)


@dataclass
class Req:
    who: str
    method: str
    path: str
    params: list[tuple[str, str]] | None = None
    json_body: Any = None
    form: dict[str, str] | None = None
    files: dict[str, tuple[str, bytes, str]] | None = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    has_json: bool = False

    def short(self) -> str:
        return (f"{self.who} {self.method} {self.path} params={self.params!r} json={self.json_body!r} "
                f"form={self.form!r} files={self.files!r} content={self.content!r} headers={self.headers!r}")


# --- values ------------------------------------------------------------------------------------

text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=24)
ident_text = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_ .`\"'()*,-0123456789%[]{}<>=!;:/\\\x00", max_size=24)
numbers = st.integers(min_value=-(2**63), max_value=2**64 - 1) | st.floats(allow_infinity=False, allow_nan=False)
dates = st.sampled_from(["2024-01-31", "2024-02-30", "2024-01-31 10:20:30", "10:20", "25:61:61", "0000-00-00",
                         "9999-12-31 23:59:59.999999", "today", "now", "Today", "-1", "1e9", "2024-13-01"])
scalars = st.none() | st.booleans() | numbers | text | dates
json_values = st.recursive(scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(text, c, max_size=4),
                           max_leaves=10)



def _nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value] if depth % 2 else {"k": value}
    return value


# Deeper than some encoders and parsers go (orjson: 254 to write, 1024 to read).
deep = st.integers(200, 900).map(_nested)
# Wrong shapes first: an object or a list where one value belongs.
garbage = st.one_of(st.dictionaries(text, scalars, max_size=2), st.lists(scalars, max_size=2), json_values,
                    deep)


def plausibly(good: st.SearchStrategy, bad: st.SearchStrategy = garbage) -> st.SearchStrategy:
    """Mostly ``good`` (so a request gets past the first check), sometimes ``bad``."""
    return st.one_of(good, good, good, bad)


limits = plausibly(st.integers(0, 30), numbers | text)
flags = plausibly(st.sampled_from([0, 1, "true", "false", "True"]), text | json_values)


def as_text(value: Any) -> str:
    """An argument as a query string or form carries it: text as is, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def doctype_names(t: Target) -> st.SearchStrategy[str]:
    known = st.sampled_from(t.doctypes)
    return st.one_of(known, known, known, known, ident_text, text)


def fieldnames(t: Target, doctype: str) -> st.SearchStrategy[str]:
    known = st.sampled_from(t.fields.get(doctype) or ["name"])
    return st.one_of(known, known, st.sampled_from(EXPRESSIONS), ident_text)


def doc_names(t: Target, doctype: str | None) -> st.SearchStrategy[Any]:
    pool = st.sampled_from(t.names.get(doctype or "", []) or ["x"])
    return st.one_of(pool, pool, pool, st.sampled_from(t.row_names or ["x"]), text, numbers, json_values)


@st.composite
def filters(draw, t: Target, doctype: str) -> Any:
    field_s = fieldnames(t, doctype)
    types = t.types.get(doctype) or {}
    typed = st.sampled_from(sorted(types.values()) or [("Data", "")]).flatmap(lambda ft: value_for(t, *ft))
    value_s = st.one_of(typed, typed, scalars, st.lists(scalars | typed, max_size=3), json_values)
    op_s = st.sampled_from(OPERATORS) | ident_text
    term = st.one_of(
        st.tuples(field_s, op_s, value_s).map(list),
        st.tuples(doctype_names(t), field_s, op_s, value_s).map(list),
        st.tuples(field_s, value_s).map(list),
        st.lists(json_values, max_size=5),
    )
    shape = draw(st.integers(0, 6))
    if shape <= 1:
        return draw(st.dictionaries(field_s, value_s | st.tuples(op_s, value_s).map(list), max_size=3))
    if shape <= 3:
        return draw(st.lists(term, max_size=3))
    if shape == 4:
        return draw(term)
    if shape == 5:
        return draw(json_values)
    return draw(text | ident_text)


@st.composite
def field_list(draw, t: Target, doctype: str) -> Any:
    kind = draw(st.integers(0, 4))
    if kind <= 2:
        return draw(st.lists(fieldnames(t, doctype), max_size=4))
    if kind == 3:
        return draw(fieldnames(t, doctype))
    return draw(json_values)


@st.composite
def order_by(draw, t: Target, doctype: str) -> str:
    parts = draw(st.lists(st.tuples(fieldnames(t, doctype), st.sampled_from(["", " asc", " desc", " DESC", " x"])),
                          min_size=1, max_size=3))
    return ", ".join(f + d for f, d in parts) if draw(st.booleans()) else draw(ident_text | text)


def value_for(t: Target, fieldtype: str, options: str) -> st.SearchStrategy[Any]:
    """A value a client might send for a field of this type: mostly plausible, sometimes anything."""
    if fieldtype in ("Int", "Long Int", "Check"):
        plausible = st.integers(-3, 3) | numbers | st.sampled_from(["1", "0", "x", "1e3", "9" * 30])
    elif fieldtype in ("Float", "Currency", "Percent", "Rating", "Duration"):
        plausible = st.floats(-5, 5) | numbers | st.sampled_from(["1.5", "-0", "1e308", "1,000.5"])
    elif fieldtype in ("Date", "Datetime", "Time"):
        plausible = dates
    elif fieldtype == "Select":
        plausible = st.sampled_from([o for o in options.split("\n") if o] or [""]) | text
    elif fieldtype in ("Link", "Dynamic Link"):
        pool = t.names.get(options) or t.doctypes
        plausible = st.sampled_from(pool) | text
    elif fieldtype == "JSON":
        plausible = json_values | json_values.map(json.dumps)
    else:
        plausible = text | st.sampled_from(["a@b.co", "not an email", "x" * 141, "<b>x</b>", ""])
    return plausibly(plausible)


@st.composite
def values(draw, t: Target, doctype: str, extra_keys: tuple[str, ...], max_size: int) -> dict:
    types = t.types.get(doctype) or {}
    keys = draw(st.lists(st.sampled_from(sorted(types) or ["name"]) | st.sampled_from(extra_keys) | text,
                         max_size=max_size, unique=True))
    out = {}
    for key in keys:
        if key in types:
            out[key] = draw(value_for(t, *types[key]))
        elif key in ("name",):
            out[key] = draw(plausibly(st.sampled_from(t.row_names or ["x"]) | doc_names(t, doctype)))
        else:
            out[key] = draw(plausibly(scalars))
    return out


ROW_KEYS = ("name", "doctype", "idx", "parent", "parenttype", "parentfield", "docstatus", "__islocal")
DOC_KEYS = ("name", "doctype", "docstatus", "idx", "modified", "owner", "parent", "parenttype", "__islocal",
            "flags", "__newname", "amended_from")


@st.composite
def child_rows(draw, t: Target, child: str) -> list:
    rows = draw(st.lists(values(t, child, ROW_KEYS, 4), max_size=3))
    for row in rows:
        if draw(st.booleans()):
            # The row's name decides whether it replaces a stored row.
            row["name"] = draw(plausibly(st.sampled_from(t.row_names or ["x"])))
    return rows


@st.composite
def document(draw, t: Target, doctype: str, *, with_doctype: bool = False) -> dict:
    doc = draw(values(t, doctype, DOC_KEYS, 6))
    for table, child in (t.tables.get(doctype) or {}).items():
        if draw(st.booleans()):
            doc[table] = draw(child_rows(t, child) | json_values)
    if with_doctype and draw(st.integers(0, 9)):
        doc["doctype"] = doctype
        if draw(st.booleans()):
            doc["name"] = draw(doc_names(t, doctype))
    return doc


# --- encodings -------------------------------------------------------------------------------------

@st.composite
def send(draw, who: str, verb: str, path: str, args: dict[str, Any]) -> Req:
    """``args`` sent the way a client may send them: query string, JSON body, urlencoded or multipart form."""
    how = draw(st.sampled_from(["query", "json", "form", "multipart"] if verb != "GET" else ["query", "query", "json"]))
    req = Req(who, verb, path)
    if how == "query":
        req.params = [(k, as_text(v)) for k, v in args.items()]
    elif how == "json":
        req.json_body = args if draw(st.integers(0, 9)) else draw(json_values)
        req.has_json = True
    elif how == "form":
        req.form = {k: as_text(v) for k, v in args.items()}
    else:
        req.form = {k: as_text(v) for k, v in args.items()}
        req.files = {"x": ("x.txt", b"x", "text/plain")}
    return req


# --- route families ---------------------------------------------------------------------------------

@st.composite
def resource_list(draw, t: Target) -> Req:
    doctype = draw(doctype_names(t))
    optional = {
        "fields": field_list(t, doctype), "filters": filters(t, doctype), "or_filters": filters(t, doctype),
        "order_by": order_by(t, doctype), "group_by": fieldnames(t, doctype) | order_by(t, doctype),
        "limit_page_length": limits, "limit_start": limits, "limit": limits,
        "as_dict": flags, "debug": flags, "parent": doctype_names(t),
    }
    args = draw(st.fixed_dictionaries({}, optional=optional))
    return draw(send(draw(st.sampled_from(WHO)), "GET", "/api/resource/" + quote(doctype, safe=""), args))


def _doc_path(doctype: str, name: Any) -> str:
    return "/api/resource/" + quote(doctype, safe="") + "/" + quote(str(name), safe="/")


@st.composite
def resource_read(draw, t: Target) -> Req:
    doctype = draw(doctype_names(t))
    name = draw(doc_names(t, doctype))
    args = draw(st.fixed_dictionaries({}, optional={"run_method": text | st.sampled_from(["submit", "cancel"])}))
    return draw(send(draw(st.sampled_from(WHO)), "GET", _doc_path(doctype, name), args))


@st.composite
def resource_write(draw, t: Target) -> Req:
    doctype = draw(doctype_names(t))
    verb = draw(st.sampled_from(["POST", "PUT", "DELETE", "POST", "PUT", "PATCH"]))
    path = "/api/resource/" + quote(doctype, safe="") if verb == "POST" and draw(st.integers(0, 3)) \
        else _doc_path(doctype, draw(doc_names(t, doctype)))
    doc = draw(document(t, doctype))
    if draw(st.integers(0, 3)) == 0:
        args: dict[str, Any] = {"data": doc if draw(st.booleans()) else draw(json_values)}
    elif verb == "POST" and path.count("/") == 4 and draw(st.booleans()):
        args = {"run_method": draw(text | st.sampled_from(["submit", "cancel", "add_comment"])), **doc}
    else:
        args = doc
    return draw(send(draw(st.sampled_from(WHO)), verb, path, args))


@st.composite
def method_call(draw, t: Target) -> Req:
    name, verbs, required, optional = draw(st.sampled_from(t.methods))
    doctype = draw(doctype_names(t))

    def arg(param: str) -> st.SearchStrategy[Any]:
        if param in DOCTYPE_ARGS:
            return st.just(doctype) | doctype_names(t)
        if param in NAME_ARGS:
            return doc_names(t, doctype)
        if param in FIELD_ARGS:
            return field_list(t, doctype)
        if param in FILTER_ARGS:
            return filters(t, doctype)
        if param in ("order_by", "group_by", "sort_by"):
            return order_by(t, doctype)
        if param in ("limit", "limit_page_length", "limit_start", "page_length", "start"):
            return limits
        if param in ("as_dict", "debug", "merge", "decode_base64", "is_private", "cache"):
            return flags
        if param == "doc":
            return document(t, doctype, with_doctype=True) | st.just(doctype).flatmap(
                lambda d: document(t, d, with_doctype=True)).map(json.dumps)
        if param == "docs":
            return st.lists(document(t, doctype, with_doctype=True), max_size=3) | json_values
        if param == "values":
            return document(t, doctype)
        return json_values

    args = draw(st.fixed_dictionaries({p: arg(p) for p in required},
                                      optional={p: arg(p) for p in optional}))
    if draw(st.integers(0, 9)) == 0:
        args.update(draw(st.dictionaries(text, json_values, max_size=2)))
    verb = draw(st.sampled_from(sorted(verbs)) if draw(st.integers(0, 4)) else st.sampled_from(VERBS))
    path = "/api/method/" + (name if draw(st.integers(0, 19)) else quote(draw(ident_text), safe=""))
    return draw(send(draw(st.sampled_from(WHO)), verb, path, args))


@st.composite
def upload(draw, t: Target) -> Req:
    doctype = draw(doctype_names(t))
    optional = {
        "doctype": st.just(doctype) | text, "docname": doc_names(t, doctype), "fieldname": fieldnames(t, doctype),
        "folder": st.sampled_from(["Home", "Home/Attachments", "Home/x"]) | text,
        "is_private": st.sampled_from(["0", "1"]) | text, "file_name": text,
        "file_url": st.sampled_from(t.file_urls or ["/files/x"]) | st.sampled_from(
            ["/files/../site_config.json", "/private/files/", "http://127.0.0.1/x", "javascript:x", "//x"]) | text,
        "filedata": st.binary(max_size=32).map(lambda b: base64.b64encode(b).decode()) | text,
        "filename": text,
    }
    fields = {k: as_text(v) for k, v in draw(st.fixed_dictionaries({}, optional=optional)).items()}
    method = draw(st.sampled_from(["upload_file", "upload_file", "uploadfile", "frappe.client.attach_file"]))
    req = Req(draw(st.sampled_from(WHO)), draw(st.sampled_from(["POST", "POST", "PUT", "GET"])),
              "/api/method/" + method)
    if draw(st.booleans()):
        filename = draw(text | st.sampled_from(["a.txt", "a.html", "../../x.png", ".hidden", "x" * 300]))
        req.files = {"file": (filename, draw(st.binary(max_size=64)), draw(st.sampled_from(
            ["text/plain", "image/png", "application/octet-stream"])))}
    if req.files or draw(st.booleans()):
        req.form = fields
    else:
        req.json_body, req.has_json = fields, True
    return req


@st.composite
def login(draw, t: Target) -> Req:
    users = st.sampled_from(["Administrator", "admin@example.com", "fuzz.user@example.com", "Guest"]) | text
    args = draw(st.fixed_dictionaries({}, optional={"usr": users | json_values, "pwd": text | json_values,
                                                    "device": text}))
    return draw(send("guest", draw(st.sampled_from(["POST", "POST", "GET"])), "/api/method/login", args))


@st.composite
def raw(draw, t: Target) -> Req:
    """Odd requests: any path under the API, any content type and body, a hostile query string."""
    path = draw(st.sampled_from(["/api/resource/", "/api/method/", "/api/v1/resource/", "/api/", "/files/",
                                 "/private/files/", "/api/method/frappe.client.get_list", "/api/resource/ToDo"]))
    path += draw(ident_text.map(lambda s: quote(s, safe="/")))
    req = Req(draw(st.sampled_from(WHO)), draw(st.sampled_from(VERBS)), path)
    req.content = draw(st.binary(max_size=64) | text.map(str.encode) | st.sampled_from(
        [b"{", b"[1]", b"null", b"\"x\"", b"{\"data\": 1}", b"a=1&a=2&_=3", b"--b\r\n", b"1e400"]))
    req.headers["content-type"] = draw(st.sampled_from([
        "application/json", "application/x-www-form-urlencoded", "multipart/form-data",
        "multipart/form-data; boundary=b", "text/plain", "", "application/vnd.api+json", "text/json; charset=x"]))
    credential = st.tuples(text, text).map(lambda kv: f"{kv[0]}:{kv[1]}")
    header_text = text.map(lambda v: "".join(c for c in v if c not in "\r\n\x00"))
    auth = draw(st.none() | st.one_of(
        credential.map(lambda c: "token " + c),
        st.one_of(credential.map(str.encode), st.binary(max_size=24)).map(
            lambda b: "Basic " + base64.b64encode(b).decode()),
        header_text))
    if auth is not None:
        req.headers["authorization"] = auth.replace("\x00", "")
    if draw(st.integers(0, 4)) == 0:
        req.headers["cookie"] = "sid=" + quote(draw(text), safe="")
    if draw(st.booleans()):
        pairs = draw(st.lists(st.tuples(ident_text, ident_text), max_size=4))
        if draw(st.integers(0, 4)) == 0:
            pairs.append(("sid", draw(text)))
        if draw(st.integers(0, 9)) == 0:
            pairs += [(f"k{i}", "1") for i in range(draw(st.integers(1990, 2010)))]
        req.params = pairs
    return req


def requests(t: Target) -> st.SearchStrategy[Req]:
    """Every route family, about equally often (login less: a password check costs real CPU)."""
    return st.one_of(resource_list(t), resource_read(t), resource_write(t), resource_write(t),
                     method_call(t), method_call(t), method_call(t), upload(t), raw(t),
                     st.integers(0, 3).flatmap(lambda n: login(t) if n == 0 else resource_list(t)))
