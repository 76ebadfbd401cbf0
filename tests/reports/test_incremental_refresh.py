"""The worker's refresh is incremental and exact: what changed is found by the store's own
order of writing (store/report_changes.py, touchpoint and stage history ids), never by a
desk's clock; with nothing new it counts nothing; and whatever the sequence of changes and
refreshes, the figures equal the figures built from nothing."""

from __future__ import annotations

import random

import pytest

from connectors.records import CustomerRef, Ticket, Touchpoint
from plugin.clock import from_epoch
from plugin.reports.aggregates import rebuild, refresh
from plugin.store import open_db
from plugin.store.customers import merge_customers
from plugin.store.outbox import claim_messages, record_sent, start_sending
from plugin.store.report_changes import count_pending
from plugin.store.sla_decisions import record_decision
from plugin.store.tickets import mark_deleted, upsert_tickets
from plugin.store.touchpoints import insert_touchpoints
from tests.reports.generated_history import DAY, DESK, END, START, generate

FIGURES = (
    "touchpoint_days",
    "report_article_days",
    "ticket_facts",
    "report_ticket_days",
    "report_time_days",
    "ticket_days",
)


@pytest.fixture
def db(store_location):
    """A store of the test's own, on each engine."""
    opened = open_db(store_location)
    yield opened
    opened.conn.close()


def figures(db) -> dict[str, list[tuple]]:
    """Every figure of the days built (older rows are never read)."""
    (built_from,) = db.execute("SELECT built_from FROM report_state").fetchone()
    found = {}
    for table in FIGURES:
        day = "created_at / 86400" if table == "ticket_facts" else "day"
        rows = db.execute(f"SELECT * FROM {table} WHERE {day} >= ?", [built_from])  # noqa: S608
        found[table] = sorted(rows.fetchall(), key=repr)
    return found


def ref_of(history, customer: int) -> CustomerRef:
    return CustomerRef(source_id=f"c{customer - min(history.customers)}")


def as_ticket(history, stored: dict, **changes) -> Ticket:
    fields = {
        "id": stored["id"],
        "requester": ref_of(history, stored["customer"]),
        "subject": "Help",
        "created_at": from_epoch(stored["created"]),
        "updated_at": from_epoch(stored["created"]),
        "status": "solved" if stored["solved"] else "open",
        "channel": stored["channel"],
        "solved_at": from_epoch(stored["solved"]),
        "csat_score": stored["csat"],
        "deleted": stored["deleted"],
    }
    return Ticket(**(fields | changes))


def test_a_ticket_changed_with_an_old_desk_updated_at_is_counted(db):
    """A desk whose clock is behind (or a late sync) says the ticket changed days before
    the last refresh: the store queued the write all the same."""
    history = generate(db, seed=5, customers=12)
    refresh(db, now=END)
    stored = next(
        t
        for t in history.tickets
        if not t["deleted"] and t["solved"] is None and START + 5 * DAY < t["created"] < END - DAY
    )
    solved = stored["created"] + 3600
    upsert_tickets(
        db,
        DESK,
        [
            as_ticket(
                history,
                stored,
                status="solved",
                solved_at=from_epoch(solved),
                csat_score="good",
                updated_at=from_epoch(solved),  # days before the last refresh
            )
        ],
    )
    db.conn.commit()

    done = refresh(db, now=END + 600)

    assert done.tickets >= 1 and count_pending(db) == 0
    fact = db.execute(
        "SELECT solved_at, csat FROM ticket_facts WHERE source = ? AND ticket_id = ?",
        [DESK, stored["id"]],
    ).fetchone()
    assert fact == (solved, "good")
    counted = figures(db)
    rebuild(db, now=END + 600)
    assert figures(db) == counted


def test_a_refresh_with_nothing_new_counts_no_day_and_no_ticket(db):
    generate(db, seed=6, customers=12)
    refresh(db, now=END)
    before = figures(db)

    quiet = refresh(db, now=END + 600)

    assert (quiet.days, quiet.tickets) == (0, 0)
    assert figures(db) == before


