"""The journey funnel (customers per stage now, with the moves in and out over the range)
and the stage transitions week by week, from the stage history."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlite_utils import Database

from plugin.reports.common import (
    epochs,
    in_journey_order,
    median_of,
    ratio,
    stage_labels,
    stages,
    week_of,
)
from plugin.reports.report import Chart, Column, Filters, Report, register
from plugin.store.reports import customers_per_stage, stage_moves

DAY = 86_400
HISTORY_NOTE = (
    "Moves come from the stage history: first placements (a customer seen for the first "
    "time) are not moves. Days stayed are known only when the history holds the move into "
    "the stage that was left."
)


@register("funnel")
def funnel(db: Database, filters: Filters) -> Report:
    start, end = epochs(filters)
    counts = customers_per_stage(db, filters.sources)
    moves = stage_moves(db, start=start, end=end, sources=filters.sources)
    moved_in: dict[str, int] = defaultdict(int)
    moved_out: dict[str, int] = defaultdict(int)
    stayed: dict[str, list[float]] = defaultdict(list)
    for _at, from_stage, to_stage, seconds in moves:
        moved_in[to_stage] += 1
        moved_out[from_stage] += 1
        if seconds is not None:
            stayed[from_stage].append(seconds / DAY)
    labels = stage_labels(db, filters)
    total = sum(counts.values())
    keys = in_journey_order([*labels, *counts, *moved_in, *moved_out], stages(db, filters))
    rows = [
        {
            "stage": labels.get(k, k),
            "stage_key": k,
            "customers": counts.get(k, 0),
            "share": ratio(counts.get(k, 0), total),
            "moved_in": moved_in.get(k, 0),
            "moved_out": moved_out.get(k, 0),
            "median_days_stayed": median_of(stayed.get(k, [])),
        }
        for k in keys
    ]
    return Report(
        name="funnel",
        title="Journey funnel",
        description="Where customers are now, in journey order, and how many moved into and "
        "out of each stage in the range.",
        filters=filters,
        columns=(
            Column("stage", "Stage", "the journey model's stages, in journey order", "text"),
            Column(
                "customers",
                "Customers now",
                "customers whose current stage this is (today, whatever the range)",
            ),
            Column("share", "Share", "customers in the stage ÷ all customers", "percent"),
            Column("moved_in", "Moved in", "stage changes into the stage in the range"),
            Column("moved_out", "Moved out", "stage changes out of the stage in the range"),
            Column(
                "median_days_stayed",
                "Median days stayed",
                "median of (moved out − moved in), in days, over the moves out in the range",
            ),
        ),
        rows=rows,
        chart=Chart("bar", "stage", ("customers",), "Customers per stage now", y_label="customers"),
        notes=(HISTORY_NOTE,),
    )


@register("stage-transitions")
def stage_transitions(db: Database, filters: Filters) -> Report:
    start, end = epochs(filters)
    labels = stage_labels(db, filters)
    groups: dict[tuple[str, str, str], list[int | None]] = defaultdict(list)
    for at, from_stage, to_stage, seconds in stage_moves(
        db, start=start, end=end, sources=filters.sources
    ):
        groups[(week_of(at), from_stage, to_stage)].append(seconds)
    order = {s.key: n for n, s in enumerate(stages(db, filters))}
    rows: list[dict[str, Any]] = []
    for (week, from_stage, to_stage), seconds in sorted(
        groups.items(),
        key=lambda item: (
            item[0][0],
            order.get(item[0][1], 99),
            order.get(item[0][2], 99),
            item[0],
        ),
    ):
        rows.append(
            {
                "week": week,
                "move": f"{labels.get(from_stage, from_stage)} → {labels.get(to_stage, to_stage)}",
                "from_stage": from_stage,
                "to_stage": to_stage,
                "moves": len(seconds),
                "median_days_stayed": median_of(s / DAY for s in seconds if s is not None),
            }
        )
    return Report(
        name="stage-transitions",
        title="Stage transitions week by week",
        description="How many customers moved from one stage to another each week (weeks "
        "start on Monday, UTC), and how long they had stayed in the stage they left.",
        filters=filters,
        columns=(
            Column("week", "Week of", "the Monday (UTC) starting the week", "date"),
            Column("move", "Move", "from the stage left → to the stage entered", "text"),
            Column("moves", "Moves", "stage changes of that kind that week"),
            Column(
                "median_days_stayed",
                "Median days stayed",
                "median of (this move − the move into the stage left), in days",
            ),
        ),
        rows=rows,
        chart=Chart(
            "stacked", "week", ("moves",), "Moves per week, by move", split="move", y_label="moves"
        ),
        notes=(HISTORY_NOTE,),
    )
