"""The desk's admin pages in a real browser (headless Chromium) against a served site, both
databases: a user's API keys generated in the "API Access" section, the copied secret then
working with an HTTP client; a role's right changed in the Role Permissions Manager and enforced
by the API at once (its first change copies the DocType's own rows into Custom DocPerm); a custom
DocType created in the DocType editor (and a field added to it) then used through
/api/resource; a user without System Manager sees a permission message on these pages; the
same "API Access" section on the User form (FORM_EXTENSIONS); an OAuth Client made through the
generic form, then listed and accepted by the authorize endpoint. Every page is shot at desktop
(1280x800) and phone (390x844) widths, and nothing is wider than the phone."""

from __future__ import annotations

import re
import uuid
from urllib.parse import quote

import httpx
from playwright.sync_api import expect

from tests.conftest import ADMIN_PASSWORD

WHO = "/api/method/frappe.auth.get_logged_user"
PASSWORD = "desk-admin-user-pw-42"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def _login(context, server, user: str, password: str, path: str):
    page = context.new_page()
    # Script errors of the page (an expected 4xx answer is logged by the browser too: not one).
    page.script_errors = []
    page.on("pageerror", lambda error: page.script_errors.append(str(error)))
    page.on("console", lambda m: page.script_errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    page.goto(f"{server.base_url}/login?redirect-to={quote(path, safe='/')}")
    page.get_by_label("E-mail or user name").fill(user)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()
    return page


def _both_widths(page, shoot, name: str) -> None:
    # The last action's toast would cover the page in the picture.
    page.evaluate("document.getElementById('toast')?.remove()")  # (made again by the next toast)
    page.evaluate("window.scrollTo(0, 0)")  # the sticky top bar stays at the top of a full-page shot
    page.set_viewport_size(DESKTOP)
    shoot(page, f"{name}-desktop")
    page.set_viewport_size(PHONE)
    # Nothing wider than the phone: wide tables scroll inside their own box.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shoot(page, f"{name}-phone")
    page.set_viewport_size(DESKTOP)


def _user(admin: httpx.Client, roles: tuple[str, ...] = ()) -> str:
    user = f"desk-{uuid.uuid4().hex[:8]}@example.com"
    r = admin.post("/api/resource/User", json={"email": user, "first_name": "Dana", "last_name": "Desk",
                                               "new_password": PASSWORD,
                                               "roles": [{"role": role} for role in roles]})
    assert r.status_code == 200, r.text
    return user


def _token_client(server, admin: httpx.Client, user: str) -> httpx.Client:
    r = admin.post("/api/method/frappe.core.doctype.user.user.generate_keys", json={"user": user})
    assert r.status_code == 200, r.text
    keys = r.json()["message"]
    return server.client(headers={"Authorization": f"token {keys['api_key']}:{keys['api_secret']}"})


def test_generate_keys_and_use_the_copied_secret(server, admin, context_factory, shoot):
    user = _user(admin)
    context = context_factory(viewport=DESKTOP)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.base_url)
    page = _login(context, server, "Administrator", ADMIN_PASSWORD, f"/app/user-api-access?user={user}")
    section = page.locator("section.api-access")
    expect(section.get_by_role("heading", name="API Access")).to_be_visible()
    expect(section).to_contain_text("No keys yet.")
    page.get_by_role("button", name="Generate Keys").click()

    secret_box = page.get_by_label("API Secret")
    expect(secret_box).to_be_visible()
    expect(section).to_contain_text("it will not be shown again")
    secret = secret_box.input_value()
    api_key = section.locator("[data-field=api_key]").inner_text()
    assert len(secret) >= 15 and len(api_key) >= 15 and secret != api_key
    page.get_by_role("button", name="Copy").click()
    expect(page.locator("#toast")).to_have_text("API secret copied")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    _both_widths(page, shoot, f"user-api-access-{server.backend}")

    # The secret read from the page authenticates as that user.
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        r = http.get(WHO, headers={"Authorization": f"token {api_key}:{secret}"})
        assert r.status_code == 200, r.text
        assert r.json() == {"message": user}
        assert http.get(WHO, headers={"Authorization": f"token {api_key}:{secret}x"}).status_code == 401

    # Shown once: after a reload only the key is there, and "Regenerate Keys" replaces the secret.
    page.reload()
    expect(section.locator("[data-field=api_key]")).to_have_text(api_key)
    assert secret not in page.content()
    expect(page.get_by_label("API Secret")).to_have_count(0)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Regenerate Keys").click()
    expect(page.get_by_label("API Secret")).to_be_visible()
    new_secret = page.get_by_label("API Secret").input_value()
    assert new_secret != secret
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        assert http.get(WHO, headers={"Authorization": f"token {api_key}:{secret}"}).status_code == 401
        assert http.get(WHO, headers={"Authorization": f"token {api_key}:{new_secret}"}).json() == {"message": user}
    assert page.script_errors == []


