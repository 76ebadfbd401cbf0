"""Condition trees: the Zendesk-trigger-like rules behind stages, signals, outreach and SLA.

A tree is the TOML/JSON shape admins write::

    all = [ { fact = "days_since_purchase", op = "lte", value = 45 },
            { any = [ { fact = "plan", op = "eq", value = "trial" }, ... ] } ]

`parse_condition` validates it against the fact catalogue once (at start-up or when an admin
saves), so a typo is a `ConditionError` naming the file, rule, position and fix — never a rule
that silently stops matching. `evaluate` is then total: whatever values the facts hold (missing,
None, text where a number was expected, naive or aware datetimes) it answers matched or not,
with the reasons (the leaves that matched and the customer's actual values).

Semantics worth knowing when writing rules:
- A missing fact (absent or None) matches only ``not_exists``; ``ne`` and ``not_in`` need a
  value too (no plan is not evidence of "plan is not trial"). Write
  ``any = [ { fact = "plan", op = "not_exists" }, { fact = "plan", op = "ne", value = "trial" } ]``
  when a missing value should count.
- A value of another type than expected never matches (a boolean is not a number, "5" is not 5).
- Text compares case-insensitively (``eq``, ``in``, ``contains``); ``contains`` on text is a
  substring test, on a list a membership test; ``in`` / ``not_in`` on a list fact mean "has any
  of" / "has none of".
- Dates compare with dates: a plain date against a datetime compares by day, a naive datetime
  is UTC, and an ISO string fact value is read as a date when compared with one.
"""

from __future__ import annotations

import difflib
import math
import numbers
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal

_COMPARISONS = ("eq", "ne", "lt", "lte", "gt", "gte")
LIST_OPERATORS = ("in", "not_in")
NO_VALUE_OPERATORS = ("exists", "not_exists")
OPERATORS = (*_COMPARISONS, *LIST_OPERATORS, "contains", *NO_VALUE_OPERATORS)
GROUPS = ("all", "any")
FACT_TYPES = ("number", "string", "boolean", "date", "list", "any")
LEAF_KEYS = ("fact", "op", "value")

# Which operators make sense for each fact type; anything else is a configuration error.
OPERATORS_BY_TYPE: Mapping[str, tuple[str, ...]] = {
    "number": (*_COMPARISONS, *LIST_OPERATORS, *NO_VALUE_OPERATORS),
    "date": (*_COMPARISONS, *LIST_OPERATORS, *NO_VALUE_OPERATORS),
    "string": ("eq", "ne", "in", "not_in", "contains", "exists", "not_exists"),
    "boolean": ("eq", "ne", "exists", "not_exists"),
    "list": ("contains", "in", "not_in", "exists", "not_exists"),
    # Custom attributes from a desk may hold text, numbers or flags: every operator applies.
    "any": OPERATORS,
}


@dataclass(frozen=True)
class FactSpec:
    """A fact the catalogue can compute.

    With ``prefix=True`` the name is a family: ``FactSpec("read_category", ..., prefix=True)``
    accepts ``read_category:Billing``, ``read_category:Setup``, ...
    """

    name: str
    type: str
    description: str = ""
    prefix: bool = False

    def __post_init__(self) -> None:
        if self.type not in FACT_TYPES:
            raise ValueError(f"FactSpec {self.name!r}: type must be one of {FACT_TYPES}")

    @property
    def display_name(self) -> str:
        return f"{self.name}:<name>" if self.prefix else self.name


@dataclass(frozen=True)
class Leaf:
    """One comparison: ``fact op value`` (``value`` is None for exists/not_exists)."""

    fact: str
    op: str
    value: Any = None


@dataclass(frozen=True)
class Group:
    """``all`` (conjunction) or ``any`` (disjunction) of children; may be empty."""

    kind: Literal["all", "any"]
    children: tuple[Condition, ...] = ()


Condition = Leaf | Group


