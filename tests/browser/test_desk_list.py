"""The desk's list view (/app/<doctype>) in headless Chromium against a served site, both
databases: filters reflected in the URL (and kept on reload), sort by a column, paging with a
count, the "group by" sidebar, bulk delete, a permission denial shown as a message; and the
first page of a 2,000-row list timed from navigation to rows visible."""

from __future__ import annotations

import json
import os
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from bench.run import count_rows, load_rows
from tests.conftest import ADMIN_PASSWORD

PASSWORD = "list-view-pw-9"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def login(page, server, user: str, password: str, to: str) -> None:
    page.goto(f"{server.base_url}/login?redirect-to={to}")
    page.get_by_label("E-mail or user name").fill(user)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()


def query(page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def rows(page):
    return page.locator("table.list tbody tr")


def column(page, label: str) -> list[str]:
    """The cells of the column headed ``label`` on the page shown."""
    heads = page.locator("table.list thead th").all_inner_texts()
    index = next(i for i, text in enumerate(heads) if text.strip().rstrip("▲▼ ").strip() == label)
    return page.locator(f"table.list tbody tr td:nth-child({index + 1})").all_inner_texts()


@pytest.fixture
def todos(server, admin):
    """45 ToDos of this test (25 Open, 20 Closed; High on every third), deleted afterwards."""
    tag = f"lv{time.monotonic_ns()}"
    names = []
    for i in range(45):
        r = admin.post("/api/resource/ToDo", json={
            "description": f"{tag} item {i:02d}", "status": "Open" if i < 25 else "Closed",
            "priority": "High" if i % 3 == 0 else "Low"})
        assert r.status_code == 200, r.text
        names.append(r.json()["data"]["name"])
    yield tag, names
    for name in names:
        admin.delete(f"/api/resource/ToDo/{name}")


def test_filter_sort_page_group_and_bulk_delete(server, admin, context_factory, shoot, todos):
    tag, names = todos
    page = context_factory(viewport=DESKTOP).new_page()
    calls = []  # the list's reads, as Frappe's desk makes them: reportview.get and get_count
    page.on("request", lambda r: "/api/" in r.url and calls.append(urlsplit(r.url)))
    login(page, server, "Administrator", ADMIN_PASSWORD, "/app/todo")
    # Only this test's rows: a "like" filter typed into the filter bar.
    page.get_by_role("button", name="Add filter").click()
    page.get_by_label("Filter field").select_option(label="Description")
    page.get_by_label("Operator").select_option("like")
    page.get_by_label("Value").fill(f"%{tag}%")
    page.get_by_role("button", name="Apply filters").click()
    page.get_by_text("Showing 1–20 of 45").wait_for()
    assert json.loads(query(page)["description"][0]) == ["like", f"%{tag}%"]

    # status = Open: only Open rows, the URL says so as Frappe's desk does (?status=Open).
    page.get_by_role("button", name="Add filter").click()
    page.get_by_label("Filter field").nth(1).select_option(label="Status")
    page.get_by_label("Value").nth(1).fill("Open")
    page.get_by_label("Value").nth(1).press("Enter")
    page.get_by_text("Showing 1–20 of 25").wait_for()
    assert query(page)["status"] == ["Open"]
    assert set(column(page, "Status")) == {"Open"} and rows(page).count() == 20
    assert page.locator(".list-count").inner_text() == "25"

    # Reloading (or sharing) the URL shows the same view.
    page.reload()
    page.get_by_text("Showing 1–20 of 25").wait_for()
    assert set(column(page, "Status")) == {"Open"}
    assert page.get_by_label("Value").nth(1).input_value() == "Open"

    # Sort by a column: ascending, then descending.
    page.get_by_role("button", name="Description").click()
    page.wait_for_url("**order_by=description+asc**")
    expect(page.locator("th[aria-sort=ascending]")).to_have_text("Description ▲")
    expect(rows(page).first).to_contain_text(f"{tag} item 00")
    first = column(page, "Description")
    assert first == sorted(first) and first[0] == f"{tag} item 00"
    # The focus stays on the column's button: Enter sorts the other way.
    expect(page.get_by_role("button", name="Description")).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url("**order_by=description+desc**")
    expect(rows(page).first).to_contain_text(f"{tag} item 24")
    assert column(page, "Description")[0] == f"{tag} item 24"
    assert page.locator("th[aria-sort=descending]").inner_text().startswith("Description")

    # Next page: the last 5 of 25; the URL has the page, Previous goes back.
    page.get_by_role("button", name="Next").click()
    page.get_by_text("Showing 21–25 of 25").wait_for()
    assert query(page)["page"] == ["2"] and rows(page).count() == 5
    assert page.get_by_role("button", name="Next").is_disabled()
    assert column(page, "Description")[-1] == f"{tag} item 00"
    page.reload()
    page.get_by_text("Showing 21–25 of 25").wait_for()
    page.get_by_role("button", name="Previous").click()
    page.get_by_text("Showing 1–20 of 25").wait_for()
    assert "page" not in query(page)
    reads = [parse_qs(c.query) for c in calls if c.path == "/api/method/frappe.desk.reportview.get"]
    last = reads[-1]
    assert (json.loads(last["filters"][0]), last["order_by"], last["start"], last["page_length"]) == (
        [["description", "like", f"%{tag}%"], ["status", "=", "Open"]], ["description desc"], ["0"], ["20"])
    counted = [parse_qs(c.query) for c in calls if c.path == "/api/method/frappe.desk.reportview.get_count"]
    assert json.loads(counted[-1]["filters"][0]) == json.loads(last["filters"][0])
    assert not [c for c in calls if c.path.startswith("/api/resource/")]
    # No row matches: reportview.get answers [] and the list says so.
    page.goto(f"{server.base_url}/app/todo?description=no-such-{tag}")
    page.get_by_text("No rows match these filters.").wait_for()
    page.go_back()
    page.get_by_text("Showing 1–20 of 25").wait_for()

    # Group by: Priority counts under the current filters; a click filters by the value.
    sidebar = page.get_by_role("complementary", name="Group by")
    high = sidebar.locator("details[data-field=priority] .group-value", has_text="High")
    high.wait_for()
    assert high.locator(".count").inner_text() == "9"  # 0, 3, ..., 24
    shoot(page, f"desk-list-{server.backend}")
    high.click()
    page.get_by_text("Showing 1–9 of 9").wait_for()
    assert query(page)["priority"] == ["High"] and set(column(page, "Priority")) == {"High"}
    assert sidebar.locator("details[data-field=priority] .group-value.active").inner_text().startswith("High")
    # A closed group loads its counts when opened; the empty group filters by "is not set".
    sidebar.get_by_text("Reference Type").click()
    unset = sidebar.locator("details[data-field=reference_type] .group-value", has_text="(not set)")
    expect(unset.locator(".count")).to_have_text("9")
    unset.click()
    page.wait_for_url("**reference_type=**")
    assert json.loads(query(page)["reference_type"][0]) == ["is", "not set"]
    page.get_by_text("Showing 1–9 of 9").wait_for()
    expect(page.get_by_label("Operator").nth(3)).to_have_value("is not set")

    # Bulk delete two rows after confirming; they are gone from the list and the API.
    doomed = [page.locator("table.list td.name").nth(i).inner_text() for i in (0, 1)]
    for name in doomed:
        page.get_by_label(f"Select {name}").check()
    assert page.get_by_role("button", name="Delete 2").is_enabled()
    dialogs = []
    page.once("dialog", lambda d: (dialogs.append(d.message), d.accept()))
    page.get_by_role("button", name="Delete 2").click()
    page.get_by_text("Showing 1–7 of 7").wait_for()
    assert "Delete 2 ToDo?" in dialogs[0]
    assert page.get_by_role("status").filter(has_text="Deleted 2 ToDo.").count() == 1
    for name in doomed:
        assert admin.get(f"/api/resource/ToDo/{name}").status_code == 404
        assert page.locator("table.list td.name", has_text=name).count() == 0

    # Each row links to its form; "New" links to /app/todo/new.
    assert page.get_by_role("link", name=f"New ToDo").get_attribute("href") == "/app/todo/new"
    first_name = page.locator("table.list td.name a").first
    assert first_name.get_attribute("href") == f"/app/todo/{first_name.inner_text()}"

    # At a phone's width the table scrolls sideways inside its box; the page itself does not.
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shoot(page, f"desk-list-phone-{server.backend}")


def test_bulk_delete_reports_each_refused_row(server, admin, context_factory, todos):
    """Rows the user may not delete are named in an error notice; the others go."""
    tag, names = todos
    user = f"lv-{time.monotonic_ns()}@example.com"
    r = admin.post("/api/resource/User", json={"email": user, "first_name": "Lister", "new_password": PASSWORD,
                                               "roles": [{"role": "System Manager"}]})
    assert r.status_code == 200, r.text
    # A System Manager reads every ToDo but may not delete the Administrator's (the API answers 403).
    mine = admin.post("/api/resource/ToDo", json={"description": f"{tag} of admin"}).json()["data"]["name"]
    page = context_factory(viewport=DESKTOP).new_page()
    login(page, server, user, PASSWORD, f"/app/todo?description=%5B%22like%22%2C%22{tag}%25%22%5D")
    page.get_by_text("Showing 1–20 of 46").wait_for()
    a, b = (page.locator("table.list td.name").nth(i).inner_text() for i in (0, 1))
    page.get_by_label(f"Select {a}").check()
    page.get_by_label(f"Select {b}").check()
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Delete 2").click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "Could not delete 2" in alert.inner_text() and a in alert.inner_text() and b in alert.inner_text()
    assert admin.get(f"/api/resource/ToDo/{a}").status_code == 200
    page.get_by_text("Showing 1–20 of 46").wait_for()  # the list is still there, not a blank page
    admin.delete(f"/api/resource/ToDo/{mine}")


def test_permission_denial_is_a_message(server, admin, context_factory, shoot):
    user = f"lv-deny-{time.monotonic_ns()}@example.com"
    r = admin.post("/api/resource/User", json={"email": user, "first_name": "Denied", "new_password": PASSWORD,
                                               "roles": [{"role": "System Manager"}]})
    assert r.status_code == 200, r.text
    page = context_factory(viewport=DESKTOP).new_page()
    login(page, server, user, PASSWORD, "/app")
    role_link = page.locator("a[href='/app/role']")
    role_link.wait_for()
    # The right goes while the desk is open: the list view asks the API and shows its refusal.
    r = admin.put(f"/api/resource/User/{user}", json={"roles": []})
    assert r.status_code == 200, r.text
    role_link.click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert alert.inner_text() == "You do not have permission to read Role. Back to Home"
    assert page.get_by_role("heading", name="Role").is_visible()
    shoot(page, f"desk-list-denied-{server.backend}")
    # Opened afresh, the desk no longer offers Role and says so.
    page.goto(f"{server.base_url}/app/role")
    page.get_by_role("alert").wait_for()
    assert page.locator("table.list").count() == 0


# The 100,000-row measurement takes minutes to load: run it on request
# (RISTRETTO_DESK_100K=1); CI times the 2,000-row list.
@pytest.mark.parametrize("n", [2000, pytest.param(100_000, marks=pytest.mark.skipif(
    not os.environ.get("RISTRETTO_DESK_100K"), reason="set RISTRETTO_DESK_100K=1 to time 100,000 rows"))])
def test_first_page_is_quick(server, context_factory, n):
    """Navigation to rows visible on a list of (at least) ``n`` ToDos, timed in the browser."""
    have = count_rows(server.site_dir)
    if have < n:
        load_rows(server.site_dir, n - have)
    page = context_factory(viewport=DESKTOP).new_page()
    login(page, server, "Administrator", ADMIN_PASSWORD, "/app")
    page.locator("a[href='/app/todo']").wait_for()
    times = []
    for _ in range(3):  # the first visit also fetches the list view's module
        t0 = time.monotonic()
        page.goto(f"{server.base_url}/app/todo")
        rows(page).nth(19).wait_for()
        times.append(time.monotonic() - t0)
    total = int(page.locator(".list-count").inner_text().replace(",", ""))
    assert total >= n
    assert page.get_by_text(f"Showing 1–20 of {page.locator('.list-count').inner_text()}").is_visible()
    print(f"\nfirst page of {total} ToDos ({server.backend}): " + ", ".join(f"{t * 1000:.0f}" for t in times) + " ms")
    assert min(times) < 10, times  # loopback: well under a second when all is well
