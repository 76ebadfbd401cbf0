"""Stage and signal definitions (data, not code) and their evaluation.

`load_model` validates definitions once; `evaluate_customer` is pure: facts in, the
stage and signals out, each with the structured reasons that made it match.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from json.encoder import encode_basestring_ascii
from typing import Any

from plugin.journey.conditions import (
    Condition,
    ConditionError,
    Leaf,
    Reason,
    compile_condition,
    parse_condition,
)
from plugin.journey.facts import fact_specs
from plugin.store import dumps

DEFINITION_KEYS = {"key", "label", "labels", "description", "when"}
JOURNEY_ORDER = ("awareness", "consideration", "purchase", "service", "retention", "advocacy")
"""How the default stages follow each other, for display (evaluation order differs)."""


def journey_position(stage_key: str) -> int:
    return JOURNEY_ORDER.index(stage_key) if stage_key in JOURNEY_ORDER else len(JOURNEY_ORDER)


JOURNEY_PHASES = {
    "awareness": "pre-purchase",
    "consideration": "pre-purchase",
    "purchase": "purchase",
    "service": "purchase",
    "retention": "post-purchase",
    "advocacy": "post-purchase",
}
"""The phase each default stage belongs to (DESIGN §1): before, around and after buying."""


def phase_of(stage_key: str) -> str:
    """The phase of a stage; a stage of an admin's own is in no phase ("")."""
    return JOURNEY_PHASES.get(stage_key, "")


@dataclass(frozen=True)
class Definition:
    key: str
    label: str
    condition: Condition
    description: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    source: Mapping[str, Any] = field(default_factory=dict)

    def label_in(self, lang: str) -> str:
        return self.labels.get(lang, self.label)


@dataclass(frozen=True)
class JourneyModel:
    stages: tuple[Definition, ...]
    signals: tuple[Definition, ...]

    def stage(self, key: str) -> Definition | None:
        return next((s for s in self.stages if s.key == key), None)

    def signal(self, key: str) -> Definition | None:
        return next((s for s in self.signals if s.key == key), None)


@dataclass(frozen=True)
class Outcome:
    """One matched stage or signal and why."""

    key: str
    reasons: tuple[Reason, ...]


@dataclass(frozen=True)
class CustomerJourney:
    stage: Outcome
    signals: tuple[Outcome, ...]


def default_definitions() -> dict[str, Any]:
    """The shipped model, as the `[journey]` table of a config file."""
    text = resources.files("plugin.journey").joinpath("default_model.toml").read_text("utf-8")
    return tomllib.loads(text)["journey"]


def load_model(journey: Mapping[str, Any] | None, *, file: str) -> JourneyModel:
    """Validate `[journey]` definitions (or the default model when none are given).

    Raises ConditionError naming the file, the definition and the position in its tree.
    """
    journey = dict(journey or {})
    defaults = default_definitions()
    unknown = set(journey) - {"stages", "signals"}
    if unknown:
        raise ConditionError(
            f"{file}: journey",
            ", ".join(sorted(unknown)),
            "unknown key; only [[journey.stages]] and [[journey.signals]]",
        )
    stage_items = journey.get("stages") or defaults["stages"]
    signal_items = journey.get("signals") or defaults["signals"]
    stages = _definitions(stage_items, file=file, kind="stages", with_stage=False)
    signals = _definitions(signal_items, file=file, kind="signals", with_stage=True)
    return JourneyModel(stages, signals)


def _definitions(items: Any, *, file: str, kind: str, with_stage: bool) -> tuple[Definition, ...]:
    if not isinstance(items, list) or not items:
        raise ConditionError(
            f"{file}: journey.{kind}", "", f"write at least one [[journey.{kind}]]"
        )
    specs = fact_specs(with_stage=with_stage)
    seen: set[str] = set()
    result = []
    for index, item in enumerate(items):
        where = f"{file}: journey.{kind}[{index}]"
        if not isinstance(item, Mapping) or not item.get("key"):
            raise ConditionError(where, "key", 'each definition needs a key, e.g. key = "service"')
        where = f'{where} "{item["key"]}"'
        extra = set(item) - DEFINITION_KEYS
        if extra:
            raise ConditionError(
                where,
                ", ".join(sorted(extra)),
                f"unknown key; known: {', '.join(sorted(DEFINITION_KEYS))}",
            )
        if item["key"] in seen:
            raise ConditionError(where, "key", "used twice; keys must be unique")
        seen.add(item["key"])
        condition = parse_condition(item.get("when", {"all": []}), known_facts=specs, where=where)
        result.append(
            Definition(
                key=item["key"],
                label=item.get("label") or item["key"],
                condition=condition,
                description=item.get("description", ""),
                labels=dict(item.get("labels") or {}),
                source=dict(item),
            )
        )
    return tuple(result)


