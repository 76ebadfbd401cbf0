"""A report for the terminal (`journeydesk report`): its table, how each number is made,
and its notes, with rich."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from plugin.clock import iso
from plugin.reports.report import Report
from plugin.reports.svg import format_value

TEXT_KINDS = ("text", "date")


def report_table(report: Report, console: Console | None = None) -> None:
    if console is None:
        console = Console()
        if not console.is_terminal:  # a pipe or a file: wide enough for every column
            console = Console(width=200)
    first = report.filters.start.date()
    last = (report.filters.end.timestamp() - 1) // 86_400 * 86_400
    desks = ", ".join(report.filters.sources) or "all desks"
    table = Table(title=f"{report.title}, {first} to {iso(int(last))[:10]} ({desks})")
    for n, column in enumerate(report.columns, start=1):
        justify = "left" if column.kind in TEXT_KINDS else "right"
        table.add_column(
            f"{column.label} [{n}]" if column.formula else column.label, justify=justify
        )
    for row in report.rows:
        table.add_row(*(_cell(row.get(c.key), c.kind) for c in report.columns))
    console.print(table)
    if not report.rows:
        console.print("No data in this range.")
    console.print("How each number is made:")
    for n, column in enumerate(report.columns, start=1):
        if column.formula:
            console.print(f"  [{n}] {column.label}: {column.formula}", highlight=False)
    for note in report.notes:
        console.print(f"Note: {note}", highlight=False)


def _cell(value, kind: str) -> str:
    if kind in TEXT_KINDS:
        return "—" if value is None else str(value)
    return format_value(value, kind)
