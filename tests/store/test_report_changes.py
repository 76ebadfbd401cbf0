"""The queue of what changed for the report figures (store/report_changes.py): the store's
writes append to it in their own transaction, whatever the desk says its `updated_at` is,
and the refresh consumes exactly the rows it read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connectors.records import CustomerRef, Ticket
from plugin.store import open_db
from plugin.store.customers import find_customer, merge_customers
from plugin.store.report_changes import drop, pending_ranges
from plugin.store.sla_decisions import record_decision
from plugin.store.tickets import mark_deleted, upsert_tickets

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
EPOCH0 = int(T0.timestamp())


def queued(db) -> list[tuple]:
    return db.execute(
        "SELECT source, ticket_id, customer_id, at FROM report_changes ORDER BY id"
    ).fetchall()


def ticket(requester: str = "u1", **changes) -> Ticket:
    fields = {"id": "7", "requester": CustomerRef(source_id=requester), "subject": "Hi"}
    fields |= {"created_at": T0, "updated_at": T0}
    return Ticket(**(fields | changes))


def test_a_ticket_is_queued_when_stored_changed_moved_or_deleted_never_when_identical(
    store_location,
):
    db = open_db(store_location)
    upsert_tickets(db, "zendesk", [ticket()])
    first = find_customer(db, CustomerRef(source_id="u1"), "zendesk")
    assert queued(db) == [("zendesk", "7", first, EPOCH0)]

    upsert_tickets(db, "zendesk", [ticket()])  # identical: nothing
    # solved, the desk's clock saying it changed a week before: queued all the same
    upsert_tickets(db, "zendesk", [ticket(status="solved", updated_at=datetime(2026, 10, 1))])
    assert queued(db)[1:] == [("zendesk", "7", first, EPOCH0)]

    upsert_tickets(db, "zendesk", [ticket("u2", status="solved", updated_at=T0)])
    second = find_customer(db, CustomerRef(source_id="u2"), "zendesk")
    assert sorted(queued(db)[2:]) == sorted(
        [("zendesk", "7", second, EPOCH0), ("zendesk", "7", first, EPOCH0)]
    )

    mark_deleted(db, "zendesk", ["7"])
    assert queued(db)[4:] == [("zendesk", "7", second, EPOCH0)]


def test_a_merge_and_a_late_sla_decision_queue_the_tickets_they_touch(store_location):
    db = open_db(store_location)
    upsert_tickets(db, "zendesk", [ticket("u1"), ticket("u2", id="8")])
    first = find_customer(db, CustomerRef(source_id="u1"), "zendesk")
    second = find_customer(db, CustomerRef(source_id="u2"), "zendesk")
    drop(db, pending_ranges(db))

    with db.atomic():
        merge_customers(db, first, second, reason="test")
    assert sorted(queued(db)) == [
        ("zendesk", "7", first, EPOCH0),  # its customer before
        ("zendesk", "7", second, EPOCH0),  # and after
        ("zendesk", "8", second, EPOCH0),  # counted by a stage history made of both
    ]

    drop(db, pending_ranges(db))
    decision = {"source": "zendesk", "ticket_id": "8", "customer_id": second, "rule": "r"}
    decision |= {"rule_version": 1, "tags_added": [], "targets": {}, "reasons": []}
    assert record_decision(db, decision | {"decided_at": EPOCH0})
    assert not record_decision(db, decision | {"decided_at": EPOCH0 + 60})  # kept: the first
    assert queued(db) == [("zendesk", "8", second, EPOCH0)]


def test_the_refresh_drops_the_rows_it_read_and_keeps_those_written_since(store_location):
    db = open_db(store_location)
    upsert_tickets(db, "zendesk", [ticket(id=str(n)) for n in range(5)])
    read = pending_ranges(db)
    upsert_tickets(db, "zendesk", [ticket(id="5")])  # written while the refresh counts
    drop(db, read)
    assert [row[1] for row in queued(db)] == ["5"]
    assert pending_ranges(db) != read


def test_what_the_queued_changes_and_new_touchpoints_move(store_location):
    """The days of a changed ticket (and the day before: the views it follows), the
    customer's tickets it is a contact of (solved within 7 days), and the tickets a late
    view was read before."""
    from connectors.records import Touchpoint
    from plugin.store.report_changes import (
        changed_days,
        changed_tickets,
        tickets_near_touchpoints,
    )
    from plugin.store.touchpoints import insert_touchpoints

    day = EPOCH0 // 86400
    db = open_db(store_location)
    solved = ticket(id="1", status="solved", solved_at=T0 + timedelta(days=2))
    upsert_tickets(db, "zendesk", [solved, ticket(id="2", created_at=T0 + timedelta(days=9))])
    (touchpoint_id,) = db.execute("SELECT coalesce(max(id), 0) FROM touchpoints").fetchone()
    drop(db, pending_ranges(db))

    upsert_tickets(db, "zendesk", [ticket(id="3", created_at=T0 + timedelta(days=1))])
    insert_touchpoints(
        db,
        "zendesk",
        [
            Touchpoint(
                "v",
                "article_view",
                T0 + timedelta(days=8, hours=12),
                CustomerRef(source_id="u1"),
                article_id="a1",
            )
        ],
        article_source="zendesk",
    )
    db.conn.commit()
    queued = pending_ranges(db)

    assert changed_days(db, queued) == {day, day + 1}
    assert {(s, i) for s, i, _ in changed_tickets(db, queued, from_day=day)} == {
        ("zendesk", "3"),
        ("zendesk", "1"),  # solved the day after: ticket 3 counts among its contacts
    }
    assert changed_tickets(db, queued, from_day=day + 2) == set()
    near = tickets_near_touchpoints(db, touchpoint_id, from_day=day)
    assert [(s, i) for s, i, _ in near] == [("zendesk", "2")]  # opened 12 h after the view
