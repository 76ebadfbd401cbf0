"""The what-if as text: `journeydesk sla simulate` prints it (rich tables)."""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table

from plugin.sla.what_if import WhatIf, WhatIfRow


def describe_what_if(result: WhatIf, *, before: str, after: str, width: int = 120) -> str:
    """Tables per priority, stage and channel, then the sample tickets that change.
    `before` and `after` name the two rule sets in the headers."""
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None, highlight=False)
    console.print(
        f"{result.tickets:,} tickets created in the last {result.days} days (since "
        f"{result.since:%Y-%m-%d %H:%M} UTC); {result.changed:,} change "
        f"(rule, priority or targets). Before: {before}. After: {after}.",
        soft_wrap=True,
    )
    for title, rows in (
        ("priority", result.by_priority),
        ("stage", result.by_stage),
        ("channel", result.by_channel),
    ):
        console.print(_table(title, rows))
    if result.samples:
        samples = Table(title="Sample tickets that change", title_justify="left")
        for header in ("ticket", "subject", "stage", "channel", "rule", "priority", "breached"):
            samples.add_column(header, no_wrap=header != "subject" and header != "rule")
        for s in result.samples:
            samples.add_row(
                f"{s.source}/{s.ticket_id}",
                s.subject,
                s.stage or "none",
                s.channel or "none",
                f"{s.rule_before or '-'} → {s.rule_after or '-'}",
                f"{s.priority_before or 'none'} → {s.priority_after or 'none'}",
                f"{_yes(s.breached_before)} → {_yes(s.breached_after)}",
            )
        console.print(samples)
    elif result.changed:
        console.print("No sample: none of the window's newest tickets changes.", soft_wrap=True)
    return out.getvalue().rstrip() + "\n"


def _table(title: str, rows: tuple[WhatIfRow, ...]) -> Table:
    table = Table(title=f"By {title}", title_justify="left")
    table.add_column(title)
    for header in ("before", "after", "breached before", "breached after"):
        table.add_column(header, justify="right")
    for row in rows:
        table.add_row(
            row.key,
            f"{row.before:,}",
            f"{row.after:,}",
            f"{row.breached_before:,}",
            f"{row.breached_after:,}",
        )
    return table


def _yes(breached: bool) -> str:
    return "yes" if breached else "no"