@dataclass(frozen=True)
class Reason:
    """Why a leaf matched, kept structured so it can be rendered in any language."""

    fact: str
    op: str
    expected: Any
    actual: Any


@dataclass(frozen=True)
class Match:
    """The outcome of `evaluate`; ``reasons`` is empty unless ``matched``."""

    matched: bool
    reasons: tuple[Reason, ...] = ()


class ConditionError(ValueError):
    """A condition tree that cannot be used; says where, at which position, and the fix."""

    def __init__(self, where: str, path: str, message: str) -> None:
        super().__init__(where, path, message)
        self.where = where
        self.path = path
        self.message = message

    def __str__(self) -> str:
        return ": ".join(part for part in (self.where, self.path, self.message) if part)


# --------------------------------------------------------------------------- parsing


def parse_condition(
    tree: Mapping[str, Any],
    *,
    known_facts: Mapping[str, FactSpec],
    where: str,
    root: str = "when",
) -> Condition:
    """Validate ``tree`` against ``known_facts`` and return its immutable `Condition`.

    ``where`` names the rule for error messages (``config.toml: journey.stages[3] "service"``)
    and ``root`` is the key the tree sits under (``when``, ``audience``).
    """
    return _Parser(known_facts, where).node(tree, root)


@dataclass(frozen=True)
class _Parser:
    known_facts: Mapping[str, FactSpec]
    where: str

    def error(self, path: str, message: str) -> ConditionError:
        return ConditionError(self.where, path, message)

    def node(self, node: Any, path: str) -> Condition:
        if not isinstance(node, Mapping):
            raise self.error(
                path,
                f"expected a condition like {{ fact = ..., op = ..., value = ... }} or a group "
                f"{{ all = [...] }} / {{ any = [...] }}, got {_show(node)}",
            )
        if any(key in node for key in GROUPS):
            return self.group(node, path)
        if any(key in node for key in LEAF_KEYS):
            return self.leaf(node, path)
        if not node:
            raise self.error(path, "empty condition; write all = [] to always match")
        key = next(iter(node))
        raise self.error(
            f"{path}.{key}",
            f"unknown key {_show(key)}{_did_you_mean(str(key), GROUPS + LEAF_KEYS)} A condition "
            "is a group { all = [...] } / { any = [...] } or { fact = ..., op = ..., value = ... }",
        )

    def group(self, node: Mapping[str, Any], path: str) -> Group:
        kinds = [key for key in GROUPS if key in node]
        if len(kinds) > 1:
            raise self.error(
                path,
                'a group takes one of "all" or "any", not both; nest one inside the other: '
                "{ all = [ ..., { any = [...] } ] }",
            )
        kind = kinds[0]
        for key in node:
            if key != kind:
                raise self.error(
                    f"{path}.{key}",
                    f"unknown key {_show(key)} beside {_show(kind)}; a group holds only its list "
                    f"of conditions (wrap leaves in it: {kind} = [ {{ fact = ..., ... }} ])",
                )
        children = node[kind]
        if not isinstance(children, list | tuple):
            raise self.error(
                f"{path}.{kind}", f"expected a list of conditions, got {_show(children)}"
            )
        return Group(
            kind,
            tuple(self.node(child, f"{path}.{kind}[{i}]") for i, child in enumerate(children)),
        )

    def leaf(self, node: Mapping[str, Any], path: str) -> Leaf:
        for key in node:
            if key not in LEAF_KEYS:
                raise self.error(
                    f"{path}.{key}",
                    f"unknown key {_show(key)}{_did_you_mean(str(key), LEAF_KEYS)} "
                    "A condition has the keys fact, op and value",
                )
        fact, spec = self.fact(node, path)
        op = self.op(node, path, fact, spec)
        return Leaf(fact, op, self.value(node, path, op, spec))

    def fact(self, node: Mapping[str, Any], path: str) -> tuple[str, FactSpec]:
        if "fact" not in node:
            raise self.error(path, f"missing fact; known facts: {self.known_list()}")
        name = node["fact"]
        if not isinstance(name, str):
            raise self.error(f"{path}.fact", f"fact must be a string, got {_show(name)}")
        spec = find_fact(name, self.known_facts)
        if spec is None:
            raise self.error(f"{path}.fact", self.unknown_fact_message(name))
        return name, spec

    def unknown_fact_message(self, name: str) -> str:
        head, colon, tail = name.partition(":")
        family = next((s for s in self.known_facts.values() if s.prefix and s.name == head), None)
        if family is not None:
            return (
                f'fact "{family.name}" needs a name after the colon, e.g. '
                f'"{family.name}:<name>"; known facts: {self.known_list()}'
            )
        suggestion = self.suggest_fact(head, tail) if colon else ""
        if not suggestion:
            names = [spec.display_name for spec in self.known_facts.values()]
            suggestion = _did_you_mean(name, names)
        return f"unknown fact {_show(name)}{suggestion} Known facts: {self.known_list()}"

    def suggest_fact(self, head: str, tail: str) -> str:
        families = [s.name for s in self.known_facts.values() if s.prefix]
        close = difflib.get_close_matches(head, families, n=1)
        return f' — did you mean "{close[0]}:{tail}"?' if close else ""

    def known_list(self) -> str:
        return ", ".join(sorted(spec.display_name for spec in self.known_facts.values()))

    def op(self, node: Mapping[str, Any], path: str, fact: str, spec: FactSpec) -> str:
        allowed = OPERATORS_BY_TYPE[spec.type]
        if "op" not in node:
            raise self.error(path, f"missing op; {_show(fact)} takes: {', '.join(allowed)}")
        op = node["op"]
        if not isinstance(op, str) or op not in OPERATORS:
            raise self.error(
                f"{path}.op",
                f"unknown operator {_show(op)}{_did_you_mean(str(op), OPERATORS)} "
                f"Operators: {', '.join(OPERATORS)}",
            )
        if op not in allowed:
            raise self.error(
                f"{path}.op",
                f'operator "{op}" does not apply to the {spec.type} fact {_show(fact)}; '
                f"use one of: {', '.join(allowed)}",
            )
        return op

    def value(self, node: Mapping[str, Any], path: str, op: str, spec: FactSpec) -> Any:
        if op in NO_VALUE_OPERATORS:
            if "value" in node:
                raise self.error(f"{path}.value", f'"{op}" takes no value; remove value')
            return None
        if "value" not in node:
            raise self.error(path, f'operator "{op}" needs a value: {_value_hint(op, spec)}')
        value = node["value"]
        if op in LIST_OPERATORS:
            return self.value_list(value, f"{path}.value", op, spec)
        return self.scalar(value, f"{path}.value", op, spec)

    def value_list(self, value: Any, path: str, op: str, spec: FactSpec) -> tuple[Any, ...]:
        if not isinstance(value, list | tuple) or not value:
            raise self.error(
                path,
                f'"{op}" takes a non-empty list, e.g. {_value_hint(op, spec)}; got {_show(value)}',
            )
        return tuple(self.scalar(item, f"{path}[{i}]", op, spec) for i, item in enumerate(value))

    def scalar(self, value: Any, path: str, op: str, spec: FactSpec) -> Any:
        # A list fact is compared element-wise (contains, in, not_in), so values are elements.
        expected = "list element" if spec.type in ("list", "any") else spec.type
        normalized = _normalize_scalar(value, expected)
        if normalized is _INVALID:
            raise self.error(
                path,
                f'"{op}" on the {spec.type} fact {_show(spec.display_name)} needs '
                f"{_TYPE_WORDS[expected]}, got {_show(value)}{_type_fix(value, expected)}",
            )
        return normalized


