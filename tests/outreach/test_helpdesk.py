"""The helpdesk channel against the fake Zendesk and Freshdesk on 127.0.0.1: the message
becomes a ticket in the customer's desk, the outbox keeps its id, and desk errors end as
they should (5xx: retried, then failed; 4xx: failed at once with the desk's words)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from plugin import clock
from plugin.outreach.delivery import MAX_ATTEMPTS, deliver_due
from plugin.outreach.engine import run_outreach
from plugin.store import open_store
from plugin.store.outbox import list_messages, status_counts
from tests.fakes.freshdesk import API_KEY, FakeFreshdesk
from tests.fakes.serving import serving
from tests.fakes.zendesk import EMAIL, FakeZendesk
from tests.helpers.desks import TOKEN_ENV, zendesk_env
from tests.outreach.conftest import outreach_config

pytestmark = pytest.mark.usefixtures("backend")

CHECK_IN = """
[[outreach.rules]]
name = "check-in"
enabled = true
schedule = "0 9 * * *"
channel = "helpdesk"
subject.en = "How is it going, {{ customer.first_name }}?"
subject.es = "¿Qué tal, {{ customer.first_name }}?"
body.en = "Hi {{ customer.first_name }}, can we help?"
body.es = "Hola, {{ customer.first_name }}: ¿le ayudamos?"
cooldown_days = 30
[outreach.rules.audience]
all = [ { fact = "days_since_last_activity", op = "gte", value = 60 } ]
"""

FD_KEY_ENV = "JD_TEST_FD_KEY"


@pytest.fixture
def fake_zendesk():
    with serving() as server:
        yield FakeZendesk(server)


@pytest.fixture
def fake_freshdesk():
    with serving() as server:
        yield FakeFreshdesk(server)


def _through(tmp_path, seeded_demo, connector: str, name: str):
    """The demo's customers, now known as users of the desk `name` (and no other)."""
    extra = f"""
    [[connectors]]
    {connector}
    """
    config = outreach_config(tmp_path, seeded_demo, port=1, rules=CHECK_IN, extra=extra)
    with open_store(config.database_path) as db, db.atomic():
        db.conn.execute(
            "UPDATE customer_identities SET kind = ? WHERE kind = 'user:demo'", [f"user:{name}"]
        )
    return config


def zendesk_outreach(tmp_path, seeded_demo, monkeypatch, fake: FakeZendesk):
    zendesk_env(monkeypatch)
    connector = f"""name = "zd"
    type = "zendesk"
    subdomain = "acme"
    email = "{EMAIL}"
    token_env = "{TOKEN_ENV}"
    base_url = "{fake.base_url}"
    max_retries = 0
    """
    return _through(tmp_path, seeded_demo, connector, "zd")


def freshdesk_outreach(tmp_path, seeded_demo, monkeypatch, fake, *, mailbox: int | None = 7):
    monkeypatch.setenv(FD_KEY_ENV, API_KEY)
    connector = f"""name = "fd"
    type = "freshdesk"
    domain = "acme"
    api_key_env = "{FD_KEY_ENV}"
    base_url = "{fake.base_url}"
    max_retries = 0
    """ + (f"email_config_id = {mailbox}\n" if mailbox else "")
    return _through(tmp_path, seeded_demo, connector, "fd")


def outbox(config, status=None):
    with open_store(config.database_path) as db:
        return list_messages(db, status=status, limit=10_000)


def test_zendesk_gets_a_ticket_per_message_with_the_customer_as_requester(
    tmp_path, seeded_demo, monkeypatch, fake_zendesk
):
    config = zendesk_outreach(tmp_path, seeded_demo, monkeypatch, fake_zendesk)

    report = run_outreach(config)

    sent = outbox(config, "sent")
    assert report.delivery.sent == len(sent) > 0 and report.delivery.failed == 0
    users = {u["id"]: u for _, u in fake_zendesk.users.rows.values()}
    for message in sent:
        ticket = fake_zendesk.tickets.rows[int(message["external_id"])][1]
        assert message["recipient"].startswith("zd:")
        assert message["outcome"] == f"ticket {ticket['id']} in zd"
        assert ticket["subject"] == message["subject"]
        (comment,) = fake_zendesk.comments[ticket["id"]]
        assert comment == {"body": message["body_text"], "public": True}
    with open_store(config.database_path) as db:
        from plugin.store.customers import contact_details

        emails = {cid: c[1].lower() for cid, c in contact_details(db).items() if c[1]}
    # the demo's user ids are not Zendesk's: the requester is found or created by address
    assert {
        users[fake_zendesk.tickets.rows[int(m["external_id"])][1]["requester_id"]]["email"]
        for m in sent
    } == {emails[m["customer_id"]] for m in sent}
    assert set(fake_zendesk.idempotency) == {f"journeydesk-outbox-{m['id']}" for m in sent}


def test_a_zendesk_5xx_is_retried_without_a_second_ticket_then_fails(
    tmp_path, seeded_demo, monkeypatch, fake_zendesk
):
    config = zendesk_outreach(tmp_path, seeded_demo, monkeypatch, fake_zendesk)
    fake_zendesk.fail("/api/v2/tickets", 503, times=1_000)
    start = clock.now()

    first = run_outreach(config)
    assert first.delivery.sent == 0 and first.delivery.failed == 0
    assert first.delivery.retrying == len(outbox(config)) > 0

    for hours in (1, 2, 3, 4):  # past every backoff
        with clock.moved_to(start + timedelta(hours=hours)):
            deliver_due(config)
    failed = outbox(config, "failed")
    assert status_counts_of(config) == {"failed": len(failed)}
    assert all(m["attempts"] == MAX_ATTEMPTS for m in failed)
    assert all("HTTP 503" in m["error"] for m in failed)


