"""Small display helpers the admin templates share (times, numbers, condition text)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import UTC, datetime

from plugin.clock import now_epoch
from plugin.journey.editing import describe_condition
from plugin.journey.reasons import format_value, render_reasons


def when(epoch: int | None) -> str:
    """An epoch as "2026-11-23 10:02 UTC"."""
    if epoch is None:
        return "—"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def ago(epoch: int | None) -> str:
    """An epoch as "3 min ago" / "5 h ago" / "2 days ago"."""
    if epoch is None:
        return "never"
    seconds = max(now_epoch() - epoch, 0)
    if seconds < 90:
        return "just now"
    if seconds < 90 * 60:
        return f"{seconds // 60} min ago"
    if seconds < 48 * 3600:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def number(value: int | float | None) -> str:
    return "—" if value is None else f"{value:,}"


def percent(part: int, whole: int) -> float:
    return round(100 * part / whole, 1) if whole else 0.0


HELPERS = {
    "when": when,
    "ago": ago,
    "number": number,
    "percent": percent,
    "describe": describe_condition,
    "show_value": format_value,
    "reasons": render_reasons,
}


@dataclass(frozen=True)
class DiffLine:
    kind: str
    """added | removed | same | gap (lines left out between changes)"""
    text: str


def text_diff(before: str, after: str, *, context: int = 2) -> list[DiffLine]:
    """What changed from `before` to `after`, line by line with a little context (an
    empty list when nothing did): what a version page shows of the version before it."""
    lines: list[DiffLine] = []
    marks = {"+": "added", "-": "removed", " ": "same"}
    for line in difflib.unified_diff(
        before.splitlines(), after.splitlines(), n=context, lineterm=""
    ):
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("@@"):
            if lines:
                lines.append(DiffLine("gap", "…"))
            continue
        lines.append(DiffLine(marks[line[0]], line[1:]))
    return lines
