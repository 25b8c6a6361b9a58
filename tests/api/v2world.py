"""A site for the API v2 scenario tables (tests/api/test_v2_*.py), and the scenario runner.

The site has ``Gadget`` (a permlevel-1 field ``secret``, a child table ``parts`` of ``Gadget
Part``, a Link to itself), the submittable ``Gadget Order``, and a small app (``probe_v2``) whose
controller module holds Gadget's document methods and a module-level method. Users: ``admin``
(Administrator), ``user`` (Gadget User: read/write/create/delete at level 0), ``manager``
(Gadget Manager: also level 1, submit and cancel), ``reader`` (read only), ``outsider`` (no
role on Gadget) and ``guest`` (no credentials).

A scenario is one request and what must come back: ``Scenario(name, verb, url, body, user,
status, expect, hooks)`` (``hooks``: the lifecycle hooks Gadget's controller must have received,
in order); ``expect`` is a fragment of the JSON body (``contains``): a dict matches
when each of its keys matches (``ABSENT``: the key must be missing), a list when it has as
many items and each matches, anything else by equality; a callable checks the body itself.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from tests.conftest import configure_site, make_site
from tests.inprocess import InProcess, token_for

ABSENT = object()

GADGET_PERMS = [
    {"role": "Gadget User", "read": 1, "write": 1, "create": 1, "delete": 1},
    {"role": "Gadget Manager", "read": 1, "write": 1, "create": 1, "delete": 1, "submit": 1, "cancel": 1},
    {"role": "Gadget Manager", "permlevel": 1, "read": 1, "write": 1, "create": 0, "delete": 0},
    # DocPerm's write, create and delete default to 1: a read-only row says 0.
    {"role": "Gadget Reader", "read": 1, "write": 0, "create": 0, "delete": 0},
]
DOCTYPES = [
    {"name": "Gadget Part", "istable": 1, "fields": [
        {"fieldname": "code", "fieldtype": "Data", "label": "Code"},
        {"fieldname": "qty", "fieldtype": "Int", "label": "Qty"}]},
    {"name": "Gadget", "autoname": "field:title", "permissions": GADGET_PERMS,
     "search_fields": "status", "title_field": "title", "fields": [
         {"fieldname": "title", "fieldtype": "Data", "label": "Title"},
         {"fieldname": "status", "fieldtype": "Select", "label": "Status", "options": "Open\nClosed"},
         {"fieldname": "qty", "fieldtype": "Int", "label": "Qty"},
         {"fieldname": "secret", "fieldtype": "Data", "label": "Secret", "permlevel": 1},
         {"fieldname": "related", "fieldtype": "Link", "label": "Related", "options": "Gadget"},
         {"fieldname": "parts", "fieldtype": "Table", "label": "Parts", "options": "Gadget Part"}]},
    {"name": "Gadget Order", "autoname": "field:title", "is_submittable": 1, "permissions": GADGET_PERMS,
     "fields": [{"fieldname": "title", "fieldtype": "Data", "label": "Title"},
                {"fieldname": "note", "fieldtype": "Data", "label": "Note", "allow_on_submit": 1}]},
]
PROBE_APP = '''
from ristretto.apps import whitelist, whitelisted_method
from ristretto.model import document

# The lifecycle hooks Gadget's controller received, in order (requests run one at a time here).
EVENTS = []
HOOKS = ("before_insert", "validate", "before_save", "before_submit", "before_cancel", "after_insert",
         "on_update", "on_submit", "on_cancel", "on_update_after_submit", "on_trash", "after_delete")


def _recorder(hook):
    def record(self, ctx, doc):
        EVENTS.append(hook)
    return record


class Gadget:
    @whitelisted_method(methods=("GET", "POST"))
    def describe(self, ctx, doc, suffix: str = ""):
        return f"{doc.get('title')}:{doc.get('status')}{suffix}"

    @whitelisted_method(methods=("POST",))
    def close(self, ctx, doc):
        document.update(ctx, "Gadget", doc.name, {"status": "Closed"})

    @whitelisted_method(methods=("GET",))
    def touch(self, ctx, doc):
        # Writes on a GET: the request must roll it back.
        document.update(ctx, "Gadget", doc.name, {"qty": 999})
        return "touched"

    def hidden(self, ctx, doc):
        return "never"


for _hook in HOOKS:
    setattr(Gadget, _hook, _recorder(_hook))


@whitelist("probe_v2.controllers.stock_total", methods=("GET",))
def stock_total(call, status: str = "Open"):
    from ristretto.model import listing
    rows = listing.get_list(call.ctx, "Gadget", fields=["qty"], filters={"status": status}, limit=None)
    return sum(r["qty"] or 0 for r in rows)
'''
USERS = {"user": ("user@v2.test", ["Gadget User"]), "manager": ("manager@v2.test", ["Gadget Manager"]),
         "reader": ("reader@v2.test", ["Gadget Reader"]), "outsider": ("outsider@v2.test", [])}


def write_app(folder: Path) -> Path:
    pkg = folder / "probe_v2"
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text("from probe_v2.controllers import Gadget\n"
                                     "controllers = {'Gadget': Gadget}\n"
                                     "methods_modules = ['probe_v2.controllers']\n")
    (pkg / "controllers.py").write_text(PROBE_APP)
    return folder


@dataclass
class World:
    site: Any
    app: Any
    clients: dict[str, InProcess]

    def __getitem__(self, user: str) -> InProcess:
        return self.clients[user]

    def gadget(self, title: str, **values: Any) -> dict:
        r = self.clients["admin"].post("/api/resource/Gadget", json={"title": title, **values})
        assert r.status_code == 200, r.text
        return r.json()["data"]

    def close(self) -> None:
        self.site.close()


def build(tmp: Path, backend: str, request: Any, *, gadgets: int = 6) -> World:
    """The site above with ``g-1`` ... ``g-<gadgets>`` (qty i; odd ones Open; ``secret`` set,
    one part each); more documents are the caller's."""
    from ristretto.api.app import App
    from ristretto.site import Site
    from ristretto.site.install import add_user
    site_dir = make_site(tmp, backend, request)
    configure_site(site_dir, apps=["probe_v2"], app_paths=[str(write_app(tmp / "apps"))])
    site = Site(site_dir)
    app = App(site)
    admin = InProcess(app, headers=token_for(site, "Administrator"))
    for role in ("Gadget User", "Gadget Manager", "Gadget Reader"):
        assert admin.post("/api/resource/Role", json={"role_name": role}).status_code == 200
    for body in DOCTYPES:
        r = admin.post("/api/resource/DocType", json={"module": "Custom", "custom": 1, **body})
        assert r.status_code == 200, r.text
    clients = {"admin": admin, "guest": InProcess(app)}
    for key, (email, roles) in USERS.items():
        add_user(site, email, None, roles)
        clients[key] = InProcess(app, headers=token_for(site, email))
    world = World(site, app, clients)
    for i in range(1, gadgets + 1):
        world.gadget(f"g-{i}", qty=i, status="Open" if i % 2 else "Closed", secret=f"s{i}",
                     parts=[{"code": f"p{i}", "qty": i}])
    return world


