"""The sidebar tells the agent what the customer was already told: the proactive messages
they received (sent or uncertain) in the last 30 days, in the API and on the page."""

from __future__ import annotations

import re

import pytest

from plugin.app import create_app
from plugin.clock import now_epoch
from plugin.security import mint_agent_token
from plugin.store import open_store
from plugin.store.customers import all_customer_ids
from plugin.store.outbox import (
    claim_messages,
    mark_abandoned,
    record_failed,
    record_sent,
    start_sending,
)
from plugin.store.tickets import ticket_customers
from tests.helpers.config import SECRET
from tests.helpers.copies import private_copy
from tests.web.test_api_journey import ticket_ids

DAY = 86_400
pytestmark = pytest.mark.usefixtures("backend")


def message(customer_id: int, rule: str, *, channel: str = "email", subject: str) -> dict:
    return {
        "rule": rule,
        "customer_id": customer_id,
        "period": "p1",
        "status": "pending",
        "channel": channel,
        "recipient": "someone@example.com",
        "locale": "en",
        "reasons": [],
        "subject": subject,
        "body_text": "text",
        "body_html": "<p>text</p>",
        "next_attempt_at": 0,
    }


@pytest.fixture
def told(tmp_path, seeded_demo):
    """A demo copy where one ticket's customer got messages in every state and age."""
    config = private_copy(seeded_demo, tmp_path)
    ticket_id = ticket_ids(config, 1, seed=11)[0]
    now = now_epoch()
    with open_store(config.database_path) as db:
        customer = ticket_customers(db, "demo", [ticket_id])[ticket_id]
        other = next(each for each in all_customer_ids(db) if each != customer)
        rows = [  # (message, status, sent days ago)
            (message(customer, "repeat-reader", subject="Still stuck on <SSO>?"), "sent", 2),
            (
                message(customer, "check-in", channel="helpdesk", subject="How is it going?"),
                "uncertain",
                5,
            ),
            (message(customer, "old-news", subject="Long ago"), "sent", 40),
            (message(customer, "never-left", subject="Failed one"), "failed", 1),
            (message(customer, "refused-one", subject="Refused one"), "refused", 1),
            (message(customer, "renewal", channel="webhook", subject="Alert the team"), "sent", 1),
            (message(other, "repeat-reader", subject="Someone else's"), "sent", 1),
        ]
        for row, status, days in rows:
            bring_to(db, row, status, at=now - days * DAY)
    return config, ticket_id


def bring_to(db, row: dict, status: str, *, at: int) -> None:
    """Claim `row` at `at` and take it to `status` through the outbox's own steps, as a
    delivery run does (a refused message is claimed so: the sandbox refused it)."""
    if status == "refused":
        claim_messages(db, [row | {"status": "refused"}], now=at)
        return
    (message_id,) = claim_messages(db, [row], now=at)
    assert start_sending(db, message_id, holder="run-1", now=at)
    if status == "sent":
        record_sent(db, message_id, holder="run-1", outcome="sent", external_id=None, now=at)
    elif status == "failed":
        record_failed(db, message_id, error="the server refused it", now=at)
    else:  # run-1 died mid-send; the next run finds the message
        assert status == "uncertain" and mark_abandoned(db, holder="run-2", now=at) == 1


def test_the_journey_lists_what_the_customer_was_told_in_30_days(told):
    config, ticket_id = told
    client = create_app(config).test_client()
    token = mint_agent_token(SECRET, source="demo", ticket_id=ticket_id)

    body = client.get(f"/api/v1/tickets/demo/{ticket_id}/journey?token={token}").get_json()

    outreach = body["outreach"]
    assert [(m["rule"], m["channel"], m["status"]) for m in outreach] == [
        ("repeat-reader", "email", "sent"),  # newest first
        ("check-in", "helpdesk", "uncertain"),
    ]
    assert outreach[0]["subject"] == "Still stuck on <SSO>?"
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", m["at"]) for m in outreach)


def test_a_customer_never_written_to_has_an_empty_list(client, seeded_demo):
    ticket_id = ticket_ids(seeded_demo, 1, seed=12)[0]
    token = mint_agent_token(SECRET, source="demo", ticket_id=ticket_id)
    body = client.get(f"/api/v1/tickets/demo/{ticket_id}/journey?token={token}").get_json()
    assert body["outreach"] == []
    html = client.get(f"/sidebar/demo/{ticket_id}?token={token}").get_data(as_text=True)
    assert 'class="outreach"' not in html


@pytest.mark.parametrize(
    ("lang", "title", "email", "uncertain"),
    [
        ("en", "Told recently", "Email", "may not have arrived"),
        ("es", "Le escribimos hace poco", "Correo", "puede que no llegara"),
    ],
)
def test_the_sidebar_shows_a_told_recently_section(told, lang, title, email, uncertain):
    config, ticket_id = told
    client = create_app(config).test_client()
    token = mint_agent_token(SECRET, source="demo", ticket_id=ticket_id)

    html = client.get(f"/sidebar/demo/{ticket_id}?token={token}&lang={lang}").get_data(as_text=True)

    section = html[html.index('<section class="outreach"') :]
    section = section[: section.index("</section>")]
    assert f">{title}</h2>" in section
    items = re.findall(r'<li class="outreach-item outreach-(\w+)" data-rule="([^"]+)"', section)
    assert items == [("sent", "repeat-reader"), ("uncertain", "check-in")]
    assert "Still stuck on &lt;SSO&gt;?" in section  # escaped, never markup
    assert email in section and uncertain in section
    for absent in ("Long ago", "Failed one", "Refused one", "Alert the team", "Someone else"):
        assert absent not in html
    # first the reading before the ticket, then what they were told, then the reply check
    assert (
        html.index('class="articles"')
        < html.index('class="outreach"')
        < html.index('class="guard"')
    )
