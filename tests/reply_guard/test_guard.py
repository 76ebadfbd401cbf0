"""The already-read guard: its pure rules, then real URL forms against the seeded demo desk.

The table and the property run through the public check-reply endpoint on the session's
demo database; the expected answer is computed independently from the raw touchpoints.
"""

from __future__ import annotations

import dataclasses
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plugin.app import create_app
from plugin.clock import iso
from plugin.reply_guard.guard import (
    ArticleFacts,
    SourceInfo,
    build_warning,
    candidate_sources,
    choose_alternatives,
    link_host,
    pick_version,
    warning_message,
)
from plugin.reply_guard.links import ArticleLink
from plugin.security import mint_agent_token
from plugin.store import open_db
from plugin.store.history import Reading
from plugin.web.i18n import ago, translator
from tests.helpers.config import SECRET

DAY = 86_400
WINDOW_DAYS = 90
HELP_DOMAIN = "help.acme.example"
BOTH_ENGINES = pytest.mark.usefixtures("backend")
# --- pure ------------------------------------------------------------------------------------

SOURCES = [
    SourceInfo("zd", "zendesk", frozenset({"acme.zendesk.com", "help.acme.example"})),
    SourceInfo("fd", "freshdesk", frozenset({"support.acme.example"})),
    SourceInfo("zd-eu", "zendesk", frozenset({"acme-eu.zendesk.com"})),
    SourceInfo("demo", "demo", frozenset({"127.0.0.1"})),
]


def link(url: str, desk: str = "zendesk", article_id: str | None = "1") -> ArticleLink:
    return ArticleLink(url, desk, article_id, None, None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url, desk, ticket_source, preferred",
    [
        # the host names the source first, then the desk type, then the ticket's source
        ("https://help.acme.example/hc/en-us/articles/1", "zendesk", "fd", ["zd", "zd-eu", "fd"]),
        # an unknown host: sources of the same desk type, the ticket's own first
        ("https://other.example/hc/en-us/articles/1", "zendesk", "zd-eu", ["zd-eu", "zd"]),
        ("https://other.example/support/solutions/articles/1", "freshdesk", "zd", ["fd", "zd"]),
        # a custom-domain ("portal") link: only the host and the ticket's source are preferred
        ("https://127.0.0.1:8000/demo/hc/es/articles/1", "portal", "zd", ["demo", "zd"]),
        ("https://nowhere.example/articles/1", "portal", "fd", ["fd"]),
    ],
)
def test_candidate_sources_prefer_the_host_then_the_desk_then_the_ticket(
    url, desk, ticket_source, preferred
):
    found, others = candidate_sources(link(url, desk), SOURCES, ticket_source, link_host(url))
    assert found == preferred
    assert sorted(found + others) == sorted(s.name for s in SOURCES)  # every source, once


@pytest.mark.parametrize(
    "url, host",
    [
        ("https://User@Help.Acme.Example:8443/x", "help.acme.example"),
        ("http://127.0.0.1:8000/demo/hc", "127.0.0.1"),
        ("https://acme.zendesk.com./hc?x=1", "acme.zendesk.com"),
        ("https://[::1]:8000/articles/1", "[::1]"),
    ],
)
def test_link_host(url, host):
    assert link_host(url) == host


def test_pick_version_prefers_the_exact_locale_then_the_language_then_any():
    versions = [{"locale": "en-us", "n": 1}, {"locale": "es", "n": 2}, {"locale": "pt-br", "n": 3}]
    assert pick_version(versions, "es")["n"] == 2
    assert pick_version(versions, "pt-BR")["n"] == 3
    assert pick_version(versions, "en-GB")["n"] == 1
    assert pick_version(versions, None, "fr", "es-MX")["n"] == 2
    assert pick_version(versions, "de")["n"] == 1
    assert pick_version([], "es") is None


NOW = 1_795_000_000
FACTS = ArticleFacts("Export to CSV", "https://h/a", "en-us", NOW - 5 * DAY, "CSV", "Data")


def message(reading: Reading, lang: str = "en", updated: bool = False) -> str:
    return warning_message(reading, FACTS, updated=updated, now=NOW, t=translator(lang), ago=ago)


