"""The one machinery behind every report figure (store/report_aggregates.py).

`refresh` is the worker's job (`report-refresh`, every REFRESH_MINUTES, within
WORKER_BUDGET_SECONDS), in two parts:
1. what changed since the last run, over the days built, read by the store's own order of
   writing, never by a desk's clock (a desk's clock behind or a late sync cannot hide a
   change, and with nothing new no day is counted again): the `report_changes` queue
   (store/report_changes.py: tickets stored, changed, deleted, moved or decided since,
   messages sent) with the days they touch and the day before (the views they follow),
   and the tickets they are a contact of; the touchpoints written since (ids), their days
   and the tickets they were read before or count in the effort of; the tickets whose SLA
   clock ran out since; and the days and tickets of the customers whose stage history was
   written since (ids: a first computation replays their past, their events count by
   other stages now; more than RESTAGED_DAYS days of it and the build starts again
   instead);
2. the build: the days not built yet, newest first, a week at a time, until the budget is
   spent (at least one week per run). A new store's first runs build the recent days
   first, so the pages an admin opens fill first; `report_state.built_from` says how far
   back the figures go.

A report page asks `figures_for` for its range: a small store (up to INLINE_TICKETS
tickets) gets its missing days built there and then; a big one gets a note naming the
days not built yet. `rebuild` makes everything again (`journeydesk rebuild-reports`);
`forget` sets every figure aside after the stage history was rebuilt (each figure counts
by the stage of its moment), and the next refresh builds them again.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from connectors.records import CustomerRef, Ticket
from plugin import clock
from plugin.config import Config
from plugin.sla.business_hours import BusinessCalendar
from plugin.sla.targets import BREACHED, MET, RUNNING, evaluate
from plugin.store import loads_stored, report_changes
from plugin.store.journey_reports import DAY, settle_outreach_outcomes
from plugin.store.report_aggregates import (
    DAYS_PER_TRANSACTION,
    MakeFacts,
    count_tickets,
    day_runs,
    days_written_since,
    forget_figures,
    history_span,
    last_stage_history_id,
    last_touchpoint_id,
    rebuild_days,
    rebuild_ticket_facts,
    refresh_ticket_facts,
    restaged_since,
    save_state,
    sla_clocks_run_out,
    state,
)

REFRESH_MINUTES = 10
WORKER_BUDGET_SECONDS = 120.0
"""How long one refresh may spend building days not built yet (what changed comes first,
whatever it takes: a few days at most)."""
INLINE_TICKETS = 10_000
"""A store holding at most this many tickets has a page's missing days built by the page
(a second or two); a bigger one leaves them to the worker and says so."""
RESTAGED_DAYS = 31
"""New stage history (first computations replaying a customer's past) restaging more days
than this is not made again at once: the build starts again, newest day first."""
BUCKET_RATIO = 1.1
"""Times are counted per bin 10% wide (a median read from them is within 5%)."""


def bucket(minutes: float) -> float:
    """The value standing for `minutes` in the day sums: the geometric middle of its
    10%-wide bin (under a minute: 0.5)."""
    if minutes < 1:
        return 0.5
    k = math.floor(math.log(minutes) / math.log(BUCKET_RATIO))
    return round(BUCKET_RATIO ** (k + 0.5), 1)


def calendars(config: Config | None) -> Callable[[str], BusinessCalendar | None]:
    """Each desk's SLA calendar by connector name (None: calendar minutes)."""
    cache: dict[str, BusinessCalendar | None] = {}

    def calendar(source: str) -> BusinessCalendar | None:
        if source not in cache:
            connector = config.connector(source) if config else None
            cache[source] = connector.business_calendar() if connector else None
        return cache[source]

    return calendar


def sla_outcome(
    ticket: dict[str, Any], calendar: BusinessCalendar | None, now: int
) -> tuple[str | None, int | None]:
    """The ticket's SLA outcome under its decision's targets: (met | breached | running |
    None without a target, the moment a running clock runs out)."""
    targets = loads_stored(ticket["targets"]) if ticket["targets"] else None
    first = targets.get("first_response_minutes") if targets else None
    resolution = targets.get("resolution_minutes") if targets else None
    if first is None and resolution is None:
        return None, None
    record = Ticket(
        id=ticket["ticket_id"],
        requester=CustomerRef(source_id="-"),
        subject="",
        created_at=clock.from_epoch(ticket["created_at"]),
        updated_at=clock.from_epoch(ticket["updated_at"]),
        status=ticket["status"],
        solved_at=clock.from_epoch(ticket["solved_at"]),
        first_response_at=clock.from_epoch(ticket["first_response_at"]),
    )
    result = evaluate(record, first, resolution, calendar, clock.from_epoch(now))
    if result.breached:
        return BREACHED, None
    running = [t for t in (result.first_response, result.resolution) if t.state == RUNNING]
    if running:
        return RUNNING, min(clock.to_epoch(t.deadline) or now for t in running)
    return MET, None


def fact_maker(config: Config | None, now: int) -> MakeFacts:
    """What turns the store's ticket rows into facts: times in bins, the SLA outcome."""
    calendar = calendars(config)

    def minutes(ticket: dict[str, Any], stop: str) -> float | None:
        if ticket[stop] is None:
            return None
        return bucket(max(ticket[stop] - ticket["created_at"], 0) / 60)

    def make(rows: list[dict[str, Any]]) -> list[tuple]:
        facts = []
        for row in rows:
            sla, check_at = sla_outcome(row, calendar(row["source"]), now)
            facts.append(
                (
                    row["source"],
                    row["ticket_id"],
                    row["customer_id"],
                    row["created_at"],
                    row["solved_at"],
                    row["stage"],
                    row["channel"],
                    row["csat"],
                    minutes(row, "first_response_at"),
                    minutes(row, "solved_at"),
                    sla,
                    check_at,
                    row["views"],
                    row["searches"],
                    row["contacts"],
                    row["read_before"],
                )
            )
        return facts

    return make


@dataclass(frozen=True)
class Refreshed:
    days: int
    """UTC days whose figures were made again or built."""
    tickets: int
    """Tickets whose facts were made again."""
    built_from: int | None
    """The oldest day built so far (None: the store holds nothing to count)."""
    left: int
    """Days of the history not built yet."""


def refresh(
    db: Database,
    config: Config | None = None,
    *,
    now: int,
    budget: float = WORKER_BUDGET_SECONDS,
    down_to: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Refreshed:
    """Bring the figures up to `now`, then build days not built yet, newest first, until
    `budget` seconds are spent (at least a week) or the build reaches `down_to` (a day
    number; the history's first day when None). `progress(done, total)` counts the days
    the build made."""
    started = time.monotonic()
    make = fact_maker(config, now)
    # Read first: what is written meanwhile comes at the next refresh.
    seen = {"touchpoint_id": last_touchpoint_id(db), "stage_history_id": last_stage_history_id(db)}
    queued = report_changes.pending_ranges(db)
    known = state(db)
    today = now // DAY
    built_from = known["built_from"] if known else None
    days = tickets = 0
    if known is not None and built_from is not None:
        changes = _changes_since(db, known, queued, make, built_from=built_from, now=now)
        if changes is None:
            built_from = None  # too much restaged: build again, newest first
        else:
            days, tickets = changes
    # Counted (or to be built from what is stored now): forgotten, whatever follows.
    report_changes.drop(db, queued)
    span = history_span(db)
    if span is None:
        save_state(db, **seen, now=now, built_from=None)
        return Refreshed(days, tickets, None, 0)
    first = span[0] if down_to is None else max(span[0], down_to)
    newest = built_from if built_from is not None else max(today, span[1]) + 1
    total = max(newest - first, 0)
    while newest > first:
        oldest = max(newest - DAYS_PER_TRANSACTION, first)
        rebuild_days(db, oldest, newest - 1)
        tickets += rebuild_ticket_facts(db, oldest * DAY, newest * DAY, make)
        days += newest - oldest
        newest = built_from = oldest
        save_state(db, **seen, now=now, built_from=built_from)
        if progress:
            progress(total - (newest - first), total)
        if time.monotonic() - started > budget:
            break
    settle_outreach_outcomes(db, now=now)
    save_state(db, **seen, now=now, built_from=built_from)
    return Refreshed(days, tickets, built_from, max((built_from or 0) - span[0], 0))


def _changes_since(
    db: Database,
    known: dict[str, Any],
    queued: list[tuple[int, int]],
    make: MakeFacts,
    *,
    built_from: int,
    now: int,
) -> tuple[int, int] | None:
    """Part 1 of `refresh`: what changed since the last one, over the days built; None
    when new stage history restages more than RESTAGED_DAYS of them (the build starts
    again instead, within its budget). Every input is read by the store's own order of
    writing (ids, the `report_changes` queue `queued`), never by a desk's clock: with
    nothing new, no day and no ticket is counted again."""
    today = now // DAY
    restaged_days, restaged = restaged_since(db, known["stage_history_id"])
    if sum(1 for d in restaged_days if built_from <= d < today) > RESTAGED_DAYS:
        return None
    days = set(restaged_days)
    days.update(days_written_since(db, known["touchpoint_id"]))
    days.update(report_changes.changed_days(db, queued))
    wanted = sorted(d for d in days if d >= built_from)
    for first, last in day_runs(wanted):
        rebuild_days(db, first, last)
    changed = report_changes.changed_tickets(db, queued, from_day=built_from)
    changed.update(
        report_changes.tickets_near_touchpoints(db, known["touchpoint_id"], from_day=built_from)
    )
    changed.update(sla_clocks_run_out(db, now=now, from_day=built_from))
    changed.update(ticket for ticket in restaged if ticket[2] >= built_from * DAY)
    tickets = refresh_ticket_facts(db, sorted({(source, id_) for source, id_, _ in changed}), make)
    return len(wanted), tickets


def rebuild(
    db: Database,
    config: Config | None = None,
    *,
    now: int,
    progress: Callable[[int, int], None] | None = None,
) -> Refreshed:
    """Make every figure again from the whole history (`journeydesk rebuild-reports`);
    `progress(done, total)` in days. Meanwhile a page counts the weeks made again so far
    and names the days it does not count yet."""
    save_state(
        db,
        touchpoint_id=last_touchpoint_id(db),
        stage_history_id=last_stage_history_id(db),
        now=now,
        built_from=None,
    )
    return refresh(db, config, now=now, budget=math.inf, progress=progress)


def forget(db: Database) -> None:
    """Set every figure aside (the stage history changed: every figure counts by stage);
    the next refresh builds them again, newest day first."""
    forget_figures(db)


def figures_for(db: Database, config: Config | None, start: int, end: int) -> tuple[str, ...]:
    """Make sure the figures of [start, end) are built: on a small store, build them now;
    on a big one, return a note naming the days the worker has not built yet."""
    known = state(db)
    built_from = known["built_from"] if known else None
    if built_from is not None and built_from <= start // DAY:
        return ()
    span = history_span(db)
    if span is None:
        return ()
    first = max(start // DAY, span[0])
    if built_from is not None and built_from <= first:
        return ()
    now = clock.now_epoch()
    last = min(-(-end // DAY), now // DAY + 1) - 1
    if last < first:
        return ()
    if count_tickets(db) <= INLINE_TICKETS:
        refresh(db, config, now=now, budget=math.inf, down_to=first)
        return ()
    return missing_note(first, min(last, built_from - 1) if built_from is not None else last)


def missing_note(first: int, last: int) -> tuple[str, ...]:
    if last < first:
        return ()
    return (
        f"{last - first + 1} days of this range ({clock.iso(first * DAY)[:10]} to "
        f"{clock.iso(last * DAY)[:10]}) are not counted yet: the worker is computing them, "
        "newest first. Reload in a few minutes.",
    )
