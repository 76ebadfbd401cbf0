"""Compiled conditions (what a recompute evaluates) answer exactly as `evaluate`."""

import itertools
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from plugin.journey.conditions import (
    Group,
    Leaf,
    compile_condition,
    evaluate,
)

ACTUALS = [
    None,
    0,
    3,
    -2,
    7.5,
    float("nan"),
    float("inf"),
    True,
    False,
    Decimal("4"),
    "trial",
    "TRIAL",
    "Trial plan",
    "5",
    "",
    "2026-01-31",
    date(2026, 1, 31),
    datetime(2026, 1, 31, 9, tzinfo=UTC),
    ["trial", "Team"],
    ("x",),
    {"a": 1},
]
EXPECTEDS = {
    "eq": [3, 7.5, "trial", True, date(2026, 1, 31), "5"],
    "ne": [3, "trial", False, date(2026, 1, 31)],
    "lt": [3, 7.5, date(2026, 2, 1)],
    "lte": [3, 0, date(2026, 1, 31)],
    "gt": [3, -5.5, date(2025, 1, 1)],
    "gte": [3, 7.5, date(2026, 1, 31)],
    "in": [("trial", "team"), (3, "trial"), (True,), (date(2026, 1, 31),)],
    "not_in": [("trial", "team"), (3, 4)],
    "contains": ["trial", "Team", 3],
    "exists": [None],
    "not_exists": [None],
}


def _evaluated(condition, facts):
    match = evaluate(condition, facts)
    return match.reasons if match.matched else None


@pytest.mark.parametrize("op", sorted(EXPECTEDS))
def test_a_compiled_leaf_answers_as_evaluate(op):
    for expected, actual in itertools.product(EXPECTEDS[op], ACTUALS):
        leaf = Leaf("f", op, expected)
        facts = {} if actual is None else {"f": actual}
        assert compile_condition(leaf)(facts) == _evaluated(leaf, facts), (op, expected, actual)


def test_compiled_groups_keep_the_reasons_and_their_order():
    low, trial, missing = (
        Leaf("n", "lte", 5),
        Leaf("plan", "eq", "trial"),
        Leaf("x", "exists"),
    )
    trees = [
        Group("all"),
        Group("any"),
        Group("all", (low,)),
        Group("all", (low, trial)),
        Group("any", (missing, Group("all", (trial, low)), low)),
        Group("all", (Group("any", (missing, trial)), Group("all", ()), low)),
        Group("any", (Group("all"), low)),
    ]
    for tree, n, plan in itertools.product(trees, [None, 2, 9], [None, "Trial", "team"]):
        facts = {"n": n, "plan": plan}
        assert compile_condition(tree)(facts) == _evaluated(tree, facts), (tree, facts)
