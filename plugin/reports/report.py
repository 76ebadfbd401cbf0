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
from typing import Any

from sqlite_utils import Database


@dataclass(frozen=True)
class Filters:
    """The date range (`start` inclusive, `end` exclusive, UTC) and the desks shown."""

    start: datetime
    end: datetime
    sources: tuple[str, ...] = ()
    """Connector names; empty means every desk."""


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    formula: str = ""
    """How the number is made, in words a help-desk admin reads (shown next to it)."""
    kind: str = "number"
    """number | percent (a 0..1 ratio) | minutes | text | date"""


@dataclass(frozen=True)
class Chart:
    kind: str
    """bar | stacked | line"""
    x: str
    """The column along the horizontal axis (categories, or dates for a line)."""
    series: tuple[str, ...]
    """The columns drawn."""
    title: str = ""


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
    """Drill-downs: column key → report name whose rows explain a cell."""

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
