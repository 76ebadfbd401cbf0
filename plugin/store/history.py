"""A customer's history read back: the articles read before a ticket, the timeline, how
they read given articles, effort counts, and the aggregates journey facts are computed from.

Every per-customer query here is keyed by `customer_id` first, so it runs on the covering
index `touchpoints_article_views` (customer_id, occurred_at, article_source, article_id,
...), and costs the customer's own rows, never the table's; each also reads the inbox's
twin index (events ingested but not merged yet, `touchpoints.over_both`).
An article is `(article_source, group_id)`: touchpoints store the group id, so a view in
any locale of an article counts as that article.

The journey aggregates (`customer_aggregates`) are set-based: one query per aggregate for
a whole set of customers (never one query per customer per fact);
`plugin/journey/facts.py` turns these raw values into named facts.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from sqlite_utils import Database

from plugin.store import Read, loads_object, read_together, rows_as_tuples
from plugin.store.tickets import OPEN_STATUSES
from plugin.store.touchpoints import over_both

DAY = 86_400

_LAST_ARTICLES = (
    over_both(
        "SELECT occurred_at, article_source, article_id, article_locale FROM {touchpoints} "
        "WHERE customer_id = :cid AND type = 'article_view' "
        "AND occurred_at BETWEEN :since AND :before"
    )
    + " ORDER BY occurred_at DESC"
)

_VIEWED_VERSIONS = (
    "SELECT a.source, a.group_id, a.locale, a.title, a.url, a.category, a.updated_at "
    "FROM (SELECT DISTINCT article_source, article_id FROM ("
    + over_both(
        "SELECT article_source, article_id FROM {touchpoints} "
        "WHERE customer_id = :cid AND type = 'article_view' "
        "AND occurred_at BETWEEN :since AND :before"
    )
    + ") AS views) AS read_ JOIN articles AS a INDEXED BY articles_group "
    "ON a.source = read_.article_source AND a.group_id = read_.article_id "
    "ORDER BY a.source, a.group_id, a.locale"
)
"""Every locale of the articles `_LAST_ARTICLES` finds (ordered: when the locale read is
gone, both engines fall back to the same one)."""

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
_TIMELINE_HALF = (
    "(SELECT type, occurred_at, channel, article_source, article_id, article_title, "
    "article_url, ticket_id, properties FROM {touchpoints} "
    "WHERE customer_id = :cid AND occurred_at <= :until ORDER BY occurred_at DESC LIMIT :limit)"
)
_TIMELINE_EACH_LIMITED = (
    _TIMELINE_HALF.format(touchpoints="touchpoints INDEXED BY touchpoints_article_views")
    + " UNION ALL "
    + _TIMELINE_HALF.format(touchpoints="touchpoint_inbox INDEXED BY touchpoint_inbox_customer")
    + " ORDER BY occurred_at DESC LIMIT :limit"
)
"""`_TIMELINE` where the engine reads the newest rows of each half first
(`Dialect.limits_each_half`)."""


def last_articles_before(
    db: Database, customer_id: int, before: int, *, since: int, limit: int
) -> list[dict[str, Any]]:
    """The distinct articles read in [since, before], newest view first, with view counts.

    Each item: article_source, article_id, last_viewed_at, views, locale, title, url
    (title/url in the locale the customer read last, else any locale we know).
    """
    views, versions = read_together(db, *article_reads(customer_id, before, since=since))
    return articles_from_views(db, customer_id, views, versions, limit=limit)


def article_reads(customer_id: int, before: int, *, since: int) -> tuple[Read, Read]:
    """The customer's article views in [since, before], newest first, and the knowledge
    base's versions of the articles they viewed: the rows `articles_from_views` takes.

    The versions are read beside the views (one round trip on PostgreSQL) rather than
    after them for the articles shown, so they cover every article read in the window: a
    few dozen rows for the heaviest readers.
    """
    window = {"cid": customer_id, "since": since, "before": before}
    return Read(_LAST_ARTICLES, window, rows_as_tuples), Read(_VIEWED_VERSIONS, window, _by_article)


def articles_from_views(
    db: Database,
    customer_id: int,
    rows: list[tuple],
    versions: dict[tuple[str, str], dict[str, tuple]],
    *,
    limit: int,
) -> list[dict[str, Any]]:
    """`last_articles_before`'s items from the rows of `article_reads`."""
    # Every article's views counted in C (a heavy reader has hundreds in the window); the
    # newest `limit` articles are the first distinct ones, rows coming newest first.
    views = Counter(map(_ARTICLE_KEY, rows))
    picked: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    if limit > 0:
        for at, src, aid, locale in rows:
            key = (src, aid)
            if key in seen:
                continue
            seen.add(key)
            item = {
                "article_source": src,
                "article_id": aid,
                "last_viewed_at": at,
                "views": views[key],
                "locale": locale,
            }
            _add_title(db, customer_id, item, versions.get(key, {}))
            picked.append(item)
            if len(picked) == limit:
                break
    return picked


