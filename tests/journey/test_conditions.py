"""Condition trees on plain dicts: parsing, validation messages, evaluation, round-trips."""

import json
import math
import pickle
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plugin.journey.conditions import (
    OPERATORS,
    OPERATORS_BY_TYPE,
    ConditionError,
    FactSpec,
    Group,
    Leaf,
    Match,
    Reason,
    condition_facts,
    condition_to_dict,
    evaluate,
    parse_condition,
)

FACTS = {
    spec.name: spec
    for spec in (
        FactSpec("days_since_purchase", "number", "Days since the first purchase"),
        FactSpec("days_until_renewal", "number"),
        FactSpec("plan", "string"),
        FactSpec("stage", "string"),
        FactSpec("is_vip", "boolean"),
        FactSpec("signup_at", "date"),
        FactSpec("ticket.tags", "list"),
        FactSpec("read_category", "number", "Articles read in a category", prefix=True),
        FactSpec("attribute", "string", prefix=True),
        FactSpec("signal", "boolean", prefix=True),
    )
}
WHERE = 'config.toml: journey.stages[3] "service"'


def parse(tree, **kwargs):
    return parse_condition(tree, known_facts=FACTS, where=WHERE, **kwargs)


def check(fact, op, value, actual):
    """Evaluate a one-leaf condition against ``{fact: actual}``."""
    leaf = {"fact": fact, "op": op} if value is None else {"fact": fact, "op": op, "value": value}
    return evaluate(parse(leaf), {fact: actual}).matched


# --------------------------------------------------------------------------- parsing


def test_parse_builds_nested_immutable_tree():
    tree = {
        "all": [
            {"fact": "days_since_purchase", "op": "lte", "value": 45},
            {"any": [{"fact": "plan", "op": "in", "value": ["trial", "basic"]}, {"all": []}]},
            {"fact": "signal:renewal_due", "op": "exists"},
        ]
    }
    assert parse(tree) == Group(
        "all",
        (
            Leaf("days_since_purchase", "lte", 45),
            Group("any", (Leaf("plan", "in", ("trial", "basic")), Group("all", ()))),
            Leaf("signal:renewal_due", "exists"),
        ),
    )


def test_parse_accepts_a_bare_leaf_at_the_root():
    assert parse({"fact": "is_vip", "op": "eq", "value": True}) == Leaf("is_vip", "eq", True)


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("2026-01-31", date(2026, 1, 31)),
        (date(2026, 1, 31), date(2026, 1, 31)),
        ("2026-01-31T09:00:00Z", datetime(2026, 1, 31, 9, tzinfo=UTC)),
        (datetime(2026, 1, 31, 9), datetime(2026, 1, 31, 9)),
    ],
)
def test_parse_reads_dates_from_toml_or_iso_strings(value, parsed):
    assert parse({"fact": "signup_at", "op": "lt", "value": value}).value == parsed


def test_parse_accepts_parametrised_facts():
    leaf = parse({"fact": "read_category:Billing", "op": "gte", "value": 2})
    assert leaf == Leaf("read_category:Billing", "gte", 2)


# --------------------------------------------------------------------------- validation


def error_for(tree, **kwargs) -> ConditionError:
    with pytest.raises(ConditionError) as info:
        parse(tree, **kwargs)
    return info.value


def leaf_error(**leaf) -> str:
    return str(error_for({"all": [leaf]}))


def test_unknown_fact_names_where_path_and_suggests_the_fix():
    error = error_for({"all": [{"fact": "days_since_purchse", "op": "lte", "value": 45}]})
    assert isinstance(error, ValueError)
    assert (error.where, error.path) == (WHERE, "when.all[0].fact")
    assert str(error).startswith(
        f'{WHERE}: when.all[0].fact: unknown fact "days_since_purchse"'
        ' — did you mean "days_since_purchase"? Known facts: '
    )
    assert "read_category:<name>" in str(error)


def test_unknown_family_suggests_the_family_with_the_same_parameter():
    message = leaf_error(fact="read_categroy:Billing", op="gte", value=2)
    assert 'did you mean "read_category:Billing"?' in message


