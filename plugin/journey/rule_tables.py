"""What every `[[<section>.rules]]` table must be before its own keys are read (outreach,
SLA): a table, with a name of a-z, 0-9, - and _, and no key its section does not know."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from plugin.journey.conditions import ConditionError

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
