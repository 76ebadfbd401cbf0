"""(Reads only) the tickets created in a window, each with its customer's stored journey:
what the SLA what-if (plugin/sla/what_if.py) judges.

Two reads over one join of `tickets` and `customer_journeys`:

- `window_outcomes`: the window summarized, one row per distinct combination of what the
  rules can read (source, channel, priority, stage, the signals asked about, and on demand
  the customer, subject and tags) and of how long the ticket took to its first response
  and to its resolution, in buckets between the targets asked about. A 90-day window of a
  big desk holds close to a million tickets: a Python object per ticket would take
  seconds, so the database computes one integer per ticket (its buckets, its signals and
  the common values of its source, channel, priority and stage, the `known` vocabulary)
  and Python counts them (SQLite, in-process: its GROUP BY would sort them first) or
  PostgreSQL does (GROUP BY: a hash, and ~5,000 rows over the socket instead of ~800,000);
  the few tickets with another value are read again with their text.
- `window_tickets`: ticket by ticket, newest first (desks with business hours, whose
  deadlines need the calendar, and the what-if's sample tickets).

Clocks follow plugin/sla/targets.py: the first-response clock stops at the first
response, else at the resolution; the resolution clock at `solved_at`, or, for a ticket
solved or closed without one, at its last update. A clock that has not stopped runs to
`now`, and counts as breached once `now` reaches its deadline.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

VOCABULARY_COLUMNS = ("source", "channel", "priority", "stage")
_COLUMN_SQL = {
    "source": "t.source",
    "channel": "t.channel",
    "priority": "t.priority",
    "stage": "j.stage",
}
_SOLVED = (
    "coalesce(t.solved_at, CASE WHEN t.status IN ('solved', 'closed') "
    "THEN coalesce(t.updated_at, t.created_at) END)"
)
# Seconds each clock ran; +1 on a running clock turns "now reached the deadline" (>=)
# into the same "more than the target" (>) as a stopped clock.
_FIRST_RESPONSE_SECONDS = (
    f"coalesce(coalesce(t.first_response_at, {_SOLVED}) - t.created_at, :now - t.created_at + 1)"
)
_RESOLUTION_SECONDS = f"coalesce({_SOLVED} - t.created_at, :now - t.created_at + 1)"
TICKETS_TABLE = "sqlite_autoindex_tickets_1"
"""The tickets table itself (WITHOUT ROWID: its primary key is the table)."""
_JOIN = "FROM tickets t LEFT JOIN customer_journeys j ON j.customer_id = t.customer_id "
_FROM = _JOIN + "WHERE t.created_at >= :since AND t.deleted = 0"
_SCANNED = _JOIN.replace("FROM tickets t ", f"FROM tickets t INDEXED BY {TICKETS_TABLE} ") + (
    "WHERE t.created_at >= :since AND t.deleted = 0"
)
"""The summary reads the whole table in key order: a window is often a large share of the
tickets, and through the created_at index each one costs a jump into the table (800,000 of
2,000,000 tickets: 6.5 s through the index, 0.8 s scanning). `+created_at` no longer keeps
SQLite off it since the reports widened it to hold `deleted`, and NOT INDEXED is not obeyed
for a WITHOUT ROWID table: the table's own key is named instead. The sample tickets,
newest first and few, take the index.

PostgreSQL needs no hint (it drops it): its planner weighs the window against the table's
statistics and scans the table (in parallel) for a wide window, the index for a narrow one,
and takes the index backwards for the newest samples."""


@dataclass(frozen=True, slots=True)
class OutcomeGroup:
    """`count` tickets that agree on everything the what-if reads."""

    count: int
    source: str
    channel: str | None
    priority: str | None
    stage: str | None
    signals: int
    """Bit i set: the customer's stored signals hold `signal_keys[i]`."""
    first_response_over: int
    """How many of `first_response_limits` (ascending) the first-response clock ran past."""
    resolution_over: int
    """The same for `resolution_limits`."""
    customer_id: int | None = None
    subject: str | None = None
    tags: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class WindowTicket:
    source: str
    id: str
    customer_id: int | None
    subject: str
    status: str
    priority: str | None
    channel: str | None
    tags: tuple[str, ...]
    created_at: int
    updated_at: int | None
    solved_at: int | None
    first_response_at: int | None
    stage: str | None
    signals: int


