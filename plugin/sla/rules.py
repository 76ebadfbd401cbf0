"""`[sla]` and `[[sla.rules]]`: validated once into frozen `SlaRules`; `decide` is pure.

A rule's `when` is a condition tree over the customer's facts, stage and `signal:<key>`
(the journey's catalogue, `fact_specs(with_stage=True)`) plus the ticket's own facts
(`TICKET_FACTS`). Rules are ordered and the first that matches wins. Every problem is a
`ConditionError` naming the file, the rule (index and name), the key and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from plugin.journey.conditions import (
    Condition,
    ConditionError,
    FactSpec,
    Reason,
    evaluate,
    parse_condition,
)
from plugin.journey.facts import fact_specs
from plugin.journey.rule_tables import named_rule

PRIORITIES = ("low", "normal", "high", "urgent")
SETTING_KEYS = {"rules"}
RULE_KEYS = {
    "name": "a unique name, e.g. purchase-moment",
    "description": "what the rule is for (shown to admins)",
    "priority": "low | normal | high | urgent (mapped to each desk)",
    "add_tags": 'tags to add, e.g. ["journey_purchase"]',
    "first_response_minutes": "the first-response target, in minutes",
    "resolution_minutes": "the resolution target, in minutes",
    "when": "a condition tree over the customer's facts, stage, signal:<key> and ticket.*",
}
TICKET_FACTS: dict[str, FactSpec] = {
    spec.name: spec
    for spec in (
        FactSpec("ticket.channel", "string", "How the ticket came in: email, web, chat, ..."),
        FactSpec("ticket.tags", "list", "The ticket's tags when it appeared (contains)"),
        FactSpec("ticket.subject", "string", "The ticket's subject (contains: a word in it)"),
        FactSpec("ticket.priority", "string", "The priority the desk gave it: low ... urgent"),
        FactSpec("ticket.group", "string", "The group (team) it is assigned to, by name"),
        FactSpec("ticket.source", "string", "The connector it came from (its name)"),
    )
}
_TAG = re.compile(r"[^\s,]{1,80}")


def sla_fact_specs() -> dict[str, FactSpec]:
    """What an SLA condition may test: the customer's facts, stage, signals, ticket.*."""
    return {**fact_specs(with_stage=True), **TICKET_FACTS}


@dataclass(frozen=True)
class Targets:
    first_response_minutes: int | None = None
    resolution_minutes: int | None = None

    def as_dict(self) -> dict[str, int | None]:
        return {
            "first_response_minutes": self.first_response_minutes,
            "resolution_minutes": self.resolution_minutes,
        }


@dataclass(frozen=True)
class SlaRule:
    name: str
    when: Condition
    priority: str | None = None
    add_tags: tuple[str, ...] = ()
    targets: Targets = field(default_factory=Targets)
    description: str = ""
    source: Mapping[str, Any] = field(default_factory=dict)
    """The definition as written (what a saved version stores)."""


@dataclass(frozen=True)
class SlaRules:
    rules: tuple[SlaRule, ...] = ()

    def rule(self, name: str) -> SlaRule | None:
        return next((r for r in self.rules if r.name == name), None)


@dataclass(frozen=True)
class Decision:
    """What the rules say of one ticket: the first matching rule (None: none matched)."""

    rule: str | None
    priority: str | None = None
    add_tags: tuple[str, ...] = ()
    targets: Targets = field(default_factory=Targets)
    reasons: tuple[Reason, ...] = ()


def decide(rules: SlaRules, facts: Mapping[str, Any]) -> Decision:
    """The first rule whose `when` matches `facts`, with the leaves that made it match."""
    for rule in rules.rules:
        match = evaluate(rule.when, facts)
        if match.matched:
            return Decision(rule.name, rule.priority, rule.add_tags, rule.targets, match.reasons)
    return Decision(None)


def reasons_as_json(reasons: tuple[Reason, ...]) -> list[dict[str, Any]]:
    """Reasons as stored (dates as ISO text, tuples as lists)."""
    return [
        {
            "fact": r.fact,
            "op": r.op,
            "expected": _plain(r.expected),
            "actual": _plain(r.actual),
        }
        for r in reasons
    ]


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list | set | frozenset):
        return [_plain(item) for item in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


def load_sla_rules(sla: Mapping[str, Any] | None, *, file: str) -> SlaRules:
    """Validate `[sla]` (no rules when it has none); raises ConditionError."""
    sla = dict(sla or {})
    where = f"{file}: sla"
    unknown = set(sla) - SETTING_KEYS
    if unknown:
        raise ConditionError(
            where, ", ".join(sorted(unknown)), "unknown key; write each rule as [[sla.rules]]"
        )
    items = sla.get("rules", [])
    if not isinstance(items, list):
        raise ConditionError(where, "rules", "write each rule as [[sla.rules]]")
    rules: list[SlaRule] = []
    seen: set[str] = set()
    specs = sla_fact_specs()
    for index, item in enumerate(items):
        rule = _rule(item, where=f"{where}.rules[{index}]", specs=specs)
        if rule.name in seen:
            raise ConditionError(
                f'{where}.rules[{index}] "{rule.name}"', "name", "used twice; names are unique"
            )
        seen.add(rule.name)
        rules.append(rule)
    return SlaRules(tuple(rules))


def _rule(item: Any, *, where: str, specs: Mapping[str, FactSpec]) -> SlaRule:
    name, where = named_rule(
        item,
        where=where,
        section="sla",
        example="purchase-moment",
        known=RULE_KEYS,
        listed="; ".join(f"{key}: {hint}" for key, hint in RULE_KEYS.items()),
    )
    priority = item.get("priority")
    if priority is not None and priority not in PRIORITIES:
        raise ConditionError(
            where,
            "priority",
            f"{priority!r} is not a priority; write one of {', '.join(PRIORITIES)}",
        )
    tags = item.get("add_tags", [])
    if not isinstance(tags, list) or not all(
        isinstance(tag, str) and _TAG.fullmatch(tag) for tag in tags
    ):
        raise ConditionError(
            where, "add_tags", 'expected a list of tags without spaces, e.g. ["journey_purchase"]'
        )
    minutes = {}
    for key in ("first_response_minutes", "resolution_minutes"):
        value = item.get(key)
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or value < 1
        ):
            raise ConditionError(
                where, key, f"expected a whole number of minutes ≥ 1, got {value!r}"
            )
        minutes[key] = value
    if priority is None and not tags and not any(minutes.values()):
        raise ConditionError(
            where,
            "priority",
            "the rule does nothing: give it a priority, add_tags or a target",
        )
    if "when" not in item:
        raise ConditionError(
            where, "when", "missing; write [sla.rules.when] (all = [] matches every ticket)"
        )
    when = parse_condition(item["when"], known_facts=specs, where=where, root="when")
    return SlaRule(
        name=name,
        when=when,
        priority=priority,
        add_tags=tuple(dict.fromkeys(tags)),
        targets=Targets(**minutes),
        description=str(item.get("description", "")),
        source=dict(item),
    )
