"""The fact catalogue: every fact a stage, signal, outreach or SLA rule can test.

Each fact has a name, a type, a description (shown in the admin and docs) and one
function computing it from the store's per-customer aggregates
(`plugin.store.history.customer_aggregates`). Pure: aggregates + now in, facts out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from plugin.journey.conditions import FactSpec

DAY = 86_400
HIGH_VALUE_LTV = 5_000


@dataclass(frozen=True)
class Fact:
    spec: FactSpec
    compute: Callable[[Mapping[str, Any], int], Any]


def _days_since(key: str) -> Callable[[Mapping[str, Any], int], Any]:
    def compute(agg: Mapping[str, Any], now: int) -> int | None:
        value = agg.get(key)
        return None if value is None else int((now - value) // DAY)

    return compute


def _days_until(key: str) -> Callable[[Mapping[str, Any], int], Any]:
    def compute(agg: Mapping[str, Any], now: int) -> int | None:
        value = agg.get(key)
        return None if value is None else int(-((now - value) // DAY))

    return compute


def _field(key: str) -> Callable[[Mapping[str, Any], int], Any]:
    return lambda agg, now: agg.get(key)


def value_segment(agg: Mapping[str, Any], now: int) -> str | None:
    """low / mid / high by lifetime value, unless the desk sets `value_segment` itself."""
    explicit = (agg.get("attributes") or {}).get("value_segment")
    if explicit:
        return str(explicit)
    ltv = agg.get("lifetime_value")
    if ltv is None:
        return None
    return "high" if ltv >= HIGH_VALUE_LTV else "mid" if ltv >= 1_000 else "low"


FACTS: dict[str, Fact] = {
    f.spec.name: f
    for f in [
        Fact(
            FactSpec("days_since_signup", "number", "Days since the customer signed up"),
            _days_since("signup_at"),
        ),
        Fact(
            FactSpec("days_since_purchase", "number", "Days since the first purchase"),
            _days_since("purchased_at"),
        ),
        Fact(
            FactSpec("days_until_renewal", "number", "Days until the next renewal"),
            _days_until("renewal_at"),
        ),
        Fact(
            FactSpec("plan", "string", "The customer's plan (free, trial, team, ...)"),
            _field("plan"),
        ),
        Fact(
            FactSpec("value_segment", "string", "low / mid / high by lifetime value"), value_segment
        ),
        Fact(
            FactSpec("lifetime_value", "number", "Revenue from the customer so far"),
            _field("lifetime_value"),
        ),
        Fact(
            FactSpec("open_tickets", "number", "Unsolved tickets right now"), _field("open_tickets")
        ),
        Fact(
            FactSpec("tickets_last_7d", "number", "Tickets opened in the last 7 days"),
            _field("tickets_last_7d"),
        ),
        Fact(
            FactSpec("tickets_last_30d", "number", "Tickets opened in the last 30 days"),
            _field("tickets_last_30d"),
        ),
        Fact(
            FactSpec("articles_read_last_7d", "number", "Distinct articles read in 7 days"),
            _field("articles_read_last_7d"),
        ),
        Fact(
            FactSpec(
                "max_views_same_article_7d",
                "number",
                "Most views of one article in 7 days (re-reading = a pain point)",
            ),
            _field("max_views_same_article_7d"),
        ),
        Fact(
            FactSpec("last_csat", "string", "The latest CSAT rating: good or bad"),
            _field("last_csat"),
        ),
        Fact(
            FactSpec("days_since_last_activity", "number", "Days since any touchpoint"),
            _days_since("last_activity_at"),
        ),
        Fact(
            FactSpec(
                "read_category",
                "number",
                "Distinct articles read in a category in 30 days",
                prefix=True,
            ),
            lambda agg, now: None,
        ),
        Fact(
            FactSpec("attribute", "any", "A custom attribute from the desk", prefix=True),
            lambda agg, now: None,
        ),
    ]
}

STAGE_FACT = FactSpec("stage", "string", "The customer's journey stage")
SIGNAL_FACT = FactSpec("signal", "boolean", "Whether a signal is on", prefix=True)


def fact_specs(*, with_stage: bool = False) -> dict[str, FactSpec]:
    """The specs rules are validated against (signals and SLA rules also see the stage)."""
    specs = {name: fact.spec for name, fact in FACTS.items()}
    if with_stage:
        specs[STAGE_FACT.name] = STAGE_FACT
        specs[SIGNAL_FACT.name] = SIGNAL_FACT
    return specs


_PLAIN_FACTS = tuple((name, fact.compute) for name, fact in FACTS.items() if not fact.spec.prefix)
"""The catalogue's facts that are not families, each with its function (a recompute calls
`compute_facts` a million times)."""


def compute_facts(agg: Mapping[str, Any], now: int) -> dict[str, Any]:
    """Every catalogue fact of one customer, parametrised families expanded."""
    facts = {name: compute(agg, now) for name, compute in _PLAIN_FACTS}
    categories = agg.get("read_categories")
    if categories:
        for category, count in categories.items():
            facts[f"read_category:{category}"] = count
    attributes = agg.get("attributes")
    if attributes:
        for key, value in attributes.items():
            facts[f"attribute:{key}"] = value
    return facts
