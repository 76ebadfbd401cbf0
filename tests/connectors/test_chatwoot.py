"""The Chatwoot connector against the fake Chatwoot (its documented API on 127.0.0.1)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.chatwoot import ChatwootConnector
from connectors.errors import AuthError, ConnectorError, FeatureUnavailableError
from connectors.protocol import Connector
from connectors.records import Note
from tests.fakes.chatwoot import ACCOUNT_ID, TOKEN, Contact, FakeChatwoot
from tests.fakes.serving import serving

CREATED = 1_795_000_000


@pytest.fixture(scope="module")
def server():
    with serving() as running:
        yield running


@pytest.fixture
def fake(server) -> FakeChatwoot:
    return FakeChatwoot(server)


def connect(fake: FakeChatwoot, token: str = TOKEN) -> ChatwootConnector:
    return ChatwootConnector("chatwoot", fake.base_url, ACCOUNT_ID, token)


def test_a_conversation_of_the_contact_becomes_a_ticket_and_a_customer(fake):
    ana = Contact(77, "Ana Díaz", "Ana@Example.com", identifier="crm-77")
    fake.add_conversation(12, ana, created_at=CREATED, status="snoozed", channel="Channel::Email")
    ticket, customer = connect(fake).confirm_conversation("12", "77")
    assert (customer.source_id, customer.email, customer.name) == (
        "77",
        "Ana@Example.com",
        "Ana Díaz",
    )
    assert customer.external_id == "crm-77"
    assert ticket.id == "12" and ticket.requester.source_id == "77"
    assert ticket.created_at == datetime.fromtimestamp(CREATED, UTC)
    assert (ticket.status, ticket.channel) == ("hold", "email")
    assert ticket.subject == "Hi, I cannot export my data to CSV"


@pytest.mark.parametrize(
    "conversation, contact",
    [("12", "78"), ("13", "77"), ("14", "77"), ("12x", "77"), ("12", ""), ("-1", "77")],
)
def test_anything_but_this_conversation_of_this_contact_is_not_confirmed(
    fake, conversation, contact
):
    fake.add_conversation(12, Contact(77, "Ana", "ana@example.com"), created_at=CREATED)
    fake.add_conversation(
        13, Contact(77, "Ana", "ana@example.com"), created_at=CREATED, account_id=9
    )
    fake.add_conversation(14, Contact(77, "Ana", "ana@example.com"), created_at=CREATED)
    fake.forbid(14)
    assert connect(fake).confirm_conversation(conversation, contact) is None


def test_a_rejected_token_is_an_auth_error_that_never_shows_the_token(fake):
    fake.add_conversation(12, Contact(77, "Ana", "ana@example.com"), created_at=CREATED)
    with pytest.raises(AuthError) as caught:
        connect(fake, token="wrong-token-123456").confirm_conversation("12", "77")
    assert "token_env" in str(caught.value) and "wrong-token-123456" not in str(caught.value)


def test_an_unreachable_chatwoot_fails_fast():
    connector = ChatwootConnector("chatwoot", "http://127.0.0.1:9", ACCOUNT_ID, TOKEN)
    connector.http._sleep = lambda _s: None  # no real backoff wait in a test
    with pytest.raises(ConnectorError):
        connector.confirm_conversation("1", "2")


def test_it_is_a_connector_with_nothing_to_sync(fake):
    connector = connect(fake)
    assert isinstance(connector, Connector)
    assert [list(getattr(connector, s)(None)) for s in ("customers", "tickets")] == [[], []]
    assert list(connector.articles(None)) == list(connector.touchpoints(None)) == []
    with pytest.raises(FeatureUnavailableError):
        connector.update_ticket("12", priority="high")
    assert fake.calls() == 0


def test_the_journey_note_is_a_private_message_found_again_by_its_marker(fake):
    conversation = fake.add_conversation(14, Contact(5, "Eva", None), created_at=CREATED)
    for number in range(30):  # more than one page of messages before the note
        conversation.messages.append({"id": number + 1, "content": f"message {number}"})
    connector = connect(fake)
    assert not connector.has_note("14", "jd-note:chatwoot:14")

    connector.post_note(
        "14",
        Note(
            html="<p>x</p>",
            text="Stage: Purchase\njd-note:chatwoot:14",
            marker="jd-note:chatwoot:14",
        ),
    )
    for number in range(30, 60):  # the note is older than the latest page now
        conversation.messages.append({"id": number + 100, "content": f"message {number}"})

    note = next(m for m in conversation.messages if "jd-note" in m["content"])
    assert note["private"] is True and note["message_type"] == 1
    assert note["content"].startswith("Stage: Purchase")
    assert connector.has_note("14", "jd-note:chatwoot:14")
    assert not connector.has_note("14", "jd-note:chatwoot:15")
