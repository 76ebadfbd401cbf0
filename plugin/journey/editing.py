"""Journey definitions as text an admin edits: TOML out, validated candidate models in.

The admin shows a stage, a signal or the whole model in the very shape of `config.toml`
(``[[journey.stages]]`` ...), so what an admin writes can be pasted into the file and the
other way round. Pure: no I/O, no Flask.
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from plugin.journey.conditions import (
    NO_VALUE_OPERATORS,
    OPERATORS_BY_TYPE,
    Condition,
    ConditionError,
    Group,
    Leaf,
    condition_to_dict,
)
from plugin.journey.facts import SIGNAL_FACT, STAGE_FACT, fact_specs
from plugin.journey.model import Definition, JourneyModel, load_model
from plugin.journey.toml_text import array_table, value_text

KINDS = ("stages", "signals")
KIND_WORDS = {"stages": "stage", "signals": "signal"}
EDITOR = "your text"
"""How errors name the place the text came from (in place of a file name)."""

DEFINITION_ORDER = ("key", "label", "labels", "description")
_OP_WORDS = {
    "eq": "=",
    "ne": "≠",
    "lt": "<",
    "lte": "≤",
    "gt": ">",
    "gte": "≥",
    "in": "is one of",
    "not_in": "is none of",
    "contains": "contains",
    "exists": "is set",
    "not_exists": "is not set",
}


@dataclass(frozen=True)
class Scope:
    """What an edit replaces: one definition (``kind`` + ``key``) or the whole model."""

    kind: str | None = None
    key: str | None = None

    @property
    def whole_model(self) -> bool:
        return self.kind is None


# --------------------------------------------------------------------------- definitions


def definitions_of(model: JourneyModel) -> dict[str, list[dict[str, Any]]]:
    """The model as plain data (the `[journey]` table shape), JSON- and TOML-ready."""
    return {
        "stages": [definition_dict(d) for d in model.stages],
        "signals": [definition_dict(d) for d in model.signals],
    }


def definition_dict(definition: Definition) -> dict[str, Any]:
    out: dict[str, Any] = {"key": definition.key, "label": definition.label}
    if definition.labels:
        out["labels"] = dict(definition.labels)
    if definition.description:
        out["description"] = definition.description
    out["when"] = condition_to_dict(definition.condition)
    return out


def find_definition(
    definitions: Mapping[str, Any], kind: str, key: str
) -> tuple[int, dict[str, Any]] | None:
    for index, item in enumerate(definitions.get(kind) or []):
        if item.get("key") == key:
            return index, item
    return None


# --------------------------------------------------------------------------- TOML out


def model_to_toml(definitions: Mapping[str, Any]) -> str:
    """Every stage, then every signal, as `config.toml` blocks."""
    blocks = ["# Stages: the first whose conditions match wins, so order matters."]
    blocks += [definition_to_toml("stages", item) for item in definitions.get("stages") or []]
    blocks.append("# Signals: zero or more per customer, shown as badges beside the stage.")
    blocks += [definition_to_toml("signals", item) for item in definitions.get("signals") or []]
    return "\n\n".join(blocks) + "\n"


def definition_to_toml(kind: str, item: Mapping[str, Any]) -> str:
    return array_table(f"journey.{kind}", item, DEFINITION_ORDER, "when")


# --------------------------------------------------------------------------- text in


def candidate_definitions(
    text: str, scope: Scope, current: Mapping[str, Any]
) -> dict[str, list[dict[str, Any]]]:
    """The definitions `current` would become with `text` applied to `scope`, validated.

    Raises ConditionError naming where in the text the problem is; nothing is changed.
    """
    try:
        journey = _journey_table(text)
        if scope.whole_model:
            candidate = _whole_model(journey, file=EDITOR)
        else:
            candidate = _one_definition(journey, scope, current)
        return checked_definitions(candidate, file=EDITOR)
    except RecursionError:  # the parsers recurse once per level of nesting
        raise ConditionError(EDITOR, "", "groups are nested too deeply; flatten them") from None


def model_definitions(journey: Mapping[str, Any], *, file: str) -> dict[str, list[dict[str, Any]]]:
    """A whole `[journey]` table (a file's), checked as the admin's editor checks it: at
    least one stage and one signal, text where text goes, a valid model. Raises
    ConditionError naming `file`."""
    unknown = [key for key in journey if key not in KINDS]
    if unknown:
        raise ConditionError(
            file, f"journey.{unknown[0]}", "unknown table; use journey.stages or journey.signals"
        )
    try:
        return checked_definitions(_whole_model(journey, file=file), file=file)
    except RecursionError:
        raise ConditionError(file, "", "groups are nested too deeply; flatten them") from None


def checked_definitions(
    candidate: Mapping[str, Any], *, file: str
) -> dict[str, list[dict[str, Any]]]:
    _check_plain_fields(candidate, file=file)
    return definitions_of(load_model(candidate, file=file))


def _journey_table(text: str) -> dict[str, Any]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConditionError(EDITOR, "", f"this is not valid TOML: {exc}") from None
    extra = [key for key in data if key != "journey"]
    if extra or "journey" not in data:
        found = f"found {', '.join(extra)} " if extra else ""
        raise ConditionError(
            EDITOR,
            "",
            f"{found}— write definitions as in config.toml: a [[journey.stages]] or "
            "[[journey.signals]] line, its keys, then [journey.stages.when] with the conditions",
        )
    journey = data["journey"]
    unknown = [key for key in journey if key not in KINDS]
    if unknown:
        raise ConditionError(
            EDITOR, f"journey.{unknown[0]}", "unknown table; use journey.stages or journey.signals"
        )
    return journey


def _whole_model(journey: Mapping[str, Any], *, file: str) -> dict[str, Any]:
    for kind in KINDS:
        if not journey.get(kind) or not isinstance(journey[kind], list):
            raise ConditionError(file, f"journey.{kind}", f"write at least one [[journey.{kind}]]")
    return {kind: list(journey[kind]) for kind in KINDS}


def _one_definition(
    journey: Mapping[str, Any], scope: Scope, current: Mapping[str, Any]
) -> dict[str, Any]:
    kind = scope.kind or "stages"
    other = next((k for k in KINDS if k != kind), "signals")
    items = journey.get(kind) or []
    if journey.get(other) or len(items) != 1:
        raise ConditionError(
            EDITOR,
            "",
            f"write exactly one [[journey.{kind}]] here (this editor changes the "
            f'{KIND_WORDS[kind]} "{scope.key}"); edit the whole model to add or remove '
            "definitions",
        )
    candidate = copy.deepcopy({k: list(current.get(k) or []) for k in KINDS})
    found = find_definition(candidate, kind, scope.key or "")
    if found is None:
        raise ConditionError(
            EDITOR, "", f'the {KIND_WORDS[kind]} "{scope.key}" no longer exists; reload the page'
        )
    candidate[kind][found[0]] = dict(items[0])
    return candidate


def _check_plain_fields(candidate: Mapping[str, Any], *, file: str) -> None:
    """Labels and descriptions must be text (the engine does not look at them)."""
    for kind in KINDS:
        for index, item in enumerate(candidate[kind]):
            if not isinstance(item, Mapping):
                continue  # load_model says what it must be
            where = f'{file}: journey.{kind}[{index}] "{item.get("key")}"'
            for name in ("key", "label", "description"):
                if name in item and not isinstance(item[name], str):
                    raise ConditionError(where, name, f'write it as text: {name} = "..."')
            labels = item.get("labels", {})
            if not isinstance(labels, Mapping) or not all(
                isinstance(v, str) for v in labels.values()
            ):
                raise ConditionError(where, "labels", 'write it like labels = { es = "..." }')


# --------------------------------------------------------------------------- reading


def describe_condition(condition: Condition) -> str:
    """One line an admin reads at a glance: ``days_since_purchase ≤ 7 or (plan = "trial" ...)``."""
    if isinstance(condition, Leaf):
        return _describe_leaf(condition)
    if not condition.children:
        return "always (catch-all)" if condition.kind == "all" else "never"
    joiner = " and " if condition.kind == "all" else " or "
    parts = []
    for child in condition.children:
        text = describe_condition(child)
        nested = isinstance(child, Group) and len(child.children) > 1
        parts.append(f"({text})" if nested else text)
    return joiner.join(parts)


def _describe_leaf(leaf: Leaf) -> str:
    words = _OP_WORDS.get(leaf.op, leaf.op)
    if leaf.op in NO_VALUE_OPERATORS:
        return f"{leaf.fact} {words}"
    return f"{leaf.fact} {words} {value_text(condition_to_dict(leaf).get('value'))}"


def fact_catalogue() -> list[dict[str, Any]]:
    """Every fact a definition can test, for the admin's reference table and the docs."""
    rows = []
    for spec in fact_specs(with_stage=True).values():
        rows.append(
            {
                "name": spec.display_name,
                "type": spec.type,
                "description": spec.description,
                "operators": OPERATORS_BY_TYPE[spec.type],
                "signals_only": spec in (STAGE_FACT, SIGNAL_FACT),
            }
        )
    return rows


def facts_markdown() -> str:
    """The facts table of docs/journey.md, generated from the catalogue."""
    lines = ["| fact | type | what it is | operators |", "|---|---|---|---|"]
    for row in fact_catalogue():
        what = row["description"] + (" (signals only)" if row["signals_only"] else "")
        operators = " ".join(row["operators"])
        lines.append(f"| `{row['name']}` | {row['type']} | {what} | {operators} |")
    return "\n".join(lines)