def evaluate_customer(model: JourneyModel, facts: Mapping[str, Any]) -> CustomerJourney:
    """The first matching stage (the last stage if none matches) and every matching signal."""
    stage_key, stage_reasons, signals = compiled_model(model)(facts)
    return CustomerJourney(
        Outcome(stage_key, stage_reasons),
        tuple(Outcome(key, reasons) for key, reasons in signals),
    )


EvaluatedJourney = tuple[str, tuple[Reason, ...], list[tuple[str, tuple[Reason, ...]]]]
"""(stage key, its reasons, [(signal key, its reasons), ...])."""

_compiled: dict[tuple[int, Any], tuple[JourneyModel, Any]] = {}


def compiled_model(
    model: JourneyModel, reason: Callable[[Leaf], Callable[[Any], Any]] | None = None
) -> Callable[[Mapping[str, Any]], EvaluatedJourney]:
    """`evaluate_customer` for one model as a function of the facts, without the result
    objects; its condition trees compiled once (the last few models' are kept). With
    `reason`, the reasons are what it makes of each matched leaf (see `compile_condition`).
    """
    cached = _compiled.get((id(model), reason))
    if cached is not None and cached[0] is model:
        return cached[1]
    stages = tuple((d.key, compile_condition(d.condition, reason)) for d in model.stages)
    signals = tuple(
        (d.key, f"signal:{d.key}", compile_condition(d.condition, reason)) for d in model.signals
    )
    last_stage = model.stages[-1].key

    def evaluate_journey(facts: Mapping[str, Any]) -> EvaluatedJourney:
        key, reasons = last_stage, ()
        for stage_key, test in stages:
            found = test(facts)
            if found is not None:
                key, reasons = stage_key, found
                break
        with_stage = {**facts, "stage": key}
        matched = []
        for signal_key, fact_name, test in signals:
            found = test(with_stage)
            if found is not None:
                matched.append((signal_key, found))
                with_stage[fact_name] = True
        return key, reasons, matched

    if len(_compiled) >= 8:
        _compiled.clear()
    _compiled[(id(model), reason)] = (model, evaluate_journey)
    return evaluate_journey


def reason_to_dict(reason: Reason) -> dict[str, Any]:
    return {
        "fact": reason.fact,
        "op": reason.op,
        "expected": reason.expected,
        "actual": reason.actual,
    }


def reason_from_dict(data: Mapping[str, Any]) -> Reason:
    expected = data.get("expected")
    if isinstance(expected, list):
        expected = tuple(expected)
    return Reason(data["fact"], data["op"], expected, data.get("actual"))


def json_reason(leaf: Leaf) -> Callable[[Any], str]:
    """A matched leaf's reason as `dumps(reason_to_dict(reason))` would write it: keys
    sorted (actual, expected, fact, op), no spaces."""
    rest = "," + dumps({"expected": leaf.value, "fact": leaf.fact, "op": leaf.op})[1:]

    def reason(actual: Any) -> str:
        kind = type(actual)
        if kind is int:
            return '{"actual":' + int.__repr__(actual) + rest
        if kind is str:
            return '{"actual":' + encode_basestring_ascii(actual) + rest
        return '{"actual":' + dumps(actual) + rest

    return reason


NEAREST_STAGES_EXPLAINED = 2
"""A stage matched without conditions (the fallback) is explained by the facts of this many
stages nearest to it on the journey: what the customer has and has not done."""


def explain_unconditional(
    model: JourneyModel, stage_key: str, facts: Mapping[str, Any]
) -> tuple[Reason, ...]:
    """Reasons for a stage that matched without any (the fallback, Awareness by default).

    The facts the nearest stages test, with the customer's values (``on the Free plan``,
    ``has not bought yet``, ``read nothing about Plans & pricing``): why the customer is in
    none of them. Each fact once, nearest stage first.
    """
    here = journey_position(stage_key)
    others = sorted(
        (s for s in model.stages if s.key != stage_key),
        key=lambda s: (abs(journey_position(s.key) - here), model.stages.index(s)),
    )
    reasons: dict[str, Reason] = {}
    for definition in others[:NEAREST_STAGES_EXPLAINED]:
        for leaf in _leaves(definition.condition):
            if leaf.fact == "stage" or leaf.fact.startswith("signal:"):
                continue
            actual = facts.get(leaf.fact)
            if actual is None and leaf.fact.startswith("read_category:"):
                actual = 0
            reasons.setdefault(leaf.fact, Reason(leaf.fact, "eq", None, actual))
    return tuple(reasons.values())


def _leaves(condition: Condition) -> list[Leaf]:
    if isinstance(condition, Leaf):
        return [condition]
    return [leaf for child in condition.children for leaf in _leaves(child)]
