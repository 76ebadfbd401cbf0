"""The stages admin in real headless Chromium, as an admin uses it."""

from __future__ import annotations

import threading

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from plugin.app import create_app
from plugin.security import Secret
from tests.helpers.copies import private_copy

PASSWORD = "a long admin password"


@pytest.fixture
def admin_server(seeded_demo, tmp_path):
    config = private_copy(seeded_demo, tmp_path, admin_password=Secret(PASSWORD))
    server = make_server("127.0.0.1", 0, create_app(config), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


def cell(page, table: str, key: str, column: str):
    return page.locator(f'#{table} tr[data-key="{key}"] td.{column}')


def number(locator) -> int:
    return int(locator.inner_text().replace(",", ""))


def test_change_a_threshold_preview_save_and_restore(page, admin_server, artifacts):
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(admin_server + "/admin/journey")
    expect(page).to_have_url(admin_server + "/admin/login?next=/admin/journey")
    page.screenshot(path=artifacts / "admin-login.png")
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=name]", "Ana")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Stages & signals")
    onboarding = number(page.locator('#stages tr[data-key="service"] .count'))
    page.screenshot(path=artifacts / "admin-stages.png", full_page=True)

    page.click('#stages tr[data-key="service"] a:has-text("Edit")')
    editor = page.locator("textarea#text")
    original = editor.input_value()
    editor.fill(original.replace("days_since_purchase", "days_since_purchace"))
    page.click("#preview-button")
    expect(page.locator("#editor-error")).to_contain_text('unknown fact "days_since_purchace"')
    expect(page.locator("#preview")).to_have_count(0)
    page.screenshot(path=artifacts / "admin-editor-error.png", full_page=True)

    editor.fill(original.replace("value = 45", "value = 20"))
    page.click("#preview-button")
    expect(page.locator("#preview")).to_be_visible()
    assert number(cell(page, "preview-stages", "service", "before")) == onboarding
    after_20 = number(cell(page, "preview-stages", "service", "after"))
    assert after_20 < onboarding
    page.screenshot(path=artifacts / "admin-preview.png", full_page=True)

    editor.fill(editor.input_value().replace("value = 20", "value = 10"))
    expect(page.locator("#save-button")).to_be_disabled()  # the preview is for the old text
    expect(page.locator("#stale-hint")).to_be_visible()
    page.click("#preview-button")
    after_10 = number(cell(page, "preview-stages", "service", "after"))
    assert after_10 < after_20

    page.fill("input[name=note]", "onboarding is 10 days now")
    page.click("#save-button")
    expect(page.locator(".flash").first).to_contain_text("Saved version 1")
    expect(page.locator('#stages tr[data-key="service"] .count')).to_have_text(str(after_10))
    expect(page.locator('#versions tr[data-version="1"]')).to_contain_text("in force")
    page.screenshot(path=artifacts / "admin-saved.png", full_page=True)

    # a version says what it changed (issue 16, point 9)
    page.goto(admin_server + "/admin/journey/versions/1")
    expect(page.locator("#changes del")).to_contain_text(["value = 45"])
    expect(page.locator("#changes ins")).to_contain_text(["value = 10"])
    page.screenshot(path=artifacts / "admin-version-changes.png", full_page=True)
    page.goto(admin_server + "/admin/journey")

    page.click('#versions tr[data-version="0"] a')
    expect(page.locator("h1")).to_have_text("Shipped default model")
    assert number(cell(page, "preview-stages", "service", "after")) == onboarding
    page.screenshot(path=artifacts / "admin-restore-preview.png", full_page=True)
    page.click("#restore-button")
    expect(page.locator(".flash").first).to_contain_text("Saved version 2")
    expect(page.locator('#stages tr[data-key="service"] .count')).to_have_text(str(onboarding))
    expect(page.locator('#versions tr[data-version="2"]')).to_contain_text("restored")

    page.goto(admin_server + "/admin/")
    page.screenshot(path=artifacts / "admin-dashboard.png", full_page=True)
    page.goto(admin_server + "/admin/customers")
    first = page.locator("#recent a").first
    first.click()
    expect(page.locator("#history")).to_contain_text("→")
    page.screenshot(path=artifacts / "admin-customer.png", full_page=True)

    # found by part of a name, and from the customer to a ticket's sidebar (point 9)
    name = page.locator("h1").inner_text()
    customer_url = page.url
    page.goto(admin_server + "/admin/customers")
    page.fill("#q", name.split()[-1][:4].lower())
    page.click("form.search button")
    if page.url != customer_url:  # more than one match: a list to pick from
        expect(page.locator("#matches")).to_contain_text(name)
        page.screenshot(path=artifacts / "admin-customer-search.png", full_page=True)
        page.locator("#matches a", has_text=name).first.click()
    expect(page.locator("h1")).to_have_text(name)
    page.locator("#tickets a").first.click()
    expect(page.locator(".stage-badge")).to_be_visible()
    page.screenshot(path=artifacts / "admin-ticket-sidebar.png", full_page=True)
    page.click(f".back-link a:has-text('{name}')")  # and back to the customer
    expect(page.locator("h1")).to_have_text(name)


def test_the_open_demo_admin_says_it_is_open(page, live_demo, artifacts):
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(live_demo + "/admin/")
    expect(page.locator(".open-banner")).to_contain_text("Open demo admin")
    menu = [
        "Dashboard",
        "Stages & signals",
        "Customers",
        "Outreach",
        "SLA rules",
        "Reports",
    ]  # only pages that exist
    expect(page.locator(".admin-nav a")).to_have_text(menu)
    page.screenshot(path=artifacts / "admin-open-demo.png")
