"""The desk's form view in a real browser (headless Chromium) against a served site: create and
edit a ToDo through /app/todo/new, a mandatory field's error shown beside it, a submittable
DocType with child rows filled in the grid, saved, submitted, cancelled and amended, delete, and
what a user without write permission (or without read) sees. Screenshots at desktop and phone
widths.

The form uses only the public HTTP API, whose storage tests cover both databases; the browser
runs against one SQLite site.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import ADMIN_PASSWORD, make_site, start_server, stop_server

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
READER, READER_PW = "reader@form.test", "reader-pw-123"
CLERK, CLERK_PW = "clerk@form.test", "clerk-pw-123"
_NONE = {"read": 0, "write": 0, "create": 0, "delete": 0, "submit": 0, "cancel": 0, "amend": 0}


@pytest.fixture(scope="module")
def server(request, tmp_path_factory):
    site_dir = make_site(tmp_path_factory.mktemp("desk-form"), "sqlite", request)
    srv = start_server(site_dir, "sqlite")
    with srv.admin() as admin:
        for role in ("Form Reader", "Form Clerk"):
            assert admin.post("/api/resource/Role", json={"role_name": role}).status_code == 200
        for body in (
            {"name": "Desk Order Item", "istable": 1, "fields": [
                {"fieldname": "code", "fieldtype": "Data", "label": "Code", "in_list_view": 1, "reqd": 1},
                {"fieldname": "qty", "fieldtype": "Int", "label": "Qty", "in_list_view": 1, "reqd": 1},
                {"fieldname": "note", "fieldtype": "Small Text", "label": "Note"}]},
            {"name": "Desk Order", "is_submittable": 1, "autoname": "format:DO-{####}", "track_changes": 1,
             "permissions": [{**_NONE, "role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1,
                              "submit": 1, "cancel": 1, "amend": 1},
                             {**_NONE, "role": "System Manager", "permlevel": 1, "read": 1, "write": 1},
                             {**_NONE, "role": "Form Reader", "read": 1},
                             {**_NONE, "role": "Form Clerk", "read": 1, "write": 1, "create": 1},
                             {**_NONE, "role": "Form Clerk", "permlevel": 1, "read": 1}],
             "fields": [
                 {"fieldname": "title", "fieldtype": "Data", "label": "Title", "reqd": 1},
                 {"fieldname": "customer_section", "fieldtype": "Section Break", "label": "Customer"},
                 {"fieldname": "customer", "fieldtype": "Link", "options": "User", "label": "Customer"},
                 {"fieldname": "col", "fieldtype": "Column Break"},
                 {"fieldname": "due", "fieldtype": "Date", "label": "Due"},
                 {"fieldname": "urgent", "fieldtype": "Check", "label": "Urgent"},
                 {"fieldname": "spec_sheet", "fieldtype": "Attach", "label": "Spec Sheet"},
                 {"fieldname": "internal_note", "fieldtype": "Small Text", "label": "Internal Note", "permlevel": 1},
                 {"fieldname": "items_tab", "fieldtype": "Tab Break", "label": "Items"},
                 {"fieldname": "items", "fieldtype": "Table", "options": "Desk Order Item", "label": "Items"}]},
            {"name": "Desk Memo", "is_submittable": 1, "autoname": "format:DM-{####}",
             "permissions": [{**_NONE, "role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1,
                              "submit": 1, "cancel": 1, "amend": 1}],
             "fields": [
                 {"fieldname": "title", "fieldtype": "Data", "label": "Title", "reqd": 1},
                 {"fieldname": "remarks", "fieldtype": "Small Text", "label": "Remarks", "allow_on_submit": 1}]},
        ):
            r = admin.post("/api/resource/DocType", json={"module": "Custom", "custom": 1, **body})
            assert r.status_code == 200, r.text
    srv.cli("add-user", READER, "--password", READER_PW, "--roles", "Form Reader")
    srv.cli("add-user", CLERK, "--password", CLERK_PW, "--roles", "Form Clerk")
    yield srv
    stop_server(srv.proc)


def _login(context, server, to: str, user: str = "Administrator", pwd: str = ADMIN_PASSWORD):
    page = context.new_page()
    page.csp_errors = []  # the desk's CSP allows no inline script or style: nothing may be refused
    page.on("console", lambda m: "Content Security Policy" in m.text and page.csp_errors.append(m.text))
    page.on("pageerror", lambda e: page.csp_errors.append(str(e)))
    page.goto(f"{server.base_url}/login?redirect-to={to}")
    page.get_by_label("E-mail or user name").fill(user)
    page.get_by_label("Password").fill(pwd)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()
    page.wait_for_selector(".form-view")
    return page


def _accept_dialogs(page):
    page.on("dialog", lambda dialog: dialog.accept())


def _snap(shoot, page, name: str):
    page.evaluate("window.scrollTo(0, 0)")  # the sticky top bar stays at the top of a full-page shot
    shoot(page, name)


def _fits(page, width: int):
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_create_a_todo_through_the_form(server, context_factory, shoot):
    page = _login(context_factory(viewport=DESKTOP), server, "/app/todo/new")
    assert page.get_by_role("heading", level=1).inner_text().startswith("New ToDo")
    assert page.locator(".status-badge").inner_text() == "Not saved"
    page.get_by_label("Description").fill("Write the form view")
    page.get_by_label("Priority").select_option("High")
    page.get_by_label("Date").fill("2026-12-24")
    # Link search as one types, picked with the keyboard.
    who = page.get_by_role("combobox", name="Allocated To")
    who.press_sequentially("Admin")
    page.get_by_role("option", name="Administrator").wait_for()
    who.press("ArrowDown")
    who.press("Enter")
    assert who.input_value() == "Administrator"
    _snap(shoot, page, "form-todo-new-desktop")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"/app/todo/[^/n][^/]*$"))
    name = page.url.rsplit("/", 1)[1]
    page.wait_for_selector(f"h1:has-text('{name}')")
    assert page.locator(".status-badge").inner_text() == "Saved"
    with server.admin() as admin:
        doc = admin.get(f"/api/resource/ToDo/{name}").json()["data"]
    assert (doc["description"], doc["priority"], doc["date"], doc["allocated_to"]) == \
        ("Write the form view", "High", "2026-12-24", "Administrator")
    assert page.get_by_label("Description").input_value() == "Write the form view"
    assert page.csp_errors == []
    _snap(shoot, page, "form-todo-saved-desktop")


def test_a_link_to_nothing_is_said_on_leaving_the_field(server, context_factory):
    page = _login(context_factory(viewport=DESKTOP), server, "/app/todo/new")
    who = page.get_by_role("combobox", name="Allocated To")
    who.fill("nobody-here@example.com")
    who.press("Tab")  # leaving the field checks it (frappe.client.validate_link)
    field = page.locator(".field", has=who)
    expect(field.locator(".field-error")).to_have_text("nobody-here@example.com is not a User that exists")
    assert who.get_attribute("aria-invalid") == "true"
    who.fill("Administrator")
    who.press("Tab")
    expect(field.locator(".field-error")).to_be_hidden()
    assert who.get_attribute("aria-invalid") == "false"
    assert page.csp_errors == []


def test_edit_save_comment_and_history(server, context_factory, shoot):
    with server.admin() as admin:
        name = admin.post("/api/resource/ToDo", json={"description": "to edit"}).json()["data"]["name"]
    page = _login(context_factory(viewport=PHONE, is_mobile=True, has_touch=True), server, f"/app/todo/{name}")
    save = page.get_by_role("button", name="Save")
    assert save.is_disabled()  # nothing changed yet
    page.get_by_label("Status").select_option("Closed")
    assert page.locator(".status-badge").inner_text() == "Not saved"
    page.get_by_label("Status").press("Control+s")  # saved from the keyboard
    page.get_by_role("status").filter(has_text=f"Saved {name}").wait_for()
    page.locator(".versions").get_by_text("Status: Open → Closed").wait_for()
    with server.admin() as admin:
        assert admin.get(f"/api/resource/ToDo/{name}").json()["data"]["status"] == "Closed"
    page.get_by_label("New comment").fill("Looks done to me")
    page.get_by_role("button", name="Comment", exact=True).click()
    page.locator(".comments").get_by_text("Looks done to me").wait_for()
    _fits(page, PHONE["width"])
    _snap(shoot, page, "form-todo-phone")


def test_a_stale_form_is_refused(server, context_factory):
    with server.admin() as admin:
        name = admin.post("/api/resource/ToDo", json={"description": "stale"}).json()["data"]["name"]
        page = _login(context_factory(viewport=DESKTOP), server, f"/app/todo/{name}")
        assert admin.put(f"/api/resource/ToDo/{name}", json={"priority": "Low"}).status_code == 200
    page.get_by_label("Description").fill("overwrite")
    page.get_by_role("button", name="Save").click()
    assert "changed since you opened it" in page.locator(".notice.error").inner_text()
    with server.admin() as admin:
        assert admin.get(f"/api/resource/ToDo/{name}").json()["data"]["description"] == "stale"


def test_mandatory_missing_shown_beside_the_field(server, context_factory, shoot):
    page = _login(context_factory(viewport=DESKTOP), server, "/app/todo/new")
    page.get_by_label("Priority").select_option("Low")
    page.get_by_role("button", name="Save").click()
    alert = page.locator(".form-notices .notice.error")
    alert.wait_for()
    assert alert.inner_text() == "Value missing for ToDo: Description"
    description = page.get_by_label("Description")
    assert description.get_attribute("aria-invalid") == "true"
    beside = page.locator(".field[data-fieldname=description] .field-error")
    assert beside.inner_text() == "Value missing" and beside.is_visible()
    assert page.evaluate("document.activeElement.name") == "description"  # the cursor is where the fix goes
    assert page.url.endswith("/app/todo/new")
    _snap(shoot, page, "form-todo-mandatory-desktop")


def test_submit_cancel_amend_with_child_rows(server, context_factory, shoot):
    page = _login(context_factory(viewport=DESKTOP), server, "/app/desk-order/new")
    _accept_dialogs(page)
    page.get_by_label("Title").fill("Coffee beans")
    page.get_by_label("Urgent").check()
    page.get_by_label("Spec Sheet").set_input_files(
        files=[{"name": "spec.txt", "mimeType": "text/plain", "buffer": b"grind fine"}])
    page.locator(".attach-status", has_text="Uploaded").wait_for()
    page.get_by_role("tab", name="Items").click()
    add = page.get_by_role("button", name="Add row to Items")
    add.click()
    page.get_by_label("Code, row 1").fill("ARABICA")
    page.get_by_label("Qty, row 1").fill("3")
    add.click()
    page.get_by_label("Qty, row 2").fill("5")
    # Row 2 has no Code: the server's message lands beside that cell.
    page.get_by_role("button", name="Save").click()
    page.locator(".form-notices .notice.error").wait_for()
    assert "Items Row #2: Value missing for: Code" in page.locator(".form-notices").inner_text()
    code2 = page.get_by_label("Code, row 2")
    assert code2.get_attribute("aria-invalid") == "true"
    assert page.locator("tr[data-idx='2'] td[data-fieldname=code] .field-error").inner_text() == "Value missing for: Code"
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Code, row 2"
    _snap(shoot, page, "form-grid-error-desktop")
    code2.fill("ROBUSTA")
    page.get_by_role("button", name="All fields of row 2").click()
    page.get_by_label("Note", exact=True).fill("fresh roast")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"/app/desk-order/DO-\d{4}$"))
    name = page.url.rsplit("/", 1)[1]
    page.wait_for_selector(f"h1:has-text('{name}')")
    assert page.locator(".status-badge").inner_text() == "Draft"
    with server.admin() as admin:
        doc = admin.get(f"/api/resource/Desk Order/{name}").json()["data"]
    assert [(r["code"], r["qty"]) for r in doc["items"]] == [("ARABICA", 3), ("ROBUSTA", 5)]
    assert doc["items"][1]["note"] == "fresh roast" and doc["urgent"] == 1
    assert doc["spec_sheet"].startswith("/files/spec") and doc["spec_sheet"].endswith(".txt")
    with server.client() as anon:
        assert anon.get(doc["spec_sheet"]).content == b"grind fine"

    page.get_by_role("button", name="Submit").click()
    page.locator(".status-badge", has_text="Submitted").wait_for()
    assert page.get_by_role("button", name="Save").count() == 0  # nothing may change on submit
    page.get_by_role("tab", name="Items").click()
    assert page.get_by_label("Code, row 1").count() == 0  # cells read-only now
    _snap(shoot, page, "form-submitted-desktop")
    page.get_by_role("button", name="Cancel").click()
    page.locator(".status-badge", has_text="Cancelled").wait_for()
    page.get_by_role("button", name="Amend").click()
    page.wait_for_url(re.compile(rf"/app/desk-order/{name}-1$"))
    page.wait_for_selector(f"h1:has-text('{name}-1')")
    assert page.locator(".status-badge").inner_text() == "Draft"
    assert page.get_by_label("Title").input_value() == "Coffee beans"
    page.get_by_role("tab", name="Items").click()
    assert page.get_by_label("Code, row 2").input_value() == "ROBUSTA"
    with server.admin() as admin:
        assert admin.get(f"/api/resource/Desk Order/{name}").json()["data"]["docstatus"] == 2
        amended = admin.get(f"/api/resource/Desk Order/{name}-1").json()["data"]
    assert amended["amended_from"] == name and amended["docstatus"] == 0 and len(amended["items"]) == 2
    assert page.csp_errors == []
    _snap(shoot, page, "form-amended-desktop")


def test_grid_at_phone_width(server, context_factory, shoot):
    with server.admin() as admin:
        name = admin.post("/api/resource/Desk Order", json={"title": "Phone order", "items": [
            {"code": "A", "qty": 1}, {"code": "B", "qty": 2}]}).json()["data"]["name"]
    page = _login(context_factory(viewport=PHONE, is_mobile=True, has_touch=True), server, f"/app/desk-order/{name}")
    page.get_by_role("tab", name="Items").click()
    page.get_by_role("button", name="Delete row 1").click()
    page.get_by_role("button", name="Save").click()
    page.get_by_role("status").filter(has_text=f"Saved {name}").wait_for()
    with server.admin() as admin:
        assert [r["code"] for r in admin.get(f"/api/resource/Desk Order/{name}").json()["data"]["items"]] == ["B"]
    _fits(page, PHONE["width"])
    _snap(shoot, page, "form-grid-phone")


def test_a_single_doctype_is_its_own_form(server, context_factory):
    page = _login(context_factory(viewport=DESKTOP), server, "/app/oauth-settings")
    assert page.get_by_role("heading", level=1).inner_text().startswith("OAuth Settings")
    assert page.get_by_role("button", name="Delete").count() == 0
    page.get_by_label("Enable Password Grant").check()
    page.get_by_role("button", name="Save").click()
    page.get_by_role("status").filter(has_text="Saved").wait_for()
    with server.admin() as admin:
        assert admin.get("/api/resource/OAuth Settings/OAuth Settings").json()["data"]["enable_password_grant"] == 1


def test_delete_a_document(server, context_factory):
    with server.admin() as admin:
        name = admin.post("/api/resource/ToDo", json={"description": "to delete"}).json()["data"]["name"]
    page = _login(context_factory(viewport=DESKTOP), server, f"/app/todo/{name}")
    _accept_dialogs(page)
    page.get_by_role("button", name="Delete").click()
    page.wait_for_url(re.compile(r"/app/todo$"))
    with server.admin() as admin:
        assert admin.get(f"/api/resource/ToDo/{name}").status_code == 404


def test_a_reader_sees_read_only_and_a_denial_message(server, context_factory, shoot):
    with server.admin() as admin:
        name = admin.post("/api/resource/Desk Order", json={"title": "Read me", "internal_note": "not for readers", "items": [{"code": "X", "qty": 7}]}).json()["data"]["name"]
        todo = admin.post("/api/resource/ToDo", json={"description": "admin's own"}).json()["data"]["name"]
    page = _login(context_factory(viewport=PHONE, is_mobile=True, has_touch=True), server,
                  f"/app/desk-order/{name}", READER, READER_PW)
    assert "You may read this document but not change it." in page.locator(".form-notices").inner_text()
    for label in ("Save", "Submit", "Delete"):
        assert page.get_by_role("button", name=label).count() == 0
    assert page.locator(".form-body :is(input, textarea, select):not([disabled])").count() == 0
    assert "Read me" in page.locator(".field[data-fieldname=title]").inner_text()
    assert page.locator(".field[data-fieldname=internal_note]").count() == 0  # a level they may not read
    page.get_by_role("tab", name="Items").click()
    assert page.locator(".grid td[data-fieldname=qty]").inner_text() == "7"
    _fits(page, PHONE["width"])
    _snap(shoot, page, "form-read-only-phone")
    # Another user's ToDo: refused by the server, shown as a message.
    page.goto(f"{server.base_url}/app/todo/{todo}")
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "You do not have permission to open ToDo" in alert.inner_text()
    _snap(shoot, page, "form-denied-phone")


def test_a_field_above_the_users_write_level_is_read_only(server, context_factory, shoot):
    with server.admin() as admin:
        name = admin.post("/api/resource/Desk Order", json={"title": "Clerk's order", "internal_note": "margin 40%",
                                                             "items": [{"code": "C", "qty": 1}]}).json()["data"]["name"]
    page = _login(context_factory(viewport=DESKTOP), server, f"/app/desk-order/{name}", CLERK, CLERK_PW)
    assert page.get_by_role("button", name="Save").is_disabled()  # just opened: nothing to save
    # Leaving with unsaved changes asks first; saying no keeps the form and its changes.
    page.get_by_label("Title").fill("half typed")
    asked = []
    page.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name="Home").click()
    assert asked == ["Leave this form? Your changes are not saved."]
    assert page.url.endswith(f"/app/desk-order/{name}") and page.get_by_label("Title").input_value() == "half typed"
    note = page.locator(".field[data-fieldname=internal_note]")
    assert "margin 40%" in note.inner_text() and note.locator("textarea").count() == 0
    assert page.get_by_role("button", name="Submit").count() == 0  # the clerk may not submit
    page.get_by_label("Title").fill("Clerk's order, revised")
    page.get_by_role("button", name="Save").click()
    page.get_by_role("status").filter(has_text=f"Saved {name}").wait_for()
    with server.admin() as admin:
        doc = admin.get(f"/api/resource/Desk Order/{name}").json()["data"]
    assert (doc["title"], doc["internal_note"]) == ("Clerk's order, revised", "margin 40%")
    assert page.locator(".status-badge").inner_text() == "Draft"  # nothing left unsaved after the redraw
    _snap(shoot, page, "form-permlevel-desktop")


def _desk_calls(page) -> list[tuple[str, str]]:
    """(verb, path) of every API request the page makes from now on."""
    calls: list[tuple[str, str]] = []
    page.on("request", lambda r: "/api/" in r.url and calls.append((r.method, r.url.split("/api/", 1)[1].split("?")[0])))
    return calls


def test_the_timeline_comes_from_docinfo(server, context_factory, shoot):
    """A user who may read the document but not the Comment, Version and File DocTypes sees its
    comments, history and attachments: the form draws them from getdoc's docinfo."""
    with server.admin() as admin:
        name = admin.post("/api/resource/Desk Order", json={"title": "Timeline order"}).json()["data"]["name"]
        assert admin.post(f"/api/resource/Desk Order/{name}",
                          json={"run_method": "add_comment", "text": "Ship on Monday"}).status_code == 200
        assert admin.put(f"/api/resource/Desk Order/{name}", json={"title": "Timeline order 2"}).status_code == 200
        r = admin.post("/api/method/upload_file", files={"file": ("terms.txt", b"terms", "text/plain")},
                       data={"doctype": "Desk Order", "docname": name, "is_private": "0"})
        assert r.status_code == 200, r.text
    with server.client() as reader:  # the reader's own rights on the timeline's DocTypes: none
        reader.post("/api/method/login", json={"usr": READER, "pwd": READER_PW})
        for doctype in ("Comment", "Version"):
            assert reader.get(f"/api/resource/{doctype}").status_code == 403
    page = context_factory(viewport=DESKTOP).new_page()
    calls = _desk_calls(page)
    page.goto(f"{server.base_url}/login?redirect-to=/app/desk-order/{name}")
    page.get_by_label("E-mail or user name").fill(READER)
    page.get_by_label("Password").fill(READER_PW)
    page.get_by_role("button", name="Log in").click()
    page.locator(".comments").get_by_text("Ship on Monday").wait_for()
    page.locator(".versions").get_by_text("Title: Timeline order → Timeline order 2").wait_for()
    assert page.locator(".attachments a", has_text="terms").count() == 1
    assert "You may not read" not in page.locator(".form-below").inner_text()
    assert ("GET", "method/frappe.desk.form.load.getdoc") in calls
    assert not [c for c in calls if c[1].startswith("resource/")]  # nothing read around getdoc
    _snap(shoot, page, "form-timeline-reader-desktop")


