"""What a candidate journey model would change, before anyone saves it.

Both models are evaluated over the same facts (the store computes them in bulk once), so
the numbers compare like with like: customers per stage and per signal before and after,
and a sample of the customers who would change, with the reasons of their new stage.
Pure: facts in, a `Preview` out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import zip_longest
from typing import Any

from plugin.journey.model import CustomerJourney, Definition, JourneyModel, evaluate_customer

SAMPLE_SIZE = 20


@dataclass(frozen=True)
class CountRow:
    key: str
    label: str
    before: int
    after: int

    @property
    def change(self) -> int:
        return self.after - self.before


@dataclass(frozen=True)
class Change:
    """One customer whose stage or signals would differ."""

    customer_id: int
    before: CustomerJourney
    after: CustomerJourney

    @property
    def moves(self) -> bool:
        return self.before.stage.key != self.after.stage.key

    @property
    def gained(self) -> tuple[str, ...]:
        had = {s.key for s in self.before.signals}
        return tuple(s.key for s in self.after.signals if s.key not in had)

    @property
    def lost(self) -> tuple[str, ...]:
        has = {s.key for s in self.after.signals}
        return tuple(s.key for s in self.before.signals if s.key not in has)


@dataclass(frozen=True)
class Preview:
    customers: int
    stages: tuple[CountRow, ...]
    signals: tuple[CountRow, ...]
    moved: int
    """Customers whose stage would change."""
    signal_changes: int
    """Customers whose stage stays but whose signals would change."""
    sample: tuple[Change, ...]

    @property
    def changed(self) -> int:
        return self.moved + self.signal_changes


def preview_models(
    before: JourneyModel,
    after: JourneyModel,
    facts: Mapping[int, Mapping[str, Any]],
    *,
    sample_size: int = SAMPLE_SIZE,
) -> Preview:
    """Evaluate `before` and `after` for every customer in `facts` and compare."""
    changes: list[Change] = []
    stages_before: dict[str, int] = {}
    stages_after: dict[str, int] = {}
    signals_before: dict[str, int] = {}
    signals_after: dict[str, int] = {}
    for customer_id in sorted(facts):
        old = evaluate_customer(before, facts[customer_id])
        new = evaluate_customer(after, facts[customer_id])
        _count(old, stages_before, signals_before)
        _count(new, stages_after, signals_after)
        change = Change(customer_id, old, new)
        if change.moves or change.gained or change.lost:
            changes.append(change)
    moved = sum(1 for c in changes if c.moves)
    return Preview(
        customers=len(facts),
        stages=_rows(after.stages, before.stages, stages_before, stages_after),
        signals=_rows(after.signals, before.signals, signals_before, signals_after),
        moved=moved,
        signal_changes=len(changes) - moved,
        sample=tuple(_sample(changes, sample_size)),
    )


def _count(journey: CustomerJourney, stages: dict[str, int], signals: dict[str, int]) -> None:
    stages[journey.stage.key] = stages.get(journey.stage.key, 0) + 1
    for signal in journey.signals:
        signals[signal.key] = signals.get(signal.key, 0) + 1


def _rows(
    new: Iterable[Definition],
    old: Iterable[Definition],
    before: Mapping[str, int],
    after: Mapping[str, int],
) -> tuple[CountRow, ...]:
    """The candidate's definitions in its order, then any it removes."""
    definitions = {d.key: d for d in old} | {d.key: d for d in new}
    keys = [d.key for d in new] + [d.key for d in old if d.key not in {n.key for n in new}]
    return tuple(
        CountRow(key, definitions[key].label, before.get(key, 0), after.get(key, 0)) for key in keys
    )


def _sample(changes: list[Change], size: int) -> list[Change]:
    """Up to `size` changes, taking turns across kinds of move so small groups show too."""
    groups: dict[tuple[Any, ...], list[Change]] = {}
    for change in changes:
        if change.moves:
            key: tuple[Any, ...] = ("move", change.before.stage.key, change.after.stage.key)
        else:
            key = ("signals", change.gained, change.lost)
        groups.setdefault(key, []).append(change)
    # Stage moves before signal-only changes, bigger groups first; stable by customer id.
    ordered = sorted(groups.values(), key=lambda g: (not g[0].moves, -len(g)))
    picked: list[Change] = []
    for round_ in zip_longest(*ordered):
        picked.extend(change for change in round_ if change is not None)
        if len(picked) >= size:
            break
    return picked[:size]
