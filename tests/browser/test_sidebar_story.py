"""The sidebar tells one story an agent can believe at a glance, in Chromium at 320 px.

Every stage explains itself (the fallback stage too), the first 600 px hold the stage, its
reasons, the signals and the five articles in English and Spanish, the rest folds away and
each fold is remembered per agent, and the ticket being looked at is marked in the timeline.
The six stages are photographed in both languages under tests/artifacts/.
"""

from __future__ import annotations

import sqlite3

import pytest
from playwright.sync_api import expect

STAGES = ("awareness", "consideration", "purchase", "service", "retention", "advocacy")
FIRST_SCREEN = 600
"""What an agent sees of the sidebar before scrolling, in CSS pixels (issue 16)."""


def tickets_by_stage(config, per_stage: int = 1) -> dict[str, list[str]]:
    """Per stage, the newest demo tickets of customers in it who read five articles or more
    in the 30 days before the ticket (the longest first screens), newest first."""
    conn = sqlite3.connect(config.database_path)
    found: dict[str, list[str]] = {}
    for stage in STAGES:
        rows = conn.execute(
            "SELECT t.id FROM tickets t JOIN customer_journeys j ON j.customer_id = t.customer_id "
            "WHERE t.source = 'demo' AND j.stage = ? AND (SELECT count(DISTINCT v.article_id) "
            "FROM touchpoints v WHERE v.customer_id = t.customer_id AND v.type = 'article_view' "
            "AND v.occurred_at BETWEEN t.created_at - 30 * 86400 AND t.created_at) >= 5 "
            "ORDER BY t.created_at DESC LIMIT ?",
            [stage, per_stage],
        ).fetchall()
        found[stage] = [row[0] for row in rows]
    conn.close()
    return found


@pytest.fixture(scope="module")
def samples(seeded_demo):
    found = tickets_by_stage(seeded_demo, per_stage=3)
    assert all(found[stage] for stage in STAGES), found
    return found


def bottom(page, selector: str) -> float:
    box = page.locator(selector).bounding_box()
    assert box is not None, selector
    return box["y"] + box["height"]


@pytest.mark.parametrize("lang", ["en", "es"])
def test_every_stage_explains_itself_and_fits_the_first_screen(
    page, live_demo, samples, artifacts, lang
):
    page.set_viewport_size({"width": 320, "height": FIRST_SCREEN})
    for stage in STAGES:
        for n, ticket_id in enumerate(samples[stage]):
            page.goto(f"{live_demo}/sidebar/demo/{ticket_id}?lang={lang}")
            expect(page.locator(".stage-badge")).to_have_attribute("data-stage", stage)
            # a why for every stage, the fallback included
            reasons = page.locator(".stage-reasons li")
            assert reasons.count() >= 1, (stage, ticket_id)
            expect(page.locator(".stage .why")).to_be_visible()
            expect(page.locator(".article-title")).to_have_count(5)
            # the first screen: stage, reasons, signals, five articles
            assert bottom(page, ".stage-reasons") <= FIRST_SCREEN, (stage, ticket_id)
            if page.locator(".signals").count():
                assert bottom(page, ".signals") <= FIRST_SCREEN, (stage, ticket_id)
            fifth = bottom(page, ".article-list > li:nth-child(5)")
            assert fifth <= FIRST_SCREEN, (stage, ticket_id, lang, fifth)
            # the rest is folded away
            for fold in page.locator("details.fold").all():
                assert fold.get_attribute("open") is None
            # "Why ▾" stays on one line
            why = page.locator(".stage .why").bounding_box()
            assert why["height"] < 20, why
            if n == 0:
                page.screenshot(path=artifacts / f"sidebar-{stage}-{lang}.png")
                page.screenshot(path=artifacts / f"sidebar-{stage}-{lang}-full.png", full_page=True)


def test_folds_are_remembered_per_agent_and_the_current_ticket_is_marked(
    page, live_demo, samples, artifacts
):
    page.set_viewport_size({"width": 320, "height": FIRST_SCREEN})
    first, second = samples["consideration"][0], samples["retention"][0]
    page.goto(f"{live_demo}/sidebar/demo/{first}")
    timeline = page.locator("details.fold-timeline")
    expect(timeline).not_to_have_attribute("open", "")
    expect(page.locator(".timeline li").first).to_be_hidden()
    timeline.locator("summary").click()
    current = page.locator(".timeline .tp-current")
    expect(current).to_have_count(1)
    expect(current).to_be_visible()
    expect(current).to_have_attribute("aria-current", "true")
    expect(current).to_contain_text("(this ticket)")

    # another ticket in the same browser: the timeline stays open, the other folds closed
    page.goto(f"{live_demo}/sidebar/demo/{second}")
    expect(page.locator("details.fold-timeline")).to_have_attribute("open", "")
    expect(page.locator("details.fold-guard")).not_to_have_attribute("open", "")
    expect(page.locator(".timeline .tp-current")).to_contain_text("(this ticket)")
    page.screenshot(path=artifacts / "sidebar-timeline-open.png", full_page=True)

    page.locator("details.fold-timeline > summary").click()
    page.goto(f"{live_demo}/sidebar/demo/{first}?lang=es")
    expect(page.locator("details.fold-timeline")).not_to_have_attribute("open", "")
    page.locator("details.fold-timeline > summary").click()
    expect(page.locator(".timeline .tp-current")).to_contain_text("(este ticket)")

    # a new agent (a fresh browser context) starts with everything folded
    fresh = page.context.browser.new_context()
    other = fresh.new_page()
    other.goto(f"{live_demo}/sidebar/demo/{first}")
    expect(other.locator("details.fold-timeline")).not_to_have_attribute("open", "")
    fresh.close()
