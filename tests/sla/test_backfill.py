"""`journeydesk sla apply --since DATE`: the rules in force applied on purpose to a desk's
history, after a preview and a question; against a local server speaking Zendesk's API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner
from pytest_httpserver import HTTPServer

from plugin import clock
from plugin.background.jobs import run_source_sync
from plugin.cli import main
from plugin.store import open_store
from plugin.store.sla_decisions import count_decisions, get_decision
from tests.fakes.zendesk import FakeZendesk
from tests.helpers.desks import add_customer, add_ticket, load_zendesk_config

pytestmark = pytest.mark.usefixtures("backend")  # once per engine
RULES = """
[[sla.rules]]
name = "refunds-first"
priority = "urgent"
add_tags = ["journey_refund"]
[sla.rules.when]
all = [ { fact = "ticket.subject", op = "contains", value = "refund" } ]
"""
DAY = 86_400


@pytest.fixture
def zendesk():
    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.start()
    fake = FakeZendesk(server)
    add_customer(fake, 1)
    now = clock.now_seconds()
    tickets = {
        100: ("Refund of last year", now - 40 * DAY, {}),  # before --since
        101: ("Refund please", now - 5 * DAY, {}),
        102: ("Refund, solved already", now - 4 * DAY, {"status": "solved"}),
        103: ("How do I export?", now - 3 * DAY, {}),
        104: ("Refund again", now - 2 * DAY, {"priority": "urgent", "tags": ["journey_refund"]}),
    }
    for ticket_id, (subject, at, fields) in tickets.items():
        add_ticket(fake, ticket_id, 1, at=at)
        fake.tickets.put(ticket_id, {**fake._ticket(str(ticket_id)), "subject": subject, **fields})
    yield fake
    server.check_handler_errors()
    server.stop()


@pytest.fixture
def config(tmp_path, monkeypatch, zendesk):
    config = load_zendesk_config(monkeypatch, tmp_path, zendesk.base_url, more=RULES)
    run_source_sync(config, "zendesk")  # the first sync: history, decided never
    return config


def since() -> str:
    return (clock.now() - timedelta(days=10)).date().isoformat()


def apply(config, *args: str, answer: str | None = None):
    return CliRunner().invoke(
        main, ["sla", "apply", "--config", config.path, "--since", since(), *args], input=answer
    )


def puts(fake: FakeZendesk) -> list[tuple[str, dict]]:
    return [(ticket_id, change) for method, ticket_id, change in fake.writes if method == "PUT"]


def test_the_preview_says_what_would_change_and_no_applies_nothing(config, zendesk):
    result = apply(config, answer="n\n")

    assert result.exit_code == 0, result.output
    assert "no SLA decision yet: 3 (zendesk 3)" in result.output
    assert "Would change at the desk: 1 ticket." in result.output
    assert "priority none → urgent: 1" in result.output or "→ urgent: 1" in result.output
    assert 'zendesk #101 "Refund please"' in result.output
    assert "1 matched no rule" in result.output
    assert "Nothing applied." in result.output
    with open_store(config.database_path) as db:
        assert count_decisions(db) == 0
    assert puts(zendesk) == []


def test_yes_decides_the_unsolved_tickets_since_the_date_and_pushes_the_changes(config, zendesk):
    result = apply(config, "--yes")

    assert result.exit_code == 0, result.output
    assert "Stored 3 decisions; 1 updates queued." in result.output
    assert "Pushed 1 updates" in result.output
    [(ticket_id, change)] = puts(zendesk)
    assert ticket_id == "101" and change["priority"] == "urgent"
    with open_store(config.database_path) as db:
        assert get_decision(db, "zendesk", "101")["rule"] == "refunds-first"
        assert get_decision(db, "zendesk", "103")["rule"] is None
        assert get_decision(db, "zendesk", "104")["tags_added"] == []  # had it already
        assert get_decision(db, "zendesk", "100") is None  # before --since
        assert get_decision(db, "zendesk", "102") is None  # solved

    again = apply(config, "--yes")
    assert "no SLA decision yet: 0." in again.output
    assert len(puts(zendesk)) == 1


def test_without_rules_or_with_a_bad_date_it_says_what_to_fix(tmp_path, monkeypatch, zendesk):
    bare = load_zendesk_config(monkeypatch, tmp_path, zendesk.base_url)
    result = apply(bare, "--yes")
    assert result.exit_code == 1
    assert "No SLA rules are in force" in result.output and "Traceback" not in result.output

    bad = CliRunner().invoke(
        main, ["sla", "apply", "--config", bare.path, "--since", "last tuesday"]
    )
    assert bad.exit_code == 2 and "write YYYY-MM-DD" in bad.output
    unknown = apply(bare, "--source", "nowhere")
    assert unknown.exit_code == 1 and "No connector named 'nowhere'" in unknown.output
