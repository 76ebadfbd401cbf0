"""A user merge made in the help desk is followed: the two people journeydesk knew become
one customer, whose journey carries the reading history of both.

Zendesk deactivates the merged-away user and moves its tickets to the survivor;
Freshdesk keeps the merged contacts' addresses on the survivor (`other_emails`). Each
desk is the fake on 127.0.0.1, synced with `run_source_sync`; the journey is read back
through the agent API.
"""

from __future__ import annotations

from plugin import clock
from plugin.app import create_app
from plugin.background.jobs import run_source_sync
from plugin.config import load_config
from plugin.security import mint_agent_token
from plugin.store import open_db
from tests.fakes.freshdesk import API_KEY, FakeFreshdesk
from tests.fakes.zendesk import FakeZendesk, iso
from tests.helpers.config import SECRET
from tests.helpers.desks import (
    add_articles,
    add_customer,
    add_ticket,
    add_view,
    freshdesk_config,
    load_zendesk_config,
)

DAY = 86_400


def journey(config, source: str, ticket_id: str) -> dict:
    client = create_app(config).test_client()
    token = mint_agent_token(SECRET, source=source, ticket_id=ticket_id)
    answer = client.get(
        f"/api/v1/tickets/{source}/{ticket_id}/journey",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def merges(config) -> list[tuple[int, int, str]]:
    db = open_db(config.database_path, migrate=False)
    try:
        return [tuple(r) for r in db.execute("SELECT * FROM customer_merges").fetchall()]
    finally:
        db.conn.close()


def test_a_zendesk_user_merge_joins_the_two_histories(server, tmp_path, monkeypatch):
    server.clear()
    fake = FakeZendesk(server)
    add_articles(fake)
    now = clock.now_seconds()
    add_customer(fake, 1)  # the survivor
    add_customer(fake, 2)  # a duplicate account of the same person
    add_view(fake, 2, 500, at=now - 3 * DAY)  # read while signed in as the duplicate
    add_view(fake, 1, 501, at=now - 2 * DAY)
    add_ticket(fake, 20, 2, at=now - DAY)
    add_ticket(fake, 10, 1, at=now - DAY + 60)
    config = load_zendesk_config(monkeypatch, tmp_path, fake.base_url)
    run_source_sync(config, "zendesk")
    before = [a["title"] for a in journey(config, "zendesk", "10")["articles_before_ticket"]]
    assert before == ["Invite your team"]

    # An agent merges user 2 into user 1: Zendesk deactivates 2 and moves its tickets.
    later = iso(now - 90)
    fake.add_user({**fake.users.rows[2][1], "active": False, "updated_at": later})
    fake.add_ticket({**fake.tickets.rows[20][1], "requester_id": 1, "updated_at": later})
    run_source_sync(config, "zendesk")

    body = journey(config, "zendesk", "10")
    titles = [a["title"] for a in body["articles_before_ticket"]]
    assert titles == ["Invite your team", "Export your data to CSV"]
    assert body["customer"]["email"] == "customer1@example.com"
    assert journey(config, "zendesk", "20")["customer"]["id"] == body["customer"]["id"]
    (merge,) = merges(config)
    assert merge[3] == "merged in zendesk: its tickets moved to the surviving user"


def test_a_requester_changed_by_hand_is_not_a_merge(server, tmp_path, monkeypatch):
    server.clear()
    fake = FakeZendesk(server)
    now = clock.now_seconds()
    add_customer(fake, 1)
    add_customer(fake, 2)
    add_ticket(fake, 20, 2, at=now - DAY)
    config = load_zendesk_config(monkeypatch, tmp_path, fake.base_url)
    run_source_sync(config, "zendesk")

    fake.add_ticket({**fake.tickets.rows[20][1], "requester_id": 1, "updated_at": iso(now - 90)})
    run_source_sync(config, "zendesk")

    assert merges(config) == []
    assert journey(config, "zendesk", "20")["customer"]["email"] == "customer1@example.com"


def test_a_freshdesk_contact_merge_joins_the_portal_history(server, tmp_path):
    fake = FakeFreshdesk(server)
    fake.add_contact(1, email="ana@example.com", name="Ana")
    fake.add_contact(2, email="ana.work@example.com", name="Ana (work)")
    ticket = fake.add_ticket(requester_id=1)["id"]
    category = fake.add_category({"en": "Start"})
    article = fake.add_article(fake.add_folder(category, {"en": "Basics"}), {"en": "Export"})
    path = freshdesk_config(
        tmp_path,
        fake.base_url,
        """
        languages = ["en"]
        [[ingest.keys]]
        name = "portal"
        key_env = "JD_PORTAL_KEY"
        source = "support"
        """,
    )
    config = load_config(
        path, env={"JOURNEYDESK_SECRET": SECRET, "JD_FD_KEY": API_KEY, "JD_PORTAL_KEY": "k" * 20}
    )
    run_source_sync(config, "support")
    view = {
        "id": "e1",
        "type": "article_view",
        "occurred_at": fake.now.isoformat(),
        "customer": {"email": "ana.work@example.com"},
        "article": {"id": str(article)},
    }
    posted = (
        create_app(config)
        .test_client()
        .post(
            "/api/v1/events",
            json={"events": [view]},
            headers={"Authorization": "Bearer " + "k" * 20},
        )
    )
    assert posted.get_json()["accepted"] == 1
    assert journey(config, "support", str(ticket))["articles_before_ticket"] == []

    # The agent merges contact 2 into contact 1: Freshdesk deletes 2 and keeps its address.
    del fake.contacts[2]
    fake.contacts[1] |= {"other_emails": ["ana.work@example.com"], "updated_at": fake.tick()}
    fake.touch_ticket(ticket)  # the ticket is created after the read
    fake.tickets[ticket]["created_at"] = fake.tickets[ticket]["updated_at"]
    run_source_sync(config, "support")

    titles = [a["title"] for a in journey(config, "support", str(ticket))["articles_before_ticket"]]
    assert titles == ["Export"]
    assert len(merges(config)) == 1
