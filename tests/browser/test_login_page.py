"""The login page in a real browser (headless Chromium) against a served site, both databases:
a person types their name and password and clicks "Log in", lands on ``redirect-to``; a wrong
password shows the reason on the form. The form works with JavaScript turned off."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ADMIN_PASSWORD

WHO = "/api/method/frappe.auth.get_logged_user"


def _login_page(page, server, redirect_to: str = WHO):
    response = page.goto(f"{server.base_url}/login?redirect-to={redirect_to}")
    assert response.status == 200
    assert page.title() == "Log in · Ristretto"
    return response


def _focused_id(page) -> str:
    """The id of the element that has the focus once the browser has applied ``autofocus``.

    Chromium focuses an ``autofocus`` field at its next rendering step, which may come after the
    load event ``goto`` waits for; so wait (briefly) for some field to take the focus, then read
    which one did. A page without autofocus times out here and the test fails."""
    page.wait_for_function("document.activeElement && document.activeElement.id !== ''", timeout=5000)
    return page.evaluate("document.activeElement.id")


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_login_lands_on_redirect_to(server, context_factory, shoot, javascript):
    page = context_factory(java_script_enabled=javascript).new_page()
    _login_page(page, server)
    # The name field has the focus as the page opens: type at once.
    if javascript:
        assert _focused_id(page) == "usr"
        shoot(page, f"login-{server.backend}")
    page.get_by_label("E-mail or user name").press_sequentially("Administrator")
    page.get_by_label("Password").press_sequentially(ADMIN_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()
    assert page.url == f"{server.base_url}{WHO}"
    assert json.loads(page.locator("body").inner_text()) == {"message": "Administrator"}
    sid = next(c for c in page.context.cookies() if c["name"] == "sid")
    assert sid["httpOnly"] and sid["value"] not in ("", "Guest")
    # Already logged in: the login page goes straight on.
    page.goto(f"{server.base_url}/login?redirect-to=/api/method/ping")
    assert page.url == f"{server.base_url}/api/method/ping"


def test_wrong_password_shows_the_reason(server, page, shoot):
    _login_page(page, server, "/api/method/ping")
    page.get_by_label("E-mail or user name").press_sequentially("Administrator")
    page.get_by_label("Password").press_sequentially("not-the-password")
    with page.expect_navigation() as nav:
        page.keyboard.press("Enter")  # submitting from the keyboard
    assert nav.value.status == 401
    alert = page.get_by_role("alert")
    assert alert.inner_text() == "Invalid login credentials"
    assert page.get_by_label("E-mail or user name").input_value() == "Administrator"
    assert page.get_by_label("Password").get_attribute("aria-invalid") == "true"
    assert _focused_id(page) == "pwd"  # the name is kept: type the password again
    assert not [c for c in page.context.cookies() if c["name"] == "sid" and c["value"] != "Guest"]
    shoot(page, f"login-error-{server.backend}")
    # The same form then logs in, and goes where the first link said.
    page.get_by_label("Password").press_sequentially(ADMIN_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()
    assert page.url == f"{server.base_url}/api/method/ping"


def test_login_page_fits_a_phone(server, context_factory, shoot):
    page = context_factory(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True).new_page()
    _login_page(page, server)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, width  # nothing wider than the screen
    box = page.get_by_role("button", name="Log in").bounding_box()
    assert box["height"] >= 44 and box["width"] >= 300  # a full-width button, big enough for a thumb
    shoot(page, f"login-phone-{server.backend}")
