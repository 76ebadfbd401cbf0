"""SLA rules as text an admin edits: TOML out, validated candidate `[sla]` tables in, and a
rule moved up or down (first match wins, so the order is part of the rules).

The rule-table editing of `plugin.journey.rule_tables`, shared with the outreach rules, in
the shape of `config.toml` (``[[sla.rules]]`` ...). Pure: no I/O, no Flask.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from plugin.journey.conditions import ConditionError
from plugin.journey.editing import EDITOR
from plugin.journey.rule_tables import RuleTable, candidate_rule_table
from plugin.journey.rule_tables import rule_to_toml as rule_to_toml_of
from plugin.sla.rules import RULE_KEYS, SlaRules, load_sla_rules

SLA_TABLE = RuleTable(
    section="sla", condition="when", load=lambda table: load_sla_rules(table, file=EDITOR)
)
ORDER_NOTE = "# Tried from top to bottom: the first rule whose `when` matches a new ticket wins."

EXAMPLE = """\
[[sla.rules]]
name = "purchase-moment"
description = "A question while buying: answer within the hour"
priority = "urgent"
add_tags = ["journey_purchase"]
first_response_minutes = 60
resolution_minutes = 480
[sla.rules.when]
any = [
  { fact = "stage", op = "eq", value = "purchase" },
  { fact = "signal:renewal_due", op = "eq", value = true },
]
"""
"""What the empty state offers to start from (docs/sla.md's first example)."""


def table_of(rules: SlaRules) -> dict[str, Any]:
    """The `[sla]` table of `rules`, each rule as it was written."""
    return {"rules": [copy.deepcopy(dict(rule.source)) for rule in rules.rules]}


def rule_to_toml(item: Mapping[str, Any]) -> str:
    """One rule as a `[[sla.rules]]` block."""
    return rule_to_toml_of("sla", item, keys=RULE_KEYS, condition="when")


def table_to_toml(table: Mapping[str, Any]) -> str:
    """Every rule of an `[sla]` table, in order (`rules = []` when it has none)."""
    rules = table.get("rules") or []
    if not rules:
        return "[sla]\nrules = []\n"
    return "\n\n".join([ORDER_NOTE, *(rule_to_toml(item) for item in rules)]) + "\n"


def candidate_table(text: str, current: Mapping[str, Any], rule: str | None) -> dict[str, Any]:
    """The `[sla]` table `current` would become with `text` replacing the rule named `rule`
    (or, with rule None, the whole table); validated. Raises ConditionError."""
    return candidate_rule_table(text, SLA_TABLE, current, rule)


def with_rule_moved(current: Mapping[str, Any], rule: str, offset: int) -> dict[str, Any]:
    """`current` with the rule named `rule` moved `offset` places (-1: up, 1: down).

    Raises ConditionError when there is no such rule or it cannot move that way."""
    table = copy.deepcopy(dict(current))
    rules = list(table.get("rules") or [])
    names = [item.get("name") for item in rules]
    if rule not in names:
        raise ConditionError(EDITOR, "", f'there is no rule "{rule}"; reload the page')
    index = names.index(rule)
    target = index + offset
    if not 0 <= target < len(rules):
        where = "first" if target < 0 else "last"
        raise ConditionError(EDITOR, "", f'"{rule}" is the {where} rule already')
    rules.insert(target, rules.pop(index))
    table["rules"] = rules
    return table
