"""Which SLA rules are in force, and saving a new version of them.

The journey model's machinery (`plugin.journey.versions`): versions are `rule_sets` of
kind "sla" holding the whole `[sla]` table; the latest saved version wins, else the config
file's `[sla]`, else none (no rule: tickets keep what the desk gave them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from plugin.config import Config
from plugin.journey import versions
from plugin.journey.versions import Versioned, in_force
from plugin.sla.rules import SlaRules, load_sla_rules
from plugin.store.rule_sets import RuleSet

KIND = "sla"

SLA: Versioned[SlaRules] = Versioned(
    kind=KIND,
    label="SLA rules",
    build=lambda definitions, file: load_sla_rules(definitions, file=file),
    section=lambda config: config.sla,
    defines=lambda section: "rules" in section,
    file_definitions=lambda config: dict(config.sla) or {"rules": []},
    from_file="the config file's SLA rules",
    shipped="no SLA rules",
)


@dataclass(frozen=True)
class ActiveSla:
    rules: SlaRules
    version: RuleSet | None
    origin: str
    """"admin" (a saved version), "config" (config.toml) or "default" (none)."""
    problem: str | None = None

    @property
    def version_number(self) -> int | None:
        """The saved version in force; 0 for the config file's (or no) rules."""
        return self.version.version if self.version else 0


def load_active_sla(db: Database, config: Config) -> ActiveSla:
    found = in_force(db, config, SLA)
    return ActiveSla(found.value, found.version, found.origin, found.problem)


def save_sla_rules(
    db: Database, definitions: dict[str, Any], *, created_by: str, note: str, now: int
) -> RuleSet:
    """Validate and save `definitions` (an `[sla]` table) as the next version."""
    return versions.save(db, SLA, definitions, created_by=created_by, note=note, now=now)


def restore_version(
    db: Database, config: Config, version: int, *, created_by: str, now: int
) -> RuleSet | None:
    """Save an old version (0: the config file's rules) again as the newest one."""
    return versions.restore(db, config, SLA, version, created_by=created_by, now=now)
