"""Every report's numbers against an independent computation: a small random history is
generated as plain records, stored through the store, and the reports' rows compared with
what plain Python makes of the same records (not the reports' SQL)."""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from connectors.records import Article, Customer, CustomerRef, Ticket, Touchpoint
from plugin import clock
from plugin.journey.model import JOURNEY_ORDER
from plugin.reports.aggregates import refresh
from plugin.reports.catalog import all_reports
from plugin.reports.report import Filters
from plugin.store import open_db
from plugin.store.articles import upsert_articles
from plugin.store.customers import find_customer, upsert_customers
from plugin.store.journeys import JourneyRow, save_journeys
from plugin.store.sla_decisions import record_decision
from plugin.store.tickets import upsert_tickets
from plugin.store.touchpoints import insert_touchpoints

SOURCE = "demo"
DAY = 86_400
NOW = clock.to_epoch(clock.now())
START = NOW - 40 * DAY - NOW % DAY
END = NOW - NOW % DAY  # the range: 40 whole days up to today's midnight
TITLES = {"a1": "Resetting a password", "a2": "Exporting invoices", "a3": "Plan upgrades"}


@dataclass
class History:
    customers: dict[str, int] = field(default_factory=dict)
    moves: list[tuple[int, str | None, str, int]] = field(default_factory=list)
    """(customer id, from, to, at)"""
    tickets: list[dict] = field(default_factory=list)
    views: list[dict] = field(default_factory=list)


def generate(db) -> History:
    """60 days of a small desk: 30 customers moving through stages, tickets with times,
    CSAT and SLA targets, article views, some followed by tickets."""
    rng = random.Random(15)
    history = History()
    upsert_customers(
        db, SOURCE, [Customer(source_id=f"u{n}", email=f"c{n}@x.example") for n in range(30)]
    )
    upsert_articles(
        db,
        SOURCE,
        [Article(id=k, locale="en", title=t, url=f"https://hc/{k}") for k, t in TITLES.items()]
        + [Article(id="a1", locale="es", title="Restablecer", url="https://hc/es/a1")],
    )
    for n in range(30):
        history.customers[f"u{n}"] = find_customer(db, CustomerRef(source_id=f"u{n}"), SOURCE)
    # Stage moves: each customer placed ~60 days ago, then moved along the journey.
    for cid in history.customers.values():
        at = NOW - rng.randint(55, 70) * DAY
        stage_index = rng.randint(0, 3)
        previous = None
        for _ in range(rng.randint(1, 4)):
            stage = JOURNEY_ORDER[stage_index]
            if stage != previous:  # the store records changes only
                save_journeys(db, [JourneyRow(cid, stage, [], [])], now=at)
                history.moves.append((cid, previous, stage, at))
            previous = stage
            stage_index = min(stage_index + rng.choice([1, 1, -1]), 5) if stage_index else 1
            at += rng.randint(3, 25) * DAY + rng.randint(0, DAY)
            if at >= NOW:
                break
    records = []
    for n in range(140):
        ref = f"u{rng.randrange(30)}"
        created = NOW - rng.randint(0, 58 * DAY)
        answered = created + rng.randint(60, 40 * 3600) if rng.random() < 0.85 else None
        solved = (answered or created) + rng.randint(600, 5 * DAY) if rng.random() < 0.7 else None
        if solved and solved > NOW:
            solved = None
        if answered and answered > NOW:
            answered = None
        csat = rng.choice(["good", "good", "bad", None, None]) if solved else None
        ticket = {
            "id": str(1000 + n),
            "cid": history.customers[ref],
            "created": created,
            "answered": answered,
            "solved": solved,
            "channel": rng.choice(["email", "chat", "web", None]),
            "csat": csat,
            "targets": rng.choice([None, (60, None), (240, 2 * 24 * 60), (None, 24 * 60)]),
        }
        history.tickets.append(ticket)
        records.append(
            Ticket(
                id=ticket["id"],
                requester=CustomerRef(source_id=ref),
                subject=f"Ticket {n}",
                created_at=clock.from_epoch(created),
                updated_at=clock.from_epoch(solved or answered or created),
                status="solved" if solved else "open",
                channel=ticket["channel"],
                solved_at=clock.from_epoch(solved),
                first_response_at=clock.from_epoch(answered),
                csat_score=csat,
            )
        )
    upsert_tickets(db, SOURCE, records)
    for ticket in history.tickets:
        if ticket["targets"]:
            first, resolution = ticket["targets"]
            record_decision(
                db,
                {
                    "source": SOURCE,
                    "ticket_id": ticket["id"],
                    "customer_id": ticket["cid"],
                    "rule": "r",
                    "rule_version": 1,
                    "tags_added": [],
                    "targets": {"first_response_minutes": first, "resolution_minutes": resolution},
                    "reasons": [],
                    "decided_at": ticket["created"],
                },
            )
    points = []
    for n in range(400):
        ref = f"u{rng.randrange(30)}"
        cid = history.customers[ref]
        own = [t for t in history.tickets if t["cid"] == cid]
        if own and rng.random() < 0.5:  # read shortly before one of their tickets
            at = rng.choice(own)["created"] - rng.randint(60, 30 * 3600)
        else:
            at = NOW - rng.randint(0, 55 * DAY)
        article, locale = rng.choice([("a1", "en"), ("a1", "es"), ("a2", "en"), ("a3", "en")])
        history.views.append({"cid": cid, "at": at, "article": article})
        points.append(
            Touchpoint(
                id=f"v{n}",
                type="article_view",
                occurred_at=clock.from_epoch(at),
                customer=CustomerRef(source_id=ref),
                channel="help_center",
                article_id=article,
                article_locale=locale,
            )
        )
    insert_touchpoints(db, SOURCE, points, article_source=SOURCE)
    db.conn.commit()
    return history


