"""Targets and breaches: a ticket's SLA deadlines under the rule that matched, and whether
it met them, from the desk's own first-response and resolution times.

Each clock starts when the ticket is created and counts business time (the connector's
calendar; calendar minutes without one). It stops at the first response, or at the
resolution; a ticket solved without a response stops its first-response clock at the
solve. A clock that has not stopped is still running at `now`: `running` while its
deadline is ahead, `breached` once it has passed (it can no longer be met).

The deadline is the moment the target's business minutes are used up, and a clock that
stops after it is breached: an answer on Saturday to a target that ran out at Friday's
closing time is late, though its minutes used equal the target.

Pure functions over `connectors.records.Ticket`: no store, no web.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from connectors.records import Ticket, utc
from plugin import clock
from plugin.sla.business_hours import BusinessCalendar, deadline, elapsed_business_minutes

MET, BREACHED, RUNNING, NO_TARGET = "met", "breached", "running", "no target"
DONE_STATUSES = frozenset({"solved", "closed"})


@dataclass(frozen=True, slots=True)
class Target:
    """One clock: the target, its deadline, its state and the business minutes it used."""

    minutes: int | None
    """The rule's target (None: the rule sets none)."""
    deadline: datetime | None
    stopped_at: datetime | None
    """When the clock stopped (None: still running)."""
    minutes_used: float | None
    """Business minutes from creation to the stop (to `now` while running; None when
    the clock never stopped and there is no target to watch)."""
    state: str
    """met | breached | running | no target"""

    @property
    def breached(self) -> bool:
        return self.state == BREACHED


@dataclass(frozen=True, slots=True)
class TicketTargets:
    first_response: Target
    resolution: Target

    @property
    def breached(self) -> bool:
        return self.first_response.breached or self.resolution.breached


def evaluate(
    ticket: Ticket,
    first_response_minutes: int | None,
    resolution_minutes: int | None,
    calendar: BusinessCalendar | None = None,
    now: datetime | None = None,
) -> TicketTargets:
    """The ticket's targets under a rule's first-response and resolution minutes."""
    at = utc(now) if now is not None else clock.now()
    created = utc(ticket.created_at)
    solved = _solved_at(ticket)
    responded = utc(ticket.first_response_at) if ticket.first_response_at else solved
    return TicketTargets(
        first_response=_target(created, responded, first_response_minutes, calendar, at),
        resolution=_target(created, solved, resolution_minutes, calendar, at),
    )


def _solved_at(ticket: Ticket) -> datetime | None:
    if ticket.solved_at is not None:
        return utc(ticket.solved_at)
    if ticket.status in DONE_STATUSES:
        # Solved, but the desk gave no time: its last change is the latest it can have been.
        return utc(ticket.updated_at or ticket.created_at)
    return None


def _target(
    created: datetime,
    stopped: datetime | None,
    minutes: int | None,
    calendar: BusinessCalendar | None,
    now: datetime,
) -> Target:
    if minutes is None:
        used = elapsed_business_minutes(created, stopped, calendar) if stopped else None
        return Target(None, None, stopped, used, NO_TARGET)
    due = deadline(created, minutes, calendar)
    if stopped is not None:
        state = MET if stopped <= due else BREACHED
        return Target(
            minutes, due, stopped, elapsed_business_minutes(created, stopped, calendar), state
        )
    state = RUNNING if now < due else BREACHED
    return Target(minutes, due, None, elapsed_business_minutes(created, now, calendar), state)


# --------------------------------------------------------------------------- many targets at once


def clock_stops(
    status: str | None,
    created_at: int,
    updated_at: int | None,
    solved_at: int | None,
    first_response_at: int | None,
) -> tuple[int | None, int | None]:
    """When the first-response and the resolution clocks stopped (epoch seconds; None:
    running), as `evaluate` stops them."""
    solved = solved_at
    if solved is None and status in DONE_STATUSES:
        solved = updated_at or created_at
    return (first_response_at if first_response_at is not None else solved), solved


def limits_passed(
    created: int,
    stopped: int | None,
    limits: Sequence[int],
    calendar: BusinessCalendar | None,
    now: int,
) -> int:
    """How many of `limits` (targets in seconds of business time, ascending) a clock that
    started at `created` and stopped at `stopped` (None: still running at `now`) has
    breached: the target `limits[i]` is breached exactly when i is below the answer.

    What `evaluate` says of each target, from one count of the business time used (the
    what-if's way through many tickets and targets): used time above a target is a breach,
    below is not; a running clock is breached once its used time reaches the target; a
    clock that stopped with exactly the target used is breached only if it stopped after
    the deadline (in closed hours past it)."""
    end = stopped if stopped is not None else now
    if calendar is None:
        used = float(max(0, end - created))
    else:
        used = calendar.open_seconds(created, end)
    if stopped is None:
        return bisect_right(limits, used)
    count = bisect_left(limits, used)
    while (
        calendar is not None
        and count < len(limits)
        and limits[count] == used
        and stopped > calendar.deadline_epoch(created, limits[count])
    ):
        count += 1
    return count
