"""Business hours: a weekly calendar in a time zone, and the time SLA clocks count in it.

A connector's `business_hours` table (config.example.toml) reads

    [connectors.business_hours]
    timezone = "Europe/Madrid"
    mon = "09:00-18:00"
    fri = "09:00-13:00,14:00-17:00"      # several intervals a day, ascending
    sat = ""                             # closed (as is any day left out)
    holidays = ["2026-12-25", 2027-01-01]  # closed all day (optional)

Hours are local wall-clock times: 09:00-18:00 is nine real hours on the nights the clocks
change too, and a day open 00:00-24:00 lasts 23 or 25 hours then. No calendar (an empty
table, or none) means calendar minutes.

Work is in epoch seconds, with whole weeks skipped arithmetically: a week whose two
midnights are exactly seven days apart has no clock change (no zone changes its clocks twice
in one week), so its open time is the nominal weekly total less its holidays.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEK = 7 * 86_400
_TIME = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
EXAMPLE = 'mon = "09:00-18:00" (or "09:00-13:00,14:00-18:00"; "" when closed)'


class CalendarError(ValueError):
    """A `business_hours` table cannot be used: which key, what is wrong, how to fix it."""

    def __init__(self, key: str, problem: str, fix: str) -> None:
        self.key, self.problem, self.fix = key, problem, fix
        super().__init__(f"{key}: {problem}. Fix: {fix}")


@dataclass(frozen=True, eq=False)
class BusinessCalendar:
    """Open intervals per weekday (Monday first), minutes from local midnight, in `zone`."""

    zone: ZoneInfo
    week: tuple[tuple[tuple[int, int], ...], ...]
    holidays: tuple[int, ...] = ()
    """Closed days, as sorted date ordinals."""
    _midnights: dict[int, float] = field(default_factory=dict, repr=False)
    _days: dict[int, tuple[tuple[float, float], ...]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        nominal = tuple(sum(e - s for s, e in day) * 60 for day in self.week)
        object.__setattr__(self, "_nominal", nominal)
        object.__setattr__(self, "_weekly", sum(nominal))
        if not self._weekly:
            raise ValueError("a business calendar needs open hours on at least one day")

    # Public API, on datetimes.

    def elapsed_minutes(self, start: datetime, end: datetime) -> float:
        return self.open_seconds(_epoch(start), _epoch(end)) / 60

    def deadline(self, start: datetime, minutes: float) -> datetime:
        return datetime.fromtimestamp(self.deadline_epoch(_epoch(start), minutes * 60), UTC)

    # The same on epoch seconds (what bulk callers use).

    def open_seconds(self, a: float, b: float) -> float:
        """Open seconds in [a, b)."""
        if b <= a:
            return 0.0
        first, last = self._ordinal(a), self._ordinal(b)
        total = self._overlap(first, a, b)
        if last == first:
            return total
        total += self._overlap(last, a, b)
        day = first + 1
        while last - day >= 7:
            total += self._week_seconds(day)
            day += 7
        while day < last:
            total += self._day_seconds(day)
            day += 1
        return total

    def deadline_epoch(self, a: float, seconds: float) -> float:
        """The moment `seconds` of open time after `a` have passed."""
        if seconds <= 0:
            return a
        day = self._ordinal(a)
        for start, end in self._intervals(day):
            start = max(start, a)
            if end > start:
                if seconds <= end - start:
                    return start + seconds
                seconds -= end - start
        day += 1
        while True:
            week = self._week_seconds(day)
            if seconds <= week:
                break
            seconds -= week
            day += 7
        while True:  # within the next seven days
            for start, end in self._intervals(day):
                if seconds <= end - start:
                    return start + seconds
                seconds -= end - start
            day += 1

    # Days and weeks.

    def _ordinal(self, epoch: float) -> int:
        return datetime.fromtimestamp(epoch, self.zone).toordinal()

    def _midnight(self, day: int) -> float:
        found = self._midnights.get(day)
        if found is None:
            found = datetime.fromordinal(day).replace(tzinfo=self.zone).timestamp()
            if len(self._midnights) < 100_000:
                self._midnights[day] = found
        return found

    def _intervals(self, day: int) -> tuple[tuple[float, float], ...]:
        """The day's open intervals as epoch seconds (none on a holiday)."""
        found = self._days.get(day)
        if found is None:
            found = ()
            if not self._is_holiday(day):
                local = datetime.fromordinal(day)
                found = tuple(
                    (self._wall(local, s), self._wall(local, e))
                    for s, e in self.week[local.weekday()]
                )
                found = tuple((s, max(s, e)) for s, e in found)
            if len(self._days) < 100_000:
                self._days[day] = found
        return found

    def _wall(self, local_midnight: datetime, minute: int) -> float:
        if minute == 1440:
            return self._midnight(local_midnight.toordinal() + 1)
        wall = local_midnight.replace(hour=minute // 60, minute=minute % 60, tzinfo=self.zone)
        return wall.timestamp()

    def _day_seconds(self, day: int) -> float:
        return sum(e - s for s, e in self._intervals(day))

    def _overlap(self, day: int, a: float, b: float) -> float:
        return sum(max(0.0, min(e, b) - max(s, a)) for s, e in self._intervals(day))

    def _week_seconds(self, day: int) -> float:
        """Open seconds in the seven days from `day`."""
        if self._midnight(day + 7) - self._midnight(day) != WEEK:  # the clocks change
            return sum(self._day_seconds(day + i) for i in range(7))
        total = self._weekly
        if self.holidays:
            low = bisect.bisect_left(self.holidays, day)
            high = bisect.bisect_left(self.holidays, day + 7)
            for holiday in self.holidays[low:high]:
                total -= self._nominal[(holiday - 1) % 7]  # ordinal 1 (0001-01-01): a Monday
        return total

    def _is_holiday(self, day: int) -> bool:
        index = bisect.bisect_left(self.holidays, day)
        return index < len(self.holidays) and self.holidays[index] == day


def elapsed_business_minutes(
    start: datetime, end: datetime, calendar: BusinessCalendar | None
) -> float:
    """Minutes between `start` and `end` that fall in business hours (all of them when
    there is no calendar); 0 when `end` is not after `start`."""
    if calendar is None:
        return max(0.0, (_epoch(end) - _epoch(start)) / 60)
    return calendar.elapsed_minutes(start, end)


def deadline(start: datetime, minutes: float, calendar: BusinessCalendar | None) -> datetime:
    """The moment `minutes` of business time after `start` (calendar minutes without one)."""
    if calendar is None:
        return datetime.fromtimestamp(_epoch(start) + minutes * 60, UTC)
    return calendar.deadline(start, minutes)


def parse_calendar(table: Any) -> BusinessCalendar | None:
    """A connector's `business_hours` table as a calendar (None when empty); raises
    CalendarError naming the key inside the table and the fix."""
    if not isinstance(table, dict):
        raise CalendarError("", "must be a table", 'write it like { timezone = "UTC", ' + EXAMPLE)
    if not table:
        return None
    known = {"timezone", "holidays", *DAYS}
    for key in table:
        if key not in known:
            raise CalendarError(
                key,
                "unknown key",
                f"use timezone, holidays and the days {', '.join(DAYS)} (Monday is mon)",
            )
    zone = _zone(table.get("timezone"))
    week = tuple(_day(name, table.get(name, "")) for name in DAYS)
    holidays = _holidays(table.get("holidays", []))
    if not any(week):
        raise CalendarError(
            "mon",
            "no day has open hours",
            f"open at least one day, e.g. {EXAMPLE}, or remove business_hours for calendar minutes",
        )
    return BusinessCalendar(zone, week, holidays)


def _zone(name: Any) -> ZoneInfo:
    fix = 'name an IANA time zone, e.g. timezone = "Europe/Madrid"'
    if not isinstance(name, str) or not name.strip():
        raise CalendarError("timezone", "is required", fix)
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise CalendarError("timezone", f"unknown time zone {name!r}", fix) from None


def _day(name: str, text: Any) -> tuple[tuple[int, int], ...]:
    if not isinstance(text, str):
        raise CalendarError(name, f"expected text, got {text!r}", f"write it like {EXAMPLE}")
    intervals: list[tuple[int, int]] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        bounds = [b.strip() for b in part.split("-")]
        if len(bounds) != 2:
            raise CalendarError(
                name, f"{part!r} is not an interval like 09:00-18:00", f"write it like {EXAMPLE}"
            )
        start, end = (_minute(name, part, b) for b in bounds)
        if end <= start:
            raise CalendarError(
                name,
                f"{part!r} ends before it starts",
                "write start-end within one day (an interval past midnight is two: "
                'fri = "22:00-24:00", sat = "00:00-06:00")',
            )
        if intervals and start < intervals[-1][1]:
            raise CalendarError(
                name,
                f"{part!r} overlaps or comes before the interval ahead of it",
                "list the day's intervals in order without overlaps, e.g. "
                '"09:00-13:00,14:00-18:00"',
            )
        intervals.append((start, end))
    return tuple(intervals)


def _minute(name: str, part: str, text: str) -> int:
    match = _TIME.match(text)
    minute = int(match[1]) * 60 + int(match[2]) if match else -1
    if not 0 <= minute <= 1440:
        raise CalendarError(
            name,
            f"{text!r} in {part!r} is not a time of day",
            "write times as HH:MM on a 24-hour clock, 00:00 to 24:00",
        )
    return minute


def _holidays(items: Any) -> tuple[int, ...]:
    fix = 'list dates, e.g. holidays = ["2026-12-25", "2027-01-01"]'
    if not isinstance(items, list):
        raise CalendarError("holidays", f"expected a list of dates, got {items!r}", fix)
    days = set()
    for item in items:
        if isinstance(item, date) and not isinstance(item, datetime):
            days.add(item.toordinal())
            continue
        try:
            days.add(date.fromisoformat(item).toordinal())
        except (TypeError, ValueError):
            raise CalendarError("holidays", f"{item!r} is not a date", fix) from None
    return tuple(sorted(days))


def _epoch(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
