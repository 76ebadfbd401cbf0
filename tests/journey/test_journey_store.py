"""The journey's store functions on a small store written by hand, on both engines: what
a customer's tickets say (the latest rating), stage moves counted and timed for the
reports, outreach outcomes settled, the reply guard's record, admin sessions."""

from __future__ import annotations

import pytest

from plugin.store import dumps, open_store
from plugin.store.admin_sessions import admin_session_alive, start_admin_session
from plugin.store.guard_events import (
    Warned,
    guard_counts_by_article,
    guard_counts_by_week,
    record_outcome,
    record_warnings,
    ticket_guard_events,
)
from plugin.store.history import customer_aggregates, dated_events
from plugin.store.journey_reports import (
    current_stage_counts,
    outreach_counts,
    settle_outreach_outcomes,
    stage_stays,
    transition_moments,
)
from plugin.store.journeys import (
    JourneyRow,
    customers_with_signal,
    save_journeys,
    transition_counts,
)
from plugin.store.rule_sets import latest_rule_set, save_rule_set

pytestmark = pytest.mark.usefixtures("backend")
DAY = 86_400
NOW = 1_800_000_000


@pytest.fixture
def db(store_location):
    with open_store(store_location) as handle:
        with handle.atomic():
            handle.conn.executemany(
                "INSERT INTO customers (id, name, email, created_at, updated_at) "
                "VALUES (?, ?, ?, 1, 1)",
                [(1, "Ana", "ana@example.com"), (2, "Bo", "bo@example.com")],
            )
        yield handle


def add_ticket(db, ticket_id: str, customer: int, created: int, **columns) -> None:
    row = {"source": "demo", "id": ticket_id, "customer_id": customer, "subject": "Help"}
    row |= {"status": "solved", "created_at": created, **columns}
    names, values = list(row), list(row.values())
    with db.atomic():
        db.execute(
            f"INSERT INTO tickets ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",
            values,
        )


def test_the_latest_rating_is_the_one_a_customer_gave_last(db):
    add_ticket(db, "1", 1, NOW - 9 * DAY, solved_at=NOW - 8 * DAY, csat_score="good")
    add_ticket(db, "2", 1, NOW - 5 * DAY, solved_at=NOW - 4 * DAY, csat_score="bad")
    add_ticket(db, "3", 1, NOW - 2 * DAY, status="open")  # newest, not rated
    add_ticket(db, "4", 2, NOW - 40 * DAY, status="open")
    aggregates = customer_aggregates(db, [1, 2], now=NOW)
    assert aggregates[1]["last_csat"] == "bad" and aggregates[2]["last_csat"] is None
    assert (aggregates[1]["open_tickets"], aggregates[1]["tickets_last_7d"]) == (1, 2)
    assert (aggregates[2]["open_tickets"], aggregates[2]["tickets_last_30d"]) == (1, 0)
    closed = [closed for _created, closed, _csat, _rated in dated_events(db, [1]).tickets[1]]
    assert closed == [NOW - 8 * DAY, NOW - 4 * DAY, None]


def test_stage_moves_are_counted_timed_and_found_by_signal(db):
    save_journeys(
        db, [JourneyRow(1, "awareness", [], []), JourneyRow(2, "awareness", [], [])], now=NOW
    )
    add_ticket(db, "1", 1, NOW + DAY + 3600)
    signal = [{"key": "high_effort", "reasons": []}]
    moved = save_journeys(
        db,
        [JourneyRow(1, "purchase", [], signal), JourneyRow(2, "awareness", [], [])],
        now=NOW + DAY,
    )
    assert moved == 1 and customers_with_signal(db, "high_effort") == {1}
    counts = transition_counts(db, since=0, until=NOW + 2 * DAY, first_stages=True)
    assert [(c.from_stage, c.to_stage, c.moves) for c in counts] == [
        (None, "awareness", 2),  # first placements sort first among equals, on both engines
        ("awareness", "purchase", 1),
    ]
    assert stage_stays(db, start=NOW, end=NOW + 2 * DAY) == [{"stage": "awareness", "seconds": DAY}]
    assert transition_moments(db, start=NOW, end=NOW + 2 * DAY) == [
        {"from_stage": "awareness", "to_stage": "purchase", "tickets": 1}
    ]
    assert sorted((r["stage"], r["customers"]) for r in current_stage_counts(db)) == [
        ("awareness", 1),
        ("purchase", 1),
    ]