def _custom_doctype(admin: httpx.Client, name: str) -> None:
    r = admin.post("/api/resource/DocType", json={
        "name": name, "module": "Custom", "custom": 1,
        "fields": [{"label": "Title", "fieldname": "title", "fieldtype": "Data"}],
        "permissions": [{"role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1}]})
    assert r.status_code == 200, r.text


def _custom_rows(admin: httpx.Client, doctype: str) -> list[dict]:
    r = admin.get("/api/resource/Custom DocPerm", params={
        "filters": f'[["parent","=","{doctype}"]]', "fields": '["*"]', "limit_page_length": 0})
    assert r.status_code == 200, r.text
    return r.json()["data"]


def test_permission_matrix_change_is_enforced(server, admin, context_factory, shoot):
    tag = uuid.uuid4().hex[:6]
    doctype, role = f"Probe Item {tag}", f"Probe Role {tag}"
    _custom_doctype(admin, doctype)
    assert admin.post("/api/resource/Role", json={"role_name": role}).status_code == 200
    user = _user(admin, roles=(role,))
    path = f"/api/resource/{doctype}"
    with _token_client(server, admin, user) as as_user:
        assert as_user.get(path).status_code == 403
        page = _login(context_factory(viewport=DESKTOP), server, "Administrator", ADMIN_PASSWORD,
                      f"/app/permission-manager?doctype={quote(doctype)}")
        expect(page.get_by_label("DocType")).to_have_value(doctype)
        expect(page.locator("main")).to_contain_text("uses the permissions of its definition")
        expect(page.get_by_label("System Manager Read (level 0)")).to_be_checked()
        assert _custom_rows(admin, doctype) == []

        # Add the role (reading only): the standard row is copied first, then the new one added.
        page.get_by_label("Role", exact=True).select_option(role)
        page.get_by_role("button", name="Add role").click()
        expect(page.get_by_label(f"{role} Read (level 0)")).to_be_checked()
        expect(page.get_by_label(f"{role} Create (level 0)")).not_to_be_checked()
        expect(page.locator("main")).to_contain_text("uses custom permissions")
        rows = {r["role"]: r for r in _custom_rows(admin, doctype)}
        assert set(rows) == {"System Manager", role}
        assert (rows["System Manager"]["read"], rows["System Manager"]["create"]) == (1, 1)
        assert (rows[role]["read"], rows[role]["write"], rows[role]["create"]) == (1, 0, 0)
        assert as_user.get(path).status_code == 200
        assert as_user.post(path, json={"title": "not yet"}).status_code == 403
        _both_widths(page, shoot, f"permissions-{server.backend}")

        # Tick Create: the user may create; untick Read: the user may not list any more.
        page.get_by_label(f"{role} Create (level 0)").check()
        expect(page.locator("#toast")).to_have_text(f"{role}: Create granted")
        r = as_user.post(path, json={"title": "made by the probe role"})
        assert r.status_code == 200, r.text
        page.get_by_label(f"{role} Read (level 0)").uncheck()
        expect(page.locator("#toast")).to_have_text(f"{role}: Read removed")
        assert as_user.get(path).status_code == 403
        assert admin.get(path).status_code == 200  # the copied System Manager row still applies

        # Removing the role's row takes its remaining rights away.
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name=f"Remove {role} (level 0)").click()
        expect(page.get_by_label(f"{role} Create (level 0)")).to_have_count(0)
        assert [r["role"] for r in _custom_rows(admin, doctype)] == ["System Manager"]
        assert as_user.post(path, json={"title": "no more"}).status_code == 403
        # The last rule stays (without one the DocType's own rows would apply again unnoticed).
        page.get_by_role("button", name="Remove System Manager (level 0)").click()
        expect(page.locator("#toast")).to_have_text("There must be at least one permission rule.")
        assert [r["role"] for r in _custom_rows(admin, doctype)] == ["System Manager"]

    # A built-in DocType with rows at several levels, shown from its definition.
    page.get_by_label("DocType").select_option("Note")
    expect(page.locator("main")).to_contain_text("Note uses the permissions of its definition")
    for level in (0, 1, 2):
        expect(page.get_by_role("heading", name=f"Level {level} ")).to_be_visible()
    expect(page.get_by_label("System Manager Write (level 2)")).to_be_checked()
    assert page.url.endswith("/app/permission-manager?doctype=Note")
    assert page.script_errors == []


def test_doctype_editor_creates_a_doctype_used_through_the_api(server, admin, context_factory, shoot):
    name = f"Book Loan {uuid.uuid4().hex[:6]}"
    page = _login(context_factory(viewport=DESKTOP), server, "Administrator", ADMIN_PASSWORD, "/app/doctype-editor")
    expect(page.get_by_role("heading", name="Custom DocTypes")).to_be_visible()
    page.get_by_role("link", name="New DocType").click()
    expect(page.get_by_role("heading", name="New DocType")).to_be_visible()
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Field 1 label").fill("Borrower Name")
    expect(page.get_by_label("Field 1 fieldname")).to_have_value("borrower_name")
    page.get_by_label("Field 1 mandatory").check()
    page.get_by_label("Field 1 in list view").check()
    page.get_by_role("button", name="Add field").click()
    page.get_by_label("Field 2 label").fill("Due Date")
    page.get_by_label("Field 2 type").select_option("Date")
    page.get_by_role("button", name="Add field").click()
    page.get_by_label("Field 3 label").fill("Status")
    page.get_by_label("Field 3 type").select_option("Select")
    page.get_by_label("Field 3 options").fill("Open, Returned")
    _both_widths(page, shoot, f"doctype-editor-new-{server.backend}")

    # A reserved fieldname: the server's message is shown and nothing is created.
    page.get_by_role("button", name="Add field").click()
    page.get_by_label("Field 4 label").fill("Name")
    page.get_by_role("button", name="Create DocType").click()
    expect(page.get_by_role("alert")).to_contain_text("Fieldname name is reserved")
    assert admin.get(f"/api/resource/DocType/{name}").status_code == 404
    page.get_by_role("button", name="Remove field 4").click()
    page.get_by_role("button", name="Create DocType").click()

    page.wait_for_url(f"**/app/doctype-editor/{quote(name)}")
    expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
    expect(page.locator("table.dt-existing")).to_contain_text("borrower_name")
    definition = admin.get(f"/api/resource/DocType/{name}").json()["data"]
    assert definition["custom"] == 1 and definition["module"] == "Custom"
    assert [(f["fieldname"], f["fieldtype"]) for f in definition["fields"]] == [
        ("borrower_name", "Data"), ("due_date", "Date"), ("status", "Select")]
    assert definition["fields"][0]["reqd"] == 1 and definition["fields"][0]["in_list_view"] == 1
    assert definition["fields"][2]["options"] == "Open\nReturned"
    path = f"/api/resource/{name}"
    assert admin.post(path, json={"due_date": "2026-01-02"}).status_code == 417  # borrower_name is mandatory
    r = admin.post(path, json={"borrower_name": "Ada", "due_date": "2026-01-02", "status": "Open"})
    assert r.status_code == 200, r.text
    listed = admin.get(path, params={"fields": '["borrower_name","status"]'}).json()["data"]
    assert listed == [{"borrower_name": "Ada", "status": "Open"}]

    # Add a field to it in the editor; the existing ones stay.
    page.get_by_label("Field 1 label").fill("Notes")
    page.get_by_label("Field 1 type").select_option("Small Text")
    page.get_by_role("button", name="Add field").click()
    page.get_by_label("Field 2 label").fill("Lender")
    page.get_by_label("Field 2 type").select_option("Link")
    page.get_by_role("button", name="Save fields").click()
    expect(page.get_by_role("alert")).to_contain_text('Field "Lender" (Link) needs a DocType in Options.')
    page.get_by_label("Field 2 options").fill("User")
    page.get_by_role("button", name="Save fields").click()
    expect(page.locator("#toast")).to_have_text(f"2 fields added to {name}")
    expect(page.locator("table.dt-existing")).to_contain_text("notes")
    definition = admin.get(f"/api/resource/DocType/{name}").json()["data"]
    fields = [(f["fieldname"], f.get("options")) for f in definition["fields"]]
    assert fields == [("borrower_name", None), ("due_date", None), ("status", "Open\nReturned"), ("notes", None),
                      ("lender", "User")]
    r = admin.post(path, json={"borrower_name": "Grace", "notes": "second copy", "lender": "Administrator"})
    assert r.status_code == 200 and r.json()["data"]["notes"] == "second copy", r.text
    assert admin.post(path, json={"borrower_name": "Ed", "lender": "nobody@example.com"}).status_code == 417
    _both_widths(page, shoot, f"doctype-editor-edit-{server.backend}")

    page.goto(f"{server.base_url}/app/doctype-editor")
    expect(page.get_by_role("link", name=name)).to_be_visible()
    _both_widths(page, shoot, f"doctype-editor-list-{server.backend}")
    assert page.script_errors == []


def test_admin_pages_tell_other_users_they_may_not(server, admin, context_factory, shoot):
    user = _user(admin)
    page = _login(context_factory(viewport=DESKTOP), server, user, PASSWORD, "/app/permission-manager")
    expect(page.get_by_role("alert")).to_contain_text("Only a System Manager may manage role permissions")
    _both_widths(page, shoot, f"permissions-denied-{server.backend}")
    page.goto(f"{server.base_url}/app/doctype-editor/new")
    expect(page.get_by_role("alert")).to_contain_text("Only a System Manager may create or change DocTypes")
    # The API agrees: the same user may not write Custom DocPerm rows.
    with _token_client(server, admin, user) as as_user:
        r = as_user.post("/api/resource/Custom DocPerm", json={"parent": "Note", "role": "Guest", "read": 1})
        assert r.status_code == 403

    # Another user's keys: the server's refusal is shown; their own keys they may make.
    page.goto(f"{server.base_url}/app/user-api-access?user=Administrator")
    # (Administrator's key is not theirs to read: the section offers new keys.)
    page.get_by_role("button", name="Generate Keys").click()
    expect(page.get_by_role("alert")).to_contain_text("Not permitted")
    expect(page.get_by_label("API Secret")).to_have_count(0)
    page.goto(f"{server.base_url}/app/user-api-access")
    expect(page.get_by_role("heading", level=1)).to_have_text(user)
    page.get_by_role("button", name="Generate Keys").click()
    key = page.locator("[data-field=api_key]").inner_text()
    secret = page.get_by_label("API Secret").input_value()
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        r = http.get(WHO, headers={"Authorization": f"token {key}:{secret}"})
        assert r.json() == {"message": user}, r.text
    assert page.script_errors == []


def test_api_access_on_the_user_form(server, admin, context_factory, shoot):
    user = _user(admin)
    page = _login(context_factory(viewport=DESKTOP), server, "Administrator", ADMIN_PASSWORD,
                  f"/app/user/{quote(user)}")
    section = page.locator(".form-extension section.api-access")
    expect(section.get_by_role("heading", name="API Access")).to_be_visible()
    # The admin pages' rules of the one stylesheet apply (a stray brace above them would drop them).
    assert section.locator(".api-keys").evaluate("e => getComputedStyle(e).display") == "grid"
    section.get_by_role("button", name="Generate Keys").click()
    secret = section.get_by_label("API Secret").input_value()
    key = section.locator("[data-field=api_key]").inner_text()
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        assert http.get(WHO, headers={"Authorization": f"token {key}:{secret}"}).json() == {"message": user}
    _both_widths(page, shoot, f"user-form-{server.backend}")
    assert page.script_errors == []


def test_roles_on_the_user_form(server, admin, context_factory):
    user = _user(admin)
    role = f"Desk Role {uuid.uuid4().hex[:6]}"
    assert admin.post("/api/resource/Role", json={"role_name": role}).status_code == 200
    page = _login(context_factory(viewport=DESKTOP), server, "Administrator", ADMIN_PASSWORD,
                  f"/app/user/{quote(user)}")
    section = page.locator(".form-extension section.user-roles")
    expect(section.get_by_role("heading", name="Roles")).to_be_visible()
    box = section.get_by_label(role, exact=True)
    expect(box).not_to_be_checked()
    box.check()
    section.get_by_role("button", name="Save roles").click()
    expect(page.locator("#toast")).to_have_text("Roles saved")
    held = {r["role"] for r in admin.get(f"/api/resource/User/{user}").json()["data"]["roles"]}
    assert role in held, held
    page.reload()
    box = page.locator(".form-extension section.user-roles").get_by_label(role, exact=True)
    expect(box).to_be_checked()
    box.uncheck()
    page.locator(".form-extension section.user-roles").get_by_role("button", name="Save roles").click()
    expect(page.locator("#toast")).to_have_text("Roles saved")
    held = {r["role"] for r in admin.get(f"/api/resource/User/{user}").json()["data"]["roles"]}
    assert role not in held, held
    assert page.script_errors == []


def test_oauth_client_list_and_form(server, admin, context_factory, shoot):
    redirect = "http://127.0.0.1:9/callback"  # never called: only the authorize answer is read
    app_name = f"Desk App {uuid.uuid4().hex[:6]}"
    page = _login(context_factory(viewport=DESKTOP), server, "Administrator", ADMIN_PASSWORD, "/app/oauth-client/new")
    page.wait_for_selector(".form-view")
    page.get_by_label("App Name").fill(app_name)
    page.get_by_label("Scopes").fill("all openid")
    page.get_by_label("Redirect URIs").fill(redirect)
    page.get_by_label("Default Redirect URI").fill(redirect)
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"/app/oauth-client/(?!new)[^/]+$"))
    name = page.url.rsplit("/", 1)[1]
    data = admin.get(f"/api/resource/OAuth Client/{name}").json()["data"]
    assert (data["app_name"], data["client_id"], data["default_redirect_uri"]) == (app_name, name, redirect)
    _both_widths(page, shoot, f"oauth-client-form-{server.backend}")

    # The client works: authorize sends a Guest to the login page (an unknown client is refused).
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        params = {"client_id": name, "response_type": "code", "redirect_uri": redirect, "scope": "all"}
        r = http.get("/api/method/frappe.integrations.oauth2.authorize", params=params)
        assert r.status_code in (302, 303) and r.headers["location"].startswith("/login?"), r.text

    page.goto(f"{server.base_url}/app/oauth-client")
    expect(page.get_by_role("link", name=app_name)).to_be_visible()
    _both_widths(page, shoot, f"oauth-client-list-{server.backend}")
    assert page.script_errors == []