def _add_title(
    db: Database, customer_id: int, item: dict[str, Any], known: dict[str, tuple]
) -> None:
    """Prefer the knowledge base's current title and URL in the locale that was read."""
    best = known.get(item["locale"]) or next(iter(known.values()), None)
    if best:
        item["title"], item["url"], item["category"], item["updated_at"] = best
    else:  # not in the knowledge base yet: what the view itself said
        item.update(_seen_as(db, customer_id, item), category=None, updated_at=None)
    item["title"] = item["title"] or f"Article {item['article_id']}"


def _by_article(_keys: list[str], rows: list[tuple]) -> dict[tuple[str, str], dict[str, tuple]]:
    """Version rows by article, then locale: (title, url, category, updated_at)."""
    found: dict[tuple[str, str], dict[str, tuple]] = {}
    for source, group_id, locale, *shown in rows:
        found.setdefault((source, group_id), {})[locale] = tuple(shown)
    return found


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
    return read_together(db, timeline_read(db, customer_id, until=until, limit=limit))[0]


def timeline_read(db: Database, customer_id: int, *, until: int, limit: int) -> Read:
    """`timeline_rows` as a `Read`, for `read_together`."""
    sql = _TIMELINE_EACH_LIMITED if db.dialect.limits_each_half else _TIMELINE
    return Read(sql, {"cid": customer_id, "until": until, "limit": limit}, rows_as_tuples)


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


def article_views_of(db: Database, customer_id: int) -> list[dict[str, Any]]:
    """Every article view of a customer, oldest first (tests and exports)."""
    return list(
        db.query(
            "SELECT occurred_at, article_source, article_id, article_locale FROM ("
            "SELECT *, 0 AS waiting FROM touchpoints WHERE customer_id = :cid "
            "UNION ALL SELECT *, 1 FROM touchpoint_inbox WHERE customer_id = :cid) AS both_ "
            "WHERE type = 'article_view' ORDER BY occurred_at, waiting, id",
            {"cid": customer_id},
        )
    )


ArticleKey = tuple[str, str]
"""(source, group id): one article whatever the locale it was read in."""


@dataclass(frozen=True, slots=True)
class Reading:
    """How one customer read one article within a window."""

    views: int
    views_before: int  # views at or before the reference time (the ticket's creation)
    first_viewed_at: int
    last_viewed_at: int
    last_locale: str | None