def find_fact(name: str, known_facts: Mapping[str, FactSpec]) -> FactSpec | None:
    """The spec computing ``name``: an exact fact, or a family for ``family:<param>``."""
    spec = known_facts.get(name)
    if spec is not None and not spec.prefix:
        return spec
    head, colon, tail = name.partition(":")
    if not colon or not tail.strip():
        return None
    for spec in known_facts.values():
        if spec.prefix and spec.name == head:
            return spec
    return None


_INVALID = object()
_TYPE_WORDS = {
    "number": "a number",
    "string": "a string",
    "boolean": "true or false",
    "date": 'a date (2026-01-31 or "2026-01-31T09:00:00Z")',
    "list element": "a string, number or boolean",
}


def _normalize_scalar(value: Any, expected: str) -> Any:
    """``value`` as stored in a `Leaf` when it fits ``expected``, else ``_INVALID``."""
    if expected == "number":
        return value if _is_finite_number(value) else _INVALID
    if expected == "string":
        return value if isinstance(value, str) else _INVALID
    if expected == "boolean":
        return value if isinstance(value, bool) else _INVALID
    if expected == "date":
        parsed = _as_date(value)
        return _INVALID if parsed is None else parsed
    if isinstance(value, str | bool) or _is_finite_number(value):
        return value
    return _INVALID


