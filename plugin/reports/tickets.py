"""Tickets, first-response and resolution time, SLA breach rate and CSAT, by the journey
stage the customer was in when the ticket was opened (`tickets`), by channel
(`tickets-by-channel`) and week by week (`tickets-over-time`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlite_utils import Database

from connectors.records import CustomerRef, Ticket
from plugin import clock
from plugin.reports.common import (
    UNKNOWN_STAGE,
    epochs,
    in_journey_order,
    median_of,
    ratio,
    stage_labels,
    stages,
    week_of,
    weeks_between,
)
from plugin.reports.report import Chart, Column, Filters, Report, register
from plugin.sla.business_hours import BusinessCalendar
from plugin.sla.targets import BREACHED, RUNNING, evaluate
from plugin.store import loads_stored
from plugin.store.reports import report_tickets

NO_CHANNEL = "unknown"

MEASURES = (
    Column("tickets", "Tickets", "tickets opened in the range (deleted ones left out)"),
    Column(
        "median_first_response_minutes",
        "Median first response",
        "median of (first response − opened), calendar minutes, over the tickets answered",
        "minutes",
    ),
    Column(
        "median_resolution_minutes",
        "Median resolution",
        "median of (solved − opened), calendar minutes, over the tickets solved",
        "minutes",
    ),
    Column(
        "sla_breach_rate",
        "SLA breach rate",
        "tickets past a target ÷ tickets with an SLA target whose clocks have stopped or "
        "run out (business hours of the desk's calendar; still-running clocks left out)",
        "percent",
    ),
    Column("csat", "CSAT", "good ratings ÷ (good + bad) ratings", "percent"),
    Column("csat_rated", "Rated", "tickets rated good or bad"),
)


@dataclass
class Tally:
    """The sums of one group of tickets (a stage, a channel, a week)."""

    tickets: int = 0
    first_response: list[float] = field(default_factory=list)
    resolution: list[float] = field(default_factory=list)
    with_target: int = 0
    breached: int = 0
    good: int = 0
    rated: int = 0

    def add(self, ticket: dict[str, Any], sla: str | None) -> None:
        self.tickets += 1
        created = ticket["created_at"]
        if ticket["first_response_at"] is not None:
            self.first_response.append((ticket["first_response_at"] - created) / 60)
        if ticket["solved_at"] is not None:
            self.resolution.append((ticket["solved_at"] - created) / 60)
        if sla is not None:
            self.with_target += 1
            self.breached += sla == BREACHED
        if ticket["csat_score"] in ("good", "bad"):
            self.rated += 1
            self.good += ticket["csat_score"] == "good"

    def measures(self) -> dict[str, Any]:
        return {
            "tickets": self.tickets,
            "median_first_response_minutes": median_of(self.first_response),
            "median_resolution_minutes": median_of(self.resolution),
            "sla_breach_rate": ratio(self.breached, self.with_target),
            "csat": ratio(self.good, self.rated),
            "csat_rated": self.rated,
        }


def sla_outcome(ticket: dict[str, Any], calendar: BusinessCalendar | None, now: Any) -> str | None:
    """ "breached", "met", or None (no target, or a clock still running within it)."""
    targets = loads_stored(ticket["targets"]) if ticket["targets"] else {}
    first = targets.get("first_response_minutes") if targets else None
    resolution = targets.get("resolution_minutes") if targets else None
    if first is None and resolution is None:
        return None
    record = Ticket(
        id=ticket["id"],
        requester=CustomerRef(source_id="-"),
        subject="",
        created_at=clock.from_epoch(ticket["created_at"]),
        updated_at=clock.from_epoch(ticket["updated_at"]),
        status=ticket["status"],
        solved_at=clock.from_epoch(ticket["solved_at"]),
        first_response_at=clock.from_epoch(ticket["first_response_at"]),
    )
    result = evaluate(record, first, resolution, calendar, now)
    if result.breached:
        return BREACHED
    if RUNNING in (result.first_response.state, result.resolution.state):
        return None
    return "met"


def _calendars(filters: Filters) -> Callable[[str], BusinessCalendar | None]:
    cache: dict[str, BusinessCalendar | None] = {}

    def calendar(source: str) -> BusinessCalendar | None:
        if source not in cache:
            connector = filters.config.connector(source) if filters.config else None
            cache[source] = connector.business_calendar() if connector else None
        return cache[source]

    return calendar


def tallies(
    db: Database, filters: Filters, group: Callable[[dict[str, Any]], Iterable[str]]
) -> dict[str, Tally]:
    """The range's tickets summed per group key (`group` gives each ticket's keys)."""
    start, end = epochs(filters)
    calendar, now = _calendars(filters), clock.now()
    result: dict[str, Tally] = defaultdict(Tally)
    for ticket in report_tickets(db, start=start, end=end, sources=filters.sources):
        sla = sla_outcome(ticket, calendar(ticket["source"]), now) if ticket["targets"] else None
        for key in group(ticket):
            result[key].add(ticket, sla)
    return result


NOTES = (
    "Stage: the customer's stage when the ticket was opened, from the stage history (the "
    "last change at or before that moment; the current stage when the history has none).",
    "Times are calendar minutes from the desk's own timestamps; SLA targets count business "
    "hours as the rules do.",
)


@register("tickets")
def tickets_by_stage(db: Database, filters: Filters) -> Report:
    sums = tallies(db, filters, lambda t: [t["stage"] or UNKNOWN_STAGE])
    labels = stage_labels(db, filters)
    keys = in_journey_order([*labels, *sums], stages(db, filters))
    rows = [
        {"stage": labels.get(k, k), "stage_key": k, **(sums.get(k) or Tally()).measures()}
        for k in keys
    ]
    return Report(
        name="tickets",
        title="Tickets by journey stage",
        description="How many tickets each stage brings, how fast they are answered and "
        "solved, how often SLA targets are missed and how satisfied customers are.",
        filters=filters,
        columns=(
            Column(
                "stage",
                "Stage when opened",
                "the customer's stage when the ticket was opened",
                "text",
            ),
            *MEASURES,
        ),
        rows=rows,
        chart=Chart("bar", "stage", ("tickets",), "Tickets per stage", y_label="tickets"),
        notes=NOTES,
    )


@register("tickets-by-channel")
def tickets_by_channel(db: Database, filters: Filters) -> Report:
    sums = tallies(db, filters, lambda t: [t["channel"] or NO_CHANNEL])
    rows = [
        {"channel": k, **sums[k].measures()} for k in sorted(sums, key=lambda k: -sums[k].tickets)
    ]
    return Report(
        name="tickets-by-channel",
        title="Tickets by channel",
        description="The same measures per channel the tickets came in by.",
        filters=filters,
        columns=(
            Column("channel", "Channel", "the channel the desk gives the ticket", "text"),
            *MEASURES,
        ),
        rows=rows,
        chart=Chart("bar", "channel", ("tickets",), "Tickets per channel", y_label="tickets"),
        notes=NOTES[1:],
    )


@register("tickets-over-time")
def tickets_over_time(db: Database, filters: Filters) -> Report:
    channels: set[str] = set()

    def keys(ticket: dict[str, Any]) -> list[str]:
        channel = ticket["channel"] or NO_CHANNEL
        channels.add(channel)
        week = week_of(ticket["created_at"])
        return [week, f"{week}|{channel}"]

    sums = tallies(db, filters, keys)
    ordered = sorted(channels)
    rows = []
    for week in weeks_between(*epochs(filters)):
        row: dict[str, Any] = {"week": week, **(sums.get(week) or Tally()).measures()}
        for channel in ordered:
            row[f"tickets_{channel}"] = (sums.get(f"{week}|{channel}") or Tally()).tickets
        rows.append(row)
    per_channel = tuple(
        Column(f"tickets_{c}", f"Tickets: {c}", f"tickets opened that week by {c}") for c in ordered
    )
    return Report(
        name="tickets-over-time",
        title="Tickets week by week",
        description="Week by week (weeks start on Monday, UTC): the tickets per channel and "
        "the same measures as by stage. The first and last weeks may be partial.",
        filters=filters,
        columns=(
            Column("week", "Week of", "the Monday (UTC) starting the week", "date"),
            *MEASURES,
            *per_channel,
        ),
        rows=rows,
        chart=Chart(
            "line",
            "week",
            tuple(c.key for c in per_channel),
            "Tickets per week, by channel",
            y_label="tickets",
        ),
        notes=NOTES[1:],
    )
