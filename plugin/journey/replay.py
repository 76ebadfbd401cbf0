"""When did the current stage begin? The journey model replayed over a customer's past.

A customer computed for the first time (a desk's first sync, the demo, an import, a model
change) has a whole dated past: signup, purchase, renewal, tickets opened and solved, CSAT
ratings, articles read. Instead of placing everyone "in their stage since now", the model
is evaluated at past moments on the facts as they stood then, and the stage changes found
become the customer's (reconstructed) stage history; the last one is the current stage's
`since`. Pure functions: a customer's dated events and the model in, transitions out.

The resolution is the customer's own event moments, not a calendar grid. Facts only change
at known moments, so evaluating there finds every change exactly (to the second of the
event, or the day boundary a "days since" fact crosses), and a quiet customer costs a
handful of evaluations where a daily grid over two years would cost 730:
- each dated event the stage conditions can see: signup and purchase, tickets opened,
  solved and rated (when a stage tests ticket facts), article views (when a stage tests
  reading; only views of the tested categories for `read_category:...`), any touchpoint
  (when a stage tests `days_since_last_activity`);
- the moment an event leaves a window a stage tests ("tickets in the last 30 days" drops
  a ticket 30 days after it was opened);
- the day a time fact crosses a threshold a stage uses: `days_since_purchase > 45` becomes
  true 46 days after the purchase, `days_until_renewal <= 30` 30 days before renewal_at.
Signals are not replayed (only stages have a history). Every evaluation is exact (the
facts as of that moment, from all the customer's events); the cost is bounded by the
number of evaluations: all the profile's moments (a handful per threshold) and the newest
MAX_MOMENTS event moments. A customer with more events than that has their older
event-driven changes sampled only at the profile's moments: a short-lived stage there may
be missed, and a stage that began at an older event is dated at the next moment evaluated.

What the desk does not date is taken as it is today: plan, lifetime value, custom
attributes (NPS), and renewal_at (known from the purchase on; earlier renewals are not kept
by the desks). A ticket counts as open from its creation until it was solved (its solved
time, else its last update). The last evaluation is at `now` on the very facts the
recompute computed, so the replay ends in the stage the customer is stored in, and the
stage's `since` is by construction the moment the facts last changed it: never after now,
never contradicting the reasons.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from plugin.journey.conditions import Condition, Leaf
from plugin.journey.facts import FACTS
from plugin.journey.model import EvaluatedJourney, JourneyModel, compiled_model

DAY = 86_400
MAX_MOMENTS = 64
"""Evaluations per customer at most (plus the one at now): the replay's cost bound."""
WEEK, MONTH = 7 * DAY, 30 * DAY

_SINCE_ANCHORS = {
    "days_since_signup": "signup_at",
    "days_since_purchase": "purchased_at",
}
_TICKET_FACTS = {"open_tickets", "last_csat"}
_TICKET_WINDOWS = {"tickets_last_7d": WEEK, "tickets_last_30d": MONTH}
_WEEK_READING = {"articles_read_last_7d", "max_views_same_article_7d"}
_CATEGORY_PREFIX = "read_category:"
_ATTRIBUTE_PREFIX = "attribute:"


@dataclass(frozen=True, slots=True)
class Ticket:
    created_at: int
    closed_at: int | None
    """None while unsolved."""
    csat: str | None
    rated_at: int | None


@dataclass(frozen=True)
class DatedHistory:
    """One customer's past as the replay reads it.

    `profile` is the customer's entry of `customer_aggregates` (its profile dates and
    values); `touchpoints` are (occurred_at, type, article_source, article_id), sorted.
    """

    profile: Mapping[str, Any]
    tickets: tuple[Ticket, ...] = ()
    touchpoints: tuple[tuple[int, str, str | None, str | None], ...] = ()
    categories: Mapping[tuple[str, str], Iterable[str]] = field(default_factory=dict)
    """The categories of each article read (shared by a batch of customers)."""
    first_seen: int | None = None
    """The first ticket or touchpoint of any kind (even those the model does not test)."""


@dataclass(frozen=True, slots=True)
class Transition:
    from_stage: str | None
    to_stage: str
    at: int
    reasons: tuple[Any, ...]


