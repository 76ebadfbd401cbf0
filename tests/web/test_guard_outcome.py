"""The reply guard's record: check-reply stores each warning shown (once per article per
ticket until the agent decides), `POST …/guard-outcome` stores what the agent did, and bad
input is a 4xx JSON error. Against a private copy of the seeded demo (the test writes)."""

from __future__ import annotations

import pytest

from plugin.app import create_app
from plugin.security import mint_agent_token
from plugin.store import open_db
from plugin.store.guard_events import ticket_guard_events
from tests.helpers.config import SECRET
from tests.helpers.copies import private_copy

pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture
def guarded(seeded_demo, tmp_path):
    config = private_copy(seeded_demo, tmp_path)
    db = open_db(config.database_path)
    with db.atomic():  # the shared demo records the checks of earlier tests: start afresh
        db.execute("DELETE FROM guard_events")
    ticket_id, customer = db.execute(
        "SELECT t.id, t.customer_id FROM tickets t WHERE t.source = 'demo' AND EXISTS "
        "(SELECT 1 FROM touchpoints v WHERE v.customer_id = t.customer_id "
        "AND v.type = 'article_view') ORDER BY t.id LIMIT 1"
    ).fetchone()
    (url,) = db.execute(
        "SELECT article_url FROM touchpoints WHERE customer_id = ? AND type = 'article_view' "
        "ORDER BY occurred_at DESC LIMIT 1",
        [customer],
    ).fetchone()
    token = mint_agent_token(SECRET, source="demo", ticket_id=ticket_id)
    client = create_app(config).test_client()
    yield {
        "db": db,
        "client": client,
        "ticket": ticket_id,
        "customer": customer,
        "draft": f'<p>See <a href="{url}">this</a>.</p>',
        "headers": {"Authorization": f"Bearer {token}"},
    }
    db.conn.close()


def check(g):
    return g["client"].post(
        f"/api/v1/tickets/demo/{g['ticket']}/check-reply",
        headers=g["headers"],
        json={"body": g["draft"]},
    )


def outcome(g, body, **kwargs):
    return g["client"].post(
        f"/api/v1/tickets/demo/{g['ticket']}/guard-outcome",
        headers=g["headers"],
        json=body,
        **kwargs,
    )


def test_a_warning_checked_twice_is_one_row_until_the_agent_decides(guarded):
    first = check(guarded).get_json()["warnings"]
    check(guarded)
    assert len(first) == 1
    (event,) = ticket_guard_events(guarded["db"], "demo", guarded["ticket"])
    assert event["checks"] == 2
    assert event["customer_id"] == guarded["customer"]
    assert event["article_id"] == first[0]["article_id"]
    assert event["outcome"] is None

    article = {"source": first[0]["source"], "article_id": first[0]["article_id"]}
    answer = outcome(guarded, {"outcome": "sent_anyway", "articles": [article]})
    assert answer.status_code == 200
    assert answer.get_json() == {"outcome": "sent_anyway", "recorded": 1}
    again = outcome(guarded, {"outcome": "sent_anyway", "articles": [article]})
    assert again.get_json()["recorded"] == 0  # a repeated call changes nothing

    check(guarded)  # the next reply links it again: a new warning shown
    events = ticket_guard_events(guarded["db"], "demo", guarded["ticket"])
    assert [e["outcome"] for e in events] == ["sent_anyway", None]
    outcome(guarded, {"outcome": "edited", "articles": [article]})
    events = ticket_guard_events(guarded["db"], "demo", guarded["ticket"])
    assert [e["outcome"] for e in events] == ["sent_anyway", "edited"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (
            {"outcome": "ignored", "articles": [{"source": "demo", "article_id": "1"}]},
            "invalid_outcome",
        ),
        ({"outcome": "edited"}, "articles_required"),
        ({"outcome": "edited", "articles": []}, "articles_required"),
        ({"outcome": "edited", "articles": ["x"]}, "invalid_article"),
        ({"outcome": "edited", "articles": [{"source": "demo"}]}, "invalid_article"),
        ({"outcome": "edited", "articles": [{"source": "", "article_id": "1"}]}, "invalid_article"),
        (
            {"outcome": "edited", "articles": [{"source": "demo", "article_id": "1"}] * 51},
            "too_many_articles",
        ),
        ([1, 2], "invalid_body"),
    ],
)
def test_bad_outcomes_are_400_json_errors(guarded, body, code):
    answer = outcome(guarded, body)
    assert answer.status_code == 400
    assert answer.get_json()["error"]["code"] == code


def test_not_json_unsigned_too_large_and_unknown_tickets_are_4xx(guarded):
    client, url = guarded["client"], f"/api/v1/tickets/demo/{guarded['ticket']}/guard-outcome"
    bad = client.post(
        url, headers=guarded["headers"], data="{nope", content_type="application/json"
    )
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "invalid_json"
    assert client.post(url, json={"outcome": "edited"}).status_code == 401
    huge = client.post(url, headers=guarded["headers"], data="x" * 20_000)
    assert huge.status_code == 413 and huge.is_json
    token = mint_agent_token(SECRET, source="demo", ticket_id="999999999")
    missing = client.post(
        "/api/v1/tickets/demo/999999999/guard-outcome",
        headers={"Authorization": f"Bearer {token}"},
        json={"outcome": "edited", "articles": [{"source": "demo", "article_id": "1"}]},
    )
    assert missing.status_code == 404 and missing.is_json
