"""Every report module, imported once so that `REPORTS` holds them all, and the index the
admin lists them in. A new report is a module in this package that registers itself
(`@register(name)`), one line in MODULES and, unless it is a drill-down, one in INDEX."""

from __future__ import annotations

import importlib

from plugin.reports.report import REPORTS, ReportFunction

MODULES = [
    "plugin.reports.tickets",
    "plugin.reports.funnel",
    "plugin.reports.pain_points",
    "plugin.reports.journey_map",
    "plugin.reports.touchpoints",
    "plugin.reports.reply_guard",
    "plugin.reports.outreach_outcomes",
]

INDEX: list[tuple[str, list[tuple[str, str, str]]]] = [
    (
        "Tickets",
        [
            (
                "tickets",
                "Tickets by journey stage",
                "Volume, first response, resolution, SLA breaches and CSAT per stage.",
            ),
            ("tickets-by-channel", "Tickets by channel", "The same measures per channel."),
            (
                "tickets-over-time",
                "Tickets week by week",
                "The measures and each channel's volume, week by week.",
            ),
        ],
    ),
    (
        "The journey",
        [
            ("funnel", "Journey funnel", "Customers per stage now, and the moves in and out."),
            (
                "stage-transitions",
                "Stage transitions",
                "Who moved where each week, and how long they had stayed.",
            ),
        ],
    ),
    (
        "Knowledge base",
        [
            (
                "pain-points",
                "Pain-point articles",
                "Articles read just before a ticket: deflection failure and its lift.",
            ),
            (
                "reply-guard",
                "Reply guard week by week",
                "Warnings about articles the customer had read, and what agents did.",
            ),
            (
                "reply-guard-articles",
                "Reply guard per article",
                "Which already-read articles agents were about to send again.",
            ),
        ],
    ),
    (
        "Touchpoints and effort",
        [
            (
                "journey-map",
                "Journey map",
                "Every stage with its customers, touchpoints, CSAT, effort and moments of truth.",
            ),
            (
                "touchpoints",
                "Touchpoints",
                "Volume of each touchpoint and the share followed by a ticket within 24 h.",
            ),
            ("effort", "Customer effort", "Reads and contacts before a ticket is solved."),
        ],
    ),
    (
        "Outreach",
        [
            (
                "outreach-outcomes",
                "Outreach outcomes",
                "Each rule against its held-out control group: tickets within 7 days.",
            ),
        ],
    ),
]
"""(theme, [(report name, title, what it answers)]); drill-downs (pain-point-tickets) are
reached from the report they explain."""


def all_reports() -> dict[str, ReportFunction]:
    for module in MODULES:
        importlib.import_module(module)
    return REPORTS


def page_names() -> list[str]:
    """Every report the index lists (drill-downs are reached from these), in its order."""
    return [name for _theme, items in INDEX for name, _title, _what in items]
