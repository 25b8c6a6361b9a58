"""``/api/docs`` in a real browser (headless Chromium) against a served site, both databases: the
page loads its script and style from the site under its CSP (no violation, no request to any
other host), shows a Guest only what a Guest may call, and lets a logged-in person read an
operation and send it with their session (the CSRF token included)."""

from __future__ import annotations

from urllib.parse import urlsplit

from tests.conftest import ADMIN_PASSWORD


def _watch(page, server) -> list[str]:
    """Problems seen by the page: console errors (CSP violations are reported there), failed
    requests, requests to any host but the server."""
    problems: list[str] = []
    host = urlsplit(server.base_url).netloc
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
    page.on("request", lambda r: problems.append(f"other host: {r.url}")
            if urlsplit(r.url).netloc != host and not r.url.startswith("data:") else None)
    return problems


def test_a_guest_sees_only_guest_methods(server, page, shoot):
    problems = _watch(page, server)
    response = page.goto(f"{server.base_url}/api/docs")
    assert response.status == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector("section.tag")
    tags = page.locator("section.tag h2").all_inner_texts()
    assert "Methods" in tags and "ToDo" not in tags, tags
    paths = page.locator("details.op").evaluate_all("ops => ops.map(o => o.dataset.path)")
    assert "/api/method/ping" in paths and "/api/method/frappe.client.get_list" not in paths
    assert "for Guest" in page.locator("#who").inner_text()
    shoot(page, f"api-docs-guest-{server.backend}")
    assert problems == []


def test_a_person_reads_an_operation_and_sends_it_with_their_session(server, page, shoot):
    problems = _watch(page, server)
    page.goto(f"{server.base_url}/login?redirect-to=/api/docs")
    page.get_by_label("E-mail or user name").press_sequentially("Administrator")
    page.get_by_label("Password").press_sequentially(ADMIN_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()
    assert urlsplit(page.url).path == "/api/docs"
    page.wait_for_selector("section.tag[data-tag='ToDo']")
    page.get_by_placeholder("Filter paths").fill("document/ToDo")
    op = page.locator("details.op[data-path='/api/v2/document/ToDo'][data-verb='post']")
    assert op.is_visible()
    assert page.locator("details.op[data-path='/api/method/ping'][data-verb='get']").is_hidden()  # filtered out
    op.locator("summary").click()
    table = op.locator("table").first
    assert "description" in table.inner_text() and "one of" in table.inner_text()  # fields, enums
    op.get_by_label("JSON body").fill('{"description": "sent from the docs page", "priority": "High"}')
    op.get_by_role("button", name="Send POST").click()
    answer = op.locator("pre.answer")
    answer.filter(has_text="200").wait_for()
    assert '"description": "sent from the docs page"' in answer.inner_text()
    shoot(page, f"api-docs-try-{server.backend}")
    with server.admin() as admin:
        rows = admin.get("/api/resource/ToDo", params={"filters": '{"description": "sent from the docs page"}'})
        assert len(rows.json()["data"]) == 1, rows.text
    assert problems == []
