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
from plugin.store.touchpoints import over_both

DAY = 86_400


def customer_aggregates(
    db: Database, customer_ids: list[int] | None, *, now: int
) -> dict[int, dict[str, Any]]:
    """Raw per-customer values: profile, ticket and reading aggregates.

    `customer_ids=None` means every customer (full recompute).
    """
    scope, params = _scope(customer_ids)
    result: dict[int, dict[str, Any]] = {}
    for cid, signup, purchased, renewal, plan, value, zone, attributes in db.conn.execute(
        "SELECT id, signup_at, purchased_at, renewal_at, plan, lifetime_value, time_zone, "
        f"attributes FROM customers WHERE merged_into IS NULL AND id IN {scope}",
        params,
    ):
        result[cid] = {
            "signup_at": signup,
            "purchased_at": purchased,
            "renewal_at": renewal,
            "plan": plan,
            "lifetime_value": value,
            "time_zone": zone,
            "attributes": json.loads(attributes) if attributes and attributes != "{}" else {},
            "open_tickets": 0,
            "tickets_last_30d": 0,
            "tickets_last_7d": 0,
            "last_csat": None,
            "articles_read_last_7d": 0,
            "max_views_same_article_7d": 0,
            "views_last_7d": 0,
            "last_activity_at": None,
            "read_categories": {},
        }
    _add_ticket_aggregates(db, result, scope, params, now)
    _add_reading_aggregates(db, result, scope, params, now)
    return result


def _scope(customer_ids: list[int] | None) -> tuple[str, list[Any]]:
    if customer_ids is None:
        return "(SELECT id FROM customers)", []
    return "(SELECT value AS id FROM json_each(?))", [json.dumps(customer_ids)]


def _add_ticket_aggregates(db, result, scope, params, now) -> None:
    # One walk of the customer's tickets for the counts and the latest CSAT: the row of
    # max() gives the bare csat_score (NULL when no ticket has one), each ticket's row is
    # read once instead of once per figure.
    marks = ", ".join("?" for _ in OPEN_STATUSES)
    for cid, open_count, last30, last7, _rated_at, score in db.conn.execute(
        f"SELECT customer_id, sum(status IN ({marks})), sum(created_at >= ?), "
        "sum(created_at >= ?), max(CASE WHEN csat_score IS NOT NULL "
        "THEN coalesce(solved_at, updated_at, created_at) END), csat_score "
        f"FROM tickets WHERE deleted = 0 AND customer_id IN {scope} GROUP BY customer_id",
        [*OPEN_STATUSES, now - 30 * DAY, now - 7 * DAY, *params],
    ):
        agg = result.get(cid)
        if agg is not None:
            agg["open_tickets"] = open_count
            agg["tickets_last_30d"] = last30
            agg["tickets_last_7d"] = last7
            agg["last_csat"] = score


def _add_reading_aggregates(db, result, scope, params, now) -> None:
    # max() per customer as one index seek each (a GROUP BY would read every touchpoint),
    # in the history and in the inbox.
    for cid, last_at in db.conn.execute(
        "SELECT s.id, (SELECT max(at) FROM ("
        "SELECT max(occurred_at) AS at FROM touchpoints WHERE customer_id = s.id UNION ALL "
        "SELECT max(occurred_at) FROM touchpoint_inbox WHERE customer_id = s.id)) "
        f"FROM {scope} AS s",
        params,
    ):
        if last_at is not None and cid in result:
            result[cid]["last_activity_at"] = last_at
    # One walk of the reading index over 30 days gives both the 7-day figures and the
    # categories: per (customer, article), its views in 30 days and in the last 7.
    week, month = now - 7 * DAY, now - 30 * DAY
    views = over_both(
        "SELECT customer_id, article_source, article_id, occurred_at FROM {touchpoints} "
        f"WHERE type = 'article_view' AND occurred_at >= ? AND customer_id IN {scope}"
    )
    per_article = db.conn.execute(
        "SELECT customer_id, article_source, article_id, sum(occurred_at >= ?) "
        f"FROM ({views}) GROUP BY customer_id, article_source, article_id",
        [week, month, *params, month, *params],
    ).fetchall()
    # Distinct articles read in 30 days per category (any locale's category name).
    categories = _categories_of(db, {(src, aid) for _cid, src, aid, _views in per_article})
    read: dict[int, dict[str, set[str]]] = {}
    for cid, source, article_id, views in per_article:
        agg = result.get(cid)
        if agg is None:
            continue
        if views:
            agg["articles_read_last_7d"] += 1
            agg["views_last_7d"] += views
            if views > agg["max_views_same_article_7d"]:
                agg["max_views_same_article_7d"] = views
        names = categories.get((source, article_id))
        if names:
            by_category = read.get(cid)
            if by_category is None:
                by_category = read[cid] = {}
            for category in names:
                articles = by_category.get(category)
                if articles is None:
                    by_category[category] = {article_id}
                else:
                    articles.add(article_id)
    for cid, by_category in read.items():
        result[cid]["read_categories"] = {c: len(ids) for c, ids in by_category.items()}


def _categories_of(db, groups: set[tuple[str, str]]) -> dict[tuple[str, str], set[str]]:
    found: dict[tuple[str, str], set[str]] = defaultdict(set)
    if not groups:
        return found
    for source, group_id, category in db.conn.execute(
        "SELECT a.source, a.group_id, a.category FROM json_each(?) j "
        "JOIN articles a INDEXED BY articles_group "
        "ON a.source = json_extract(j.value, '$[0]') "
        "AND a.group_id = json_extract(j.value, '$[1]') "
        "WHERE a.category IS NOT NULL",
        [json.dumps(sorted(groups))],
    ):
        found[(source, group_id)].add(category)
    return found
