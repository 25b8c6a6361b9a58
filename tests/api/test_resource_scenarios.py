"""``/api/resource`` create, update and delete as a scenario table (``tests/scenario.py``).

Validation errors, optimistic concurrency (``modified``) and the rules of submitted and
cancelled documents, on DocTypes created over HTTP: each row is one request with its status,
the body fragments it must carry and the document hooks that ran, in order. Rows that are
refused also check that nothing was saved. In process, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest

from tests.api.test_doctype_api import CHILD, PARENT, create_order_doctypes, make_doctype
from tests.conftest import BACKENDS
from tests.http import url
from tests.scenario import Env, Scenario, open_env, scenarios

ENTRY = "RT Entry"
COUNT = "/api/method/frappe.client.get_count"


@pytest.fixture(scope="module", params=BACKENDS)
def env(request, tmp_path_factory):
    e = open_env(tmp_path_factory.mktemp(f"resource-{request.param}"), request.param, request,
                 watch=[PARENT, ENTRY])
    admin = e.client("Administrator")
    create_order_doctypes(admin)
    make_doctype(admin, ENTRY, [
        {"fieldname": "title", "fieldtype": "Data"},
        {"fieldname": "remark", "fieldtype": "Data", "allow_on_submit": 1},
        {"fieldname": "lines", "fieldtype": "Table", "options": CHILD},
    ], is_submittable=1)
    yield e
    e.close()


# --- before and after steps ------------------------------------------------------------------

def doc_url(doctype: str) -> str:
    return url(doctype) + "/$name"


def insert(doctype: str, body: dict, *updates: dict):
    """Before: a document made from ``body``, then changed by each of ``updates`` in turn. Keeps
    ``name``, ``created`` (its ``modified`` when inserted), ``modified`` and ``doc`` (as read)."""
    def step(env: Env) -> dict[str, Any]:
        doc = env.admin("POST", url(doctype), json=body)
        created = doc["modified"]
        for change in updates:
            env.admin("PUT", url(doctype, doc["name"]), json=change)
        doc = env.admin("GET", url(doctype, doc["name"]))
        return {"name": doc["name"], "created": created, "modified": doc["modified"], "doc": doc}
    return step


def counted(doctype: str):
    """Before: keep how many documents ``doctype`` has."""
    return lambda env: {"count": env.admin("GET", COUNT, params={"doctype": doctype})}


def none_added(doctype: str):
    """After: ``doctype`` has as many documents as before (the refused insert left nothing)."""
    def step(env: Env, r) -> None:
        assert env.admin("GET", COUNT, params={"doctype": doctype}) == env.vars["count"]
    return step


def unchanged(doctype: str):
    """After: the document reads as it did before the request."""
    def step(env: Env, r) -> None:
        assert env.admin("GET", url(doctype, env.vars["name"])) == env.vars["doc"]
    return step


def gone(doctype: str):
    """After: the document no longer exists."""
    def step(env: Env, r) -> None:
        got = env.client("Administrator").get(url(doctype, env.vars["name"]))
        assert (got.status_code, got.json().get("exc_type")) == (404, "DoesNotExistError"), got.text
    return step


def says(*words: str):
    """After: the error message shown to the user names each of ``words``."""
    def step(env: Env, r) -> None:
        messages = r.json()["_server_messages"]
        assert all(w in messages for w in words), messages
    return step


def newer_than_before(env: Env, r) -> None:
    assert r.json()["data"]["modified"] > env.vars["modified"]


def refused(exc_type: str) -> dict:
    return {"exc_type": exc_type}


# --- the table -----------------------------------------------------------------------------------

Admin = partial(Scenario, user="Administrator")
VALID = {"title": "valid"}
# Hooks of a write refused by the checks after ``validate`` (mandatory, length, link, unique...).
INSERT_CHECKED = ("transform_input", "before_insert", "autoname", "validate")
INSERT = INSERT_CHECKED + ("before_save", "after_insert", "on_update")
UPDATE_CHECKED = ("transform_input", "validate")
UPDATE = UPDATE_CHECKED + ("before_save", "on_update")
# Hooks of an update refused before the document is validated (timestamp, docstatus rules).
UPDATE_REFUSED = ("transform_input",)
SUBMITTED = {"title": "t", "docstatus": 1, "lines": [{"item": "a"}]}


def refused_insert(name: str, body: dict, exc_type: str, *words: str) -> Scenario:
    return Admin(name=name, method="POST", url=url(PARENT), json=body, status=417,
                 expect=refused(exc_type), hooks=INSERT_CHECKED,
                 before=counted(PARENT), after=(none_added(PARENT), says(*words)))


def refused_update(name: str, change: dict, exc_type: str, *words: str) -> Scenario:
    return Admin(name=name, method="PUT", url=doc_url(PARENT), json=change, status=417,
                 expect=refused(exc_type), hooks=UPDATE_CHECKED,
                 before=insert(PARENT, VALID), after=(unchanged(PARENT), says(*words)))


def taken(code: str):
    """Before: a document holding the unique ``code``."""
    def step(env: Env) -> None:
        env.admin("POST", url(PARENT), json={**VALID, "code": code})
    return step


VALIDATION = [
    refused_insert("insert without a mandatory field", {"code": "M-1"}, "MandatoryError"),
    refused_insert("insert with a blank mandatory field", {"title": "   "}, "MandatoryError"),
    refused_insert("insert with a child row missing a mandatory field", {**VALID, "lines": [{"qty": 1}]},
                   "MandatoryError"),
    refused_insert("insert with a value not among the options", {**VALID, "status": "Pending"},
                   "ValidationError", "Pending"),
    refused_insert("insert with a value over the field length", {**VALID, "code": "12345678901"},
                   "CharacterLengthExceededError", "10"),
    refused_insert("insert with a value over the default Data length", {"title": "x" * 141},
                   "CharacterLengthExceededError"),
    refused_insert("insert with a child value over the length", {**VALID, "lines": [{"item": "i" * 141}]},
                   "CharacterLengthExceededError"),
    refused_insert("insert with a link to nothing", {**VALID, "user": "nobody@example.com"},
                   "LinkValidationError", "nobody@example.com"),
    Admin(name="insert with a unique value taken", method="POST", url=url(PARENT),
          json={**VALID, "code": "U-1"}, status=417, expect=refused("UniqueValidationError"),
          hooks=INSERT_CHECKED, before=(taken("U-1"), counted(PARENT)),
          after=none_added(PARENT)),
    refused_update("update with a value not among the options", {"status": "Nope"}, "ValidationError"),
    refused_update("update blanking a mandatory field", {"title": ""}, "MandatoryError"),
    refused_update("update with a link to nothing", {"user": "ghost"}, "LinkValidationError"),
    Admin(name="update with a unique value taken", method="PUT", url=doc_url(PARENT), json={"code": "U-2"},
          status=417, expect=refused("UniqueValidationError"), hooks=UPDATE_CHECKED,
          before=(insert(PARENT, {**VALID, "code": "U-3"}), taken("U-2")), after=unchanged(PARENT)),
    refused_update("update with a value over the field length", {"code": "x" * 11},
                   "CharacterLengthExceededError"),
]

CONCURRENCY = [
    Admin(name="update sending the current modified", method="PUT", url=doc_url(PARENT),
          json={"qty": 1, "modified": "$modified"}, expect={"data": {"qty": 1}},
          hooks=UPDATE, before=insert(PARENT, {"title": "concurrent"}), after=newer_than_before),
    Admin(name="update sending a stale modified", method="PUT", url=doc_url(PARENT),
          json={"qty": 2, "modified": "$created"}, status=417,
          expect=refused("TimestampMismatchError"), hooks=UPDATE_REFUSED,
          before=insert(PARENT, {"title": "concurrent"}, {"qty": 1}),
          after=(unchanged(PARENT), says("modified"))),
    Admin(name="update without modified never conflicts", method="PUT", url=doc_url(PARENT), json={"qty": 3},
          expect={"data": {"qty": 3, "title": "concurrent"}}, hooks=UPDATE,
          before=insert(PARENT, {"title": "concurrent"}, {"qty": 1})),
]

SUBMISSION = [
    Admin(name="insert submitted", method="POST", url=url(ENTRY), json=SUBMITTED,
          expect={"data": {"docstatus": 1, "lines": [{"item": "a", "docstatus": 1}]}},
          hooks=INSERT_CHECKED + ("before_submit", "after_insert", "on_update", "on_submit")),
    Admin(name="submitted: field edit refused", method="PUT", url=doc_url(ENTRY), json={"title": "changed"},
          status=417, expect=refused("UpdateAfterSubmitError"),
          hooks=UPDATE_REFUSED, before=insert(ENTRY, SUBMITTED), after=unchanged(ENTRY)),
    Admin(name="submitted: child rows edit refused", method="PUT", url=doc_url(ENTRY),
          json={"lines": [{"item": "b"}]}, status=417, expect=refused("UpdateAfterSubmitError"),
          hooks=UPDATE_REFUSED, before=insert(ENTRY, SUBMITTED), after=unchanged(ENTRY)),
    Admin(name="submitted: allow_on_submit field edited", method="PUT", url=doc_url(ENTRY),
          json={"remark": "allowed"}, expect={"data": {"remark": "allowed", "docstatus": 1}},
          hooks=UPDATE_CHECKED + ("before_update_after_submit", "on_update"),
          before=insert(ENTRY, SUBMITTED)),
    Admin(name="submitted: back to draft refused", method="PUT", url=doc_url(ENTRY), json={"docstatus": 0},
          status=417, expect=refused("DocstatusTransitionError"),
          hooks=UPDATE_REFUSED, before=insert(ENTRY, SUBMITTED), after=unchanged(ENTRY)),
    Admin(name="submitted: delete refused", method="DELETE", url=doc_url(ENTRY), status=417,
          expect=refused("ValidationError"), hooks=(),
          before=insert(ENTRY, SUBMITTED), after=unchanged(ENTRY)),
    Admin(name="submitted: cancelled", method="PUT", url=doc_url(ENTRY), json={"docstatus": 2},
          expect={"data": {"docstatus": 2}},
          hooks=UPDATE_CHECKED + ("before_cancel", "on_update", "on_cancel"),
          before=insert(ENTRY, SUBMITTED)),
    Admin(name="cancelled: edit refused", method="PUT", url=doc_url(ENTRY), json={"remark": "x"},
          status=417, expect=refused("ValidationError"), hooks=UPDATE_REFUSED,
          before=insert(ENTRY, SUBMITTED, {"docstatus": 2}), after=unchanged(ENTRY)),
    Admin(name="cancelled: deleted", method="DELETE", url=doc_url(ENTRY), status=202,
          expect={"data": "ok"}, hooks=("on_trash", "after_delete"),
          before=insert(ENTRY, SUBMITTED, {"docstatus": 2}), after=gone(ENTRY)),
    Admin(name="draft of a submittable DocType inserted", method="POST", url=url(ENTRY), json={"title": "draft"},
          expect={"data": {"docstatus": 0, "title": "draft"}}, hooks=INSERT),
    Admin(name="draft of a submittable DocType edited", method="PUT", url=doc_url(ENTRY), json={"title": "d2"},
          expect={"data": {"docstatus": 0, "title": "d2"}}, hooks=UPDATE,
          before=insert(ENTRY, {"title": "draft"})),
    Admin(name="draft of a submittable DocType deleted", method="DELETE", url=doc_url(ENTRY),
          status=202, hooks=("on_trash", "after_delete"),
          before=insert(ENTRY, {"title": "draft"}), after=gone(ENTRY)),
]


@scenarios(*VALIDATION, *CONCURRENCY, *SUBMISSION)
def test_resource_writes(scenario: Scenario, env: Env) -> None:
    scenario.run(env)
