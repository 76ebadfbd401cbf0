"""What changed for the report figures since the worker's last refresh: `report_changes`, a
queue the store appends to in the transaction of each write that moves a figure, and the
refresh consumes (plugin/reports/aggregates.py).

One row is "something of customer `customer_id` at `at` changed": a ticket (`source`,
`ticket_id`; `at` its creation) stored new, changed, deleted, moved to another customer
(a row for the old customer and creation too) or given an SLA decision later; or an
outreach message sent (no ticket; `at` when sent). Who appends: store/tickets.py
(`write_tickets`, `mark_deleted`), store/customers.py (`merge_customers`),
store/sla_decisions.py (`record_decision`), store/outbox.py (`record_sent`).

Why a queue written by the store, not the desk's `updated_at`: a desk's clock, a late sync
or a ticket fetched when an agent opens it give changes dated before the last refresh, so
the old refresh looked a whole day back every run (a day of tickets and every day they
touch, 100 s at 1M customers). The store's own order of writing has no such gap.

Why rows consumed by deleting them, not a marker remembered in `report_state`: a marker
("up to id N") is exact only if ids commit in order. On PostgreSQL a transaction may take
id 10, another id 11 and commit first; a refresh reading then would move past 10 before it
is visible. Here the refresh reads the ids present (`pending_ranges`: runs of consecutive
ids, so nothing else can hide inside one), makes their figures again, then deletes exactly
those runs (`drop`); a row committed meanwhile, with any id, stays for the next run. An
`updated_at` column on tickets would not say which customer a ticket left, either.

The migration (0025) adds no column and rewrites no table: it enqueues what the old
refresh would still have looked at (the tickets changed at the desk within a day of the
last refresh, messages sent since), one pass over the tickets.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlite_utils import Database

from plugin.store.journey_reports import DAY, EFFORT_WINDOW_SECONDS, FOLLOW_SECONDS

PAGE = 10_000
"""Ids read, and deleted, at a time: a first build after a sync of millions of tickets
reads millions of rows (ids only), and deleting them never holds the write lock long."""

_TICKET_ROWS = (
    "INSERT INTO report_changes (source, ticket_id, customer_id, at) "
    "SELECT source, id, customer_id, created_at FROM tickets "
)


def note_tickets(db: Database, rows: Iterable[tuple[str, str, int | None, int]]) -> None:
    """Tickets ((source, id, customer id, created_at)) whose figures are to be made again;
    within the caller's write transaction."""
    db.conn.executemany(
        "INSERT INTO report_changes (source, ticket_id, customer_id, at) VALUES (?, ?, ?, ?)",
        list(rows),
    )


def note_stored_tickets(db: Database, source: str, ticket_ids: Iterable[str]) -> None:
    """Stored tickets of `source`, as they are now (deleted next, or given an SLA decision)."""
    db.conn.executemany(
        _TICKET_ROWS + "WHERE source = ? AND id = ?", [(source, id_) for id_ in ticket_ids]
    )


def note_merge(db: Database, from_id: int, into_id: int) -> None:
    """Before a merge moves everything of `from_id` (tickets, touchpoints, stage history)
    onto `into_id`: every ticket of both, under its customer before and after, and the days
    of every touchpoint and message sent of both (counted by a stage history made of both
    from now on)."""
    both = [from_id, into_id]
    db.conn.execute(
        _TICKET_ROWS + "WHERE customer_id = ? "
        "UNION ALL SELECT source, id, ?, created_at FROM tickets WHERE customer_id IN (?, ?) "
        f"UNION ALL SELECT DISTINCT NULL, NULL, ?, occurred_at / {DAY} * {DAY} "
        "FROM touchpoints WHERE customer_id IN (?, ?) "
        f"UNION ALL SELECT DISTINCT NULL, NULL, ?, sent_at / {DAY} * {DAY} FROM outbox "
        "WHERE customer_id IN (?, ?) AND status = 'sent' AND channel != 'webhook'",
        [from_id, into_id, *both, into_id, *both, into_id, *both],
    )


def note_message_sent(db: Database, message_id: int) -> None:
    """An outreach message sent (a touchpoint of its day; a webhook's is not one)."""
    db.conn.execute(
        "INSERT INTO report_changes (customer_id, at) SELECT customer_id, sent_at FROM outbox "
        "WHERE id = ? AND status = 'sent' AND channel != 'webhook'",
        [message_id],
    )


