"""Reasons rendered as sentences in English and Spanish."""

import string
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plugin.journey.conditions import OPERATORS, FactSpec, Reason, evaluate, parse_condition
from plugin.journey.reasons import (
    LANGUAGES,
    PHRASES,
    format_value,
    render_reason,
    render_reasons,
)

# The catalogue facts of DESIGN §1 (plus stage and signal:<key>, which rules also see).
CATALOGUE = [
    "days_since_signup",
    "days_since_purchase",
    "days_until_renewal",
    "plan",
    "value_segment",
    "lifetime_value",
    "open_tickets",
    "tickets_last_30d",
    "articles_read_last_7d",
    "max_views_same_article_7d",
    "last_csat",
    "days_since_last_activity",
    "read_category:",
    "attribute:",
    "signal:",
    "stage",
]


@pytest.mark.parametrize(
    ("reason", "en", "es"),
    [
        (
            Reason("days_since_signup", "gte", 30, 120),
            "signed up 120 days ago (≥ 30)",
            "se registró hace 120 días (≥ 30)",
        ),
        (
            Reason("days_since_purchase", "lte", 45, 12),
            "purchased 12 days ago (≤ 45)",
            "compró hace 12 días (≤ 45)",
        ),
        (
            Reason("days_until_renewal", "lte", 30, 12),
            "renewal in 12 days (≤ 30)",
            "renovación en 12 días (≤ 30)",
        ),
        (Reason("plan", "eq", "trial", "trial"), 'plan is "trial"', 'el plan es "trial"'),
        (
            Reason("value_segment", "in", ("high", "mid"), "high"),
            'value segment is "high" (one of "high", "mid")',
            'el segmento de valor es "high" (uno de "high", "mid")',
        ),
        (
            Reason("lifetime_value", "gt", 5000, 12500.5),
            "lifetime value 12500.5 (> 5000)",
            "valor del cliente 12500,5 (> 5000)",
        ),
        (Reason("open_tickets", "gt", 0, 2), "2 open tickets (> 0)", "2 tickets abiertos (> 0)"),
        (
            Reason("tickets_last_30d", "gte", 3, 4),
            "4 tickets in the last 30 days (≥ 3)",
            "4 tickets en los últimos 30 días (≥ 3)",
        ),
        (
            Reason("articles_read_last_7d", "gte", 5, 8),
            "read 8 articles in the last 7 days (≥ 5)",
            "leyó 8 artículos en los últimos 7 días (≥ 5)",
        ),
        (
            Reason("max_views_same_article_7d", "gte", 3, 4),
            "viewed the same article 4 times in 7 days (≥ 3)",
            "vio el mismo artículo 4 veces en 7 días (≥ 3)",
        ),
        (
            Reason("last_csat", "eq", "bad", "bad"),
            'last CSAT rating "bad"',
            'última valoración CSAT "bad"',
        ),
        (
            Reason("days_since_last_activity", "gt", 60, 75),
            "last active 75 days ago (> 60)",
            "última actividad hace 75 días (> 60)",
        ),
        (
            Reason("read_category:Billing", "gte", 2, 3),
            'read 3 articles in category "Billing" (≥ 2)',
            'leyó 3 artículos de la categoría "Billing" (≥ 2)',
        ),
        (
            Reason("attribute:company_size", "eq", "enterprise", "Enterprise"),
            'company_size is "Enterprise"',
            'company_size es "Enterprise"',
        ),
        (
            Reason("signal:renewal_due", "eq", True, True),
            'signal "renewal_due" is on',
            'señal "renewal_due" activa',
        ),
        (
            Reason("signal:churn_risk", "ne", True, False),
            'signal "churn_risk" is off (≠ yes)',
            'señal "churn_risk" inactiva (≠ sí)',
        ),
        (
            Reason("stage", "eq", "purchase", "purchase"),
            'stage is "purchase"',
            'la etapa es "purchase"',
        ),
    ],
)
def test_catalogue_facts_read_as_sentences(reason, en, es):
    assert render_reason(reason) == en
    assert render_reason(reason, "en") == en
    assert render_reason(reason, "es") == es


@pytest.mark.parametrize(
    ("reason", "en", "es"),
    [
        (
            Reason("days_since_purchase", "lte", 45, 1),
            "purchased 1 day ago (≤ 45)",
            "compró hace 1 día (≤ 45)",
        ),
        (
            Reason("days_until_renewal", "lt", 2, 1.0),
            "renewal in 1 day (< 2)",
            "renovación en 1 día (< 2)",
        ),
        (Reason("open_tickets", "eq", 1, 1), "1 open ticket", "1 ticket abierto"),
        (
            Reason("max_views_same_article_7d", "gte", 1, 1),
            "viewed the same article 1 time in 7 days (≥ 1)",
            "vio el mismo artículo 1 vez en 7 días (≥ 1)",
        ),
        (
            Reason("read_category:Setup", "eq", 1, 1),
            'read 1 article in category "Setup"',
            'leyó 1 artículo de la categoría "Setup"',
        ),
    ],
)
def test_counts_of_one_are_singular(reason, en, es):
    assert (render_reason(reason, "en"), render_reason(reason, "es")) == (en, es)


@pytest.mark.parametrize(
    ("reason", "en", "es"),
    [
        (
            Reason("days_since_purchase", "not_exists", None, None),
            "no purchase yet",
            "sin compras todavía",
        ),
        (
            Reason("last_csat", "not_exists", None, None),
            "no CSAT rating yet",
            "sin valoración CSAT",
        ),
        (
            Reason("attribute:region", "not_exists", None, None),
            "region not set",
            "region sin valor",
        ),
        (
            Reason("open_tickets", "not_exists", None, None),
            "open_tickets: not set",
            "open_tickets: sin valor",
        ),
        (
            Reason("ticket.channel", "not_exists", None, None),
            "ticket.channel: not set",
            "ticket.channel: sin valor",
        ),
    ],
)
def test_missing_values_read_as_such(reason, en, es):
    assert (render_reason(reason, "en"), render_reason(reason, "es")) == (en, es)


