"""The `outreach-outcomes` report: per outreach rule, what its messages were followed by
(a ticket within 7 days, an unsubscribe), compared with the rule's held-out control group
(outbox rows `held_out`: chosen stably per customer, recorded when the message would have
gone, never sent)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlite_utils import Database

from plugin.reports.figures import epoch_range, newcombe_difference, share
from plugin.reports.report import Chart, Column, Filters, Report, register
from plugin.store.journey_reports import outreach_counts

MIN_GROUP = 30
"""Messages with a settled outcome (their 7 days and a day over) that each group (sent,
control) needs before the two are compared: below it an interval is too wide to say
anything."""
NOT_ENOUGH = "not enough data yet"


def compare(sent: dict[str, int], control: dict[str, int]) -> dict[str, Any]:
    """The difference of 7-day ticket rates (sent − control) with its 95 % interval, or
    the verdict that there is not enough data yet."""
    if sent["settled"] < MIN_GROUP or control["settled"] < MIN_GROUP:
        return {"difference": None, "ci_low": None, "ci_high": None, "verdict": NOT_ENOUGH}
    found = newcombe_difference(
        sent["tickets"], sent["settled"], control["tickets"], control["settled"]
    )
    if found.high < 0:
        verdict = "fewer tickets than the control group"
    elif found.low > 0:
        verdict = "more tickets than the control group"
    else:
        verdict = "no clear difference"
    return {
        "difference": found.value,
        "ci_low": found.low,
        "ci_high": found.high,
        "verdict": verdict,
    }


@register("outreach-outcomes")
def outreach_outcomes_report(db: Database, filters: Filters) -> Report:
    start, end = epoch_range(filters)
    empty = {"messages": 0, "settled": 0, "tickets": 0, "unsubscribed": 0}
    by_rule: dict[str, dict[str, dict[str, int]]] = defaultdict(
        lambda: {"sent": dict(empty), "held_out": dict(empty)}
    )
    for found in outreach_counts(db, start=start, end=end, desks=filters.sources):
        by_rule[found["rule"]][found["status"]] = found
    rows = []
    for rule in sorted(by_rule):
        sent, control = by_rule[rule]["sent"], by_rule[rule]["held_out"]
        rows.append(
            {
                "rule": rule,
                "sent": sent["messages"],
                "ticket_rate": share(sent["tickets"], sent["settled"]),
                "unsubscribed": sent["unsubscribed"],
                "unsubscribe_rate": share(sent["unsubscribed"], sent["messages"]),
                "held_out": control["messages"],
                "control_ticket_rate": share(control["tickets"], control["settled"]),
                **compare(sent, control),
            }
        )
    over = (
        "messages whose 7 days and a day for late syncs are over (at + 8 d ≤ the last "
        "refresh of the report figures)"
    )
    columns = (
        Column("rule", "Rule", kind="text"),
        Column("sent", "Sent", "messages sent in the date range"),
        Column(
            "ticket_rate",
            "Ticket within 7 days",
            f"sent messages followed by a ticket from the customer within 7 days ÷ {over}",
            kind="percent",
        ),
        Column("unsubscribed", "Unsubscribed", "sent messages whose address opted out within 7 d"),
        Column("unsubscribe_rate", "Unsubscribe rate", "unsubscribed ÷ sent", kind="percent"),
        Column("held_out", "Control group", "held-out messages (recorded, never sent)"),
        Column(
            "control_ticket_rate",
            "Control: ticket within 7 days",
            f"held-out customers with a ticket within 7 days of the moment ÷ held-out {over}",
            kind="percent",
        ),
        Column(
            "difference",
            "Difference",
            "ticket rate of the sent − ticket rate of the control group (negative: the "
            "message prevented tickets)",
            kind="percent",
        ),
        Column(
            "ci_low",
            "95 % interval from",
            "Newcombe's hybrid score interval (method 10) of the difference of two "
            "independent proportions, built from the two Wilson score intervals",
            kind="percent",
        ),
        Column("ci_high", "95 % interval to", "as above, upper bound", kind="percent"),
        Column(
            "verdict",
            "Verdict",
            f"{NOT_ENOUGH!r} while either group has fewer than {MIN_GROUP} {over}; else "
            "fewer/more tickets when the interval excludes 0, no clear difference otherwise",
            kind="text",
        ),
    )
    return Report(
        name="outreach-outcomes",
        title="Outreach outcomes against the control group",
        filters=filters,
        columns=columns,
        rows=rows,
        chart=Chart("bar", x="rule", series=("ticket_rate", "control_ticket_rate")),
        notes=(
            "A message counts in the range when it was sent there (a held-out one when it "
            "would have been sent). Ticket rates count only messages whose outcome is "
            "settled (7 days and a day over, recorded by the worker's refresh).",
            "Rules without a control group (holdout_percent = 0) show 'not enough data yet'.",
        ),
    )