@pytest.fixture(scope="module")
def desk(module_store):
    db = open_db(module_store)
    history = generate(db)
    refresh(db, now=NOW)  # the worker's job: the report figures
    yield db, history
    db.conn.close()


def run(db, name: str, **extra) -> list[dict]:
    filters = Filters(datetime.fromtimestamp(START, UTC), datetime.fromtimestamp(END, UTC), **extra)
    return all_reports()[name](db, filters).rows


# -- the independent arithmetic ---------------------------------------------------------------


def stage_at(history: History, cid: int, at: int) -> str:
    """The last move at or before `at`; else the current stage (the last move); else
    unknown."""
    moves = sorted((m for m in history.moves if m[0] == cid), key=lambda m: m[3])
    before = [m for m in moves if m[3] <= at]
    return (before or moves)[-1][2] if moves else "unknown"


def sla(ticket: dict) -> str | None:
    """breached / met / None (no target, or a clock running within its target), in
    calendar minutes (no business calendar configured)."""
    if not ticket["targets"]:
        return None
    first, resolution = ticket["targets"]
    states = []
    for target, stop in (
        (first, ticket["answered"] or ticket["solved"]),
        (resolution, ticket["solved"]),
    ):
        if target is None:
            continue
        due = ticket["created"] + target * 60
        if stop is not None:
            states.append("breached" if stop > due else "met")
        else:
            states.append("breached" if NOW >= due else "running")
    if "breached" in states:
        return "breached"
    return None if "running" in states else "met"


def expected_measures(tickets: list[dict]) -> dict:
    answered = [(t["answered"] - t["created"]) / 60 for t in tickets if t["answered"]]
    solved = [(t["solved"] - t["created"]) / 60 for t in tickets if t["solved"]]
    outcomes = [sla(t) for t in tickets]
    targeted = [o for o in outcomes if o is not None]
    rated = [t for t in tickets if t["csat"]]
    return {
        "tickets": len(tickets),
        "median_first_response_minutes": statistics.median(answered) if answered else None,
        "median_resolution_minutes": statistics.median(solved) if solved else None,
        "sla_breach_rate": targeted.count("breached") / len(targeted) if targeted else None,
        "csat": sum(t["csat"] == "good" for t in rated) / len(rated) if rated else None,
        "csat_rated": len(rated),
    }


def assert_measures(row: dict, expected: dict, where: str) -> None:
    for key in ("tickets", "csat_rated"):
        assert row[key] == expected[key], (where, key)
    for key in ("sla_breach_rate", "csat"):
        assert row[key] == pytest.approx(expected[key]), (where, key)
    for key in ("median_first_response_minutes", "median_resolution_minutes"):
        if expected[key] is None:
            assert row[key] is None, (where, key)
        else:  # counted in 10%-wide bins: within 5% (and the rounding to 0.1 minute)
            assert row[key] == pytest.approx(expected[key], rel=0.051, abs=0.1), (where, key)


