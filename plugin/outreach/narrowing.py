"""Which customers can possibly be in an audience, found in SQL before any facts are read.

Computing a customer's facts costs ~0.1 ms; a million of them, most of a minute. Many
audiences say something the store can answer for everyone at once: "the same article
read 3+ times in 7 days" needs at least 3 views of one article in 7 days, "stage is
retention" a stored stage, "60 days silent" no touchpoint since. `narrowing` reads the
condition tree for such necessary conditions (pure); `possible_customers` asks the store
for the customers meeting them: a superset of the audience, never fewer, which the
condition engine then evaluates as usual (so the reasons and the result are unchanged).

Only conditions that cannot hold for a customer without the fact's value (a missing
value never matches) narrow; anything else (`not`-like operators, `any` with a branch
that cannot narrow, unknown facts) means "every customer".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real

from sqlite_utils import Database

from plugin.journey.conditions import Condition, Group, Leaf, evaluate

DAY = 86_400
_TICKET_FACTS = {"tickets_last_7d": 7, "tickets_last_30d": 30}
_VIEW_FACTS = {  # fact: (days, of one article)
    "max_views_same_article_7d": (7, True),
    "articles_read_last_7d": (7, False),
}


@dataclass(frozen=True)
class Narrow:
    kind: str
    """views | stage | signal | purchased | inactive | all | any, or no_tickets: a filter
    that only removes customers (from what the other parts of an `all` found)."""
    args: tuple = ()


def narrowing(condition: Condition) -> Narrow | None:
    """A necessary condition of `condition` the store can answer, or None."""
    if isinstance(condition, Group):
        parts = [narrowing(child) for child in condition.children]
        if condition.kind == "all":
            found = tuple(p for p in parts if p is not None)
            return Narrow("all", found) if found else None
        if not parts or any(p is None for p in parts):
            return None
        return Narrow("any", tuple(parts))
    return _leaf(condition)


def _leaf(leaf: Leaf) -> Narrow | None:
    if evaluate(leaf, {}).matched or evaluate(leaf, {leaf.fact: None}).matched:
        return None  # holds without a value: nothing narrows it
    if leaf.fact == "stage":
        return Narrow("stage", (leaf,))
    if leaf.fact.startswith("signal:"):
        return Narrow("signal", (leaf.fact.partition(":")[2],))
    low, high = _bounds(leaf)
    if leaf.fact in _TICKET_FACTS and high == 0 and evaluate(leaf, {leaf.fact: 0}).matched:
        return Narrow("no_tickets", (_TICKET_FACTS[leaf.fact],))
    if leaf.fact in _VIEW_FACTS and low is not None and low >= 1:
        days, same = _VIEW_FACTS[leaf.fact]
        return Narrow("views", (days, low, same))
    if leaf.fact.startswith("read_category:") and low is not None and low >= 1:
        return Narrow("views", (30, low, False))  # n articles of a category: n views at least
    if leaf.fact == "days_since_purchase" and (low is not None or high is not None):
        return Narrow("purchased", (low, high))
    if leaf.fact == "days_since_last_activity" and low is not None and low >= 1:
        return Narrow("inactive", (low,))
    return None


def _bounds(leaf: Leaf) -> tuple[int | None, int | None]:
    """Whole-number bounds a numeric fact must meet for `leaf` to hold."""
    value = leaf.value
    if not isinstance(value, Real) or isinstance(value, bool) or not math.isfinite(value):
        return None, None
    return {
        "gte": (math.ceil(value), None),
        "gt": (math.floor(value) + 1, None),
        "lte": (None, math.floor(value)),
        "lt": (None, math.ceil(value) - 1),
        "eq": (math.ceil(value), math.floor(value)),
    }.get(leaf.op, (None, None))


def possible_customers(
    db: Database, narrow: Narrow | None, *, now: int, seen: dict | None = None
) -> set[int] | None:
    """The customers who may meet `narrow` (a superset), or None for "anyone"."""
    from plugin.store.customers import customers_purchased_between
    from plugin.store.history import customers_inactive_since, customers_with_views
    from plugin.store.journeys import customers_in_stages, customers_with_signal, stage_counts
    from plugin.store.tickets import customers_with_tickets_since

    seen = {} if seen is None else seen  # the same part asked twice is read once
    if narrow is None or narrow.kind == "no_tickets":
        return None
    if narrow in seen:
        return seen[narrow]
    if narrow.kind in ("all", "any"):
        sets = [possible_customers(db, part, now=now, seen=seen) for part in narrow.args]
        if narrow.kind == "all":
            known = sorted((s for s in sets if s is not None), key=len)
            found = set.intersection(*known) if known else None
            for part in narrow.args:
                if found and part.kind == "no_tickets":
                    found -= customers_with_tickets_since(db, found, since=now - part.args[0] * DAY)
        else:
            found = None if any(s is None for s in sets) else set().union(*sets)
    elif narrow.kind == "views":
        days, at_least, same_article = narrow.args
        found = customers_with_views(
            db, since=now - days * DAY, at_least=at_least, same_article=same_article
        )
    elif narrow.kind == "stage":
        (leaf,) = narrow.args
        stages = [s for s in stage_counts(db) if evaluate(leaf, {"stage": s}).matched]
        found = customers_in_stages(db, stages)
    elif narrow.kind == "signal":
        found = customers_with_signal(db, narrow.args[0])
    elif narrow.kind == "purchased":
        low, high = narrow.args  # days since: a day of slack on each side
        after = now - (high + 2) * DAY if high is not None else None
        until = now - (low - 1) * DAY if low is not None else None
        found = customers_purchased_between(db, after=after, until=until)
    elif narrow.kind == "inactive":
        found = customers_inactive_since(db, now - (narrow.args[0] - 1) * DAY)
    else:
        found = None
    seen[narrow] = found
    return found