def test_misspelt_family_without_a_colon_suggests_the_family():
    assert 'did you mean "read_category:<name>"?' in leaf_error(fact="readcategory", op="exists")


@pytest.mark.parametrize("fact", ["read_category", "read_category:", "signal: "])
def test_family_without_a_parameter_says_how_to_write_it(fact):
    message = leaf_error(fact=fact, op="exists")
    assert "needs a name after the colon" in message


def test_nested_path_points_at_the_bad_operator():
    tree = {
        "all": [
            {"fact": "plan", "op": "eq", "value": "trial"},
            {"any": [{"fact": "days_until_renewal", "op": "lessthan", "value": 30}]},
        ]
    }
    error = error_for(tree)
    assert error.path == "when.all[1].any[0].op"
    assert 'unknown operator "lessthan"' in error.message
    assert "Operators: eq, ne, lt, lte, gt, gte, in, not_in, contains, exists, not_exists" in (
        error.message
    )


def test_unknown_operator_suggests_a_close_one():
    assert 'did you mean "gte"?' in leaf_error(fact="plan", op="gtee", value=1)


def test_custom_root_names_the_path():
    error = error_for({"all": [{"fact": "nope", "op": "exists"}]}, root="audience")
    assert error.path == "audience.all[0].fact"


@pytest.mark.parametrize(
    ("leaf", "path", "expected"),
    [
        (
            {"fact": "plan", "op": "lt", "value": "b"},
            "when.all[0].op",
            'operator "lt" does not apply to the string fact "plan"; use one of: eq, ne, in',
        ),
        (
            {"fact": "days_since_purchase", "op": "lte"},
            "when.all[0]",
            'operator "lte" needs a value: '
            '{ fact = "days_since_purchase", op = "lte", value = 45 }',
        ),
        (
            {"fact": "plan", "op": "exists", "value": True},
            "when.all[0].value",
            '"exists" takes no value; remove value',
        ),
        (
            {"fact": "plan", "op": "in", "value": "trial"},
            "when.all[0].value",
            '"in" takes a non-empty list, '
            'e.g. { fact = "plan", op = "in", value = ["trial", ...] }',
        ),
        (
            {"fact": "plan", "op": "not_in", "value": []},
            "when.all[0].value",
            '"not_in" takes a non-empty list',
        ),
        (
            {"fact": "days_since_purchase", "op": "lte", "value": "45"},
            "when.all[0].value",
            'needs a number, got "45"; write 45 without quotes',
        ),
        (
            {"fact": "days_since_purchase", "op": "gt", "value": True},
            "when.all[0].value",
            "needs a number, got True",
        ),
        (
            {"fact": "days_since_purchase", "op": "gt", "value": math.nan},
            "when.all[0].value",
            "needs a number, got nan",
        ),
        (
            {"fact": "days_since_purchase", "op": "in", "value": [1, "2"]},
            "when.all[0].value[1]",
            'needs a number, got "2"; write 2 without quotes',
        ),
        (
            {"fact": "plan", "op": "eq", "value": 5},
            "when.all[0].value",
            'needs a string, got 5; write "5" in quotes',
        ),
        (
            {"fact": "is_vip", "op": "eq", "value": "true"},
            "when.all[0].value",
            'needs true or false, got "true"; write true without quotes',
        ),
        (
            {"fact": "signup_at", "op": "lt", "value": "last tuesday"},
            "when.all[0].value",
            'needs a date (2026-01-31 or "2026-01-31T09:00:00Z"), got "last tuesday"',
        ),
        (
            {"fact": "signup_at", "op": "lt", "value": 30},
            "when.all[0].value",
            "needs a date",
        ),
        (
            {"fact": "ticket.tags", "op": "contains", "value": ["a"]},
            "when.all[0].value",
            "needs a string, number or boolean, got ['a']",
        ),
        (
            {"fact": "ticket.tags", "op": "eq", "value": "vip"},
            "when.all[0].op",
            "use one of: contains, in, not_in, exists, not_exists",
        ),
        (
            {"fact": "plan", "op": "eq", "vaule": "trial"},
            "when.all[0].vaule",
            'unknown key "vaule" — did you mean "value"? '
            "A condition has the keys fact, op and value",
        ),
        ({"op": "eq", "value": 1}, "when.all[0]", "missing fact; known facts: attribute:<name>"),
        ({"fact": "plan", "value": 1}, "when.all[0]", 'missing op; "plan" takes: eq, ne, in'),
        ({"fact": 7, "op": "eq", "value": 1}, "when.all[0].fact", "fact must be a string, got 7"),
        ({"fact": "plan", "op": None}, "when.all[0].op", "unknown operator None"),
    ],
)
def test_leaf_errors_name_path_problem_and_fix(leaf, path, expected):
    error = error_for({"all": [leaf]})
    assert error.where == WHERE
    assert error.path == path
    assert expected in error.message
    assert str(error) == f"{WHERE}: {path}: {error.message}"