def readings(
    db: Database,
    customer_id: int,
    keys: Iterable[ArticleKey],
    *,
    since: int,
    reference: int,
) -> dict[ArticleKey, Reading]:
    """The customer's views of `keys` from `since` on; `views_before` counts those ≤ reference.

    Articles the customer did not read in the window are absent from the answer.
    """
    wanted = set(keys)
    if not wanted:
        return {}
    pairs = ", ".join(f"(:s{n}, :a{n})" for n in range(len(wanted)))
    params: dict[str, object] = {"cid": customer_id, "since": since}
    for n, (source, article_id) in enumerate(wanted):
        params[f"s{n}"], params[f"a{n}"] = source, article_id
    rows = db.execute(
        over_both(
            "SELECT occurred_at, article_source, article_id, article_locale "
            "FROM {touchpoints} WHERE customer_id = :cid AND type = 'article_view' "
            f"AND occurred_at >= :since AND (article_source, article_id) IN (VALUES {pairs})"
        )
        + " ORDER BY occurred_at",
        params,
    ).fetchall()
    found: dict[ArticleKey, Reading] = {}
    for at, source, article_id, locale in rows:
        key = (source, article_id)
        seen = found.get(key)
        before = int(at <= reference)
        if seen is None:
            found[key] = Reading(1, before, at, at, locale)
        else:
            found[key] = Reading(
                seen.views + 1, seen.views_before + before, seen.first_viewed_at, at, locale
            )
    return found


def read_articles(db: Database, customer_id: int) -> set[ArticleKey]:
    """Every article the customer ever read (to keep alternatives new to them)."""
    return {
        (source, article_id)
        for source, article_id in db.execute(
            "SELECT DISTINCT article_source, article_id FROM ("
            + over_both(
                "SELECT article_source, article_id FROM {touchpoints} "
                "WHERE customer_id = :cid AND type = 'article_view'"
            )
            + ") AS read_",
            {"cid": customer_id},
        )
    }


def effort_counts(db: Database, customer_id: int, *, start: int, end: int) -> dict[str, int]:
    """Customer-effort proxies in [start, end]: articles, views, searches and contacts."""
    counts = {"articles": 0, "views": 0, "searches": 0, "contacts": 0}
    both = over_both(
        "SELECT type, article_source, article_id FROM {touchpoints} WHERE customer_id = :cid "
        "AND occurred_at BETWEEN :start AND :end AND type IN ('article_view', 'search') "
        # a search row naming an article is a click on a result, not another search
        "AND (type = 'article_view' OR article_id IS NULL)"
    )
    for type_, total, distinct in db.execute(
        "SELECT type, count(*), count(DISTINCT article_source || ':' || article_id) "
        f"FROM ({both}) AS both_ GROUP BY type",
        {"cid": customer_id, "start": start, "end": end},
    ):
        if type_ == "article_view":
            counts.update(views=total, articles=distinct)
        else:
            counts["searches"] = total
    counts["contacts"] = db.execute(
        "SELECT count(*) FROM tickets WHERE customer_id = ? AND deleted = 0 "
        "AND created_at BETWEEN ? AND ?",
        [customer_id, start, end],
    ).fetchone()[0]
    return counts


def earlier_reading(db: Database, customer_id: int, *, before: int) -> dict[str, int] | None:
    """Distinct articles read before `before` and the last such view, or None if none."""
    both = over_both(
        "SELECT article_source, article_id, occurred_at FROM {touchpoints} "
        "WHERE customer_id = :cid AND type = 'article_view' AND occurred_at < :before"
    )
    articles, last = db.conn.execute(
        "SELECT count(DISTINCT article_source || ':' || article_id), max(occurred_at) "
        f"FROM ({both}) AS both_",
        {"cid": customer_id, "before": before},
    ).fetchone()
    return {"articles": articles, "last_viewed_at": last} if articles else None


def has_activity(db: Database, customer_id: int) -> bool:
    return bool(
        db.execute(
            "SELECT EXISTS (SELECT 1 FROM touchpoints WHERE customer_id = :cid) "
            "OR EXISTS (SELECT 1 FROM touchpoint_inbox WHERE customer_id = :cid)",
            {"cid": customer_id},
        ).fetchone()[0]
    )


