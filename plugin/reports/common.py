"""What the reports share: epochs of a range, weeks, medians and ratios, the stages in
journey order with their labels. Pure but for `stages`, which reads the model in force."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from statistics import median

from sqlite_utils import Database

from plugin.journey.model import JOURNEY_ORDER, journey_position
from plugin.reports.report import Filters

WEEK = 7 * 86_400
UNKNOWN_STAGE = "unknown"


def epochs(filters: Filters) -> tuple[int, int]:
    """The range as epoch seconds, `start` inclusive, `end` exclusive."""
    return int(filters.start.timestamp()), int(filters.end.timestamp())


def week_of(epoch: int) -> str:
    """The Monday (UTC) of the week holding `epoch`, as YYYY-MM-DD."""
    day = datetime.fromtimestamp(epoch, UTC).date()
    return (day - timedelta(days=day.weekday())).isoformat()


def to_epoch_day(day: str) -> int:
    """YYYY-MM-DD → its midnight UTC as epoch seconds."""
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp())


def weeks_between(start: int, end: int) -> list[str]:
    """Every week touched by [start, end), oldest first (empty weeks are rows too)."""
    weeks, at = [], start
    while at < end:
        weeks.append(week_of(at))
        at += WEEK
    last = week_of(end - 1)
    if end > start and last not in weeks:
        weeks.append(last)
    return weeks


def median_of(values: Iterable[float]) -> float | None:
    values = list(values)
    return round(float(median(values)), 1) if values else None


def ratio(part: int, whole: int) -> float | None:
    """part ÷ whole, None when there is nothing to divide by (shown as "—")."""
    return part / whole if whole else None


@dataclass(frozen=True)
class Stage:
    key: str
    label: str


def stages(db: Database, filters: Filters) -> list[Stage]:
    """The journey model's stages in journey order (the shipped order without a config)."""
    if filters.config is None:
        return [Stage(key, key.title()) for key in JOURNEY_ORDER]
    from plugin.journey.active_model import load_active_model

    model = load_active_model(db, filters.config).model
    ordered = sorted(model.stages, key=lambda d: journey_position(d.key))
    return [Stage(d.key, d.label) for d in ordered]


def stage_labels(db: Database, filters: Filters) -> dict[str, str]:
    return {s.key: s.label for s in stages(db, filters)}


def in_journey_order(keys: Iterable[str], known: list[Stage]) -> list[str]:
    """`keys` with the model's stages first in journey order, then any others (stages no
    longer defined, "unknown") by name."""
    order = {s.key: n for n, s in enumerate(known)}
    return sorted(set(keys), key=lambda k: (order.get(k, len(order)), k == UNKNOWN_STAGE, k))
