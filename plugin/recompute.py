"""Recompute customers' stages and signals: incrementally or in full.

Incremental takes only the customers the store marked changed (new touchpoints,
tickets or profile changes) since the last run; full takes everyone (after the
definitions change). Both give the same result for the customers they touch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlite_utils import Database

from plugin.journey.facts import compute_facts
from plugin.journey.model import JourneyModel, evaluate_customer, reason_to_dict
from plugin.store import now_epoch
from plugin.store.facts import customer_aggregates
from plugin.store.journeys import (
    JourneyRow,
    all_customer_ids,
    save_journeys,
    take_dirty_customers,
)

CHUNK = 5_000


@dataclass(frozen=True)
class RecomputeReport:
    customers: int
    moved: int


def recompute(
    db: Database,
    model: JourneyModel,
    *,
    full: bool = False,
    now: int | None = None,
    still_current: Callable[[], bool] | None = None,
) -> RecomputeReport:
    """Evaluate the journey of changed customers (or everyone when `full`) and store it.

    `still_current` is asked before each chunk is stored: when the model was replaced
    meanwhile the run stops, so an old model never overwrites the new one's results.
    """
    now = now or now_epoch()
    ids = take_dirty_customers(db)
    if full:
        ids = all_customer_ids(db)
    moved = 0
    for start in range(0, len(ids), CHUNK):
        rows = evaluate_chunk(db, model, ids[start : start + CHUNK], now)
        if still_current is not None and not still_current():
            break
        moved += save_journeys(db, rows, now=now)
    return RecomputeReport(customers=len(ids), moved=moved)


def evaluate_chunk(db: Database, model: JourneyModel, ids: list[int], now: int) -> list[JourneyRow]:
    rows = []
    for customer_id, aggregates in customer_aggregates(db, ids, now=now).items():
        journey = evaluate_customer(model, compute_facts(aggregates, now))
        rows.append(
            JourneyRow(
                customer_id=customer_id,
                stage=journey.stage.key,
                reasons=[reason_to_dict(r) for r in journey.stage.reasons],
                signals=[
                    {"key": s.key, "reasons": [reason_to_dict(r) for r in s.reasons]}
                    for s in journey.signals
                ],
            )
        )
    return rows
