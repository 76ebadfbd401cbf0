"""Versions of what admins edit: one machinery for the journey model, outreach rules and,
next, SLA rules.

Each kind is a table of definitions (TOML in the config file, JSON in `rule_sets`). The one
in force is the latest version saved in the admin, else the config file's, else the shipped
default. The config file is validated every time, so a mistake in it stops start-up even
when the admin has saved versions since; a saved version that this release cannot read (it
names a fact since dropped) is set aside with the reason, and the file's definitions rule.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlite_utils import Database

from plugin.config import Config
from plugin.journey.conditions import ConditionError
from plugin.store.rule_sets import RuleSet, get_rule_set, latest_rule_set, save_rule_set

T = TypeVar("T")
log = logging.getLogger("journeydesk.versions")


@dataclass(frozen=True)
class Versioned(Generic[T]):
    """One kind of versioned definitions and how to read them."""

    kind: str
    """Its `rule_sets` kind."""
    label: str
    """What an admin calls it: "journey model", "outreach rules"."""
    build: Callable[[Mapping[str, Any], str], T]
    """Validate definitions and build the value (raises ConditionError naming the file)."""
    section: Callable[[Config], Mapping[str, Any]]
    """The config file's definitions."""
    defines: Callable[[Mapping[str, Any]], bool]
    """Whether a config section defines anything (else the shipped default applies)."""
    file_definitions: Callable[[Config], dict[str, Any]]
    """What restoring "version 0" (the config file's, or the default) saves."""
    from_file: str
    """How the admin names the config file's: "the config file's model"."""
    shipped: str
    """How the admin names the shipped default: "the shipped default"."""

    def describe(self, origin: str, version: RuleSet | None = None) -> str:
        if version is not None:
            return f"version {version.version}"
        return self.from_file if origin == "config" else self.shipped


@dataclass(frozen=True)
class InForce(Generic[T]):
    value: T
    version: RuleSet | None
    """The saved version in force; None when the config file or the default is."""
    origin: str
    """"admin" (a saved version), "config" (config.toml) or "default" (shipped)."""
    problem: str | None = None
    """Why the latest saved version could not be used, if it could not."""
    latest_id: int | None = None
    """The id of the latest saved version, usable or not (what processes compare)."""

    @property
    def version_number(self) -> int:
        """The saved version in force; 0 for the config file's (or the default)."""
        return self.version.version if self.version else 0


def from_config(config: Config, spec: Versioned[T]) -> T:
    return spec.build(spec.section(config), config.path)


def config_origin(config: Config, spec: Versioned[Any]) -> str:
    return "config" if spec.defines(spec.section(config)) else "default"


def in_force(db: Database, config: Config, spec: Versioned[T]) -> InForce[T]:
    base = from_config(config, spec)
    saved = latest_rule_set(db, spec.kind)
    if saved is None:
        return InForce(base, None, config_origin(config, spec))
    try:
        return InForce(of_version(spec, saved), saved, "admin", latest_id=saved.id)
    except ConditionError as exc:
        problem = f"{spec.label} version {saved.version} cannot be used ({exc})"
        log.error("%s; using the config file's instead", problem)
        return InForce(base, None, config_origin(config, spec), problem, latest_id=saved.id)


def of_version(spec: Versioned[T], saved: RuleSet) -> T:
    return spec.build(saved.definitions, f"{spec.label} version {saved.version}")


def save(
    db: Database,
    spec: Versioned[Any],
    definitions: dict[str, Any],
    *,
    created_by: str,
    note: str,
    now: int,
) -> RuleSet:
    """Validate and save `definitions` as the next version; raises ConditionError."""
    spec.build(definitions, "the new version")
    return save_rule_set(db, spec.kind, definitions, created_by=created_by, note=note, now=now)


def restore(
    db: Database, config: Config, spec: Versioned[Any], version: int, *, created_by: str, now: int
) -> RuleSet | None:
    """Save an old version (0: the config file's, or the shipped default) again as the
    newest one; None when there is no such version."""
    if version == 0:
        definitions = spec.file_definitions(config)
        note = f"restored {spec.describe(config_origin(config, spec))}"
    else:
        old = get_rule_set(db, spec.kind, version)
        if old is None:
            return None
        definitions, note = old.definitions, f"restored version {version}"
    return save(db, spec, definitions, created_by=created_by, note=note, now=now)
