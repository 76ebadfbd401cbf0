"""Running outreach, what `outreach run` and the worker do: plan each rule
(`outreach.planning`), **claim** its messages in the outbox under their unique key (rule,
customer, period) in one committed transaction before anything is sent (`claim_plan`), then
deliver (`outreach.delivery`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlite_utils import Database

from plugin.clock import now_epoch
from plugin.config import Config
from plugin.errors import InvalidInput, NotFound
from plugin.journey.model import reason_to_dict
from plugin.outreach.active_rules import ActiveRules, load_active_rules
from plugin.outreach.delivery import DeliveryReport, deliver_due, pause_for_tests
from plugin.outreach.planning import (
    Planned,
    RulePlan,
    clear_ended_alerts,
    matched_audiences,
    plan_rule,
    recipient_of,
)
from plugin.outreach.rules import Rule
from plugin.store import open_store
from plugin.store.outbox import claim_messages

log = logging.getLogger("journeydesk.outreach")

RUN_WAIT_SECONDS = 30
"""How long a run waits for another process's delivery to end before leaving its claimed
messages to the worker's next delivery."""


@dataclass
class RunReport:
    plans: list[RulePlan] = field(default_factory=list)
    claimed: dict[str, int] = field(default_factory=dict)
    delivery: DeliveryReport | None = None
    dry_run: bool = False


def rules_to_run(active: ActiveRules, name: str | None, *, dry_run: bool) -> list[Rule]:
    if name is None:
        return [r for r in active.rules.rules if r.enabled]
    rule = active.rules.rule(name)
    if rule is None:
        known = ", ".join(r.name for r in active.rules.rules) or "none"
        raise NotFound(f"no outreach rule named {name!r} (rules: {known})")
    if not rule.enabled and not dry_run:
        raise InvalidInput(
            f"the outreach rule {name!r} is disabled: enable it first, or run it with --dry-run"
        )
    return [rule]


def run_outreach(
    config: Config, name: str | None = None, *, dry_run: bool = False, now: int | None = None
) -> RunReport:
    """Plan, claim and deliver the enabled rules (or one); a dry run only plans.

    A rule with dry_run = true is always only planned.
    """
    now = now_epoch() if now is None else now
    report = RunReport(dry_run=dry_run)
    with open_store(config.database_path) as db:
        active = load_active_rules(db, config)
        rules = rules_to_run(active, name, dry_run=dry_run)
        audiences = matched_audiences(db, config, rules, now=now) if rules else {}
        for rule in rules:
            # planned after the previous rule's claim: the global cap sees its messages
            plan = plan_rule(db, config, active, rule, now=now, matched=audiences[rule.name])
            report.plans.append(plan)
            if dry_run or rule.dry_run:
                continue
            report.claimed[rule.name] = len(claim_plan(db, plan, now=now))
            clear_ended_alerts(db, rule, audiences[rule.name], now=now)
            pause_for_tests("claimed")
    if not dry_run:
        report.delivery = deliver_due(config, active=active, wait_seconds=RUN_WAIT_SECONDS)
    return report


def run_quietly(config: Config, name: str) -> RunReport | None:
    """`run_outreach` for one rule, logging instead of raising (an admin's "Run now", in a
    thread: the outbox shows what it claims and sends)."""
    try:
        report = run_outreach(config, name)
    except Exception as exc:  # claimed messages wait in the outbox for the next delivery
        log.error("outreach %s (run now) failed: %s", name, exc)
        return None
    log.info("outreach %s (run now): %d claimed", name, sum(report.claimed.values()))
    return report


def claim_plan(db: Database, plan: RulePlan, *, now: int) -> list[int]:
    """Put the plan's sendable messages in the outbox (one committed transaction), and
    the ones the template sandbox refused as `refused` rows with its error (the audit
    trail: nothing is sent). Returns the ids of the sendable ones claimed now."""
    rule = plan.rule

    def row(p: Planned) -> dict[str, Any]:
        rendered = p.rendered
        return {
            "rule": rule.name,
            "customer_id": p.decision.candidate.customer_id,
            "period": plan.period,
            "rule_version": plan.version,
            "status": "refused" if p.error else "held_out" if p.decision.held_out else "pending",
            "channel": rule.channel,
            "recipient": recipient_of(rule, p.decision.candidate),
            "locale": rendered.language if rendered else p.decision.candidate.locale,
            "reasons": [reason_to_dict(r) for r in p.decision.reasons],
            "subject": rendered.subject if rendered else None,
            "body_text": rendered.text if rendered else None,
            "body_html": rendered.html if rendered else None,
            "next_attempt_at": p.decision.send_at or now,
            "error": p.error,
        }

    claim_messages(db, (row(p) for p in plan.refused), now=now)
    return claim_messages(db, (row(p) for p in plan.sendable), now=now)
