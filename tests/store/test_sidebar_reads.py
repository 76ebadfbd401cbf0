"""The sidebar's merged read says what the separate store reads it replaces say."""

from __future__ import annotations

from plugin.store import open_db, read_together
from plugin.store.customers import desk_user_of, get_customer
from plugin.store.history import (
    article_reads,
    articles_from_views,
    effort_counts,
    has_activity,
    last_articles_before,
    timeline_read,
    timeline_rows,
)
from plugin.store.journeys import get_journey
from plugin.store.outbox import received_messages, received_messages_read
from plugin.store.sla_decisions import decision_read, get_decision
from plugin.store.sync_state import last_history_fetch, record_history_fetch
from plugin.store.tickets import customer_facts, get_ticket, ticket_context

WEEK = 7 * 86_400


def _expected_facts(db, customer_id: int, end: int) -> tuple:
    customer = get_customer(db, customer_id)
    journey = get_journey(db, customer_id)
    return (
        None
        if customer is None
        else {k: customer[k] for k in ("name", "email", "signup_at", "plan", "locale")},
        None
        if journey is None
        else {k: journey[k] for k in ("stage", "stage_since", "reasons", "signals")},
        has_activity(db, customer_id),
        effort_counts(db, customer_id, start=end - WEEK, end=end),
    )


def _observed(facts) -> tuple:
    """The merged read's facts, in `_expected_facts`' order."""
    return facts.customer, facts.journey, facts.has_activity, facts.effort


def test_ticket_context_matches_the_separate_reads(seeded_demo):
    db = open_db(seeded_demo.database_path, migrate=False)
    try:
        rows = db.execute("SELECT source, id FROM tickets ORDER BY created_at LIMIT 60").fetchall()
        source, first = rows[0]
        # One requester with an on-demand fetch on record (rolled back at the end: the
        # demo database is shared by the session).
        user = desk_user_of(db, get_ticket(db, source, first)["customer_id"], source)
        assert user is not None
        record_history_fetch(db, source, user, 2_000_000_000)
        fetched = ticket_context(db, source, first, effort_seconds=WEEK, messages_since=0)
        assert fetched.last_history_fetch == 2_000_000_000
        for source, ticket_id in rows:
            context = ticket_context(db, source, ticket_id, effort_seconds=WEEK, messages_since=0)
            ticket = get_ticket(db, source, ticket_id)
            assert context.ticket == ticket
            customer_id, created = ticket["customer_id"], ticket["created_at"]
            assert _observed(context.facts) == _expected_facts(db, customer_id, created)
            assert context.facts.messages == received_messages(db, customer_id, since=0)
            assert context.decision == get_decision(db, source, ticket_id)
            user = desk_user_of(db, customer_id, source)
            assert context.desk_user == user
            expected_last = None if user is None else last_history_fetch(db, source, user)
            assert context.last_history_fetch == expected_last
        missing = ticket_context(
            db, source, "no-such-ticket", effort_seconds=WEEK, messages_since=0
        )
        assert missing is None
    finally:
        db.conn.rollback()
        db.conn.close()


def test_customer_facts_match_the_separate_reads(seeded_demo):
    db = open_db(seeded_demo.database_path, migrate=False)
    try:
        ids = [r[0] for r in db.execute("SELECT id FROM customers ORDER BY id LIMIT 40")]
        end = db.execute("SELECT max(occurred_at) FROM touchpoints").fetchone()[0]
        for customer_id in [*ids, 10**9]:
            facts = customer_facts(db, customer_id, end=end, effort_seconds=WEEK, messages_since=0)
            assert _observed(facts) == _expected_facts(db, customer_id, end)
            assert facts.messages == received_messages(db, customer_id, since=0)
    finally:
        db.conn.close()


def test_reads_together_give_what_each_read_gives_alone(seeded_demo):
    """The journey's lists read at once (one round trip on PostgreSQL) are the lists the
    store's functions read one by one, in the order asked."""
    db = open_db(seeded_demo.database_path, migrate=False)
    try:
        rows = db.execute(
            "SELECT source, id, customer_id, created_at FROM tickets ORDER BY created_at LIMIT 30"
        ).fetchall()
        read_anything = False
        for source, ticket_id, customer_id, created in rows:
            since = created - 30 * 86_400
            timeline, views, versions, messages, decision = read_together(
                db,
                timeline_read(db, customer_id, until=created, limit=15),
                *article_reads(customer_id, created, since=since),
                received_messages_read(customer_id, since=since),
                decision_read(source, ticket_id),
            )
            assert timeline == timeline_rows(db, customer_id, until=created, limit=15)
            shown = articles_from_views(db, customer_id, views, versions, limit=5)
            assert shown == last_articles_before(db, customer_id, created, since=since, limit=5)
            assert messages == received_messages(db, customer_id, since=since)
            assert decision == get_decision(db, source, ticket_id)
            read_anything = read_anything or bool(timeline and views)
        assert read_anything  # the demo's requesters read before their tickets
    finally:
        db.conn.close()
