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
            "signed up 120 days ago",
            "se registró hace 120 días",
        ),
        (
            Reason("days_since_purchase", "lte", 45, 12),
            "bought 12 days ago",
            "compró hace 12 días",
        ),
        (
            Reason("days_until_renewal", "lte", 30, 12),
            "renews in 12 days",
            "renueva en 12 días",
        ),
        (Reason("plan", "eq", "trial", "trial"), "on a trial", "en periodo de prueba"),
        (
            Reason("value_segment", "in", ("high", "mid"), "high"),
            "high value customer",
            "cliente de valor alto",
        ),
        (
            Reason("lifetime_value", "gt", 5000, 12500.5),
            "has spent 12500.5 in total",
            "ha gastado 12500,5 en total",
        ),
        (Reason("open_tickets", "gt", 0, 2), "2 open tickets", "2 tickets abiertos"),
        (
            Reason("tickets_last_30d", "gte", 3, 4),
            "4 tickets in the 30 days before now",
            "4 tickets en los 30 días hasta ahora",
        ),
        (
            Reason("articles_read_last_7d", "gte", 5, 8),
            "read 8 articles in the 7 days before now",
            "leyó 8 artículos en los 7 días hasta ahora",
        ),
        (
            Reason("max_views_same_article_7d", "gte", 3, 4),
            "read one article 4 times in the 7 days before now",
            "leyó un mismo artículo 4 veces en los 7 días hasta ahora",
        ),
        (
            Reason("last_csat", "eq", "bad", "bad"),
            "rated support bad last time",
            "valoró mal el soporte la última vez",
        ),
        (
            Reason("days_since_last_activity", "gt", 60, 75),
            "last active 75 days ago",
            "última actividad hace 75 días",
        ),
        (
            Reason("read_category:Billing", "gte", 2, 3),
            "read 3 articles about Billing in the 30 days before now",
            "leyó 3 artículos sobre Billing en los 30 días hasta ahora",
        ),
        (
            Reason("attribute:company_size", "eq", "enterprise", "Enterprise"),
            "company_size is Enterprise",
            "company_size es Enterprise",
        ),
        (
            Reason("signal:renewal_due", "eq", True, True),
            'signal "renewal_due" is on',
            'señal "renewal_due" activa',
        ),
        (
            Reason("signal:churn_risk", "ne", True, False),
            'signal "churn_risk" is off',
            'señal "churn_risk" inactiva',
        ),
        (
            Reason("stage", "eq", "purchase", "purchase"),
            "in the Purchase stage",
            "en la etapa Compra",
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
            "bought 1 day ago",
            "compró hace 1 día",
        ),
        (
            Reason("days_until_renewal", "lt", 2, 1.0),
            "renews in 1 day",
            "renueva en 1 día",
        ),
        (Reason("open_tickets", "eq", 1, 1), "1 open ticket", "1 ticket abierto"),
        (
            Reason("max_views_same_article_7d", "gte", 1, 1),
            "read one article 1 time in the 7 days before now",
            "leyó un mismo artículo 1 vez en los 7 días hasta ahora",
        ),
        (
            Reason("read_category:Setup", "eq", 1, 1),
            "read 1 article about Setup in the 30 days before now",
            "leyó 1 artículo sobre Setup en los 30 días hasta ahora",
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
            "has not bought yet",
            "todavía no ha comprado",
        ),
        (
            Reason("last_csat", "not_exists", None, None),
            "has not rated support yet",
            "todavía no ha valorado el soporte",
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
    assert render_reasons(reasons, "es") == ["en periodo de prueba", "ningún ticket abierto"]


def test_two_limits_on_one_fact_read_as_one_reason():
    reasons = [
        Reason("days_until_renewal", "lte", 30, 5),
        Reason("days_until_renewal", "gte", 0, 5),
    ]
    assert render_reasons(reasons) == ["renews in 5 days"]
    assert render_reasons(reasons, "es") == ["renueva en 5 días"]


@pytest.mark.parametrize(
    ("reason", "en", "es"),
    [
        (
            Reason("plan", "eq", "business", "business"),
            "on the Business plan",
            "con el plan Empresa",
        ),
        (
            Reason("last_csat", "eq", "good", "good"),
            "rated support good last time",
            "valoró bien el soporte la última vez",
        ),
        (
            Reason("value_segment", "eq", "low", "low"),
            "low value customer",
            "cliente de valor bajo",
        ),
        (
            Reason("read_category:Plans & pricing", "gte", 0, 0),
            "read nothing about Plans & pricing in the 30 days before now",
            "no leyó nada sobre Plans & pricing en los 30 días hasta ahora",
        ),
    ],
)
def test_known_values_are_words_in_each_language(reason, en, es):
    assert (render_reason(reason, "en"), render_reason(reason, "es")) == (en, es)


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
    assert render_reasons(match.reasons) == ["bought 12 days ago"]
    assert render_reasons(match.reasons, "es") == ["compró hace 12 días"]


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