def pending_ranges(db: Database) -> list[tuple[int, int]]:
    """The ids in the queue now, as (first, last) runs of consecutive ids (a run holds no
    id that was not read), at most PAGE ids each."""
    ranges: list[tuple[int, int]] = []
    last = 0
    while True:
        ids = [
            row[0]
            for row in db.conn.execute(
                "SELECT id FROM report_changes WHERE id > ? ORDER BY id LIMIT ?", [last, PAGE]
            )
        ]
        for found in ids:
            if ranges and ranges[-1][1] == found - 1 and found - ranges[-1][0] < PAGE:
                ranges[-1] = (ranges[-1][0], found)
            else:
                ranges.append((found, found))
        if len(ids) < PAGE:
            return ranges
        last = ids[-1]


def changed_days(db: Database, ranges: list[tuple[int, int]]) -> set[int]:
    """The UTC days whose figures the queued changes in `ranges` move: the day of each
    change, and for a ticket the day before (the views it follows)."""
    days: set[int] = set()
    for first, last in ranges:
        for at, ticket in db.conn.execute(
            "SELECT DISTINCT at, ticket_id IS NOT NULL FROM report_changes "
            "WHERE id >= ? AND id <= ?",
            [first, last],
        ):
            days.add(at // DAY)
            if ticket:
                days.add(at // DAY - 1)
    return days


def changed_tickets(
    db: Database, ranges: list[tuple[int, int]], *, from_day: int
) -> set[tuple[str, str, int]]:
    """(source, id, created_at) of the tickets opened from `from_day` on whose facts the
    queued changes in `ranges` move: the changed tickets themselves, and the customer's
    tickets solved in the 7 days after a changed one was opened (it is one of their
    contacts)."""
    since = from_day * DAY
    found: set[tuple[str, str, int]] = set()
    for first, last in ranges:
        found.update(
            db.conn.execute(
                "SELECT source, ticket_id, at FROM report_changes WHERE id >= ? AND id <= ? "
                "AND ticket_id IS NOT NULL AND at >= ?",
                [first, last, since],
            ).fetchall()
        )
        found.update(
            db.conn.execute(
                "SELECT t.source, t.id, t.created_at FROM report_changes q CROSS JOIN tickets t "
                "INDEXED BY tickets_customer ON t.customer_id = q.customer_id "
                "WHERE q.id >= ? AND q.id <= ? AND q.ticket_id IS NOT NULL "
                f"AND t.solved_at >= q.at AND t.solved_at <= q.at + {EFFORT_WINDOW_SECONDS} "
                "AND t.created_at >= ?",
                [first, last, since],
            ).fetchall()
        )
    return found


def tickets_near_touchpoints(
    db: Database, touchpoint_id: int, *, from_day: int
) -> list[tuple[str, str, int]]:
    """(source, id, created_at) of the tickets opened from `from_day` on whose facts the
    touchpoints written after `touchpoint_id` move: opened in the 24 h after a view (read
    before it) or solved in the 7 days after a view or search (effort)."""
    return db.conn.execute(
        "SELECT DISTINCT t.source, t.id, t.created_at FROM touchpoints v "
        "CROSS JOIN tickets t INDEXED BY tickets_customer ON t.customer_id = v.customer_id "
        "WHERE v.id > ? AND v.type IN ('article_view', 'search') AND t.created_at >= ? AND ("
        f"(t.created_at >= v.occurred_at AND t.created_at <= v.occurred_at + {FOLLOW_SECONDS}) "
        f"OR (t.solved_at >= v.occurred_at AND t.solved_at <= v.occurred_at "
        f"+ {EFFORT_WINDOW_SECONDS}))",
        [touchpoint_id, from_day * DAY],
    ).fetchall()


def drop(db: Database, ranges: list[tuple[int, int]]) -> None:
    """Forget the queued changes `ranges` (read by `pending_ranges`, their figures made)."""
    for first, last in ranges:
        with db.atomic():
            db.conn.execute("DELETE FROM report_changes WHERE id >= ? AND id <= ?", [first, last])


def count_pending(db: Database) -> int:
    """Queued changes not consumed yet."""
    return db.conn.execute("SELECT count(*) FROM report_changes").fetchone()[0]
