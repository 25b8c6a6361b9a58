"""Acceptance test of "every fixture DocType round-trips".

Every DocType JSON file of the shared fixture set is imported through the CLI into a
running server's site; then, over HTTP with API-key auth, for every DocType:

* the stored definition (``GET /api/resource/DocType/<name>``) matches the file;
* ordinary DocTypes: a document with a generated valid value for every data field (and
  one generated row in every Table field whose child DocType exists) is created, named
  by the DocType's rule, read back value by value, found by a list filter, updated and
  deleted;
* singles are read and updated at ``/api/resource/<X>/<X>``;
* child tables are exercised through their parents (a fixture parent, or a custom
  parent DocType created for the purpose when the fixture set has none).

Values are generated from the served metadata only (see ``DocGen``): nothing here knows
a particular DocType, except the few documented controller-computed fields.
``frappe/web_page_legacy_2016.json`` defines ``Web Page`` again, so it is imported on
its own, after the modern definitions (and the modern one is restored afterwards).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from typing import Any

import pytest

from tests.conftest import FIXTURES
from tests.http import ok, url

LEGACY = "frappe/web_page_legacy_2016.json"

LAYOUT_TYPES = {"Section Break", "Column Break", "Tab Break", "HTML", "Button", "Image", "Fold", "Heading"}
TABLE_TYPES = {"Table", "Table MultiSelect"}
STANDARD = {"name", "owner", "creation", "modified", "modified_by", "docstatus", "idx",
            "parent", "parentfield", "parenttype", "doctype"}
FLOAT_TYPES = {"Float", "Currency", "Percent", "Duration", "Rating"}
INT_TYPES = {"Int", "Long Int", "Check"}

# Fields whose stored value is computed by the server from other fields, exactly as a
# Frappe controller does; a generated value cannot be expected to read back unchanged.
SERVER_COMPUTED = {
    # The User controller sets full_name from first/middle/last name (Frappe: User.validate).
    ("User", "full_name"),
}
# Child rows the server adds by itself: (parent DocType, Table field) -> predicate on a row.
SERVER_ADDED_ROWS = {
    # A submittable DocType gets an ``amended_from`` field when its definition has none.
    ("DocType", "fields"): lambda row: row.get("fieldname") == "amended_from",
}


def _load_fixtures() -> dict[str, dict]:
    """relative path -> definition, for every fixture file."""
    out = {}
    for path in sorted(FIXTURES.rglob("*.json")):
        out[path.relative_to(FIXTURES).as_posix()] = json.loads(path.read_bytes())
    return out


ALL_FILES = _load_fixtures()
MODERN = {rel: d for rel, d in ALL_FILES.items() if rel != LEGACY}
BY_NAME = {d["name"]: d for d in MODERN.values()}
PARENTS = sorted(n for n, d in BY_NAME.items() if not d.get("istable") and not d.get("issingle"))
SINGLES = sorted(n for n, d in BY_NAME.items() if d.get("issingle"))
CHILDREN = sorted(n for n, d in BY_NAME.items() if d.get("istable"))
# Child DocTypes that no fixture parent (nor single) uses through a Table field.
_USED_CHILDREN = {f.get("options") for d in BY_NAME.values() if not d.get("istable")
                  for f in d.get("fields", []) if f.get("fieldtype") in TABLE_TYPES}
ORPHAN_CHILDREN = sorted(n for n in CHILDREN if n not in _USED_CHILDREN)




def field_order(definition: dict) -> list[dict]:
    """Fields in display order (``field_order`` when present, else array order)."""
    fields = [f for f in definition.get("fields", []) if isinstance(f, dict)]
    order = definition.get("field_order")
    if order:
        pos = {fn: i for i, fn in enumerate(order)}
        fields = sorted(fields, key=lambda f: pos.get(f.get("fieldname"), len(pos)))
    return fields


# --- value generation -----------------------------------------------------------------------------

def _token(length: int = 140, unique: bool = False) -> str:
    """A short identifier-like text (valid as a fieldname, a name and an URL part)."""
    text = "v_" + secrets.token_hex(5 if unique else 4)
    return text if len(text) <= length else secrets.token_hex(length)[:length]


def _select_options(f: dict) -> list[str]:
    return [o.strip() for o in (f.get("options") or "").split("\n") if o.strip()]


class DocGen:
    """Generates valid documents of any DocType from the metadata the server serves."""

    def __init__(self, client):
        self.c = client
        self._defs: dict[str, dict | None] = {}
        self._creating: set[str] = set()

    # metadata ----------------------------------------------------------------------------------

    def definition(self, doctype: str) -> dict | None:
        if doctype not in self._defs:
            r = self.c.get(url("DocType", doctype))
            if r.status_code == 404:
                self._defs[doctype] = None
            else:
                self._defs[doctype] = ok(r)
        return self._defs[doctype]

    def forget(self, doctype: str) -> None:
        self._defs.pop(doctype, None)

    def data_fields(self, doctype: str) -> list[dict]:
        d = self.definition(doctype) or {}
        return [f for f in d.get("fields", []) if f.get("fieldname") and f.get("fieldtype") not in LAYOUT_TYPES]

    # records ------------------------------------------------------------------------------------

    def record(self, doctype: str) -> Any:
        """The name of an existing record of ``doctype`` (created if there is none).

        None when no record can be had (a DocType already being created higher up, to
        break Link cycles, or a child table). For a DocType that does not exist (a
        dangling Link target) any text is a valid value.
        """
        d = self.definition(doctype)
        if d is None:
            return _token()
        if d.get("issingle"):
            return doctype
        if d.get("istable"):
            return None
        rows = ok(self.c.get(url(doctype), params={"order_by": "creation asc", "limit_page_length": 1}))
        if rows:
            return rows[0]["name"]
        if doctype in self._creating:
            return None
        self._creating.add(doctype)
        try:
            values = self.values(doctype)
            root_fields = [f["fieldname"] for f in self.data_fields(doctype)
                           if f["fieldtype"] == "Link" and f.get("options") == doctype and f.get("reqd")
                           and f["fieldname"] not in values]
            if root_fields:
                return self._create_root(doctype, values, root_fields)
            return ok(self.c.post(url(doctype), json=values))["name"]
        finally:
            self._creating.discard(doctype)

    def _create_root(self, doctype: str, values: dict, root_fields: list[str]) -> Any:
        """The first record of a DocType with a mandatory Link to itself (a tree's parent).

        No valid value exists before the first record does: Frappe apps create the root
        with ``ignore_mandatory`` (ERPNext's chart of accounts). Over HTTP the way is
        the one Customize Form takes: relax the field, create the root, restore it.
        """
        rows = self.definition(doctype)["fields"]
        relaxed = [{**r, "reqd": 0} if r.get("fieldname") in root_fields else r for r in rows]
        ok(self.c.put(url("DocType", doctype), json={"fields": relaxed}))
        try:
            return ok(self.c.post(url(doctype), json=values))["name"]
        finally:
            ok(self.c.put(url("DocType", doctype), json={"fields": rows}))

    # values -------------------------------------------------------------------------------------

    def values(self, doctype: str) -> dict:
        """Generated values for every data field of ``doctype`` plus one row per Table field.

        Includes ``name`` when the naming rule needs the client to send one (Prompt).
        """
        d = self.definition(doctype)
        assert d is not None, doctype
        out: dict[str, Any] = {}
        fields = self.data_fields(doctype)
        by_name = {f["fieldname"]: f for f in fields}
        for f in fields:
            fn = f["fieldname"]
            if fn in out or fn in STANDARD:
                # A DocField named like a standard column (Web Page's ``idx``) is the
                # server-owned standard column: the client cannot set it.
                continue
            if fn == "amended_from":
                # Valid only when it names a cancelled document (an amendment); the
                # documents created here are drafts.
                continue
            ft = f["fieldtype"]
            if ft in TABLE_TYPES:
                child = f.get("options")
                if child and self.definition(child) is not None:
                    out[fn] = [self.values(child)]
                continue
            if ft == "Dynamic Link":
                pair = self._dynamic_link(f, by_name.get(f.get("options") or ""))
                if pair is not None:
                    out[f["options"]], out[fn] = pair
                continue
            value = self.scalar(f)
            if value is not None:
                out[fn] = value
        autoname = (d.get("autoname") or "").strip().lower()
        if autoname == "prompt" or d.get("naming_rule") == "Set by user":
            # Prompt: the client chooses the name. Names with a space and a slash
            # also exercise URL routing.
            out["name"] = "RT " + secrets.token_hex(4)
        return out

    def _dynamic_link(self, f: dict, sibling: dict | None) -> tuple[str, Any] | None:
        """(DocType, name) for a Dynamic Link and the sibling field holding its DocType."""
        if sibling is None:
            return None
        if sibling["fieldtype"] == "Select":
            candidates = _select_options(sibling)
        else:
            # A Link naming the DocType (to ``DocType`` or to a DocType that does not exist
            # here, e.g. ERPNext's ``Party Type``): any DocType name with records will do.
            candidates = ["User"]
        for target in candidates:
            if self.definition(target) is None:
                continue
            name = self.record(target)
            if name is not None:
                return target, name
        return None

    def scalar(self, f: dict) -> Any:
        ft = f["fieldtype"]
        length = int(f.get("length") or 0) or 140
        unique = bool(f.get("unique"))
        options = (f.get("options") or "").strip()
        if ft == "Link":
            return self.record(options) if options else _token(length, unique)
        if ft == "Select":
            opts = _select_options(f)
            if not opts:
                return _token(length, unique)  # options filled at run time: any value
            if f["fieldname"] == "naming_series":
                return opts[0]
            return opts[len(opts) // 2]
        if ft in ("Int", "Long Int"):
            return secrets.randbelow(10**6) + 10 if unique else 7
        if ft == "Check":
            return 1
        if ft == "Rating":
            return 0.6
        if ft == "Duration":
            return 3725
        if ft in ("Float", "Currency", "Percent"):
            return 12.5
        if ft == "Date":
            return "2024-03-15"
        if ft == "Datetime":
            return "2024-03-15 10:20:30"
        if ft == "Time":
            return "10:20:30"
        if ft == "JSON":
            return {"key": _token(), "n": 1}
        if ft == "Color":
            return "#ff8800"
        if ft in ("Attach", "Attach Image"):
            return f"/files/{_token()}.png"
        if ft == "Signature":
            return "data:image/png;base64,iVBORw0KGgo="
        if ft == "Geolocation":
            return '{"type":"FeatureCollection","features":[]}'
        if ft == "Barcode":
            return "4006381333931"
        if ft == "Phone" or (ft == "Data" and options == "Phone"):
            return "+1-555-0100"
        if ft == "Data" and options == "Email":
            return f"rt.{secrets.token_hex(4)}@example.com"
        if ft == "Data" and options == "URL":
            return f"https://example.com/{_token()}"
        if ft == "Code" and options.upper() == "JSON":
            return '{"a": 1}'
        return _token(length, unique)


# --- comparing ----------------------------------------------------------------------------------

def _norm(ft: str, value: Any) -> Any:
    if value is None or value == "":
        return None
    if ft in FLOAT_TYPES:
        return round(float(value), 6)
    if ft in INT_TYPES:
        return int(value)
    if ft == "Datetime":
        return dt.datetime.fromisoformat(str(value)).isoformat(sep=" ")
    if ft == "Time":
        h, m, s = str(value).split(":")
        return (int(h), int(m), round(float(s), 6))
    if ft == "Date":
        return str(value)[:10]
    if ft == "JSON":
        return json.loads(value) if isinstance(value, str) else value
    return str(value)


class Expect:
    """What a generated document must read back as."""

    def __init__(self, gen: DocGen, doctype: str):
        self.gen = gen
        self.doctype = doctype

    def fetched(self, fields: dict[str, dict], f: dict, sent: dict) -> tuple[bool, Any]:
        """(applies, value) for a ``fetch_from`` field: the linked record's value."""
        source = f.get("fetch_from") or ""
        if "." not in source:
            return False, None
        link_field, target_field = source.split(".", 1)
        lf = fields.get(link_field)
        if lf is None or lf.get("fieldtype") != "Link":
            return False, None
        target = self.gen.definition(lf.get("options") or "")
        if target is None or target.get("issingle") or not any(
                x.get("fieldname") == target_field for x in target.get("fields", [])) and target_field not in STANDARD:
            return False, None
        if f.get("fetch_if_empty") and sent.get(f["fieldname"]) not in (None, ""):
            return False, None
        link_value = sent.get(link_field)
        if link_value in (None, ""):
            return True, sent.get(f["fieldname"]) if f.get("fetch_if_empty") else None
        linked = ok(self.gen.c.get(url(lf["options"], link_value)))
        return True, linked.get(target_field)

    def compare(self, doctype: str, sent: dict, got: dict, where: str) -> list[str]:
        fields = {f["fieldname"]: f for f in self.gen.data_fields(doctype)}
        problems = []
        for key, value in sent.items():
            if key == "name":
                continue
            f = fields[key]
            ft = f["fieldtype"]
            if (doctype, key) in SERVER_COMPUTED:
                continue
            if ft in TABLE_TYPES:
                rows = got.get(key) or []
                added = SERVER_ADDED_ROWS.get((doctype, key))
                if added is not None:
                    rows = [r for r in rows if not added(r)]
                if len(rows) != len(value):
                    problems.append(f"{where}.{key}: {len(rows)} rows read back, {len(value)} sent")
                    continue
                for i, (s_row, g_row) in enumerate(zip(value, rows)):
                    if g_row.get("parent") != got.get("name") or g_row.get("parentfield") != key \
                            or g_row.get("parenttype") != doctype or g_row.get("idx") != rows.index(g_row) + 1 \
                            and added is None:
                        problems.append(f"{where}.{key}[{i}]: parent keys wrong: {g_row}")
                    problems += self.compare(f["options"], s_row, g_row, f"{where}.{key}[{i}]")
                continue
            if ft == "Password":
                if value and got.get(key) == value:
                    problems.append(f"{where}.{key}: password returned in clear")
                continue
            applies, fetched = self.fetched(fields, f, sent)
            expected = fetched if applies else value
            if _norm(ft, expected) != _norm(ft, got.get(key)):
                problems.append(f"{where}.{key} ({ft}): sent {value!r}, expected {expected!r}, "
                                f"read back {got.get(key)!r}")
        return problems


# --- naming ------------------------------------------------------------------------------------

_DATE_TOKENS = {"YY": "%y", "YYYY": "%Y", "MM": "%m", "DD": "%d"}


def _part_pattern(part: str, doc: dict) -> str | None:
    now = dt.datetime.now()
    if part in _DATE_TOKENS:
        return re.escape(now.strftime(_DATE_TOKENS[part]))
    if part in doc and not isinstance(doc[part], (list, dict)):
        return re.escape("" if doc[part] is None else str(doc[part]))
    return None


def series_pattern(template: str, doc: dict) -> str:
    """Regex for a name made from an old-style series (``TASK-.YYYY.-.#####``)."""
    if "#" not in template:
        template += ".#####"
    out, counter = "", False
    for part in template.split("."):
        if not part:
            continue
        if set(part) == {"#"} and not counter:
            counter = True
            out += r"\d{%d,}" % len(part)
            continue
        m = re.fullmatch(r"\{(.*)\}", part)
        pat = _part_pattern(m.group(1) if m else part, doc)
        out += re.escape(part) if pat is None else pat
    return out


def format_pattern(template: str, doc: dict) -> str:
    """Regex for a ``format:`` template (``{field}``, date tokens and ``{###}`` counters)."""
    out, pos = "", 0
    for m in re.finditer(r"\{([^{}]*)\}", template):
        out += re.escape(template[pos:m.start()])
        token = m.group(1).strip()
        if token and set(token) == {"#"}:
            out += r"\d{%d,}" % len(token)
        else:
            out += _part_pattern(token, doc) or ""
        pos = m.end()
    return out + re.escape(template[pos:])


def check_name(definition: dict, sent: dict, doc: dict) -> None:
    """The document's name follows its DocType's naming rule (and its ``name_case``)."""
    name = doc["name"]
    case = definition.get("name_case") or ""
    if case in ("Title Case", "UPPER CASE") and isinstance(name, str):
        # Undo the case rule so the name can be compared with what produced it.
        assert name == (name.title() if case == "Title Case" else name.upper()), name
        name = name.lower() if re.fullmatch(r"[0-9a-fA-F]{10}", name) else name
    rule = (definition.get("autoname") or "").strip()
    low = rule.lower()
    fields = {f.get("fieldname") for f in definition.get("fields", [])}
    if low == "autoincrement":
        assert isinstance(name, int), name
    elif low == "prompt" or definition.get("naming_rule") == "Set by user":
        assert name == sent["name"]
    elif low.startswith("field:"):
        assert name == str(sent[rule.split(":", 1)[1].strip()]).strip()
    elif low.startswith("naming_series:"):
        assert re.fullmatch(series_pattern(sent["naming_series"], doc), name), (name, sent["naming_series"])
    elif low.startswith("format:"):
        pattern = format_pattern(rule.split(":", 1)[1], doc)
        assert re.fullmatch(pattern, name), (name, pattern)
    elif "#" in rule:
        assert re.fullmatch(series_pattern(rule, doc), name), (name, rule)
    elif rule in fields:
        assert name == str(sent[rule]).strip()
    elif low in ("hash", ""):
        if definition["name"] != "User":  # no rule: the name is the controller's (User: e-mail)
            assert re.fullmatch(r"[0-9a-f]{10}", str(name)), name


# --- fixtures -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def imported(server):
    """The modern fixture files imported through the CLI into the running server's site."""
    files = [str(FIXTURES / rel) for rel in MODERN]
    proc = server.cli("import-doctypes", *files)
    assert f"Imported {len(files)} DocType(s)" in proc.stdout, proc.stdout
    return server


@pytest.fixture
def gen(imported, admin) -> DocGen:
    return DocGen(admin)


# --- the definition itself ------------------------------------------------------------------------

_FIELD_KEYS = ("fieldtype", "options", "reqd", "unique", "length", "read_only", "hidden", "permlevel",
               "allow_on_submit", "fetch_from", "default", "label")
_PERM_KEYS = ("role", "permlevel", "read", "write", "create", "delete", "submit", "cancel", "amend",
              "if_owner", "report", "export", "import", "share", "print", "email")


def _same(a: Any, b: Any) -> bool:
    if a in (None, "", 0) and b in (None, "", 0):
        return True
    return str(a) == str(b)


def check_definition(served: dict, definition: dict) -> None:
    for key in ("istable", "issingle", "is_submittable", "is_tree", "autoname", "title_field", "module"):
        assert _same(served.get(key), definition.get(key)), (key, served.get(key), definition.get(key))
    want = [f for f in field_order(definition) if f.get("fieldname")]
    got = [f for f in served.get("fields", []) if f.get("fieldname")]
    assert [f["fieldname"] for f in got] == [f["fieldname"] for f in want]
    for w, g in zip(want, got):
        for key in _FIELD_KEYS:
            assert _same(g.get(key), w.get(key)), (w["fieldname"], key, g.get(key), w.get(key))
    perms = definition.get("permissions", [])
    assert len(served.get("permissions", [])) == len(perms)
    for w, g in zip(perms, served["permissions"]):
        for key in _PERM_KEYS:
            assert _same(g.get(key), w.get(key)), (w.get("role"), key, g.get(key), w.get(key))


@pytest.mark.parametrize("rel", sorted(MODERN))
def test_definition_round_trips(gen, rel):
    definition = MODERN[rel]
    served = gen.definition(definition["name"])
    assert served is not None, f"{definition['name']} not served after import"
    check_definition(served, definition)


# --- documents ------------------------------------------------------------------------------------

def _filter_field(doctype: str, gen: DocGen, sent: dict) -> dict | None:
    """A field to filter the list on: a short scalar we sent."""
    for wanted in (("Data", "Link", "Select"), ("Int", "Date", "Datetime", "Check")):
        for f in gen.data_fields(doctype):
            if f["fieldtype"] in wanted and sent.get(f["fieldname"]) not in (None, "") \
                    and (doctype, f["fieldname"]) not in SERVER_COMPUTED and not f.get("fetch_from"):
                return f
    return None


def _update_field(definition: dict, gen: DocGen, sent: dict) -> tuple[dict, Any] | None:
    """A field whose change is an ordinary edit, and its new value.

    Not the name's source, not fetched from a link, not set-only-once, not computed.
    """
    rule = (definition.get("autoname") or "").lower()
    name_sources = {"naming_series", rule.split(":", 1)[-1].strip(), rule}
    text_types = ("Data", "Small Text", "Text", "Long Text", "Text Editor", "Code")
    candidates = [f for f in gen.data_fields(definition["name"])
                  if f["fieldname"] in sent and f["fieldname"] not in name_sources and not f.get("fetch_from")
                  and not f.get("set_only_once") and (definition["name"], f["fieldname"]) not in SERVER_COMPUTED]
    for f in candidates:
        if f["fieldtype"] in text_types and not (f.get("options") or "").strip():
            return f, _token(int(f.get("length") or 0) or 140, bool(f.get("unique")))
    for f in candidates:
        if f["fieldtype"] in ("Int", "Float", "Check", "Date"):
            return f, {"Int": 8, "Float": 13.25, "Check": 0, "Date": "2023-12-31"}[f["fieldtype"]]
    for f in candidates:
        options = _select_options(f)
        if f["fieldtype"] == "Select" and len(options) > 1:
            return f, next(o for o in options if o != sent[f["fieldname"]])
    for f in candidates:
        if f["fieldtype"] in TABLE_TYPES:
            # Nothing else to edit: replace the child rows.
            return f, [gen.values(f["options"])]
    return None


def round_trip(gen: DocGen, doctype: str) -> None:
    """Create, read, list, update and delete one generated document of ``doctype``."""
    c = gen.c
    definition = gen.definition(doctype)
    assert definition is not None
    expect = Expect(gen, doctype)

    sent = gen.values(doctype)
    data_fields = gen.data_fields(doctype)
    missing = [f["fieldname"] for f in data_fields
               if f["fieldname"] not in sent and f["fieldname"] not in STANDARD and f["fieldname"] != "amended_from"
               and not (f["fieldtype"] in TABLE_TYPES and gen.definition(f.get("options") or "") is None)]
    assert not missing, f"no value generated for {missing}"

    # create (submittable DocTypes: as a draft)
    created = ok(c.post(url(doctype), json=sent))
    assert created["doctype"] == doctype and created["docstatus"] == 0
    name = created["name"]
    check_name(definition, sent, created)
    assert not expect.compare(doctype, sent, created, "insert response")

    # read back
    got = ok(c.get(url(doctype, name)))
    assert got["name"] == name
    problems = expect.compare(doctype, sent, got, "read")
    assert not problems, "\n".join(problems)

    # list with a filter on one of its fields
    f = _filter_field(doctype, gen, sent)
    if f is not None:
        value = sent[f["fieldname"]]
        rows = ok(c.get(url(doctype), params={"filters": json.dumps([[f["fieldname"], "=", value]]),
                                              "fields": json.dumps(["name", f["fieldname"]]),
                                              "limit_page_length": 0}))
        assert name in [r["name"] for r in rows], (f["fieldname"], value, rows)
    rows = ok(c.get(url(doctype), params={"filters": json.dumps([["name", "=", name]])}))
    assert rows == [{"name": name}]

    # update one field; everything else stays
    picked = _update_field(definition, gen, sent)
    assert picked is not None, "no updatable field"
    uf, new_value = picked
    fn = uf["fieldname"]
    updated = ok(c.put(url(doctype, name), json={fn: new_value}))
    assert not expect.compare(doctype, {fn: new_value}, updated, "update response")
    assert updated["modified"] >= got["modified"]
    got2 = ok(c.get(url(doctype, name)))
    problems = expect.compare(doctype, {**sent, fn: new_value}, got2, "read after update")
    assert not problems, "\n".join(problems)

    # delete
    assert ok(c.delete(url(doctype, name)), 202) == "ok"
    assert c.get(url(doctype, name)).status_code == 404


@pytest.mark.parametrize("doctype", PARENTS)
def test_document_round_trips(gen, doctype):
    round_trip(gen, doctype)


@pytest.mark.parametrize("doctype", SINGLES)
def test_single_read_and_update(gen, doctype):
    c = gen.c
    before = ok(c.get(url(doctype, doctype)))
    assert before["name"] == doctype and before["doctype"] == doctype
    sent = gen.values(doctype)
    sent.pop("name", None)
    updated = ok(c.put(url(doctype, doctype), json=sent))
    expect = Expect(gen, doctype)
    assert not expect.compare(doctype, sent, updated, "update response")
    got = ok(c.get(url(doctype, doctype)))
    problems = expect.compare(doctype, sent, got, "read")
    assert not problems, "\n".join(problems)
    # a second, partial update keeps the other values
    f = next(f for f in gen.data_fields(doctype) if f["fieldtype"] in ("Data", "Float", "Int", "Datetime"))
    new = {"Float": 2.5, "Int": 3, "Datetime": "2023-01-02 03:04:05"}.get(f["fieldtype"]) or _token()
    ok(c.put(url(doctype, doctype), json={f["fieldname"]: new}))
    got = ok(c.get(url(doctype, doctype)))
    problems = expect.compare(doctype, {**sent, f["fieldname"]: new}, got, "read after partial update")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("child", ORPHAN_CHILDREN)
def test_orphan_child_table_through_custom_parent(gen, child):
    """A child DocType whose parent is not in the fixture set gets a custom parent."""
    c = gen.c
    parent = f"RT Parent {secrets.token_hex(3)}"
    ok(c.post(url("DocType"), json={
        "name": parent, "module": "Custom", "custom": 1,
        "fields": [{"fieldname": "title", "fieldtype": "Data", "label": "Title", "reqd": 1},
                   {"fieldname": "rows", "fieldtype": "Table", "label": "Rows", "options": child}],
        "permissions": [{"role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1}],
    }))
    try:
        round_trip(gen, parent)
        # two rows keep their order and their own names
        sent = gen.values(parent)
        sent["rows"] = [gen.values(child), gen.values(child)]
        doc = ok(c.post(url(parent), json=sent))
        assert [r["idx"] for r in doc["rows"]] == [1, 2]
        assert len({r["name"] for r in doc["rows"]}) == 2
        got = ok(c.get(url(parent, doc["name"])))
        assert [r["name"] for r in got["rows"]] == [r["name"] for r in doc["rows"]]
        ok(c.delete(url(parent, doc["name"])), 202)
    finally:
        assert c.delete(url("DocType", parent)).status_code == 202
        gen.forget(parent)


def test_every_child_table_is_exercised():
    """Each fixture child DocType is used by a fixture parent or by the custom-parent test."""
    for child in CHILDREN:
        assert child in _USED_CHILDREN or child in ORPHAN_CHILDREN


# --- the legacy Web Page (same DocType name: imported on its own) --------------------------------

def test_legacy_web_page_imported_alone(imported, gen):
    legacy = ALL_FILES[LEGACY]
    assert legacy["name"] == "Web Page" and "field_order" not in legacy
    proc = imported.cli("import-doctypes", str(FIXTURES / LEGACY))
    assert "Imported 1 DocType(s): Web Page" in proc.stdout, proc.stdout
    gen.forget("Web Page")
    try:
        served = gen.definition("Web Page")
        check_definition(served, legacy)
        assert any(f["fieldtype"] == "Fold" for f in served["fields"])
        round_trip(gen, "Web Page")
    finally:
        imported.cli("import-doctypes", str(FIXTURES / "frappe/web_page.json"))
        gen.forget("Web Page")
    check_definition(gen.definition("Web Page"), MODERN["frappe/web_page.json"])
    round_trip(gen, "Web Page")
