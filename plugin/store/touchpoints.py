"""Touchpoints: every interaction on a customer's timeline, and the reading history."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from sqlite_utils import Database

from connectors.records import CustomerRef, Touchpoint
from plugin.clock import to_epoch
from plugin.store import dumps, loads_object
from plugin.store.articles import article_groups, version_rows
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
    before = db.conn.total_changes
    db.conn.executemany(
        f"INSERT INTO {table} ({_COLUMN_LIST}) VALUES ({', '.join('?' for _ in COLUMNS)}) "
        "ON CONFLICT(source, event_id) DO NOTHING",
        rows,
    )
    accepted = db.conn.total_changes - before
    if accepted:
        mark_dirty(db, {row[2] for row in rows})
    return accepted


def _merged_event_ids(db: Database, source: str, event_ids: list[str]) -> set[str]:
    """Which of `event_ids` the history of `source` holds (one seek each, one statement)."""
    return {
        event_id
        for (event_id,) in db.conn.execute(
            "SELECT j.value FROM json_each(?) j WHERE EXISTS (SELECT 1 FROM touchpoints "
            "WHERE source = ? AND event_id = j.value)",
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


_LAST_ARTICLES = (
    over_both(
        "SELECT occurred_at, article_source, article_id, article_locale FROM {touchpoints} "
        "WHERE customer_id = :cid AND type = 'article_view' "
        "AND occurred_at BETWEEN :since AND :before"
    )
    + " ORDER BY occurred_at DESC"
)

_ARTICLE_KEY = itemgetter(1, 2)
"""(article_source, article_id) of a `_LAST_ARTICLES` row."""

_TIMELINE = (
    over_both(
        "SELECT type, occurred_at, channel, article_source, article_id, article_title, "
        "article_url, ticket_id, properties FROM {touchpoints} "
        "WHERE customer_id = :cid AND occurred_at <= :until"
    )
    + " ORDER BY occurred_at DESC LIMIT :limit"
)
"""The newest of both tables (ties: the history's first). SQLite merges the two index walks,
each already in `occurred_at` order, and stops at the limit; a LIMIT inside each half made
it sort each half's rows again (~12 µs a sidebar)."""


def last_articles_before(
    db: Database, customer_id: int, before: int, *, since: int, limit: int
) -> list[dict[str, Any]]:
    """The distinct articles read in [since, before], newest view first, with view counts.

    Each item: article_source, article_id, last_viewed_at, views, locale, title, url
    (title/url in the locale the customer read last, else any locale we know).
    """
    rows = db.conn.execute(
        _LAST_ARTICLES, {"cid": customer_id, "since": since, "before": before}
    ).fetchall()
    # Every article's views counted in C (a heavy reader has hundreds in the window); the
    # newest `limit` articles are the first distinct ones, rows coming newest first.
    views = Counter(map(_ARTICLE_KEY, rows))
    picked: dict[tuple[str, str], dict[str, Any]] = {}
    if limit > 0:
        for at, src, aid, locale in rows:
            key = (src, aid)
            if key not in picked:
                picked[key] = {
                    "article_source": src,
                    "article_id": aid,
                    "last_viewed_at": at,
                    "views": views[key],
                    "locale": locale,
                    "title": None,
                    "url": None,
                }
                if len(picked) == limit:
                    break
    _fill_titles(db, customer_id, list(picked.values()))
    return list(picked.values())


def _fill_titles(db: Database, customer_id: int, items: list[dict[str, Any]]) -> None:
    """Prefer the knowledge base's current title and URL in the locale that was read."""
    by_source: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        by_source.setdefault(item["article_source"], []).append(item)
    for source, group in by_source.items():
        versions: dict[str, dict[str, tuple]] = {}
        for row in version_rows(db, source, [i["article_id"] for i in group]):
            versions.setdefault(row[0], {})[row[1]] = row
        for item in group:
            known = versions.get(item["article_id"], {})
            best = known.get(item["locale"]) or next(iter(known.values()), None)
            if best:
                _, _, item["title"], item["url"], item["category"], item["updated_at"] = best
            else:  # not in the knowledge base yet: what the view itself said
                item.update(_seen_as(db, customer_id, item), category=None, updated_at=None)
            item["title"] = item["title"] or f"Article {item['article_id']}"


def _seen_as(db: Database, customer_id: int, item: dict[str, Any]) -> dict[str, Any]:
    row = db.execute(
        over_both(
            "SELECT article_title, article_url FROM {touchpoints} WHERE customer_id = :cid "
            "AND type = 'article_view' AND occurred_at = :at AND article_id = :article"
        )
        + " LIMIT 1",
        {"cid": customer_id, "at": item["last_viewed_at"], "article": item["article_id"]},
    ).fetchone()
    return {"title": row[0], "url": row[1]} if row else {}


def timeline_rows(db: Database, customer_id: int, *, until: int, limit: int) -> list[tuple]:
    """`timeline` as plain rows: (type, occurred_at, channel, article_source, article_id,
    article_title, article_url, ticket_id, properties as stored JSON text). The sidebar
    builds its items from them directly (its busiest read: 15 rows a request)."""
    return db.conn.execute(
        _TIMELINE, {"cid": customer_id, "until": until, "limit": limit}
    ).fetchall()


def timeline(db: Database, customer_id: int, *, until: int, limit: int) -> list[dict[str, Any]]:
    """The customer's most recent touchpoints up to `until`, newest first."""
    return [
        {
            "type": type_,
            "occurred_at": occurred_at,
            "channel": channel,
            "article_source": article_source,
            "article_id": article_id,
            "article_title": article_title,
            "article_url": article_url,
            "ticket_id": ticket_id,
            "properties": loads_object(properties),
        }
        for (
            type_,
            occurred_at,
            channel,
            article_source,
            article_id,
            article_title,
            article_url,
            ticket_id,
            properties,
        ) in timeline_rows(db, customer_id, until=until, limit=limit)
    ]


def count_touchpoints(db: Database, type_: str | None = None) -> int:
    # The customer index holds the type and is far smaller than the table.
    where = "" if type_ is None else " WHERE type = :type"
    return db.execute(
        f"SELECT (SELECT count(*) FROM touchpoints INDEXED BY touchpoints_article_views{where}) "
        f"+ (SELECT count(*) FROM touchpoint_inbox INDEXED BY touchpoint_inbox_customer{where})",
        {"type": type_},
    ).fetchone()[0]


def article_views_of(db: Database, customer_id: int) -> list[dict[str, Any]]:
    """Every article view of a customer, oldest first (tests and exports)."""
    return list(
        db.query(
            "SELECT occurred_at, article_source, article_id, article_locale FROM ("
            "SELECT *, 0 AS waiting FROM touchpoints WHERE customer_id = :cid "
            "UNION ALL SELECT *, 1 FROM touchpoint_inbox WHERE customer_id = :cid) "
            "WHERE type = 'article_view' ORDER BY occurred_at, waiting, id",
            {"cid": customer_id},
        )
    )
