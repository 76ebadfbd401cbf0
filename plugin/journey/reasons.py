"""Reasons as sentences for agents and admins, in English and Spanish.

A `Reason` is structured (fact, op, expected, actual); this module turns it into a short phrase
such as ``purchased 12 days ago (≤ 45)`` or ``compró hace 12 días (≤ 45)``. Phrases live in
`PHRASES`, plain data keyed by fact (``"read_category:"`` for a family), so a new fact needs
only an entry; a fact without one falls back to ``<fact> = <actual> (<op> <expected>)``.

Each entry maps a language to templates picked by the actual value: ``one`` / ``other`` for
counts (``{n}``), ``true`` / ``false`` for booleans, ``missing`` when there is no value, and
``other`` for everything else (``{value}``, quoted when text). ``{name}`` is the parameter of a
family fact (``Billing`` in ``read_category:Billing``).
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from plugin.journey.conditions import Reason

LANGUAGES = ("en", "es")
DEFAULT_LANGUAGE = "en"

PHRASES: Mapping[str, Mapping[str, Mapping[str, str]]] = {
    "days_since_signup": {
        "en": {
            "one": "signed up {n} day ago",
            "other": "signed up {n} days ago",
            "missing": "no signup date",
        },
        "es": {
            "one": "se registró hace {n} día",
            "other": "se registró hace {n} días",
            "missing": "sin fecha de registro",
        },
    },
    "days_since_purchase": {
        "en": {
            "one": "purchased {n} day ago",
            "other": "purchased {n} days ago",
            "missing": "no purchase yet",
        },
        "es": {
            "one": "compró hace {n} día",
            "other": "compró hace {n} días",
            "missing": "sin compras todavía",
        },
    },
    "days_until_renewal": {
        "en": {
            "one": "renewal in {n} day",
            "other": "renewal in {n} days",
            "missing": "no renewal date",
        },
        "es": {
            "one": "renovación en {n} día",
            "other": "renovación en {n} días",
            "missing": "sin fecha de renovación",
        },
    },
    "plan": {
        "en": {"other": "plan is {value}", "missing": "no plan"},
        "es": {"other": "el plan es {value}", "missing": "sin plan"},
    },
    "value_segment": {
        "en": {"other": "value segment is {value}", "missing": "no value segment"},
        "es": {"other": "el segmento de valor es {value}", "missing": "sin segmento de valor"},
    },
    "lifetime_value": {
        "en": {"other": "lifetime value {value}", "missing": "lifetime value unknown"},
        "es": {"other": "valor del cliente {value}", "missing": "valor del cliente desconocido"},
    },
    "open_tickets": {
        "en": {"one": "{n} open ticket", "other": "{n} open tickets"},
        "es": {"one": "{n} ticket abierto", "other": "{n} tickets abiertos"},
    },
    "tickets_last_7d": {
        "en": {"one": "{n} ticket in the last 7 days", "other": "{n} tickets in the last 7 days"},
        "es": {
            "one": "{n} ticket en los últimos 7 días",
            "other": "{n} tickets en los últimos 7 días",
        },
    },
    "tickets_last_30d": {
        "en": {"one": "{n} ticket in the last 30 days", "other": "{n} tickets in the last 30 days"},
        "es": {
            "one": "{n} ticket en los últimos 30 días",
            "other": "{n} tickets en los últimos 30 días",
        },
    },
    "articles_read_last_7d": {
        "en": {
            "one": "read {n} article in the last 7 days",
            "other": "read {n} articles in the last 7 days",
        },
        "es": {
            "one": "leyó {n} artículo en los últimos 7 días",
            "other": "leyó {n} artículos en los últimos 7 días",
        },
    },
    "max_views_same_article_7d": {
        "en": {
            "one": "viewed the same article {n} time in 7 days",
            "other": "viewed the same article {n} times in 7 days",
        },
        "es": {
            "one": "vio el mismo artículo {n} vez en 7 días",
            "other": "vio el mismo artículo {n} veces en 7 días",
        },
    },
    "last_csat": {
        "en": {"other": "last CSAT rating {value}", "missing": "no CSAT rating yet"},
        "es": {"other": "última valoración CSAT {value}", "missing": "sin valoración CSAT"},
    },
    "days_since_last_activity": {
        "en": {
            "one": "last active {n} day ago",
            "other": "last active {n} days ago",
            "missing": "no activity recorded",
        },
        "es": {
            "one": "última actividad hace {n} día",
            "other": "última actividad hace {n} días",
            "missing": "sin actividad registrada",
        },
    },
    "stage": {
        "en": {"other": "stage is {value}", "missing": "no stage"},
        "es": {"other": "la etapa es {value}", "missing": "sin etapa"},
    },
    "read_category:": {
        "en": {
            "one": 'read {n} article in category "{name}"',
            "other": 'read {n} articles in category "{name}"',
            "missing": 'no reads in category "{name}"',
        },
        "es": {
            "one": 'leyó {n} artículo de la categoría "{name}"',
            "other": 'leyó {n} artículos de la categoría "{name}"',
            "missing": 'sin lecturas en la categoría "{name}"',
        },
    },
    "attribute:": {
        "en": {"other": "{name} is {value}", "missing": "{name} not set"},
        "es": {"other": "{name} es {value}", "missing": "{name} sin valor"},
    },
    "signal:": {
        "en": {
            "true": 'signal "{name}" is on',
            "false": 'signal "{name}" is off',
            "missing": 'signal "{name}" not computed',
        },
        "es": {
            "true": 'señal "{name}" activa',
            "false": 'señal "{name}" inactiva',
            "missing": 'señal "{name}" sin calcular',
        },
    },
}

# Operator words for the "(≤ 45)" suffix; eq, exists and not_exists need none.
SYMBOLS = {"ne": "≠", "lt": "<", "lte": "≤", "gt": ">", "gte": "≥"}
WORDS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "in": "one of",
        "not_in": "none of",
        "contains": "contains",
        "not_set": "not set",
        "true": "yes",
        "false": "no",
        "decimal": ".",
    },
    "es": {
        "in": "uno de",
        "not_in": "ninguno de",
        "contains": "contiene",
        "not_set": "sin valor",
        "true": "sí",
        "false": "no",
        "decimal": ",",
    },
}


def render_reason(reason: Reason, lang: str = DEFAULT_LANGUAGE) -> str:
    """One reason as a short phrase in ``lang`` (``en``, ``es``; others fall back to English)."""
    lang = _language(lang)
    phrase = _phrase(reason, lang)
    suffix = _suffix(reason, lang)
    return f"{phrase} ({suffix})" if suffix else phrase


def render_reasons(reasons: Iterable[Reason], lang: str = DEFAULT_LANGUAGE) -> list[str]:
    return [render_reason(reason, lang) for reason in reasons]


def _language(lang: str) -> str:
    if type(lang) is str and lang in LANGUAGES:  # "en"/"es" as the API passes them
        return lang
    base = str(lang).lower().replace("_", "-").split("-")[0]
    return base if base in LANGUAGES else DEFAULT_LANGUAGE


def _phrase(reason: Reason, lang: str) -> str:
    entry, name = _entry(reason.fact)
    templates = entry.get(lang) or entry.get(DEFAULT_LANGUAGE) or {}
    template = templates.get(_form(reason.actual)) or templates.get("other")
    if template is None or ("{n}" in template and not _is_number(reason.actual)):
        return _fallback(reason, lang)
    value = format_value(reason.actual, lang)
    return template.format(n=value, value=value, name=name)


def _entry(fact: str) -> tuple[Mapping[str, Mapping[str, str]], str]:
    if fact in PHRASES:
        return PHRASES[fact], ""
    head, colon, tail = fact.partition(":")
    return PHRASES.get(head + colon, {}) if colon else {}, tail


def _form(actual: Any) -> str:
    if actual is None:
        return "missing"
    if isinstance(actual, bool):
        return "true" if actual else "false"
    try:
        return "one" if _is_number(actual) and actual == 1 else "other"
    except ArithmeticError:  # Decimal("sNaN") refuses comparison
        return "other"


def _fallback(reason: Reason, lang: str) -> str:
    if reason.actual is None:
        return f"{reason.fact}: {WORDS[lang]['not_set']}"
    return f"{reason.fact} = {format_value(reason.actual, lang)}"


def _suffix(reason: Reason, lang: str) -> str:
    op, expected = reason.op, reason.expected
    if op in SYMBOLS:
        return f"{SYMBOLS[op]} {format_value(expected, lang)}"
    if op in ("in", "not_in"):
        items = expected if isinstance(expected, list | tuple) else [expected]
        return f"{WORDS[lang][op]} {', '.join(format_value(item, lang) for item in items)}"
    if op == "contains":
        return f"{WORDS[lang]['contains']} {format_value(expected, lang)}"
    if op in ("eq", "exists", "not_exists"):
        return ""
    return f"{op} {format_value(expected, lang)}"


def format_value(value: Any, lang: str = DEFAULT_LANGUAGE) -> str:
    """A fact value as shown in reasons: text quoted, decimals localized, dates ISO."""
    lang = _language(lang)
    if value is None:
        return WORDS[lang]["not_set"]
    if isinstance(value, bool):
        return WORDS[lang]["true" if value else "false"]
    if _is_number(value):
        return _format_number(value, lang)
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        return "[" + ", ".join(format_value(item, lang) for item in value) + "]"
    return str(value)


def _format_number(value: Any, lang: str) -> str:
    if isinstance(value, int):
        return str(value)
    try:
        if value == int(value):
            return str(int(value))
        text = f"{float(value):.2f}".rstrip("0").rstrip(".")
    except (ValueError, OverflowError, ArithmeticError):  # nan, inf
        return str(value)
    return text.replace(".", WORDS[lang]["decimal"])


def _is_number(value: Any) -> bool:
    kind = type(value)
    if kind is int or kind is float:  # the usual facts: no ABC check (~1 µs each)
        return True
    if kind is str or kind is bool or value is None:
        return False
    return isinstance(value, numbers.Real | Decimal) and not isinstance(value, bool)