def test_messages_say_when_how_often_and_before_or_after_the_ticket():
    once_before = Reading(1, 1, NOW - 2 * DAY, NOW - 2 * DAY, "en-us")
    assert message(once_before) == (
        "The customer already read “Export to CSV” 2 days ago (before opening this ticket)."
    )
    many_after = Reading(3, 0, NOW - 3600 * 5, NOW - 42 * 60, "en-us")
    assert message(many_after) == (
        "The customer already read “Export to CSV” 3 times, last 42 min ago "
        "(after opening this ticket)."
    )
    both = Reading(2, 1, NOW - 9 * DAY, NOW - 3 * 3600, "es")
    assert message(both, "es") == (
        "El cliente ya leyó «Export to CSV» 2 veces, la última hace 3 h "
        "(antes y después de abrir este ticket)."
    )


def test_an_article_updated_after_the_read_gets_a_soft_warning():
    reading = Reading(1, 1, NOW - 20 * DAY, NOW - 20 * DAY, "en-us")
    warning = build_warning(
        ("demo", "7"),
        reading,
        FACTS,
        link="https://h/a?utm_source=x",
        now=NOW,
        alternatives=[],
        t=translator("en"),
        ago=ago,
        iso=iso,
    )
    assert warning["severity"] == "soft" and warning["updated_since_read"] is True
    assert warning["message"].endswith(
        "It was updated after they read it (2026-11-13), so sending it again may be right."
    )
    assert warning["before_ticket"] is True and warning["views"] == 1
    assert warning["last_viewed_at"] == iso(NOW - 20 * DAY)
    fresh = Reading(1, 1, NOW - DAY, NOW - DAY, "en-us")
    strong = build_warning(
        ("demo", "7"),
        fresh,
        FACTS,
        link="x",
        now=NOW,
        alternatives=[],
        t=translator("en"),
        ago=ago,
        iso=iso,
    )
    assert (strong["severity"], strong["updated_since_read"]) == ("strong", False)


def test_alternatives_skip_what_the_customer_read_and_repeat_nothing():
    rows = [{"group_id": g, "title": f"T{g}", "url": f"https://h/{g}"} for g in "abcadefg"]
    chosen = choose_alternatives(rows, source="s", exclude={("s", "b"), ("s", "d")}, limit=3)
    assert [c["article_id"] for c in chosen] == ["a", "c", "e"]
    assert chosen[0] == {"article_id": "a", "title": "Ta", "url": "https://h/a"}


# --- real URL forms against the seeded demo --------------------------------------------------


@pytest.fixture(scope="module")
def guard_client(seeded_demo):
    sidebar = {**seeded_demo.sidebar, "help_center_domains": [HELP_DOMAIN]}
    return create_app(dataclasses.replace(seeded_demo, sidebar=sidebar)).test_client()


@pytest.fixture(scope="module")
def demo_db(seeded_demo):
    """The demo's store, for the test's own SQL (on either engine)."""
    db = open_db(seeded_demo.database_path, migrate=False)
    yield db
    db.conn.close()


