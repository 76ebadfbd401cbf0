"""Time, in one place: the clock business time comes from (journeys, facts, the demo's
history, ingest) and the conversions between the store's epoch seconds, datetimes and the
ISO 8601 text that answers and pages show.

Production reads the system clock. Tests and demos move it: `set_now(at)` makes "now" read
`at` and tick on from there (or stand still with `frozen=True`), and a process started with
`JOURNEYDESK_NOW=2026-02-29T23:30:00Z` in its environment starts at that moment, so a
subprocess (`journeydesk demo`, `sync`, `serve`) shares its parent test's date.

Security timing (token expiry, session age, rate limits, lockouts) stays on the system
clock: those measure real elapsed seconds, not where a customer stands in the journey.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

ENV_VAR = "JOURNEYDESK_NOW"
DAY = 86_400

_offset = 0.0  # seconds added to the system clock
_frozen_at: float | None = None


def now_epoch() -> int:
    """Seconds since the epoch, as the store keeps every time."""
    return int(now_seconds())


def now_seconds() -> float:
    return _frozen_at if _frozen_at is not None else time.time() + _offset


def now() -> datetime:
    """The current moment, timezone-aware UTC."""
    return datetime.fromtimestamp(now_seconds(), UTC)


def set_now(at: datetime | None, *, frozen: bool = False) -> None:
    """Move the clock to `at` (None: back to the system clock)."""
    global _offset, _frozen_at
    if at is None:
        _offset, _frozen_at = 0.0, None
        return
    target = _aware(at).timestamp()
    _frozen_at = target if frozen else None
    _offset = 0.0 if frozen else target - time.time()


@contextmanager
def moved_to(at: datetime, *, frozen: bool = False) -> Iterator[None]:
    """The clock at `at` inside the block, restored after it."""
    saved = _offset, _frozen_at
    set_now(at, frozen=frozen)
    try:
        yield
    finally:
        _restore(*saved)


def parse_moment(text: str) -> datetime:
    """An ISO 8601 moment (`Z` or an offset; naive means UTC), as `JOURNEYDESK_NOW` takes."""
    return _aware(datetime.fromisoformat(text.strip().replace("Z", "+00:00")))


def to_epoch(value: datetime | None) -> int | None:
    """A datetime as the store keeps it: whole epoch seconds (naive means UTC)."""
    if value is None:
        return None
    return int(_aware(value).timestamp())


def from_epoch(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


_TWO_DIGITS = tuple(f"{n:02d}" for n in range(60))
_DATES: dict[int, str] = {}
"""'YYYY-MM-DDT' by day number, filled as days are seen (a day's date never changes)."""


def iso(epoch: int | None) -> str | None:
    """`time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))`, which a sidebar calls ~25
    times: the date looked up by day, the clock from a table (a third of the cost)."""
    if epoch is None:
        return None
    if type(epoch) is not int:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
    day, second = divmod(epoch, DAY)
    date = _DATES.get(day)
    if date is None:
        date = time.strftime("%Y-%m-%dT", time.gmtime(day * DAY))
        if len(_DATES) < 100_000:  # ~270 years of days: bounded whatever the input
            _DATES[day] = date
    two = _TWO_DIGITS
    return f"{date}{two[second // 3600]}:{two[second // 60 % 60]}:{two[second % 60]}Z"


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _restore(offset: float, frozen_at: float | None) -> None:
    global _offset, _frozen_at
    _offset, _frozen_at = offset, frozen_at


def _from_environment() -> None:
    value = os.environ.get(ENV_VAR, "").strip()
    if not value:
        return
    try:
        set_now(parse_moment(value))
    except ValueError as exc:
        raise SystemExit(
            f"{ENV_VAR}={value!r} is not an ISO 8601 moment (e.g. 2026-02-28T23:30:00Z): {exc}"
        ) from None


_from_environment()