@pytest.mark.parametrize(
    ("tree", "path", "expected"),
    [
        ({"all": [], "any": []}, "when", 'a group takes one of "all" or "any", not both'),
        ({"all": [], "fact": "plan"}, "when.fact", 'unknown key "fact" beside "all"'),
        ({"all": {"fact": "plan"}}, "when.all", "expected a list of conditions, got {'fact'"),
        ({"any": ["plan"]}, "when.any[0]", "expected a condition like { fact = ..., op = ..."),
        ({"alll": []}, "when.alll", 'unknown key "alll" — did you mean "all"?'),
        ({}, "when", "empty condition; write all = [] to always match"),
        ({"all": [{"any": [{}]}]}, "when.all[0].any[0]", "empty condition"),
    ],
)
def test_group_errors_name_path_problem_and_fix(tree, path, expected):
    error = error_for(tree)
    assert error.path == path
    assert expected in error.message


def test_root_that_is_not_a_table_is_an_error():
    error = error_for(["plan"])  # type: ignore[arg-type]
    assert error.path == "when"
    assert "got ['plan']" in error.message


def test_error_without_where_starts_with_the_path():
    with pytest.raises(ConditionError, match=r'^when\.all\[0\]\.fact: unknown fact "x"'):
        parse_condition({"all": [{"fact": "x", "op": "exists"}]}, known_facts=FACTS, where="")


def test_fact_spec_rejects_unknown_types():
    with pytest.raises(ValueError, match="type must be one of"):
        FactSpec("x", "integer")


# --------------------------------------------------------------------------- operators


@pytest.mark.parametrize(
    ("op", "value", "actual", "matched"),
    [
        ("eq", 5, 5, True),
        ("eq", 5, 5.0, True),
        ("eq", 5, Decimal(5), True),
        ("eq", 1, True, False),  # a boolean is not a number
        ("eq", 5, "5", False),
        ("ne", 5, 4, True),
        ("ne", 5, 5, False),
        ("ne", 5, None, False),  # missing is not evidence of "different"
        ("ne", 5, "4", False),
        ("lt", 45, 44, True),
        ("lt", 45, 45, False),
        ("lte", 45, 45, True),
        ("lte", 45, 46, False),
        ("gt", 45, 46, True),
        ("gt", 45, 45, False),
        ("gte", 45, 45, True),
        ("gte", 45, 44.9, False),
        ("lt", 45, None, False),
        ("lt", 45, "3", False),
        ("lt", 45, [3], False),
        ("lt", 45, math.nan, False),
        ("gt", 45, math.inf, True),
        ("lt", 45, Decimal("sNaN"), False),
        ("in", [1, 2], 2, True),
        ("in", [1, 2], 3, False),
        ("not_in", [1, 2], 3, True),
        ("not_in", [1, 2], 2, False),
        ("not_in", [1, 2], "3", False),
        ("not_in", [1, 2], None, False),
    ],
)
def test_number_operators(op, value, actual, matched):
    assert check("days_since_purchase", op, value, actual) is matched