@dataclass(frozen=True)
class ReplayPlan:
    """What of a customer's past can change the stage under one model (found once per run)."""

    evaluate: Callable[[Mapping[str, Any]], EvaluatedJourney]
    since_days: Mapping[str, frozenset[int]]
    """Profile date → the day offsets where a stage's `days_since_...` threshold flips."""
    renewal_days: frozenset[int]
    """Days before renewal_at where a `days_until_renewal` threshold flips."""
    activity_days: frozenset[int]
    tickets: bool
    ticket_windows: frozenset[int]
    week_reading: bool
    categories: frozenset[str]
    """The categories `read_category:...` conditions test (their views are moments)."""
    facts: tuple[tuple[str, Callable[[Mapping[str, Any], int], Any]], ...] = ()
    """The catalogue's plain facts the stages test, each with its function."""
    attributes: bool = False
    """Whether a stage tests `attribute:...`."""

    @property
    def reads_touchpoints(self) -> bool:
        return bool(self.week_reading or self.categories or self.activity_days)


def plan_replay(
    model: JourneyModel, reason: Callable[[Leaf], Callable[[Any], Any]] | None = None
) -> ReplayPlan:
    """The replay of `model`'s stages (signals left out), reasons made by `reason` as in
    `compiled_model` (the last few models' plans are kept)."""
    cached = _PLANS.get((id(model), reason))
    if cached is not None and cached[0] is model:
        return cached[1]
    plan = _plan(model, reason)
    if len(_PLANS) >= 8:
        _PLANS.clear()
    _PLANS[(id(model), reason)] = (model, plan)
    return plan


_PLANS: dict[tuple[int, Any], tuple[JourneyModel, ReplayPlan]] = {}


def _plan(model: JourneyModel, reason: Callable[[Leaf], Callable[[Any], Any]] | None) -> ReplayPlan:
    stages_only = JourneyModel(model.stages, ())
    since: dict[str, set[int]] = {anchor: set() for anchor in _SINCE_ANCHORS.values()}
    renewal, activity, windows, categories = set(), set(), set(), set()
    tickets = week = False
    used: set[str] = set()
    for leaf in _leaves(d.condition for d in model.stages):
        name = leaf.fact
        used.add(name)
        if name in _SINCE_ANCHORS:
            since[_SINCE_ANCHORS[name]] |= _crossings(leaf)
        elif name == "days_until_renewal":
            renewal |= {day - 1 for day in _crossings(leaf)}
        elif name == "days_since_last_activity":
            activity |= _crossings(leaf)
        elif name in _TICKET_FACTS:
            tickets = True
        elif name in _TICKET_WINDOWS:
            tickets = True
            windows.add(_TICKET_WINDOWS[name])
        elif name in _WEEK_READING:
            week = True
        elif name.startswith(_CATEGORY_PREFIX):
            categories.add(name[len(_CATEGORY_PREFIX) :].casefold())
    return ReplayPlan(
        evaluate=compiled_model(stages_only, reason),
        since_days={anchor: frozenset(days) for anchor, days in since.items()},
        renewal_days=frozenset(renewal),
        activity_days=frozenset(activity),
        tickets=tickets,
        ticket_windows=frozenset(windows),
        week_reading=week,
        categories=frozenset(categories),
        facts=tuple(
            (name, FACTS[name].compute)
            for name in sorted(used)
            if name in FACTS and not FACTS[name].spec.prefix
        ),
        attributes=any(name.startswith(_ATTRIBUTE_PREFIX) for name in used),
    )


def _leaves(conditions: Iterable[Condition]) -> Iterator[Leaf]:
    for condition in conditions:
        if isinstance(condition, Leaf):
            yield condition
        else:
            yield from _leaves(condition.children)


def _crossings(leaf: Leaf) -> set[int]:
    """Whole-day offsets around each number the leaf compares with: a "days" fact steps by
    one at each day boundary, so `> v`, `>= v`, `== v` ... flip at offset v or v + 1."""
    values = leaf.value if isinstance(leaf.value, tuple | list) else (leaf.value,)
    days: set[int] = set()
    for value in values:
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            days |= {math.floor(value), math.floor(value) + 1, math.ceil(value)}
    return days