def test_save_submit_update_cancel_go_through_savedocs(server, context_factory):
    page = _login(context_factory(viewport=DESKTOP), server, "/app/desk-memo/new")
    _accept_dialogs(page)
    calls = _desk_calls(page)
    page.get_by_label("Title").fill("Through savedocs")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"/app/desk-memo/DM-\d{4}$"))
    name = page.url.rsplit("/", 1)[1]
    page.wait_for_selector(f"h1:has-text('{name}')")
    page.get_by_label("Title").fill("Through savedocs, submitted")  # saved with the submission
    page.get_by_role("button", name="Submit").click()
    page.locator(".status-badge", has_text="Submitted").wait_for()
    # A submitted document: only its allow-on-submit field may change (savedocs' "Update").
    assert page.locator(".field[data-fieldname=title] :is(input, textarea, select):not([disabled])").count() == 0
    page.get_by_label("Remarks").fill("delivered late")
    page.get_by_role("button", name="Save").click()
    page.get_by_role("status").filter(has_text=f"Saved {name}").wait_for()
    page.locator(".status-badge", has_text="Submitted").wait_for()
    with server.admin() as admin:
        doc = admin.get(f"/api/resource/Desk Memo/{name}").json()["data"]
    assert (doc["title"], doc["remarks"], doc["docstatus"]) == ("Through savedocs, submitted", "delivered late", 1)
    page.get_by_role("button", name="Cancel").click()
    page.locator(".status-badge", has_text="Cancelled").wait_for()
    with server.admin() as admin:
        assert admin.get(f"/api/resource/Desk Memo/{name}").json()["data"]["docstatus"] == 2
    writes = [c for c in calls if c[0] != "GET"]
    assert writes and all(c == ("POST", "method/frappe.desk.form.save.savedocs") for c in writes), writes
    assert len(writes) == 4  # save (new), submit, update, cancel
    assert not [c for c in calls if c[1].startswith("resource/")]
