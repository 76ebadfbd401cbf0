"""The `journey-map` report: the customer-journey map overlaid with numbers. One row per
stage, in journey order with its phase: customers in it now and how long stays last, the
touchpoints used, CSAT, customer effort, the articles most read before tickets, and the
moments of truth (moves in and out, and the tickets around them). The page draws the rows
as columns; every cell links to the report behind it (`links`)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlite_utils import Database

from plugin.reports.aggregates import figures_for
from plugin.reports.figures import (
    epoch_range,
    median_of_counts,
    median_or_none,
    share,
    stage_label,
    stage_phase,
    stages_in_order,
)
from plugin.reports.report import Chart, Column, Filters, Report, register
from plugin.reports.touchpoints import EFFORT_FORMULA, effort_histograms
from plugin.store.journey_reports import (
    current_stage_counts,
    stage_stays,
    transition_moments,
)
from plugin.store.report_aggregates import (
    articles_before_tickets,
    ticket_sums,
    touchpoint_volumes,
)

DAY = 86400
TOP_ARTICLES = 3


def _per_stage_touchpoints(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"views": 0, "searches": 0, "tickets": 0, "outreach": 0, "channels": {}}
    )
    for row in rows:
        kind, _, channel = row["touchpoint"].partition(":")
        entry = found[row["stage"]]
        if kind == "article_view":
            entry["views"] += row["volume"]
        elif kind == "search":
            entry["searches"] += row["volume"]
        elif kind == "ticket":
            entry["tickets"] += row["volume"]
            entry["channels"][channel] = entry["channels"].get(channel, 0) + row["volume"]
        elif kind == "outreach":
            entry["outreach"] += row["volume"]
    return found


def _channels_text(channels: dict[str, int]) -> str:
    return " · ".join(f"{c} {n}" for c, n in sorted(channels.items(), key=lambda i: -i[1]))


def _moments(rows: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = defaultdict(
        lambda: {"moves_in": 0, "moves_out": 0, "moment_tickets": 0}
    )
    for move in rows:
        found[move["to_stage"]]["moves_in"] += 1
        found[move["to_stage"]]["moment_tickets"] += move["tickets"]
        found[move["from_stage"]]["moves_out"] += 1
        found[move["from_stage"]]["moment_tickets"] += move["tickets"]
    return found


@register("journey-map")
def journey_map_report(db: Database, filters: Filters) -> Report:
    start, end = epoch_range(filters)
    desks = filters.sources
    missing = figures_for(db, filters.config, start, end)
    customers = {r["stage"]: r["customers"] for r in current_stage_counts(db, desks=desks)}
    stays: dict[str, list[int]] = defaultdict(list)
    for stay in stage_stays(db, start=start, end=end, desks=desks):
        if stay["seconds"] is not None:
            stays[stay["stage"]].append(stay["seconds"])
    touchpoints = _per_stage_touchpoints(touchpoint_volumes(db, start=start, end=end, desks=desks))
    csat = {
        stage: {"good": good, "rated": rated}
        for stage, _tickets, good, rated, _targeted, _breached in ticket_sums(
            db, start=start, end=end, by="stage", sources=desks
        )
    }
    effort = {stage: m["effort"] for stage, m in effort_histograms(db, filters).items()}
    pains: dict[str, list[str]] = defaultdict(list)
    for article in articles_before_tickets(
        db, start=start, end=end, desks=desks, per_stage=TOP_ARTICLES
    ):
        pains[article["stage"]].append(article["title"] or f"Article {article['article_id']}")
    moments = _moments(transition_moments(db, start=start, end=end, desks=desks))
    seen = {*customers, *stays, *touchpoints, *csat, *effort, *moments}
    rows = []
    for stage in stages_in_order(seen):
        used = touchpoints.get(stage, {})
        rated = csat.get(stage, {})
        days = median_or_none(stays.get(stage, []))
        rows.append(
            {
                "stage": stage_label(stage),
                "key": stage,
                "item": stage,
                "phase": stage_phase(stage),
                "customers": customers.get(stage, 0),
                "median_days": days / DAY if days is not None else None,
                "views": used.get("views", 0),
                "searches": used.get("searches", 0),
                "tickets": used.get("tickets", 0),
                "channels": _channels_text(used.get("channels", {})),
                "outreach": used.get("outreach", 0),
                "csat": share(rated.get("good", 0), rated.get("rated", 0)),
                "effort": median_of_counts(effort.get(stage, {})),
                "pain_points": "; ".join(pains.get(stage, [])),
                **moments.get(stage, {"moves_in": 0, "moves_out": 0, "moment_tickets": 0}),
            }
        )
    return Report(
        name="journey-map",
        title="Journey map",
        filters=filters,
        columns=_columns(),
        rows=rows,
        chart=Chart("bar", x="stage", series=("customers",), title="Customers per stage now"),
        notes=(
            *missing,
            "Stages in journey order with their phase. Customers: now; every other figure: "
            "the date range, by the customer's stage when "
            "it happened (the last stage change at or before it; the current stage when "
            "none is recorded).",
        ),
        links={
            "customers": "funnel",
            "median_days": "stage-transitions",
            "views": "touchpoints",
            "searches": "touchpoints",
            "tickets": "tickets",
            "channels": "tickets-by-channel",
            "outreach": "outreach-outcomes",
            "csat": "tickets",
            "effort": "effort",
            "pain_points": "pain-points",
            "moves_in": "stage-transitions",
            "moves_out": "stage-transitions",
            "moment_tickets": "stage-transitions",
        },
    )


def _columns() -> tuple[Column, ...]:
    return (
        Column("stage", "Stage", kind="text"),
        Column("phase", "Phase", "pre-purchase, purchase or post-purchase (DESIGN §1)", "text"),
        Column("customers", "Customers", "customers whose stage is this one now"),
        Column(
            "median_days",
            "Median stay (days)",
            "median of the stays in this stage that ended in the range (a move out): from "
            "the move in (or first placement) to the move out",
        ),
        Column("views", "Article views", "article views while in this stage"),
        Column("searches", "Searches", "help-center searches while in this stage"),
        Column("tickets", "Tickets", "tickets opened while in this stage"),
        Column("channels", "Tickets by channel", "tickets opened, per channel", "text"),
        Column("outreach", "Outreach", "outreach messages sent while in this stage"),
        Column(
            "csat",
            "CSAT",
            "good ratings ÷ rated tickets, of tickets opened while in this stage",
            "percent",
        ),
        Column("effort", "Customer effort (median)", EFFORT_FORMULA),
        Column(
            "pain_points",
            "Top pain-point articles",
            f"the {TOP_ARTICLES} articles read in the 24 h before the most tickets opened "
            "in this stage",
            "text",
        ),
        Column(
            "moves_in", "Moves in", "customers moving into this stage (first placements left out)"
        ),
        Column("moves_out", "Moves out", "customers moving out of this stage"),
        Column(
            "moment_tickets",
            "Tickets at moments of truth",
            "tickets opened within 24 h either side of a move in or out of this stage",
        ),
    )
