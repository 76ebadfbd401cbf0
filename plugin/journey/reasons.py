"""Reasons as sentences for agents and admins, in English and Spanish.

A `Reason` is structured (fact, op, expected, actual); this module turns it into a short phrase
such as ``bought 12 days ago`` or ``compró hace 12 días``: what a person would say, the
window of every count named (``in the 7 days before now``: facts are evaluated at a moment),
known text values translated (`VALUE_WORDS`: ``trial`` → ``on a trial``). Phrases live in
`PHRASES`, plain data keyed by fact (``"read_category:"`` for a family), so a new fact needs
only an entry; a fact without one falls back to ``<fact> = <actual> (<op> <expected>)``.

Each entry maps a language to templates picked by the actual value: ``zero`` / ``one`` /
``other`` for counts (``{n}``), ``true`` / ``false`` for booleans, ``missing`` when there is no
value, a text value's own template (``trial``), and ``other`` for everything else
(``{value}``). ``{name}`` is the parameter of a family fact (``Billing`` in
``read_category:Billing``).
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
            "zero": "signed up today",
            "missing": "no signup date",
        },
        "es": {
            "one": "se registró hace {n} día",
            "other": "se registró hace {n} días",
            "zero": "se registró hoy",
            "missing": "sin fecha de registro",
        },
    },
    "days_since_purchase": {
        "en": {
            "one": "bought {n} day ago",
            "other": "bought {n} days ago",
            "zero": "bought today",
            "missing": "has not bought yet",
        },
        "es": {
            "one": "compró hace {n} día",
            "other": "compró hace {n} días",
            "zero": "compró hoy",
            "missing": "todavía no ha comprado",
        },
    },
    "days_until_renewal": {
        "en": {
            "one": "renews in {n} day",
            "other": "renews in {n} days",
            "zero": "renews today",
            "missing": "no renewal date",
        },
        "es": {
            "one": "renueva en {n} día",
            "other": "renueva en {n} días",
            "zero": "renueva hoy",
            "missing": "sin fecha de renovación",
        },
    },
    "plan": {
        "en": {"other": "on the {value} plan", "trial": "on a trial", "missing": "no plan"},
        "es": {
            "other": "con el plan {value}",
            "trial": "en periodo de prueba",
            "missing": "sin plan",
        },
    },
    "value_segment": {
        "en": {
            "other": "{value} value customer",
            "missing": "value not known",
        },
        "es": {
            "other": "cliente de valor {value}",
            "missing": "valor desconocido",
        },
    },
    "lifetime_value": {
        "en": {"other": "has spent {value} in total", "missing": "spend not known"},
        "es": {"other": "ha gastado {value} en total", "missing": "gasto desconocido"},
    },
    "open_tickets": {
        "en": {"one": "{n} open ticket", "other": "{n} open tickets", "zero": "no open tickets"},
        "es": {
            "one": "{n} ticket abierto",
            "other": "{n} tickets abiertos",
            "zero": "ningún ticket abierto",
        },
    },
    "tickets_last_7d": {
        "en": {
            "one": "{n} ticket in the 7 days before now",
            "other": "{n} tickets in the 7 days before now",
        },
        "es": {
            "one": "{n} ticket en los 7 días hasta ahora",
            "other": "{n} tickets en los 7 días hasta ahora",
        },
    },
    "tickets_last_30d": {
        "en": {
            "one": "{n} ticket in the 30 days before now",
            "other": "{n} tickets in the 30 days before now",
        },
        "es": {
            "one": "{n} ticket en los 30 días hasta ahora",
            "other": "{n} tickets en los 30 días hasta ahora",
        },
    },
    "articles_read_last_7d": {
        "en": {
            "one": "read {n} article in the 7 days before now",
            "other": "read {n} articles in the 7 days before now",
            "zero": "read no articles in the 7 days before now",
        },
        "es": {
            "one": "leyó {n} artículo en los 7 días hasta ahora",
            "other": "leyó {n} artículos en los 7 días hasta ahora",
            "zero": "no leyó ningún artículo en los 7 días hasta ahora",
        },
    },
    "max_views_same_article_7d": {
        "en": {
            "one": "read one article {n} time in the 7 days before now",
            "other": "read one article {n} times in the 7 days before now",
        },
        "es": {
            "one": "leyó un mismo artículo {n} vez en los 7 días hasta ahora",
            "other": "leyó un mismo artículo {n} veces en los 7 días hasta ahora",
        },
    },
    "last_csat": {
        "en": {
            "other": "last rated support {value}",
            "good": "rated support good last time",
            "bad": "rated support bad last time",
            "missing": "has not rated support yet",
        },
        "es": {
            "other": "última valoración del soporte: {value}",
            "good": "valoró bien el soporte la última vez",
            "bad": "valoró mal el soporte la última vez",
            "missing": "todavía no ha valorado el soporte",
        },
    },
    "days_since_last_activity": {
        "en": {
            "one": "last active {n} day ago",
            "other": "last active {n} days ago",
            "zero": "active today",
            "missing": "no activity recorded",
        },
        "es": {
            "one": "última actividad hace {n} día",
            "other": "última actividad hace {n} días",
            "zero": "activo hoy",
            "missing": "sin actividad registrada",
        },
    },
    "stage": {
        "en": {"other": "in the {value} stage", "missing": "no stage"},
        "es": {"other": "en la etapa {value}", "missing": "sin etapa"},
    },
    "read_category:": {
        "en": {
            "one": "read {n} article about {name} in the 30 days before now",
            "other": "read {n} articles about {name} in the 30 days before now",
            "zero": "read nothing about {name} in the 30 days before now",
            "missing": "read nothing about {name} in the 30 days before now",
        },
        "es": {
            "one": "leyó {n} artículo sobre {name} en los 30 días hasta ahora",
            "other": "leyó {n} artículos sobre {name} en los 30 días hasta ahora",
            "zero": "no leyó nada sobre {name} en los 30 días hasta ahora",
            "missing": "no leyó nada sobre {name} en los 30 días hasta ahora",
        },
    },
    "attribute:nps": {
        "en": {"other": "gave an NPS score of {value}", "missing": "no NPS score"},
        "es": {"other": "dio una puntuación NPS de {value}", "missing": "sin puntuación NPS"},
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
"""Templates per fact: ``one`` / ``other`` / ``zero`` for counts, ``true`` / ``false`` for
booleans, ``missing``, and a template named after a text value (``trial``, ``bad``) where that
value reads better as its own sentence."""

VALUE_WORDS: Mapping[str, Mapping[str, Mapping[str, str]]] = {
    "plan": {
        "en": {
            "free": "Free",
            "trial": "Trial",
            "team": "Team",
            "business": "Business",
            "enterprise": "Enterprise",
            "pro": "Pro",
            "starter": "Starter",
        },
        "es": {
            "free": "Gratuito",
            "trial": "Prueba",
            "team": "Equipo",
            "business": "Empresa",
            "enterprise": "Corporativo",
            "pro": "Pro",
            "starter": "Inicial",
        },
    },
    "value_segment": {
        "en": {"high": "high", "medium": "medium", "low": "low"},
        "es": {"high": "alto", "medium": "medio", "low": "bajo"},
    },
    "last_csat": {
        "en": {"good": "good", "bad": "bad"},
        "es": {"good": "buena", "bad": "mala"},
    },
    "stage": {
        "en": {
            "awareness": "Awareness",
            "consideration": "Consideration",
            "purchase": "Purchase",
            "service": "Onboarding",
            "retention": "Retention",
            "advocacy": "Advocacy",
        },
        "es": {
            "awareness": "Descubrimiento",
            "consideration": "Evaluación",
            "purchase": "Compra",
            "service": "Incorporación",
            "retention": "Retención",
            "advocacy": "Recomendación",
        },
    },
}
"""Known values of text facts in each language (the default model's plans, segments,
ratings and stages); any other value is shown as the desk wrote it, without quotes."""


def value_word(fact: str, value: Any, lang: str = DEFAULT_LANGUAGE) -> str:
    """A text fact's value as a person reads it in ``lang`` (``trial`` → ``Prueba``)."""
    lang = _language(lang)
    words = VALUE_WORDS.get(fact, {}).get(lang, {})
    text = str(value)
    return words.get(text) or words.get(text.lower()) or text


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
    """One reason as a short phrase in ``lang`` (``en``, ``es``; others fall back to English).

    A fact with a phrase reads as a person would say it (``renews in 5 days``), without the
    rule's limit; a fact without one keeps ``fact = value (op limit)``.
    """
    lang = _language(lang)
    phrase = _phrase(reason, lang)
    if phrase is not None:
        return phrase
    fallback = _fallback(reason, lang)
    suffix = _suffix(reason, lang)
    return f"{fallback} ({suffix})" if suffix else fallback


