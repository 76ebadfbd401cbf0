"""The sidebar in real headless Chromium, as an agent sees it."""

from __future__ import annotations

import re
import sqlite3
import threading

from playwright.sync_api import expect
from pytest_httpserver import HTTPServer
from werkzeug.serving import make_server

from plugin import clock
from plugin.app import create_app
from plugin.security import mint_agent_token
from tests.helpers.config import SECRET
from tests.web.test_sidebar_sla import decided_desk


def ticket_with_five_articles(config) -> str:
    conn = sqlite3.connect(config.database_path)
    row = conn.execute(
        "SELECT t.id FROM tickets t WHERE t.source = 'demo' AND "
        "(SELECT count(DISTINCT v.article_id) FROM touchpoints v "
        "WHERE v.customer_id = t.customer_id AND v.type = 'article_view' "
        "AND v.occurred_at BETWEEN t.created_at - 30 * 86400 AND t.created_at) >= 6 "
        "ORDER BY t.id LIMIT 1"
    ).fetchone()
    conn.close()
    return row[0]


def test_demo_index_opens_a_sidebar_with_five_articles(page, live_demo, seeded_demo, artifacts):
    page.set_viewport_size({"width": 1100, "height": 900})
    page.goto(live_demo + "/")
    expect(page.locator("article.card")).to_have_count(6)
    expect(page.locator(".lead a", has_text="admin")).to_have_attribute("href", "/admin/")
    icon = page.request.get(live_demo + "/favicon.ico")  # what a browser asks for unbidden
    assert icon.ok and icon.headers["content-type"].startswith("image/svg+xml")
    page.screenshot(path=artifacts / "demo-index.png", full_page=True)

    ticket_id = ticket_with_five_articles(seeded_demo)
    page.set_viewport_size({"width": 320, "height": 900})
    page.goto(f"{live_demo}/sidebar/demo/{ticket_id}")
    expect(page.locator(".stage-badge")).to_be_visible()
    expect(page.locator(".article-title")).to_have_count(5)
    for title in page.locator(".article-title").all_inner_texts():
        assert title.strip()
    whens = page.locator(".article .when").all_inner_texts()
    assert all(re.fullmatch(r"(<1|\d+) (min|h|days?) before the ticket", w) for w in whens), whens
    page.screenshot(path=artifacts / "sidebar-en.png", full_page=True)

    page.goto(f"{live_demo}/sidebar/demo/{ticket_id}?lang=es")
    expect(page.locator("section.articles h2")).to_have_text(
        "Leído en los 30 días antes del ticket"
    )
    page.screenshot(path=artifacts / "sidebar-es.png", full_page=True)


def test_the_sla_decision_reads_as_one_line_in_both_languages(
    browser, tmp_path, monkeypatch, artifacts
):
    """A ticket SLA rules raised to urgent (from a local server speaking Zendesk's API)."""
    context = browser.new_context()
    context.clock.install(time=clock.now())
    page = context.new_page()
    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.start()
    app = create_app(decided_desk(server, tmp_path, monkeypatch))
    served = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=served.serve_forever, daemon=True).start()
    token = mint_agent_token(SECRET, source="zendesk", ticket_id="101")
    base = f"http://127.0.0.1:{served.server_port}/sidebar/zendesk/101?token={token}"
    try:
        page.set_viewport_size({"width": 320, "height": 900})
        page.goto(base + "&lang=en")
        line = page.locator("section.sla")
        expect(line).to_be_visible()
        expect(line.locator(".sla-label")).to_have_text("SLA")
        expect(line.locator(".sla-summary")).to_contain_text("Priority raised to urgent")
        expect(line.locator(".sla-summary")).to_contain_text("first reply within 1 h")
        page.screenshot(path=artifacts / "sidebar-sla-en.png", full_page=True)

        page.goto(base + "&lang=es")
        expect(page.locator("section.sla .sla-summary")).to_contain_text(
            "Prioridad elevada a urgente"
        )
        page.screenshot(path=artifacts / "sidebar-sla-es.png", full_page=True)
    finally:
        context.close()
        served.shutdown()
        server.stop()
