"""SLA rules applied to new tickets and pushed to a local server speaking Zendesk's API:
the first sync decides nothing; a new unsolved ticket after it gets one decision and one
update; solved tickets, re-syncs and redelivered webhooks add nothing; a failing desk is
retried, then updated once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pytest_httpserver import HTTPServer

from plugin import clock
from plugin.background.jobs import run_source_sync
from plugin.intake.freshness import refresh_ticket
from plugin.journey.active_model import load_active_model
from plugin.sla.push import push_due
from plugin.store import open_store
from plugin.store.sla_decisions import count_decisions, get_decision
from plugin.store.sla_pushes import list_pushes
from plugin.store.tickets import get_ticket
from tests.fakes.zendesk import FakeZendesk
from tests.helpers.config import ANCHOR
from tests.helpers.desks import add_customer, add_ticket, load_zendesk_config

pytestmark = pytest.mark.usefixtures("backend")  # once per engine
RULES = """
[[sla.rules]]
name = "chat-urgent"
priority = "urgent"
add_tags = ["journey_chat"]
first_response_minutes = 30
[sla.rules.when]
all = [ { fact = "ticket.subject", op = "contains", value = "refund" } ]

[[sla.rules]]
name = "everyone"
add_tags = ["journey_seen"]
resolution_minutes = 1440
[sla.rules.when]
all = []
"""


@pytest.fixture(scope="module")
def server():
    started = HTTPServer(host="127.0.0.1", threaded=True)
    started.start()
    yield started
    started.stop()


@pytest.fixture
def zendesk(server):
    server.clear()
    fake = FakeZendesk(server)
    add_customer(fake, 1)
    add_ticket(fake, 100, 1, at=clock.now_seconds() - 86_400)  # before the desk was connected
    yield fake
    server.check_handler_errors()


@pytest.fixture
def config(tmp_path, zendesk, monkeypatch):
    return load_zendesk_config(monkeypatch, tmp_path, zendesk.base_url, more=RULES)


def puts(fake: FakeZendesk) -> list[tuple[str, dict]]:
    return [(ticket_id, change) for method, ticket_id, change in fake.writes if method == "PUT"]


def new_ticket(fake: FakeZendesk, ticket_id: int, subject: str, **fields) -> None:
    add_ticket(fake, ticket_id, 1, at=clock.now_seconds() + 1)
    fake.tickets.put(ticket_id, {**fake._ticket(str(ticket_id)), "subject": subject, **fields})


def test_the_first_sync_decides_and_pushes_nothing(config, zendesk):
    run_source_sync(config, "zendesk")
    assert push_due(config).sent == 0
    with open_store(config.database_path) as db:
        assert count_decisions(db) == 0 and list_pushes(db) == []
    assert puts(zendesk) == []


def test_a_new_unsolved_ticket_gets_one_decision_and_one_update(config, zendesk):
    run_source_sync(config, "zendesk")
    new_ticket(zendesk, 101, "Refund please")
    new_ticket(zendesk, 102, "Refund for a solved one", status="solved")
    run_source_sync(config, "zendesk")
    with open_store(config.database_path) as db:
        decision = get_decision(db, "zendesk", "101")
        assert decision["rule"] == "chat-urgent" and decision["priority_after"] == "urgent"
        assert decision["tags_added"] == ["journey_chat"]
        created = get_ticket(db, "zendesk", "101")["created_at"]
        assert decision["targets"] == {
            "first_response_minutes": 30,
            "resolution_minutes": None,
            "first_response_due": created + 30 * 60,  # no business_hours: calendar minutes
            "resolution_due": None,
        }
        assert decision["reasons"][0]["fact"] == "ticket.subject"
        assert get_decision(db, "zendesk", "102") is None
        assert get_decision(db, "zendesk", "100") is None
        assert [p["status"] for p in list_pushes(db)] == ["pending"]
    assert push_due(config).sent == 1
    [(ticket_id, change)] = puts(zendesk)
    assert ticket_id == "101" and change["priority"] == "urgent"
    assert "journey_chat" in change["tags"]
    # A re-sync, a redelivered webhook and another push change nothing more.
    run_source_sync(config, "zendesk")
    model = load_active_model_for(config)
    refresh_ticket(config, model, "zendesk", "101", refetch=True)
    assert push_due(config).sent == 0
    assert len(puts(zendesk)) == 1
    with open_store(config.database_path) as db:
        assert count_decisions(db) == 1
        assert [p["status"] for p in list_pushes(db)] == ["sent"]


def test_a_webhook_for_a_new_ticket_decides_and_pushes_once(config, zendesk):
    run_source_sync(config, "zendesk")
    new_ticket(zendesk, 103, "Where is my invoice")
    model = load_active_model_for(config)
    refresh_ticket(config, model, "zendesk", "103", refetch=True)
    refresh_ticket(config, model, "zendesk", "103", refetch=True)  # redelivered
    [(ticket_id, change)] = puts(zendesk)
    assert ticket_id == "103" and "priority" not in change
    assert "journey_seen" in change["tags"]
    with open_store(config.database_path) as db:
        assert get_decision(db, "zendesk", "103")["rule"] == "everyone"


def test_a_failing_desk_is_retried_then_updated_once(config, zendesk):
    run_source_sync(config, "zendesk")
    new_ticket(zendesk, 104, "Refund now")
    run_source_sync(config, "zendesk")
    # The desk refuses every attempt of the connector's retry loop; it asks for no wait
    # (Retry-After: 0), so the loop gives up at once instead of backing off for ~10 s.
    zendesk.fail("/api/v2/tickets/104", 429, times=20, retry_after=0)
    first = push_due(config)
    assert first.sent == 0 and first.retrying == 1
    with open_store(config.database_path) as db:
        [push] = list_pushes(db)
        assert push["status"] == "pending" and "attempt 1" in push["error"]
        assert push_due(config).sent == 0  # not due yet: backoff
    zendesk.faults.clear()
    with clock.moved_to(clock.now() + timedelta(minutes=1)):  # past the first backoff
        assert push_due(config).sent == 1
    assert [t for t, _ in puts(zendesk)] == ["104"]


def test_a_push_left_sending_by_a_dead_process_is_sent_by_the_next(config, zendesk):
    run_source_sync(config, "zendesk")
    new_ticket(zendesk, 105, "Refund")
    run_source_sync(config, "zendesk")
    with open_store(config.database_path) as db:
        [push] = list_pushes(db)
        with db.atomic():  # as a process killed between its claim and the desk's answer
            db.conn.execute(
                "UPDATE sla_pushes SET status = 'sending', sending_by = 'gone:1:x' WHERE id = ?",
                [push["id"]],
            )
    report = push_due(config)
    assert report.released == 1 and report.sent == 1
    assert [t for t, _ in puts(zendesk)] == ["105"]


def load_active_model_for(config):
    with open_store(config.database_path) as db:
        return load_active_model(db, config).model


def test_deadlines_count_the_connectors_business_hours(tmp_path, zendesk, monkeypatch):
    """Friday 20 November 2026 just after midnight, open 09:00-17:00 on weekdays: 1,440
    business minutes (three working days) run out on Tuesday at 17:00."""
    hours = "[connectors.business_hours]\ntimezone = 'UTC'\n" + "".join(
        f"{day} = '09:00-17:00'\n" for day in ("mon", "tue", "wed", "thu", "fri")
    )
    with clock.moved_to(ANCHOR):
        config = load_zendesk_config(monkeypatch, tmp_path, zendesk.base_url, more=hours + RULES)
        run_source_sync(config, "zendesk")
        new_ticket(zendesk, 105, "Where is my invoice")
        refresh_ticket(config, load_active_model_for(config), "zendesk", "105", refetch=True)
    with open_store(config.database_path) as db:
        targets = get_decision(db, "zendesk", "105")["targets"]
    assert targets["resolution_minutes"] == 1440 and targets["first_response_due"] is None
    assert targets["resolution_due"] == int(datetime(2026, 11, 24, 17, tzinfo=UTC).timestamp())
