"""SLA rules as text: the `[sla]` table in the shape of `config.toml` (``[[sla.rules]]`` ...),
written by the one TOML writer (`plugin.journey.toml_text`), an admin's text read back by
the rule-table reader shared with outreach (`plugin.journey.rule_tables`), and a rule moved
up or down (first match wins, so the order is part of the rules). Pure."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from plugin.journey.conditions import ConditionError
from plugin.journey.editing import EDITOR
from plugin.journey.rule_tables import RuleTable, candidate_rule_table
from plugin.journey.toml_text import array_table
from plugin.sla.rules import RULE_KEYS, SlaRules, load_sla_rules

ORDER_NOTE = "# Tried from top to bottom: the first rule whose `when` matches a new ticket wins."
SLA_TABLE = RuleTable(
    section="sla", condition="when", load=lambda table: load_sla_rules(table, file=EDITOR)
)
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
"""What the admin's empty state offers to start from (docs/sla.md's first example)."""


def table_of(rules: SlaRules) -> dict[str, Any]:
    """The `[sla]` table of `rules`, each rule as it was written."""
    return {"rules": [copy.deepcopy(dict(rule.source)) for rule in rules.rules]}


def rule_to_toml(item: Mapping[str, Any]) -> str:
    """One rule as a `[[sla.rules]]` block, its `when` last."""
    return array_table("sla.rules", item, tuple(RULE_KEYS), "when")


def table_to_toml(table: Mapping[str, Any]) -> str:
    """Every rule of an `[sla]` table, in order (``rules = []`` when it has none, which
    saved as a version means no rule: tickets keep what the desk gave them)."""
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
