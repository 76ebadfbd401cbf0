"""POST /api/v1/tickets/<source>/<id>/check-reply and the article search: the HTTP contract.

Against the seeded demo desk through the Flask test client. Bad input must be a 4xx JSON
error that says what is wrong — never a 500, never a traceback.
"""

from __future__ import annotations

import time

import pytest

from plugin.security import mint_agent_token
from plugin.store import open_db, open_store
from tests.helpers.config import SECRET

pytestmark = pytest.mark.usefixtures("backend")

WARNING_FIELDS = {
    "article_id",
    "title",
    "url",
    "message",
    "severity",
    "views",
    "last_viewed_at",
    "before_ticket",
    "updated_since_read",
    "alternatives",
}


@pytest.fixture(scope="module")
def reader(seeded_demo) -> dict:
    """A ticket whose customer read articles before it, with their URLs."""
    conn = open_db(seeded_demo.database_path, migrate=False)
    ticket_id, customer = conn.execute(
        "SELECT t.id, t.customer_id FROM tickets t WHERE t.source = 'demo' AND "
        "(SELECT count(*) FROM touchpoints v WHERE v.customer_id = t.customer_id AND "
        "v.type = 'article_view' AND v.occurred_at BETWEEN t.created_at - 86400 "
        "AND t.created_at) >= 2 ORDER BY t.id LIMIT 1"
    ).fetchone()
    read = [
        row[0]
        for row in conn.execute(
            "SELECT article_url FROM touchpoints WHERE customer_id = ? "
            "AND type = 'article_view' GROUP BY article_url ORDER BY max(occurred_at) DESC LIMIT 3",
            [customer],
        )
    ]
    unread = conn.execute(
        "SELECT url FROM articles WHERE source = 'demo' AND group_id NOT IN (SELECT article_id "
        "FROM touchpoints WHERE customer_id = ? AND type = 'article_view') LIMIT 20",
        [customer],
    ).fetchall()
    conn.conn.close()
    token = mint_agent_token(SECRET, source="demo", ticket_id=ticket_id)
    return {
        "ticket": ticket_id,
        "read": read,
        "unread": [u[0] for u in unread],
        "headers": {"Authorization": f"Bearer {token}"},
    }


def post(client, reader, *, headers: dict | None = None, **kwargs):
    return client.post(
        f"/api/v1/tickets/demo/{reader['ticket']}/check-reply",
        headers={**reader["headers"], **(headers or {})},
        **kwargs,
    )


def test_a_draft_linking_a_read_article_gets_a_warning_with_every_field(client, reader):
    draft = f'<p>Hello, please read <a href="{reader["read"][0]}">this</a>.</p>'
    response = post(client, reader, json={"body": draft})
    assert response.status_code == 200
    body = response.get_json()
    assert body["links"] == 1
    (warning,) = body["warnings"]
    assert set(warning) >= WARNING_FIELDS
    assert warning["severity"] in ("strong", "soft")
    assert warning["views"] >= 1 and warning["last_viewed_at"].endswith("Z")
    assert isinstance(warning["before_ticket"], bool)
    assert warning["message"].startswith("The customer already read “")
    for alternative in warning["alternatives"]:
        assert set(alternative) == {"article_id", "title", "url"}


def test_the_message_is_in_the_agents_language(client, reader):
    draft = {"body": reader["read"][0]}
    spanish = post(client, reader, json=draft, query_string={"lang": "es"}).get_json()
    assert spanish["warnings"][0]["message"].startswith("El cliente ya leyó «")
    accepted = post(
        client,
        reader,
        json=draft,
        headers={"Accept-Language": "es-ES,es;q=0.9"},
    )
    assert accepted.get_json()["warnings"][0]["message"].startswith("El cliente ya leyó")


def test_a_draft_without_read_articles_has_no_warnings(client, reader):
    for draft in ("Thanks, we are on it!", " ".join(reader["unread"][:5])):
        response = post(client, reader, json={"body": draft})
        assert response.status_code == 200
        assert response.get_json()["warnings"] == []


def test_the_unread_links_of_a_warned_draft_are_said_to_be_fine(client, reader):
    fine = reader["unread"][0]
    draft = f'See <a href="{reader["read"][0]}">this</a> and <a href="{fine}">that</a>.'
    body = post(client, reader, json={"body": draft}).get_json()
    assert len(body["warnings"]) == 1
    [unread] = body["unread"]
    assert unread["url"] == fine and unread["title"]


def test_an_alternative_is_never_an_article_the_draft_already_links(client, reader):
    alone = post(client, reader, json={"body": reader["read"][0]}).get_json()
    suggested = alone["warnings"][0]["alternatives"]
    assert suggested, "the demo's sections always have unread articles to suggest"
    both = f"{reader['read'][0]} {suggested[0]['url']}"
    warned = post(client, reader, json={"body": both}).get_json()["warnings"][0]
    assert suggested[0]["article_id"] not in {a["article_id"] for a in warned["alternatives"]}