def _type_fix(value: Any, expected: str) -> str:
    if expected == "number" and isinstance(value, str):
        return f"; write {value.strip()} without quotes" if _looks_numeric(value) else ""
    if expected == "boolean" and isinstance(value, str) and value.lower() in ("true", "false"):
        return f"; write {value.lower()} without quotes"
    if expected == "string" and _is_number(value):
        return f'; write "{value}" in quotes'
    return ""


def _looks_numeric(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _value_hint(op: str, spec: FactSpec) -> str:
    sample = {"number": "45", "string": '"trial"', "boolean": "true", "date": "2026-01-31"}
    one = sample.get(spec.type, '"vip"')
    value = f"[{one}, ...]" if op in LIST_OPERATORS else one
    return f'{{ fact = "{spec.display_name}", op = "{op}", value = {value} }}'


def _did_you_mean(word: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1)
    return f' — did you mean "{close[0]}"?' if close else "."


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --------------------------------------------------------------------------- evaluation


def evaluate(condition: Condition, facts: Mapping[str, Any]) -> Match:
    """Whether ``facts`` satisfy ``condition``, with the reasons. Never raises on fact values.

    ``all`` stops at the first failing child and, when matched, returns every matched leaf;
    ``any`` returns the reasons of its first matching branch.
    """
    if isinstance(condition, Leaf):
        return _evaluate_leaf(condition, facts)
    if condition.kind == "all":
        reasons: list[Reason] = []
        for child in condition.children:
            result = evaluate(child, facts)
            if not result.matched:
                return Match(False)
            reasons.extend(result.reasons)
        return Match(True, tuple(reasons))
    for child in condition.children:
        result = evaluate(child, facts)
        if result.matched:
            return result
    return Match(False)


def _evaluate_leaf(leaf: Leaf, facts: Mapping[str, Any]) -> Match:
    actual = facts.get(leaf.fact)
    if not _apply(leaf.op, actual, leaf.value):
        return Match(False)
    return Match(True, (Reason(leaf.fact, leaf.op, leaf.value, actual),))


def _apply(op: str, actual: Any, expected: Any) -> bool:
    """``actual op expected``; a missing value or a type mismatch is a non-match."""
    if op == "exists":
        return actual is not None
    if op == "not_exists":
        return actual is None
    if actual is None:
        return False
    try:
        return bool(_OPERATIONS[op](actual, expected))
    except (TypeError, ValueError, ArithmeticError, RecursionError):
        return False


def _equal(actual: Any, expected: Any) -> bool:
    actual = _coerce_like(actual, expected)
    kind = _kind(actual)
    if kind is None or kind != _kind(expected):
        return False
    if kind == "string":
        return actual.casefold() == expected.casefold()
    if kind == "date":
        left, right = _date_pair(actual, expected)
        return left == right
    if kind == "list":
        actual, expected = list(actual), list(expected)
        return len(actual) == len(expected) and all(map(_equal, actual, expected))
    return actual == expected


def _same_kind(actual: Any, expected: Any) -> bool:
    kind = _kind(_coerce_like(actual, expected))
    return kind is not None and kind == _kind(expected)


def _not_equal(actual: Any, expected: Any) -> bool:
    return _same_kind(actual, expected) and not _equal(actual, expected)


def _ordered(compare: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def check(actual: Any, expected: Any) -> bool:
        actual = _coerce_like(actual, expected)
        if _is_number(actual) and _is_number(expected):
            return compare(actual, expected)
        if _kind(actual) == "date" and _kind(expected) == "date":
            return compare(*_date_pair(actual, expected))
        return False

    return check


def _is_in(actual: Any, expected: tuple[Any, ...]) -> bool:
    values = list(actual) if _kind(actual) == "list" else [actual]
    return any(_equal(value, item) for value in values for item in expected)


def _not_in(actual: Any, expected: tuple[Any, ...]) -> bool:
    if _kind(actual) == "list":
        return not _is_in(actual, expected)
    return any(_same_kind(actual, item) for item in expected) and not _is_in(actual, expected)


def _contains(actual: Any, expected: Any) -> bool:
    if isinstance(actual, str):
        return isinstance(expected, str) and expected.casefold() in actual.casefold()
    if _kind(actual) == "list":
        return any(_equal(item, expected) for item in actual)
    return False


_OPERATIONS: Mapping[str, Callable[[Any, Any], bool]] = {
    "eq": _equal,
    "ne": _not_equal,
    "lt": _ordered(operator.lt),
    "lte": _ordered(operator.le),
    "gt": _ordered(operator.gt),
    "gte": _ordered(operator.ge),
    "in": _is_in,
    "not_in": _not_in,
    "contains": _contains,
}


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real | Decimal) and not isinstance(value, bool)


def _is_finite_number(value: Any) -> bool:
    if isinstance(value, int) or not _is_number(value):
        return _is_number(value)
    try:
        return math.isfinite(value)
    except (TypeError, ValueError, ArithmeticError):  # Decimal("sNaN") refuses float()
        return False


def _kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return "boolean"
    if _is_number(value):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, date):
        return "date"
    if isinstance(value, list | tuple | set | frozenset):
        return "list"
    return None


