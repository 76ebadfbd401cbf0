"""The sidebar's empty and partial states, and the payload fields behind them.

Customers are written through the store into a copy of the demo database; the page and the
JSON API are read over HTTP, so both are checked from one builder.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from connectors.records import Article, Customer, CustomerRef, Ticket, Touchpoint
from plugin.app import create_app
from plugin.security import mint_agent_token
from plugin.store import open_db
from plugin.store.articles import upsert_articles
from plugin.store.customers import upsert_customers
from plugin.store.tickets import upsert_tickets
from plugin.store.touchpoints import insert_touchpoints
from tests.helpers.config import SECRET
from tests.helpers.desk_app import desk_config, rsa_key_pair

pytestmark = pytest.mark.usefixtures("backend")

CREATED = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)
URL = "https://help.acme.example/hc/en-us/articles/880001-{}"


@pytest.fixture(scope="module")
def client(seeded_demo, tmp_path_factory):
    patch = pytest.MonkeyPatch()
    config = desk_config(
        tmp_path_factory.mktemp("states"),
        seeded_demo,
        patch,
        public_pem=rsa_key_pair()[1],
        chatwoot_url="http://127.0.0.1:9",
    )
    db = open_db(config.database_path)
    with db.atomic():
        write_states(db)
    db.conn.close()
    yield create_app(config).test_client()
    patch.undo()


def write_states(db) -> None:
    article = Article("880001", "en-us", "Exporting reports", URL.format("exporting-reports"))
    upsert_articles(db, "freshdesk", [article])
    people = [
        Customer("anon", None, None),
        Customer("new", "new@example.com", "Nina New"),
        Customer("old", "old@example.com", "Olga Old"),
        Customer("busy", "busy@example.com", "Bea Busy"),
    ]
    upsert_customers(db, "freshdesk", people)
    tickets = [
        Ticket(f"t-{p.source_id}", CustomerRef(source_id=p.source_id), "Help", CREATED)
        for p in people
    ]
    earlier = [
        Ticket(f"t-busy-{n}", CustomerRef(source_id="busy"), "Again", CREATED - timedelta(days=n))
        for n in (1, 2)
    ]
    upsert_tickets(db, "freshdesk", tickets + earlier)
    insert_touchpoints(
        db,
        "freshdesk",
        [
            view("old-1", "old", CREATED - timedelta(days=60)),
            view("old-2", "old", CREATED - timedelta(days=75)),
            *(view(f"busy-{n}", "busy", CREATED - timedelta(hours=n)) for n in range(1, 10)),
            Touchpoint(
                "busy-search",
                "search",
                CREATED - timedelta(hours=11),
                CustomerRef(source_id="busy"),
                properties={"query": "export to excel", "result_count": 0},
            ),
            Touchpoint(
                "busy-csat",
                "csat",
                CREATED - timedelta(hours=12),
                CustomerRef(source_id="busy"),
                properties={"score": "bad"},
            ),
        ],
        article_source="freshdesk",
    )


def view(event_id: str, who: str, at: datetime) -> Touchpoint:
    return Touchpoint(
        event_id,
        "article_view",
        at,
        CustomerRef(source_id=who),
        article_id="880001",
        article_url=URL.format("x"),
    )


def get(client, who: str, lang: str = "en") -> tuple[str, dict]:
    ticket = f"t-{who}"
    token = mint_agent_token(SECRET, source="freshdesk", ticket_id=ticket)
    page = client.get(f"/sidebar/freshdesk/{ticket}?token={token}&lang={lang}")
    api = client.get(f"/api/v1/tickets/freshdesk/{ticket}/journey?token={token}")
    assert page.status_code == 200 and api.status_code == 200
    return page.get_data(as_text=True), api.get_json()


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_an_anonymous_requester_is_said_to_be_anonymous(client):
    html, api = get(client, "anon")
    assert api["customer"]["anonymous"] is True
    assert "Anonymous requester" in text(html)
    assert "No name or email yet, so no reading history can be matched" in text(html)


def test_a_customer_without_any_history_says_where_history_comes_from(client):
    html, api = get(client, "new")
    assert api["customer"]["has_activity"] is False
    assert "No history yet" in text(html)
    spanish, _ = get(client, "new", lang="es")
    assert "Aún no hay historial" in text(spanish)


def test_reading_only_outside_the_lookback_is_summarised(client):
    html, api = get(client, "old")
    assert api["articles_before_ticket"] == []
    assert api["reading_earlier"] == {"articles": 1, "last_viewed_at": "2026-09-19T15:00:00Z"}
    assert (
        "Nothing in the 30 days before this ticket; 1 article read earlier, on Sep 19, 2026."
        in text(html)
    )


def test_effort_timeline_and_repeat_reads(client):
    html, api = get(client, "busy")
    assert api["effort"] == {
        "days": 7,
        "articles": 1,
        "views": 9,
        "searches": 1,
        "contacts": 3,
        # three contacts but no high-effort signal: the model alone says "high effort"
        "level": "medium",
    }
    page = text(html)
    assert "High effort" not in page
    assert "Activity: 1 article read, 1 search and 3 contacts in the 7 days before this" in page
    assert "×9" in page and "1 h before the ticket" in page
    assert '<q translate="no">export to excel</q>' in html and "(no results)" in page
    assert re.search(r'Rated support: <span class="csat csat-bad">bad</span>', html)


def test_error_pages_say_what_happened_and_what_to_do_in_the_agents_language(client):
    token = mint_agent_token(SECRET, source="nowhere", ticket_id="1")
    page = client.get(f"/sidebar/nowhere/1?token={token}")
    assert page.status_code == 404
    words = text(page.get_data(as_text=True))
    assert "Not found" in words and "not connected to a help desk named “nowhere”" in words
    assert "Ask your journeydesk admin" in words and "source_not_configured" in words
    spanish = text(client.get(f"/sidebar/nowhere/1?token={token}&lang=es").get_data(as_text=True))
    assert "No encontrado" in spanish and "ningún help desk llamado «nowhere»" in spanish
    assert "Not found" not in spanish

    unknown = mint_agent_token(SECRET, source="demo", ticket_id="99999999")
    missing = text(client.get(f"/sidebar/demo/99999999?token={unknown}").get_data(as_text=True))
    assert "demo has no ticket 99999999" in missing
    assert "The last sync of demo finished" in missing and "reload in a minute" in missing

    nope = text(client.get("/nope?lang=es").get_data(as_text=True))
    assert "No hay ninguna página en esta dirección." in nope and "requested URL" not in nope
    missing = client.get("/sidebar/freshdesk/1")  # no token
    assert missing.status_code == 401
    assert "Sign-in needed" in text(missing.get_data(as_text=True))
