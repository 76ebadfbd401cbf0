"""Reports in real headless Chromium on the demo desk: the index, charts with data, a
changed date range, a CSV downloaded and read back, at laptop and tablet widths.

On SQLite only: the browser adds nothing engine-specific, and the same pages run on both
engines in tests/reports/test_report_pages.py."""

from __future__ import annotations

import csv
import io
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


def sign_in(page, base: str) -> None:
    page.goto(base + "/admin/reports")
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=name]", "Ana")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Journey map")  # the first page of Reports


def drawn_marks(page) -> int:
    """Bars and line points the chart drew (its data marks, not the axes)."""
    return page.locator("svg.chart rect.bar, svg.chart polyline").count()


def test_reports_show_charts_change_range_and_download_csv(page, admin_server, artifacts):
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, admin_server)
    expect(page.locator("#all-reports")).to_be_visible()
    assert page.locator("table a").count() > 10  # the map's cells lead to their reports
    page.screenshot(path=artifacts / "reports-index.png", full_page=True)

    page.click("text=Tickets by journey stage")
    expect(page.locator("h1")).to_have_text("Tickets by journey stage")
    chart = page.locator("svg.chart[role=img]")
    expect(chart).to_have_attribute("aria-describedby", "report-table")
    assert drawn_marks(page) >= 3
    assert page.locator("#report-table tbody tr").count() >= 6
    expect(page.locator("#how-csat")).to_contain_text("good ratings ÷ (good + bad) ratings")
    page.screenshot(path=artifacts / "reports-tickets-1280.png", full_page=True)
    thirty_days = _total_tickets(page)

    page.click("text=Last 7 days")
    expect(page.locator(".presets .active")).to_have_text("Last 7 days")
    assert _total_tickets(page) < thirty_days
    page.fill("#from", "2026-08-01")
    page.fill("#to", "2026-11-19")
    page.click("button:has-text('Show')")
    expect(page.locator("#range-summary")).to_contain_text("2026-08-01 to 2026-11-19")
    assert _total_tickets(page) > thirty_days

    with page.expect_download() as download_info:
        page.click("#download-csv")
    download = download_info.value
    assert download.suggested_filename == "journeydesk-tickets-2026-08-01-2026-11-19.csv"
    rows = list(csv.DictReader(io.StringIO(open(download.path(), encoding="utf-8").read())))
    assert sum(int(r["Tickets"]) for r in rows) == _total_tickets(page)
    assert [r["Stage when opened"] for r in rows][:2] == ["Awareness", "Consideration"]

    page.goto(admin_server + "/admin/reports/tickets-over-time?from=2026-08-01&to=2026-11-19")
    assert page.locator("svg.chart polyline").count() >= 2
    page.screenshot(path=artifacts / "reports-weekly-1280.png", full_page=True)

    page.goto(admin_server + "/admin/reports/pain-points?from=2026-08-01&to=2026-11-19")
    assert drawn_marks(page) >= 10
    page.screenshot(path=artifacts / "reports-pain-points-1280.png", full_page=True)
    page.locator("#report-table tbody tr").first.locator("th a").click()
    expect(page.locator("h1")).to_contain_text("Tickets after reading")
    assert page.locator("#report-table tbody tr").count() >= 1
    page.screenshot(path=artifacts / "reports-pain-point-tickets.png", full_page=True)

    page.set_viewport_size({"width": 768, "height": 1024})
    for name in ("funnel", "tickets-by-channel", "pain-points"):
        page.goto(admin_server + f"/admin/reports/{name}?from=2026-08-01&to=2026-11-19")
        assert drawn_marks(page) >= 2, name
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 768, f"{name} scrolls sideways at tablet width ({width} px)"
        page.screenshot(path=artifacts / f"reports-{name}-768.png", full_page=True)


def _total_tickets(page) -> int:
    cells = page.locator("#report-table tbody tr td:nth-child(2)").all_inner_texts()
    return sum(int(text.replace(",", "")) for text in cells)
