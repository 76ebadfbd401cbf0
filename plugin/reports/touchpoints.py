"""The `touchpoints` report (volume of each touchpoint, the share followed by a ticket, by
stage) and the `effort` report (customer effort before a ticket is solved, by stage)."""

from __future__ import annotations

from collections import defaultdict

from sqlite_utils import Database

from plugin.reports.aggregates import figures_for
from plugin.reports.figures import (
    epoch_range,
    median_of_counts,
    share,
    stage_label,
    stages_in_order,
)
from plugin.reports.report import Chart, Column, Filters, Report, register
from plugin.store.report_aggregates import ticket_histograms, touchpoint_volumes

STAGE_NOTE = (
    "By stage: the customer's stage when the touchpoint happened (the last stage change at "
    "or before it; the current stage when none is recorded)."
)
TOUCHPOINT_ORDER = ("article_view", "search", "ticket", "outreach")


def touchpoint_label(touchpoint: str) -> str:
    """'article_view' → 'Article views', 'ticket:email' → 'Tickets · email'."""
    kind, _, channel = touchpoint.partition(":")
    name = {
        "article_view": "Article views",
        "search": "Searches",
        "ticket": "Tickets",
        "outreach": "Outreach messages",
    }.get(kind, kind)
    return f"{name} · {channel}" if channel else name


def _order(touchpoint: str) -> tuple[int, str]:
    kind = touchpoint.partition(":")[0]
    place = TOUCHPOINT_ORDER.index(kind) if kind in TOUCHPOINT_ORDER else len(TOUCHPOINT_ORDER)
    return place, touchpoint


@register("touchpoints")
def touchpoints_report(db: Database, filters: Filters) -> Report:
    start, end = epoch_range(filters)
    missing = figures_for(db, filters.config, start, end)
    found = touchpoint_volumes(db, start=start, end=end, desks=filters.sources)
    stages = stages_in_order(r["stage"] for r in found)
    by_touchpoint: dict[str, dict] = defaultdict(lambda: {"volume": 0, "followed": 0})
    for row in found:
        entry = by_touchpoint[row["touchpoint"]]
        entry["volume"] += row["volume"]
        entry["followed"] += row["followed"]
        entry[f"stage_{row['stage']}"] = row["volume"]
    used = [s for s in stages if any(f"stage_{s}" in e for e in by_touchpoint.values())]
    rows = []
    for touchpoint in sorted(by_touchpoint, key=_order):
        entry = by_touchpoint[touchpoint]
        rows.append(
            {
                "touchpoint": touchpoint_label(touchpoint),
                "key": touchpoint,
                "item": touchpoint,
                "volume": entry["volume"],
                "followed": entry["followed"],
                "followed_share": share(entry["followed"], entry["volume"]),
                **{f"stage_{s}": entry.get(f"stage_{s}", 0) for s in used},
            }
        )
    columns = (
        Column("touchpoint", "Touchpoint", kind="text"),
        Column("volume", "Volume", "touchpoints of this kind in the date range"),
        Column(
            "followed",
            "Followed by a ticket",
            "of them, those after which the same customer opened a ticket within 24 h",
        ),
        Column(
            "followed_share",
            "Share followed by a ticket",
            "followed by a ticket within 24 h ÷ volume",
            kind="percent",
        ),
        *(
            Column(f"stage_{s}", f"In {stage_label(s)}", f"volume while the customer was in {s}")
            for s in used
        ),
    )
    return Report(
        name="touchpoints",
        title="Touchpoints",
        filters=filters,
        columns=columns,
        rows=rows,
        chart=Chart(
            "stacked",
            x="touchpoint",
            series=tuple(f"stage_{s}" for s in used),
            title="Touchpoints by stage",
        ),
        notes=(
            *missing,
            STAGE_NOTE,
            "Searches leave out clicks on a result (the same search); tickets count at their "
            "creation, outreach when sent (team alerts by webhook left out). A ticket followed "
            "by a ticket is a repeat contact.",
            "Customer effort by stage: the effort report.",
        ),
        links={"followed_share": "pain-points"},
    )


EFFORT_FORMULA = (
    "per ticket solved in the range: article views + searches + tickets opened by the customer "
    "in the 7 days up to its solving (the ticket itself included when opened in them); "
    "the median over the stage's tickets"
)


def effort_histograms(db: Database, filters: Filters) -> dict[str, dict[str, dict[int, int]]]:
    """{stage: {measure: {value: tickets}}} of the tickets solved in the range."""
    start, end = epoch_range(filters)
    found: dict[str, dict[str, dict[int, int]]] = defaultdict(lambda: defaultdict(dict))
    for row in ticket_histograms(db, start=start, end=end, desks=filters.sources):
        found[row["stage"]][row["measure"]][row["value"]] = row["tickets"]
    return found


@register("effort")
def effort_report(db: Database, filters: Filters) -> Report:
    missing = figures_for(db, filters.config, *epoch_range(filters))
    by_stage = effort_histograms(db, filters)
    rows = []
    for stage in stages_in_order(by_stage):
        measures = by_stage.get(stage)
        if not measures:
            continue
        tickets = sum(measures["effort"].values())
        high = sum(n for value, n in measures["effort"].items() if value >= HIGH_EFFORT)
        rows.append(
            {
                "stage": stage_label(stage),
                "key": stage,
                "item": stage,
                "tickets": tickets,
                "effort": median_of_counts(measures["effort"]),
                "views": median_of_counts(measures["views"]),
                "searches": median_of_counts(measures["searches"]),
                "contacts": median_of_counts(measures["contacts"]),
                "high_effort": share(high, tickets),
            }
        )
    columns = (
        Column("stage", "Stage (when the ticket was opened)", kind="text"),
        Column("tickets", "Tickets solved", "tickets solved in the date range"),
        Column("effort", "Customer effort (median)", EFFORT_FORMULA),
        Column("views", "Article views (median)", "article views in the 7 days up to solving"),
        Column("searches", "Searches (median)", "searches in the 7 days up to solving"),
        Column(
            "contacts",
            "Contacts (median)",
            "tickets the customer opened in the 7 days up to solving",
        ),
        Column(
            "high_effort",
            "High effort",
            f"tickets whose effort is {HIGH_EFFORT} or more ÷ tickets solved",
            kind="percent",
        ),
    )
    return Report(
        name="effort",
        title="Customer effort",
        filters=filters,
        columns=columns,
        rows=rows,
        chart=Chart("bar", x="stage", series=("effort",), title="Median customer effort"),
        notes=(
            *missing,
            "Customer effort = reads and contacts before resolution: "
            + EFFORT_FORMULA
            + ". Lower is better.",
            "Stage: the customer's stage when the ticket was opened (the last stage change at "
            "or before it; the current stage when none is recorded).",
        ),
        links={"stage": "touchpoints"},
    )


HIGH_EFFORT = 5
"""Reads and contacts in the week up to a ticket's solving that count as high effort."""
