"""The touchpoints, effort, outreach-outcomes, reply-guard and journey-map reports against
a small generated history: every figure is recomputed here in plain Python over the
generated records (tests/reports/generated_history.py), never with the reports' SQL."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from statistics import median

import pytest

import plugin.reports.journey_map  # noqa: F401  (registers)
import plugin.reports.outreach_outcomes  # noqa: F401
import plugin.reports.reply_guard  # noqa: F401
import plugin.reports.touchpoints  # noqa: F401
from plugin import clock
from plugin.reports.aggregates import rebuild, refresh
from plugin.reports.figures import newcombe_difference, wilson
from plugin.reports.report import REPORTS
from plugin.store import open_db
from plugin.store.guard_events import Warned, record_outcome, record_warnings
from tests.helpers.config import ANCHOR
from tests.reports.generated_history import DAY, DESK, END, START, filters_of_range, generate

BOTH_ENGINES = pytest.mark.usefixtures("backend")


@pytest.fixture(scope="module")
def world(module_store):
    with clock.moved_to(ANCHOR, frozen=True):
        db = open_db(module_store)
        history = generate(db)
        refresh(db, now=END)  # the worker's job: the first one builds everything
        yield db, history
    db.conn.close()


@pytest.fixture
def db(store_location):
    """A store of the test's own, on the engine under test."""
    db = open_db(store_location)
    yield db
    db.conn.close()


def run(db, name, desks=()):
    with clock.moved_to(ANCHOR, frozen=True):
        return REPORTS[name](db, filters_of_range(desks))


def in_range(at: int) -> bool:
    return START <= at < END


def live_tickets(history):
    return [t for t in history.tickets if not t["deleted"]]


def followed(history, customer: int, at: int) -> bool:
    return any(
        t["customer"] == customer and at < t["created"] <= at + DAY for t in live_tickets(history)
    )


def expected_touchpoints(history):
    """{touchpoint: [(customer, at)]} in the range."""
    found = defaultdict(list)
    for cid, at, _ in history.views:
        if in_range(at):
            found["article_view"].append((cid, at))
    for cid, at in history.searches:
        if in_range(at):
            found["search"].append((cid, at))
    for t in live_tickets(history):
        if in_range(t["created"]):
            found[f"ticket:{t['channel']}"].append((t["customer"], t["created"]))
    for m in history.messages:
        if m["status"] == "sent" and in_range(m["at"]):
            found["outreach:email"].append((m["customer"], m["at"]))
    return found


def test_touchpoints_volume_followed_share_and_stages(world):
    db, history = world
    report = run(db, "touchpoints")
    rows = {row["key"]: row for row in report.rows}
    expected = expected_touchpoints(history)
    assert set(rows) == set(expected)
    for touchpoint, events in expected.items():
        row = rows[touchpoint]
        hits = sum(followed(history, cid, at) for cid, at in events)
        assert row["volume"] == len(events), touchpoint
        assert row["followed"] == hits, touchpoint
        assert row["followed_share"] == pytest.approx(hits / len(events))
        stages = Counter(history.stage_at(cid, at) for cid, at in events)
        for stage, count in stages.items():
            assert row[f"stage_{stage}"] == count, (touchpoint, stage)
    # the formula is shown next to the share
    share = next(c for c in report.columns if c.key == "followed_share")
    assert "24 h" in share.formula and "÷" in share.formula
    assert report.as_csv().splitlines()[0].startswith("Touchpoint,Volume")


def expected_effort(history):
    by_stage = defaultdict(list)
    for t in live_tickets(history):
        if t["solved"] is None or not in_range(t["solved"]):
            continue
        low, high = t["solved"] - 7 * DAY, t["solved"]
        cid = t["customer"]
        views = sum(1 for c, at, _ in history.views if c == cid and low <= at <= high)
        searches = sum(1 for c, at in history.searches if c == cid and low <= at <= high)
        contacts = sum(
            1 for o in live_tickets(history) if o["customer"] == cid and low <= o["created"] <= high
        )
        by_stage[history.stage_at(cid, t["created"])].append(views + searches + contacts)
    return by_stage


def test_effort_is_the_median_of_reads_and_contacts_before_resolution(world):
    db, history = world
    report = run(db, "effort")
    expected = expected_effort(history)
    assert {row["key"]: row["tickets"] for row in report.rows} == {
        s: len(v) for s, v in expected.items()
    }
    for row in report.rows:
        assert row["effort"] == median(expected[row["key"]]), row["key"]
    assert "7 days" in next(c for c in report.columns if c.key == "effort").formula


