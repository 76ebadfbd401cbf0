"""Rules as files: the journey model, SLA rules and outreach rules in force written as TOML
in the shape of `config.toml`, and such a file read back as new versions.

An export is diffable: stable key order, one definition per table, conditions one per
line (the one TOML writer, `plugin.journey.toml_text`). An import is checked exactly as an
edit of the whole model or of all rules in the admin (the same checks, the same `build`,
errors naming the file, the key and the fix), previewed as the admin previews it, and
saved through `plugin.journey.versions` like any admin save: all the file's changed kinds
in one transaction, or none.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from plugin.background.jobs import SavedModelRecompute, recompute_saved_model
from plugin.clock import iso
from plugin.config import Config
from plugin.errors import JourneydeskError
from plugin.journey import versions
from plugin.journey.active_model import JOURNEY, preview_change
from plugin.journey.conditions import ConditionError
from plugin.journey.editing import definitions_of, model_definitions, model_to_toml
from plugin.journey.preview import Preview
from plugin.journey.versions import InForce, Versioned, in_force
from plugin.outreach.active_rules import OUTREACH, ActiveRules
from plugin.outreach.editing import full_definitions, table_to_toml
from plugin.outreach.planning import RulePlan, template_refusal, trial_plans
from plugin.sla.active_rules import SLA
from plugin.sla.editing import table_of
from plugin.sla.editing import table_to_toml as sla_to_toml
from plugin.sla.what_if import WhatIf, what_if
from plugin.store import dumps
from plugin.store.customers import get_customer
from plugin.store.rule_sets import RuleSet, latest_rule_set_id

SPECS: dict[str, Versioned[Any]] = {"journey": JOURNEY, "sla": SLA, "outreach": OUTREACH}
"""The kinds a rules file holds, in the order it holds them (its top-level tables)."""
KIND_NAMES = tuple(SPECS)
WHAT_IF_DAYS = 30
"""How many days of tickets an import's SLA what-if runs over, unless told."""
WHAT_IF_SAMPLES = 10
EXAMPLE_TABLE = {
    "journey": "[[journey.stages]]",
    "sla": "[[sla.rules]]",
    "outreach": "[[outreach.rules]]",
}


class ChangedMeanwhile(JourneydeskError):
    """A kind got a new version between the preview and the save."""

    code = "changed_meanwhile"


# --------------------------------------------------------------------------- export


def definitions_in_force(config: Config, kind: str, found: InForce[Any]) -> dict[str, Any]:
    """The definitions in force as plain data, spelled out (the shipped ones written down)."""
    if kind == "journey":
        return definitions_of(found.value)
    if kind == "outreach":
        return full_definitions(found.version.definitions if found.version else config.outreach)
    return table_of(found.value)


def kind_to_toml(kind: str, definitions: Mapping[str, Any]) -> str:
    if kind == "journey":
        return model_to_toml(definitions)
    if kind == "sla":
        return sla_to_toml(definitions)
    return table_to_toml(definitions)


def describe_in_force(kind: str, found: InForce[Any]) -> str:
    """What is in force, for people: `version 3, saved 2026-11-19T10:00:00Z by alice` or
    `version 0, the shipped default`."""
    if found.version is None:
        what = SPECS[kind].describe(found.origin)
    else:
        what = f"saved {iso(found.version.created_at)} by {found.version.created_by}"
    text = f"version {found.version_number}, {what}"
    if found.problem:
        text += f" ({found.problem})"
    return text


def export_rules(db: Database, config: Config, kinds: tuple[str, ...], *, now: int) -> str:
    """The definitions of `kinds` in force as one TOML file; only its second line (the time)
    differs between two exports of the same versions."""
    header = ["# journeydesk rules: the definitions in force.", f"# Exported {iso(now)}."]
    blocks = []
    for kind in kinds:
        found = in_force(db, config, SPECS[kind])
        header.append(f"# {SPECS[kind].label}: {describe_in_force(kind, found)}")
        blocks.append(kind_to_toml(kind, definitions_in_force(config, kind, found)))
    header += [
        "# `journeydesk rules import FILE` saves what you change here as new versions, after a",
        "# preview; a kind left out of the file is not touched.",
    ]
    return "\n".join(header) + "\n\n" + "\n\n".join(block.rstrip("\n") for block in blocks) + "\n"


