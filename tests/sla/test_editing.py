"""SLA rules as text an admin edits: written as config.toml blocks that read back to the
same table, one rule or the whole table replaced and validated, a rule moved up or down."""

from __future__ import annotations

import tomllib

import pytest

from plugin.journey.conditions import ConditionError
from plugin.sla.editing import (
    EXAMPLE,
    candidate_table,
    rule_to_toml,
    table_of,
    table_to_toml,
    with_rule_moved,
)
from plugin.sla.rules import load_sla_rules

TABLE = {
    "rules": [
        {
            "name": "purchase-moment",
            "description": 'Buying: "answer fast"',
            "priority": "urgent",
            "add_tags": ["journey_purchase"],
            "first_response_minutes": 60,
            "when": {
                "any": [
                    {"fact": "stage", "op": "eq", "value": "purchase"},
                    {"all": [{"fact": "days_until_renewal", "op": "lte", "value": 30}]},
                ]
            },
        },
        {"name": "chat", "priority": "high", "when": {"all": []}},
        {"name": "seen", "add_tags": ["journey_seen"], "when": {"all": []}},
    ]
}


def test_the_table_as_toml_reads_back_to_the_same_rules_in_the_same_order():
    text = table_to_toml(TABLE)
    assert text.startswith("# Tried from top to bottom")
    assert tomllib.loads(text)["sla"] == TABLE
    assert table_of(load_sla_rules(tomllib.loads(text)["sla"], file="t")) == TABLE
    one = rule_to_toml(TABLE["rules"][0])
    assert one.splitlines()[:3] == [
        "[[sla.rules]]",
        'name = "purchase-moment"',
        'description = "Buying: \\"answer fast\\""',
    ]
    assert "[sla.rules.when]" in one
    assert tomllib.loads(table_to_toml({"rules": []}))["sla"] == {"rules": []}
    assert load_sla_rules(tomllib.loads(EXAMPLE)["sla"], file="example").rules


def test_one_rule_replaced_keeps_the_others_and_their_order():
    text = rule_to_toml(TABLE["rules"][1]).replace('"high"', '"low"')
    table = candidate_table(text, TABLE, "chat")
    assert [r["name"] for r in table["rules"]] == ["purchase-moment", "chat", "seen"]
    assert table["rules"][1]["priority"] == "low"
    assert table["rules"][0] == TABLE["rules"][0]
    assert TABLE["rules"][1]["priority"] == "high"  # the current table is left alone


@pytest.mark.parametrize(
    ("text", "rule", "message"),
    [
        ("[[sla.rules", "chat", "this is not valid TOML"),
        ("[journey]\nx = 1", "chat", "found journey — write the rule as in config.toml"),
        (
            rule_to_toml(TABLE["rules"][1]) + "\n\n" + rule_to_toml(TABLE["rules"][2]),
            "chat",
            "write exactly one [[sla.rules]]",
        ),
        (rule_to_toml(TABLE["rules"][2]), "chat", 'keep name = "chat"'),
        (
            rule_to_toml(TABLE["rules"][1]).replace('"chat"', '"gone"'),
            "gone",
            'the rule "gone" no longer exists',
        ),
        (
            rule_to_toml(TABLE["rules"][1]).replace('"high"', '"p1"'),
            "chat",
            "'p1' is not a priority",
        ),
        ("[sla]\nrules = []\nmode = 1", None, "mode: unknown key"),
    ],
)
def test_a_text_that_cannot_be_used_is_refused_with_where_and_why(text, rule, message):
    with pytest.raises(ConditionError) as error:
        candidate_table(text, TABLE, rule)
    assert message in str(error.value) and str(error.value).startswith("your text")


def test_a_rule_moves_one_place_and_not_past_the_ends():
    assert [r["name"] for r in with_rule_moved(TABLE, "seen", -1)["rules"]] == [
        "purchase-moment",
        "seen",
        "chat",
    ]
    assert [r["name"] for r in with_rule_moved(TABLE, "purchase-moment", 1)["rules"]] == [
        "chat",
        "purchase-moment",
        "seen",
    ]
    assert [r["name"] for r in TABLE["rules"]] == ["purchase-moment", "chat", "seen"]
    for rule, offset, message in [
        ("purchase-moment", -1, "is the first rule already"),
        ("seen", 1, "is the last rule already"),
        ("nobody", 1, 'there is no rule "nobody"'),
    ]:
        with pytest.raises(ConditionError, match=message):
            with_rule_moved(TABLE, rule, offset)
