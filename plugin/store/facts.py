"""Set-based aggregates the journey facts are computed from.

One query per aggregate for a whole set of customers (never one query per customer
per fact); `plugin/journey/facts.py` turns these raw values into named facts.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from sqlite_utils import Database

from plugin.store.tickets import OPEN_STATUSES

DAY = 86_400


def customer_aggregates(
    db: Database, customer_ids: list[int] | None, *, now: int
) -> dict[int, dict[str, Any]]:
    """Raw per-customer values: profile, ticket and reading aggregates.

    `customer_ids=None` means every customer (full recompute).
    """
    scope, params = _scope(customer_ids)
    result: dict[int, dict[str, Any]] = {}
    for row in db.query(
        "SELECT id, signup_at, purchased_at, renewal_at, plan, lifetime_value, time_zone, "
        f"attributes FROM customers WHERE merged_into IS NULL AND id IN {scope}",  # noqa: S608
        params,
    ):
        row["attributes"] = json.loads(row["attributes"] or "{}")
        row.update(open_tickets=0, tickets_last_30d=0, tickets_last_7d=0, last_csat=None)
        row.update(articles_read_last_7d=0, max_views_same_article_7d=0, views_last_7d=0)
        row.update(last_activity_at=None, read_categories={})
        result[row.pop("id")] = row
    _add_ticket_aggregates(db, result, scope, params, now)
    _add_reading_aggregates(db, result, scope, params, now)
    return result


def _scope(customer_ids: list[int] | None) -> tuple[str, list[Any]]:
    if customer_ids is None:
        return "(SELECT id FROM customers)", []
    return "(SELECT value FROM json_each(?))", [json.dumps(customer_ids)]


def _add_ticket_aggregates(db, result, scope, params, now) -> None:
    marks = ", ".join("?" for _ in OPEN_STATUSES)
    for cid, open_count, last30, last7 in db.execute(
        f"SELECT customer_id, sum(status IN ({marks})), sum(created_at >= ?), "  # noqa: S608
        f"sum(created_at >= ?) FROM tickets WHERE deleted = 0 AND customer_id IN {scope} "
        "GROUP BY customer_id",
        [*OPEN_STATUSES, now - 30 * DAY, now - 7 * DAY, *params],
    ):
        if cid in result:
            result[cid].update(
                open_tickets=open_count, tickets_last_30d=last30, tickets_last_7d=last7
            )
    for cid, score in db.execute(
        "SELECT customer_id, csat_score FROM (SELECT customer_id, csat_score, row_number() "
        "OVER (PARTITION BY customer_id ORDER BY coalesce(solved_at, updated_at, created_at) "
        "DESC) AS n FROM tickets WHERE csat_score IS NOT NULL AND deleted = 0 "
        f"AND customer_id IN {scope}) WHERE n = 1",  # noqa: S608
        params,
    ):
        if cid in result:
            result[cid]["last_csat"] = score


def _add_reading_aggregates(db, result, scope, params, now) -> None:
    for cid, last_at in db.execute(
        "SELECT customer_id, max(occurred_at) FROM touchpoints "
        f"WHERE customer_id IN {scope} GROUP BY customer_id",  # noqa: S608
        params,
    ):
        if cid in result:
            result[cid]["last_activity_at"] = last_at
    for cid, distinct_articles, max_same, views in db.execute(
        "SELECT customer_id, count(*), max(n), sum(n) FROM (SELECT customer_id, article_id, "
        "count(*) AS n FROM touchpoints WHERE type = 'article_view' AND occurred_at >= ? "
        f"AND customer_id IN {scope} GROUP BY customer_id, article_source, article_id) "  # noqa: S608
        "GROUP BY customer_id",
        [now - 7 * DAY, *params],
    ):
        if cid in result:
            result[cid].update(
                articles_read_last_7d=distinct_articles,
                max_views_same_article_7d=max_same,
                views_last_7d=views,
            )
    categories: dict[int, dict[str, int]] = defaultdict(dict)
    for cid, category, count in db.execute(
        "SELECT t.customer_id, a.category, count(DISTINCT t.article_id) FROM touchpoints t "
        "JOIN articles a ON a.source = t.article_source AND a.group_id = t.article_id "
        "WHERE t.type = 'article_view' AND t.occurred_at >= ? AND a.category IS NOT NULL "
        f"AND t.customer_id IN {scope} GROUP BY t.customer_id, a.category",  # noqa: S608
        [now - 30 * DAY, *params],
    ):
        categories[cid][category] = count
    for cid, cats in categories.items():
        if cid in result:
            result[cid]["read_categories"] = cats