def window_outcomes(
    db: Database,
    *,
    since: int,
    now: int,
    signal_keys: Sequence[str] = (),
    first_response_limits: Sequence[int] = (),
    resolution_limits: Sequence[int] = (),
    known: Mapping[str, Sequence[str]] | None = None,
    exclude_sources: Sequence[str] = (),
    with_customer: bool = False,
    with_subject: bool = False,
    with_tags: bool = False,
) -> list[OutcomeGroup]:
    """The window's tickets (created at or after `since`, not deleted) summarized.

    Limits are in seconds, ascending. `known` lists the usual values of source, channel,
    priority and stage: the tickets with another value are read again, with their text."""
    known = {column: tuple((known or {}).get(column, ())) for column in VOCABULARY_COLUMNS}
    params: dict[str, Any] = {"since": since, "now": now}
    codes = {column: _code(column, known[column], params) for column in VOCABULARY_COLUMNS}
    parts = [(codes[column], len(known[column]) + 2) for column in VOCABULARY_COLUMNS]
    parts.append((_signal_bits(db, signal_keys, params), 1 << len(signal_keys)))
    for name, seconds, limits in (
        ("fr", _FIRST_RESPONSE_SECONDS, first_response_limits),
        ("res", _RESOLUTION_SECONDS, resolution_limits),
    ):
        parts.append((_bucket(seconds, name, limits, params), len(limits) + 1))
    key, radices = _mixed_radix(db, parts)
    extra = [
        sql
        for wanted, sql in (
            (with_customer, "t.customer_id"),
            (with_subject, "t.subject"),
            (with_tags, "t.tags"),
        )
        if wanted
    ]
    where = ""
    if exclude_sources:
        params["excluded"] = json.dumps(list(exclude_sources))
        where = f" AND t.source NOT IN {db.dialect.texts(':excluded')}"
    shape = _Shape(known, radices, with_customer, with_subject, with_tags)
    counts = _counted(db, [key, *extra], f"{_SCANNED}{where}", params)
    groups = [shape.group(row, count) for row, count in counts.items()]
    if all(group is not None for group in groups):
        return groups
    # Some tickets hold a value outside `known`: those again, with their text.
    others = " OR ".join(f"{codes[c]} = {len(known[c]) + 1}" for c in VOCABULARY_COLUMNS)
    texts = [_COLUMN_SQL[c] for c in VOCABULARY_COLUMNS]
    counts = _counted(db, [key, *extra, *texts], f"{_SCANNED}{where} AND ({others})", params)
    groups = [group for group in groups if group is not None]
    return groups + [shape.group(row, count, texts=True) for row, count in counts.items()]


def _counted(db: Database, columns: list[str], rest: str, params: dict[str, Any]) -> Counter[tuple]:
    """How many rows of `SELECT columns rest` hold each combination of values: counted in
    the database where it is faster (`db.dialect.counts_in_database`), else in Python."""
    select = ", ".join(columns)
    if not db.dialect.counts_in_database:
        return Counter(db.conn.execute(f"SELECT {select} {rest}", params))
    positions = ", ".join(str(position) for position in range(1, len(columns) + 1))
    rows = db.conn.execute(f"SELECT {select}, count(*) {rest} GROUP BY {positions}", params)
    return Counter({tuple(row[:-1]): row[-1] for row in rows})


def window_tickets(
    db: Database,
    *,
    since: int,
    signal_keys: Sequence[str] = (),
    sources: Sequence[str] | None = None,
    limit: int | None = None,
) -> list[WindowTicket]:
    """The window's tickets one by one (only `sources`' when given): the newest `limit`,
    newest first, or all of them in no particular order."""
    params: dict[str, Any] = {"since": since}
    bits = _signal_bits(db, signal_keys, params)
    where = ""
    if sources is not None:
        params["sources"] = json.dumps(list(sources))
        where = f" AND t.source IN {db.dialect.texts(':sources')}"
    tail = ""
    if limit is not None:
        params["limit"] = limit
        tail = " ORDER BY t.created_at DESC, t.source DESC, t.id DESC LIMIT :limit"
    rows = db.conn.execute(
        "SELECT t.source, t.id, t.customer_id, t.subject, t.status, t.priority, t.channel, "
        "t.tags, t.created_at, t.updated_at, t.solved_at, t.first_response_at, j.stage, "
        f"{bits} {_FROM if limit is not None else _SCANNED}{where}{tail}",
        params,
    )
    return [
        WindowTicket(*row[:7], () if row[7] == "[]" else tuple(json.loads(row[7])), *row[8:])
        for row in rows
    ]


