"""Fresh when it matters: the first look at a ticket shows what the customer read just
before writing, even with no sync in between; a slow desk gives a stale answer in time.

journeydesk runs in process (Flask test client) against the fake Zendesk on a real
HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import time

import pytest

from plugin import clock
from plugin.app import create_app
from plugin.background.jobs import run_source_sync
from plugin.security import mint_agent_token
from plugin.web.errors import RETRY_AFTER_SECONDS
from tests.fakes.zendesk import FakeZendesk
from tests.helpers.config import SECRET
from tests.helpers.desks import (
    add_reader_with_ticket,
    add_ticket,
    add_view,
    load_zendesk_config,
)

DAY = 86_400


@pytest.fixture
def fake(server):
    server.clear()
    fake = FakeZendesk(server)
    add_reader_with_ticket(fake)
    yield fake
    fake.delay = 0
    server.check_handler_errors()


@pytest.fixture
def config(tmp_path, fake, monkeypatch):
    config = load_zendesk_config(monkeypatch, tmp_path, fake.base_url)
    run_source_sync(config, "zendesk")  # the regular sync has run: desk and store agree
    return config


@pytest.fixture
def client(config):
    return create_app(config).test_client()


def journey(client, ticket_id: int):
    token = mint_agent_token(SECRET, source="zendesk", ticket_id=str(ticket_id))
    return client.get(
        f"/api/v1/tickets/zendesk/{ticket_id}/journey",
        headers={"Authorization": f"Bearer {token}"},
    )


def read_before(body: dict) -> list[str]:
    return [a["title"] for a in body["articles_before_ticket"]]


def test_the_first_look_at_a_new_ticket_lists_the_article_read_just_before(client, fake):
    now = clock.now_seconds()
    add_view(fake, 1, 501, at=now - 120)  # read two minutes before writing...
    add_ticket(fake, 101, 1, at=now - 60)  # ...then wrote in; no sync since

    response = journey(client, 101)

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert read_before(body) == ["Invite your team", "Export your data to CSV"]
    assert body["articles_before_ticket"][0]["minutes_before_ticket"] == 1
    assert body["ticket"]["subject"] == "Question 101"
    assert body["freshness"]["stale"] is False and body["freshness"]["reason"] == "fetched"


def test_a_fresh_history_costs_no_desk_call(client, fake):
    add_ticket(fake, 101, 1, at=clock.now_seconds() - 60)
    assert journey(client, 101).get_json()["freshness"]["reason"] == "fetched"
    calls = len(fake.requests)

    body = journey(client, 101).get_json()

    assert body["freshness"] == {
        "stale": False,
        "fetched_at": body["freshness"]["fetched_at"],
        "reason": "up_to_date",
    }
    assert len(fake.requests) == calls


def test_a_synced_ticket_with_older_history_is_fetched_first(client, config, fake):
    time.sleep(1.1)  # the ticket is created after the sync read the requester's history
    add_view(fake, 1, 502, at=clock.now_seconds() - 30)
    add_ticket(fake, 102, 1, at=clock.now_seconds())
    run_source_sync(config, "zendesk", streams=("customers", "tickets"))  # not the history

    body = journey(client, 102).get_json()

    assert read_before(body)[0] == "Cancel a plan"
    assert body["freshness"]["reason"] == "fetched"
    events_calls = [c for c in fake.calls("/events")]
    assert events_calls[-1]["filter[start_time]"]  # from the stored cursor: nothing twice


def test_a_slow_desk_gets_a_stale_answer_within_the_budget(client, config, fake):
    time.sleep(1.1)
    add_view(fake, 1, 502, at=clock.now_seconds() - 30)
    add_ticket(fake, 102, 1, at=clock.now_seconds())
    run_source_sync(config, "zendesk", streams=("customers", "tickets"))
    fake.delay = 3.0

    started = time.monotonic()
    response = journey(client, 102)
    elapsed = time.monotonic() - started

    assert response.status_code == 200
    body = response.get_json()
    assert elapsed < 3.5, f"answered after {elapsed:.1f} s"
    assert body["freshness"]["stale"] is True and body["freshness"]["reason"] == "desk_slow"
    assert body["freshness"]["fetched_at"] is not None  # when the sync last read it
    assert read_before(body) == ["Export your data to CSV"]  # what the store had

    # The fetch went on in the background: a later look is fresh and lists the article.
    fake.delay = 0
    deadline = time.monotonic() + 10
    while (body := journey(client, 102).get_json())["freshness"]["stale"]:
        assert time.monotonic() < deadline, body["freshness"]
    assert read_before(body)[0] == "Cancel a plan"


def test_a_new_ticket_on_a_slow_desk_is_a_503_asking_to_come_back(client, fake):
    """Nothing stored to answer with yet: 503 `desk_slow` with Retry-After, as every 503."""
    add_ticket(fake, 105, 1, at=clock.now_seconds())
    fake.delay = 3.0

    response = journey(client, 105)

    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "desk_slow"
    assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    fake.delay = 0  # the fetch went on in the background: a later look finds the ticket
    deadline = time.monotonic() + 10
    while (later := journey(client, 105)).status_code == 503:
        assert time.monotonic() < deadline, later.get_json()
    assert later.status_code == 200


def test_a_failing_desk_gives_a_stale_answer_not_an_error(client, config, fake):
    time.sleep(1.1)
    add_ticket(fake, 102, 1, at=clock.now_seconds())
    run_source_sync(config, "zendesk", streams=("customers", "tickets"))
    fake.fail("/events", 500)

    response = journey(client, 102)

    assert response.status_code == 200
    assert response.get_json()["freshness"]["reason"] == "desk_error"


def test_a_ticket_the_desk_does_not_know_is_a_404(client, fake):
    response = journey(client, 999)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "ticket_not_found"


def test_the_sidebar_page_fetches_too(client, fake):
    add_view(fake, 1, 501, at=clock.now_seconds() - 120)
    add_ticket(fake, 103, 1, at=clock.now_seconds() - 60)
    token = mint_agent_token(SECRET, source="zendesk", ticket_id="103")

    page = client.get(f"/sidebar/zendesk/103?token={token}")

    assert page.status_code == 200
    assert "Invite your team" in page.get_data(as_text=True)


def test_a_new_ticket_on_a_failing_desk_is_a_clear_502(client, fake):
    fake.fail("/api/v2/tickets/104", 500)

    response = journey(client, 104)

    assert response.status_code == 502
    assert response.get_json()["error"]["code"] == "desk_error"
