"""The site of the API v2 scenario tables (tests/api/test_v2_*.py), on tests/scenario.py.

The site has ``Gadget`` (a permlevel-1 field ``secret``, a child table ``parts`` of ``Gadget
Part``, a Link to itself), the submittable ``Gadget Order``, and a small app (``probe_v2``) whose
controller module holds Gadget's document methods and a module-level method; Gadget's controller
is a ``Recorder``, so rows can name the hooks it received. Users (``Env.users``' short names):
``admin`` (Administrator), ``user`` (Gadget User: read/write/create/delete at level 0),
``manager`` (Gadget Manager: also level 1, submit and cancel), ``reader`` (read only),
``outsider`` (no role on Gadget) and ``guest`` (no credentials). ``v2_error`` checks a v2 error
body.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from tests.scenario import Env, open_env

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
from tests.scenario import Recorder


class Gadget(Recorder):
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


class World(Env):
    """The site above, served in process; ``world["reader"]`` is the client of a user."""

    def gadget(self, title: str, **values: Any) -> dict:
        return self.admin("POST", "/api/resource/Gadget", json={"title": title, **values})


def build(tmp: Path, backend: str, request: Any, *, gadgets: int = 6) -> World:
    """The site above with ``g-1`` ... ``g-<gadgets>`` (qty i; odd ones Open; ``secret`` set,
    one part each); more documents are the caller's."""
    from ristretto.site.install import add_user
    world = open_env(tmp, backend, request, env_class=World, apps=["probe_v2"],
                     app_paths=[str(write_app(tmp / "apps"))])
    for role in ("Gadget User", "Gadget Manager", "Gadget Reader"):
        world.admin("POST", "/api/resource/Role", json={"role_name": role})
    for body in DOCTYPES:
        world.admin("POST", "/api/resource/DocType", json={"module": "Custom", "custom": 1, **body})
    for key, (email, roles) in USERS.items():
        add_user(world.site, email, None, roles)
        world.users[key] = email
    for i in range(1, gadgets + 1):
        world.gadget(f"g-{i}", qty=i, status="Open" if i % 2 else "Closed", secret=f"s{i}",
                     parts=[{"code": f"p{i}", "qty": i}])
    return world


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