@pytest.mark.parametrize("seed", [7, 11, 23])
def test_figures_after_any_sequence_of_refreshes_equal_figures_built_from_nothing(db, seed):
    """New tickets, tickets solved or rated with an old updated_at, moved to another
    customer, deleted; late views and searches; messages sent; a late SLA decision; a
    merge: in a random order, with refreshes between, at moving moments."""
    history = generate(db, seed=seed, customers=16)
    rng = random.Random(seed)
    now = END
    refresh(db, now=now)
    customers = sorted(history.customers)
    number = 0

    def new_ticket() -> None:
        nonlocal number
        number += 1
        customer = rng.choice(customers)
        created = rng.randint(START, now)
        solved = created + rng.randint(60, 3 * DAY) if rng.random() < 0.5 else None
        stored = {"id": f"n{number}", "customer": customer, "created": created}
        stored |= {"solved": solved if solved and solved < now else None}
        stored |= {"channel": rng.choice(["email", "chat"]), "csat": None, "deleted": False}
        history.tickets.append(stored)
        upsert_tickets(db, DESK, [as_ticket(history, stored)])

    def solve_or_rate() -> None:
        stored = rng.choice([t for t in history.tickets if not t["deleted"]])
        stored["solved"] = stored["solved"] or min(stored["created"] + 7200, now)
        stored["csat"] = rng.choice(["good", "bad"])
        upsert_tickets(db, DESK, [as_ticket(history, stored)])  # updated_at: its creation

    def move() -> None:
        stored = rng.choice([t for t in history.tickets if not t["deleted"]])
        stored["customer"] = rng.choice(customers)
        upsert_tickets(db, DESK, [as_ticket(history, stored)])

    def delete() -> None:
        stored = rng.choice([t for t in history.tickets if not t["deleted"]])
        stored["deleted"] = True
        mark_deleted(db, DESK, [stored["id"]])

    def late_touchpoint() -> None:
        customer = rng.choice(customers)
        kind = rng.choice(["article_view", "search"])
        insert_touchpoints(
            db,
            DESK,
            [
                Touchpoint(
                    f"late-{rng.random()}",
                    kind,
                    from_epoch(rng.randint(START, now)),
                    ref_of(history, customer),
                    article_id="a2" if kind == "article_view" else None,
                )
            ],
            article_source=DESK,
        )

    def send() -> None:
        customer = rng.choice(customers)
        message = {"rule": "late", "customer_id": customer, "period": f"p{rng.random()}"}
        message |= {"rule_version": 1, "status": "pending", "channel": "email"}
        message |= {"recipient": history.customers[customer], "reasons": [], "next_attempt_at": now}
        (message_id,) = claim_messages(db, [message], now=now)
        start_sending(db, message_id, holder="test", now=now)
        record_sent(db, message_id, holder="test", outcome="ok", external_id=None, now=now)

    def decide() -> None:
        stored = rng.choice([t for t in history.tickets if not t["deleted"]])
        decision = {"source": DESK, "ticket_id": stored["id"], "customer_id": stored["customer"]}
        decision |= {"rule": "late", "rule_version": 1, "tags_added": [], "reasons": []}
        decision |= {"targets": {"first_response_minutes": 30, "resolution_minutes": 600}}
        with db.atomic():
            record_decision(db, decision | {"decided_at": now})

    def merge() -> None:
        gone, into = rng.sample(customers, 2)
        customers.remove(gone)
        with db.atomic():
            merge_customers(db, gone, into, reason="test")
        for stored in history.tickets:
            if stored["customer"] == gone:
                stored["customer"] = into

    changes = [new_ticket, solve_or_rate, move, delete, late_touchpoint, send, decide]
    for step in range(60):
        rng.choice(changes)()
        if step == 30:
            merge()
        db.conn.commit()
        if rng.random() < 0.3:
            now += rng.randint(60, DAY // 2)
            refresh(db, now=now)
    refresh(db, now=now)
    counted = figures(db)
    assert count_pending(db) == 0

    rebuild(db, now=now)

    assert figures(db) == counted
