"""Applying SLA rules to tickets as they first appear (a sync after the desk's first, a
webhook or an agent's first look): decide, store the decision and queue what it changes at
the desk, in the transaction that stores the ticket.

Which tickets: unsolved (not solved, closed or deleted), not in the store before, and
created at or after the start of the desk's first successful sync. The first sync itself
decides nothing and stores no decision: connecting a desk never rewrites its history.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from connectors.records import Ticket
from plugin.clock import now_epoch, to_epoch
from plugin.config import Config
from plugin.journey.active_model import load_active_model
from plugin.journey.facts import compute_facts
from plugin.journey.model import JourneyModel, compiled_model
from plugin.journey.versions import in_force
from plugin.sla.active_rules import SLA
from plugin.sla.business_hours import BusinessCalendar, deadline
from plugin.sla.rules import Decision, SlaRules, Targets, decide, reasons_as_json
from plugin.store.history import customer_aggregates
from plugin.store.sla_decisions import record_decision
from plugin.store.sla_pushes import queue_push
from plugin.store.sync_state import first_sync_at
from plugin.store.tickets import ticket_customers

SOLVED_STATUSES = ("solved", "closed")


@dataclass(frozen=True)
class Applied:
    decided: int = 0
    queued: int = 0


@dataclass(frozen=True)
class Planned:
    """One ticket's decision and what it would change at the desk."""

    ticket: Ticket
    customer_id: int | None
    decision: Decision
    priority: str | None
    """The priority to set at the desk; None when the decision leaves it as it is."""
    new_tags: tuple[str, ...]
    """The decision's tags the ticket does not have yet."""

    @property
    def changes_desk(self) -> bool:
        return self.priority is not None or bool(self.new_tags)


@dataclass(frozen=True)
class Decider:
    """The rules in force and the moment from which a desk's tickets count as new."""

    source: str
    rules: SlaRules
    rule_version: int
    model: JourneyModel
    since: int
    calendar: BusinessCalendar | None = None
    """The connector's business hours, the targets' deadlines count them (None: calendar
    minutes)."""

    def apply(self, db: Database, tickets: Iterable[Ticket]) -> Applied:
        """Decide the tickets that qualify, store each decision and queue its push.

        Call inside the transaction that stored the tickets (nested is fine)."""
        return self.decide(db, [t for t in tickets if self.qualifies(t)])

    def decide(self, db: Database, chosen: list[Ticket]) -> Applied:
        """Decide `chosen`, tickets that qualify (`qualifies`): plan, then record."""
        return self.record(db, self.plan(db, chosen))

    def qualifies(self, ticket: Ticket) -> bool:
        return qualifies(ticket, self.since)

    def plan(self, db: Database, tickets: list[Ticket]) -> list[Planned]:
        """Each ticket's decision, evaluated now, and what it would change; writes nothing."""
        if not tickets:
            return []
        customers = ticket_customers(db, self.source, [t.id for t in tickets])
        facts = self._customer_facts(db, set(customers.values()), now_epoch())
        planned = []
        for ticket in tickets:
            customer_id = customers.get(ticket.id)
            base = facts.get(customer_id, {}) if customer_id is not None else {}
            decision = decide(self.rules, {**base, **ticket_facts(self.source, ticket)})
            existing = {tag.casefold() for tag in ticket.tags}
            new_tags = tuple(t for t in decision.add_tags if t.casefold() not in existing)
            priority = decision.priority if decision.priority != ticket.priority else None
            planned.append(Planned(ticket, customer_id, decision, priority, new_tags))
        return planned

    def record(self, db: Database, planned: Iterable[Planned]) -> Applied:
        """Store each decision (a ticket that has one keeps it) and queue what it changes."""
        now = now_epoch()
        decided = queued = 0
        with db.atomic():
            for item in planned:
                if not record_decision(db, self._row(item, now)):
                    continue
                decided += 1
                if item.changes_desk:
                    queued += queue_push(
                        db,
                        self.source,
                        item.ticket.id,
                        priority=item.priority,
                        add_tags=list(item.new_tags),
                        now=now,
                    )
        return Applied(decided, queued)

    def _row(self, item: Planned, now: int) -> dict[str, Any]:
        decision, ticket = item.decision, item.ticket
        return {
            "source": self.source,
            "ticket_id": ticket.id,
            "customer_id": item.customer_id,
            "rule": decision.rule,
            "rule_version": self.rule_version,
            "priority_before": ticket.priority,
            "priority_after": decision.priority or ticket.priority,
            "tags_added": list(item.new_tags),
            "targets": targets_with_deadlines(decision.targets, ticket, self.calendar),
            "reasons": reasons_as_json(decision.reasons),
            "decided_at": now,
        }

    def _customer_facts(
        self, db: Database, customer_ids: set[int], now: int
    ) -> dict[int, dict[str, Any]]:
        """Each customer's catalogue facts, stage and signals, evaluated now."""
        evaluate = compiled_model(self.model)
        result = {}
        for customer_id, aggregates in customer_aggregates(db, list(customer_ids), now=now).items():
            facts = compute_facts(aggregates, now)
            stage, _, signals = evaluate(facts)
            facts["stage"] = stage
            for key, _ in signals:
                facts[f"signal:{key}"] = True
            for definition in self.model.signals:
                facts.setdefault(f"signal:{definition.key}", False)
            result[customer_id] = facts
        return result


def qualifies(ticket: Ticket, since: int) -> bool:
    """Whether a ticket new to the store counts as arriving (SLA rules decide it, the
    journey note is posted on it): unsolved and created from `since` on."""
    return (
        not ticket.deleted
        and (ticket.status or "open") not in SOLVED_STATUSES
        and ticket.solved_at is None
        and to_epoch(ticket.created_at) >= since
    )


def targets_with_deadlines(
    targets: Targets, ticket: Ticket, calendar: BusinessCalendar | None
) -> dict[str, int | None]:
    """The rule's targets in minutes and their deadlines (epoch seconds) from the ticket's
    creation, on the connector's business hours."""
    due = {
        f"{name}_due": to_epoch(deadline(ticket.created_at, minutes, calendar))
        if minutes is not None
        else None
        for name, minutes in (
            ("first_response", targets.first_response_minutes),
            ("resolution", targets.resolution_minutes),
        )
    }
    return {**targets.as_dict(), **due}


def ticket_facts(source: str, ticket: Ticket) -> dict[str, Any]:
    """The `ticket.*` facts of SLA conditions."""
    return {
        "ticket.channel": ticket.channel,
        "ticket.tags": list(ticket.tags),
        "ticket.subject": ticket.subject,
        "ticket.priority": ticket.priority,
        "ticket.group": ticket.group,
        "ticket.source": source,
    }


def decider_for(
    db: Database, config: Config, source: str, *, since: int | None = None
) -> Decider | None:
    """What decides `source`'s new tickets now; None before the desk's first successful
    sync has finished, or when no SLA rule is in force. `since`: the start of that first
    sync when the caller has read it."""
    since = first_sync_at(db, source) if since is None else since
    if since is None:
        return None
    active = in_force(db, config, SLA)
    if not active.value.rules:
        return None
    model = load_active_model(db, config).model
    connector = config.connector(source)
    calendar = connector.business_calendar() if connector is not None else None
    return Decider(source, active.value, active.version_number, model, since, calendar)
