"""Which journey model is in force, and saving a new one.

The active model is the latest version saved in the admin, else the `[journey]` definitions
of the config file, else the shipped default. The config file is validated every time, so
a bad definition in it stops start-up even when the admin has saved versions since.

Every process (web workers, the worker, the CLI) reads the active model from the store, so
a version saved through one web worker reaches the others: they compare the latest version
id now and then (`plugin.web.context.refresh_model`), the worker at each recompute.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from plugin.config import Config
from plugin.journey import versions
from plugin.journey.editing import definitions_of
from plugin.journey.facts import compute_facts
from plugin.journey.model import JourneyModel, load_model
from plugin.journey.preview import Preview, preview_models
from plugin.journey.versions import Versioned, from_config, in_force, of_version
from plugin.store.history import customer_aggregates
from plugin.store.journeys import count_computed_before
from plugin.store.rule_sets import RuleSet

KIND = "journey"


JOURNEY: Versioned[JourneyModel] = Versioned(
    kind=KIND,
    label="journey model",
    build=lambda definitions, file: load_model(definitions, file=file),
    section=lambda config: config.journey,
    defines=lambda section: bool(section.get("stages") or section.get("signals")),
    file_definitions=lambda config: definitions_of(config_model(config)),
    from_file="the config file's model",
    shipped="the shipped default",
)


@dataclass(frozen=True)
class ActiveModel:
    model: JourneyModel
    version: RuleSet | None
    """The saved version in force; None when the config file or the default is."""
    origin: str
    """"admin" (a saved version), "config" (config.toml) or "default" (shipped)."""
    problem: str | None = None
    """Why the latest saved version could not be used, if it could not."""
    latest_id: int | None = None
    """The id of the latest saved version, usable or not (what processes compare)."""

    @property
    def version_id(self) -> int | None:
        return self.version.id if self.version else None

    def describe(self) -> str:
        return JOURNEY.describe(self.origin, self.version)


def config_model(config: Config) -> JourneyModel:
    """The model the config file defines (or the default); raises ConditionError."""
    return from_config(config, JOURNEY)


def config_origin(config: Config) -> str:
    return versions.config_origin(config, JOURNEY)


def load_active_model(db: Database, config: Config) -> ActiveModel:
    found = in_force(db, config, JOURNEY)
    return ActiveModel(found.value, found.version, found.origin, found.problem, found.latest_id)


def version_model(saved: RuleSet) -> JourneyModel:
    return of_version(JOURNEY, saved)


def save_model(
    db: Database, definitions: dict[str, Any], *, created_by: str, note: str, now: int
) -> RuleSet:
    """Validate and save `definitions` as the next version; raises ConditionError."""
    return versions.save(db, JOURNEY, definitions, created_by=created_by, note=note, now=now)


def restore_version(
    db: Database, config: Config, version: int, *, created_by: str, now: int
) -> RuleSet | None:
    """Save an old version (0: the config file's model) again as the newest one."""
    return versions.restore(db, config, JOURNEY, version, created_by=created_by, now=now)


def model_fingerprint(model: JourneyModel) -> str:
    """What decides stages and signals (keys, order, conditions), as a short hash.

    Labels and descriptions are left out: they are read from the model when shown, so
    renaming a stage needs no recompute.
    """
    decisive = {
        kind: [[d["key"], d["when"]] for d in items]
        for kind, items in definitions_of(model).items()
    }
    text = json.dumps(decisive, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def stale_customers(db: Database, active: ActiveModel) -> int:
    """Customers whose stored journey may predate the active version (a recompute is due).

    Times are whole seconds, so a journey computed in the very second of the save may come
    from the old model: it counts as stale. `recompute_time` keeps new ones clear of it.
    """
    if active.version is None:
        return 0
    return count_computed_before(db, active.version.created_at + 1)


def recompute_time(active: ActiveModel, now: int) -> int:
    """The `now` a recompute with `active` evaluates at: at least a second after its save."""
    return max(now, active.version.created_at + 1) if active.version else now


def preview_change(db: Database, before: JourneyModel, after: JourneyModel, *, now: int) -> Preview:
    """`before` and `after` over every customer's current facts (aggregated in bulk, once)."""
    facts = {
        customer_id: compute_facts(aggregates, now)
        for customer_id, aggregates in customer_aggregates(db, None, now=now).items()
    }
    return preview_models(before, after, facts)
