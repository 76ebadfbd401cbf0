"""Tickets (and conversations) of every connected desk, and a ticket's context.

`ticket_context` is the sidebar's per-request reads merged: one statement for everything
a journey needs about one ticket (or, `customer_facts`, one customer) that is a single
value. A journey request used to ask ~12 small questions one statement each (the ticket,
its requester, their journey row, whether they have any activity, the effort counts, the
requester's desk id and when their history was last fetched, their open tickets), and
each statement costs 10-25 µs from Python whatever it does. Here they are one statement
of scalar subqueries, each keyed by `customer_id` first like the separate queries were
(same indexes, same rows visited); the few that give several values give them as a JSON
array. The longer lists (timeline, articles read) are in `history.py`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlite_utils import Database

from connectors.records import CustomerRef, Ticket
from plugin.clock import from_epoch, to_epoch
from plugin.store import dumps, loads_stored, select_dicts
from plugin.store.customers import follow_moved_requesters, resolve_customers
from plugin.store.journeys import mark_dirty
from plugin.store.outbox import messages_from_column, received_messages_column
from plugin.store.report_changes import note_stored_tickets, note_tickets
from plugin.store.sla_decisions import decision_column, decision_from_column
from plugin.store.touchpoints import over_both

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
    "group_name",
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
    note_tickets(db, _report_changes(db, source, rows))
    placeholders = ", ".join("?" for _ in COLUMNS)
    updates = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS[2:])
    changed_where = " OR ".join(f"tickets.{c} IS DISTINCT FROM excluded.{c}" for c in COLUMNS[2:])
    changed = db.conn.executemany(
        f"INSERT INTO tickets ({', '.join(COLUMNS)}) VALUES ({placeholders}) "
        f"ON CONFLICT(source, id) DO UPDATE SET {updates} WHERE {changed_where}",
        rows,
    ).rowcount
    if changed:
        mark_dirty(db, {row[2] for row in rows})
    return changed, customers


def _report_changes(
    db: Database, source: str, rows: list[tuple]
) -> list[tuple[str, str, int | None, int]]:
    """What of `rows` the upsert changes, for the report figures (store/report_changes.py):
    (source, id, customer, created_at) of each row new or different from the stored one,
    and of the stored one too when the ticket moves to another customer or day. The rows
    are compared as the upsert's WHERE compares them (every column)."""
    stored: dict[str, tuple] = {}
    ids = [row[1] for row in rows]
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for found in db.conn.execute(
            f"SELECT {', '.join(COLUMNS)} FROM tickets WHERE source = ? "  # noqa: S608
            f"AND id IN ({', '.join('?' * len(chunk))})",
            [source, *chunk],
        ):
            stored[found[1]] = tuple(found)
    customer, created = COLUMNS.index("customer_id"), COLUMNS.index("created_at")
    changes = []
    for row in rows:
        before = stored.get(row[1])
        if before == row:
            continue
        changes.append((source, row[1], row[customer], row[created]))
        if before is not None and (before[customer], before[created]) != (
            row[customer],
            row[created],
        ):
            changes.append((source, row[1], before[customer], before[created]))
    return changes


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
        t.group,
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


def known_ticket_ids(db: Database, source: str, ticket_ids: Iterable[str]) -> set[str]:
    """Which of `ticket_ids` the store already holds (deleted ones too)."""
    ids = list(ticket_ids)
    known: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        known.update(
            row[0]
            for row in db.conn.execute(
                "SELECT id FROM tickets WHERE source = ? "
                f"AND id IN ({', '.join('?' * len(chunk))})",
                [source, *chunk],
            )
        )
    return known


def ticket_customers(db: Database, source: str, ticket_ids: Iterable[str]) -> dict[str, int]:
    """{ticket id: its customer id} of stored tickets."""
    ids = list(ticket_ids)
    found: dict[str, int] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        found.update(
            db.conn.execute(
                "SELECT id, customer_id FROM tickets WHERE source = ? "
                f"AND id IN ({', '.join('?' * len(chunk))})",
                [source, *chunk],
            ).fetchall()
        )
    return found


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
            "  AND v.occurred_at <= t.created_at))) AS ranked "
            "WHERE n <= ? ORDER BY stage, created_at DESC",
            [source, per_stage],
        )
    )


def mark_deleted(db: Database, source: str, ticket_ids: Iterable[str]) -> None:
    """Flag stored tickets as deleted: a deletion the desk sent without a requester (a
    ticket never stored before is simply not stored)."""
    ticket_ids = list(ticket_ids)
    note_stored_tickets(db, source, ticket_ids)
    db.conn.executemany(
        "UPDATE tickets SET deleted = 1 WHERE source = ? AND id = ? AND deleted = 0",
        [(source, ticket_id) for ticket_id in ticket_ids],
    )


OPEN_TICKETS_SHOWN = 10
"""Open tickets listed beside a journey, newest first."""

