"""Which outreach rules are in force, and saving a new version of them.

The journey model's machinery (`plugin.journey.versions`): versions are `rule_sets` of
kind "outreach" holding the whole `[outreach]` table; the latest saved
version wins, else the config file's `[outreach]`, else the shipped rules (all disabled).
The config file is validated at start-up whatever the store holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from plugin.config import Config
from plugin.journey import versions
from plugin.journey.versions import Versioned, from_config, in_force
from plugin.outreach.rules import OutreachRules, load_rules
from plugin.store.rule_sets import RuleSet

KIND = "outreach"


OUTREACH: Versioned[OutreachRules] = Versioned(
    kind=KIND,
    label="outreach rules",
    build=lambda definitions, file: load_rules(definitions, file=file),
    section=lambda config: config.outreach,
    defines=lambda section: "rules" in section,
    file_definitions=lambda config: dict(config.outreach),
    from_file="the config file's rules",
    shipped="the shipped rules",
)


@dataclass(frozen=True)
class ActiveRules:
    rules: OutreachRules
    version: RuleSet | None
    origin: str
    """"admin" (a saved version), "config" (config.toml) or "default" (shipped)."""
    problem: str | None = None

    @property
    def version_number(self) -> int | None:
        return self.version.version if self.version else None

    def describe(self) -> str:
        if self.version:
            return f"outreach rules version {self.version.version}"
        return OUTREACH.describe(self.origin)


def config_rules(config: Config) -> OutreachRules:
    return from_config(config, OUTREACH)


def config_origin(config: Config) -> str:
    return versions.config_origin(config, OUTREACH)


def load_active_rules(db: Database, config: Config) -> ActiveRules:
    found = in_force(db, config, OUTREACH)
    return ActiveRules(found.value, found.version, found.origin, found.problem)


def save_rules(
    db: Database, definitions: dict[str, Any], *, created_by: str, note: str, now: int
) -> RuleSet:
    """Validate and save `definitions` (an `[outreach]` table) as the next version."""
    return versions.save(db, OUTREACH, definitions, created_by=created_by, note=note, now=now)


def restore_version(
    db: Database, config: Config, version: int, *, created_by: str, now: int
) -> RuleSet | None:
    """Save an old version (0: the config file's rules) again as the newest one."""
    return versions.restore(db, config, OUTREACH, version, created_by=created_by, now=now)