# --------------------------------------------------------------------------- import


@dataclass
class KindImport:
    """One kind of a rules file: what it would replace, and what an admin's preview shows."""

    kind: str
    current: InForce[Any]
    definitions: dict[str, Any]
    """The file's definitions, checked (what a new version would hold)."""
    value: Any
    """... built (a JourneyModel, SlaRules or OutreachRules)."""
    current_definitions: dict[str, Any]
    unchanged: bool
    journey_preview: Preview | None = None
    people: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Name and email of the customers in the journey preview's sample."""
    outreach_plans: list[RulePlan] = field(default_factory=list)
    sla_what_if: WhatIf | None = None
    """The SLA rules of the file against those in force, over the last days' tickets."""

    @property
    def spec(self) -> Versioned[Any]:
        return SPECS[self.kind]

    def rule_changes(self) -> list[tuple[str, str]]:
        """(name, "new" | "changed" | "moved" | "unchanged" | "removed") for each rule
        (stage and signal, for the journey model), the file's order then the removed."""
        pairs = _named_items(self.kind, self.definitions)
        old_pairs = _named_items(self.kind, self.current_definitions)
        old = dict(old_pairs)
        old_order = [name for name, _ in old_pairs if name in dict(pairs)]
        new_order = [name for name, _ in pairs if name in old]
        changes = []
        for name, item in pairs:
            if name not in old:
                changes.append((name, "new"))
            elif as_stored(item) != as_stored(old[name]):
                changes.append((name, "changed"))
            elif old_order.index(name) != new_order.index(name):
                changes.append((name, "moved"))
            else:
                changes.append((name, "unchanged"))
        changes += [(name, "removed") for name, _ in old_pairs if name not in dict(pairs)]
        return changes


def _named_items(kind: str, definitions: Mapping[str, Any]) -> list[tuple[str, Any]]:
    if kind == "journey":
        return [
            (f"{group[:-1]} {item['key']}", item)
            for group in ("stages", "signals")
            for item in definitions[group]
        ]
    return [(item["name"], item) for item in definitions.get("rules") or []]


@dataclass
class RulesImport:
    path: str
    kinds: list[KindImport]

    @property
    def changed(self) -> list[KindImport]:
        return [k for k in self.kinds if not k.unchanged]


@dataclass(frozen=True)
class ImportSaved:
    versions: list[RuleSet]
    recompute: SavedModelRecompute | None
    """The recompute a new journey model triggers (None when the model was not saved)."""