def replay(
    plan: ReplayPlan,
    history: DatedHistory,
    *,
    now: int,
    current_facts: Mapping[str, Any] | None = None,
    until: int | None = None,
) -> list[Transition]:
    """The customer's stage changes, oldest first; the first has no `from_stage`.

    Without `until` the last evaluation is at `now` on `current_facts` (the recompute's),
    so the last transition is the stored stage's start. With `until` (the first move a
    recompute observed) only moments before it are replayed: the past it does not cover.
    """
    end = now if until is None else min(until - 1, now)
    moments = _moments(plan, history, end)
    transitions: list[Transition] = []
    stage: str | None = None
    for at in moments:
        if until is None and at == now and current_facts is not None:
            facts = current_facts
        else:
            facts = facts_at(plan, history, at)
        key, reasons, _signals = plan.evaluate(facts)
        if key != stage:
            transitions.append(Transition(stage, key, at, tuple(reasons)))
            stage = key
    return transitions


def _moments(plan: ReplayPlan, history: DatedHistory, end: int) -> list[int]:
    """The moments to evaluate before `end`, oldest first, then `end`: every moment of the
    profile (the first dated moment, signup, purchase, the days their thresholds flip, the
    renewal's), and the newest MAX_MOMENTS moments of the customer's events."""
    profile = history.profile
    start = _start(history)
    fixed: set[int] = {start} if start < end else set()
    for anchor, days in plan.since_days.items():
        at = profile.get(anchor)
        if at is not None:
            fixed.add(at)
            fixed.update(at + day * DAY for day in days)
    renewal = profile.get("renewal_at")
    if renewal is not None:
        fixed.update(renewal - day * DAY for day in plan.renewal_days)
    events: set[int] = set()
    if plan.tickets:
        for ticket in history.tickets:
            events.update(t for t in (ticket.created_at, ticket.closed_at, ticket.rated_at) if t)
            events.update(ticket.created_at + window + 1 for window in plan.ticket_windows)
    if plan.reads_touchpoints:
        events.update(_touchpoint_moments(plan, history))
    newest = sorted(at for at in events - fixed if start <= at < end)[-MAX_MOMENTS:]
    return [*sorted({*newest, *(at for at in fixed if start <= at < end)}), end]


def _touchpoint_moments(plan: ReplayPlan, history: DatedHistory) -> Iterator[int]:
    if plan.categories:
        for when, _article, _names in _index(history, plan).category_views:
            yield when
            yield when + MONTH + 1
    if not (plan.week_reading or plan.activity_days):
        return
    for at, kind, _source, _article in history.touchpoints:
        if plan.activity_days:
            yield at
            for day in plan.activity_days:
                yield at + day * DAY
        if plan.week_reading and kind == "article_view":
            yield at
            yield at + WEEK + 1


def _start(history: DatedHistory) -> int:
    """The customer's first dated moment (their history begins there)."""
    profile = history.profile
    dates = [profile.get("signup_at"), profile.get("purchased_at"), history.first_seen]
    if history.tickets:
        dates.append(min(t.created_at for t in history.tickets))
    if history.touchpoints:
        dates.append(history.touchpoints[0][0])
    return min((d for d in dates if d is not None), default=math.inf)  # type: ignore[return-value]


def facts_at(plan: ReplayPlan, history: DatedHistory, at: int) -> dict[str, Any]:
    """The facts the plan's stages test, as they stood at `at` (what `compute_facts` of
    `aggregates_at` gives for them; the others are left out: most of a replay's cost)."""
    agg = aggregates_at(history, at, plan)
    facts = {name: compute(agg, at) for name, compute in plan.facts}
    if plan.categories:
        for category, count in agg["read_categories"].items():
            facts[_CATEGORY_PREFIX + category] = count
    if plan.attributes:
        for key, value in (agg.get("attributes") or {}).items():
            facts[_ATTRIBUTE_PREFIX + key] = value
    return facts


