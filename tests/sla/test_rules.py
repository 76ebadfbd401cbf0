"""SLA rules: validated with the file, rule and position; first match wins, with reasons;
versioned through the one machinery (kind "sla")."""

from __future__ import annotations

import pytest

from plugin.config import load_config
from plugin.journey import versions
from plugin.journey.conditions import ConditionError
from plugin.sla.active_rules import SLA
from plugin.sla.rules import Decision, decide, load_sla_rules, reasons_as_json
from plugin.store import open_store
from tests.helpers.config import write_config

PURCHASE = {
    "name": "purchase-moment",
    "priority": "urgent",
    "add_tags": ["journey_purchase"],
    "first_response_minutes": 60,
    "resolution_minutes": 480,
    "when": {
        "any": [
            {"fact": "stage", "op": "eq", "value": "purchase"},
            {"fact": "signal:renewal_due", "op": "eq", "value": True},
        ]
    },
}
CHAT = {
    "name": "chat-billing",
    "priority": "high",
    "when": {
        "all": [
            {"fact": "ticket.channel", "op": "eq", "value": "chat"},
            {"fact": "ticket.tags", "op": "contains", "value": "billing"},
        ]
    },
}
EVERYONE = {"name": "everyone", "add_tags": ["journey_seen"], "when": {"all": []}}


def rules(*items):
    return load_sla_rules({"rules": list(items)}, file="config.toml")


def error(*items) -> str:
    with pytest.raises(ConditionError) as caught:
        rules(*items)
    return str(caught.value)


def test_a_bad_rule_in_the_config_file_stops_start_up_naming_file_rule_and_position(tmp_path):
    path = write_config(
        tmp_path,
        """
        [[sla.rules]]
        name = "purchase-moment"
        priority = "urgent"
        [sla.rules.when]
        any = [ { fact = "stag", op = "eq", value = "purchase" } ]
        """,
    )
    with pytest.raises(ConditionError) as caught:
        load_config(path)
    text = str(caught.value)
    assert str(path) in text and 'sla.rules[0] "purchase-moment"' in text
    assert "when.any[0].fact" in text and 'did you mean "stage"' in text


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"priority": "critical"}, "priority: 'critical' is not a priority; write one of low"),
        ({"add_tags": "vip"}, "add_tags: expected a list of tags"),
        ({"add_tags": ["two words"]}, "add_tags: expected a list of tags"),
        ({"first_response_minutes": 0}, "first_response_minutes: expected a whole number"),
        ({"resolution_minutes": "8h"}, "resolution_minutes: expected a whole number"),
        ({"colour": "red"}, "colour: unknown key; known: name"),
        ({"name": "Purchase Moment"}, "name: each rule needs a name"),
    ],
)
def test_each_mistake_is_named_with_its_fix(change, expected):
    assert expected in error({**PURCHASE, **change})


def test_the_ticket_facts_are_typed_and_a_rule_must_do_something():
    text = error({**CHAT, "when": {"fact": "ticket.tags", "op": "gt", "value": 3}})
    assert 'sla.rules[0] "chat-billing": when.op' in text and "contains" in text
    assert "when: missing" in error({"name": "x", "priority": "low"})
    assert "the rule does nothing" in error({"name": "x", "when": {"all": []}})
    assert "used twice" in error(PURCHASE, PURCHASE)
    assert "unknown key" in str(
        pytest.raises(ConditionError, load_sla_rules, {"rule": []}, file="f").value
    )


def test_first_match_wins_with_the_reasons_of_the_rule_that_matched():
    ordered = rules(CHAT, PURCHASE, EVERYONE)
    facts = {
        "stage": "purchase",
        "ticket.channel": "chat",
        "ticket.tags": ["Billing", "refund"],
    }
    decision = decide(ordered, facts)
    assert decision.rule == "chat-billing" and decision.priority == "high"
    assert reasons_as_json(decision.reasons) == [
        {"fact": "ticket.channel", "op": "eq", "expected": "chat", "actual": "chat"},
        {
            "fact": "ticket.tags",
            "op": "contains",
            "expected": "billing",
            "actual": ["Billing", "refund"],
        },
    ]
    purchase = decide(ordered, {**facts, "ticket.channel": "email"})
    assert purchase.rule == "purchase-moment" and purchase.add_tags == ("journey_purchase",)
    assert purchase.targets.as_dict() == {
        "first_response_minutes": 60,
        "resolution_minutes": 480,
    }
    assert [r.fact for r in purchase.reasons] == ["stage"]
    renewal = decide(ordered, {"stage": "renewal", "signal:renewal_due": True})
    assert renewal.rule == "purchase-moment"
    assert [r.fact for r in renewal.reasons] == ["signal:renewal_due"]
    assert decide(ordered, {}).rule == "everyone"
    assert decide(rules(CHAT), {}) == Decision(None)


@pytest.mark.usefixtures("backend")  # once per engine
def test_sla_rules_are_versioned_and_restored_like_the_journey_model(tmp_path):
    path = write_config(
        tmp_path,
        """
        [[sla.rules]]
        name = "everyone"
        add_tags = ["journey_seen"]
        [sla.rules.when]
        all = []
        """,
    )
    config = load_config(path)
    with open_store(config.database_path) as db:
        active = versions.in_force(db, config, SLA)
        assert active.origin == "config" and active.version_number == 0
        assert [r.name for r in active.value.rules] == ["everyone"]
        with pytest.raises(ConditionError):
            versions.save(
                db, SLA, {"rules": [{**CHAT, "priority": "p1"}]}, created_by="a", note="", now=1
            )
        versions.save(db, SLA, {"rules": [CHAT, PURCHASE]}, created_by="a", note="two", now=2)
        active = versions.in_force(db, config, SLA)
        assert active.origin == "admin" and active.version_number == 1
        assert [r.name for r in active.value.rules] == ["chat-billing", "purchase-moment"]
        versions.restore(db, config, SLA, 0, created_by="a", now=3)
        active = versions.in_force(db, config, SLA)
        assert active.version_number == 2
        assert [r.name for r in active.value.rules] == ["everyone"]
