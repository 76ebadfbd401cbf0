"""SLA rules as text: the `[sla]` table in the shape of `config.toml` (``[[sla.rules]]`` ...),
written by the one TOML writer (`plugin.journey.toml_text`). Pure."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from plugin.journey.toml_text import array_table
from plugin.sla.rules import RULE_KEYS, SlaRules

ORDER_NOTE = "# Tried from top to bottom: the first rule whose `when` matches a new ticket wins."


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
