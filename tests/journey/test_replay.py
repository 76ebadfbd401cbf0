"""The journey replayed over a customer's dated past (plugin/journey/replay.py): pure
functions, checked on small made-up histories whose stage dates are known by hand."""

from __future__ import annotations

from plugin.journey.facts import compute_facts
from plugin.journey.model import load_model
from plugin.journey.replay import (
    MAX_MOMENTS,
    DatedHistory,
    Ticket,
    aggregates_at,
    plan_replay,
    replay,
)

DAY = 86_400
NOW = 1_800_000_000
MODEL = load_model(None, file="default")


def profile(**values) -> dict:
    """A customer's `customer_aggregates` entry with the given profile values."""
    return {
        "signup_at": None,
        "purchased_at": None,
        "renewal_at": None,
        "plan": None,
        "lifetime_value": None,
        "time_zone": None,
        "attributes": {},
        **values,
    }


def moves(history: DatedHistory, model=MODEL, now: int = NOW, **kwargs) -> list[tuple]:
    plan = plan_replay(model)
    current = compute_facts(aggregates_at(history, now), now)
    return [
        (t.from_stage, t.to_stage, t.at)
        for t in replay(plan, history, now=now, current_facts=current, **kwargs)
    ]


def test_a_purchase_long_ago_dates_each_stage_by_the_thresholds_it_crossed():
    signup, bought = NOW - 700 * DAY, NOW - 629 * DAY
    history = DatedHistory(profile(signup_at=signup, purchased_at=bought, plan="team"))
    assert moves(history) == [
        (None, "awareness", signup),
        ("awareness", "purchase", bought),
        ("purchase", "service", bought + 8 * DAY),  # days_since_purchase <= 7 ends
        ("service", "retention", bought + 46 * DAY),  # > 45 begins
    ]


def test_since_never_contradicts_the_reasons_and_is_never_after_now():
    """Reasons say "purchased 629 days ago (> 45)": retention began 46 days after the
    purchase, not today, since nothing else changed."""
    bought = NOW - 629 * DAY
    history = DatedHistory(profile(purchased_at=bought, plan="team"))
    plan = plan_replay(MODEL)
    current = compute_facts(aggregates_at(history, NOW), NOW)
    last = replay(plan, history, now=NOW, current_facts=current)[-1]
    assert last.to_stage == "retention" and last.at == bought + 46 * DAY <= NOW
    [reason] = last.reasons
    assert (reason.fact, reason.op, reason.expected, reason.actual) == (
        "days_since_purchase",
        "gt",
        45,
        46,
    )


def test_a_bad_rating_moves_an_advocate_back_to_retention_when_it_was_given():
    bought = NOW - 400 * DAY
    rated_good, rated_bad = NOW - 200 * DAY, NOW - 20 * DAY
    history = DatedHistory(
        profile(purchased_at=bought, plan="team", attributes={"nps": 10}),
        tickets=(
            Ticket(rated_good - DAY, rated_good, "good", rated_good),
            Ticket(rated_bad - DAY, rated_bad, "bad", rated_bad),
        ),
    )
    assert moves(history)[-3:] == [
        ("service", "retention", bought + 46 * DAY),
        ("retention", "advocacy", rated_good),
        ("advocacy", "retention", rated_bad),
    ]


def test_reading_pricing_counts_for_thirty_days_only():
    signup = NOW - 100 * DAY
    first, second = NOW - 60 * DAY, NOW - 59 * DAY
    pricing = {("hc", "a1"): {"Plans & pricing"}, ("hc", "a2"): {"Plans & pricing"}}
    history = DatedHistory(
        profile(signup_at=signup, plan="team"),
        touchpoints=((first, "article_view", "hc", "a1"), (second, "article_view", "hc", "a2")),
        categories=pricing,
    )
    assert moves(history) == [
        (None, "awareness", signup),
        ("awareness", "consideration", second),  # the second pricing article
        ("consideration", "awareness", first + 30 * DAY + 1),  # the first leaves the window
    ]