def test_a_zendesk_5xx_after_the_desk_acted_does_not_open_a_second_ticket(
    tmp_path, seeded_demo, monkeypatch, fake_zendesk
):
    config = zendesk_outreach(tmp_path, seeded_demo, monkeypatch, fake_zendesk)
    fake_zendesk.fail_after_create = 1  # the first ticket is created, then a 500
    start = clock.now()

    first = run_outreach(config)
    assert first.delivery.retrying == 1 and first.delivery.sent == len(outbox(config)) - 1
    created = len(fake_zendesk.tickets.rows)

    with clock.moved_to(start + timedelta(minutes=2)):
        again = deliver_due(config)

    assert again.sent == 1
    assert len(fake_zendesk.tickets.rows) == created  # the retry found the first ticket
    assert status_counts_of(config) == {"sent": len(outbox(config))}
    externals = [m["external_id"] for m in outbox(config)]
    assert len(externals) == len(set(externals))


def test_a_zendesk_4xx_fails_at_once_with_the_desks_message(
    tmp_path, seeded_demo, monkeypatch, fake_zendesk
):
    config = zendesk_outreach(tmp_path, seeded_demo, monkeypatch, fake_zendesk)
    body = '{"error": "RecordInvalid", "description": "Requester is suspended"}'
    fake_zendesk.fail("/api/v2/tickets", 422, times=1_000, body=body)

    report = run_outreach(config)

    failed = outbox(config, "failed")
    assert report.delivery.failed == len(failed) > 0 and report.delivery.retrying == 0
    assert all(m["attempts"] == 1 for m in failed)
    assert all("HTTP 422" in m["error"] and "Requester is suspended" in m["error"] for m in failed)


def test_freshdesk_sends_an_outbound_email_from_the_mailbox(
    tmp_path, seeded_demo, monkeypatch, fake_freshdesk
):
    config = freshdesk_outreach(tmp_path, seeded_demo, monkeypatch, fake_freshdesk)

    report = run_outreach(config)

    sent = outbox(config, "sent")
    assert report.delivery.sent == len(sent) > 0
    contacts = {c["id"]: c for c in fake_freshdesk.contacts.values()}
    for message in sent:
        ticket = fake_freshdesk.tickets[int(message["external_id"])]
        assert message["outcome"] == f"ticket {ticket['id']} in fd"
        assert ticket["subject"] == message["subject"]
        assert ticket["email_config_id"] == 7 and ticket["source"] == 10
        assert ticket["status"] == 5  # created closed: no SLA timer
        assert contacts[ticket["requester_id"]]["email"]
        first_words = message["body_text"].split(",")[0]
        assert first_words in ticket["description"]


def test_freshdesk_errors(tmp_path, seeded_demo, monkeypatch, fake_freshdesk):
    config = freshdesk_outreach(tmp_path, seeded_demo, monkeypatch, fake_freshdesk)
    fake_freshdesk.fail(502, path="outbound_email", times=1_000)
    start = clock.now()

    assert run_outreach(config).delivery.retrying > 0  # a 5xx: later
    for hours in (1, 2, 3, 4):
        with clock.moved_to(start + timedelta(hours=hours)):
            deliver_due(config)
    failed = outbox(config, "failed")
    assert status_counts_of(config) == {"failed": len(failed)}
    assert all(m["attempts"] == MAX_ATTEMPTS and "HTTP 502" in m["error"] for m in failed)


def test_freshdesk_without_a_mailbox_fails_at_once_naming_the_setting(
    tmp_path, seeded_demo, monkeypatch, fake_freshdesk
):
    config = freshdesk_outreach(tmp_path, seeded_demo, monkeypatch, fake_freshdesk, mailbox=None)

    report = run_outreach(config)

    failed = outbox(config, "failed")
    assert report.delivery.failed == len(failed) > 0 and report.delivery.retrying == 0
    assert all("email_config_id" in m["error"] and m["attempts"] == 1 for m in failed)
    assert fake_freshdesk.paths("POST") == []


def test_freshdesk_4xx_fails_with_the_desks_message(
    tmp_path, seeded_demo, monkeypatch, fake_freshdesk
):
    config = freshdesk_outreach(tmp_path, seeded_demo, monkeypatch, fake_freshdesk)
    error = {"field": "email", "message": "blocked", "code": "invalid_value"}
    body = json.dumps({"description": "Validation failed", "errors": [error]})
    fake_freshdesk.fail(
        400,
        path="outbound_email",
        times=1_000,
        body=body,
        headers={"Content-Type": "application/json"},
    )

    report = run_outreach(config)

    failed = outbox(config, "failed")
    assert report.delivery.failed == len(failed) > 0 and report.delivery.retrying == 0
    assert all("HTTP 400" in m["error"] and "blocked" in m["error"] for m in failed)


def status_counts_of(config) -> dict[str, int]:
    with open_store(config.database_path) as db:
        return status_counts(db)
