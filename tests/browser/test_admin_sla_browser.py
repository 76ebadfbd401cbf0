"""The SLA admin in real headless Chromium: read the rules in order with the last decisions
and the pushes waiting, edit a rule and read its what-if on the demo's real tickets, save,
then restore the previous version; and the empty state of a desk without rules."""

from __future__ import annotations

import threading
import tomllib

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from plugin import clock
from plugin.app import create_app
from plugin.security import Secret
from plugin.sla.rules import decide, load_sla_rules, reasons_as_json
from plugin.store import open_store
from plugin.store.sla_decisions import record_decision
from plugin.store.sla_pushes import list_pushes, queue_push, record_push_retry, start_pushing
from plugin.store.tickets import get_ticket, sample_tickets_by_stage
from tests.helpers.copies import private_copy

PASSWORD = "a long admin password"
WIDTHS = (1280, 768)
RULES = """
[[sla.rules]]
name = "purchase-moment"
description = "A question while buying: answer within the hour"
priority = "urgent"
add_tags = ["journey_purchase"]
first_response_minutes = 60
resolution_minutes = 480
[sla.rules.when]
all = [ { fact = "stage", op = "eq", value = "purchase" } ]

[[sla.rules]]
name = "chat-fast"
description = "Chats are answered fast"
priority = "high"
first_response_minutes = 30
[sla.rules.when]
all = [ { fact = "ticket.channel", op = "eq", value = "chat" } ]
"""


def serve(config):
    server = make_server("127.0.0.1", 0, create_app(config), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


@pytest.fixture
def sla_server(seeded_demo, tmp_path):
    sla = tomllib.loads(RULES)["sla"]
    config = private_copy(seeded_demo, tmp_path, admin_password=Secret(PASSWORD), sla=sla)
    decide_a_few_tickets(config)
    server, thread = serve(config)
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


@pytest.fixture
def empty_server(seeded_demo, tmp_path):
    config = private_copy(seeded_demo, tmp_path, admin_password=Secret(PASSWORD))
    server, thread = serve(config)
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


def decide_a_few_tickets(config) -> None:
    """Decisions as the rules take them (the engine's `decide` over each ticket's stage and
    fields), the pushes they queue, and one push the desk refused for now."""
    rules = load_sla_rules(config.sla, file="test")
    now = clock.now_epoch()
    with open_store(config.database_path) as db, db.atomic():
        for minutes, row in enumerate(sample_tickets_by_stage(db, "demo", per_stage=2)):
            ticket = get_ticket(db, "demo", row["id"])
            facts = {
                "stage": row["stage"],
                "ticket.channel": ticket["channel"],
                "ticket.priority": ticket["priority"],
                "ticket.subject": ticket["subject"],
                "ticket.tags": ticket["tags"],
                "ticket.source": "demo",
            }
            decision = decide(rules, facts)
            at = now - 600 * (minutes + 1)
            record_decision(
                db,
                {
                    "source": "demo",
                    "ticket_id": row["id"],
                    "customer_id": ticket["customer_id"],
                    "rule": decision.rule,
                    "rule_version": 0,
                    "priority_before": ticket["priority"],
                    "priority_after": decision.priority or ticket["priority"],
                    "tags_added": list(decision.add_tags),
                    "targets": decision.targets.as_dict(),
                    "reasons": reasons_as_json(decision.reasons),
                    "decided_at": at,
                },
            )
            if decision.priority and decision.priority != ticket["priority"]:
                queue_push(
                    db,
                    "demo",
                    row["id"],
                    priority=decision.priority,
                    add_tags=decision.add_tags,
                    now=at,
                )
        refused = list_pushes(db)[0]["id"]
        start_pushing(db, refused, holder="worker", now=now - 60)
        record_push_retry(
            db,
            refused,
            error="the desk answered 503 Service Unavailable; retrying",
            retry_at=now + 120,
            now=now - 60,
        )


def log_in(page, url: str) -> None:
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})
    page.goto(url)
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=name]", "Ana")
    page.click("button[type=submit]")


