"""Keeping the reports' pre-aggregates (store/report_aggregates.py) up to date.

`refresh` is the worker's job (every REFRESH_MINUTES): the last SETTLE_DAYS days again,
the days of touchpoints and tickets synced since, and the facts of the tickets changed at
the desk since. The first refresh of a store finds no state and
rebuilds everything. `rebuild` makes everything again, a week a transaction:
`journeydesk rebuild-reports`, and after the stage history is rebuilt (the stages of the
past changed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlite_utils import Database

from plugin.store.journey_reports import DAY, settle_outreach_outcomes
from plugin.store.report_aggregates import (
    CHANGE_MARGIN_SECONDS,
    REBUILD_DAYS_PER_TRANSACTION,
    SETTLE_DAYS,
    day_runs,
    days_written_since,
    history_span,
    last_touchpoint_id,
    rebuild_days,
    rebuild_ticket_facts,
    refresh_ticket_facts,
    save_state,
    state,
    tickets_to_refresh,
)

REFRESH_MINUTES = 10


@dataclass(frozen=True)
class Refreshed:
    days: int
    """UTC days whose touchpoint aggregates were made again."""
    tickets: int
    """Tickets whose facts were made again."""
    full: bool


def refresh(db: Database, *, now: int) -> Refreshed:
    """Bring the aggregates up to `now` (a full rebuild when none exist yet)."""
    known = state(db)
    if known is None:
        return rebuild(db, now=now)
    watermark = last_touchpoint_id(db)  # read first: rows written meanwhile come next time
    today = now // DAY
    days = set(range(today - SETTLE_DAYS, today + 1))
    days.update(days_written_since(db, known["touchpoint_id"]))
    changed = tickets_to_refresh(db, changed_since=known["refreshed_at"] - CHANGE_MARGIN_SECONDS)
    opened = {created // DAY for _, _, created in changed}
    days.update(opened | {d - 1 for d in opened})  # the views they follow: a day before
    for first, last in day_runs(sorted(d for d in days if d <= today)):
        rebuild_days(db, first, last)
    tickets = refresh_ticket_facts(db, [(source, ticket) for source, ticket, _ in changed])
    settle_outreach_outcomes(db, now=now)
    save_state(db, touchpoint_id=watermark, now=now)
    return Refreshed(days=len(days), tickets=tickets, full=False)


def rebuild(
    db: Database, *, now: int, progress: Callable[[int, int], None] | None = None
) -> Refreshed:
    """Make every aggregate again from the history; `progress(done, total)` in days."""
    watermark = last_touchpoint_id(db)
    span = history_span(db)
    days = tickets = 0
    if span is not None:
        first, last = span[0], min(span[1], now // DAY)
        total = last - first + 1
        for start in range(first, last + 1, REBUILD_DAYS_PER_TRANSACTION):
            end = min(start + REBUILD_DAYS_PER_TRANSACTION - 1, last)
            rebuild_days(db, start, end)
            tickets += rebuild_ticket_facts(db, start * DAY, (end + 1) * DAY)
            days = end - first + 1
            if progress:
                progress(days, total)
    settle_outreach_outcomes(db, now=now)
    save_state(db, touchpoint_id=watermark, now=now)
    return Refreshed(days=days, tickets=tickets, full=True)
