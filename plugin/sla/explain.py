"""A stored SLA decision as an agent reads it, in English and Spanish (pure).

"Priority raised to urgent: stage is "purchase", renewal in 12 days (≤ 30); first reply
within 1 h, resolution within 8 h". The reasons are the journey's own phrases
(`plugin/journey/reasons.py`), so the sidebar, the journey note and the admin say a
condition the same way; this module only adds what the decision did.

A decision is a row of `store/sla_decisions.py`: rule (None when no rule matched),
priority_before/after, tags_added, targets and reasons (as stored).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from plugin.journey.model import reason_from_dict
from plugin.journey.reasons import DEFAULT_LANGUAGE, LANGUAGES, render_reasons
from plugin.sla.rules import PRIORITIES

PHRASES: Mapping[str, Mapping[str, str]] = {
    "en": {
        "raised": "Priority raised to {priority}",
        "lowered": "Priority lowered to {priority}",
        "set": "Priority set to {priority}",
        "kept": "Priority kept at {priority}",
        "matched": 'SLA rule "{rule}" applied',
        "no_rule": "No SLA rule matched",
        "rule": 'rule "{rule}"',
        "tags": "tagged {tags}",
        "first_response": "first reply within {time}",
        "resolution": "resolution within {time}",
        "minutes": "{n} min",
        "hours": "{n} h",
        "hours_minutes": "{h} h {m} min",
        "day": "{n} day",
        "days": "{n} days",
    },
    "es": {
        "raised": "Prioridad elevada a {priority}",
        "lowered": "Prioridad bajada a {priority}",
        "set": "Prioridad fijada en {priority}",
        "kept": "Prioridad mantenida en {priority}",
        "matched": 'Regla de SLA "{rule}" aplicada',
        "no_rule": "Ninguna regla de SLA coincidió",
        "rule": 'regla "{rule}"',
        "tags": "etiquetas añadidas: {tags}",
        "first_response": "primera respuesta en {time}",
        "resolution": "resolución en {time}",
        "minutes": "{n} min",
        "hours": "{n} h",
        "hours_minutes": "{h} h {m} min",
        "day": "{n} día",
        "days": "{n} días",
    },
}
PRIORITY_NAMES: Mapping[str, Mapping[str, str]] = {
    "en": {"low": "low", "normal": "normal", "high": "high", "urgent": "urgent"},
    "es": {"low": "baja", "normal": "normal", "high": "alta", "urgent": "urgente"},
}


@dataclass(frozen=True)
class Explanation:
    """A decision in parts (the sidebar lays them out) and as one `sentence`."""

    matched: bool
    change: str | None
    """raised | lowered | set | kept, or None (no priority to speak of, or no rule)."""
    headline: str
    reasons: tuple[str, ...] = ()
    tags: str | None = None
    targets: str | None = None

    @property
    def sentence(self) -> str:
        text = self.headline + (": " + ", ".join(self.reasons) if self.reasons else "")
        extras = [part for part in (self.tags, self.targets) if part]
        return "; ".join([text, *extras])


def explain_decision(decision: Mapping[str, Any], lang: str = DEFAULT_LANGUAGE) -> Explanation:
    """What the decision did and why, in `lang` (en, es; others read English)."""
    lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
    words = PHRASES[lang]
    rule = decision.get("rule")
    if rule is None:
        return Explanation(False, None, words["no_rule"])
    change, headline = _headline(decision, rule, words, lang)
    reasons = tuple(render_reasons([reason_from_dict(r) for r in decision.get("reasons")], lang))
    if not reasons and change is not None:  # a rule matching every ticket: name it instead
        headline = f"{headline} ({words['rule'].format(rule=rule)})"
    tags = list(decision.get("tags_added") or ())
    return Explanation(
        True,
        change,
        headline,
        reasons,
        words["tags"].format(tags=", ".join(tags)) if tags else None,
        describe_targets(decision.get("targets") or {}, lang),
    )


def priority_change(before: str | None, after: str | None) -> str | None:
    """raised | lowered | set | kept, comparing on the desk-neutral scale; None when the
    ticket has no priority either side."""
    if after is None:
        return None
    if before is None or before not in PRIORITIES or after not in PRIORITIES:
        return "set" if before != after else "kept"
    rank = PRIORITIES.index(after) - PRIORITIES.index(before)
    return "raised" if rank > 0 else "lowered" if rank < 0 else "kept"


def describe_targets(targets: Mapping[str, Any], lang: str = DEFAULT_LANGUAGE) -> str | None:
    """'first reply within 1 h, resolution within 8 h', or None without targets."""
    lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
    words = PHRASES[lang]
    parts = [
        words[key].format(time=duration(minutes, lang))
        for key, minutes in (
            ("first_response", targets.get("first_response_minutes")),
            ("resolution", targets.get("resolution_minutes")),
        )
        if minutes
    ]
    return ", ".join(parts) or None


def duration(minutes: int, lang: str = DEFAULT_LANGUAGE) -> str:
    """45 min, 1 h, 1 h 30 min, 3 days (whole days from 48 h on)."""
    words = PHRASES[lang if lang in LANGUAGES else DEFAULT_LANGUAGE]
    if minutes < 60:
        return words["minutes"].format(n=minutes)
    hours, rest = divmod(minutes, 60)
    if hours >= 48 and minutes % 1440 == 0:
        days = minutes // 1440
        return words["day" if days == 1 else "days"].format(n=days)
    if rest:
        return words["hours_minutes"].format(h=hours, m=rest)
    return words["hours"].format(n=hours)


def _headline(
    decision: Mapping[str, Any], rule: str, words: Mapping[str, str], lang: str
) -> tuple[str | None, str]:
    after = decision.get("priority_after")
    change = priority_change(decision.get("priority_before"), after)
    if change is None:
        return None, words["matched"].format(rule=rule)
    name = PRIORITY_NAMES[lang].get(after, after)
    return change, words[change].format(priority=name)
