"""POST /webhooks/<source>: signed ticket notices from the desks fetch the ticket now.

journeydesk runs in process (Flask test client); the desks are the fake Zendesk and the
fake Freshdesk on real HTTP servers on 127.0.0.1. Signatures are computed the way the
desks document them, from the raw body.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from pytest_httpserver import HTTPServer

import plugin.web.webhooks as webhooks
from plugin import clock
from plugin.app import create_app
from plugin.background.jobs import run_source_sync
from plugin.config import load_config
from plugin.security import mint_agent_token, sign_generic_webhook
from tests.fakes.freshdesk import API_KEY, FakeFreshdesk
from tests.fakes.zendesk import FakeZendesk
from tests.helpers.config import SECRET
from tests.helpers.desks import (
    WEBHOOK_SECRET,
    add_articles,
    add_customer,
    add_ticket,
    add_view,
    load_zendesk_config,
    zendesk_config,
    zendesk_env,
)

pytestmark = pytest.mark.usefixtures("backend")
FRESHDESK_SECRET = "freshdesk-relay-secret-42"


@pytest.fixture(scope="module")
def servers():
    started = [HTTPServer(host="127.0.0.1", threaded=True) for _ in range(2)]
    for server in started:
        server.start()
    yield started
    for server in started:
        server.stop()


@pytest.fixture
def zendesk(servers):
    servers[0].clear()
    fake = FakeZendesk(servers[0])
    add_articles(fake)
    add_customer(fake, 7)
    yield fake
    fake.delay = 0
    servers[0].check_handler_errors()


@pytest.fixture
def freshdesk(servers):
    fake = FakeFreshdesk(servers[1])
    fake.add_contact(42, email="bea@example.com", name="Bea")
    fake.add_ticket(900, requester_id=42, subject="Invoice question")
    yield fake
    servers[1].check_handler_errors()


@pytest.fixture
def client(tmp_path, zendesk, freshdesk, monkeypatch):
    zendesk_env(monkeypatch)
    monkeypatch.setenv("JD_TEST_FRESHDESK_KEY", API_KEY)
    monkeypatch.setenv("JD_TEST_FRESHDESK_WEBHOOK", FRESHDESK_SECRET)
    others = f"""
        [[connectors]]
        name = "freshdesk"
        type = "freshdesk"
        domain = "acme.freshdesk.com"
        api_key_env = "JD_TEST_FRESHDESK_KEY"
        webhook_secret_env = "JD_TEST_FRESHDESK_WEBHOOK"
        base_url = "{freshdesk.base_url}"
        languages = ["en"]
        [[connectors]]
        name = "quiet"
        type = "demo"
        customers = 5
        """
    config = load_config(zendesk_config(tmp_path, zendesk.base_url, connector=others))
    return create_app(config).test_client()


def zendesk_post(client, payload, *, secret=WEBHOOK_SECRET, sent_at=None, raw=None):
    """POST as Zendesk does: signature = base64(HMAC-SHA256(secret, timestamp + body))."""
    body = raw if raw is not None else json.dumps(payload).encode()
    stamp = (sent_at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = hmac.new(secret.encode(), stamp.encode() + body, hashlib.sha256).digest()
    headers = {
        "X-Zendesk-Webhook-Signature": base64.b64encode(digest).decode(),
        "X-Zendesk-Webhook-Signature-Timestamp": stamp,
        "Content-Type": "application/json",
    }
    return client.post("/webhooks/zendesk", data=body, headers=headers)


def new_ticket(zendesk: FakeZendesk, ticket_id: int = 300) -> None:
    """The customer reads an article, then writes in a minute later."""
    now = clock.now_seconds()
    add_view(zendesk, 7, 501, at=now - 120)
    add_ticket(zendesk, ticket_id, 7, at=now - 60)


def journey(client, ticket_id: int) -> dict:
    token = mint_agent_token(SECRET, source="zendesk", ticket_id=str(ticket_id))
    return client.get(
        f"/api/v1/tickets/zendesk/{ticket_id}/journey",
        headers={"Authorization": f"Bearer {token}"},
    ).get_json()


def test_a_trigger_webhook_stores_the_ticket_and_the_reading_before_it(client, zendesk):
    new_ticket(zendesk)

    response = zendesk_post(client, {"ticket_id": "300"})

    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    assert answer["status"] == "fetched" and answer["ticket_id"] == "300"
    assert answer["history"] == "fetched" and answer["history_records"] == 1
    calls = len(zendesk.requests)
    body = journey(client, 300)  # the agent opens it: already fresh, no desk call
    assert [a["title"] for a in body["articles_before_ticket"]] == ["Invite your team"]
    assert body["stage"]["key"] and body["freshness"]["reason"] == "up_to_date"
    assert len(zendesk.requests) == calls


def test_zendesk_event_shape_and_a_numeric_id_work_too(client, zendesk):
    new_ticket(zendesk, 301)
    event = {
        "type": "zen:event-type:ticket.created",
        "account_id": 1,
        "id": "01HN-EXAMPLE",
        "time": "2026-11-20T10:00:00Z",
        "subject": "zen:ticket:301",
        "detail": {"id": "301", "status": "NEW"},
    }
    assert zendesk_post(client, event).get_json()["status"] == "fetched"
    new_ticket(zendesk, 302)
    assert zendesk_post(client, {"ticket_id": 302}).get_json()["status"] == "fetched"


def test_other_zendesk_events_are_acknowledged_and_ignored(client, zendesk):
    event = {"type": "zen:event-type:user.created", "detail": {"id": "7"}}
    response = zendesk_post(client, event)
    assert response.status_code == 200 and response.get_json()["status"] == "ignored"
    assert zendesk.requests == []


def test_a_ticket_the_desk_does_not_know_is_acknowledged(client, zendesk):
    response = zendesk_post(client, {"ticket_id": "404404"})
    assert response.status_code == 200
    assert response.get_json()["status"] == "ticket_not_found"


@pytest.mark.parametrize(
    "change, code",
    [
        ({"secret": "not-the-secret"}, "signature_bad_signature"),
        ({"sent_at": datetime.now(UTC) - timedelta(minutes=10)}, "signature_stale"),
    ],
)
def test_a_bad_or_replayed_signature_is_refused(client, zendesk, change, code):
    new_ticket(zendesk)
    response = zendesk_post(client, {"ticket_id": "300"}, **change)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == code
    assert zendesk.requests == []  # nothing was fetched for an unauthenticated caller


def test_an_unsigned_call_is_refused(client, zendesk):
    response = client.post("/webhooks/zendesk", json={"ticket_id": "300"})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "signature_missing"


def test_the_signature_covers_the_raw_body(client, zendesk):
    body = b'{"ticket_id": "300"}'
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = hmac.new(WEBHOOK_SECRET.encode(), stamp.encode() + body, hashlib.sha256).digest()
    headers = {
        "X-Zendesk-Webhook-Signature": base64.b64encode(digest).decode(),
        "X-Zendesk-Webhook-Signature-Timestamp": stamp,
    }
    reformatted = b'{"ticket_id":"300"}'  # the same JSON, other bytes
    response = client.post("/webhooks/zendesk", data=reformatted, headers=headers)
    assert response.status_code == 401


@pytest.mark.parametrize(
    "raw",
    [
        b"ticket 300 created",
        b"[300]",
        b"{}",
        b'{"ticket_id": true}',
        b'{"ticket_id": "../../admin"}',
        b'{"ticket_id": ""}',
        b'{"type": "zen:event-type:ticket.created", "detail": {}}',
        b'{"type": 12}',
        b"\xff\xfe",
    ],
)
def test_a_malformed_body_is_a_400_after_the_signature(client, zendesk, raw):
    response = zendesk_post(client, None, raw=raw)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "malformed_body"
    assert zendesk.requests == []


def test_an_unknown_source_is_a_404(client):
    response = client.post("/webhooks/helpscout", json={"ticket_id": "1"})
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "unknown_source"


def test_a_connector_without_a_webhook_secret_takes_no_webhooks(client):
    response = client.post("/webhooks/quiet", json={"ticket_id": "1"})
    assert response.status_code == 403
    assert "webhook_secret_env" in response.get_json()["error"]["message"]


def test_an_oversized_body_is_a_413(client, zendesk):
    response = zendesk_post(
        client, None, raw=b'{"ticket_id": "1", "pad": "' + b"x" * 70_000 + b'"}'
    )
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "body_too_large"


def test_other_desks_sign_with_x_journeydesk_signature(client, freshdesk):
    body = json.dumps({"ticket_id": "900"}).encode()
    headers = {"X-Journeydesk-Signature": sign_generic_webhook(FRESHDESK_SECRET, body)}

    response = client.post("/webhooks/freshdesk", data=body, headers=headers)

    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    assert answer["status"] == "fetched" and answer["history"] == "none"
    token = mint_agent_token(SECRET, source="freshdesk", ticket_id="900")
    body = client.get(
        "/api/v1/tickets/freshdesk/900/journey", headers={"Authorization": f"Bearer {token}"}
    ).get_json()
    assert body["ticket"]["subject"] == "Invoice question"
    assert body["customer"]["email"] == "bea@example.com"


def test_a_zendesk_signature_does_not_open_another_desk(client, freshdesk):
    body = json.dumps({"ticket_id": "900"}).encode()
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = hmac.new(FRESHDESK_SECRET.encode(), stamp.encode() + body, hashlib.sha256).digest()
    headers = {
        "X-Zendesk-Webhook-Signature": base64.b64encode(digest).decode(),
        "X-Zendesk-Webhook-Signature-Timestamp": stamp,
    }
    response = client.post("/webhooks/freshdesk", data=body, headers=headers)
    assert response.status_code == 401


def test_a_slow_desk_gets_a_quick_202_and_the_fetch_finishes_later(client, zendesk, monkeypatch):
    monkeypatch.setattr(webhooks, "BUDGET_SECONDS", 0.3)  # the desk's wait, shortened
    new_ticket(zendesk, 303)
    zendesk.delay = 0.6

    started = time.monotonic()
    response = zendesk_post(client, {"ticket_id": "303"})

    assert response.status_code == 202 and response.get_json()["status"] == "accepted"
    assert time.monotonic() - started < 0.6
    deadline = time.monotonic() + 10
    while not journey(client, 303).get("articles_before_ticket"):
        assert time.monotonic() < deadline, "the background fetch never stored the ticket"
        time.sleep(0.1)


def test_a_desk_rejecting_our_credentials_is_a_502_naming_the_setting(
    tmp_path, zendesk, monkeypatch
):
    config = load_zendesk_config(monkeypatch, tmp_path, zendesk.base_url, token="a-revoked-token")
    client = create_app(config).test_client()
    new_ticket(zendesk)

    response = zendesk_post(client, {"ticket_id": "300"})

    assert response.status_code == 502
    error = response.get_json()["error"]
    assert error["code"] == "desk_error" and "connectors[0].token_env" in error["message"]
    assert "a-revoked-token" not in error["message"]


def test_a_webhook_after_a_sync_reads_only_new_history(client, tmp_path, zendesk):
    """The per-user events cursor the sync stored is where the webhook's fetch starts."""
    add_view(zendesk, 7, 500, at=clock.now_seconds() - 86_400)
    add_ticket(zendesk, 299, 7, at=clock.now_seconds() - 86_000)
    config = load_config(tmp_path / "config.toml")
    run_source_sync(config, "zendesk")
    new_ticket(zendesk)

    answer = zendesk_post(client, {"ticket_id": "300"}).get_json()

    assert answer["history_records"] == 1  # only the new view
    assert zendesk.calls("/api/v2/users/7/events")[-1]["filter[start_time]"]