@pytest.mark.parametrize(
    ("op", "value", "actual", "matched"),
    [
        ("eq", "trial", "Trial", True),
        ("eq", "trial", "trial ", False),
        ("eq", "trial", None, False),
        ("ne", "trial", "pro", True),
        ("ne", "trial", "TRIAL", False),
        ("ne", "trial", 5, False),
        ("contains", "ENTER", "enterprise", True),
        ("contains", "x", "enterprise", False),
        ("contains", "", "enterprise", True),
        ("contains", "e", 5, False),
        ("in", ["trial", "basic"], "BASIC", True),
        ("in", ["trial", "basic"], "pro", False),
        ("not_in", ["trial", "basic"], "pro", True),
        ("not_in", ["trial", "basic"], "Trial", False),
        ("not_in", ["trial"], 3, False),
    ],
)
def test_string_operators(op, value, actual, matched):
    assert check("plan", op, value, actual) is matched


@pytest.mark.parametrize(
    ("op", "value", "actual", "matched"),
    [
        ("eq", True, True, True),
        ("eq", True, False, False),
        ("eq", True, 1, False),
        ("eq", False, 0, False),
        ("eq", True, "true", False),
        ("ne", True, False, True),
        ("ne", True, None, False),
    ],
)
def test_boolean_operators(op, value, actual, matched):
    assert check("signal:renewal_due", op, value, actual) is matched


DAY = date(2026, 3, 1)


@pytest.mark.parametrize(
    ("op", "value", "actual", "matched"),
    [
        ("lt", DAY, date(2026, 2, 28), True),
        ("lt", DAY, DAY, False),
        ("lte", DAY, datetime(2026, 3, 1, 23, 59), True),  # a datetime compares by day
        ("gt", DAY, datetime(2026, 3, 2, tzinfo=UTC), True),
        ("eq", DAY, datetime(2026, 3, 1, 8, tzinfo=UTC), True),
        ("eq", DAY, "2026-03-01", True),
        ("gt", DAY, "2026-03-02T10:00:00Z", True),
        ("gt", DAY, "tomorrow", False),
        ("gt", DAY, 20260302, False),
        ("lt", "2026-03-01T12:00:00Z", datetime(2026, 3, 1, 11, 59), True),  # naive is UTC
        ("lt", "2026-03-01T12:00:00+02:00", datetime(2026, 3, 1, 10, 30, tzinfo=UTC), False),
        ("eq", "2026-03-01T12:00:00+02:00", datetime(2026, 3, 1, 10, tzinfo=UTC), True),
        ("in", [DAY, date(2026, 3, 2)], date(2026, 3, 2), True),
        ("not_in", [DAY], date(2026, 3, 2), True),
        ("ne", DAY, date(2026, 3, 2), True),
        ("ne", DAY, "garbage", False),
    ],
)
def test_date_operators(op, value, actual, matched):
    assert check("signup_at", op, value, actual) is matched


def test_dates_with_broken_tzinfo_do_not_raise():
    class Broken(tzinfo):  # an offset of None: naive in disguise, so comparisons raise
        def utcoffset(self, dt):
            return None

    odd = datetime(2026, 3, 1, tzinfo=Broken())
    assert check("signup_at", "lt", "2026-03-02T00:00:00Z", odd) is False


@pytest.mark.parametrize(
    ("op", "value", "actual", "matched"),
    [
        ("contains", "vip", ["billing", "VIP"], True),
        ("contains", "vip", ["billing"], False),
        ("contains", "vip", "vip-customer", True),  # a string fact value still works
        ("contains", 3, (1, 2, 3), True),
        ("contains", 3, {3}, True),
        ("contains", True, [1], False),
        ("in", ["vip", "urgent"], ["billing", "urgent"], True),
        ("in", ["vip", "urgent"], ["billing"], False),
        ("in", ["vip"], [], False),
        ("not_in", ["vip", "urgent"], ["billing"], True),
        ("not_in", ["vip"], [], True),
        ("not_in", ["vip"], ["Vip"], False),
        ("contains", "vip", None, False),
    ],
)
def test_list_operators(op, value, actual, matched):
    assert check("ticket.tags", op, value, actual) is matched