def customer_aggregates(
    db: Database, customer_ids: list[int] | None, *, now: int
) -> dict[int, dict[str, Any]]:
    """Raw per-customer values: profile, ticket and reading aggregates.

    `customer_ids=None` means every customer (full recompute).
    """
    return aggregates_from(db, read_together(db, *aggregate_reads(db, customer_ids, now=now)))


def aggregate_reads(db: Database, customer_ids: list[int] | None, *, now: int) -> list[Read]:
    """`customer_aggregates` as independent reads, for `read_together` (one round trip on
    PostgreSQL, beside other reads: the sidebar explains a fallback stage with them);
    `aggregates_from` makes their rows the aggregates."""
    scope, params = _scope(db, customer_ids)
    return [
        Read(_PROFILES.format(scope=scope), params, _profiles),
        _ticket_aggregates_read(db, scope, params, now),
        Read(_LAST_ACTIVITY.format(scope=scope), params, rows_as_tuples),
        _reading_read(scope, params, now),
    ]


def aggregates_from(db: Database, loaded: list[Any]) -> dict[int, dict[str, Any]]:
    """The aggregates, from what `aggregate_reads` loaded (in their order); the categories
    of the articles read are looked up then."""
    result, tickets, last_activity, per_article = loaded
    for cid, open_count, last30, last7, _rated_at, score in tickets:
        agg = result.get(cid)
        if agg is not None:
            agg["open_tickets"] = open_count
            agg["tickets_last_30d"] = last30
            agg["tickets_last_7d"] = last7
            agg["last_csat"] = score
    for cid, last_at in last_activity:
        if last_at is not None and cid in result:
            result[cid]["last_activity_at"] = last_at
    _add_reading_aggregates(db, result, per_article)
    return result


_PROFILES = (
    "SELECT id, signup_at, purchased_at, renewal_at, plan, lifetime_value, time_zone, "
    "attributes FROM customers WHERE merged_into IS NULL AND id IN {scope}"
)
# max() per customer as one index seek each (a GROUP BY would read every touchpoint), in
# the history and in the inbox.
_LAST_ACTIVITY = (
    "SELECT s.id, (SELECT max(at) FROM ("
    "SELECT max(occurred_at) AS at FROM touchpoints WHERE customer_id = s.id UNION ALL "
    "SELECT max(occurred_at) FROM touchpoint_inbox WHERE customer_id = s.id) AS both_) "
    "FROM {scope} AS s"
)


def _profiles(_keys: list[str], rows: list[tuple]) -> dict[int, dict[str, Any]]:
    return {
        cid: {
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
        for cid, signup, purchased, renewal, plan, value, zone, attributes in rows
    }


def _scope(db: Database, customer_ids: list[int] | None) -> tuple[str, list[Any]]:
    """A subquery of customer ids in column `id` (every customer when None), and its
    parameters."""
    if customer_ids is None:
        return "(SELECT id FROM customers)", []
    return f"(SELECT value AS id FROM {db.dialect.integers()} AS ids)", [json.dumps(customer_ids)]


def _ticket_aggregates_read(db: Database, scope: str, params: list[Any], now: int) -> Read:
    # One walk of the customer's tickets for the counts and the latest CSAT: the row of
    # the latest rating gives its csat_score (NULL when no ticket has one), each ticket's
    # row is read once instead of once per figure.
    marks = ", ".join("?" for _ in OPEN_STATUSES)
    rated_at = (
        "CASE WHEN csat_score IS NOT NULL THEN coalesce(solved_at, updated_at, created_at) END"
    )
    return Read(
        f"SELECT customer_id, count(*) FILTER (WHERE status IN ({marks})), "
        "count(*) FILTER (WHERE created_at >= ?), count(*) FILTER (WHERE created_at >= ?), "
        f"{db.dialect.max_with(rated_at, 'csat_score')} "
        f"FROM tickets WHERE deleted = 0 AND customer_id IN {scope} GROUP BY customer_id",
        [*OPEN_STATUSES, now - 30 * DAY, now - 7 * DAY, *params],
        rows_as_tuples,
    )


def _reading_read(scope: str, params: list[Any], now: int) -> Read:
    # One walk of the reading index over 30 days gives both the 7-day figures and the
    # categories: per (customer, article), its views in 30 days and in the last 7.
    week, month = now - 7 * DAY, now - 30 * DAY
    views = over_both(
        "SELECT customer_id, article_source, article_id, occurred_at FROM {touchpoints} "
        f"WHERE type = 'article_view' AND occurred_at >= ? AND customer_id IN {scope}"
    )
    return Read(
        "SELECT customer_id, article_source, article_id, "
        "count(*) FILTER (WHERE occurred_at >= ?) "
        f"FROM ({views}) AS views GROUP BY customer_id, article_source, article_id",
        [week, month, *params, month, *params],
        rows_as_tuples,
    )


def _add_reading_aggregates(
    db: Database, result: dict[int, dict[str, Any]], per_article: list[tuple]
) -> None:
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
        f"SELECT a.source, a.group_id, a.category FROM {db.dialect.elements('?', 'j')} "
        "JOIN articles a INDEXED BY articles_group "
        "ON a.source = j.value ->> 0 AND a.group_id = j.value ->> 1 "
        "WHERE a.category IS NOT NULL",
        [json.dumps(sorted(groups))],
    ):
        found[(source, group_id)].add(category)
    return found


