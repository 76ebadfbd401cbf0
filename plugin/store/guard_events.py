"""Guard events: the reply guard's warnings about already-read articles, and what the agent
did about each (sent the reply anyway, or edited it).

One row per warning shown about an article on a ticket. The guard checks drafts while the
agent writes and again at save time; every check that warns about the same article on the
same ticket while no outcome is recorded counts on the open row (`checks`,
`last_warned_at`), so a draft checked ten times is one warning shown. Once the agent sends
anyway or edits, the row is closed; a later warning about that article on that ticket
(a new reply) opens a new row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from plugin.store import select_dicts

OUTCOMES = ("sent_anyway", "edited")


@dataclass(frozen=True, slots=True)
class Warned:
    """One article a check warned about."""

    article_source: str
    article_id: str
    title: str | None = None


def record_warnings(
    db: Database,
    *,
    source: str,
    ticket_id: str,
    customer_id: int | None,
    warned: Iterable[Warned],
    now: int,
) -> int:
    """Count a check's warnings: a new row per article not already warned about on this
    ticket since its last outcome, else one more check on the open row. Returns the rows
    touched."""
    rows = [
        (source, ticket_id, customer_id, w.article_source, w.article_id, w.title, now, now)
        for w in warned
    ]
    if not rows:
        return 0
    with db.atomic():
        db.conn.executemany(
            "INSERT INTO guard_events (source, ticket_id, customer_id, article_source, "
            "article_id, title, warned_at, last_warned_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (source, ticket_id, article_source, article_id) WHERE outcome IS NULL "
            "DO UPDATE SET checks = guard_events.checks + 1, "
            "last_warned_at = excluded.last_warned_at, "
            "title = coalesce(excluded.title, guard_events.title)",
            rows,
        )
    return len(rows)


def record_outcome(
    db: Database,
    *,
    source: str,
    ticket_id: str,
    articles: Sequence[tuple[str, str]],
    outcome: str,
    now: int,
) -> int:
    """Close the open warnings of `articles` ((article source, article id)) on a ticket with
    what the agent did; returns how many were open. Unknown articles change nothing."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    closed = 0
    with db.atomic():
        for article_source, article_id in dict.fromkeys(articles):
            closed += db.conn.execute(
                "UPDATE guard_events SET outcome = ?, outcome_at = ? WHERE source = ? "
                "AND ticket_id = ? AND article_source = ? AND article_id = ? "
                "AND outcome IS NULL",
                [outcome, now, source, ticket_id, article_source, article_id],
            ).rowcount
    return closed


def ticket_guard_events(db: Database, source: str, ticket_id: str) -> list[dict[str, Any]]:
    """A ticket's guard events, oldest first."""
    return select_dicts(
        db,
        "SELECT * FROM guard_events WHERE source = ? AND ticket_id = ? ORDER BY id",
        [source, ticket_id],
    )


WEEK = 7 * 86400
MONDAY_OFFSET = 3 * 86400
"""1970-01-01 was a Thursday: (t + 3 days) // 1 week numbers the weeks from Monday."""


def _scope(start: int, end: int, sources: Sequence[str]) -> tuple[str, list[Any]]:
    where, params = "warned_at >= ? AND warned_at < ?", [start, end]
    if sources:
        where += f" AND source IN ({', '.join('?' for _ in sources)})"
        params += list(sources)
    return where, params


def guard_counts_by_week(
    db: Database, *, start: int, end: int, sources: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Warnings first shown in [start, end) (of the tickets of `sources`, all when empty),
    per week: `monday` (epoch of the week's Monday 00:00 UTC), `outcome` (None: no choice
    recorded) and `warnings`."""
    where, params = _scope(start, end, sources)
    return select_dicts(
        db,
        f"SELECT (warned_at + {MONDAY_OFFSET}) / {WEEK} * {WEEK} - {MONDAY_OFFSET} AS monday, "
        "outcome, count(*) AS warnings FROM guard_events INDEXED BY guard_events_warned "
        f"WHERE {where} GROUP BY monday, outcome ORDER BY monday",
        params,
    )


def guard_counts_by_article(
    db: Database, *, start: int, end: int, sources: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """As `guard_counts_by_week`, per article: `article_source`, `article_id`, `title`."""
    where, params = _scope(start, end, sources)
    return select_dicts(
        db,
        "SELECT article_source, article_id, max(title) AS title, outcome, "
        "count(*) AS warnings FROM guard_events INDEXED BY guard_events_warned "
        f"WHERE {where} GROUP BY article_source, article_id, outcome",
        params,
    )