def test_outreach_outcomes_compare_each_rule_with_its_control_group(world):
    db, history = world
    rows = {row["rule"]: row for row in run(db, "outreach-outcomes").rows}
    assert set(rows) == {"welcome", "nudge"}
    for rule, row in rows.items():
        groups = {}
        for status in ("sent", "held_out"):
            messages = [
                m
                for m in history.messages
                if m["rule"] == rule and m["status"] == status and in_range(m["at"])
            ]
            over = [m for m in messages if m["at"] + 8 * DAY <= END]
            tickets = sum(
                any(
                    t["customer"] == m["customer"] and m["at"] < t["created"] <= m["at"] + 7 * DAY
                    for t in live_tickets(history)
                )
                for m in over
            )
            unsubscribed = sum(
                m["email"] in history.opt_outs
                and m["at"] <= history.opt_outs[m["email"]] <= m["at"] + 7 * DAY
                for m in messages
            )
            groups[status] = (len(messages), len(over), tickets, unsubscribed)
        sent, control = groups["sent"], groups["held_out"]
        assert row["sent"] == sent[0]
        assert row["held_out"] == control[0]
        assert row["unsubscribed"] == sent[3]
        if sent[1] < 30 or control[1] < 30:
            assert row["verdict"] == "not enough data yet"
            assert row["difference"] is None
            continue
        p1, p2 = sent[2] / sent[1], control[2] / control[1]
        assert row["ticket_rate"] == pytest.approx(p1)
        assert row["control_ticket_rate"] == pytest.approx(p2)
        assert row["difference"] == pytest.approx(p1 - p2)
        assert row["ci_low"] < p1 - p2 < row["ci_high"]
        assert row["verdict"] != "not enough data yet"
    assert rows["nudge"]["verdict"] == "not enough data yet"
    assert rows["welcome"]["verdict"] != "not enough data yet"


def test_newcombe_interval_matches_the_published_example():
    """Newcombe (1998), table II, example (a): 56/70 vs 48/80 → 0.2 (0.0524 to 0.3339)."""
    found = newcombe_difference(56, 70, 48, 80)
    assert found.value == pytest.approx(0.2)
    assert found.low == pytest.approx(0.0524, abs=5e-4)
    assert found.high == pytest.approx(0.3339, abs=5e-4)
    low, high = wilson(81, 263)
    assert (low, high) == (pytest.approx(0.2553, abs=5e-4), pytest.approx(0.3662, abs=5e-4))
    assert not math.isnan(newcombe_difference(0, 40, 0, 40).high)


def test_reply_guard_counts_warnings_overrides_and_edits_per_week_and_article(db):
    events = [  # (ticket, article, warned at, checks, outcome)
        ("1", "a1", START + 1 * DAY, 3, "sent_anyway"),
        ("1", "a2", START + 1 * DAY, 1, "edited"),
        ("2", "a1", START + 9 * DAY, 2, None),
        ("3", "a1", START + 9 * DAY, 1, "edited"),
        ("3", "a1", START + 10 * DAY, 1, "sent_anyway"),  # a new reply: a second warning
        ("4", "a3", START - 2 * DAY, 1, "edited"),  # before the range
    ]
    for ticket, article, at, checks, outcome in events:
        for n in range(checks):
            record_warnings(
                db,
                source=DESK,
                ticket_id=ticket,
                customer_id=None,
                warned=[Warned(DESK, article, f"Title {article}")],
                now=at + n,
            )
        if outcome:
            record_outcome(
                db,
                source=DESK,
                ticket_id=ticket,
                articles=[(DESK, article)],
                outcome=outcome,
                now=at + 60,
            )
    shown = [e for e in events if in_range(e[2])]
    weeks = run(db, "reply-guard").rows
    assert sum(w["shown"] for w in weeks) == len(shown)
    assert sum(w["sent_anyway"] for w in weeks) == sum(e[4] == "sent_anyway" for e in shown)
    assert sum(w["edited"] for w in weeks) == sum(e[4] == "edited" for e in shown)
    from plugin.reports.reply_guard import week_of

    assert [w["week"] for w in weeks] == sorted({week_of(e[2]) for e in shown})
    articles = {row["article_id"]: row for row in run(db, "reply-guard-articles").rows}
    assert articles["a1"]["shown"] == 4
    assert articles["a1"]["sent_anyway"] == 2
    assert articles["a1"]["edited"] == 1
    assert articles["a1"]["override_rate"] == pytest.approx(2 / 3)
    assert articles["a2"]["edited"] == 1
    assert "a3" not in articles


