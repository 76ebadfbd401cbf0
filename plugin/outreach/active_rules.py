"""Which outreach rules are in force, and saving a new version of them.

The same machinery as the journey model (`plugin.journey.active_model`): versions are
`rule_sets` of kind "outreach" holding the whole `[outreach]` table; the latest saved
version wins, else the config file's `[outreach]`, else the shipped rules (all disabled).
The config file is validated at start-up whatever the store holds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from plugin.config import Config
from plugin.journey.conditions import ConditionError
from plugin.outreach.rules import OutreachRules, load_rules
from plugin.store.rule_sets import RuleSet, get_rule_set, latest_rule_set, save_rule_set

KIND = "outreach"
log = logging.getLogger("journeydesk.outreach")


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
        return "the config file's rules" if self.origin == "config" else "the shipped rules"


def config_rules(config: Config) -> OutreachRules:
    return load_rules(config.outreach, file=config.path)


def config_origin(config: Config) -> str:
    return "config" if "rules" in config.outreach else "default"


def load_active_rules(db: Database, config: Config) -> ActiveRules:
    base = config_rules(config)
    saved = latest_rule_set(db, KIND)
    if saved is None:
        return ActiveRules(base, None, config_origin(config))
    try:
        rules = load_rules(saved.definitions, file=f"outreach rules version {saved.version}")
        return ActiveRules(rules, saved, "admin")
    except ConditionError as exc:  # saved by an older release that knew other facts
        problem = f"outreach rules version {saved.version} cannot be used ({exc})"
        log.error("%s; using the config file's rules instead", problem)
        return ActiveRules(base, None, config_origin(config), problem)


def save_rules(
    db: Database, definitions: dict[str, Any], *, created_by: str, note: str, now: int
) -> RuleSet:
    """Validate and save `definitions` (an `[outreach]` table) as the next version."""
    load_rules(definitions, file="the new version")
    return save_rule_set(db, KIND, definitions, created_by=created_by, note=note, now=now)


def restore_version(
    db: Database, config: Config, version: int, *, created_by: str, now: int
) -> RuleSet | None:
    """Save an old version (0: the config file's rules) again as the newest one."""
    if version == 0:
        definitions, note = dict(config.outreach), "restored the config file's rules"
    else:
        old = get_rule_set(db, KIND, version)
        if old is None:
            return None
        definitions, note = old.definitions, f"restored version {version}"
    return save_rules(db, definitions, created_by=created_by, note=note, now=now)