def in_range(ticket: dict) -> bool:
    return START <= ticket["created"] < END


# -- the reports ------------------------------------------------------------------------------


def test_tickets_by_stage_match_an_independent_count(desk):
    db, history = desk
    rows = {row["stage_key"]: row for row in run(db, "tickets")}
    tickets = [t for t in history.tickets if in_range(t)]
    stages = {stage_at(history, t["cid"], t["created"]) for t in tickets}
    assert stages <= set(rows)
    assert list(rows)[:6] == list(JOURNEY_ORDER)  # journey order, every stage listed
    for stage in rows:
        expected = expected_measures(
            [t for t in tickets if stage_at(history, t["cid"], t["created"]) == stage]
        )
        assert_measures(rows[stage], expected, stage)
    assert sum(r["tickets"] for r in rows.values()) == len(tickets)
    assert any(r["sla_breach_rate"] for r in rows.values())  # the data has breaches


def test_tickets_by_channel_match_an_independent_count(desk):
    db, history = desk
    rows = {row["channel"]: row for row in run(db, "tickets-by-channel")}
    tickets = [t for t in history.tickets if in_range(t)]
    assert set(rows) == {t["channel"] or "unknown" for t in tickets}
    for channel, row in rows.items():
        group = [t for t in tickets if (t["channel"] or "unknown") == channel]
        assert_measures(row, expected_measures(group), channel)


def test_tickets_week_by_week_match_an_independent_count(desk):
    db, history = desk
    rows = run(db, "tickets-over-time")
    weeks = {}
    for ticket in (t for t in history.tickets if in_range(t)):
        day = datetime.fromtimestamp(ticket["created"], UTC).date()
        weeks.setdefault((day - timedelta(days=day.weekday())).isoformat(), []).append(ticket)
    assert [r["week"] for r in rows] == sorted(set(weeks) | {r["week"] for r in rows})
    assert {r["week"] for r in rows if r["tickets"]} == set(weeks)
    for row in rows:
        group = weeks.get(row["week"], [])
        assert_measures(row, expected_measures(group), row["week"])
        for channel in ("email", "chat", "web", "unknown"):
            if f"tickets_{channel}" in row:
                assert row[f"tickets_{channel}"] == sum(
                    (t["channel"] or "unknown") == channel for t in group
                )


def test_the_funnel_counts_customers_now_and_the_moves_in_the_range(desk):
    db, history = desk
    rows = {row["stage_key"]: row for row in run(db, "funnel")}
    last = {}
    for cid, _from, to, _at in sorted(history.moves, key=lambda m: m[3]):
        last[cid] = to
    moves = [m for m in history.moves if m[1] is not None and START <= m[3] < END]
    for stage in JOURNEY_ORDER:
        assert rows[stage]["customers"] == sum(s == stage for s in last.values()), stage
        assert rows[stage]["moved_in"] == sum(m[2] == stage for m in moves)
        assert rows[stage]["moved_out"] == sum(m[1] == stage for m in moves)
        stayed = [
            (m[3] - max(p[3] for p in history.moves if p[0] == m[0] and p[3] < m[3])) / DAY
            for m in moves
            if m[1] == stage
        ]
        expected = round(statistics.median(stayed), 1) if stayed else None
        assert rows[stage]["median_days_stayed"] == expected, stage
    assert sum(r["moved_in"] for r in rows.values()) == len(moves) > 0


def test_stage_transitions_count_each_move_per_week(desk):
    db, history = desk
    rows = run(db, "stage-transitions")
    expected: dict[tuple[str, str, str], int] = {}
    for _cid, from_stage, to_stage, at in history.moves:
        if from_stage is None or not START <= at < END:
            continue
        day = datetime.fromtimestamp(at, UTC).date()
        week = (day - timedelta(days=day.weekday())).isoformat()
        key = (week, from_stage, to_stage)
        expected[key] = expected.get(key, 0) + 1
    got = {(r["week"], r["from_stage"], r["to_stage"]): r["moves"] for r in rows}
    assert got == expected
    assert all(" → " in r["move"] for r in rows)


def followed(history: History, view: dict) -> bool:
    return any(
        t["cid"] == view["cid"] and view["at"] < t["created"] <= view["at"] + DAY
        for t in history.tickets
    )