def test_any_json_content_type_is_read(client, reader):
    response = post(
        client, reader, data='{"body": "hello"}', content_type="text/plain; charset=utf-8"
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "data, code",
    [
        ("", "invalid_json"),
        ("{not json", "invalid_json"),
        (b"\xff\xfe\x00", "invalid_json"),
        ("[]", "body_required"),
        ('"just a string"', "body_required"),
        ("{}", "body_required"),
        ('{"draft": "x"}', "body_required"),
        ('{"body": null}', "body_not_text"),
        ('{"body": 42}', "body_not_text"),
        ('{"body": ["a"]}', "body_not_text"),
        ('{"body": ""}', "body_empty"),
        ('{"body": "  \\n\\t "}', "body_empty"),
    ],
)
def test_bad_input_is_a_400_json_error(client, reader, data, code):
    response = post(client, reader, data=data, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == code
    assert response.get_json()["error"]["message"]


@pytest.mark.parametrize("size", [100 * 1024 + 1, 3 * 1024 * 1024])
def test_an_oversized_draft_is_a_413_json_error(client, reader, size):
    response = post(
        client, reader, data='{"body": "' + "x" * size + '"}', content_type="application/json"
    )
    assert response.status_code == 413
    assert response.get_json()["error"]["code"]


def test_unknown_tickets_and_wrong_methods_are_json_errors(client, reader):
    token = mint_agent_token(SECRET, source="demo", ticket_id="999999")
    missing = client.post(
        "/api/v1/tickets/demo/999999/check-reply",
        json={"body": "x"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert missing.status_code == 404
    assert missing.get_json()["error"]["code"] == "ticket_not_found"
    wrong = client.get(
        f"/api/v1/tickets/demo/{reader['ticket']}/check-reply", headers=reader["headers"]
    )
    assert wrong.status_code == 405 and wrong.get_json()["error"]


def test_a_large_draft_with_many_links_is_checked_quickly(client, reader):
    links = (reader["read"] + reader["unread"])[:20]
    filler = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 160
    draft = "<p>" + filler[:9000] + "</p>" + "".join(f'<a href="{u}">x</a> ' for u in links)
    assert 9_000 < len(draft) < 100 * 1024
    post(client, reader, json={"body": draft})  # warm up
    timings = []
    for _ in range(10):
        start = time.perf_counter()
        response = post(client, reader, json={"body": draft})
        timings.append(time.perf_counter() - start)
    assert response.status_code == 200
    assert len(response.get_json()["warnings"]) == len(reader["read"])
    assert sorted(timings)[5] < 0.25  # a generous bound; the measured median is ~10 ms


# --- article search --------------------------------------------------------------------------


def search(client, reader, q: str | None, **kwargs):
    query = {} if q is None else {"q": q}
    return client.get(
        f"/api/v1/tickets/demo/{reader['ticket']}/articles/search",
        query_string=query,
        headers=reader["headers"],
        **kwargs,
    )


def test_search_marks_the_articles_the_customer_already_read(client, reader, seeded_demo):
    with open_store(seeded_demo.database_path, migrate=False) as db:
        title, group = db.execute(
            "SELECT a.title, a.group_id FROM articles a WHERE a.url = ?", [reader["read"][0]]
        ).fetchone()
    results = search(client, reader, title).get_json()["results"]
    assert results, title
    by_id = {r["article_id"]: r for r in results}
    assert by_id[group]["read"] is True and by_id[group]["views"] >= 1
    unread = [r for r in results if not r["read"]]
    assert all(r["views"] == 0 and r["last_viewed_at"] is None for r in unread)
    assert len({r["article_id"] for r in results}) == len(results)  # one per article


def test_search_finds_accented_and_prefix_words(client, reader):
    spanish = search(client, reader, "exportacion").get_json()["results"]
    prefix = search(client, reader, "expor").get_json()["results"]
    assert spanish and prefix


@pytest.mark.parametrize(
    "q", ['"', "*", "NEAR(a b)", "a OR", "-x", "title:x", "^", "((", "ü", "💥", "'; DROP TABLE"]
)
def test_search_syntax_in_the_query_is_just_text(client, reader, q):
    response = search(client, reader, q)
    assert response.status_code == 200
    assert isinstance(response.get_json()["results"], list)


@pytest.mark.parametrize(
    "q, code", [(None, "query_required"), ("   ", "query_required"), ("x" * 201, "query_too_long")]
)
def test_bad_search_queries_are_400(client, reader, q, code):
    response = search(client, reader, q)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == code
