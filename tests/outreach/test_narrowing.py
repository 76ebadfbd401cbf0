"""Narrowing an audience in SQL first never changes who is in it (only how fast)."""

from __future__ import annotations

import pytest

from plugin.clock import now_epoch
from plugin.journey.conditions import parse_condition
from plugin.journey.facts import fact_specs
from plugin.outreach.narrowing import narrowing
from plugin.outreach.planning import load_candidates, matched_audiences, matching
from plugin.outreach.rules import load_rules
from plugin.store import open_store

pytestmark = pytest.mark.usefixtures("backend")

EXTRA = [
    {"fact": "days_since_last_activity", "op": "gte", "value": 60},
    {"fact": "days_since_purchase", "op": "lt", "value": 30},
    {"fact": "read_category:Getting started", "op": "gt", "value": 0},
    {"fact": "articles_read_last_7d", "op": "eq", "value": 2},
    {
        "any": [
            {"fact": "stage", "op": "in", "value": ["service", "purchase"]},
            {"fact": "signal:renewal_due", "op": "eq", "value": True},
        ]
    },
    {"fact": "open_tickets", "op": "gte", "value": 1},  # not narrowed: everyone is read
    {"fact": "days_since_last_activity", "op": "lte", "value": 3},  # idem
]


def test_the_narrowed_audience_is_the_full_evaluation(seeded_demo):
    rules = list(load_rules({}, file="x").rules)
    for index, tree in enumerate(EXTRA):
        audience = parse_condition(tree, known_facts=fact_specs(with_stage=True), where="t")
        rules.append(
            load_rules(
                {
                    "rules": [
                        {
                            "name": f"extra-{index}",
                            "schedule": "0 9 * * *",
                            "subject": "s",
                            "body": "b",
                            "audience": tree,
                        }
                    ]
                },
                file="x",
            ).rules[0]
        )
        assert rules[-1].audience == audience
    now = now_epoch()
    with open_store(seeded_demo.database_path) as db:
        everyone = load_candidates(db, seeded_demo, now=now)
        for rule in rules:
            narrowed = matched_audiences(db, seeded_demo, [rule], now=now)[rule.name]
            full = matching(rule, everyone)
            assert [(c.customer_id, r) for c, r in narrowed] == [
                (c.customer_id, r) for c, r in full
            ], rule.name
            assert full or rule.name.startswith("extra-"), rule.name
        together = matched_audiences(db, seeded_demo, rules, now=now)
    assert {name: len(m) for name, m in together.items()} == {
        r.name: len(matching(r, everyone)) for r in rules
    }


@pytest.mark.parametrize(
    ("name", "narrows"),
    [
        ("repeat-reader", True),
        ("onboarding-guide", True),
        ("renewal-open-ticket", True),
        ("silent-customer", True),
        ("evaluation-help", True),
    ],
)
def test_the_shipped_rules_are_narrowed(name, narrows):
    rule = load_rules({}, file="x").rule(name)
    assert (narrowing(rule.audience) is not None) == narrows