_HISTORY = "touchpoints INDEXED BY touchpoints_article_views"
_EFFORT_COUNTS = (
    "json_array(count(*) FILTER (WHERE type = 'article_view'), "
    "count(DISTINCT CASE WHEN type = 'article_view' THEN article_source || ':' || article_id END), "
    "count(*) FILTER (WHERE type = 'search' AND article_id IS NULL))"
)
"""views, distinct articles and searches in one walk of the window (was three). A search
row naming an article is a click on a result (a desk's `result_click`): part of the search
before it, not another one."""


def _customer_part(cid: str, end: str) -> str:
    """The customer's columns, for the customer whose id is the SQL `cid`; effort counted
    up to the SQL `end`, the proactive messages received since `:since`. Touchpoints are
    read in the history and the inbox: the effort window's walk covers the inbox only when
    the customer has rows there (one seek of its index decides; an empty or small inbox
    then costs nothing more)."""
    window = (
        f"customer_id = {cid} AND occurred_at BETWEEN {end} - :effort AND {end} "
        "AND type IN ('article_view', 'search')"
    )
    waiting = f"EXISTS (SELECT 1 FROM touchpoint_inbox WHERE customer_id = {cid})"
    both = over_both(f"SELECT type, article_source, article_id FROM {{touchpoints}} WHERE {window}")
    statuses = ", ".join(f"'{status}'" for status in OPEN_STATUSES)
    return f"""
    c.id IS NOT NULL, c.name, c.email, c.signup_at, c.plan, c.locale,
    j.stage, j.stage_since, j.reasons, j.signals,
    EXISTS (SELECT 1 FROM touchpoints WHERE customer_id = {cid}) OR {waiting},
    CASE WHEN {waiting} THEN (SELECT {_EFFORT_COUNTS} FROM ({both}) AS w)
     ELSE (SELECT {_EFFORT_COUNTS} FROM {_HISTORY} WHERE {window}) END,
    (SELECT count(*) FROM tickets
     WHERE customer_id = {cid} AND deleted = 0
     AND created_at BETWEEN {end} - :effort AND {end}),
    (SELECT json_group_array(json_array(source, id, subject, status, created_at))
     FROM (SELECT source, id, subject, status, created_at FROM tickets
           WHERE customer_id = {cid} AND deleted = 0 AND status IN ({statuses})
           ORDER BY created_at DESC LIMIT {OPEN_TICKETS_SHOWN}) AS newest),
    {received_messages_column(cid, ":since")}"""


_CUSTOMER_WIDTH = 15

# The requester's desk user id, when their history was last fetched and last synced, from
# one walk of their identities (a column of a subquery read three times ran it three times).
_DESK_USER = (
    "(SELECT json_array(i.value, "
    "(SELECT fetched_at FROM customer_fetches WHERE source = :source AND user_id = i.value), "
    "(SELECT updated_at FROM sync_cursors WHERE source = :source AND stream = 'touchpoints' "
    " AND scope = i.value)) "
    "FROM customer_identities i WHERE i.customer_id = t.customer_id AND i.kind = :kind "
    "ORDER BY i.value LIMIT 1)"
)

_TICKET_SQL = (
    "SELECT "
    + ", ".join(f"t.{c}" for c in COLUMNS)
    + ","
    + _customer_part("t.customer_id", "t.created_at")
    + ", "
    + _DESK_USER
    + ", "
    + decision_column("t.source", "t.id")
    + " FROM tickets t "
    "LEFT JOIN customers c ON c.id = t.customer_id "
    "LEFT JOIN customer_journeys j ON j.customer_id = t.customer_id "
    "WHERE t.source = :source AND t.id = :id AND t.deleted = 0"
)

_CUSTOMER_SQL = (
    "SELECT " + _customer_part(":cid", ":end") + " FROM (SELECT CAST(:cid AS BIGINT) AS id) k "
    "LEFT JOIN customers c ON c.id = k.id "
    "LEFT JOIN customer_journeys j ON j.customer_id = k.id"
)


@dataclass(frozen=True, slots=True)
class CustomerFacts:
    """A customer's single-valued sidebar facts, open tickets and proactive messages
    received (the longer lists, timeline and reading, are read separately)."""

    customer: dict[str, Any] | None
    """name, email, signup_at, plan, locale; None when there is no such customer."""
    journey: dict[str, Any] | None
    """The stored journey (stage, stage_since, reasons, signals), None if not computed yet."""
    has_activity: bool
    effort: dict[str, int]
    """articles, views, searches and contacts in the effort window."""
    open_tickets: list[dict[str, Any]]
    """The newest open tickets (at most OPEN_TICKETS_SHOWN): source, id, subject, status,
    created_at."""
    messages: list[dict[str, Any]]
    """The proactive messages received (`store.outbox.received_messages`)."""


@dataclass(frozen=True, slots=True)
class TicketContext:
    """A stored ticket with its requester's facts and the freshness check's inputs."""

    ticket: dict[str, Any]
    """The ticket row, as `store.tickets.get_ticket` returns it."""
    facts: CustomerFacts
    desk_user: str | None
    """The requester's user id at the ticket's desk (`store.customers.desk_user_of`)."""
    last_history_fetch: int | None
    """When that user's history was last read (`store.sync_state.last_history_fetch`)."""
    decision: dict[str, Any] | None
    """The ticket's SLA decision (`store.sla_decisions.get_decision`)."""


