"""Applying SLA rules to tickets as they first appear (a sync after the desk's first, a
webhook or an agent's first look): decide, store the decision and queue what it changes at
the desk, in the transaction that stores the ticket.

Which tickets: unsolved (not solved, closed or deleted), not in the store before, and
created at or after the start of the desk's first successful sync. The first sync itself
decides nothing and stores no decision: connecting a desk never rewrites its history.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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
from plugin.sla.rules import SlaRules, Targets, decide, reasons_as_json
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
        chosen = [t for t in tickets if self.qualifies(t)]
        if not chosen:
            return Applied()
        now = now_epoch()
        customers = ticket_customers(db, self.source, [t.id for t in chosen])
        facts = self._customer_facts(db, set(customers.values()), now)
        decided = queued = 0
        with db.atomic():
            for ticket in chosen:
                customer_id = customers.get(ticket.id)
                base = facts.get(customer_id, {}) if customer_id is not None else {}
                decided_one, queued_one = self._decide_one(db, ticket, customer_id, base, now)
                decided += decided_one
                queued += queued_one
        return Applied(decided, queued)

    def qualifies(self, ticket: Ticket) -> bool:
        return (
            not ticket.deleted
            and (ticket.status or "open") not in SOLVED_STATUSES
            and ticket.solved_at is None
            and to_epoch(ticket.created_at) >= self.since
        )

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

    def _decide_one(
        self, db: Database, ticket: Ticket, customer_id: int | None, base: Mapping, now: int
    ) -> tuple[int, int]:
        facts = {**base, **ticket_facts(self.source, ticket)}
        decision = decide(self.rules, facts)
        existing = {tag.casefold() for tag in ticket.tags}
        new_tags = [tag for tag in decision.add_tags if tag.casefold() not in existing]
        priority = decision.priority if decision.priority != ticket.priority else None
        stored = record_decision(
            db,
            {
                "source": self.source,
                "ticket_id": ticket.id,
                "customer_id": customer_id,
                "rule": decision.rule,
                "rule_version": self.rule_version,
                "priority_before": ticket.priority,
                "priority_after": decision.priority or ticket.priority,
                "tags_added": new_tags,
                "targets": targets_with_deadlines(decision.targets, ticket, self.calendar),
                "reasons": reasons_as_json(decision.reasons),
                "decided_at": now,
            },
        )
        if not stored or (priority is None and not new_tags):
            return int(stored), 0
        queued = queue_push(
            db, self.source, ticket.id, priority=priority, add_tags=new_tags, now=now
        )
        return 1, int(queued)


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
        "ticket.source": source,
    }


def decider_for(db: Database, config: Config, source: str) -> Decider | None:
    """What decides `source`'s new tickets now; None before the desk's first successful
    sync has finished, or when no SLA rule is in force."""
    since = first_sync_at(db, source)
    if since is None:
        return None
    active = in_force(db, config, SLA)
    if not active.value.rules:
        return None
    model = load_active_model(db, config).model
    connector = config.connector(source)
    calendar = connector.business_calendar() if connector is not None else None
    return Decider(source, active.value, active.version_number, model, since, calendar)
