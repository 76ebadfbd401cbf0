"""The what-if: a draft SLA rule set run over the last N days of real tickets, beside the
rules in force — tickets per priority before and after, how many would have breached
each set's targets given their actual response and resolution times, by priority, stage
and channel, and sample tickets that change (docs/sla.md, "What-if").

Each ticket created in the window (and not deleted) is judged as `apply.py` judges a new
one: its own facts (`ticket_facts`) plus its customer's journey. The stage and signals are
the ones stored in `customer_journeys` (the last recompute); the customer's other facts
(plugin/journey/facts.py) are computed, as of now, only when a rule of either set reads
one. A ticket's priority under a set is its rule's, or the ticket's own when the rule sets
none or no rule matches. Breaches are those of plugin/sla/targets.py, each desk on its
own business hours.

Tickets are counted per combination of what the rules read and of how many of the targets
their clocks ran past, so each combination is decided once: by SQLite for desks on
calendar minutes (plugin/store/sla_window.py, one pass), ticket by ticket on the calendar
for desks with business hours (`targets.limits_passed`). Sample tickets are judged one by
one with `targets.evaluate`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlite_utils import Database

from connectors.records import CustomerRef, Ticket
from plugin import clock
from plugin.config import Config
from plugin.journey.active_model import load_active_model
from plugin.journey.conditions import compile_condition, condition_facts
from plugin.journey.facts import compute_facts
from plugin.journey.versions import in_force
from plugin.sla.active_rules import SLA
from plugin.sla.apply import ticket_facts
from plugin.sla.business_hours import BusinessCalendar
from plugin.sla.rules import PRIORITIES, SlaRule, SlaRules, Targets
from plugin.sla.targets import clock_stops, evaluate, limits_passed
from plugin.store.history import customer_aggregates
from plugin.store.sla_window import OutcomeGroup, WindowTicket, window_outcomes, window_tickets

DAY = 86_400
NONE = "none"
"""The key of tickets without a priority, a stage or a channel."""
SAMPLE_SCAN = 5_000
"""Sample tickets are the newest that change among the window's newest this many."""
COMMON_CHANNELS = (
    "email",
    "web",
    "chat",
    "api",
    "phone",
    "voice",
    "mobile",
    "mobile_sdk",
    "native_messaging",
    "any_channel",
    "whatsapp",
    "facebook",
    "instagram",
    "twitter",
    "sms",
    "telegram",
    "line",
    "feedback_widget",
    "outbound_email",
    "other",
)
"""The channels the connectors give (Zendesk's via.channel, Freshdesk's sources,
Chatwoot's inboxes), the usual first: counted in SQLite as small integers."""
_NOBODY = CustomerRef()
_EPOCH = datetime.fromtimestamp(0, UTC)


@dataclass(frozen=True)
class WhatIfRow:
    """One row of a table."""

    key: str
    """A priority ("urgent" ... or "none"), a stage, or a channel."""
    before: int
    """Tickets with this key under the rules in force."""
    after: int
    """Under the draft."""
    breached_before: int
    """Of those, how many breached the in-force targets (first response or resolution)."""
    breached_after: int
    """... the draft's targets."""


@dataclass(frozen=True)
class ChangedTicket:
    source: str
    ticket_id: str
    subject: str
    stage: str | None
    channel: str | None
    rule_before: str | None
    rule_after: str | None
    priority_before: str | None
    priority_after: str | None
    breached_before: bool
    breached_after: bool


@dataclass(frozen=True)
class WhatIf:
    days: int
    since: datetime
    tickets: int
    changed: int
    """Tickets whose rule, priority or targets differ between the two sets."""
    by_priority: tuple[WhatIfRow, ...]
    by_stage: tuple[WhatIfRow, ...]
    by_channel: tuple[WhatIfRow, ...]
    samples: tuple[ChangedTicket, ...]


def what_if(
    db: Database,
    config: Config,
    draft: SlaRules,
    *,
    days: int = 30,
    current: SlaRules | None = None,
    samples: int = 20,
) -> WhatIf:
    """`draft` against `current` (the rules in force) over the tickets created in the last
    `days` days."""
    if current is None:
        current = in_force(db, config, SLA).value
    now = clock.now_epoch()
    since = now - days * DAY
    judge = _Judge(db, current, draft, now)
    calendars = {c.name: c.business_calendar() for c in config.connectors}
    timed = sorted(name for name, calendar in calendars.items() if calendar is not None)
    stages = tuple(stage.key for stage in load_active_model(db, config).model.stages)
    tally = _Tally()
    groups = window_outcomes(
        db,
        since=since,
        now=now,
        signal_keys=judge.signal_keys,
        first_response_limits=judge.first_response_limits,
        resolution_limits=judge.resolution_limits,
        known={
            "source": [c.name for c in config.connectors],
            "channel": COMMON_CHANNELS,
            "priority": PRIORITIES,
            "stage": stages,
        },
        exclude_sources=timed,
        with_customer=judge.reads_customer,
        with_subject=judge.reads_subject,
        with_tags=judge.reads_tags,
    )
    if timed:
        tickets = window_tickets(db, since=since, signal_keys=judge.signal_keys, sources=timed)
        groups += _timed_groups(tickets, calendars, judge)
    judge.load_customers(g.customer_id for g in groups)
    for group in groups:
        before, after = judge.rules_of(group)
        tally.add(
            group.count,
            group,
            (before, after),
            (judge.breached_in_bucket(group, before), judge.breached_in_bucket(group, after)),
        )
    return WhatIf(
        days=days,
        since=datetime.fromtimestamp(since, UTC),
        tickets=tally.tickets,
        changed=tally.changed,
        by_priority=tally.rows("priority", (*reversed(PRIORITIES), NONE)),
        by_stage=tally.rows("stage", (*stages, NONE)),
        by_channel=tally.rows("channel", ()),
        samples=tuple(_samples(db, judge, calendars, since, samples)) if samples else (),
    )


