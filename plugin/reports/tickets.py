"""Tickets, first-response and resolution time, SLA breach rate and CSAT, by the journey
stage the customer was in when the ticket was opened (`tickets`), by channel
(`tickets-by-channel`) and week by week (`tickets-over-time`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlite_utils import Database

from plugin.reports.aggregates import figures_for
from plugin.reports.common import (
    epochs,
    in_journey_order,
    ratio,
    stage_labels,
    stages,
    to_epoch_day,
    weeks_between,
)
from plugin.reports.report import Chart, Column, Filters, Report, register
from plugin.store.journey_reports import DAY
from plugin.store.report_aggregates import ticket_sums, time_counts

MEASURES = (
    Column("tickets", "Tickets", "tickets opened in the range (deleted ones left out)"),
    Column(
        "median_first_response_minutes",
        "Median first response",
        "median of (first response − opened), calendar minutes, over the tickets answered "
        "(counted in 10%-wide bins: within 5%)",
        "minutes",
    ),
    Column(
        "median_resolution_minutes",
        "Median resolution",
        "median of (solved − opened), calendar minutes, over the tickets solved "
        "(counted in 10%-wide bins: within 5%)",
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


def weighted_median(counts: Iterable[tuple[float, int]]) -> float | None:
    """The median of values given as (value, how many times)."""
    ordered = sorted(counts)
    total = sum(n for _, n in ordered)
    if not total:
        return None
    middle = [(total - 1) // 2, total // 2]
    found, seen = [], 0
    for value, n in ordered:
        while len(found) < 2 and middle[len(found)] < seen + n:
            found.append(value)
        seen += n
    return round((found[0] + found[1]) / 2, 1)


def measures(
    db: Database, filters: Filters, by: str, *, with_times: bool = True
) -> tuple[dict[str, dict[str, Any]], tuple[str, ...]]:
    """The measures of the range's tickets per group (`by`: stage | channel | week |
    week_channel), from the daily sums; and a note naming days not counted yet. Without
    `with_times` the medians are left out (None): they cost the most to read."""
    start, end = epochs(filters)
    missing = figures_for(db, filters.config, start, end)
    times: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for group, measure, minutes, count in (
        time_counts(db, start=start, end=end, by=by, sources=filters.sources) if with_times else ()
    ):
        times[str(group)][measure].append((minutes, count))
    result = {}
    for group, tickets, good, rated, targeted, breached in ticket_sums(
        db, start=start, end=end, by=by, sources=filters.sources
    ):
        result[str(group)] = {
            "tickets": tickets,
            "median_first_response_minutes": weighted_median(times[str(group)]["first_response"]),
            "median_resolution_minutes": weighted_median(times[str(group)]["resolution"]),
            "sla_breach_rate": ratio(breached, targeted),
            "csat": ratio(good, rated),
            "csat_rated": rated,
        }
    return result, missing


EMPTY = {
    "tickets": 0,
    "median_first_response_minutes": None,
    "median_resolution_minutes": None,
    "sla_breach_rate": None,
    "csat": None,
    "csat_rated": 0,
}


NOTES = (
    "Stage: the customer's stage when the ticket was opened, from the stage history (the "
    "last change at or before that moment; the current stage when the history has none).",
    "Times are calendar minutes from the desk's own timestamps; SLA targets count business "
    "hours as the rules do.",
)


@register("tickets")
def tickets_by_stage(db: Database, filters: Filters) -> Report:
    sums, missing = measures(db, filters, "stage")
    labels = stage_labels(db, filters)
    keys = in_journey_order([*labels, *sums], stages(db, filters))
    rows = [{"stage": labels.get(k, k), "stage_key": k, **sums.get(k, EMPTY)} for k in keys]
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
        notes=missing + NOTES,
    )


@register("tickets-by-channel")
def tickets_by_channel(db: Database, filters: Filters) -> Report:
    sums, missing = measures(db, filters, "channel")
    rows = [{"channel": k, **sums[k]} for k in sorted(sums, key=lambda k: (-sums[k]["tickets"], k))]
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
        notes=missing + NOTES[1:],
    )


@register("tickets-over-time")
def tickets_over_time(db: Database, filters: Filters) -> Report:
    weekly, missing = measures(db, filters, "week")
    by_channel, _ = measures(db, filters, "week_channel", with_times=False)
    ordered = sorted({key.partition("|")[2] for key in by_channel})
    rows = []
    for week in weeks_between(*epochs(filters)):
        epoch = str(to_epoch_day(week) // DAY)
        row: dict[str, Any] = {"week": week, **weekly.get(epoch, EMPTY)}
        for channel in ordered:
            row[f"tickets_{channel}"] = by_channel.get(f"{epoch}|{channel}", EMPTY)["tickets"]
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
        notes=missing + NOTES[1:],
    )
