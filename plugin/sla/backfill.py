"""`journeydesk sla apply --since DATE`: the rules in force applied on purpose to tickets
that were already in the store when they appeared (the desk's history, tickets from before
the rules existed), after showing what it would change.

The same decisions as for new tickets (`plugin/sla/apply.py`): unsolved tickets only, one
decision per ticket (a ticket decided before keeps its decision), the changes queued and
pushed like any other.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlite_utils import Database

from plugin.clock import from_epoch
from plugin.config import Config
from plugin.errors import InvalidInput
from plugin.journey.versions import in_force
from plugin.sla.active_rules import SLA
from plugin.sla.apply import Applied, Decider, Planned, decider_for
from plugin.store.sla_decisions import undecided_open_tickets
from plugin.store.tickets import as_record

SAMPLES = 10


@dataclass(frozen=True)
class Backfill:
    """What applying the rules in force to stored tickets since a moment would do."""

    since: int
    rule_version: int
    rule_count: int
    deciders: dict[str, Decider]
    planned: dict[str, list[Planned]]
    """By source, in creation order."""

    @property
    def tickets(self) -> int:
        return sum(len(items) for items in self.planned.values())

    @property
    def changing(self) -> list[tuple[str, Planned]]:
        return [(s, p) for s, items in self.planned.items() for p in items if p.changes_desk]

    def lines(self) -> list[str]:
        """The preview as the command prints it."""
        version = f"version {self.rule_version}" if self.rule_version else "the config file's"
        since = from_epoch(self.since).strftime("%Y-%m-%d %H:%M UTC")
        per_source = ", ".join(f"{s} {len(items):,}" for s, items in self.planned.items())
        lines = [
            f"SLA rules in force: {version} ({_count(self.rule_count, 'rule')}).",
            f"Unsolved tickets created since {since} with no SLA decision yet: "
            f"{self.tickets:,}" + (f" ({per_source})." if self.tickets else "."),
        ]
        if not self.tickets:
            return lines
        changing = self.changing
        lines.append(f"Would change at the desk: {_count(len(changing), 'ticket')}.")
        for (before, after), count in sorted(_priority_moves(changing).items(), key=_by_count):
            lines.append(f"  priority {before or 'none'} → {after}: {count:,}")
        tagged = sum(1 for _, p in changing if p.new_tags)
        if tagged:
            lines.append(f"  tags added: {tagged:,}")
        unmatched = sum(1 for items in self.planned.values() for p in items if not p.decision.rule)
        unchanged = self.tickets - len(changing)
        lines.append(
            f"Left as they are: {unchanged:,} ({unmatched:,} matched no rule; the others "
            "already have what their rule sets). Their decisions are stored all the same."
        )
        if changing:
            lines.append("For example:")
            for source, item in changing[:SAMPLES]:
                lines.append("  " + _example(source, item))
        return lines


def plan_backfill(db: Database, config: Config, since: datetime, sources: list[str]) -> Backfill:
    """What the rules in force would decide for `sources`' stored tickets since `since`."""
    active = in_force(db, config, SLA)
    if not active.value.rules:
        raise InvalidInput(
            "No SLA rules are in force, so there is nothing to apply. Add [[sla.rules]] to "
            f"{config.path} or save rules in the admin (/admin/sla) first."
        )
    start = int(since.timestamp())
    deciders, planned = {}, {}
    for source in sources:
        decider = decider_for(db, config, source, since=start)
        rows = undecided_open_tickets(db, source, since=start)
        deciders[source] = decider
        planned[source] = decider.plan(db, [as_record(row) for row in rows])
    return Backfill(start, active.version_number, len(active.value.rules), deciders, planned)


def apply_backfill(db: Database, backfill: Backfill) -> Applied:
    """Store the planned decisions and queue what they change, in one transaction."""
    decided = queued = 0
    with db.atomic():
        for source, items in backfill.planned.items():
            applied = backfill.deciders[source].record(db, items)
            decided += applied.decided
            queued += applied.queued
    return Applied(decided, queued)


def _count(number: int, thing: str) -> str:
    return f"{number:,} {thing}" + ("" if number == 1 else "s")


def _priority_moves(changing: list[tuple[str, Planned]]) -> Counter:
    return Counter((p.ticket.priority, p.priority) for _, p in changing if p.priority is not None)


def _by_count(item: tuple[tuple[str | None, str], int]) -> tuple[int, str]:
    (before, after), count = item
    return (-count, f"{before}{after}")


def _example(source: str, item: Planned) -> str:
    ticket = item.ticket
    subject = ticket.subject if len(ticket.subject) <= 48 else ticket.subject[:47] + "…"
    change = []
    if item.priority is not None:
        change.append(f"priority {ticket.priority or 'none'} → {item.priority}")
    if item.new_tags:
        change.append("tags + " + ", ".join(item.new_tags))
    return f'{source} #{ticket.id} "{subject}": {"; ".join(change)} (rule {item.decision.rule})'
