"""Touchpoints: every interaction on a customer's timeline, and the reading history."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from connectors.records import CustomerRef, Touchpoint
from plugin.store import dumps, loads_object, to_epoch
from plugin.store.articles import article_group, version_rows
from plugin.store.customers import mark_dirty, resolve_customers

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
    """
    touchpoints = list(touchpoints)
    if customers is None:
        customers = resolve_customers(db, (tp.customer for tp in touchpoints), article_source)
    groups: dict[str, str] = {}
    rows = [
        _row(db, source, article_source, tp, customers[tp.customer], groups) for tp in touchpoints
    ]
    before = db.conn.total_changes
    db.conn.executemany(
        f"INSERT INTO touchpoints ({', '.join(COLUMNS)}) "
        f"VALUES ({', '.join('?' for _ in COLUMNS)}) ON CONFLICT(source, event_id) DO NOTHING",
        rows,
    )
    accepted = db.conn.total_changes - before
    if accepted:
        mark_dirty(db, {row[2] for row in rows})
    return InsertResult(accepted=accepted, duplicates=len(rows) - accepted)


def _row(
    db: Database,
    source: str,
    article_source: str,
    tp: Touchpoint,
    customer_id: int,
    groups: dict[str, str],
) -> tuple:
    article_id = tp.article_id
    if article_id is not None:
        if article_id not in groups:
            groups[article_id] = article_group(db, article_source, article_id) or article_id
        article_id = groups[article_id]
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


def last_articles_before(
    db: Database, customer_id: int, before: int, *, since: int, limit: int
) -> list[dict[str, Any]]:
    """The distinct articles read in [since, before], newest view first, with view counts.

    Each item: article_source, article_id, last_viewed_at, views, locale, title, url
    (title/url in the locale the customer read last, else any locale we know).
    """
    rows = db.execute(
        "SELECT occurred_at, article_source, article_id, article_locale "
        "FROM touchpoints INDEXED BY touchpoints_article_views "
        "WHERE customer_id = ? AND type = 'article_view' AND occurred_at BETWEEN ? AND ? "
        "ORDER BY occurred_at DESC",
        [customer_id, since, before],
    ).fetchall()
    picked: dict[tuple[str, str], dict[str, Any]] = {}
    for at, src, aid, locale in rows:
        key = (src, aid)
        if key in picked:
            picked[key]["views"] += 1
        elif len(picked) < limit:
            picked[key] = {
                "article_source": src,
                "article_id": aid,
                "last_viewed_at": at,
                "views": 1,
                "locale": locale,
                "title": None,
                "url": None,
            }
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
        "SELECT article_title, article_url FROM touchpoints WHERE customer_id = ? "
        "AND type = 'article_view' AND occurred_at = ? AND article_id = ? LIMIT 1",
        [customer_id, item["last_viewed_at"], item["article_id"]],
    ).fetchone()
    return {"title": row[0], "url": row[1]} if row else {}


def timeline(db: Database, customer_id: int, *, until: int, limit: int) -> list[dict[str, Any]]:
    """The customer's most recent touchpoints up to `until`, newest first."""
    # The sidebar's busiest read (15 rows a request): rows built in one pass.
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
        ) in db.conn.execute(
            "SELECT type, occurred_at, channel, article_source, article_id, article_title, "
            "article_url, ticket_id, properties FROM touchpoints "
            "WHERE customer_id = ? AND occurred_at <= ? ORDER BY occurred_at DESC LIMIT ?",
            (customer_id, until, limit),
        )
    ]


def count_touchpoints(db: Database, type_: str | None = None) -> int:
    if type_ is None:
        return db.execute("SELECT count(*) FROM touchpoints").fetchone()[0]
    return db.execute("SELECT count(*) FROM touchpoints WHERE type = ?", [type_]).fetchone()[0]


def article_views_of(db: Database, customer_id: int) -> list[dict[str, Any]]:
    """Every article view of a customer, oldest first (tests and exports)."""
    return list(
        db.query(
            "SELECT occurred_at, article_source, article_id, article_locale FROM touchpoints "
            "WHERE customer_id = ? AND type = 'article_view' ORDER BY occurred_at, id",
            [customer_id],
        )
    )
