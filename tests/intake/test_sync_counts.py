"""A sync counts right: a Zendesk click on a search result is a search touchpoint, not a
second view of the article it leads to (the view fires its own `article_viewed`), and a
ticket the desk deleted answers 410 from the store without asking the desk again.

journeydesk runs in process (Flask test client) against the fake Zendesk on a real
HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import pytest

from plugin import clock
from plugin.app import create_app
from plugin.background.jobs import run_source_sync
from plugin.security import mint_agent_token
from plugin.store import open_db
from plugin.store.history import customer_aggregates
from plugin.store.migrations import migrations
from tests.fakes.zendesk import HELP_CENTER, FakeZendesk, iso
from tests.helpers.config import SECRET
from tests.helpers.desks import (
    ARTICLES,
    add_articles,
    add_customer,
    add_ticket,
    add_view,
    load_zendesk_config,
)

HOUR = 3600
ARTICLE_URL = f"{HELP_CENTER}/hc/en-us/articles/500-Export-your-data-to-CSV"


@pytest.fixture
def fake(server):
    server.clear()
    fake = FakeZendesk(server)
    add_articles(fake)
    add_customer(fake, 1)
    yield fake
    server.check_handler_errors()


@pytest.fixture
def config(tmp_path, fake, monkeypatch):
    return load_zendesk_config(monkeypatch, tmp_path, fake.base_url)


def agent(ticket_id: int) -> dict[str, str]:
    token = mint_agent_token(SECRET, source="zendesk", ticket_id=str(ticket_id))
    return {"Authorization": f"Bearer {token}"}


def add_click(fake: FakeZendesk, user_id: int, article_id: int, *, at: float) -> None:
    fake.add_event(
        user_id,
        "article_search_result_clicked",
        iso(at),
        {
            "article_id": article_id,
            "article": {"display_name": ARTICLES[article_id], "url": ARTICLE_URL},
            "locale": "en-us",
        },
    )


def test_a_search_result_click_and_the_view_it_leads_to_count_one_view(config, fake):
    now = clock.now_epoch()
    for read_at in (now - 3 * HOUR, now - 2 * HOUR):  # found by search, read: twice
        add_click(fake, 1, 500, at=read_at)
        add_view(fake, 1, 500, at=read_at + 5)
    add_ticket(fake, 100, 1, at=now - HOUR)
    run_source_sync(config, "zendesk")
    client = create_app(config).test_client()

    body = client.get("/api/v1/tickets/zendesk/100/journey", headers=agent(100)).get_json()
    guard = client.post(
        "/api/v1/tickets/zendesk/100/check-reply",
        json={"body": f"See {ARTICLE_URL}"},
        headers=agent(100),
    ).get_json()

    assert [(a["article_id"], a["views"]) for a in body["articles_before_ticket"]] == [("500", 2)]
    assert "repeat_reader" not in {s["key"] for s in body["signals"]}  # 2 views, not 4
    assert (body["effort"]["views"], body["effort"]["searches"]) == (2, 0)
    assert [w["views"] for w in guard["warnings"]] == [2]
    clicks = [t for t in body["timeline"] if t["type"] == "search"]
    assert len(clicks) == 2
    assert clicks[0]["properties"]["result_click"] is True
    assert clicks[0]["properties"]["article_id"] == "500"
    db = open_db(config.database_path)
    try:
        (facts,) = customer_aggregates(db, None, now=clock.now_epoch()).values()
    finally:
        db.conn.close()
    assert facts["max_views_same_article_7d"] == 2
    assert facts["articles_read_last_7d"] == 1


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # an SQLite migration
def test_clicks_stored_as_views_by_an_earlier_version_become_searches(config, fake):
    now = clock.now_epoch()
    add_click(fake, 1, 500, at=now - 2 * HOUR)
    add_view(fake, 1, 500, at=now - 2 * HOUR + 5)
    add_ticket(fake, 100, 1, at=now - HOUR)
    run_source_sync(config, "zendesk")
    db = open_db(config.database_path)
    try:
        # What an earlier version wrote for the click, then its migration applied anew.
        db.execute(
            "UPDATE touchpoints SET type = 'article_view', "
            "properties = json_object('via', 'search_result', "
            "'zendesk_event', 'article_search_result_clicked') WHERE type = 'search'"
        )
        db.execute("DELETE FROM dirty_customers")
        db.execute("DELETE FROM _sqlite_migrations WHERE name = '0012_zendesk_clicks_are_searches'")
        migrations.apply(db)
        rows = db.execute(
            "SELECT type, json_extract(properties, '$.result_click'), "
            "json_extract(properties, '$.article_id') FROM touchpoints "
            "WHERE source = 'zendesk' AND article_id IS NOT NULL ORDER BY occurred_at"
        ).fetchall()
        dirty = db.execute("SELECT count(*) FROM dirty_customers").fetchone()[0]
    finally:
        db.conn.close()
    assert rows == [("search", 1, "500"), ("article_view", None, None)]
    assert dirty == 1  # its customer's stage is recomputed


@pytest.mark.parametrize("requester", [1, None])  # Zendesk may drop it from a deletion
def test_a_deleted_ticket_answers_gone_from_the_store_while_the_desk_fails(config, fake, requester):
    now = clock.now_epoch()
    add_ticket(fake, 100, 1, at=now - 2 * HOUR)
    run_source_sync(config, "zendesk")
    deletion = {"status": "deleted", "requester_id": requester, "updated_at": iso(now - HOUR)}
    fake.add_ticket({**fake.tickets.rows[100][1], **deletion})
    run_source_sync(config, "zendesk")
    fake.fail("/api/v2/tickets/100", 503, times=100)
    client = create_app(config).test_client()
    before = len(fake.requests)

    answers = [
        client.get("/api/v1/tickets/zendesk/100/journey", headers=agent(100)),
        client.get("/sidebar/zendesk/100", headers=agent(100)),
        client.get("/api/v1/tickets/zendesk/100/journey", headers=agent(100)),
    ]

    assert [a.status_code for a in answers] == [410, 410, 410]
    assert answers[0].get_json()["error"]["code"] == "ticket_deleted"
    assert fake.requests[before:] == []  # no desk call for a ticket known to be gone