def _signal_bits(db: Database, keys: Sequence[str], params: dict[str, Any]) -> str:
    """Bit i: the stored signals (compact JSON, ASCII, keys sorted) hold signal keys[i]
    (0 without a journey). `"key":"<k>"` occurs in that text only as a signal's key: a
    quote inside a value is escaped."""
    terms = []
    for index, key in enumerate(keys):
        params[f"signal{index}"] = '"key":' + json.dumps(key, ensure_ascii=True)
        terms.append(f"({db.dialect.holds_text('j.signals', f':signal{index}')} << {index})")
    if not terms:
        return "0"
    # Most customers have no signal: their empty list is one comparison.
    return f"CASE WHEN j.signals = '[]' THEN 0 ELSE {' | '.join(terms)} END"


def _bucket(seconds_sql: str, name: str, limits: Sequence[int], params: dict) -> str:
    """How many of `limits` the clock ran past, as a binary search of CASEs: the clock's
    expression is evaluated about log2(len(limits)) times per ticket, not once per limit."""
    for index, limit in enumerate(limits):
        params[f"{name}{index}"] = limit

    def search(low: int, high: int) -> str:  # the answer is in [low, high]
        if low == high:
            return str(low)
        middle = (low + high) // 2
        return (
            f"CASE WHEN {seconds_sql} <= :{name}{middle} "
            f"THEN {search(low, middle)} ELSE {search(middle + 1, high)} END"
        )

    return search(0, len(limits))


def _mixed_radix(db: Database, parts: list[tuple[str, int]]) -> tuple[str, list[int]]:
    terms, multiplier, radices = [], 1, []
    for sql, radix in parts:
        terms.append(f"({sql}) * {db.dialect.int64(multiplier)}" if multiplier > 1 else f"({sql})")
        radices.append(radix)
        multiplier *= radix
    if multiplier >= 1 << 62:
        raise ValueError("too many values to combine into one key")
    return " + ".join(terms), radices


def _code(column: str, values: tuple[str, ...], params: dict[str, Any]) -> str:
    """A small integer for the column: i for values[i], len(values) for NULL, one more for
    any other value."""
    sql = _COLUMN_SQL[column]
    cases = []
    for index, value in enumerate(values):
        params[f"{column}{index}"] = value
        cases.append(f"WHEN :{column}{index} THEN {index}")
    missing, other = len(values), len(values) + 1
    return (
        f"CASE {sql} {' '.join(cases)} ELSE "
        f"CASE WHEN {sql} IS NULL THEN {missing} ELSE {other} END END"
        if cases
        else f"CASE WHEN {sql} IS NULL THEN {missing} ELSE {other} END"
    )


@dataclass(frozen=True)
class _Shape:
    """How to read a row back: the key's digits, then the wanted extra columns (then, on
    the second read, the texts of source, channel, priority and stage)."""

    known: Mapping[str, tuple[str, ...]]
    radices: list[int]
    with_customer: bool
    with_subject: bool
    with_tags: bool

    def group(self, row: tuple, count: int, *, texts: bool = False) -> OutcomeGroup | None:
        """The group, or None when a value is outside `known` and `texts` are not read."""
        key, rest = row[0], list(row[1:])
        digits = []
        for radix in self.radices:
            key, digit = divmod(key, radix)
            digits.append(digit)
        extra = rest[: len(rest) - len(VOCABULARY_COLUMNS)] if texts else rest
        values = []
        for index, column in enumerate(VOCABULARY_COLUMNS):
            vocabulary, digit = self.known[column], digits[index]
            if texts:
                values.append(rest[len(extra) + index])
            elif digit < len(vocabulary):
                values.append(vocabulary[digit])
            elif digit == len(vocabulary):
                values.append(None)
            else:
                return None
        customer = extra.pop(0) if self.with_customer else None
        subject = extra.pop(0) if self.with_subject else None
        tags = tuple(json.loads(extra.pop(0) or "[]")) if self.with_tags else None
        return OutcomeGroup(count, *values, *digits[4:], customer, subject, tags)
