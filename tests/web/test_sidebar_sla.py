"""The SLA decision in the ticket's journey (JSON API and sidebar page), in English and
Spanish: a decision shows as one line with its reasons; a ticket without one shows none."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from markupsafe import escape
from pytest_httpserver import HTTPServer

from plugin import clock
from plugin.app import create_app
from plugin.background.jobs import run_source_sync
from plugin.config import Config
from plugin.security import mint_agent_token
from tests.fakes.zendesk import FakeZendesk
from tests.helpers.config import SECRET
from tests.helpers.desks import add_customer, add_ticket, load_zendesk_config

pytestmark = pytest.mark.usefixtures("backend")

RULES = """
[security]
secret_env = "JD_TEST_SLA_SECRET"
[[sla.rules]]
name = "refunds-first"
priority = "urgent"
add_tags = ["journey_refund"]
first_response_minutes = 60
resolution_minutes = 480
[sla.rules.when]
all = [ { fact = "ticket.subject", op = "contains", value = "refund" } ]
"""


@pytest.fixture(scope="module")
def server():
    started = HTTPServer(host="127.0.0.1", threaded=True)
    started.start()
    yield started
    started.stop()


@pytest.fixture
def client(server, tmp_path, monkeypatch):
    yield create_app(decided_desk(server, tmp_path, monkeypatch)).test_client()
    server.check_handler_errors()


def decided_desk(server: HTTPServer, tmp_path, monkeypatch) -> Config:
    """A Zendesk desk connected before ticket 100 was written, then tickets 101 (a refund:
    raised to urgent) and 102 (no rule matched) synced after: the config, synced."""
    server.clear()
    zendesk = FakeZendesk(server)
    add_customer(zendesk, 1)
    add_ticket(zendesk, 100, 1, at=clock.now_seconds() - 86_400)  # before the connector
    monkeypatch.setenv("JD_TEST_SLA_SECRET", SECRET)
    config = load_zendesk_config(monkeypatch, tmp_path, zendesk.base_url, more=RULES)
    run_source_sync(config, "zendesk")
    for ticket_id, subject in ((101, "Refund please"), (102, "How do I export")):
        add_ticket(zendesk, ticket_id, 1, at=clock.now_seconds() + 1)
        raw = zendesk._ticket(str(ticket_id))
        zendesk.tickets.put(ticket_id, {**raw, "subject": subject, "priority": "normal"})
    run_source_sync(config, "zendesk")
    return config


def get(client, path: str, ticket_id: int, lang: str):
    token = mint_agent_token(SECRET, source="zendesk", ticket_id=str(ticket_id))
    return client.get(f"{path}?lang={lang}", headers={"Authorization": f"Bearer {token}"})


def api(client, ticket_id: int, lang: str = "en") -> dict:
    answer = get(client, f"/api/v1/tickets/zendesk/{ticket_id}/journey", ticket_id, lang)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def page(client, ticket_id: int, lang: str = "en") -> str:
    answer = get(client, f"/sidebar/zendesk/{ticket_id}", ticket_id, lang)
    assert answer.status_code == 200
    return answer.get_data(as_text=True)


def sla_line(html: str) -> str | None:
    found = re.search(r'<section class="sla [^"]*".*?</section>', html, flags=re.S)
    return found.group(0) if found else None


@pytest.mark.parametrize(
    ("lang", "summary"),
    [
        (
            "en",
            'Priority raised to urgent: ticket.subject = "Refund please" (contains "refund"); '
            "tagged journey_refund; first reply within 1 h, resolution within 8 h",
        ),
        (
            "es",
            'Prioridad elevada a urgente: ticket.subject = "Refund please" (contiene "refund"); '
            "etiquetas añadidas: journey_refund; primera respuesta en 1 h, resolución en 8 h",
        ),
    ],
)
def test_a_decided_ticket_shows_its_decision_in_the_api_and_the_sidebar(client, lang, summary):
    body = api(client, 101, lang)
    sla = body["sla"]
    assert sla["summary"] == summary
    assert sla["rule"] == "refunds-first" and sla["change"] == "raised"
    assert (sla["priority_before"], sla["priority_after"]) == ("normal", "urgent")
    assert sla["tags_added"] == ["journey_refund"]
    targets = sla["targets"]
    assert (targets["first_response_minutes"], targets["resolution_minutes"]) == (60, 480)
    opened = datetime.fromisoformat(body["ticket"]["created_at"].replace("Z", "+00:00"))
    due = datetime.fromisoformat(targets["first_response_due"].replace("Z", "+00:00"))
    assert due - opened == timedelta(minutes=60)  # this desk counts calendar minutes
    assert sla["decided_at"].startswith(clock.now().date().isoformat())

    line = sla_line(page(client, 101, lang))
    assert line is not None and 'class="sla sla-raised"' in line
    assert str(escape(summary)) in line


@pytest.mark.parametrize(
    ("lang", "said"), [("en", "No SLA rule matched"), ("es", "Ninguna regla de SLA coincidió")]
)
def test_a_ticket_no_rule_matched_says_so_quietly(client, lang, said):
    sla = api(client, 102, lang)["sla"]
    assert sla["rule"] is None and sla["change"] is None and sla["summary"] == said
    line = sla_line(page(client, 102, lang))
    assert 'class="sla sla-none"' in line and said in line


def test_a_ticket_from_before_the_connector_has_no_decision_and_no_line(client):
    assert api(client, 100)["sla"] is None
    assert sla_line(page(client, 100)) is None