def test_renewal_thresholds_fire_the_day_they_are_crossed():
    """A stage on days_until_renewal <= 30 begins 30 days before renewal_at."""
    model = load_model(
        {
            "stages": [
                {
                    "key": "renewal",
                    "when": {"all": [{"fact": "days_until_renewal", "op": "lte", "value": 30}]},
                },
                {"key": "other", "when": {"all": []}},
            ]
        },
        file="x",
    )
    bought, renewal = NOW - 300 * DAY, NOW + 10 * DAY
    history = DatedHistory(profile(purchased_at=bought, renewal_at=renewal))
    assert moves(history, model) == [
        (None, "other", bought),
        ("other", "renewal", renewal - 30 * DAY),
    ]


def test_a_ticket_is_open_from_its_creation_until_it_was_solved():
    model = load_model(
        {
            "stages": [
                {
                    "key": "waiting",
                    "when": {"all": [{"fact": "open_tickets", "op": "gte", "value": 1}]},
                },
                {"key": "calm", "when": {"all": []}},
            ]
        },
        file="x",
    )
    signup, opened, solved, reopened = (NOW - d * DAY for d in (90, 50, 45, 3))
    history = DatedHistory(
        profile(signup_at=signup),
        tickets=(Ticket(opened, solved, None, None), Ticket(reopened, None, None, None)),
    )
    assert moves(history, model) == [
        (None, "calm", signup),
        ("calm", "waiting", opened),
        ("waiting", "calm", solved),
        ("calm", "waiting", reopened),
    ]


def test_the_facts_at_a_past_moment_count_only_what_had_happened_by_then():
    bought = NOW - 10 * DAY
    history = DatedHistory(
        profile(purchased_at=bought, renewal_at=NOW + 355 * DAY, plan="team"),
        tickets=(
            Ticket(NOW - 5 * DAY, None, None, None),
            Ticket(NOW - 20 * DAY, NOW - 19 * DAY, "bad", NOW - 19 * DAY),
        ),
        touchpoints=((NOW - 2 * DAY, "article_view", "hc", "a1"),),
    )
    before = compute_facts(aggregates_at(history, NOW - 15 * DAY), NOW - 15 * DAY)
    assert before["days_since_purchase"] is None and before["days_until_renewal"] is None
    assert (before["open_tickets"], before["tickets_last_30d"], before["last_csat"]) == (
        0,
        1,
        "bad",
    )
    assert (before["articles_read_last_7d"], before["days_since_last_activity"]) == (0, None)
    now = compute_facts(aggregates_at(history, NOW), NOW)
    assert (now["days_since_purchase"], now["open_tickets"], now["articles_read_last_7d"]) == (
        10,
        1,
        1,
    )


def test_a_long_past_costs_a_bounded_number_of_evaluations_and_keeps_the_profile_dates():
    evaluated = []
    plan = plan_replay(MODEL)
    counting = type(plan)(
        **{**plan.__dict__, "evaluate": lambda f: evaluated.append(f) or plan.evaluate(f)}
    )
    bought = NOW - 900 * DAY
    ratings = tuple(
        Ticket(at - DAY, at, "good" if i % 2 else "bad", at)
        for i, at in enumerate(range(NOW - 800 * DAY, NOW - DAY, DAY))
    )
    history = DatedHistory(
        profile(purchased_at=bought, plan="team", attributes={"nps": 10}), tickets=ratings
    )
    transitions = replay(plan=counting, history=history, now=NOW)
    assert len(evaluated) <= MAX_MOMENTS + 10
    assert [(t.to_stage, t.at) for t in transitions[:3]] == [
        ("purchase", bought),
        ("service", bought + 8 * DAY),
        ("retention", bought + 46 * DAY),
    ]


def test_until_replays_only_the_past_before_the_first_observed_move():
    bought = NOW - 629 * DAY
    history = DatedHistory(profile(purchased_at=bought, plan="team"))
    assert moves(history, until=bought + 20 * DAY) == [
        (None, "purchase", bought),
        ("purchase", "service", bought + 8 * DAY),
    ]


def test_a_customer_with_no_dated_past_is_placed_now():
    assert moves(DatedHistory(profile(plan="team"))) == [(None, "awareness", NOW)]