def render_reasons(reasons: Iterable[Reason], lang: str = DEFAULT_LANGUAGE) -> list[str]:
    """Each reason once: two limits on one fact (``renewal ≤ 30`` and ``≥ 0``) read the same
    once phrased, and the agent sees the fact once."""
    seen: dict[str, None] = {}
    for reason in reasons:
        seen.setdefault(render_reason(reason, lang), None)
    return list(seen)


def _language(lang: str) -> str:
    if type(lang) is str and lang in LANGUAGES:  # "en"/"es" as the API passes them
        return lang
    base = str(lang).lower().replace("_", "-").split("-")[0]
    return base if base in LANGUAGES else DEFAULT_LANGUAGE


def _phrase(reason: Reason, lang: str) -> str | None:
    entry, name = _entry(reason.fact)
    templates = entry.get(lang) or entry.get(DEFAULT_LANGUAGE) or {}
    actual = reason.actual
    template = None
    if isinstance(actual, str):
        template = templates.get(actual)
    template = template or templates.get(_form(actual)) or templates.get("other")
    if template is None or ("{n}" in template and not _is_number(actual)):
        return None
    if isinstance(actual, str):
        value = value_word(reason.fact.partition(":")[0], actual, lang)
    else:
        value = format_value(actual, lang)
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
        if _is_number(actual) and actual == 0:
            return "zero"
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