def count_without_synced_history(
    db: Database, source: str, customer_ids: Iterable[int] | None = None
) -> int:
    """How many of `source`'s desk users (or of `customer_ids` among them) have never had
    their reading history read from the desk: no per-user events cursor from a sync
    (`sync_cursors`, stream `touchpoints`, scope = the user id) and no on-demand fetch
    (`customer_fetches`). A customer known by several user ids of the desk counts as
    read once any of them was. Customers the desk does not know (portal-only visitors)
    are not counted: their history arrives from the portal as it happens.

    For the outreach preview ("N of this rule's possible audience have no reading
    history synced"); a customer whose history was read and is empty is not counted.
    """
    scope, params = "", {"kind": f"user:{source}", "source": source}
    if customer_ids is not None:
        scope = f"AND i.customer_id IN {db.dialect.integers(':ids')} "
        params["ids"] = json.dumps([int(c) for c in customer_ids])
    return db.execute(
        "SELECT count(*) FROM (SELECT i.customer_id FROM customer_identities i "
        "JOIN customers c ON c.id = i.customer_id AND c.merged_into IS NULL "
        f"WHERE i.kind = :kind {scope}"
        "GROUP BY i.customer_id HAVING max(CASE WHEN"
        " EXISTS (SELECT 1 FROM sync_cursors s WHERE s.source = :source"
        "  AND s.stream = 'touchpoints' AND s.scope = i.value)"
        " OR EXISTS (SELECT 1 FROM customer_fetches f WHERE f.source = :source"
        "  AND f.user_id = i.value) THEN 1 ELSE 0 END) = 0) AS unread",
        params,
    ).fetchone()[0]


def customers_with_views(
    db: Database, *, since: int, at_least: int, same_article: bool
) -> set[int]:
    """Customers with `at_least` article views at or after `since` (of one article when
    `same_article`) in the history, plus anyone with a view since in the inbox (not merged
    yet): a superset for outreach's narrowing (`plugin/outreach/narrowing.py`). One seek
    of the reading index per customer."""
    group = ", t.article_source, t.article_id" if same_article else ""
    found = {
        cid
        for (cid,) in db.conn.execute(
            "SELECT c.id FROM customers c JOIN touchpoints t INDEXED BY touchpoints_article_views "
            "ON t.customer_id = c.id AND t.occurred_at >= ? AND t.type = 'article_view' "
            f"GROUP BY c.id{group} HAVING count(*) >= ?",
            [since, at_least],
        )
    }
    found.update(
        cid
        for (cid,) in db.conn.execute(
            "SELECT DISTINCT customer_id FROM touchpoint_inbox WHERE type = 'article_view' "
            "AND occurred_at >= ? AND customer_id IS NOT NULL",
            [since],
        )
    )
    return found