def aggregates_at(history: DatedHistory, at: int, plan: ReplayPlan | None = None) -> dict[str, Any]:
    """`customer_aggregates` of one customer as they stood at `at`: only what happened by
    then counts, windows end at `at`. With `plan`, only what its stages test is counted."""
    profile = history.profile
    signup, purchased = profile.get("signup_at"), profile.get("purchased_at")
    renewal = profile.get("renewal_at")
    agg = dict(profile)
    agg["signup_at"] = signup if signup is not None and signup <= at else None
    agg["purchased_at"] = purchased if purchased is not None and purchased <= at else None
    agg["renewal_at"] = None if purchased is not None and purchased > at else renewal
    if plan is None or plan.tickets:
        agg.update(_tickets_at(history.tickets, at))
    if plan is None or plan.reads_touchpoints:
        agg.update(_reading_at(history, at, plan))
    return agg


def _tickets_at(tickets: tuple[Ticket, ...], at: int) -> dict[str, Any]:
    open_count = last30 = last7 = 0
    rated_at, csat = -math.inf, None
    for ticket in tickets:
        if ticket.created_at > at:
            continue
        if ticket.closed_at is None or ticket.closed_at > at:
            open_count += 1
        if ticket.created_at >= at - MONTH:
            last30 += 1
            if ticket.created_at >= at - WEEK:
                last7 += 1
        if ticket.csat is not None and ticket.rated_at is not None:
            if rated_at < ticket.rated_at <= at:
                rated_at, csat = ticket.rated_at, ticket.csat
    return {
        "open_tickets": open_count,
        "tickets_last_30d": last30,
        "tickets_last_7d": last7,
        "last_csat": csat,
    }


def _reading_at(history: DatedHistory, at: int, plan: ReplayPlan | None) -> dict[str, Any]:
    """The reading aggregates at `at`; with `plan`, the 7-day figures only when its stages
    test them and the categories only for the views of the categories they test."""
    touchpoints = history.touchpoints
    if not touchpoints:
        return _NO_READING
    index = _index(history, plan)
    upto = bisect_right(index.times, at)
    result = {**_NO_READING, "last_activity_at": index.times[upto - 1] if upto else None}
    if plan is None or plan.week_reading:
        week: dict[tuple, int] = {}
        for i in range(bisect_left(index.times, at - WEEK), upto):
            when, kind, source, article_id = touchpoints[i]
            if kind == "article_view":
                week[(source, article_id)] = week.get((source, article_id), 0) + 1
        result["articles_read_last_7d"] = len(week)
        result["max_views_same_article_7d"] = max(week.values(), default=0)
        result["views_last_7d"] = sum(week.values())
    if plan is None or plan.categories:
        read: dict[str, set[str]] = {}
        views = index.category_views
        first = bisect_left(index.category_times, at - MONTH)
        for i in range(first, bisect_right(index.category_times, at)):
            _when, article_id, names = views[i]
            for category in names:
                read.setdefault(category, set()).add(article_id)
        result["read_categories"] = {category: len(ids) for category, ids in read.items()}
    return result


_NO_READING = {
    "last_activity_at": None,
    "articles_read_last_7d": 0,
    "max_views_same_article_7d": 0,
    "views_last_7d": 0,
    "read_categories": {},
}


@dataclass(frozen=True)
class _ReadingIndex:
    times: list[int]
    category_views: list[tuple[int, str | None, tuple[str, ...]]]
    """(occurred_at, article id, its categories) of the views whose categories count."""
    category_times: list[int]


_INDEX: dict[tuple[int, int], tuple[DatedHistory, ReplayPlan | None, _ReadingIndex]] = {}


def _index(history: DatedHistory, plan: ReplayPlan | None) -> _ReadingIndex:
    """The touchpoints' moments and the views of the tested categories, bisected at every
    evaluation: made once per customer (the last customer's is kept)."""
    cached = _INDEX.get((id(history), id(plan)))
    if cached is not None and cached[0] is history and cached[1] is plan:
        return cached[2]
    views = []
    for when, kind, source, article_id in history.touchpoints:
        if kind != "article_view":
            continue
        names = tuple(history.categories.get((source, article_id)) or ())
        if plan is not None:
            names = tuple(name for name in names if name.casefold() in plan.categories)
        if names:
            views.append((when, article_id, names))
    index = _ReadingIndex([t[0] for t in history.touchpoints], views, [v[0] for v in views])
    _INDEX.clear()
    _INDEX[(id(history), id(plan))] = (history, plan, index)
    return index
