"""The sidebar in real headless Chromium, as an agent sees it."""

from __future__ import annotations

import re
import sqlite3

from playwright.sync_api import expect


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
