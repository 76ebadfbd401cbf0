"""The reports' daily sums: what each UTC day holds (tickets by desk, stage when opened
and channel, with their times, SLA outcomes and CSAT; article views and the ones followed
by a ticket), computed once and kept up to date by the worker, so a report over 90 days
sums 90 days instead of reading millions of rows.

Which days the worker computes, most urgent first, within a time budget per run:
1. today and yesterday (new tickets; views followed by a ticket the next morning);
2. days never computed, newest first, back to MAX_DAYS ago;
3. the last RECENT_DAYS days computed more than a day ago (late answers, solves, CSAT);
4. older days computed more than OLD_REFRESH_DAYS ago.
A report page computes the days of its range still missing itself, within a budget, and
says which are missing when the budget runs out.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass

from sqlite_utils import Database

from plugin import clock
from plugin.config import Config
from plugin.reports.ranges import MAX_DAYS
from plugin.store.report_days import all_computed_days, computed_days, replace_day
from plugin.store.reports import count_tickets_between, report_tickets

DAY = 86_400
RECENT_DAYS = 30
OLD_REFRESH_DAYS = 7
WORKER_BUDGET_SECONDS = 120.0
PAGE_BUDGET_SECONDS = 0.6
INLINE_TICKETS = 10_000
"""Missing days holding at most this many tickets in all are counted by the page that
needs them, whatever it takes (a small desk: its pages are always complete)."""
INLINE_DAY_TICKETS = 1_000
"""On a bigger desk a page counts, within its budget, only the missing days this small;
the worker counts the others (a day of 35,000 tickets and 500,000 views takes 10 s)."""
UNKNOWN = "unknown"
BUCKET_RATIO = 1.1
"""Times are counted per bucket 10% wide (a median read from them is within 5%)."""


def bucket(minutes: float) -> float:
    """The value standing for `minutes` in the day sums: the geometric middle of its
    10%-wide bucket (under a minute: 0.5)."""
    if minutes < 1:
        return 0.5
    k = math.floor(math.log(minutes) / math.log(BUCKET_RATIO))
    return round(BUCKET_RATIO ** (k + 0.5), 1)


def day_of(epoch: int) -> int:
    return epoch - epoch % DAY


@dataclass
class DaySums:
    tickets: int = 0
    good: int = 0
    rated: int = 0
    targeted: int = 0
    breached: int = 0


def compute_day(db: Database, config: Config | None, day: int, *, now: int) -> None:
    """Sum the tickets opened on `day` and its article views; store them."""
    from plugin.reports.tickets import calendars, sla_outcome

    calendar = calendars(config)
    at = clock.from_epoch(now)
    sums: dict[tuple[str, str, str], DaySums] = defaultdict(DaySums)
    times: dict[tuple[str, str, str, str, float], int] = defaultdict(int)
    for ticket in report_tickets(db, start=day, end=day + DAY):
        key = (ticket["source"], ticket["stage"] or UNKNOWN, ticket["channel"] or UNKNOWN)
        row = sums[key]
        row.tickets += 1
        if ticket["csat_score"] in ("good", "bad"):
            row.rated += 1
            row.good += ticket["csat_score"] == "good"
        if ticket["targets"]:
            outcome = sla_outcome(ticket, calendar(ticket["source"]), at)
            if outcome is not None:
                row.targeted += 1
                row.breached += outcome == "breached"
        for measure, stop in (("first_response", "first_response_at"), ("resolution", "solved_at")):
            if ticket[stop] is not None:
                minutes = max(ticket[stop] - ticket["created_at"], 0) / 60
                times[(*key, measure, bucket(minutes))] += 1
    replace_day(
        db,
        day,
        [(*key, s.tickets, s.good, s.rated, s.targeted, s.breached) for key, s in sums.items()],
        [(*key, count) for key, count in times.items()],
        now=now,
    )


def due_days(db: Database, *, now: int) -> list[int]:
    """The days the worker should compute now, most urgent first (see the module doc)."""
    today = day_of(now)
    computed = all_computed_days(db)
    first = today - (MAX_DAYS - 1) * DAY
    due = [today, today - DAY]
    due += [d for d in range(today - 2 * DAY, first - 1, -DAY) if d not in computed]
    recent = [
        d
        for d, at in sorted(computed.items(), key=lambda item: item[1])
        if today - RECENT_DAYS * DAY <= d < today - DAY and at < now - DAY
    ]
    old = [
        d
        for d, at in sorted(computed.items(), key=lambda item: item[1])
        if first <= d < today - RECENT_DAYS * DAY and at < now - OLD_REFRESH_DAYS * DAY
    ]
    return list(dict.fromkeys(due + recent + old))


@dataclass
class Upkeep:
    computed: int
    left: int
    seconds: float


def refresh_days(
    db: Database, config: Config | None, *, budget: float = WORKER_BUDGET_SECONDS
) -> Upkeep:
    """Compute the due days until `budget` seconds are spent (the worker's job)."""
    now = clock.now_epoch()
    started = time.monotonic()
    due = due_days(db, now=now)
    done = 0
    for day in due:
        if time.monotonic() - started > budget:
            break
        compute_day(db, config, day, now=now)
        done += 1
    return Upkeep(done, len(due) - done, time.monotonic() - started)


def ensure_range(
    db: Database,
    config: Config | None,
    start: int,
    end: int,
    *,
    budget: float = PAGE_BUDGET_SECONDS,
) -> list[int]:
    """Count the days of [start, end) never counted, and today when its sums are older
    than ten minutes; returns the days still missing. A small desk's days (at most
    INLINE_TICKETS tickets in them) are all counted now, whatever the time; a big desk's
    small days only, newest first until `budget` seconds are spent (the worker counts the
    rest)."""
    now = clock.now_epoch()
    have = computed_days(db, start, end)
    today = day_of(now)
    missing = [d for d in range(day_of(end - 1), start - 1, -DAY) if d not in have and d <= today]
    if start <= today < end and today in have and have[today] < now - 600:
        missing.insert(0, today)
    if not missing:
        return []
    if count_tickets_between(db, min(missing), max(missing) + DAY) <= INLINE_TICKETS:
        budget = float("inf")
    started = time.monotonic()
    left = []
    for day in missing:
        too_long = time.monotonic() - started > budget
        if too_long or (budget != float("inf") and _big(db, day)):
            if day not in have:  # a stale today keeps its sums: the worker renews them
                left.append(day)
            continue
        compute_day(db, config, day, now=now)
    return left


def _big(db: Database, day: int) -> bool:
    """Whether counting `day` would hold a page up (its tickets stand for its views too)."""
    return count_tickets_between(db, day, day + DAY) > INLINE_DAY_TICKETS


def missing_note(left: list[int]) -> tuple[str, ...]:
    if not left:
        return ()
    first, last = clock.iso(min(left))[:10], clock.iso(max(left))[:10]
    return (
        f"{len(left)} days of this range ({first} to {last}) are not counted yet: the worker "
        "is computing them. Reload in a few minutes.",
    )