def test_pain_points_deflection_failure_and_lift(desk):
    db, history = desk
    report = all_reports()["pain-points"](
        db, Filters(datetime.fromtimestamp(START, UTC), datetime.fromtimestamp(END, UTC))
    )
    views = [v for v in history.views if START <= v["at"] < END]
    failed = [v for v in views if followed(history, v)]
    baseline = len(failed) / len(views)
    rows = {row["item"]: row for row in report.rows}
    for article, title in TITLES.items():
        mine = [v for v in views if v["article"] == article]
        mine_failed = [v for v in failed if v["article"] == article]
        row = rows[f"{SOURCE}:{article}"]
        assert row["article"] == title  # the English title, every locale counted
        assert row["views"] == len(mine)
        assert row["followed"] == len(mine_failed)
        assert row["failure_rate"] == pytest.approx(len(mine_failed) / len(mine))
        assert row["lift"] == pytest.approx(len(mine_failed) / len(mine) / baseline)
    assert [r["followed"] for r in report.rows] == sorted(
        (r["followed"] for r in report.rows), reverse=True
    )
    assert f"{100 * baseline:.1f}%" in report.notes[0]


def test_pain_point_tickets_are_the_tickets_after_a_read(desk):
    db, history = desk
    rows = run(db, "pain-point-tickets", item=f"{SOURCE}:a1")
    views = [v for v in history.views if START <= v["at"] < END and v["article"] == "a1"]
    expected = {
        t["id"]
        for t in history.tickets
        if any(v["cid"] == t["cid"] and v["at"] < t["created"] <= v["at"] + DAY for v in views)
    }
    assert {row["ticket"].split("#")[1] for row in rows} == expected
    assert all(0 <= row["minutes_before"] <= 24 * 60 for row in rows)


def test_a_desk_filter_keeps_other_desks_out(desk):
    db, _history = desk
    assert all(row["tickets"] == 0 for row in run(db, "tickets", sources=("other",)))
    assert run(db, "pain-points", sources=("other",)) == []


@pytest.mark.parametrize("walked", [5_000, 1], ids=["tickets-walk", "views-walk"])
@pytest.mark.parametrize("limit", [3, 500])
def test_both_walks_find_the_newest_tickets_after_a_read(desk, monkeypatch, walked, limit):
    from plugin.store import reports as store_reports

    db, history = desk
    monkeypatch.setattr(store_reports, "TICKETS_WALKED", walked)
    views = [v for v in history.views if START <= v["at"] < END and v["article"] == "a2"]
    after = {}
    for ticket in history.tickets:
        reads = [
            v["at"]
            for v in views
            if v["cid"] == ticket["cid"] and 0 < ticket["created"] - v["at"] <= DAY
        ]
        if reads:
            after[ticket["id"]] = (ticket["created"], max(reads), len(reads))
    newest = sorted(after, key=lambda i: -after[i][0])[:limit]
    rows = store_reports.tickets_after_article(
        db, article_source=SOURCE, article_id="a2", start=START, end=END, limit=limit
    )
    assert [r["id"] for r in rows] == newest
    assert [(r["created_at"], r["read_at"], r["reads"]) for r in rows] == [after[i] for i in newest]


def test_a_big_desks_page_names_the_days_the_worker_has_not_built_yet(desk, monkeypatch):
    from plugin.reports import aggregates

    db, _history = desk
    complete = run(db, "tickets")
    aggregates.forget(db)
    monkeypatch.setattr(aggregates, "INLINE_TICKETS", 0)  # as on a desk of millions of tickets
    whole_range = Filters(datetime.fromtimestamp(START, UTC), datetime.fromtimestamp(END, UTC))
    forgotten = all_reports()["tickets"](db, whole_range)
    assert sum(r["tickets"] for r in forgotten.rows) == 0  # set aside: no stale stage counted
    assert forgotten.notes[0].startswith(f"{-(-END // DAY) - START // DAY} days of this range")
    first = aggregates.refresh(db, now=NOW, budget=0)  # one week a run at least
    assert first.left > 0
    report = all_reports()["tickets"](db, whole_range)
    assert report.notes[0].endswith(
        "are not counted yet: the worker is computing them, newest first. Reload in a few minutes."
    )
    assert sum(r["tickets"] for r in report.rows) < sum(r["tickets"] for r in complete)
    done = aggregates.refresh(db, now=NOW)  # the worker's next run
    assert done.left == 0
    assert run(db, "tickets") == complete