def test_journey_map_has_every_stage_in_journey_order_with_its_numbers(world):
    db, history = world
    report = run(db, "journey-map")
    keys = [row["key"] for row in report.rows]
    assert keys[:6] == [
        "awareness",
        "consideration",
        "purchase",
        "service",
        "retention",
        "advocacy",
    ]
    rows = {row["key"]: row for row in report.rows}
    assert rows["awareness"]["phase"] == "pre-purchase"
    assert rows["retention"]["phase"] == "post-purchase"
    current = Counter(history.stage_at(cid, END + 10**9) for cid in history.customers)
    expected = expected_touchpoints(history)
    effort = expected_effort(history)
    moves = [m for m in history.moves if m[1] is not None and in_range(m[3])]
    for stage, row in rows.items():
        assert row["customers"] == current.get(stage, 0), stage
        views = [e for e in expected["article_view"] if history.stage_at(*e) == stage]
        assert row["views"] == len(views), stage
        tickets = sum(
            1
            for key, events in expected.items()
            if key.startswith("ticket:")
            for e in events
            if history.stage_at(*e) == stage
        )
        assert row["tickets"] == tickets, stage
        assert row["effort"] == (median(effort[stage]) if effort.get(stage) else None)
        assert row["moves_in"] == sum(m[2] == stage for m in moves)
        assert row["moves_out"] == sum(m[1] == stage for m in moves)
        rated = [
            t
            for t in live_tickets(history)
            if in_range(t["created"])
            and t["csat"]
            and history.stage_at(t["customer"], t["created"]) == stage
        ]
        good = sum(t["csat"] == "good" for t in rated)
        assert row["csat"] == (pytest.approx(good / len(rated)) if rated else None)
        stays = []
        for m in moves:
            if m[1] != stage:
                continue
            earlier = [p for p in history.moves if p[0] == m[0] and p[3] < m[3]]
            stays.append((m[3] - earlier[-1][3]) / DAY)
        assert row["median_days"] == (pytest.approx(median(stays)) if stays else None)
    assert set(report.links) >= {"views", "effort", "pain_points", "moves_in", "csat"}
    assert all(c.formula for c in report.columns if c.key not in ("stage",))


def test_the_desk_filter_keeps_only_that_desks_numbers(world):
    db, _ = world
    assert run(db, "touchpoints", desks=("other",)).rows == []
    assert run(db, "effort", desks=("other",)).rows == []
    ours = run(db, "touchpoints", desks=(DESK,)).rows
    # outreach is tied to no desk: counted when every desk is shown
    assert ours == [r for r in run(db, "touchpoints").rows if r["key"] != "outreach:email"]


def test_the_refresh_takes_in_a_late_ticket_and_a_late_touchpoint(db):
    """A ticket synced after the last refresh makes the views of the day before it
    "followed"; a touchpoint synced late for an old day is counted in that day."""
    from connectors.records import CustomerRef, Ticket, Touchpoint
    from plugin.clock import from_epoch
    from plugin.store.tickets import upsert_tickets
    from plugin.store.touchpoints import insert_touchpoints

    history = generate(db, seed=3, customers=8)
    refresh(db, now=END)
    before = {r["key"]: r for r in run(db, "touchpoints").rows}
    cid, at, _ = next(v for v in history.views if START + 5 * DAY <= v[1] < END - 2 * DAY)
    ref = CustomerRef(source_id=f"c{cid - min(history.customers)}")
    upsert_tickets(
        db,
        DESK,
        [
            Ticket(
                id="late-1",
                requester=ref,
                subject="Late",
                created_at=from_epoch(at + 60),
                channel="email",
            )
        ],
    )
    insert_touchpoints(
        db,
        DESK,
        [Touchpoint("late-v", "article_view", from_epoch(START + DAY), ref, article_id="a1")],
        article_source=DESK,
    )
    db.conn.commit()
    history.tickets.append(
        {
            "id": "late-1",
            "customer": cid,
            "created": at + 60,
            "solved": None,
            "channel": "email",
            "csat": None,
            "deleted": False,
        }
    )
    history.views.append((cid, START + DAY, "a1"))
    refresh(db, now=END)  # both days are older than the settle window
    after = {r["key"]: r for r in run(db, "touchpoints").rows}
    views = expected_touchpoints(history)["article_view"]
    assert after["article_view"]["volume"] == before["article_view"]["volume"] + 1
    assert after["article_view"]["volume"] == len(views)
    assert after["article_view"]["followed"] == sum(followed(history, c, a) for c, a in views)
    assert after["ticket:email"]["volume"] == len(expected_touchpoints(history)["ticket:email"])
    rebuild(db, now=END)
    rebuilt = {r["key"]: r for r in run(db, "touchpoints").rows}
    assert rebuilt == after