def shots(page, artifacts, name: str) -> None:
    """The page at each width, full length."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=artifacts / f"sla-{name}-{width}.png", full_page=True)
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})


def number(text: str) -> int:
    return int(text.replace(",", ""))


def test_edit_a_rule_read_the_what_if_save_and_restore(page, sla_server, artifacts):
    log_in(page, sla_server + "/admin/sla")
    expect(page.locator("h1")).to_have_text("SLA rules")
    expect(page.locator("#rules tr[data-rule]")).to_have_count(2)
    expect(page.locator('#rules tr[data-rule="purchase-moment"] .cond')).to_have_text(
        'stage = "purchase"'
    )
    expect(page.locator("#decisions-table tr[data-ticket]").first).to_be_visible()
    expect(page.locator("#pushes-table")).to_contain_text("503 Service Unavailable")
    shots(page, artifacts, "rules")

    # order matters: move the chat rule above the purchase rule, a new version
    page.click('#rules tr[data-rule="chat-fast"] button.move-up')
    expect(page.locator(".flash").first).to_contain_text("chat-fast moved up, now rule 1 of 2")
    expect(page.locator("#rules tr[data-rule]").first).to_have_attribute("data-rule", "chat-fast")
    expect(page.locator('#versions tr[data-version="1"]')).to_contain_text("in force")

    # edit: purchase questions at high priority, with targets the desk can keep
    page.click('#rules tr[data-rule="purchase-moment"] a:has-text("Edit")')
    expect(page.locator("h1")).to_contain_text("purchase-moment")
    editor = page.locator("textarea#text")
    original = editor.input_value()
    editor.fill(original.replace('fact = "stage"', 'fact = "stage_name"'))
    page.click("#preview-button")
    expect(page.locator("#editor-error")).to_contain_text('unknown fact "stage_name"')
    expect(page.locator("#preview")).to_have_count(0)
    shots(page, artifacts, "error")

    editor.fill(
        original.replace('"urgent"', '"high"')
        .replace("first_response_minutes = 60", "first_response_minutes = 600")
        .replace("resolution_minutes = 480", "resolution_minutes = 4320")
    )
    page.check('input[name=days][value="90"]')
    page.click("#preview-button")
    expect(page.locator("#what-if-summary")).to_contain_text("last 90 days")
    assert number(page.locator("#what-if-summary .changed-count").inner_text()) > 0
    high = page.locator('#what-if-priority tr[data-key="high"]')
    expect(high).to_have_class("changed")
    assert number(high.locator("td.after").first.inner_text()) > number(
        high.locator("td.before").first.inner_text()
    )
    expect(high.locator("td.change").first).to_contain_text("↑")
    purchase = page.locator('#what-if-stage tr[data-key="purchase"]')
    breached_before = number(purchase.locator("td.before").last.inner_text())
    breached_after = number(purchase.locator("td.after").last.inner_text())
    assert breached_after < breached_before  # targets it can keep: fewer breaches
    expect(purchase.locator("td.change").last).to_contain_text("↓")
    expect(page.locator("#what-if-samples tr[data-ticket]").first).to_contain_text(
        "purchase-moment"
    )
    expect(page.locator("#draft-rules tr.changed")).to_have_attribute(
        "data-rule", "purchase-moment"
    )
    shots(page, artifacts, "what-if")

    page.fill("input[name=note]", "purchase questions: high, answered within 10 hours")
    page.click("#save-button")
    expect(page.locator(".flash").first).to_contain_text("Saved version 2")
    expect(page.locator('#rules tr[data-rule="purchase-moment"]')).to_contain_text("3 days")
    expect(page.locator('#versions tr[data-version="2"]')).to_contain_text("in force")

    # restore the previous version, after reading what it would change back
    page.click('#versions tr[data-version="1"] a')
    expect(page.locator("h1")).to_have_text("SLA rules version 1")
    expect(page.locator("#what-if-summary")).to_contain_text("would have been treated differently")
    shots(page, artifacts, "restore")
    page.click("#restore-button")
    expect(page.locator(".flash").first).to_contain_text("Saved version 3: restored version 1")
    expect(page.locator('#rules tr[data-rule="purchase-moment"]')).to_contain_text("1 h")
    expect(page.locator('#versions tr[data-version="3"]')).to_contain_text("in force")


def test_without_rules_the_page_says_so_and_offers_an_example(page, empty_server, artifacts):
    log_in(page, empty_server + "/admin/sla")
    expect(page.locator("#no-rules")).to_contain_text(
        "No SLA rules yet — tickets keep the priority the desk gives them"
    )
    shots(page, artifacts, "empty")
    page.click("#start-from-example")
    expect(page.locator("#example-notice")).to_be_visible()
    page.click("#preview-button")
    expect(page.locator("#what-if-summary")).to_be_visible()
    shots(page, artifacts, "example-preview")
