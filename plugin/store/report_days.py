"""Report aggregates per UTC day: `report_days` (which days are computed, and when),
`report_ticket_days`, `report_time_days`, `report_article_days` (migration 0023).

plugin/reports/days.py decides which days to compute and sums the tickets of a day; this
module stores a day's sums in one transaction and reads a range's sums back, grouped in
SQL by what a report shows (stage, channel, week).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlite_utils import Database

from plugin.store.reports import FOLLOW_SECONDS

DAY = 86_400
MONDAY_OFFSET = 3 * DAY
"""1970-01-01 was a Thursday: (day + 3 days) is a whole number of weeks after a Monday."""

GROUPS = {
    "stage": "stage",
    "channel": "channel",
    "week": f"(day - ((day + {MONDAY_OFFSET}) % {7 * DAY}))",
    "week_channel": f"(day - ((day + {MONDAY_OFFSET}) % {7 * DAY})) || '|' || channel",
}
"""What a range's sums can be grouped by: name → SQL over the day tables' columns."""


def computed_days(db: Database, start: int, end: int) -> dict[int, int]:
    """{day: computed_at} of the computed days in [start, end)."""
    return dict(
        db.execute(
            "SELECT day, computed_at FROM report_days WHERE day >= ? AND day < ?", [start, end]
        ).fetchall()
    )


def all_computed_days(db: Database) -> dict[int, int]:
    return dict(db.execute("SELECT day, computed_at FROM report_days").fetchall())


def replace_day(
    db: Database,
    day: int,
    tickets: Iterable[tuple],
    times: Iterable[tuple],
    *,
    now: int,
) -> None:
    """Store the sums of `day` (midnight UTC), replacing what was there: the ticket rows
    (source, stage, channel, tickets, good, rated, targeted, breached), the time rows
    (source, stage, channel, measure, minutes, tickets), and the article views counted
    here from the touchpoints."""
    with db.atomic():
        for table in ("report_ticket_days", "report_time_days", "report_article_days"):
            db.execute(f"DELETE FROM {table} WHERE day = ?", [day])  # noqa: S608 - literals
        db.conn.executemany(
            "INSERT INTO report_ticket_days (day, source, stage, channel, tickets, csat_good, "
            "csat_rated, sla_targeted, sla_breached) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(day, *row) for row in tickets],
        )
        db.conn.executemany(
            "INSERT INTO report_time_days (day, source, stage, channel, measure, minutes, "
            "tickets) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(day, *row) for row in times],
        )
        _count_article_views(db, day)
        db.execute(
            "INSERT INTO report_days (day, computed_at) VALUES (?, ?) "
            "ON CONFLICT (day) DO UPDATE SET computed_at = excluded.computed_at",
            [day, now],
        )


def _count_article_views(db: Database, day: int) -> None:
    # Views per article: one seek per known article in the popularity index (it leads with
    # the article), so a day costs its own views. Followed views: from the tickets of that
    # day and the next, the reader's views in the 24 h before each (a covering index per
    # ticket), each view counted once however many tickets followed it.
    views = db.execute(
        "SELECT v.article_source, v.article_id, count(*) "
        "FROM (SELECT DISTINCT source, group_id FROM articles) a "
        "CROSS JOIN touchpoints v INDEXED BY touchpoints_article_popularity "
        "ON v.article_source = a.source AND v.article_id = a.group_id "
        "AND v.type = 'article_view' AND v.occurred_at >= ? AND v.occurred_at < ? "
        "GROUP BY v.article_source, v.article_id",
        [day, day + DAY],
    ).fetchall()
    followed = {
        (source, article): count
        for source, article, count in db.execute(
            "SELECT article_source, article_id, count(*) FROM ("
            "SELECT DISTINCT v.id, v.article_source, v.article_id "
            "FROM tickets t INDEXED BY tickets_created_at "
            "CROSS JOIN touchpoints v INDEXED BY touchpoints_article_views "
            "ON v.customer_id = t.customer_id AND v.occurred_at >= t.created_at - ? "
            "AND v.occurred_at < t.created_at "
            "WHERE t.created_at > ? AND t.created_at <= ? AND t.deleted = 0 "
            "AND v.type = 'article_view' AND v.occurred_at >= ? AND v.occurred_at < ?"
            ") GROUP BY article_source, article_id",
            [FOLLOW_SECONDS, day, day + DAY + FOLLOW_SECONDS, day, day + DAY],
        )
    }
    db.conn.executemany(
        "INSERT INTO report_article_days (day, article_source, article_id, views, followed) "
        "VALUES (?, ?, ?, ?, ?)",
        [(day, s, a, n, followed.get((s, a), 0)) for s, a, n in views],
    )


def forget_days(db: Database, *, since: int | None = None) -> int:
    """Drop the sums of the days from `since` (every day when None), e.g. after the stage
    history was rebuilt: pages name those days as not counted until the worker counts
    them again. Returns how many days were forgotten."""
    since = since if since is not None else -(2**62)
    with db.atomic():
        for table in ("report_ticket_days", "report_time_days", "report_article_days"):
            db.execute(f"DELETE FROM {table} WHERE day >= ?", [since])  # noqa: S608 - literals
        cursor = db.execute("DELETE FROM report_days WHERE day >= ?", [since])
    return cursor.rowcount


def _sources(sources: Sequence[str], column: str = "source") -> tuple[str, list[Any]]:
    if not sources:
        return "", []
    return f" AND {column} IN ({', '.join('?' for _ in sources)})", list(sources)


def ticket_sums(
    db: Database, *, start: int, end: int, by: str, sources: Sequence[str] = ()
) -> list[tuple]:
    """(group, tickets, good, rated, targeted, breached) over the days in [start, end)."""
    where, params = _sources(sources)
    return db.execute(
        f"SELECT {GROUPS[by]} AS g, sum(tickets), sum(csat_good), sum(csat_rated), "  # noqa: S608
        "sum(sla_targeted), sum(sla_breached) FROM report_ticket_days "
        f"WHERE day >= ? AND day < ?{where} GROUP BY g",
        [start, end, *params],
    ).fetchall()


def time_counts(
    db: Database, *, start: int, end: int, by: str, sources: Sequence[str] = ()
) -> list[tuple]:
    """(group, measure, minutes, tickets) over the days in [start, end)."""
    where, params = _sources(sources)
    return db.execute(
        f"SELECT {GROUPS[by]} AS g, measure, minutes, sum(tickets) "  # noqa: S608
        f"FROM report_time_days WHERE day >= ? AND day < ?{where} "
        "GROUP BY g, measure, minutes",
        [start, end, *params],
    ).fetchall()


def article_sums(
    db: Database, *, start: int, end: int, sources: Sequence[str] = ()
) -> list[tuple[str, str, int, int]]:
    """(article source, article id, views, followed) over the days in [start, end)."""
    where, params = _sources(sources, "article_source")
    return db.execute(
        "SELECT article_source, article_id, sum(views), sum(followed) FROM report_article_days "
        f"WHERE day >= ? AND day < ?{where} GROUP BY article_source, article_id",
        [start, end, *params],
    ).fetchall()