def customers_inactive_since(db: Database, before: int) -> set[int]:
    """Current customers with no touchpoint in the history at or after `before` (the
    inbox is not read: a superset of those whose last activity is before it)."""
    return {
        cid
        for (cid,) in db.conn.execute(
            "SELECT id FROM customers s WHERE merged_into IS NULL AND coalesce("
            "(SELECT max(occurred_at) FROM touchpoints WHERE customer_id = s.id), 0) < ?",
            [before],
        )
    }


@dataclass(frozen=True)
class DatedEvents:
    """A batch of customers' dated past, for replaying their journey (journey/replay.py)."""

    tickets: dict[int, list[tuple[int, int | None, str | None, int | None]]]
    """(created_at, closed_at or None while unsolved, csat_score, rated_at), oldest first."""
    touchpoints: dict[int, list[tuple[int, str, str | None, str | None]]]
    """(occurred_at, type, article_source, article_id), oldest first, inbox included."""
    categories: dict[tuple[str, str], set[str]]
    """The categories of every article in `touchpoints`."""
    first_seen: dict[int, int]
    """Each customer's first ticket or touchpoint."""


def dated_events(
    db: Database,
    customer_ids: list[int],
    *,
    tickets: bool = True,
    touchpoints: bool = True,
    views_only: bool = False,
) -> DatedEvents:
    """The dated events of `customer_ids` (one read per kind for the whole batch, each on
    the customer-first indexes). `views_only` reads article views and no other touchpoint."""
    scope, params = _scope(db, customer_ids)
    found = DatedEvents({}, {}, {}, {})
    for cid, first in db.conn.execute(
        "SELECT s.id, (SELECT min(at) FROM ("
        "SELECT min(created_at) AS at FROM tickets WHERE customer_id = s.id AND deleted = 0 "
        "UNION ALL SELECT min(occurred_at) FROM touchpoints WHERE customer_id = s.id "
        "UNION ALL SELECT min(occurred_at) FROM touchpoint_inbox WHERE customer_id = s.id"
        ") AS firsts) "
        f"FROM {scope} AS s",
        params,
    ):
        if first is not None:
            found.first_seen[cid] = first
    if tickets:
        marks = ", ".join("?" for _ in OPEN_STATUSES)
        for cid, *ticket in db.conn.execute(
            "SELECT customer_id, created_at, "
            f"CASE WHEN status IN ({marks}) THEN NULL "
            "ELSE "
            + db.dialect.greatest("created_at", "coalesce(solved_at, updated_at, created_at)")
            + " END, "
            "csat_score, CASE WHEN csat_score IS NOT NULL "
            "THEN coalesce(solved_at, updated_at, created_at) END "
            f"FROM tickets WHERE deleted = 0 AND customer_id IN {scope} "
            "ORDER BY customer_id, created_at",
            [*OPEN_STATUSES, *params],
        ):
            found.tickets.setdefault(cid, []).append(tuple(ticket))
    if touchpoints:
        kind = "AND type = 'article_view' " if views_only else ""
        rows = over_both(
            "SELECT customer_id, occurred_at, type, article_source, article_id "
            f"FROM {{touchpoints}} WHERE customer_id IN {scope} {kind}"
        )
        for cid, *touchpoint in db.conn.execute(
            f"SELECT * FROM ({rows}) AS both_ ORDER BY 1, 2", [*params, *params]
        ):
            found.touchpoints.setdefault(cid, []).append(tuple(touchpoint))
        articles = {
            (t[2], t[3])
            for rows in found.touchpoints.values()
            for t in rows
            if t[1] == "article_view"
        }
        found.categories.update(_categories_of(db, articles))
    return found
