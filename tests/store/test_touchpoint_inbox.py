"""Ingested events wait in the inbox until merged into the history; every read covers both.

Events go in through POST /api/v1/events (tests/test_ingest.py's desk: Ana, article 101
in two locales); the reads are the store's, as the sidebar, the reply guard and the
recompute ask them.
"""

from __future__ import annotations

import pytest

from connectors.records import Article, CustomerRef
from plugin.background.jobs import scheduled_merge
from plugin.background.worker_lease import lease_for
from plugin.intake import ingest as ingest_module
from plugin.store.articles import popular_in, upsert_articles
from plugin.store.customers import find_customer
from plugin.store.history import (
    article_views_of,
    customer_aggregates,
    earlier_reading,
    effort_counts,
    has_activity,
    last_articles_before,
    read_articles,
    readings,
    timeline,
)
from plugin.store.tickets import customer_facts
from plugin.store.touchpoints import count_touchpoints, inbox_backlog, merge_inbox
from tests.intake.test_ingest import ANA, NOW, at, make_app, post, store, view

END = int(NOW.timestamp()) + 60
DAY = 86_400
URL = "https://h.test/hc/en-us/articles/101-x"


@pytest.fixture
def ingest(tmp_path):
    app, config = make_app(tmp_path)
    return app.test_client(), config


def everything_read(db, customer_id: int) -> dict:
    """What each touchpoint read says about the customer (and article 101's popularity)."""
    facts = customer_facts(db, customer_id, end=END, effort_seconds=7 * DAY, messages_since=0)
    aggregates = customer_aggregates(db, [customer_id], now=END)[customer_id]
    return {
        "last_articles": last_articles_before(db, customer_id, END, since=0, limit=5),
        "timeline": timeline(db, customer_id, until=END, limit=15),
        "effort": effort_counts(db, customer_id, start=END - 7 * DAY, end=END),
        "readings": readings(db, customer_id, [("demo", "101")], since=0, reference=END),
        "read": read_articles(db, customer_id),
        "earlier": earlier_reading(db, customer_id, before=END),
        "active": has_activity(db, customer_id),
        "sidebar": (facts.has_activity, facts.effort),
        "facts": {k: v for k, v in aggregates.items() if k != "attributes"},
        "views": article_views_of(db, customer_id),
        "counts": (count_touchpoints(db), count_touchpoints(db, "article_view")),
        "popular": [
            r["recent_views"]
            for r in popular_in(db, "demo", field="section", value="Data", locale=None, since=0)
        ],
    }


def ana(db) -> int:
    return find_customer(db, CustomerRef(email=ANA), "demo")


def test_waiting_events_read_the_same_before_and_after_the_merge(ingest):
    client, config = ingest
    search = {"id": "q1", "type": "search", "occurred_at": at(4), "customer": {"email": ANA},
              "properties": {"query": "export csv"}}  # fmt: skip
    spanish = {"id": "101", "locale": "es", "title": "Exportar a CSV"}
    first = [view("v1", {"email": ANA}, minutes_ago=60), view("v2", {"email": ANA}, spanish, 50)]
    assert post(client, first).get_json()["accepted"] == 2
    db = store(config)
    try:
        with db.atomic():  # article 101 in a section, for its popularity
            upsert_articles(db, "demo", [Article("101", "en-us", "Export", URL, section="Data")])
        merge_inbox(db)  # some of Ana's history is merged, the rest waits
        assert post(client, [view("v3", {"email": ANA}, minutes_ago=5), search]).status_code == 200
        assert inbox_backlog(db) == 2
        waiting = everything_read(db, ana(db))
        assert waiting["effort"]["views"] == 3 and waiting["effort"]["searches"] == 1
        assert waiting["popular"] == [3] and waiting["facts"]["views_last_7d"] == 3
        assert [t["type"] for t in waiting["timeline"]] == [
            "search",
            "article_view",
            "article_view",
            "article_view",
        ]
        # A shorter timeline is its newest rows, from both tables (each half limited first
        # on PostgreSQL).
        assert timeline(db, ana(db), until=END, limit=3) == waiting["timeline"][:3]
        assert merge_inbox(db) == 2
        assert inbox_backlog(db) == 0
        assert everything_read(db, ana(db)) == waiting
    finally:
        db.conn.close()