@dataclass
class Scenario:
    name: str
    verb: str
    url: str
    body: Any = None
    user: str = "admin"
    status: int = 200
    expect: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    # The hooks Gadget's controller received, in order (None: not checked).
    hooks: list[str] | None = None

    def __str__(self) -> str:
        return self.name


def contains(actual: Any, fragment: Any, where: str = "body") -> None:
    if fragment is None:
        return
    if callable(fragment) and not isinstance(fragment, type):
        assert fragment(actual) is not False, f"{where}: check failed on {actual!r}"
        return
    if isinstance(fragment, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
        for key, value in fragment.items():
            if value is ABSENT:
                assert key not in actual, f"{where}.{key} must be absent: {actual!r}"
                continue
            assert key in actual, f"{where}.{key} missing: {actual!r}"
            contains(actual[key], value, f"{where}.{key}")
        return
    if isinstance(fragment, list):
        assert isinstance(actual, list) and len(actual) == len(fragment), f"{where}: {actual!r} vs {fragment!r}"
        for i, (a, f) in enumerate(zip(actual, fragment)):
            contains(a, f, f"{where}[{i}]")
        return
    assert actual == fragment, f"{where}: {actual!r} != {fragment!r}"


def run(world: World, s: Scenario) -> Any:
    """Send the scenario's request as its user; check status and body; the body."""
    client = world[s.user]
    kw: dict[str, Any] = {"headers": s.headers} if s.headers else {}
    if s.params:
        kw["params"] = {k: v if isinstance(v, str) else json.dumps(v) for k, v in s.params.items()}
    if s.body is not None:
        kw["json"] = s.body
    events = sys.modules["probe_v2.controllers"].EVENTS
    events.clear()
    r = client.request(s.verb, s.url, **kw)
    assert r.status_code == s.status, f"{s.name}: {r.status_code} {r.text[:500]}"
    if s.hooks is not None:
        assert events == s.hooks, f"{s.name}: hooks {events}"
    body = r.json() if r.content and r.headers.get("content-type", "").startswith("application/json") else r.text
    contains(body, s.expect)
    return body


def v2_error(kind: str, message: Callable[[str], bool] | str | None = None) -> Callable[[Any], bool]:
    """A v2 error body: one entry of ``errors`` of ``kind`` (its message containing ``message``),
    and nothing of the v1 error body."""
    def check(body: Any) -> bool:
        assert isinstance(body, dict) and "exc_type" not in body and "_server_messages" not in body, body
        errors = body.get("errors")
        assert isinstance(errors, list) and len(errors) == 1 and errors[0]["type"] == kind, body
        if message is not None:
            assert message in (errors[0].get("message") or ""), body
        return True
    return check
