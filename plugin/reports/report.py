"""What every report is: a table of rows, the formula of every number, and the chart that
draws it. Reports register themselves by name (`register`); the admin pages, the CSV
download and `journeydesk report NAME` all read `REPORTS`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlite_utils import Database

if TYPE_CHECKING:
    from plugin.config import Config


@dataclass(frozen=True)
class Filters:
    """The date range (`start` inclusive, `end` exclusive, UTC) and the desks shown."""

    start: datetime
    end: datetime
    sources: tuple[str, ...] = ()
    """Connector names; empty means every desk."""
    item: str = ""
    """What a drill-down report is about (pain-point-tickets: the article as
    "source:article id"); empty for the others."""
    config: Config | None = field(default=None, compare=False, repr=False)
    """The configuration a report reads beside the store (the journey model in force, the
    desks' business calendars); None: the shipped defaults."""


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    formula: str = ""
    """How the number is made, in words a help-desk admin reads (shown next to it)."""
    kind: str = "number"
    """number | percent (a 0..1 ratio) | ratio (a multiple, "1.8×") | minutes | text | date"""


@dataclass(frozen=True)
class Chart:
    kind: str
    """bar | stacked | line"""
    x: str
    """The column along the horizontal axis (categories, or dates for a line)."""
    series: tuple[str, ...]
    """The columns drawn."""
    title: str = ""
    split: str = ""
    """Long rows: when set, each distinct value of this column is a series of the one
    column in `series` (e.g. moves per week, split by "from → to")."""
    y_label: str = ""
    """What the vertical (bar: horizontal) axis counts, e.g. "tickets"."""


@dataclass(frozen=True)
class Report:
    name: str
    title: str
    filters: Filters
    columns: tuple[Column, ...]
    rows: list[dict[str, Any]]
    chart: Chart | None = None
    notes: tuple[str, ...] = ()
    """Caveats a reader needs ("not enough data yet", how stages are dated)."""
    links: dict[str, str] = field(default_factory=dict)
    """Drill-downs: column key → report name whose rows explain a cell; the row's "item"
    value is what the drill-down is about (`Filters.item`)."""
    description: str = ""
    """One or two sentences under the title: what the report answers."""

    def as_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([c.label for c in self.columns])
        for row in self.rows:
            writer.writerow([_cell(row.get(c.key)) for c in self.columns])
        return out.getvalue()

    def as_json(self) -> str:
        return json.dumps(
            {
                "report": self.name,
                "title": self.title,
                "from": self.filters.start.isoformat(),
                "to": self.filters.end.isoformat(),
                "sources": list(self.filters.sources),
                "columns": [
                    {"key": c.key, "label": c.label, "formula": c.formula, "kind": c.kind}
                    for c in self.columns
                ],
                "rows": self.rows,
                "notes": list(self.notes),
            },
            default=str,
        )


ReportFunction = Callable[[Database, Filters], Report]
REPORTS: dict[str, ReportFunction] = {}


def register(name: str) -> Callable[[ReportFunction], ReportFunction]:
    def add(function: ReportFunction) -> ReportFunction:
        REPORTS[name] = function
        return function

    return add


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".")
    return value
