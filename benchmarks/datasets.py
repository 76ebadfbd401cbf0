"""Whole-dataset questions the benchmarks ask: sizes, reproducible samples, the floor query.

`core_last_articles` is the sidebar's essential query stripped of everything else (no
counts, no titles): the "last five distinct articles before the ticket" floor that the
journey API is measured against.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlite_utils import Database

from plugin.store.touchpoints import count_touchpoints

CORE_QUERY = (
    "SELECT article_source, article_id, occurred_at FROM touchpoints "
    "INDEXED BY touchpoints_article_views "
    "WHERE customer_id = ? AND type = 'article_view' AND occurred_at BETWEEN ? AND ? "
    "ORDER BY occurred_at DESC"
)
_SHUFFLE = "(({key}) * 2654435761 + ?) % 4294967291"
"""A seeded, repeatable order (Knuth's multiplicative hash); SQLite's random() has no seed."""


@dataclass(frozen=True, slots=True)
class SampledTicket:
    id: str
    customer_id: int
    created_at: int


def dataset_size(db: Database) -> dict[str, int]:
    """Customers, article views and tickets (the benchmark's `dataset`)."""
    return {
        "customers": db.execute(
            "SELECT count(*) FROM customers WHERE merged_into IS NULL"
        ).fetchone()[0],
        "views": count_touchpoints(db, "article_view"),
        "tickets": db.execute("SELECT count(*) FROM tickets WHERE deleted = 0").fetchone()[0],
    }


def sample_tickets(db: Database, source: str, count: int, *, seed: int) -> list[SampledTicket]:
    """`count` tickets of `source` in a seeded pseudo-random order (same seed, same set)."""
    order = _SHUFFLE.format(key="CAST(id AS INTEGER)")
    rows = db.execute(
        f"SELECT id, customer_id, created_at FROM tickets "
        f"WHERE source = ? AND deleted = 0 AND customer_id IS NOT NULL ORDER BY {order} LIMIT ?",
        [source, seed, count],
    )
    return [SampledTicket(*row) for row in rows]


def sample_customers(db: Database, count: int, *, seed: int) -> list[int]:
    order = _SHUFFLE.format(key="id")
    return [
        row[0]
        for row in db.execute(
            f"SELECT id FROM customers WHERE merged_into IS NULL ORDER BY {order} LIMIT ?",
            [seed, count],
        )
    ]


def customer_emails(db: Database, customer_ids: list[int]) -> dict[int, str]:
    """Emails of the given customers (events and import files name customers by email)."""
    result: dict[int, str] = {}
    for start in range(0, len(customer_ids), 500):
        chunk = customer_ids[start : start + 500]
        marks = ", ".join("?" for _ in chunk)
        for cid, email in db.execute(
            f"SELECT id, email FROM customers WHERE id IN ({marks}) AND email IS NOT NULL",
            chunk,
        ):
            result[cid] = email
    return result


def core_last_articles(
    db: Database, customer_id: int, before: int, *, since: int, limit: int
) -> list[tuple[str, str, int]]:
    """(article_source, article_id, viewed_at) of the last `limit` distinct articles read
    in [since, before], newest first: walks the covering index and stops early (SQLite;
    PostgreSQL sends the window's rows at once). `db` is a store connection of either
    engine (`plugin.store.open_db`)."""
    seen: dict[tuple[str, str], int] = {}
    for source, article_id, at in db.execute(CORE_QUERY, (customer_id, since, before)):
        if (source, article_id) not in seen:
            seen[(source, article_id)] = at
            if len(seen) == limit:
                break
    return [(source, article_id, at) for (source, article_id), at in seen.items()]


def forget_events(db: Database, sources: Iterable[str], id_prefix: str) -> int:
    """Delete the events of `sources` whose ids start with `id_prefix` from the history
    and the inbox (a benchmark step's own events, so that the store it wrote into holds
    what it held before); returns how many. A range of the (source, event id) unique index
    on both engines."""
    end = id_prefix[:-1] + chr(ord(id_prefix[-1]) + 1)
    removed = 0
    with db.atomic():
        for table in ("touchpoints", "touchpoint_inbox"):
            for source in sources:
                removed += db.execute(
                    f"DELETE FROM {table} WHERE source = ? AND event_id >= ? AND event_id < ?",
                    [source, id_prefix, end],
                ).rowcount
    return removed


def changed_customers(db: Database, customer_ids: Iterable[int]) -> set[int]:
    """Which of `customer_ids` are marked changed (waiting for the incremental recompute)."""
    ids = list(customer_ids)
    found: set[int] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ", ".join("?" for _ in chunk)
        found.update(
            row[0]
            for row in db.execute(
                f"SELECT customer_id FROM dirty_customers WHERE customer_id IN ({marks})", chunk
            )
        )
    return found


def unmark_changed(db: Database, customer_ids: Iterable[int]) -> int:
    """Take the changed mark off `customer_ids` (a benchmark step's own marks)."""
    ids = list(customer_ids)
    removed = 0
    with db.atomic():
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            removed += db.execute(
                f"DELETE FROM dirty_customers WHERE customer_id IN ({marks})", chunk
            ).rowcount
    return removed
