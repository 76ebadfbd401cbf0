"""Touchpoints: every interaction on a customer's timeline, written once each.

A desk's sync writes the history (`touchpoints`) directly; ingest and import stage events
in the inbox (`touchpoint_inbox`), readable at once and merged into the history later.
Article views may be written back to a desk's contact timeline (Freshdesk
contact-activities): each at most once, a row in `timeline_pushes` marking it done (or
refused by the desk), committed right after the desk's answer.

The reads over one customer's history are in `history.py`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from connectors.records import CustomerRef, Touchpoint
from plugin.clock import now_epoch, to_epoch
from plugin.store import dumps, select_dicts
from plugin.store.articles import article_groups
from plugin.store.customers import resolve_customers
from plugin.store.journeys import mark_dirty

COLUMNS = (
    "source",
    "event_id",
    "customer_id",
    "type",
    "occurred_at",
    "channel",
    "article_source",
    "article_id",
    "article_locale",
    "article_title",
    "article_url",
    "ticket_id",
    "properties",
)
"""The written columns, in the order of the rows `_row` builds."""
_COLUMN_LIST = ", ".join(COLUMNS)


INBOX_LIMIT = 500_000
"""Rows the inbox may hold before a writer merges it itself: the worker merges every few
seconds (jobs.scheduled_merge); this bounds the inbox when no worker runs."""

MERGE_CHUNK = 50_000
"""Rows merged per transaction: large enough that the pages many events share are
written once, small enough that other writers wait well under a second."""


def over_both(select: str) -> str:
    """`select`, written against `{touchpoints}` and keyed by customer, over the merged
    history and the inbox.

    The two halves are joined by UNION ALL, each on its table's customer index. Use named
    parameters (each appears in both halves) or repeat positional ones.
    """
    return (
        select.format(touchpoints="touchpoints INDEXED BY touchpoints_article_views")
        + " UNION ALL "
        + select.format(touchpoints="touchpoint_inbox INDEXED BY touchpoint_inbox_customer")
    )


@dataclass(frozen=True, slots=True)
class InsertResult:
    accepted: int
    duplicates: int


def insert_touchpoints(
    db: Database,
    source: str,
    touchpoints: Iterable[Touchpoint],
    *,
    article_source: str,
    customers: Mapping[CustomerRef, int] | None = None,
) -> InsertResult:
    """Insert touchpoints once each (by source + id); duplicates are counted, not written.

    `source` namespaces the event ids (a desk, a portal key, an import); articles are
    looked up in `article_source`, and any locale of an article counts as that article.
    `customers` maps every touchpoint's customer to its id when the caller resolved them
    already in this transaction (a ticket page's requesters); else they are resolved here.
    This writes the history directly (a desk's sync, committed page by page with its
    cursor); ingest and import go through the inbox (`stage_touchpoints`).
    """
    rows = _rows(db, source, touchpoints, article_source, customers)
    accepted = _insert(db, "touchpoints", rows)
    return InsertResult(accepted=accepted, duplicates=len(rows) - accepted)


def stage_touchpoints(
    db: Database, source: str, touchpoints: Iterable[Touchpoint], *, article_source: str
) -> InsertResult:
    """`insert_touchpoints` into the inbox: readable at once, merged into the history later.

    A duplicate is an event id of `source` already in the history or in the inbox; it is
    counted and not written, as by `insert_touchpoints`.
    """
    rows = _rows(db, source, touchpoints, article_source, None)
    merged = _merged_event_ids(db, source, [row[1] for row in rows])
    fresh = [row for row in rows if row[1] not in merged] if merged else rows
    accepted = _insert(db, "touchpoint_inbox", fresh)
    return InsertResult(accepted=accepted, duplicates=len(rows) - accepted)


def merge_inbox(db: Database, *, chunk: int = MERGE_CHUNK, chunks: int | None = None) -> int:
    """Move the inbox into `touchpoints`, `chunk` rows a transaction, sorted by customer
    (neighbouring index pages are then written once a chunk); returns the rows merged.
    `chunks` stops after that many transactions (a writer helping out keeps its latency).

    Each chunk's insert and delete commit together, so a reader sees every event exactly
    once before, during and after a merge. An event merged meanwhile by another path is
    dropped by the history's unique (source, event id).
    """
    merged = done = 0
    while chunks is None or done < chunks:
        done += 1
        with db.atomic():
            last = db.execute(
                "SELECT coalesce((SELECT id FROM touchpoint_inbox ORDER BY id LIMIT 1 OFFSET ?), "
                "(SELECT max(id) FROM touchpoint_inbox))",
                [chunk - 1],
            ).fetchone()[0]
            if last is None:
                return merged
            db.execute(
                f"INSERT INTO touchpoints ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} "
                "FROM touchpoint_inbox WHERE id <= ? ORDER BY customer_id, occurred_at "
                "ON CONFLICT(source, event_id) DO NOTHING",
                [last],
            )
            merged += db.execute("DELETE FROM touchpoint_inbox WHERE id <= ?", [last]).rowcount
    return merged


def count_waiting(db: Database) -> int:
    """How many events wait in the inbox, exactly (a walk of its smallest index)."""
    return db.execute("SELECT count(*) FROM touchpoint_inbox").fetchone()[0]


def inbox_backlog(db: Database) -> int:
    """About how many rows wait in the inbox (at least as many as do; no table walk)."""
    # Two subqueries: SQLite reads min() or max() alone from the end of the rowid tree, but
    # walks the table for both in one.
    low, high = db.execute(
        "SELECT (SELECT min(id) FROM touchpoint_inbox), (SELECT max(id) FROM touchpoint_inbox)"
    ).fetchone()
    return 0 if low is None else high - low + 1


def _rows(
    db: Database,
    source: str,
    touchpoints: Iterable[Touchpoint],
    article_source: str,
    customers: Mapping[CustomerRef, int] | None,
) -> list[tuple]:
    touchpoints = list(touchpoints)
    if customers is None:
        customer_ids = _customer_ids(db, touchpoints, article_source)
    else:
        customer_ids = [customers[tp.customer] for tp in touchpoints]
    # Any locale of an article counts as the article: views store its group id.
    groups = article_groups(
        db, article_source, (tp.article_id for tp in touchpoints if tp.article_id)
    )
    return [
        _row(source, article_source, tp, customer_id, groups)
        for tp, customer_id in zip(touchpoints, customer_ids, strict=True)
    ]


def _customer_ids(db: Database, touchpoints: list[Touchpoint], article_source: str) -> list[int]:
    """Each touchpoint's customer id (`resolve_customers` of their distinct references).

    The references are told apart by their fields' tuple, which is what a `CustomerRef`
    compares and hashes: hashing and comparing the tuple stays in C, while the dataclass's
    `__hash__` and `__eq__` are Python calls (~1 µs a line for two lookups each).
    """
    distinct: dict[tuple, CustomerRef] = {}
    keys = []
    for tp in touchpoints:
        ref = tp.customer
        key = (ref.source_id, ref.email, ref.external_id, ref.anonymous_id)
        keys.append(key)
        if key not in distinct:
            distinct[key] = ref
    resolved = resolve_customers(db, distinct.values(), article_source)
    ids = {key: resolved[ref] for key, ref in distinct.items()}
    return [ids[key] for key in keys]


def _insert(db: Database, table: str, rows: list[tuple]) -> int:
    """Insert `rows` into `table` skipping known event ids; mark their customers changed."""
    accepted = db.conn.executemany(
        f"INSERT INTO {table} ({_COLUMN_LIST}) VALUES ({', '.join('?' for _ in COLUMNS)}) "
        "ON CONFLICT(source, event_id) DO NOTHING",
        rows,
    ).rowcount
    if accepted:
        mark_dirty(db, {row[2] for row in rows})
    return accepted


def _merged_event_ids(db: Database, source: str, event_ids: list[str]) -> set[str]:
    """Which of `event_ids` the history of `source` holds (one seek each, one statement)."""
    return {
        event_id
        for (event_id,) in db.conn.execute(
            f"SELECT j.value FROM {db.dialect.texts()} AS j WHERE EXISTS "
            "(SELECT 1 FROM touchpoints WHERE source = ? AND event_id = j.value)",
            (dumps(event_ids), source),
        )
    }


def _row(
    source: str, article_source: str, tp: Touchpoint, customer_id: int, groups: dict[str, str]
) -> tuple:
    article_id = tp.article_id
    if article_id is not None:
        article_id = groups.get(article_id, article_id)
    return (
        source,
        tp.id,
        customer_id,
        tp.type,
        to_epoch(tp.occurred_at),
        tp.channel,
        article_source if article_id else None,
        article_id,
        tp.article_locale,
        tp.article_title,
        tp.article_url,
        tp.ticket_id,
        dumps(tp.properties) if tp.properties else "{}",
    )


def count_touchpoints(db: Database, type_: str | None = None) -> int:
    # The customer index holds the type and is far smaller than the table.
    where = "" if type_ is None else " WHERE type = :type"
    return db.execute(
        f"SELECT (SELECT count(*) FROM touchpoints INDEXED BY touchpoints_article_views{where}) "
        f"+ (SELECT count(*) FROM touchpoint_inbox INDEXED BY touchpoint_inbox_customer{where})",
        {"type": type_},
    ).fetchone()[0]


def views_to_push(db: Database, source: str, *, since: int, limit: int) -> list[dict[str, Any]]:
    """Captured article views of `source`'s articles not written back yet, oldest first.

    Only views of customers the desk can find (a contact id of `source`, or an email) are
    returned; an anonymous visitor's views wait until the visitor is identified. Views the
    desk recorded itself (touchpoint source = the desk) are never written back.
    """
    return select_dicts(
        db,
        "SELECT t.id, t.event_id, t.occurred_at, t.article_id, t.article_title, "
        "t.article_url, t.article_locale, c.email, "
        "(SELECT value FROM customer_identities i WHERE i.customer_id = t.customer_id "
        " AND i.kind = ? ORDER BY value LIMIT 1) AS contact_id "
        "FROM touchpoints t JOIN customers c ON c.id = t.customer_id "
        "WHERE t.type = 'article_view' AND t.article_source = ? AND t.source != ? "
        "AND t.occurred_at >= ? "
        "AND NOT EXISTS (SELECT 1 FROM timeline_pushes p WHERE p.touchpoint_id = t.id) "
        "AND (c.email IS NOT NULL OR EXISTS (SELECT 1 FROM customer_identities i "
        " WHERE i.customer_id = t.customer_id AND i.kind = ?)) "
        "ORDER BY t.id LIMIT ?",
        [f"user:{source}", source, source, since, f"user:{source}", limit],
    )


def mark_pushed(db: Database, touchpoint_id: int, *, outcome: str) -> None:
    """Remember that a view was written (`outcome` "pushed") or refused ("refused")."""
    with db.atomic():
        db.execute(
            "INSERT INTO timeline_pushes (touchpoint_id, outcome, at) VALUES (?, ?, ?) "
            "ON CONFLICT(touchpoint_id) DO NOTHING",
            [touchpoint_id, outcome, now_epoch()],
        )