def test_the_refresh_takes_in_a_ticket_solved_and_rated_since(db):
    from connectors.records import CustomerRef, Ticket
    from plugin.clock import from_epoch
    from plugin.store.tickets import upsert_tickets

    history = generate(db, seed=4, customers=10)
    refresh(db, now=END - DAY)
    ticket = next(
        t for t in live_tickets(history) if t["solved"] is None and in_range(t["created"])
    )
    ref = CustomerRef(source_id=f"c{ticket['customer'] - min(history.customers)}")
    solved = END - DAY // 2
    upsert_tickets(
        db,
        DESK,
        [
            Ticket(
                id=ticket["id"],
                requester=ref,
                subject="Help",
                created_at=from_epoch(ticket["created"]),
                updated_at=from_epoch(solved),
                status="solved",
                channel=ticket["channel"],
                solved_at=from_epoch(solved),
                csat_score="good",
            )
        ],
    )
    db.conn.commit()
    ticket.update(solved=solved, csat="good")
    refresh(db, now=END)
    expected = expected_effort(history)
    report = run(db, "effort")
    assert {row["key"]: row["tickets"] for row in report.rows} == {
        s: len(v) for s, v in expected.items()
    }
    stage = history.stage_at(ticket["customer"], ticket["created"])
    row = next(r for r in run(db, "journey-map").rows if r["key"] == stage)
    rated = [
        t
        for t in live_tickets(history)
        if in_range(t["created"])
        and t["csat"]
        and history.stage_at(t["customer"], t["created"]) == stage
    ]
    assert row["csat"] == pytest.approx(sum(t["csat"] == "good" for t in rated) / len(rated))


def test_the_median_of_a_histogram_is_the_median_of_its_values():
    import random

    from plugin.reports.figures import median_of_counts

    rng = random.Random(7)
    for _ in range(200):
        counts = {rng.randint(0, 12): rng.randint(1, 5) for _ in range(rng.randint(1, 6))}
        values = [v for v, n in counts.items() for _ in range(n)]
        assert median_of_counts(counts) == median(values)
    assert median_of_counts({}) is None


@BOTH_ENGINES
def test_rebuild_reports_from_the_command_line(seeded_demo, tmp_path):
    """`journeydesk rebuild-reports` on a copy of the demo: it says what it made, and the
    touchpoints report then has the demo's article views."""
    from tests.helpers.cli import journeydesk
    from tests.helpers.config import database_line, write_config
    from tests.helpers.copies import private_copy

    config = private_copy(seeded_demo, tmp_path)
    written = write_config(tmp_path, database=database_line(str(config.database_path)))
    result = journeydesk("rebuild-reports", "--config", str(written))
    assert result.returncode == 0, result.stderr
    assert "Rebuilt the report figures of" in result.stdout
    db = open_db(config.database_path)
    try:
        assert_every_view_counted(db)
    finally:
        db.conn.close()


def assert_every_view_counted(db) -> None:
    """The touchpoints report counts every article view of the range, and there are some."""
    (views,) = db.execute(
        "SELECT count(*) FROM touchpoints WHERE type = 'article_view' AND occurred_at >= ? "
        "AND occurred_at < ?",
        [START, END],
    ).fetchone()
    rows = {r["key"]: r for r in run(db, "touchpoints").rows}
    assert rows["article_view"]["volume"] == views > 0


@BOTH_ENGINES
def test_the_workers_refresh_builds_the_figures_in_the_lease_holder_only(seeded_demo, tmp_path):
    """`report-refresh` as the worker runs it: nothing while a worker on another host
    holds the lease; holding it, every figure up to now (the demo's article views)."""
    from plugin.background.jobs import scheduled_report_refresh
    from plugin.background.worker_lease import LEASE_NAME, lease_for
    from plugin.store.leases import acquire_lease, release_lease
    from plugin.store.report_aggregates import state
    from tests.helpers.copies import private_copy

    config = private_copy(seeded_demo, tmp_path)
    elsewhere = "another-host:1:token"
    db = open_db(config.database_path)
    try:
        assert acquire_lease(db, LEASE_NAME, elsewhere, 90)
        scheduled_report_refresh(config)
        assert state(db) is None  # the standby built nothing
        release_lease(db, LEASE_NAME, elsewhere)
        scheduled_report_refresh(config)
        assert state(db)["built_from"] is not None
        assert_every_view_counted(db)
    finally:
        lease_for(config).release()
        db.conn.close()


