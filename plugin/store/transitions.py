"""Counting stage transitions over a period, for the dashboard and reports."""

from __future__ import annotations

from dataclasses import dataclass

from sqlite_utils import Database


@dataclass(frozen=True)
class TransitionCount:
    from_stage: str | None
    """None for customers journeydesk placed in a stage for the first time."""
    to_stage: str
    customers: int
    moves: int
    """Can exceed `customers`: one customer may make the same move twice in a period."""


def transition_counts(
    db: Database, *, since: int, until: int, first_stages: bool = False
) -> list[TransitionCount]:
    """Stage changes with `since <= at < until`, per (from, to), most frequent first.

    First placements (a new customer, or everyone at the first recompute) are left out
    unless `first_stages`: they are not moves along the journey.
    """
    first = "" if first_stages else "AND from_stage IS NOT NULL "
    rows = db.execute(
        "SELECT from_stage, to_stage, count(DISTINCT customer_id), count(*) "
        "FROM stage_history INDEXED BY stage_history_at "
        f"WHERE at >= ? AND at < ? {first}"  # noqa: S608 - one of two literals
        "GROUP BY from_stage, to_stage ORDER BY count(*) DESC, from_stage, to_stage",
        [since, until],
    )
    return [TransitionCount(*row) for row in rows]