def _coerce_like(actual: Any, expected: Any) -> Any:
    """An ISO string fact compared with a date is read as that date."""
    if isinstance(expected, date) and isinstance(actual, str):
        parsed = _as_date(actual)
        return actual if parsed is None else parsed
    return actual


def _as_date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        return None
    for parse in (date.fromisoformat, datetime.fromisoformat):
        try:
            return parse(value)
        except ValueError:
            continue
    return None


def _date_pair(left: date, right: date) -> tuple[date, date]:
    """Make two dates comparable: day precision if either is a plain date, naive = UTC."""
    if not isinstance(left, datetime) or not isinstance(right, datetime):
        return _day(left), _day(right)
    return _aware(left), _aware(right)


def _day(value: date) -> date:
    return value.date() if isinstance(value, datetime) else value


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# --------------------------------------------------------------------------- compiled evaluation

Compiled = Callable[[Mapping[str, Any]], "tuple[Reason, ...] | None"]
"""A condition made a function: the reasons when ``facts`` match (maybe ``()``), else None."""

_ORDERED_OPERATORS = {"lt": operator.lt, "lte": operator.le, "gt": operator.gt, "gte": operator.ge}


def compile_condition(
    condition: Condition, reason: Callable[[Leaf], Callable[[Any], Any]] | None = None
) -> Compiled:
    """``condition`` as a function giving what `evaluate` gives (None for no match).

    For evaluating one tree over many customers (a recompute): the tree is walked once
    here, and the usual comparisons (a number with a number, text with text) take a
    direct path; every other value goes through the same `_apply` as `evaluate`.
    ``reason(leaf)``, when given, makes what a matched leaf reports instead of a `Reason`
    (a function of the actual value), e.g. the reason already in its stored form.
    """
    if isinstance(condition, Leaf):
        return _compile_leaf(condition, reason)
    children = tuple(compile_condition(child, reason) for child in condition.children)
    if condition.kind == "all":
        if not children:
            return lambda facts: ()
        if len(children) == 1:
            return children[0]

        def all_of(facts: Mapping[str, Any]) -> tuple[Reason, ...] | None:
            reasons: tuple[Reason, ...] = ()
            for child in children:
                found = child(facts)
                if found is None:
                    return None
                reasons += found
            return reasons

        return all_of

    def any_of(facts: Mapping[str, Any]) -> tuple[Reason, ...] | None:
        for child in children:
            found = child(facts)
            if found is not None:
                return found
        return None

    return any_of