@BOTH_ENGINES
def test_a_stage_history_rebuild_makes_the_figures_count_by_the_new_stages(seeded_demo, tmp_path):
    """The figures count each ticket by the stage of its moment: after the history is
    rebuilt with a new model, the reports count by the new history (recomputed here from
    the stored history in plain Python), not by the stages the figures were built with."""
    from datetime import timedelta

    from plugin.background.jobs import prepare_report_figures, run_history_rebuild
    from plugin.journey.active_model import config_model, save_model
    from plugin.journey.editing import definitions_of
    from plugin.reports.catalog import all_reports
    from tests.helpers.copies import private_copy

    config = private_copy(seeded_demo, tmp_path)

    def expected_tickets_by_stage() -> Counter:
        db = open_db(config.database_path)
        try:
            moves = defaultdict(list)
            for customer, at, stage in db.execute(
                "SELECT customer_id, at, to_stage FROM stage_history ORDER BY at, id"
            ):
                moves[customer].append((at, stage))
            current = dict(db.execute("SELECT customer_id, stage FROM customer_journeys"))
            tickets = db.execute(
                "SELECT customer_id, created_at FROM tickets WHERE deleted = 0 "
                "AND created_at >= ? AND created_at < ?",
                [START, END],
            ).fetchall()
        finally:
            db.conn.close()
        found = Counter()
        for customer, created in tickets:
            before = [stage for at, stage in moves.get(customer, []) if at <= created]
            found[before[-1] if before else current.get(customer, "unknown")] += 1
        return found

    def reported_tickets_by_stage() -> Counter:
        db = open_db(config.database_path)
        try:
            with clock.moved_to(ANCHOR, frozen=True):
                rows = all_reports()["tickets"](db, filters_of_range()).rows
        finally:
            db.conn.close()
        return Counter({row["stage_key"]: row["tickets"] for row in rows if row["tickets"]})

    prepare_report_figures(config)
    before = expected_tickets_by_stage()
    assert reported_tickets_by_stage() == before
    definitions = definitions_of(config_model(config))
    definitions["stages"][1]["when"]["all"][0]["value"] = 20  # onboarding: 20 days, not 45
    with clock.moved_to(ANCHOR + timedelta(minutes=1), frozen=True):
        db = open_db(config.database_path)
        save_model(db, definitions, created_by="Ana", note="", now=clock.now_epoch())
        db.conn.close()
    with clock.moved_to(ANCHOR + timedelta(minutes=2), frozen=True):
        run_history_rebuild(config)
    after = expected_tickets_by_stage()
    assert after != before  # the new model dates the stages of these tickets differently
    assert reported_tickets_by_stage() == after


def test_the_refresh_restages_the_past_of_a_customer_whose_history_came_since(db):
    """Stage history written after the figures were built (a first computation replaying
    a customer's past) makes that customer's touchpoints count by the new stages."""
    from plugin.store.journeys import JourneyRow, save_journeys

    history = generate(db, seed=5, customers=8)
    refresh(db, now=END)
    last_move = {m[0]: m[3] for m in sorted(history.moves, key=lambda m: m[3])}
    cid, at, _ = next(
        v
        for v in history.views
        if START + 5 * DAY <= v[1] < END - 5 * DAY and last_move[v[0]] < v[1] - 3600
    )
    current = history.stage_at(cid, END + 10**9)  # after the customer's last move
    moved_to = next(s for s in ("advocacy", "awareness") if s != current)
    save_journeys(db, [JourneyRow(cid, moved_to, [], [])], now=at - 3600)
    db.conn.commit()
    history.moves.append((cid, current, moved_to, at - 3600))
    refresh(db, now=END)
    rows = {r["key"]: r for r in run(db, "touchpoints").rows}
    views = expected_touchpoints(history)["article_view"]
    stages = Counter(history.stage_at(c, a) for c, a in views)
    assert stages[moved_to] > 0
    for stage, count in stages.items():
        assert rows["article_view"][f"stage_{stage}"] == count, stage