def test_a_replayed_delivery_is_answered_without_fetching_again(client, zendesk, freshdesk):
    new_ticket(zendesk)
    sent_at = datetime.now(UTC)
    assert zendesk_post(client, {"ticket_id": "300"}, sent_at=sent_at).status_code == 200
    calls = len(zendesk.requests)

    replay = zendesk_post(client, {"ticket_id": "300"}, sent_at=sent_at)  # same bytes, resent

    assert replay.status_code == 200
    assert replay.get_json() == {"source": "zendesk", "ticket_id": "300", "status": "duplicate"}
    assert len(zendesk.requests) == calls
    # our own signature: junk v1 candidates appended do not make a replay look new
    body = json.dumps({"ticket_id": "900"}).encode()
    signed = sign_generic_webhook(FRESHDESK_SECRET, body)
    first = client.post(
        "/webhooks/freshdesk", data=body, headers={"X-Journeydesk-Signature": signed}
    )
    assert first.get_json()["status"] == "fetched"
    padded = {"X-Journeydesk-Signature": signed + ",v1=" + "0" * 64}
    again = client.post("/webhooks/freshdesk", data=body, headers=padded)
    assert again.status_code == 200 and again.get_json()["status"] == "duplicate"


def test_a_delivery_whose_fetch_failed_is_done_again_on_retry(client, zendesk):
    new_ticket(zendesk)
    sent_at = datetime.now(UTC)
    zendesk.fail("/api/v2", 401, times=50)  # the desk refuses us: a 502
    first = zendesk_post(client, {"ticket_id": "300"}, sent_at=sent_at)
    assert first.status_code == 502
    zendesk.faults.clear()
    retry = zendesk_post(client, {"ticket_id": "300"}, sent_at=sent_at)  # the desk retries
    assert retry.status_code == 200 and retry.get_json()["status"] == "fetched"
