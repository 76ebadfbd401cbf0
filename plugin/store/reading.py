"""One customer's reading, as the sidebar and the reply guard ask about it.

Every query here is keyed by `customer_id` first, so it runs on the covering index
`touchpoints_article_views` (customer_id, occurred_at, article_source, article_id, ...),
and costs the customer's own rows, never the table's; each also reads the inbox's twin
index (events ingested but not merged yet, `touchpoints.over_both`).
An article is `(article_source, group_id)`: touchpoints store the group id, so a view in
any locale of an article counts as that article.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlite_utils import Database

from plugin.store.touchpoints import over_both

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
            + ")",
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
        f"FROM ({both}) GROUP BY type",
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
        f"FROM ({both})",
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
