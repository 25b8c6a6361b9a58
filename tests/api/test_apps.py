"""Apps over HTTP: the example Library app's DocTypes, hooks, whitelisted functions and
document methods, on both databases; and what happens when a listed app is missing."""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
from pathlib import Path

import httpx
import pytest

from tests.conftest import configure_site, BACKENDS, ROOT, make_site, run_cli, start_server, stop_server

EXAMPLES = ROOT / "examples" / "library_app"
A11_KEYS = {"exc_type", "exception", "exc", "_server_messages"}


def add_apps(site_dir: Path, apps: list[str], app_paths: list[str]) -> None:
    configure_site(site_dir, apps=apps, app_paths=app_paths)


def token_client(server, user: str) -> httpx.Client:
    keys = json.loads(server.cli("generate-keys", user).stdout)
    return server.client(headers={"Authorization": f"token {keys['api_key']}:{keys['api_secret']}"})


# A second, test-only app: a DocType of its own and a document method allowed on GET that
# writes (to show GETs roll back). It imports a whitelisted function of library_app, which
# must not be registered a second time under this app.
PROBE_APP = {
    "probe_app/__init__.py": (
        "from ristretto.apps import whitelisted_method\n"
        "from ristretto.model import document\n"
        "from library_app.api import available_books  # noqa: F401\n"
        "\n"
        "class ProbeItem:\n"
        "    @whitelisted_method(methods=('GET', 'POST'))\n"
        "    def retitle(self, ctx, doc, title: str):\n"
        "        return document.update(ctx, 'Probe Item', doc.name, {'title': title})\n"
        "\n"
        "controllers = {'Probe Item': ProbeItem}\n"),
    "probe_app/doctypes/probe_item.json": json.dumps({
        "doctype": "DocType", "name": "Probe Item", "module": "Probe", "autoname": "hash",
        "fields": [{"fieldname": "title", "fieldtype": "Data", "label": "Title"}],
        "permissions": [{"role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1}]}),
}


def write_probe_app(folder: Path) -> Path:
    for rel, text in PROBE_APP.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    return folder


@pytest.fixture(scope="module", params=BACKENDS)
def library(request, tmp_path_factory):
    """A server on a site listing the example app (its folder given relative to the site)
    and the probe app."""
    backend = request.param
    tmp = tmp_path_factory.mktemp(f"apps-{backend}")
    site_dir = make_site(tmp, backend, request)
    probe = write_probe_app(tmp / "probe-apps")
    add_apps(site_dir, ["library_app", "probe_app"], [os.path.relpath(EXAMPLES, site_dir), str(probe)])
    run_cli("--site", str(site_dir), "migrate")
    srv = start_server(site_dir, backend)
    try:
        srv.cli("add-user", "librarian@example.com", "--roles", "Librarian")
        srv.cli("add-user", "member@example.com", "--roles", "Library Member")
        yield srv
    finally:
        stop_server(srv.proc)


@pytest.fixture(scope="module")
def admin(library):
    with library.admin() as c:
        yield c


@pytest.fixture(scope="module")
def librarian(library):
    with token_client(library, "librarian@example.com") as c:
        yield c


@pytest.fixture(scope="module")
def member(library):
    with token_client(library, "member@example.com") as c:
        yield c


_isbn_counter = iter(range(1, 10**6))


def new_isbn() -> str:
    """A fresh 13-digit ISBN, written with hyphens as people do."""
    digits = f"978{next(_isbn_counter):010d}"
    return f"{digits[:3]}-{digits[3:5]}-{digits[5:9]}-{digits[9:]}"


def make_book(client, **values) -> dict:
    r = client.post("/api/resource/Library Book", json={"isbn": new_isbn(), "title": "A Book", **values})
    assert r.status_code == 200, r.text
    return r.json()["data"]


def make_loan(client, book: str, member: str = "reader-1", **values) -> dict:
    r = client.post("/api/resource/Library Loan", json={"book": book, "member": member, **values})
    assert r.status_code == 200, r.text
    return r.json()["data"]


def run_method(client, doctype: str, name: str, method: str, verb: str = "POST", **args) -> httpx.Response:
    path = f"/api/resource/{doctype}/{name}"
    if verb == "GET":
        return client.get(path, params={"run_method": method, **args})
    return client.post(path, json={"run_method": method, **args})


def get(client, doctype: str, name: str) -> dict:
    r = client.get(f"/api/resource/{doctype}/{name}")
    assert r.status_code == 200, r.text
    return r.json()["data"]


def todos_of(client, book: str) -> list[dict]:
    r = client.get("/api/resource/ToDo", params={
        "fields": '["name","status","description"]',
        "filters": json.dumps([["reference_type", "=", "Library Book"], ["reference_name", "=", book]])})
    assert r.status_code == 200, r.text
    return r.json()["data"]


def assert_not_permitted(r: httpx.Response) -> None:
    """A11: 403 and, for a System User, exactly Frappe's four keys."""
    assert r.status_code == 403, r.text
    body = r.json()
    assert set(body) == A11_KEYS, body
    assert body["exc_type"] == "PermissionError"
    assert body["exception"] == "frappe.exceptions.PermissionError: Not permitted"
    assert isinstance(body["exc"], str)


# --- installation -----------------------------------------------------------------------------

def test_app_doctypes_are_installed(admin):
    book = get(admin, "DocType", "Library Book")
    assert book["autoname"] == "field:isbn"
    assert [f["fieldname"] for f in book["fields"]][:4] == ["isbn", "title", "author", "status"]
    loan = get(admin, "DocType", "Library Loan")
    assert loan["is_submittable"] == 1
    assert get(admin, "DocType", "Library Book Tag")["istable"] == 1
    assert get(admin, "Module Def", "Library")["app_name"] == "library_app"
    # The DocPerm rows brought their roles into existence.
    assert get(admin, "Role", "Librarian")["name"] == "Librarian"


def test_migrate_again_is_harmless(library, admin):
    book = make_book(admin, title="Before Remigrate")
    out = library.cli("migrate")
    assert out.returncode == 0
    assert get(admin, "Library Book", book["name"])["title"] == "Before Remigrate"


# --- lifecycle hooks --------------------------------------------------------------------------

def test_book_hooks_on_insert(admin):
    isbn = new_isbn()
    r = admin.post("/api/resource/Library Book", json={
        "isbn": f" {isbn} ", "title": "  Structure and   Interpretation ", "author": "Abelson",
        "tags": [{"tag": "Lisp"}, {"tag": " lisp "}, {"tag": "Classics"}, {"tag": "LISP"}]})
    assert r.status_code == 200, r.text
    book = r.json()["data"]
    digits = isbn.replace("-", "")
    assert book["name"] == book["isbn"] == digits                         # before_insert (before naming)
    assert book["title"] == "Structure and Interpretation"                 # validate
    assert [t["tag"] for t in book["tags"]] == ["lisp", "classics"]        # validate (child rows)
    assert [t["idx"] for t in book["tags"]] == [1, 2]
    assert book["tag_list"] == "lisp, classics"                            # before_save
    assert book["status"] == "Available"
    todos = todos_of(admin, digits)                                        # after_insert
    assert [(t["description"], t["status"]) for t in todos] == [("Shelve Structure and Interpretation", "Open")]
    # Another spelling of the same ISBN is the same book.
    again = admin.post("/api/resource/Library Book", json={"isbn": isbn.replace("-", " "), "title": "Dup"})
    assert again.status_code == 409, again.text


def test_book_validate_refuses_and_writes_nothing(admin):
    r = admin.post("/api/resource/Library Book", json={"isbn": "12-34", "title": "Short ISBN"})
    assert r.status_code == 417, r.text
    assert r.json()["exc_type"] == "ValidationError"
    assert "10 or 13 digits" in r.text
    assert admin.get("/api/resource/Library Book/1234").status_code == 404


def test_before_save_on_update(admin):
    book = make_book(admin, tags=[{"tag": "A"}])
    r = admin.put(f"/api/resource/Library Book/{book['name']}", json={"tags": [{"tag": "B"}, {"tag": "c"}]})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["tag_list"] == "b, c"


def test_loan_lifecycle_submit_and_cancel(admin):
    book = make_book(admin, title="Loaned")
    loan = make_loan(admin, book["name"], loan_date="2024-03-01")
    assert loan["due_date"] == "2024-03-15"                                # before_insert
    assert loan["book_title"] == "Loaned"                                  # fetch_from
    assert loan["docstatus"] == 0 and "issued_by" not in loan

    r = run_method(admin, "Library Loan", loan["name"], "submit")         # built-in document method
    assert r.status_code == 200, r.text
    submitted = r.json()["data"]
    assert submitted["docstatus"] == 1
    assert submitted["issued_by"] == "Administrator"                      # before_submit
    assert get(admin, "Library Book", book["name"])["status"] == "Issued"  # on_submit

    # validate: an issued book cannot be lent again.
    r = admin.post("/api/resource/Library Loan", json={"book": book["name"], "member": "someone"})
    assert r.status_code == 417 and "is Issued" in r.text
    # Nor deleted while on loan (the submitted loan links to it).
    assert admin.delete(f"/api/resource/Library Book/{book['name']}").status_code == 417

    r = run_method(admin, "Library Loan", loan["name"], "cancel")
    assert r.status_code == 200, r.text
    cancelled = r.json()["data"]
    assert cancelled["docstatus"] == 2
    assert cancelled["returned_on"] == _dt.date.today().isoformat()       # before_cancel
    assert get(admin, "Library Book", book["name"])["status"] == "Available"  # on_cancel


def test_submit_through_update_fires_the_same_hooks(admin):
    book = make_book(admin)
    loan = make_loan(admin, book["name"], member="via-put")
    r = admin.put(f"/api/resource/Library Loan/{loan['name']}", json={"docstatus": 1})
    assert r.status_code == 200, r.text
    assert get(admin, "Library Book", book["name"])["status"] == "Issued"


def test_delete_runs_on_trash_and_after_delete(admin):
    book = make_book(admin, title="To Be Weeded")
    assert len(todos_of(admin, book["name"])) == 1
    # on_trash: a book recorded as issued is not deleted (here set by hand, without a loan).
    admin.put(f"/api/resource/Library Book/{book['name']}", json={"status": "Issued"})
    r = admin.delete(f"/api/resource/Library Book/{book['name']}")
    assert r.status_code == 417 and "on loan and cannot be deleted" in r.text
    assert len(todos_of(admin, book["name"])) == 1
    admin.put(f"/api/resource/Library Book/{book['name']}", json={"status": "Available"})
    r = admin.delete(f"/api/resource/Library Book/{book['name']}")
    assert r.status_code == 202, r.text
    assert todos_of(admin, book["name"]) == []                            # after_delete


def test_hook_raising_after_writes_rolls_everything_back(admin):
    member = "greedy-reader"
    books = [make_book(admin, title=f"Limit {i}") for i in range(3)]
    loans = [make_loan(admin, b["name"], member=member) for b in books]
    for loan in loans[:2]:
        assert run_method(admin, "Library Loan", loan["name"], "submit").status_code == 200
    # on_submit of the third loan writes the book's status, then finds the limit exceeded.
    r = run_method(admin, "Library Loan", loans[2]["name"], "submit")
    assert r.status_code == 417, r.text
    assert "already has 2 books on loan" in r.text
    assert get(admin, "Library Loan", loans[2]["name"])["docstatus"] == 0
    assert get(admin, "Library Book", books[2]["name"])["status"] == "Available"
    r = admin.get("/api/resource/Library Loan", params={
        "filters": json.dumps([["member", "=", member], ["docstatus", "=", 1]])})
    assert len(r.json()["data"]) == 2


# --- whitelisted functions --------------------------------------------------------------------

def test_whitelisted_function_and_verbs(library, admin, member):
    book = make_book(admin, title="Zzz Shelf Book", author="Shelf Author")
    r = admin.get("/api/method/library_app.api.available_books", params={"author": "Shelf Author"})
    assert r.status_code == 200, r.text
    assert r.json() == {"message": [{"name": book["name"], "title": "Zzz Shelf Book", "author": "Shelf Author"}]}
    # Also through /api/v1/ and the legacy cmd entry.
    assert admin.get("/api/v1/method/library_app.api.available_books",
                     params={"author": "Shelf Author"}).json() == r.json()
    assert admin.get("/", params={"cmd": "library_app.api.available_books",
                                  "author": "Shelf Author"}).json() == r.json()
    # A member may read books, so the list works for them too.
    assert member.get("/api/method/library_app.api.available_books",
                      params={"author": "Shelf Author"}).json() == r.json()
    # GET only.
    assert admin.post("/api/method/library_app.api.available_books").status_code == 403
    # Not for Guest.
    with library.client() as guest:
        r = guest.get("/api/method/library_app.api.available_books")
        assert r.status_code == 403
        assert r.json()["exc_type"] == "PermissionError"


def test_guest_function(library, admin):
    make_book(admin)
    with library.client() as guest:
        r = guest.get("/api/method/library_app.api.catalogue_summary")
        assert r.status_code == 200, r.text
        summary = r.json()["message"]
        assert summary["books"] >= 1 and 0 <= summary["available"] <= summary["books"]
        assert guest.post("/api/method/library_app.api.catalogue_summary").status_code == 403


def test_post_function_binds_and_checks_arguments(admin, member):
    book = make_book(admin)
    assert admin.get("/api/method/library_app.api.issue_book",
                     params={"book": book["name"], "member": "m"}).status_code == 403
    r = admin.post("/api/method/library_app.api.issue_book",
                   json={"book": book["name"], "member": "post-reader", "days": "7", "unknown": 1})
    assert r.status_code == 200, r.text
    loan = r.json()["message"]
    assert loan["docstatus"] == 1
    assert loan["due_date"] == (_dt.date.today() + _dt.timedelta(days=7)).isoformat()
    assert get(admin, "Library Book", book["name"])["status"] == "Issued"
    bad = admin.post("/api/method/library_app.api.issue_book",
                     json={"book": book["name"], "member": "x", "days": "soon"})
    assert bad.status_code == 417 and bad.json()["exc_type"] == "FrappeTypeError"
    missing = admin.post("/api/method/library_app.api.issue_book", json={"book": book["name"]})
    assert 400 <= missing.status_code < 500
    # The member may read but not create loans: the model refuses, nothing is written.
    other = make_book(admin)
    r = member.post("/api/method/library_app.api.issue_book", json={"book": other["name"], "member": "me"})
    assert r.status_code == 403
    assert get(admin, "Library Book", other["name"])["status"] == "Available"


@pytest.mark.parametrize("name", ["library_app.api.renumber_shelves", "library_app.controllers.as_system",
                                  "library_app.api.whitelist", "library_app.api.document.delete"])
def test_undecorated_app_functions_are_not_reachable(admin, name):
    r = admin.post(f"/api/method/{name}")
    assert r.status_code == 417, r.text  # a resolution failure, as for any unregistered name
    assert r.json()["exc_type"] == "ValidationError"


# --- document methods -------------------------------------------------------------------------

def test_document_method_on_post(admin):
    book = make_book(admin, title="Soon Lost")
    r = run_method(admin, "Library Book", book["name"], "mark_lost", remarks="Left on a train", ignored=1)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert list(r.json()) == ["data"]
    assert data["status"] == "Lost" and data["remarks"] == "Left on a train"
    assert data["name"] == book["name"] and data["doctype"] == "Library Book"
    # on_update of the book cancelled the shelving ToDo.
    assert [t["status"] for t in todos_of(admin, book["name"])] == ["Cancelled"]
    # The method's own validation is a 417.
    again = run_method(admin, "Library Book", book["name"], "mark_lost")
    assert again.status_code == 417 and "already marked lost" in again.text
    # Form-encoded bodies work too.
    other = make_book(admin)
    r = admin.post(f"/api/resource/Library Book/{other['name']}", data={"run_method": "mark_lost"})
    assert r.status_code == 200 and r.json()["data"]["status"] == "Lost"


def test_document_method_on_get(admin):
    book = make_book(admin)
    for member in ("anne", "bob"):
        make_loan(admin, book["name"], member=member)
    r = run_method(admin, "Library Book", book["name"], "loan_history", verb="GET", limit="1", junk="x")
    assert r.status_code == 200, r.text
    rows = r.json()["data"]
    assert len(rows) == 1 and rows[0]["member"] == "anne" and rows[0]["docstatus"] == 0
    r = run_method(admin, "Library Book", book["name"], "loan_history", verb="GET")
    assert [row["member"] for row in r.json()["data"]] == ["anne", "bob"]
    bad = run_method(admin, "Library Book", book["name"], "loan_history", verb="GET", limit="many")
    assert bad.status_code == 417


@pytest.mark.parametrize("method,verb", [
    ("no_such_method", "POST"), ("no_such_method", "GET"),
    ("validate", "POST"), ("on_trash", "POST"), ("shelve", "POST"),   # hooks and helpers
    ("__init__", "POST"), ("__class__", "GET"), ("_private", "POST"),
    ("mark_lost", "GET"), ("loan_history", "POST"),                   # wrong verb
    ("submit", "GET"), ("cancel", "GET"),                             # built-ins are POST only
])
def test_not_whitelisted_is_403_with_exact_keys(admin, method, verb):
    book = make_book(admin)
    r = run_method(admin, "Library Book", book["name"], method, verb=verb)
    assert_not_permitted(r)
    assert get(admin, "Library Book", book["name"])["status"] == "Available"


def test_run_method_missing_or_unknown_document(admin):
    book = make_book(admin)
    r = admin.post(f"/api/resource/Library Book/{book['name']}", json={})
    assert r.status_code == 417 and "run_method" in r.text
    r = run_method(admin, "Library Book", "9999999999999", "mark_lost")
    assert r.status_code == 404
    r = run_method(admin, "No Such DocType", "x", "submit")
    assert 400 <= r.status_code < 500


def test_builtin_methods_on_any_doctype(admin):
    r = admin.post("/api/resource/ToDo", json={"description": "not submittable"})
    name = r.json()["data"]["name"]
    r = run_method(admin, "ToDo", name, "submit")
    assert r.status_code == 417, r.text      # ToDo is not submittable: the model says so
    assert_not_permitted(run_method(admin, "ToDo", name, "mark_lost"))


def test_read_versus_write_permission(library, admin, librarian, member):
    book = make_book(admin)
    # Read permission: a member may call GET methods...
    r = run_method(member, "Library Book", book["name"], "loan_history", verb="GET")
    assert r.status_code == 200, r.text
    assert r.json() == {"data": []}
    # ...but not POST ones, which need write permission.
    r = run_method(member, "Library Book", book["name"], "mark_lost")
    assert r.status_code == 403
    assert get(admin, "Library Book", book["name"])["status"] == "Available"
    # A librarian has write permission.
    r = run_method(librarian, "Library Book", book["name"], "mark_lost")
    assert r.status_code == 200, r.text
    # Guest has no read permission at all.
    with library.client() as guest:
        assert run_method(guest, "Library Book", book["name"], "loan_history", verb="GET").status_code == 403


def test_app_permission_rule_limits_members_to_their_loans(admin, librarian, member):
    """library_app's permission_rules: a Library Member sees only loans whose member is them,
    in lists, counts, reads and what the app's own code lists for them; Librarians see all."""
    book = make_book(admin)
    own = make_loan(admin, book["name"], member="member@example.com")["name"]
    other = make_loan(admin, book["name"], member="someone-else")["name"]

    def names(client) -> set[str]:
        r = client.get("/api/resource/Library Loan", params={"fields": '["name", "member"]',
                                                             "limit_page_length": 0})
        assert r.status_code == 200, r.text
        return {row["name"] for row in r.json()["data"]}

    def count(client) -> int:
        return client.get("/api/method/frappe.client.get_count", params={"doctype": "Library Loan"}).json()["message"]

    mine = names(member)
    assert own in mine and other not in mine and count(member) == len(mine)
    assert {own, other} <= names(librarian) and count(librarian) == len(names(librarian)) > len(mine)
    assert member.get(f"/api/resource/Library Loan/{own}").status_code == 200
    assert member.get(f"/api/resource/Library Loan/{other}").status_code == 403
    assert librarian.get(f"/api/resource/Library Loan/{other}").status_code == 200
    history = run_method(member, "Library Book", book["name"], "loan_history", verb="GET").json()["data"]
    assert [row["name"] for row in history] == [own]


def test_librarian_runs_the_loan_workflow(admin, librarian):
    book = make_book(librarian, title="Librarian's Book")
    loan = make_loan(librarian, book["name"], member="patron")
    r = run_method(librarian, "Library Loan", loan["name"], "submit")
    assert r.status_code == 200, r.text
    assert r.json()["data"]["issued_by"] == "librarian@example.com"
    assert get(admin, "Library Book", book["name"])["status"] == "Issued"


def test_get_document_method_never_writes(admin):
    """A GET runs in a transaction that is rolled back, whatever the method does."""
    r = admin.post("/api/resource/Probe Item", json={"title": "original"})
    name = r.json()["data"]["name"]
    r = run_method(admin, "Probe Item", name, "retitle", verb="GET", title="changed")
    assert r.status_code == 200, r.text
    assert r.json()["data"]["title"] == "changed"         # the method ran and saw its write
    assert get(admin, "Probe Item", name)["title"] == "original"
    r = admin.post(f"/api/resource/Probe Item/{name}", json={"run_method": "retitle", "title": "kept"})
    assert r.status_code == 200
    assert get(admin, "Probe Item", name)["title"] == "kept"


# --- legacy run_doc_method / runserverobj -----------------------------------------------------

def test_legacy_run_doc_method_on_stored_document(admin):
    book = make_book(admin)
    make_loan(admin, book["name"], member="legacy")
    r = admin.get("/api/method/run_doc_method", params={
        "dt": "Library Book", "dn": book["name"], "method": "loan_history", "args": json.dumps({"limit": 5})})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [row["member"] for row in body["message"]] == ["legacy"]
    assert body["docs"][0]["name"] == book["name"] and body["docs"][0]["doctype"] == "Library Book"
    # POST methods via POST; the result is the document, and docs shows it after the call.
    r = admin.post("/api/method/runserverobj", json={
        "dt": "Library Book", "dn": book["name"], "method": "mark_lost", "args": {"remarks": "gone"}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["message"]["status"] == "Lost" and body["docs"][0]["status"] == "Lost"
    # The verb rule of the document method applies.
    r = admin.get("/api/method/run_doc_method", params={"dt": "Library Book", "dn": book["name"],
                                                         "method": "mark_lost"})
    assert_not_permitted(r)
    r = admin.post("/", data={"cmd": "runserverobj", "dt": "Library Book", "dn": book["name"],
                              "method": "validate"})
    assert_not_permitted(r)


def test_legacy_run_doc_method_with_docs(admin):
    book = make_book(admin)
    docs = {"doctype": "Library Loan", "book": book["name"], "member": "in-memory"}
    r = admin.post("/api/method/run_doc_method", json={"docs": json.dumps(docs), "method": "submit"})
    assert r.status_code == 200, r.text
    body = r.json()
    loan = body["message"]
    assert loan["docstatus"] == 1 and loan["name"].startswith("LOAN-")
    assert body["docs"][0]["name"] == loan["name"]
    assert get(admin, "Library Book", book["name"])["status"] == "Issued"
    # A stale copy of a stored document is refused by the timestamp check.
    stale = {**get(admin, "Library Loan", loan["name"]), "modified": "2000-01-01 00:00:00.000000"}
    r = admin.post("/api/method/run_doc_method", json={"docs": stale, "method": "cancel"})
    assert r.status_code == 417 and r.json()["exc_type"] == "TimestampMismatchError"
    r = admin.post("/api/method/run_doc_method", json={"docs": "{not json", "method": "submit"})
    assert 400 <= r.status_code < 500
    r = admin.post("/api/method/run_doc_method", json={"method": "submit"})
    assert 400 <= r.status_code < 500


# --- the method registry ----------------------------------------------------------------------

def test_registry_holds_only_decorated_app_functions(library):
    from ristretto.api.app import App
    from ristretto.site import Site
    site = Site(library.site_dir)
    try:
        names = {n for n in App(site).methods.methods if n.startswith("library_app.")}
    finally:
        site.close()
    assert names == {"library_app.api.available_books", "library_app.api.catalogue_summary",
                     "library_app.api.issue_book"}


# --- configuration errors ---------------------------------------------------------------------

@pytest.fixture
def plain_site(tmp_path, request):
    return make_site(tmp_path, "sqlite", request)


@pytest.mark.parametrize("apps,paths,expected", [
    (["no_such_app"], [], "App 'no_such_app' is listed in site_config.json but cannot be imported"),
    (["library_app"], ["no/such/folder"], "App path 'no/such/folder'"),
    (["os; rm"], [], "not a valid Python module name"),
])
def test_missing_app_is_a_one_line_error(plain_site, apps, paths, expected):
    add_apps(plain_site, apps, paths)
    for command in (["migrate"], ["serve", "--port", "1"]):
        proc = run_cli("--site", str(plain_site), *command, check=False)
        assert proc.returncode != 0
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and expected in lines[0], proc.stderr
        assert "Traceback" not in proc.stdout + proc.stderr


@pytest.mark.parametrize("rules,expected", [
    ("{'ToDo': Half}", "permission rule for ToDo needs conditions() and allows()"),
    ("{'ToDo': Half()}", "permission_rules must map DocType names to classes"),
])
def test_bad_permission_rule_is_a_one_line_error(plain_site, tmp_path, rules, expected):
    from ristretto.site import Site, SiteError
    package = tmp_path / "apps" / f"rule_app_{len(rules)}"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        f"class Half:\n    def conditions(self, ctx, meta):\n        return []\n\npermission_rules = {rules}\n")
    add_apps(plain_site, [package.name], [str(package.parent)])
    with pytest.raises(SiteError, match=re.escape(expected)):
        Site(plain_site)


def test_new_site_with_apps_installs_their_doctypes(tmp_path):
    from ristretto.site.install import new_site
    site, _ = new_site(tmp_path / "with-apps", None, "pw-123456", apps=["library_app"], app_paths=[str(EXAMPLES)])
    try:
        with site.admin() as ctx:
            assert ctx.get_meta("Library Loan").is_submittable
            assert ctx.get_meta("Library Book Tag").istable
    finally:
        site.close()
