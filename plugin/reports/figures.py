"""Small pure helpers the touchpoint, effort, outreach-outcome and journey-map reports
share: epoch ranges of the filters, medians, the stages in journey order, and the
difference of two proportions with its confidence interval."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from statistics import median

from plugin.clock import to_epoch
from plugin.journey.model import default_definitions, journey_position, phase_of
from plugin.reports.report import Filters

Z_95 = 1.959963984540054
"""The standard normal quantile of a two-sided 95 % interval."""


def epoch_range(filters: Filters) -> tuple[int, int]:
    return to_epoch(filters.start) or 0, to_epoch(filters.end) or 0


def median_or_none(values: Iterable[float]) -> float | None:
    found = list(values)
    return median(found) if found else None


def median_of_counts(counts: dict[int, int]) -> float | None:
    """The median of a histogram ({value: how many}), as `statistics.median` of the values
    written out would give (the mean of the two middle ones for an even count)."""
    total = sum(counts.values())
    if not total:
        return None
    middle = ((total - 1) // 2, total // 2)  # the 0-based positions of the middle value(s)
    found, seen = [], 0
    for value in sorted(counts):
        for position in middle:
            if seen <= position < seen + counts[value]:
                found.append(value)
        seen += counts[value]
    return (found[0] + found[1]) / 2 if found[0] != found[1] else found[0]


def share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@cache
def _default_labels() -> dict[str, str]:
    return {s["key"]: s.get("label", s["key"]) for s in default_definitions().get("stages", [])}


def stage_label(key: str) -> str:
    return _default_labels().get(key, key.replace("_", " ").capitalize())


def stages_in_order(seen: Iterable[str]) -> list[str]:
    """The default stages in journey order, then any other stage seen (an admin's own,
    or 'unknown'), alphabetically."""
    found = set(seen)
    default = sorted(_default_labels(), key=journey_position)
    return default + sorted(found - set(default), key=lambda k: (journey_position(k), k))


def stage_phase(key: str) -> str:
    return phase_of(key)


@dataclass(frozen=True)
class Difference:
    """p1 − p2 with its 95 % interval (Newcombe's hybrid score method)."""

    p1: float
    p2: float
    low: float
    high: float

    @property
    def value(self) -> float:
        return self.p1 - self.p2


def wilson(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion."""
    p = successes / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    denominator = 1 + z * z / n
    return (centre - spread) / denominator, (centre + spread) / denominator


def newcombe_difference(x1: int, n1: int, x2: int, n2: int) -> Difference:
    """The difference of two independent proportions x1/n1 − x2/n2 with Newcombe's
    (1998, method 10) interval from the two Wilson intervals: well behaved near 0 and 1
    and for small groups, where the Wald interval is not."""
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1)
    l2, u2 = wilson(x2, n2)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return Difference(p1, p2, low, high)