def read_rules_file(path: str) -> dict[str, Mapping[str, Any]]:
    """The kinds a rules file holds, by name; raises ConditionError naming the file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConditionError(path, "", f"cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ConditionError(path, "", "is not UTF-8 text; save it as UTF-8") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConditionError(path, "", f"this is not valid TOML: {exc}") from None
    unknown = [key for key in data if key not in SPECS]
    if unknown:
        raise ConditionError(
            path,
            ", ".join(unknown),
            "a rules file holds only [journey], [sla] and [outreach] tables (what "
            "`journeydesk rules export` writes); other settings stay in config.toml",
        )
    if not data:
        raise ConditionError(
            path,
            "",
            "holds no rules; write [[journey.stages]], [[sla.rules]] or [[outreach.rules]] "
            "tables (`journeydesk rules export` writes them all)",
        )
    for kind, table in data.items():
        if not isinstance(table, Mapping):
            raise ConditionError(path, kind, f"write it as tables, e.g. {EXAMPLE_TABLE[kind]}")
    return {kind: data[kind] for kind in SPECS if kind in data}


def checked_definitions(
    db: Database, config: Config, kind: str, table: Mapping[str, Any], *, file: str, now: int
) -> tuple[dict[str, Any], Any]:
    """A file's table of `kind` checked exactly as the admin checks a whole edit, as
    (definitions, built value); raises ConditionError naming `file`, the key and the fix."""
    spec = SPECS[kind]
    try:
        if kind == "journey":
            definitions = model_definitions(table, file=file)
            return definitions, spec.build(definitions, file)
        definitions = dict(table)
        if kind == "outreach":
            definitions.setdefault("rules", [])  # as the admin's editor: no rules is none
        value = spec.build(definitions, file)
    except RecursionError:  # the parsers recurse once per level of nesting
        raise ConditionError(file, kind, "groups are nested too deeply; flatten them") from None
    if kind == "sla":
        return table_of(value), value
    refusal = template_refusal(db, config, value, now=now)
    if refusal:
        raise ConditionError(file, "outreach.rules", refusal)
    return definitions, value


def plan_import(
    db: Database, config: Config, path: str, *, now: int, days: int = WHAT_IF_DAYS
) -> RulesImport:
    """Read, check and preview the rules file at `path` against the versions in force (the
    SLA what-if over the tickets of the last `days` days). Every kind is checked before any
    is previewed; nothing is written."""
    tables = read_rules_file(path)
    checked = {
        kind: checked_definitions(db, config, kind, table, file=path, now=now)
        for kind, table in tables.items()
    }
    kinds = []
    for kind, (definitions, value) in checked.items():
        found = in_force(db, config, SPECS[kind])
        current = definitions_in_force(config, kind, found)
        item = KindImport(
            kind, found, definitions, value, current, as_stored(definitions) == as_stored(current)
        )
        if not item.unchanged:
            _preview(db, config, item, now=now, days=days)
        kinds.append(item)
    return RulesImport(path, kinds)


def _preview(db: Database, config: Config, item: KindImport, *, now: int, days: int) -> None:
    """What the admin's editor shows before a save, for one kind."""
    if item.kind == "journey":
        item.journey_preview = preview_change(db, item.current.value, item.value, now=now)
        for change in item.journey_preview.sample:
            item.people[change.customer_id] = get_customer(db, change.customer_id) or {}
    elif item.kind == "outreach":
        active = ActiveRules(item.current.value, item.current.version, item.current.origin)
        item.outreach_plans = trial_plans(db, config, active, item.value, now=now)
    else:
        item.sla_what_if = what_if(
            db, config, item.value, days=days, current=item.current.value, samples=WHAT_IF_SAMPLES
        )


def save_import(
    db: Database, config: Config, plan: RulesImport, *, created_by: str, now: int
) -> ImportSaved:
    """Save every changed kind of `plan` as its next version, in one transaction, then
    recompute the customers when the journey model is one of them. Raises ChangedMeanwhile
    (nothing saved) when a kind got a version since the plan was made."""
    saved = []
    with db.atomic():
        for item in plan.changed:
            if latest_rule_set_id(db, item.spec.kind) != item.current.latest_id:
                raise ChangedMeanwhile(
                    f"the {item.spec.label} changed since this import was previewed; nothing "
                    "was saved: run the import again to see the file against it"
                )
            saved.append(
                versions.save(
                    db,
                    item.spec,
                    item.definitions,
                    created_by=created_by,
                    note=f"imported from {Path(plan.path).name}",
                    now=now,
                )
            )
    journey = any(version.kind == JOURNEY.kind for version in saved)
    recompute = recompute_saved_model(config, db, wait=True) if journey else None
    return ImportSaved(saved, recompute)


def as_stored(definitions: Any) -> Any:
    """`definitions` as a saved version reads them back (dates as text, tuples as lists):
    what "unchanged" compares."""
    return json.loads(dumps(definitions))
