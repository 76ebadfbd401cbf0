"""What every `[[<section>.rules]]` table must be before its own keys are read (outreach,
SLA): a table, with a name of a-z, 0-9, - and _, and no key its section does not know;
and an admin's text (one rule or the whole table, in the shape of `config.toml`) read back
into a validated table. Pure: no I/O, no Flask."""

from __future__ import annotations

import copy
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from plugin.journey.conditions import ConditionError
from plugin.journey.editing import EDITOR

RULE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def named_rule(
    item: Any, *, where: str, section: str, example: str, known: Iterable[str], listed: str
) -> tuple[str, str]:
    """(the rule's name, `where` naming it) for a rule table of `section`; raises
    ConditionError for anything else, `listed` telling the known keys."""
    if not isinstance(item, Mapping):
        raise ConditionError(where, "", f"write each rule as [[{section}.rules]]")
    name = item.get("name")
    if not isinstance(name, str) or not RULE_NAME.fullmatch(name):
        raise ConditionError(
            where, "name", f"each rule needs a name of a-z, 0-9, - and _, e.g. {example}"
        )
    where = f'{where} "{name}"'
    extra = set(item) - set(known)
    if extra:
        raise ConditionError(where, ", ".join(sorted(extra)), f"unknown key; known: {listed}")
    return name, where


# --------------------------------------------------------------------------- text in


@dataclass(frozen=True)
class RuleTable:
    """What the editor of one `[<section>]` table of rules needs to know about it."""

    section: str
    """"outreach", "sla"."""
    condition: str
    """The key of a rule's condition tree: "audience", "when"."""
    load: Callable[[Mapping[str, Any]], Any]
    """Validate a candidate table (raises ConditionError naming the editor)."""
    settings: tuple[str, ...] = ()
    """Keys of the table beside `rules` (the whole-table editor changes them)."""

    @property
    def whole(self) -> str:
        """How the admin names the whole-table editor."""
        return "all rules and settings" if self.settings else "all rules"


def candidate_rule_table(
    text: str, table: RuleTable, current: Mapping[str, Any], rule: str | None
) -> dict[str, Any]:
    """The table `current` (rules spelled out) would become with `text` replacing the rule
    named `rule` (or, with rule None, the whole table); validated. Raises ConditionError
    naming where in the text the problem is; nothing is changed."""
    section = table.section
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConditionError(EDITOR, "", f"this is not valid TOML: {exc}") from None
    extra = [key for key in data if key != section]
    if extra or section not in data:
        found = f"found {', '.join(extra)} " if extra else ""
        raise ConditionError(
            EDITOR,
            "",
            f"{found}— write the rule as in config.toml: a [[{section}.rules]] line, its keys, "
            f"then [{section}.rules.{table.condition}] with the conditions",
        )
    written = data[section]
    if rule is None:
        candidate = dict(written)
        candidate.setdefault("rules", [])
    else:
        candidate = _with_one_rule(written, table, current, rule)
    try:
        table.load(candidate)
    except RecursionError:  # the parsers recurse once per level of nesting
        raise ConditionError(EDITOR, "", "groups are nested too deeply; flatten them") from None
    return candidate


def _with_one_rule(
    written: Mapping[str, Any], table: RuleTable, current: Mapping[str, Any], rule: str
) -> dict[str, Any]:
    section = table.section
    items = written.get("rules") or []
    others = [key for key in written if key != "rules"]
    if others or not isinstance(items, list) or len(items) != 1:
        changes = ", ".join(table.settings)
        raise ConditionError(
            EDITOR,
            "",
            f"write exactly one [[{section}.rules]] here (this editor changes the rule "
            f'"{rule}"); edit {table.whole} to add or remove rules'
            + (f" or to change {changes}" if changes else ""),
        )
    new = items[0]
    if isinstance(new, Mapping) and new.get("name") != rule:
        raise ConditionError(
            EDITOR,
            "name",
            f'this editor changes the rule "{rule}": keep name = "{rule}" (to rename it, '
            f"edit {table.whole})",
        )
    candidate = copy.deepcopy(dict(current))
    names = [item.get("name") for item in candidate.get("rules") or []]
    if rule not in names:
        raise ConditionError(EDITOR, "", f'the rule "{rule}" no longer exists; reload the page')
    candidate["rules"][names.index(rule)] = dict(new)
    return candidate