def check(client, ticket_id: str, draft: str, lang: str = "en") -> list[dict]:
    token = mint_agent_token(SECRET, source="demo", ticket_id=ticket_id)
    response = client.post(
        f"/api/v1/tickets/demo/{ticket_id}/check-reply?lang={lang}",
        json={"body": draft},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["warnings"]


def read_in_window(conn, ticket_id: str) -> dict[str, int]:
    """group id → views, computed from raw touchpoints (the independent oracle)."""
    customer, created = conn.execute(
        "SELECT customer_id, created_at FROM tickets WHERE source = 'demo' AND id = ?", [ticket_id]
    ).fetchone()
    counts: dict[str, int] = {}
    for (article,) in conn.execute(
        "SELECT article_id FROM touchpoints WHERE customer_id = ? AND type = 'article_view' "
        "AND occurred_at >= ?",
        [customer, created - WINDOW_DAYS * DAY],
    ):
        counts[article] = counts.get(article, 0) + 1
    return counts


def ever_read(conn, ticket_id: str) -> set[str]:
    return {
        row[0]
        for row in conn.execute(
            "SELECT DISTINCT v.article_id FROM touchpoints v JOIN tickets t "
            "ON t.customer_id = v.customer_id WHERE t.source = 'demo' AND t.id = ? "
            "AND v.type = 'article_view'",
            [ticket_id],
        )
    }


def urls_of(conn, article_id: str) -> dict[str, str]:
    return dict(
        conn.execute(
            "SELECT locale, url FROM articles WHERE source = 'demo' AND group_id = ?", [article_id]
        )
    )


@pytest.fixture(scope="module")
def case(demo_db):
    """A ticket, an article its customer read in the window (not updated since) and one
    they never read, from the same knowledge base."""
    for ticket_id, customer in demo_db.execute(
        "SELECT id, customer_id FROM tickets WHERE source = 'demo' ORDER BY id"
    ):
        read = read_in_window(demo_db, ticket_id)
        for article in sorted(read):
            updated, last = demo_db.execute(
                "SELECT a.updated_at, (SELECT max(occurred_at) FROM touchpoints WHERE "
                "customer_id = ? AND article_id = ? AND type = 'article_view') FROM articles a "
                "WHERE a.source = 'demo' AND a.group_id = ? LIMIT 1",
                [customer, article, article],
            ).fetchone()
            if updated < last:
                unread = demo_db.execute(
                    "SELECT group_id FROM articles WHERE source = 'demo' AND group_id NOT IN "
                    "(SELECT article_id FROM touchpoints WHERE customer_id = ? "
                    "AND type = 'article_view') LIMIT 1",
                    [customer],
                ).fetchone()[0]
                return {"ticket": ticket_id, "read": article, "unread": unread}
    raise AssertionError("the demo desk has no read article to test with")


def forms(urls: dict[str, str], article_id: str) -> dict[str, str]:
    """The ways an agent's draft may point at one article."""
    en, es = urls["en-us"], urls["es"]
    slug = en.rsplit("/", 1)[1]
    return {
        "canonical": f"Hi! This should help: {en}",
        "spanish translation": f"Mira {es} por favor",
        "tracking and fragment": f"{en}?utm_source=support&utm_medium=email#step-2",
        "trailing slash": f"{en}/",
        "https": en.replace("http://", "https://"),
        "upper-case scheme and host": en.replace("http://127.0.0.1", "HTTP://127.0.0.1"),
        "html anchor with entities": f'<p>See <a href="{en}?a=1&amp;b=2">the guide</a>.</p>',
        "entity-encoded slashes": en.replace("http://", "http:&#47;&#47;"),
        "prose punctuation": f"(details: {en}).",
        "markdown": f"[the guide]({en})",
        "zendesk help center": f"https://acme.zendesk.com/hc/en-us/articles/{slug}",
        "zendesk without locale": f"https://acme.zendesk.com/hc/articles/{article_id}",
        "zendesk api": f"https://acme.zendesk.com/api/v2/help_center/es/articles/{article_id}.json",
        "custom help-center domain": f"https://{HELP_DOMAIN}/es/articles/{article_id}-guia",
        "leading zeros": en.replace(f"/articles/{article_id}", f"/articles/00{article_id}"),
        "outlook safe link": "https://nam02.safelinks.protection.outlook.com/?url="
        + quote(en, safe="")
        + "&data=05%7C01",
    }


@BOTH_ENGINES
def test_every_url_form_of_a_read_article_warns(guard_client, demo_db, case):
    urls = urls_of(demo_db, case["read"])
    views = read_in_window(demo_db, case["ticket"])[case["read"]]
    for name, draft in forms(urls, case["read"]).items():
        warnings = check(guard_client, case["ticket"], draft)
        assert [w["article_id"] for w in warnings] == [case["read"]], name
        assert warnings[0]["views"] == views, name
        assert warnings[0]["severity"] == "strong", name


@BOTH_ENGINES
def test_every_url_form_of_an_unread_article_is_silent(guard_client, demo_db, case):
    for name, draft in forms(urls_of(demo_db, case["unread"]), case["unread"]).items():
        assert check(guard_client, case["ticket"], draft) == [], name


@BOTH_ENGINES
def test_near_misses_are_silent(guard_client, demo_db, case):
    read = case["read"]
    en = urls_of(demo_db, read)["en-us"]
    for draft in (
        en.replace(f"/articles/{read}", f"/articles/{read}1"),  # another id
        en.replace(f"/articles/{read}", f"/articles/{read[:-1]}"),  # a prefix of it
        f"Article {read} in plain words, without a link",
        f"https://acme.zendesk.com/hc/en-us/sections/{read}-a-section",
        f"https://unrelated.example/blog/{read}-post",
    ):
        assert check(guard_client, case["ticket"], draft) == [], draft


@BOTH_ENGINES
def test_one_warning_per_article_however_often_it_is_linked(guard_client, demo_db, case):
    urls = urls_of(demo_db, case["read"])
    draft = " ".join(forms(urls, case["read"]).values())
    assert len(check(guard_client, case["ticket"], draft)) == 1


@BOTH_ENGINES
def test_alternatives_are_unread_and_from_the_same_category(guard_client, demo_db, case):
    warning = check(guard_client, case["ticket"], urls_of(demo_db, case["read"])["en-us"])[0]
    assert warning["alternatives"], "the demo knowledge base has unread articles nearby"
    read = ever_read(demo_db, case["ticket"])
    category = demo_db.execute(
        "SELECT category FROM articles WHERE source='demo' AND group_id=? AND locale='en-us'",
        [case["read"]],
    ).fetchone()[0]
    for alternative in warning["alternatives"]:
        assert alternative["article_id"] not in read
        assert alternative["article_id"] != case["read"]
        assert (
            demo_db.execute(
                "SELECT category FROM articles WHERE source='demo' AND group_id=? LIMIT 1",
                [alternative["article_id"]],
            ).fetchone()[0]
            == category
        )


@BOTH_ENGINES
def test_an_article_updated_after_the_customer_read_it_is_a_soft_warning(guard_client, demo_db):
    ticket_id, article = first_ticket_where(demo_db, "max(v.occurred_at) < max(a.updated_at)")
    warning = check(guard_client, ticket_id, urls_of(demo_db, article)["es"], lang="es")[0]
    assert (warning["severity"], warning["updated_since_read"]) == ("soft", True)
    assert "Se actualizó después de que lo leyera" in warning["message"]


def first_ticket_where(conn, having: str, *, since_days: int = WINDOW_DAYS) -> tuple | None:
    """The first demo ticket with an article its customer read (since `since_days` before
    it) matching `having`, looked for ticket by ticket (cheap, stops at the first)."""
    for (ticket_id,) in conn.execute("SELECT id FROM tickets WHERE source = 'demo' ORDER BY id"):
        row = conn.execute(
            "SELECT v.article_id FROM tickets t JOIN touchpoints v "
            "ON v.customer_id = t.customer_id AND v.type = 'article_view' "
            "AND v.occurred_at >= t.created_at - ? JOIN articles a ON a.source = 'demo' "
            "AND a.group_id = v.article_id WHERE t.source = 'demo' AND t.id = ? "
            f"GROUP BY v.article_id HAVING {having} LIMIT 1",  # noqa: S608
            [since_days * DAY, ticket_id],
        ).fetchone()
        if row:
            return ticket_id, row[0]
    return None


@BOTH_ENGINES
def test_reads_older_than_the_window_do_not_count(guard_client, demo_db):
    found = first_ticket_where(
        demo_db, f"max(v.occurred_at) < min(t.created_at) - {WINDOW_DAYS * DAY}", since_days=10**5
    )
    if found is None:
        pytest.skip("no read older than the window in this demo desk")
    ticket_id, article = found
    assert check(guard_client, ticket_id, urls_of(demo_db, article)["en-us"]) == []


@pytest.fixture(scope="module")
def population(demo_db):
    tickets = [r[0] for r in demo_db.execute("SELECT id FROM tickets WHERE source='demo'")]
    articles = [r[0] for r in demo_db.execute("SELECT DISTINCT group_id FROM articles ORDER BY 1")]
    return tickets, articles


@BOTH_ENGINES
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_a_warning_iff_the_customer_read_the_article_in_the_window(
    guard_client, demo_db, population, data
):
    tickets, articles = population
    ticket_id = data.draw(st.sampled_from(tickets))
    read = read_in_window(demo_db, ticket_id)
    # half the draws from what this customer read, so both sides of "iff" get exercised
    pool = sorted(read) if read and data.draw(st.booleans()) else articles
    picked = data.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3, unique=True))
    locale = data.draw(st.sampled_from(["en-us", "es"]))
    draft = " and ".join(urls_of(demo_db, a)[locale] for a in picked)
    warned = {w["article_id"]: w["views"] for w in check(guard_client, ticket_id, draft)}
    assert warned == {a: read[a] for a in picked if a in read}
