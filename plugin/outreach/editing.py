"""Outreach rules as text an admin edits: TOML out, validated candidate `[outreach]` tables in.

The same shape as `config.toml` (``[[outreach.rules]]`` ...), written by the one TOML
writer (`plugin.journey.toml_text`), so what an admin writes can be pasted into the file and
the other way round. Pure: no I/O, no Flask.
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Mapping
from typing import Any

from plugin.journey.conditions import ConditionError
from plugin.journey.editing import EDITOR
from plugin.journey.toml_text import array_table, value_text
from plugin.outreach.rules import RULE_KEYS, default_definitions, load_rules

SETTING_ORDER = ("timezone", "quiet_hours", "global_cap")
BY_LANGUAGE = ("subject", "body", "body_html")


# --------------------------------------------------------------------------- TOML out


def full_definitions(definitions: Mapping[str, Any] | None) -> dict[str, Any]:
    """An `[outreach]` table with its rules spelled out (the shipped ones when it has none)."""
    table = copy.deepcopy(dict(definitions or {}))
    if "rules" not in table:
        table["rules"] = default_definitions()["rules"]
    return table


def rule_to_toml(item: Mapping[str, Any]) -> str:
    """One rule as a `[[outreach.rules]]` block."""
    return array_table("outreach.rules", item, tuple(RULE_KEYS), "audience", dotted=BY_LANGUAGE)


def table_to_toml(definitions: Mapping[str, Any]) -> str:
    """The whole `[outreach]` table: the settings, then every rule (`rules = []` when it
    has none: without it the table would mean the shipped rules)."""
    head = ["[outreach]"]
    head += [f"{k} = {value_text(definitions[k])}" for k in SETTING_ORDER if k in definitions]
    rules = definitions.get("rules") or []
    if not rules:
        head.append("rules = []")
    return "\n\n".join(["\n".join(head), *(rule_to_toml(item) for item in rules)]) + "\n"


# --------------------------------------------------------------------------- text in


def candidate_table(text: str, current: Mapping[str, Any], rule: str | None) -> dict[str, Any]:
    """The `[outreach]` table `current` would become with `text` replacing the rule named
    `rule` (or, with rule None, the whole table); validated. Raises ConditionError."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConditionError(EDITOR, "", f"this is not valid TOML: {exc}") from None
    extra = [key for key in data if key != "outreach"]
    if extra or "outreach" not in data:
        found = f"found {', '.join(extra)} " if extra else ""
        raise ConditionError(
            EDITOR,
            "",
            f"{found}— write the rule as in config.toml: an [[outreach.rules]] line, its keys, "
            "then [outreach.rules.audience] with the conditions",
        )
    table = data["outreach"]
    if rule is None:
        candidate = dict(table)
        candidate.setdefault("rules", [])
    else:
        items = table.get("rules") or []
        others = [key for key in table if key != "rules"]
        if others or not isinstance(items, list) or len(items) != 1:
            raise ConditionError(
                EDITOR,
                "",
                "write exactly one [[outreach.rules]] here (this editor changes the rule "
                f'"{rule}"); edit all rules and settings to add or remove rules or to change '
                + ", ".join(SETTING_ORDER),
            )
        new = items[0]
        if isinstance(new, Mapping) and new.get("name") != rule:
            raise ConditionError(
                EDITOR,
                "name",
                f'this editor changes the rule "{rule}": keep name = "{rule}" (to rename it, '
                "edit all rules and settings)",
            )
        candidate = full_definitions(current)
        names = [item.get("name") for item in candidate["rules"]]
        if rule not in names:
            raise ConditionError(EDITOR, "", f'the rule "{rule}" no longer exists; reload the page')
        candidate["rules"][names.index(rule)] = dict(new)
    try:
        load_rules(candidate, file=EDITOR)
    except RecursionError:
        raise ConditionError(EDITOR, "", "groups are nested too deeply; flatten them") from None
    return candidate


def with_enabled(current: Mapping[str, Any], rule: str, enabled: bool) -> dict[str, Any]:
    """`current` with the rule named `rule` switched on or off."""
    table = full_definitions(current)
    for item in table["rules"]:
        if item.get("name") == rule:
            item["enabled"] = enabled
            return table
    raise ConditionError(EDITOR, "", f'there is no rule "{rule}"; reload the page')


# --------------------------------------------------------------------------- reading

_DAYS = {
    "*": "every day",
    "1-5": "weekdays",
    "0,6": "weekends",
    "6,0": "weekends",
    "6-7": "weekends",
}
_WEEKDAYS = ("Sundays", "Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays")


def describe_schedule(cron: str) -> str:
    """A cron expression in words when it is a usual one ("weekdays at 10:00"), else itself."""
    parts = cron.split()
    if len(parts) != 5:
        return cron
    minute, hour, day, month, weekday = parts
    if not (minute.isdigit() and hour.isdigit()) or day != "*" or month != "*":
        return cron
    at = f"{int(hour):02d}:{int(minute):02d}"
    if weekday in _DAYS:
        return f"{_DAYS[weekday]} at {at}"
    if weekday.isdigit() and int(weekday) <= 7:
        return f"{_WEEKDAYS[int(weekday) % 7]} at {at}"
    return cron


def with_template_copied(item: Mapping[str, Any], body: Mapping[str, Any]) -> dict[str, Any]:
    """The rule `item` writing `body` (and `body_html`) itself instead of a shipped template,
    keys in the usual order (`templates.copied_body` gives them)."""
    copied = {k: v for k, v in item.items() if k not in ("template", "body", "body_html")}
    copied.update(body)
    return {key: copied[key] for key in [*RULE_KEYS, *copied] if key in copied}
