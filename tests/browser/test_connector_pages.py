"""What agents and admins see of the connectors, in real headless Chromium.

journeydesk is served on 127.0.0.1 against the fake Zendesk (also on 127.0.0.1):
- an agent opens a brand-new ticket while Zendesk is slow: the sidebar answers within
  the budget, with what the store has, and says that recent activity may be missing;
- an admin whose Zendesk plan lacks the Events API reads on the dashboard one clear
  sentence about where reading history must come from (not a credentials error).
"""

from __future__ import annotations

import threading
import time

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from plugin import clock
from plugin.app import create_app
from plugin.background.jobs import run_source_sync
from plugin.security import mint_agent_token
from tests.fakes.serving import serving
from tests.fakes.zendesk import FakeZendesk
from tests.helpers.config import SECRET
from tests.helpers.desks import (
    add_reader_with_ticket,
    add_ticket,
    add_view,
    load_zendesk_config,
)

PASSWORD = "admin password for the connector pages"
DAY = 86_400


@pytest.fixture
def desk():
    with serving() as server:
        fake = FakeZendesk(server)
        add_reader_with_ticket(fake)
        yield fake
        fake.delay = 0


@pytest.fixture
def journeydesk(desk, tmp_path, monkeypatch):
    monkeypatch.setenv("JD_TEST_ADMIN_PASSWORD", PASSWORD)
    security = '[security]\nadmin_password_env = "JD_TEST_ADMIN_PASSWORD"\n'
    config = load_zendesk_config(monkeypatch, tmp_path, desk.base_url, more=security)
    server = make_server("127.0.0.1", 0, create_app(config), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield config, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


def test_a_new_ticket_on_a_slow_desk_shows_what_is_known_and_says_so(
    page, desk, journeydesk, artifacts
):
    config, url = journeydesk
    run_source_sync(config, "zendesk")
    time.sleep(1.1)  # the new ticket is created after the sync read the history
    add_view(desk, 1, 501, at=clock.now_seconds() - 30)
    add_ticket(desk, 101, 1, at=clock.now_seconds())
    run_source_sync(config, "zendesk", streams=("customers", "tickets"))
    desk.delay = 6.0  # Zendesk takes 6 s per answer; the sidebar waits 2 s at most
    token = mint_agent_token(SECRET, source="zendesk", ticket_id="101")
    page.set_viewport_size({"width": 320, "height": 640})

    started = time.monotonic()
    page.goto(f"{url}/sidebar/zendesk/101?token={token}")
    elapsed = time.monotonic() - started

    assert elapsed < 5.0, f"the sidebar took {elapsed:.1f} s: it waited for the desk"
    expect(page.locator(".notice.stale")).to_contain_text("did not answer in time")
    expect(page.locator("body")).to_contain_text("Export your data to CSV")
    page.screenshot(path=artifacts / "audit3-sidebar-stale.png", full_page=True)

    desk.delay = 0  # the fetch finished in the background: a reload is fresh
    deadline = time.monotonic() + 10
    while True:
        page.reload()
        if page.locator(".notice.stale").count() == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    expect(page.locator(".notice.stale")).to_have_count(0)
    expect(page.locator("body")).to_contain_text("Invite your team")
    page.screenshot(path=artifacts / "audit3-sidebar-fresh.png", full_page=True)


def test_the_dashboard_says_clearly_where_reading_history_must_come_from(
    page, desk, journeydesk, artifacts
):
    config, url = journeydesk
    desk.events_status = 403  # the plan has no Events API
    run_source_sync(config, "zendesk")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{url}/admin/login?next=/admin/")
    page.fill("input[type=password]", PASSWORD)
    page.click("button[type=submit]")

    syncs = page.locator("section", has_text="Last syncs")
    expect(syncs).to_contain_text("reading history must then come from the portal snippet")
    expect(syncs).not_to_contain_text("credentials")
    expect(syncs).not_to_contain_text("HTTP 403")
    syncs.scroll_into_view_if_needed()
    page.screenshot(path=artifacts / "audit3-dashboard-no-events-api.png", full_page=True)