@pytest.mark.parametrize(
    ("actual", "exists"),
    [(None, False), (0, True), ("", True), ([], True), (False, True), (date(2026, 1, 1), True)],
)
def test_exists_means_not_none(actual, exists):
    assert check("plan", "exists", None, actual) is exists
    assert check("plan", "not_exists", None, actual) is not exists


@pytest.mark.parametrize("op", OPERATORS)
def test_a_missing_fact_matches_only_not_exists(op):
    leaf = Leaf("plan", op, ("trial",) if op in ("in", "not_in") else "trial")
    assert evaluate(leaf, {}).matched is (op == "not_exists")
    assert evaluate(leaf, {"plan": None}).matched is (op == "not_exists")


# --------------------------------------------------------------------------- groups and reasons


def test_empty_all_is_true_and_empty_any_is_false():
    assert evaluate(parse({"all": []}), {}) == Match(True, ())
    assert evaluate(parse({"any": []}), {}) == Match(False, ())


def test_all_reasons_are_every_matched_leaf_with_actual_values():
    condition = parse(
        {
            "all": [
                {"fact": "days_since_purchase", "op": "lte", "value": 45},
                {"all": [{"fact": "plan", "op": "eq", "value": "trial"}]},
            ]
        }
    )
    result = evaluate(condition, {"days_since_purchase": 12, "plan": "Trial"})
    assert result == Match(
        True,
        (
            Reason("days_since_purchase", "lte", 45, 12),
            Reason("plan", "eq", "trial", "Trial"),
        ),
    )
    assert evaluate(condition, {"days_since_purchase": 50, "plan": "trial"}) == Match(False, ())


def test_any_reasons_come_from_the_first_matching_branch():
    condition = parse(
        {
            "any": [
                {"fact": "stage", "op": "eq", "value": "purchase"},
                {
                    "all": [
                        {"fact": "signal:renewal_due", "op": "eq", "value": True},
                        {"fact": "days_until_renewal", "op": "lte", "value": 30},
                    ]
                },
                {"fact": "is_vip", "op": "eq", "value": True},
            ]
        }
    )
    facts = {"stage": "retention", "signal:renewal_due": True, "days_until_renewal": 12}
    assert evaluate(condition, facts | {"is_vip": True}).reasons == (
        Reason("signal:renewal_due", "eq", True, True),
        Reason("days_until_renewal", "lte", 30, 12),
    )
    assert not evaluate(condition, {"stage": "retention"}).matched


def test_condition_facts_lists_every_leaf_fact():
    condition = parse(
        {
            "all": [
                {"fact": "plan", "op": "exists"},
                {"any": [{"fact": "read_category:Billing", "op": "gte", "value": 2}, {"all": []}]},
                {"fact": "plan", "op": "ne", "value": "pro"},
            ]
        }
    )
    assert condition_facts(condition) == {"plan", "read_category:Billing"}
    assert condition_facts(parse({"any": []})) == set()


def test_condition_to_dict_gives_the_toml_json_shape():
    tree = {
        "all": [
            {"fact": "signup_at", "op": "in", "value": [date(2026, 1, 1), "2026-01-02T10:00:00Z"]},
            {"any": [{"fact": "plan", "op": "not_exists"}]},
        ]
    }
    assert condition_to_dict(parse(tree)) == {
        "all": [
            {
                "fact": "signup_at",
                "op": "in",
                "value": ["2026-01-01", "2026-01-02T10:00:00+00:00"],
            },
            {"any": [{"fact": "plan", "op": "not_exists"}]},
        ]
    }


# --------------------------------------------------------------------------- properties

FINITE = st.floats(allow_nan=False, allow_infinity=False)
NUMBERS = st.integers(-1000, 1000) | FINITE
DATES = st.dates() | st.datetimes(timezones=st.none() | st.just(UTC))
VALUES_BY_TYPE = {
    "number": NUMBERS,
    "string": st.text(max_size=8),
    "boolean": st.booleans(),
    "date": DATES | DATES.map(lambda d: d.isoformat()),
    "list": st.text(max_size=8) | NUMBERS | st.booleans(),
}
FACT_NAMES = [
    name if not spec.prefix else f"{name}:{param}"
    for name, spec in FACTS.items()
    for param in (["Billing", "renewal_due"] if spec.prefix else [""])
]


