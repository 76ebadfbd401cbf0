"""SLA rules read from a TOML file of their own (`journeydesk sla simulate --rules FILE`):
the `[sla]` table, written as `[[sla.rules]]` like in config.toml, validated exactly as
the config file's (`load_sla_rules`). A file of `journeydesk rules export` works too: its
`[journey]` and `[outreach]` tables are left aside."""

from __future__ import annotations

import tomllib
from pathlib import Path

from plugin.journey.conditions import ConditionError
from plugin.sla.rules import SlaRules, load_sla_rules

EXAMPLE = '[[sla.rules]] name = "purchase-moment" ... (docs/sla.md)'
OTHER_KINDS = {"journey", "outreach"}
"""What else a `journeydesk rules export` file holds."""


def load_rules_file(path: str | Path) -> SlaRules:
    """The rules of `path`; raises ConditionError naming the file, the key and the fix."""
    file = str(path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConditionError(file, "", "no such file; give the path of a TOML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConditionError(file, "", f"cannot be read ({exc}); check the path") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConditionError(file, "", f"not valid TOML ({exc}); fix the syntax") from None
    other = sorted(set(data) - {"sla"} - OTHER_KINDS)
    if other:
        raise ConditionError(
            file, ", ".join(other), f"unknown key; the file holds only SLA rules: {EXAMPLE}"
        )
    if "sla" not in data:
        raise ConditionError(file, "sla", f"missing; write each rule as {EXAMPLE}")
    if not isinstance(data["sla"], dict):
        raise ConditionError(file, "sla", f"must be a table; write each rule as {EXAMPLE}")
    return load_sla_rules(data["sla"], file=file)