def _compile_leaf(leaf: Leaf, reason: Callable[[Leaf], Callable[[Any], Any]] | None) -> Compiled:
    fact, op, expected = leaf.fact, leaf.op, leaf.value
    direct = _direct_test(op, expected)
    report = reason(leaf) if reason is not None else None

    def test(facts: Mapping[str, Any]) -> tuple[Reason, ...] | None:
        actual = facts.get(fact)
        matched = direct(actual) if direct is not None else None
        if matched is None:
            matched = _apply(op, actual, expected)
        if not matched:
            return None
        return (Reason(fact, op, expected, actual) if report is None else report(actual),)

    return test


def _direct_test(op: str, expected: Any) -> Callable[[Any], bool | None] | None:
    """A shortcut for the common value types: True/False, or None when `_apply` must decide.

    Each shortcut answers only where `_apply` would give the same answer: None never
    matches but ``not_exists``; an int or float against an int or float compares directly;
    text against text compares case-folded.
    """
    if op == "exists":
        return lambda actual: actual is not None
    if op == "not_exists":
        return lambda actual: actual is None
    compare = _ORDERED_OPERATORS.get(op)
    if compare is not None and type(expected) in (int, float):

        def ordered(actual: Any) -> bool | None:
            kind = type(actual)
            if kind is int or kind is float:
                return compare(actual, expected)
            return False if actual is None else None

        return ordered
    if op in ("eq", "ne") and type(expected) is str:
        folded, equal = expected.casefold(), op == "eq"

        def text(actual: Any) -> bool | None:
            if type(actual) is str:
                return (actual.casefold() == folded) is equal
            return False if actual is None else None

        return text
    if op == "in" and expected and all(type(item) is str for item in expected):
        choices = frozenset(item.casefold() for item in expected)

        def one_of(actual: Any) -> bool | None:
            if type(actual) is str:
                return actual.casefold() in choices
            return False if actual is None else None

        return one_of
    return None


# --------------------------------------------------------------------------- introspection


def condition_facts(condition: Condition) -> set[str]:
    """The facts ``condition`` reads, so callers compute only those."""
    if isinstance(condition, Leaf):
        return {condition.fact}
    return set().union(*(condition_facts(child) for child in condition.children))


def condition_to_dict(condition: Condition) -> dict[str, Any]:
    """The TOML/JSON shape of ``condition`` (dates as ISO strings); `parse_condition` inverts it."""
    if isinstance(condition, Group):
        return {condition.kind: [condition_to_dict(child) for child in condition.children]}
    out: dict[str, Any] = {"fact": condition.fact, "op": condition.op}
    if condition.op not in NO_VALUE_OPERATORS:
        out["value"] = _plain(condition.value)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    if isinstance(value, date):
        return value.isoformat()
    return value
