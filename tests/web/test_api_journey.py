"""GET /api/v1/tickets/<source>/<id>/journey against the seeded demo desk."""

from __future__ import annotations

import random
import sqlite3

import pytest

from plugin.app import create_app
from plugin.security import Secret, mint_agent_token
from plugin.store import StoreDatabase, open_store
from plugin.web import context
from plugin.web.errors import RETRY_AFTER_SECONDS
from tests.helpers.config import SECRET
from tests.helpers.copies import private_copy

DAY = 86_400
pytestmark = pytest.mark.usefixtures("backend")


def token_for(ticket_id: str | None, source: str = "demo") -> dict[str, str]:
    return {
        "Authorization": f"Bearer {mint_agent_token(SECRET, source=source, ticket_id=ticket_id)}"
    }


def ticket_ids(config, n: int, seed: int = 3) -> list[str]:
    with open_store(config.database_path, migrate=False) as db:
        ids = [row[0] for row in db.execute("SELECT id FROM tickets ORDER BY id")]
    return random.Random(seed).sample(ids, n)


def expected_articles(config, ticket_id: str, *, lookback_days=30, limit=5) -> list[tuple]:
    """The answer computed independently, in plain Python over the raw touchpoints."""
    with open_store(config.database_path, migrate=False) as db:
        customer, created = db.execute(
            "SELECT customer_id, created_at FROM tickets WHERE source = 'demo' AND id = ?",
            [ticket_id],
        ).fetchone()
        views = db.execute(
            "SELECT article_id, occurred_at FROM touchpoints WHERE customer_id = ? "
            "AND type = 'article_view'",
            [customer],
        ).fetchall()
    window = [(a, at) for a, at in views if created - lookback_days * DAY <= at <= created]
    latest: dict[str, int] = {}
    counts: dict[str, int] = {}
    for article, at in window:
        latest[article] = max(latest.get(article, 0), at)
        counts[article] = counts.get(article, 0) + 1
    ranked = sorted(latest, key=lambda a: latest[a], reverse=True)[:limit]
    return [(a, counts[a], (created - latest[a]) // 60) for a in ranked]


def test_journey_has_the_design_fields(client, seeded_demo):
    ticket_id = ticket_ids(seeded_demo, 1)[0]
    response = client.get(f"/api/v1/tickets/demo/{ticket_id}/journey", headers=token_for(ticket_id))
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) >= {
        "ticket",
        "customer",
        "stage",
        "signals",
        "articles_before_ticket",
        "timeline",
    }
    assert body["ticket"]["id"] == ticket_id and body["ticket"]["source"] == "demo"
    assert body["ticket"]["created_at"].endswith("Z")
    assert set(body["customer"]) >= {"id", "name", "email", "signup_at"}
    assert set(body["stage"]) >= {"key", "label", "since", "reasons"}
    for signal in body["signals"]:
        assert set(signal) >= {"key", "label", "reasons"}
    for article in body["articles_before_ticket"]:
        assert set(article) >= {
            "article_id",
            "title",
            "url",
            "viewed_at",
            "minutes_before_ticket",
            "views",
        }
    for item in body["timeline"]:
        assert set(item) >= {"type", "at"}


def test_articles_before_ticket_match_an_independent_computation(client, seeded_demo):
    checked_with_articles = 0
    for ticket_id in ticket_ids(seeded_demo, 60):
        body = client.get(
            f"/api/v1/tickets/demo/{ticket_id}/journey", headers=token_for(ticket_id)
        ).get_json()
        got = [
            (a["article_id"], a["views"], a["minutes_before_ticket"])
            for a in body["articles_before_ticket"]
        ]
        assert got == expected_articles(seeded_demo, ticket_id)
        checked_with_articles += bool(got)
    assert checked_with_articles > 20


def test_stage_reasons_are_sentences_with_the_customers_values(client, seeded_demo):
    seen = set()
    for ticket_id in ticket_ids(seeded_demo, 40, seed=9):
        body = client.get(
            f"/api/v1/tickets/demo/{ticket_id}/journey", headers=token_for(ticket_id)
        ).get_json()
        seen.add(body["stage"]["key"])
        if body["stage"]["key"] != "awareness":
            assert body["stage"]["reasons"], body["stage"]
    assert len(seen) >= 4


def test_spanish_labels_on_request(client, seeded_demo):
    ticket_id = ticket_ids(seeded_demo, 1)[0]
    body = client.get(
        f"/api/v1/tickets/demo/{ticket_id}/journey?lang=es", headers=token_for(ticket_id)
    ).get_json()
    english = client.get(
        f"/api/v1/tickets/demo/{ticket_id}/journey", headers=token_for(ticket_id)
    ).get_json()
    assert body["stage"]["label"] != english["stage"]["label"] or body["stage"]["key"] == "purchase"


def test_unknown_ticket_is_a_json_404(client):
    response = client.get("/api/v1/tickets/demo/999999999/journey", headers=token_for(None))
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "ticket_not_found"


@pytest.mark.parametrize(
    "headers, status, code",
    [
        ({}, 401, "token_missing"),
        ({"Authorization": "Bearer nonsense"}, 401, "token_malformed"),
        ("other-ticket", 403, "token_wrong_ticket"),
        ("other-source", 403, "token_wrong_ticket"),
        ("expired", 401, "token_expired"),
    ],
)
def test_agent_api_refuses_without_a_valid_token(client, seeded_demo, headers, status, code):
    ticket_id = ticket_ids(seeded_demo, 1)[0]
    if headers == "other-ticket":
        headers = token_for("1")
    elif headers == "other-source":
        headers = token_for(ticket_id, source="zendesk")
    elif headers == "expired":
        stale = mint_agent_token(SECRET, source="demo", ticket_id=ticket_id, ttl=1, now=0)
        headers = {"Authorization": f"Bearer {stale}"}
    response = client.get(f"/api/v1/tickets/demo/{ticket_id}/journey", headers=headers)
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    assert "customer" not in response.get_json()


def test_unknown_route_is_a_json_error_under_api(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert set(response.get_json()["error"]) == {"code", "message"}


def test_healthz_reports_database_and_last_sync(client):
    body = client.get("/healthz").get_json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["syncs"]["demo"]["status"] == "ok"


def test_customer_journey_needs_a_source_wide_token(client, seeded_demo):
    ticket_id = ticket_ids(seeded_demo, 1)[0]
    customer_id = client.get(
        f"/api/v1/tickets/demo/{ticket_id}/journey", headers=token_for(ticket_id)
    ).get_json()["customer"]["id"]
    url = f"/api/v1/customers/{customer_id}/journey"
    assert client.get(url, headers=token_for(ticket_id)).status_code == 403
    body = client.get(url, headers=token_for(None)).get_json()
    assert body["customer"]["id"] == customer_id and "stage" in body


def test_a_source_token_reads_only_its_own_desks_customers(seeded_demo, tmp_path):
    config = private_copy(seeded_demo, tmp_path)
    with open_store(config.database_path, migrate=False) as db, db.atomic():
        demo_only, merged = [
            row[0]
            for row in db.execute(
                "SELECT DISTINCT customer_id FROM tickets WHERE source = 'demo' ORDER BY 1 LIMIT 2"
            )
        ]
        # `merged` is also a Zendesk user (one person on two desks, identities merged)
        db.execute("INSERT INTO customer_identities VALUES ('user:zendesk', 'z-77', ?)", [merged])
    client = create_app(config).test_client()
    zendesk, demo = token_for(None, source="zendesk"), token_for(None)

    def read(customer_id, headers):
        return client.get(f"/api/v1/customers/{customer_id}/journey", headers=headers)

    other_desk, missing = read(demo_only, zendesk), read(99_999_999, zendesk)
    assert other_desk.status_code == missing.status_code == 404
    # the same answer as for no customer at all: whether it exists is not told
    told = other_desk.text.replace(str(demo_only), "<id>")
    assert told == missing.text.replace("99999999", "<id>") and "@" not in told
    assert read(demo_only, demo).status_code == 200
    for headers in (zendesk, demo):
        response = read(merged, headers)
        assert response.status_code == 200 and response.get_json()["customer"]["id"] == str(merged)


def failed_sync(config) -> None:
    """The last demo sync failed with a sentence naming the desk's URL, as desk errors do."""
    with open_store(config.database_path, migrate=False) as db, db.atomic():
        db.execute(
            "INSERT INTO sync_runs (source, started_at, finished_at, status, message) "
            "VALUES ('demo', 4102444800, 4102444801, 'error', "
            "'https://acme-internal.zendesk.com answered 401: check connectors[0].token_env')"
        )


def test_healthz_keeps_the_details_for_admins_and_monitors(seeded_demo, tmp_path):
    config = private_copy(seeded_demo, tmp_path, admin_password=Secret("pw"))
    failed_sync(config)
    client = create_app(config).test_client()

    anonymous = client.get("/healthz")
    assert anonymous.status_code == 200 and anonymous.get_json()["database"] == "ok"
    assert anonymous.get_json()["syncs"]["demo"]["status"] == "error"  # that it failed...
    assert "acme-internal" not in anonymous.text and "token_env" not in anonymous.text
    monitor = client.get("/healthz", headers=token_for(None))  # ...and why, with a token
    assert "acme-internal.zendesk.com" in monitor.get_json()["syncs"]["demo"]["message"]
    forged = {"Authorization": "Bearer jd1.forged.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}
    assert "acme-internal" not in client.get("/healthz", headers=forged).text


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # SQLite's read-only modes
@pytest.mark.parametrize("how", ["read-only file", "query_only"])
def test_healthz_reports_a_database_that_cannot_take_writes(
    seeded_demo, tmp_path, monkeypatch, how
):
    config = private_copy(seeded_demo, tmp_path)
    app = create_app(config)

    def read_only(path):
        if how == "read-only file":  # what SQLite does with a file it may not write
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        else:
            conn = sqlite3.connect(path, check_same_thread=False)
            conn.execute("PRAGMA query_only = ON")
        return StoreDatabase(conn)

    monkeypatch.setattr(context, "borrow_db", read_only)  # what the app's requests use
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert response.get_json()["status"] == "error"
    assert response.get_json()["database"] == "read-only"