def test_duplicates_are_counted_across_the_inbox_and_the_history(ingest):
    client, config = ingest
    assert (
        post(client, [view("d1", {"email": ANA}), view("d2", {"email": ANA})]).get_json()[
            "accepted"
        ]
        == 2
    )
    db = store(config)
    try:
        merge_inbox(db)
        again = post(client, [view("d2", {"email": ANA}), view("d3", {"email": ANA})]).get_json()
        assert (again["accepted"], again["duplicates"]) == (1, 1)  # d2 is in the history
        waiting = post(client, [view("d3", {"email": ANA})]).get_json()
        assert (waiting["accepted"], waiting["duplicates"]) == (0, 1)  # d3 is in the inbox
        merge_inbox(db)
        assert count_touchpoints(db) == 3
        assert len(article_views_of(db, ana(db))) == 3
    finally:
        db.conn.close()


def test_a_merge_in_chunks_moves_every_event_once(ingest):
    client, config = ingest
    events = [view(f"c{n}", {"email": ANA}, minutes_ago=n) for n in range(25)]
    assert post(client, events).get_json()["accepted"] == 25
    db = store(config)
    try:
        before = article_views_of(db, ana(db))
        assert merge_inbox(db, chunk=7) == 25
        assert merge_inbox(db) == 0
        assert inbox_backlog(db) == 0
        assert article_views_of(db, ana(db)) == before
        assert db.execute("SELECT count(*) FROM touchpoints").fetchone()[0] == 25
    finally:
        db.conn.close()


def test_identify_moves_waiting_reads_and_the_merge_keeps_them_with_the_customer(ingest):
    client, config = ingest
    visitor = {"anonymous_id": "v-waiting"}
    post(client, [view("w1", visitor, minutes_ago=30), view("w2", visitor, minutes_ago=20)])
    identify = {"id": "w3", "type": "identify", "occurred_at": at(10),
                "customer": {"anonymous_id": "v-waiting", "email": ANA}}  # fmt: skip
    assert post(client, [identify]).get_json()["accepted"] == 1
    db = store(config)
    try:
        merge_inbox(db)
        assert len(article_views_of(db, ana(db))) == 2
        orphans = db.execute(
            "SELECT count(*) FROM touchpoints t JOIN customers c ON c.id = t.customer_id "
            "WHERE c.merged_into IS NOT NULL"
        ).fetchone()[0]
        assert orphans == 0
    finally:
        db.conn.close()


def test_a_writer_merges_an_inbox_that_outgrew_its_limit(ingest, monkeypatch):
    client, config = ingest
    monkeypatch.setattr(ingest_module, "INBOX_LIMIT", 3)
    assert post(client, [view("f1", {"email": ANA}), view("f2", {"email": ANA})]).status_code == 200
    db = store(config)
    try:
        assert inbox_backlog(db) == 2  # within the limit: left for the worker
        post(client, [view(f"f{n}", {"email": ANA}) for n in range(3, 6)])
        assert inbox_backlog(db) == 0
        assert count_touchpoints(db) == 5
    finally:
        db.conn.close()


def test_the_worker_merges_the_inbox_and_health_shows_what_waits(ingest):
    client, config = ingest
    post(client, [view("s1", {"email": ANA}), view("s2", {"email": ANA})])
    assert client.get("/healthz").get_json()["events_waiting"] == 2
    try:
        scheduled_merge(config)
    finally:
        lease_for(config).release()
    db = store(config)
    try:
        assert inbox_backlog(db) == 0
        assert db.execute("SELECT count(*) FROM touchpoints").fetchone()[0] == 2
    finally:
        db.conn.close()
    assert client.get("/healthz").get_json()["events_waiting"] == 0