def ticket_context(
    db: Database, source: str, ticket_id: str, *, effort_seconds: int, messages_since: int
) -> TicketContext | None:
    """The ticket (not deleted) and everything the sidebar shows beside it that is not a
    long list, in one statement (on PostgreSQL each statement has a cost of its own); None
    when the ticket is not stored. Effort counts cover [created_at - effort_seconds,
    created_at]; messages, those received since `messages_since`."""
    row = db.conn.execute(
        _TICKET_SQL,
        {
            "source": source,
            "id": ticket_id,
            "kind": f"user:{source}",
            "effort": effort_seconds,
            "since": messages_since,
        },
    ).fetchone()
    if row is None:
        return None
    width = len(COLUMNS)
    ticket = dict(zip(COLUMNS, row[:width], strict=True))
    tags = ticket["tags"]
    ticket["tags"] = [] if tags == "[]" else loads_stored(tags)
    desk, decision = row[width + _CUSTOMER_WIDTH :]
    desk_user, fetched, synced = (None, None, None) if desk is None else loads_stored(desk)
    last = fetched if synced is None else synced if fetched is None else max(fetched, synced)
    return TicketContext(
        ticket=ticket,
        facts=_facts(row, width),
        desk_user=desk_user,
        last_history_fetch=last,
        decision=decision_from_column(decision),
    )


def customer_facts(
    db: Database, customer_id: int, *, end: int, effort_seconds: int, messages_since: int
) -> CustomerFacts:
    """A customer's sidebar facts but the long lists, effort counted in
    [end - effort_seconds, end], messages received since `messages_since`."""
    row = db.conn.execute(
        _CUSTOMER_SQL,
        {"cid": customer_id, "end": end, "effort": effort_seconds, "since": messages_since},
    ).fetchone()
    return _facts(row, 0)


def _facts(row: tuple, at: int) -> CustomerFacts:
    (
        found,
        name,
        email,
        signup_at,
        plan,
        locale,
        stage,
        stage_since,
        reasons,
        signals,
        active,
        counts,
        contacts,
        open_tickets,
        messages,
    ) = row[at : at + _CUSTOMER_WIDTH]
    customer = (
        {"name": name, "email": email, "signup_at": signup_at, "plan": plan, "locale": locale}
        if found
        else None
    )
    journey = (
        None
        if stage is None
        else {
            "stage": stage,
            "stage_since": stage_since,
            "reasons": loads_stored(reasons),
            "signals": loads_stored(signals),
        }
    )
    views, articles, searches = orjson.loads(counts)
    effort = {"articles": articles, "views": views, "searches": searches, "contacts": contacts}
    return CustomerFacts(
        customer,
        journey,
        bool(active),
        effort,
        [
            {"source": src, "id": id_, "subject": subject, "status": status, "created_at": when}
            for src, id_, subject, status, when in loads_stored(open_tickets or "[]")
        ],
        messages_from_column(messages),
    )


def customers_with_tickets_since(
    db: Database, customer_ids: Iterable[int], *, since: int
) -> set[int]:
    """Which of `customer_ids` opened a (not deleted) ticket at or after `since`."""
    return {
        cid
        for (cid,) in db.conn.execute(
            f"SELECT DISTINCT t.customer_id FROM {db.dialect.integers()} j JOIN tickets t "
            "INDEXED BY tickets_customer ON t.customer_id = j.value AND t.created_at >= ? "
            "WHERE t.deleted = 0",
            [json.dumps(sorted(customer_ids)), since],
        )
    }


def as_record(row: dict[str, Any]) -> Ticket:
    """A stored ticket row (`SELECT *`, tags as stored) as the record connectors yield
    (the requester left empty: stored tickets know their customer by `customer_id`)."""
    tags = row["tags"]
    return Ticket(
        id=row["id"],
        requester=CustomerRef(),
        subject=row["subject"],
        created_at=from_epoch(row["created_at"]),
        updated_at=from_epoch(row["updated_at"]),
        status=row["status"],
        priority=row["priority"],
        channel=row["channel"],
        tags=tuple(json.loads(tags) if isinstance(tags, str) else tags),
        solved_at=from_epoch(row["solved_at"]),
        first_response_at=from_epoch(row["first_response_at"]),
        csat_score=row["csat_score"],
        csat_comment=row["csat_comment"],
        deleted=bool(row["deleted"]),
        group=row["group_name"],
    )


def tickets_of_customer(db: Database, customer_id: int, *, limit: int = 20) -> list[dict]:
    """A customer's newest tickets of every desk (deleted ones left out)."""
    return select_dicts(
        db,
        "SELECT source, id, subject, status, priority, channel, created_at FROM tickets "
        "WHERE customer_id = ? AND deleted = 0 ORDER BY created_at DESC, id LIMIT ?",
        [customer_id, limit],
    )
