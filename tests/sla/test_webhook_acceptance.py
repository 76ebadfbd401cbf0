"""SLA rules end to end through the desk's signed webhook, journeydesk's HTTP app (Flask
test client) and a local server speaking Zendesk's API: the first sync pushes nothing; a bad
or stale signature changes nothing; a signed notice of a new ticket applies the first
matching rule and sends exactly one update; redeliveries send nothing more."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pytest_httpserver import HTTPServer

from plugin import clock
from plugin.app import create_app
from plugin.background.jobs import run_source_sync
from plugin.sla.push import push_due
from plugin.store import open_store
from plugin.store.sla_decisions import count_decisions, get_decision
from plugin.store.sla_pushes import list_pushes
from tests.fakes.zendesk import FakeZendesk
from tests.helpers.desks import add_customer, add_ticket, load_zendesk_config
from tests.web.test_webhooks import zendesk_post

pytestmark = pytest.mark.usefixtures("backend")  # once per engine
RULES = """
[[sla.rules]]
name = "refunds-first"
priority = "urgent"
add_tags = ["journey_refund"]
first_response_minutes = 60
[sla.rules.when]
all = [ { fact = "ticket.subject", op = "contains", value = "refund" } ]

[[sla.rules]]
name = "everyone-else"
priority = "low"
[sla.rules.when]
all = []
"""


@pytest.fixture
def zendesk():
    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.start()
    fake = FakeZendesk(server)
    add_customer(fake, 1)
    add_ticket(fake, 100, 1, at=clock.now_seconds() - 86_400)  # history: never rewritten
    yield fake
    server.check_handler_errors()
    server.stop()


@pytest.fixture
def config(tmp_path, monkeypatch, zendesk):
    return load_zendesk_config(monkeypatch, tmp_path, zendesk.base_url, more=RULES)


def puts(fake: FakeZendesk) -> list[tuple[str, dict]]:
    return [(ticket_id, change) for method, ticket_id, change in fake.writes if method == "PUT"]


def test_a_signed_webhook_applies_the_first_matching_rule_and_pushes_once(config, zendesk):
    client = create_app(config).test_client()
    run_source_sync(config, "zendesk")
    assert push_due(config).sent == 0 and puts(zendesk) == []  # the first sync: nothing

    add_ticket(zendesk, 101, 1, at=clock.now_seconds() + 1)
    zendesk.tickets.put(101, {**zendesk._ticket("101"), "subject": "Refund for order 7"})
    bad = zendesk_post(client, {"ticket_id": "101"}, secret="not-the-secret")
    stale = zendesk_post(
        client, {"ticket_id": "101"}, sent_at=datetime.now(UTC) - timedelta(minutes=10)
    )
    assert (bad.status_code, stale.status_code) == (401, 401)
    with open_store(config.database_path) as db:
        assert count_decisions(db) == 0 and list_pushes(db) == []
    assert puts(zendesk) == []

    sent_at = datetime.now(UTC)
    answer = zendesk_post(client, {"ticket_id": "101"}, sent_at=sent_at)
    assert answer.status_code == 200 and answer.get_json()["status"] == "fetched"

    [(ticket_id, change)] = puts(zendesk)
    assert ticket_id == "101" and change["priority"] == "urgent"
    assert "journey_refund" in change["tags"]
    with open_store(config.database_path) as db:
        decision = get_decision(db, "zendesk", "101")
        assert decision["rule"] == "refunds-first"  # first match wins over everyone-else
        assert decision["targets"]["first_response_minutes"] == 60
        assert [p["status"] for p in list_pushes(db)] == ["sent"]

    replay = zendesk_post(client, {"ticket_id": "101"}, sent_at=sent_at)
    assert replay.get_json()["status"] == "duplicate"
    later = sent_at + timedelta(seconds=2)  # the desk delivers the same notice again
    redelivered = zendesk_post(client, {"ticket_id": "101"}, sent_at=later)
    assert redelivered.get_json()["status"] == "fetched"
    run_source_sync(config, "zendesk")
    assert push_due(config).sent == 0
    assert len(puts(zendesk)) == 1
    with open_store(config.database_path) as db:
        assert count_decisions(db) == 1
        assert get_decision(db, "zendesk", "100") is None