@st.composite
def leaf_trees(draw):
    fact = draw(st.sampled_from(FACT_NAMES))
    spec = FACTS[fact.partition(":")[0]]
    op = draw(st.sampled_from(OPERATORS_BY_TYPE[spec.type]))
    if op in ("exists", "not_exists"):
        return {"fact": fact, "op": op}
    values = VALUES_BY_TYPE[spec.type]
    if op in ("in", "not_in"):
        return {"fact": fact, "op": op, "value": draw(st.lists(values, min_size=1, max_size=3))}
    return {"fact": fact, "op": op, "value": draw(values)}


TREES = st.recursive(
    leaf_trees(),
    lambda children: st.builds(
        lambda kind, items: {kind: items}, st.sampled_from(["all", "any"]), st.lists(children)
    ),
    max_leaves=12,
)
ANY_VALUE = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.decimals()
    | st.text(max_size=10)
    | DATES
    | DATES.map(lambda d: d.isoformat())
    | st.datetimes(timezones=st.just(timezone(timedelta(hours=-5)))),
    lambda children: (
        st.lists(children, max_size=3)
        | st.tuples(children, children)
        | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=6,
)
FACT_VALUES = st.dictionaries(st.sampled_from(FACT_NAMES), ANY_VALUE)
PROPERTY = settings(max_examples=200, deadline=None)


def groups(condition):
    if isinstance(condition, Group):
        yield condition
        for child in condition.children:
            yield from groups(child)


@PROPERTY
@given(TREES, FACT_VALUES)
def test_all_is_conjunction_and_any_is_disjunction(tree, facts):
    for group in groups(parse(tree)):
        results = [evaluate(child, facts) for child in group.children]
        result = evaluate(group, facts)
        if group.kind == "all":
            assert result.matched == all(r.matched for r in results)
            expected = sum((r.reasons for r in results), ()) if result.matched else ()
        else:
            assert result.matched == any(r.matched for r in results)
            expected = next((r.reasons for r in results if r.matched), ())
        assert result.reasons == expected


@PROPERTY
@given(TREES, FACT_VALUES)
def test_evaluation_never_raises_and_reasons_only_name_used_facts(tree, facts):
    condition = parse(tree)
    result = evaluate(condition, facts)
    assert isinstance(result.matched, bool)
    assert {reason.fact for reason in result.reasons} <= condition_facts(condition)
    assert all(reason.actual is facts.get(reason.fact) for reason in result.reasons)


@PROPERTY
@given(st.sampled_from(FACT_NAMES), st.sampled_from(OPERATORS), ANY_VALUE)
def test_any_leaf_on_any_value_never_raises(fact, op, actual):
    for expected in (5, "trial", True, date(2026, 1, 1), (1, "a"), None):
        assert isinstance(evaluate(Leaf(fact, op, expected), {fact: actual}).matched, bool)


@PROPERTY
@given(TREES)
def test_parse_inverts_condition_to_dict_including_through_json(tree):
    condition = parse(tree)
    assert parse(condition_to_dict(condition)) == condition
    assert parse(json.loads(json.dumps(condition_to_dict(condition)))) == condition


def facts_written(tree):
    if "fact" in tree:
        return {tree["fact"]}
    return set().union(*(facts_written(child) for child in next(iter(tree.values()))))


@PROPERTY
@given(TREES)
def test_condition_facts_are_the_facts_written_in_the_tree(tree):
    assert condition_facts(parse(tree)) == facts_written(tree)


def test_condition_error_survives_pickling():
    error = pickle.loads(pickle.dumps(ConditionError(WHERE, "when.all[0]", "bad")))
    assert (error.where, error.path, error.message) == (WHERE, "when.all[0]", "bad")
    assert str(error) == f"{WHERE}: when.all[0]: bad"