# --------------------------------------------------------------------------- judging


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What one set gives a ticket: the rule (None: none matched) and its priority."""

    rule: SlaRule | None
    priority: str | None

    @property
    def targets(self) -> Targets:
        return self.rule.targets if self.rule is not None else Targets()

    @property
    def rule_name(self) -> str | None:
        return self.rule.name if self.rule is not None else None


class _Judge:
    """Both rule sets, compiled once, and what they read; each distinct set of facts is
    decided once."""

    def __init__(self, db: Database, current: SlaRules, draft: SlaRules, now: int) -> None:
        self.db, self.now = db, now
        self.sets = tuple(
            tuple((rule, compile_condition(rule.when)) for rule in rules.rules)
            for rules in (current, draft)
        )
        read = set().union(
            *(condition_facts(rule.when) for rules in (current, draft) for rule in rules.rules)
        )
        self.signal_keys = tuple(sorted(f[7:] for f in read if f.startswith("signal:")))
        self.reads_subject = "ticket.subject" in read
        self.reads_tags = "ticket.tags" in read
        self.reads_customer = any(
            f != "stage" and not f.startswith(("signal:", "ticket.")) for f in read
        )
        targets = [rule.targets for rules in (current, draft) for rule in rules.rules]
        self.first_response_limits = _limits(t.first_response_minutes for t in targets)
        self.resolution_limits = _limits(t.resolution_minutes for t in targets)
        self._first_response_index = {m: i for i, m in enumerate(self.first_response_limits)}
        self._resolution_index = {m: i for i, m in enumerate(self.resolution_limits)}
        self._customers: dict[int, dict[str, Any]] = {}
        self._decided: dict[tuple, tuple[_Outcome, _Outcome]] = {}

    def load_customers(self, customer_ids: Iterable[int | None]) -> None:
        """The catalogue facts of these customers, when a rule reads one."""
        if not self.reads_customer:
            return
        known = self._customers
        wanted = sorted({c for c in customer_ids if c is not None and c not in known})
        for start in range(0, len(wanted), 5_000):
            chunk = wanted[start : start + 5_000]
            for cid, aggregates in customer_aggregates(self.db, chunk, now=self.now).items():
                self._customers[cid] = compute_facts(aggregates, self.now)

    def rules_of(self, item: OutcomeGroup | WindowTicket) -> tuple[_Outcome, _Outcome]:
        key = (
            item.source,
            item.channel,
            item.priority,
            item.stage,
            item.signals,
            item.customer_id if self.reads_customer else None,
            item.subject if self.reads_subject else None,
            item.tags if self.reads_tags else None,
        )
        found = self._decided.get(key)
        if found is None:
            facts = self._facts(item)
            found = tuple(_Outcome(*self._first(tests, facts, item)) for tests in self.sets)
            self._decided[key] = found
        return found

    def _facts(self, item: OutcomeGroup | WindowTicket) -> dict[str, Any]:
        facts: dict[str, Any] = {}
        if self.reads_customer and item.customer_id is not None:
            facts.update(self._customers.get(item.customer_id, {}))
        facts["stage"] = item.stage
        for index, key in enumerate(self.signal_keys):
            facts[f"signal:{key}"] = bool(item.signals >> index & 1)
        ticket = Ticket(
            id="",
            requester=_NOBODY,
            subject=item.subject or "",
            created_at=_EPOCH,
            priority=item.priority,
            channel=item.channel,
            tags=item.tags or (),
        )
        facts.update(ticket_facts(item.source, ticket))
        return facts

    @staticmethod
    def _first(tests, facts: Mapping[str, Any], item) -> tuple[SlaRule | None, str | None]:
        for rule, test in tests:
            if test(facts) is not None:
                return rule, rule.priority or item.priority
        return None, item.priority

    def breached_in_bucket(self, group: OutcomeGroup, outcome: _Outcome) -> bool:
        targets = outcome.targets
        first, resolution = targets.first_response_minutes, targets.resolution_minutes
        return (
            first is not None and group.first_response_over > self._first_response_index[first * 60]
        ) or (
            resolution is not None
            and group.resolution_over > self._resolution_index[resolution * 60]
        )

    def breached(
        self, item: WindowTicket, outcome: _Outcome, calendar: BusinessCalendar | None
    ) -> bool:
        targets = outcome.targets
        if targets.first_response_minutes is None and targets.resolution_minutes is None:
            return False
        return evaluate(
            _record(item),
            targets.first_response_minutes,
            targets.resolution_minutes,
            calendar,
            datetime.fromtimestamp(self.now, UTC),
        ).breached


def _timed_groups(
    tickets: Iterable[WindowTicket],
    calendars: Mapping[str, BusinessCalendar | None],
    judge: _Judge,
) -> list[OutcomeGroup]:
    """Tickets of desks with business hours counted like the others: how many targets
    each clock ran past, from the business time it used (`targets.limits_passed`)."""
    counts: Counter[tuple] = Counter()
    for t in tickets:
        responded, solved = clock_stops(
            t.status, t.created_at, t.updated_at, t.solved_at, t.first_response_at
        )
        calendar = calendars[t.source]
        counts[
            (
                t.source,
                t.channel,
                t.priority,
                t.stage,
                t.signals,
                limits_passed(
                    t.created_at, responded, judge.first_response_limits, calendar, judge.now
                ),
                limits_passed(t.created_at, solved, judge.resolution_limits, calendar, judge.now),
                t.customer_id if judge.reads_customer else None,
                t.subject if judge.reads_subject else None,
                t.tags if judge.reads_tags else None,
            )
        ] += 1
    return [OutcomeGroup(count, *key) for key, count in counts.items()]


def _limits(minutes: Iterable[int | None]) -> tuple[int, ...]:
    return tuple(sorted({m * 60 for m in minutes if m is not None}))


def _record(item: WindowTicket) -> Ticket:
    return Ticket(
        id=item.id,
        requester=_NOBODY,
        subject=item.subject,
        created_at=clock.from_epoch(item.created_at),
        updated_at=clock.from_epoch(item.updated_at),
        status=item.status,
        priority=item.priority,
        channel=item.channel,
        tags=item.tags,
        solved_at=clock.from_epoch(item.solved_at),
        first_response_at=clock.from_epoch(item.first_response_at),
    )


def _changes(before: _Outcome, after: _Outcome) -> bool:
    return (
        before.rule_name != after.rule_name
        or before.priority != after.priority
        or before.targets != after.targets
    )


# --------------------------------------------------------------------------- counting


class _Tally:
    def __init__(self) -> None:
        self.tickets = self.changed = 0
        # dimension -> key -> [before, after, breached before, breached after]
        self.cells: dict[str, dict[str, list[int]]] = {
            "priority": {},
            "stage": {},
            "channel": {},
        }

    def add(
        self,
        count: int,
        item: OutcomeGroup | WindowTicket,
        outcomes: tuple[_Outcome, _Outcome],
        breached: tuple[bool, bool],
    ) -> None:
        before, after = outcomes
        self.tickets += count
        if _changes(before, after):
            self.changed += count
        self._count("priority", before.priority, count, 0, breached[0])
        self._count("priority", after.priority, count, 1, breached[1])
        for dimension, value in (("stage", item.stage), ("channel", item.channel)):
            self._count(dimension, value, count, 0, breached[0])
            self._count(dimension, value, count, 1, breached[1])

    def _count(self, dimension: str, value: str | None, count: int, side: int, breached: bool):
        cell = self.cells[dimension].setdefault(value or NONE, [0, 0, 0, 0])
        cell[side] += count
        if breached:
            cell[side + 2] += count

    def rows(self, dimension: str, order: tuple[str, ...]) -> tuple[WhatIfRow, ...]:
        """Rows in `order` (the priorities always; stages only with tickets), then the
        other keys, the busiest first."""
        cells = self.cells[dimension]
        keys = [k for k in order if k in cells or (dimension == "priority" and k != NONE)]
        rest = sorted(set(cells) - set(keys), key=lambda k: (-max(cells[k][:2]), k))
        return tuple(WhatIfRow(k, *cells.get(k, [0, 0, 0, 0])) for k in (*keys, *rest))


def _samples(
    db: Database,
    judge: _Judge,
    calendars: Mapping[str, BusinessCalendar | None],
    since: int,
    limit: int,
) -> list[ChangedTicket]:
    found = []
    for ticket in window_tickets(db, since=since, signal_keys=judge.signal_keys, limit=SAMPLE_SCAN):
        judge.load_customers([ticket.customer_id])
        before, after = judge.rules_of(ticket)
        if not _changes(before, after):
            continue
        calendar = calendars.get(ticket.source)
        found.append(
            ChangedTicket(
                source=ticket.source,
                ticket_id=ticket.id,
                subject=ticket.subject,
                stage=ticket.stage,
                channel=ticket.channel,
                rule_before=before.rule_name,
                rule_after=after.rule_name,
                priority_before=before.priority,
                priority_after=after.priority,
                breached_before=judge.breached(ticket, before, calendar),
                breached_after=judge.breached(ticket, after, calendar),
            )
        )
        if len(found) >= limit:
            break
    return found
