"""SLA rules as text: the `[sla]` table in the shape of `config.toml` (``[[sla.rules]]`` ...),
written by the one TOML writer (`plugin.journey.toml_text`). Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from plugin.journey.toml_text import array_table
from plugin.sla.rules import RULE_KEYS


def rule_to_toml(item: Mapping[str, Any]) -> str:
    """One rule as a `[[sla.rules]]` block, its `when` last."""
    return array_table("sla.rules", item, tuple(RULE_KEYS), "when")


def rules_to_toml(definitions: Mapping[str, Any]) -> str:
    """The whole `[sla]` table: every rule in order (``rules = []`` when there is none, which
    saved as a version means no rule: tickets keep what the desk gave them)."""
    rules = definitions.get("rules") or []
    if not rules:
        return "[sla]\nrules = []\n"
    return "\n\n".join(rule_to_toml(item) for item in rules) + "\n"
