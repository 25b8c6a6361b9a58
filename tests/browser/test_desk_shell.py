"""The desk's frame and home page in a real browser (headless Chromium) against a served site.

Opening ``/app`` as a Guest goes through the login page and back; the home page lists the
DocTypes by module with their document counts (filled in from the API); the page runs under
its Content-Security-Policy without a single console error; "Log out" ends the session.
Screenshots at desktop and phone widths.
"""

from __future__ import annotations

import pytest

from tests.conftest import ADMIN_PASSWORD

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def _login(page, server, target: str = "/app") -> None:
    page.goto(f"{server.base_url}{target}")
    assert page.url.startswith(f"{server.base_url}/login?redirect-to=")
    page.get_by_label("E-mail or user name").fill("Administrator")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()
    assert page.url == f"{server.base_url}{target}"


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_home_lists_doctypes_with_counts(server, admin, context_factory, shoot, viewport):
    for i in range(3):
        assert admin.post("/api/resource/ToDo", json={"description": f"home {i}"}).status_code == 200
    expected = admin.get("/api/method/frappe.client.get_count", params={"doctype": "ToDo"}).json()["message"]
    page = context_factory(viewport=viewport).new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    _login(page, server)
    page.get_by_role("heading", name="Home").wait_for()
    todo = page.get_by_role("link", name="ToDo", exact=False).filter(has_text="ToDo").first
    todo.wait_for()
    page.wait_for_function("() => [...document.querySelectorAll('.doctypes a')].some("
                           "a => a.textContent.startsWith('ToDo') && /\\d/.test(a.querySelector('.count').textContent))")
    assert todo.locator(".count").inner_text() == str(expected)
    for module in ("Desk", "Core", "Integrations"):
        assert page.get_by_role("heading", name=module).is_visible()
    assert page.get_by_role("navigation", name="Main").get_by_role("link", name="Home").is_visible()
    shoot(page, f"desk-home-{'phone' if viewport is PHONE else 'desktop'}-{server.backend}")
    assert errors == []


def test_log_out_from_the_frame(server, context_factory):
    page = context_factory(viewport=DESKTOP).new_page()
    _login(page, server)
    page.get_by_role("heading", name="Home").wait_for()
    with page.expect_navigation():
        page.get_by_role("button", name="Log out").click()
    assert "/login" in page.url
    page.goto(f"{server.base_url}/app")
    assert page.url.startswith(f"{server.base_url}/login?redirect-to=")
