"""The range and desks a report covers, from what an admin typed (the page's query string,
`journeydesk report`'s options): dates are days in UTC, `to` included."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from plugin import clock
from plugin.config import Config
from plugin.errors import InvalidInput
from plugin.reports.report import Filters

PRESETS = (7, 30, 90)
DEFAULT_DAYS = 30
MAX_DAYS = 731
"""Two years: longer ranges are a download of the raw data, not a report."""


def parse_day(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            f"{name}: {text!r} is not a date; write YYYY-MM-DD, e.g. 2026-11-01"
        ) from None


def report_filters(
    config: Config | None,
    *,
    start: str = "",
    end: str = "",
    days: str | int = "",
    sources: Sequence[str] = (),
    item: str = "",
) -> Filters:
    """Filters from text: `start`/`end` days (YYYY-MM-DD, both included), or the last
    `days` days up to today (default 30), and the desks (connector names) to show."""
    today = clock.now().astimezone(UTC).date()
    last = parse_day(end, "to") if end else today
    if start:
        first = parse_day(start, "from")
    else:
        count = _days(days)
        first = last - timedelta(days=count - 1)
    if first > last:
        raise InvalidInput(f"from ({first}) is after to ({last}): swap them")
    if (last - first).days + 1 > MAX_DAYS:
        raise InvalidInput(f"the range is longer than {MAX_DAYS} days: choose a shorter one")
    known = [c.name for c in config.connectors] if config else []
    unknown = [s for s in sources if known and s not in known]
    if unknown:
        raise InvalidInput(
            f"desk: no connector named {unknown[0]!r} (configured: {', '.join(known)})"
        )
    return Filters(
        start=_midnight(first),
        end=_midnight(last + timedelta(days=1)),
        sources=tuple(dict.fromkeys(sources)),
        item=item,
        config=config,
    )


def _days(value: str | int) -> int:
    text = str(value).strip()
    if not text:
        return DEFAULT_DAYS
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_DAYS:
        raise InvalidInput(f"days is a whole number from 1 to {MAX_DAYS}")
    return int(text)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def last_day(filters: Filters) -> date:
    """The last day the range includes (its end is the midnight after it)."""
    return (filters.end - timedelta(days=1)).date()