@pytest.mark.parametrize(
    ("reason", "en", "es"),
    [
        (
            Reason("ticket.priority", "gte", 2, 3),
            "ticket.priority = 3 (≥ 2)",
            "ticket.priority = 3 (≥ 2)",
        ),
        (
            Reason("ticket.channel", "eq", "email", "Email"),
            'ticket.channel = "Email"',
            'ticket.channel = "Email"',
        ),
        (
            Reason("ticket.channel", "ne", "chat", "email"),
            'ticket.channel = "email" (≠ "chat")',
            'ticket.channel = "email" (≠ "chat")',
        ),
        (
            Reason("ticket.tags", "contains", "vip", ("vip", "billing")),
            'ticket.tags = ["vip", "billing"] (contains "vip")',
            'ticket.tags = ["vip", "billing"] (contiene "vip")',
        ),
        (
            Reason("ticket.tags", "not_in", ("spam",), ["vip"]),
            'ticket.tags = ["vip"] (none of "spam")',
            'ticket.tags = ["vip"] (ninguno de "spam")',
        ),
        (
            Reason("ticket.subject", "exists", None, "Help"),
            'ticket.subject = "Help"',
            'ticket.subject = "Help"',
        ),
        (Reason("ticket.urgent", "eq", True, True), "ticket.urgent = yes", "ticket.urgent = sí"),
        (
            Reason(
                "ticket.created_at", "lt", date(2026, 3, 1), datetime(2026, 2, 1, 9, 30, tzinfo=UTC)
            ),
            "ticket.created_at = 2026-02-01 09:30+00:00 (< 2026-03-01)",
            "ticket.created_at = 2026-02-01 09:30+00:00 (< 2026-03-01)",
        ),
    ],
)
def test_facts_without_a_phrase_fall_back_to_fact_equals_value(reason, en, es):
    assert (render_reason(reason, "en"), render_reason(reason, "es")) == (en, es)


def test_a_count_phrase_on_a_non_number_falls_back():
    reason = Reason("days_since_purchase", "exists", None, "twelve")
    assert render_reason(reason) == 'days_since_purchase = "twelve"'


@pytest.mark.parametrize(
    ("lang", "expected"), [("es-MX", "es"), ("ES", "es"), ("es_AR", "es"), ("fr", "en"), ("", "en")]
)
def test_language_tags_pick_the_base_language(lang, expected):
    reason = Reason("days_since_purchase", "lte", 45, 12)
    assert render_reason(reason, lang) == render_reason(reason, expected)


def test_render_reasons_keeps_order():
    reasons = [Reason("plan", "eq", "trial", "trial"), Reason("open_tickets", "eq", 0, 0)]
    assert render_reasons(reasons, "es") == ['el plan es "trial"', "0 tickets abiertos"]


@pytest.mark.parametrize(
    ("value", "en", "es"),
    [
        (None, "not set", "sin valor"),
        (False, "no", "no"),
        (3.0, "3", "3"),
        (4.567, "4.57", "4,57"),
        (Decimal("2.50"), "2.5", "2,5"),
        (float("nan"), "nan", "nan"),
        (float("inf"), "inf", "inf"),
        (Decimal("sNaN"), "sNaN", "sNaN"),
        (date(2026, 1, 31), "2026-01-31", "2026-01-31"),
        ({"a": 1}, "{'a': 1}", "{'a': 1}"),
    ],
)
def test_format_value(value, en, es):
    assert (format_value(value, "en"), format_value(value, "es")) == (en, es)


def test_every_catalogue_fact_has_a_phrase_in_every_language():
    assert set(CATALOGUE) <= set(PHRASES)
    for fact, entry in PHRASES.items():
        assert set(entry) == set(LANGUAGES), fact
        assert set(entry["en"]) == set(entry["es"]), fact
        assert "other" in entry["en"] or {"true", "false"} <= set(entry["en"]), fact


def test_every_template_uses_only_known_placeholders():
    for entry in PHRASES.values():
        for templates in entry.values():
            for template in templates.values():
                fields = {name for _, name, _, _ in string.Formatter().parse(template) if name}
                assert fields <= {"n", "value", "name"}, template


def test_reasons_from_evaluation_render_like_the_design():
    known = {"days_since_purchase": FactSpec("days_since_purchase", "number")}
    tree = {"all": [{"fact": "days_since_purchase", "op": "lte", "value": 45}]}
    condition = parse_condition(tree, known_facts=known, where='stage "service"')
    match = evaluate(condition, {"days_since_purchase": 12})
    assert render_reasons(match.reasons) == ["purchased 12 days ago (≤ 45)"]
    assert render_reasons(match.reasons, "es") == ["compró hace 12 días (≤ 45)"]


ANY_VALUE = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.decimals()
    | st.text(max_size=10)
    | st.dates()
    | st.datetimes(),
    lambda children: st.lists(children, max_size=3) | st.tuples(children),
    max_leaves=5,
)
FACT = st.sampled_from([f"{fact}x" if fact.endswith(":") else fact for fact in CATALOGUE])


@settings(max_examples=200, deadline=None)
@given(
    FACT | st.text(max_size=12),
    st.sampled_from(OPERATORS) | st.text(max_size=4),
    ANY_VALUE,
    ANY_VALUE,
)
def test_rendering_never_raises(fact, op, expected, actual):
    for lang in LANGUAGES:
        assert isinstance(render_reason(Reason(fact, op, expected, actual), lang), str)
