"""Tickets (and conversations) of every connected desk."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlite_utils import Database

from connectors.records import CustomerRef, Ticket
from plugin.clock import to_epoch
from plugin.store import dumps, select_dicts
from plugin.store.customers import follow_moved_requesters, resolve_customers
from plugin.store.journeys import mark_dirty

COLUMNS = (
    "source",
    "id",
    "customer_id",
    "subject",
    "status",
    "priority",
    "channel",
    "tags",
    "created_at",
    "updated_at",
    "solved_at",
    "first_response_at",
    "csat_score",
    "csat_comment",
    "deleted",
)
OPEN_STATUSES = ("new", "open", "pending", "hold")


def upsert_tickets(db: Database, source: str, tickets: Iterable[Ticket]) -> int:
    """Write tickets; returns how many rows changed (identical re-imports change none)."""
    return write_tickets(db, source, tickets)[0]


def write_tickets(
    db: Database, source: str, tickets: Iterable[Ticket]
) -> tuple[int, dict[CustomerRef, int]]:
    """`upsert_tickets`, also returning the customer each requester resolved to (after
    any desk-side merge the batch revealed): a sync writes the tickets' timeline entries
    in the same transaction, for the same people, without resolving them again."""
    tickets = list(tickets)
    customers = resolve_customers(db, (t.requester for t in tickets), source)
    if follow_moved_requesters(db, source, {t.id: customers[t.requester] for t in tickets}):
        customers = resolve_customers(db, (t.requester for t in tickets), source)
    rows = [_row(source, t, customers[t.requester]) for t in tickets]
    placeholders = ", ".join("?" for _ in COLUMNS)
    updates = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS[2:])
    changed_where = " OR ".join(f"{c} IS NOT excluded.{c}" for c in COLUMNS[2:])
    before = db.conn.total_changes
    db.conn.executemany(
        f"INSERT INTO tickets ({', '.join(COLUMNS)}) VALUES ({placeholders}) "
        f"ON CONFLICT(source, id) DO UPDATE SET {updates} WHERE {changed_where}",
        rows,
    )
    changed = db.conn.total_changes - before
    if changed:
        mark_dirty(db, {row[2] for row in rows})
    return changed, customers


def _row(source: str, t: Ticket, customer_id: int) -> tuple:
    return (
        source,
        t.id,
        customer_id,
        t.subject,
        t.status,
        t.priority,
        t.channel,
        dumps(list(t.tags)),
        to_epoch(t.created_at),
        to_epoch(t.updated_at),
        to_epoch(t.solved_at),
        to_epoch(t.first_response_at),
        t.csat_score,
        t.csat_comment,
        int(t.deleted),
    )


def get_ticket(db: Database, source: str, ticket_id: str) -> dict[str, Any] | None:
    rows = select_dicts(
        db, "SELECT * FROM tickets WHERE source = ? AND id = ? AND deleted = 0", [source, ticket_id]
    )
    if not rows:
        return None
    row = rows[0]
    row["tags"] = json.loads(row["tags"])
    return row


def is_deleted(db: Database, source: str, ticket_id: str) -> bool:
    """The desk deleted this stored ticket (its row is kept, flagged)."""
    row = db.execute(
        "SELECT deleted FROM tickets WHERE source = ? AND id = ?", [source, ticket_id]
    ).fetchone()
    return bool(row and row[0])


def count_tickets(db: Database) -> int:
    return db.execute("SELECT count(*) FROM tickets WHERE deleted = 0").fetchone()[0]


def sample_tickets_by_stage(db: Database, source: str, per_stage: int = 1) -> list[dict[str, Any]]:
    """For each journey stage, the newest tickets of customers in it (demo index)."""
    return list(
        db.query(
            "SELECT * FROM (SELECT j.stage, t.source, t.id, t.subject, t.created_at, c.name, "
            "row_number() OVER (PARTITION BY j.stage ORDER BY t.created_at DESC) AS n "
            "FROM tickets t JOIN customer_journeys j ON j.customer_id = t.customer_id "
            "JOIN customers c ON c.id = t.customer_id "
            "WHERE t.source = ? AND t.deleted = 0 AND (EXISTS (SELECT 1 FROM touchpoints v "
            "  WHERE v.customer_id = t.customer_id AND v.type = 'article_view' "
            "  AND v.occurred_at <= t.created_at) OR EXISTS (SELECT 1 FROM touchpoint_inbox v "
            "  WHERE v.customer_id = t.customer_id AND v.type = 'article_view' "
            "  AND v.occurred_at <= t.created_at))) WHERE n <= ? ORDER BY stage, created_at DESC",
            [source, per_stage],
        )
    )


def mark_deleted(db: Database, source: str, ticket_ids: Iterable[str]) -> None:
    """Flag stored tickets as deleted: a deletion the desk sent without a requester (a
    ticket never stored before is simply not stored)."""
    db.conn.executemany(
        "UPDATE tickets SET deleted = 1 WHERE source = ? AND id = ? AND deleted = 0",
        [(source, ticket_id) for ticket_id in ticket_ids],
    )