def test_outreach_outcomes_are_settled_once_with_what_followed(db):
    message = (
        "INSERT INTO outbox (rule, customer_id, period, status, channel, recipient, "
        "next_attempt_at, created_at, updated_at, sent_at) VALUES (?, ?, 'p', 'sent', 'email', "
        "?, ?, ?, ?, ?)"
    )
    with db.atomic():
        db.execute(message, ["welcome", 1, "ana@example.com", NOW, NOW, NOW, NOW])
        db.execute(message, ["welcome", 2, "Bo@Example.com", NOW, NOW, NOW, NOW])
        db.execute(
            "INSERT INTO suppressions (email, reason, created_at) "
            "VALUES ('bo@example.com', 'unsubscribed', ?)",
            [NOW + DAY],
        )
    add_ticket(db, "1", 1, NOW + 2 * DAY)
    unsettled = outreach_counts(db, start=NOW - DAY, end=NOW + DAY)
    assert [(r["messages"], r["settled"], r["unsubscribed"]) for r in unsettled] == [(2, 0, 1)]
    assert settle_outreach_outcomes(db, now=NOW + 9 * DAY) == 2
    assert settle_outreach_outcomes(db, now=NOW + 9 * DAY) == 0  # settled once
    settled = outreach_counts(db, start=NOW - DAY, end=NOW + DAY)
    assert [(r["messages"], r["settled"], r["tickets"], r["unsubscribed"]) for r in settled] == [
        (2, 2, 1, 1)
    ]


def test_a_warning_counts_its_checks_until_the_agent_decides(db):
    warned = [Warned("demo", "42", "Exporting"), Warned("demo", "43")]
    for at in (NOW, NOW + 60):
        record_warnings(db, source="demo", ticket_id="7", customer_id=1, warned=warned, now=at)
    assert (
        record_outcome(
            db,
            source="demo",
            ticket_id="7",
            articles=[("demo", "42")],
            outcome="edited",
            now=NOW + 90,
        )
        == 1
    )
    record_warnings(
        db, source="demo", ticket_id="7", customer_id=1, warned=warned[:1], now=NOW + 99
    )
    rows = [
        (e["article_id"], e["checks"], e["outcome"]) for e in ticket_guard_events(db, "demo", "7")
    ]
    assert rows == [("42", 2, "edited"), ("43", 2, None), ("42", 1, None)]
    weeks = guard_counts_by_week(db, start=NOW, end=NOW + DAY)
    assert sorted((w["outcome"] or "", w["warnings"]) for w in weeks) == [("", 2), ("edited", 1)]
    assert {w["monday"] for w in weeks} == {NOW - (NOW + 3 * DAY) % (7 * DAY)}
    articles = guard_counts_by_article(db, start=NOW, end=NOW + DAY)
    assert sorted((a["article_id"], a["title"], a["warnings"]) for a in articles) == [
        ("42", "Exporting", 1),
        ("42", "Exporting", 1),
        ("43", None, 1),
    ]


def test_rule_sets_are_numbered_and_sessions_renewed(db):
    first = save_rule_set(db, "journey", {"stages": []}, created_by="Ana", now=NOW)
    second = save_rule_set(db, "journey", {"stages": [1]}, created_by="Bo", now=NOW + 1)
    assert (first.version, second.version) == (1, 2) and second.id > first.id
    assert latest_rule_set(db, "journey") == second
    start_admin_session(db, "s-1", "Ana", 60, now=NOW)
    start_admin_session(db, "s-1", "Ana", 600, now=NOW + 30)  # the same session, renewed
    assert admin_session_alive(db, "s-1", now=NOW + 300)
    assert dumps(second.definitions) == '{"stages":[1]}'
