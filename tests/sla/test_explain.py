"""A stored SLA decision as one sentence an agent reads, in English and Spanish; the
reasons are the journey's own phrases."""

from __future__ import annotations

import pytest

from plugin.journey.conditions import Reason
from plugin.journey.reasons import render_reason
from plugin.sla.explain import describe_targets, duration, explain_decision, priority_change

STAGE = {"fact": "stage", "op": "eq", "expected": "purchase", "actual": "purchase"}
RENEWAL = {"fact": "days_until_renewal", "op": "lte", "expected": 30, "actual": 12}


def decision(**fields):
    return {
        "rule": "purchase-moment",
        "priority_before": "normal",
        "priority_after": "urgent",
        "tags_added": [],
        "targets": {"first_response_minutes": None, "resolution_minutes": None},
        "reasons": [STAGE, RENEWAL],
        **fields,
    }


def test_a_raised_priority_with_its_reasons_in_both_languages():
    assert explain_decision(decision()).sentence == (
        "Priority raised to urgent: in the Purchase stage, renews in 12 days"
    )
    assert explain_decision(decision(), "es").sentence == (
        "Prioridad elevada a urgente: en la etapa Compra, renueva en 12 días"
    )


def test_the_reasons_are_the_journeys_own_phrases():
    reason = Reason("days_until_renewal", "lte", 30, 12)
    explained = explain_decision(decision(reasons=[RENEWAL]), "es")
    assert explained.reasons == (render_reason(reason, "es"),)


@pytest.mark.parametrize(
    ("before", "after", "en", "es"),
    [
        ("urgent", "low", "Priority lowered to low", "Prioridad bajada a baja"),
        ("high", "high", "Priority kept at high", "Prioridad mantenida en alta"),
        (None, "high", "Priority set to high", "Prioridad fijada en alta"),
    ],
)
def test_lowered_kept_and_set(before, after, en, es):
    row = decision(priority_before=before, priority_after=after)
    assert explain_decision(row).headline == en
    assert explain_decision(row, "es").headline == es


def test_tags_and_targets_follow_the_reasons():
    row = decision(
        tags_added=["journey_purchase", "vip"],
        targets={"first_response_minutes": 60, "resolution_minutes": 480},
    )
    assert explain_decision(row).sentence == (
        "Priority raised to urgent: in the Purchase stage, renews in 12 days; "
        "tagged journey_purchase, vip; first reply within 1 h, resolution within 8 h"
    )
    assert explain_decision(row, "es").sentence.endswith(
        "; etiquetas añadidas: journey_purchase, vip; primera respuesta en 1 h, resolución en 8 h"
    )


def test_no_rule_matched_says_so():
    explained = explain_decision(decision(rule=None, priority_after="normal", reasons=[]))
    assert not explained.matched and explained.sentence == "No SLA rule matched"
    assert explain_decision({"rule": None}, "es").sentence == "Ninguna regla de SLA coincidió"


def test_a_rule_matching_every_ticket_is_named_and_a_desk_without_priority_too():
    assert explain_decision(decision(reasons=[])).sentence == (
        'Priority raised to urgent (rule "purchase-moment")'
    )
    row = decision(priority_before=None, priority_after=None, tags_added=["journey_seen"])
    assert explain_decision(row).sentence == (
        'SLA rule "purchase-moment" applied: in the Purchase stage, renews in 12 days; '
        "tagged journey_seen"
    )


def test_an_unknown_language_reads_english():
    assert explain_decision(decision(), "fr").sentence == explain_decision(decision()).sentence


@pytest.mark.parametrize(
    ("minutes", "en", "es"),
    [
        (45, "45 min", "45 min"),
        (60, "1 h", "1 h"),
        (90, "1 h 30 min", "1 h 30 min"),
        (1440, "24 h", "24 h"),
        (2880, "2 days", "2 días"),
        (3000, "50 h", "50 h"),
    ],
)
def test_durations(minutes, en, es):
    assert (duration(minutes, "en"), duration(minutes, "es")) == (en, es)


def test_targets_alone_and_none():
    assert describe_targets({"resolution_minutes": 2880}) == "resolution within 2 days"
    assert describe_targets({"first_response_minutes": None}) is None


def test_priority_change_compares_on_the_neutral_scale():
    assert [priority_change("low", p) for p in ("low", "normal", "urgent")] == [
        "kept",
        "raised",
        "raised",
    ]
    assert priority_change("urgent", "high") == "lowered"
    assert priority_change(None, None) is None
