"""Acceptance on the seeded demo: stage history from the desk's own past.

The demo is computed once, for the first time (tests/conftest.py `seeded_demo`): every
customer's stage `since` and the transitions before it come from replaying the journey
model over their dated history, so the dates spread over their real pasts, never after a
ticket unless the stage changed after it, and the dashboard and the funnel have moves.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime

import pytest

from plugin.clock import now_epoch
from plugin.journey.active_model import config_model
from plugin.journey.rebuild import replay_plan, replayed_pasts
from plugin.security import Secret, mint_agent_token
from plugin.store import open_db, open_store
from plugin.store.history import customer_aggregates
from plugin.store.journeys import stage_counts, stage_history, transition_counts
from plugin.web.i18n import catalogue
from tests.helpers.config import SECRET
from tests.helpers.copies import private_copy

DAY = 86_400
PASSWORD = "correct horse battery staple"
pytestmark = pytest.mark.usefixtures("backend")


def rows(config, sql: str, params=()) -> list[tuple]:
    with open_store(config.database_path, migrate=False) as db:
        return db.execute(sql, params).fetchall()


def test_since_dates_spread_over_the_customers_real_histories(seeded_demo):
    now = now_epoch()
    since = [at for (at,) in rows(seeded_demo, "SELECT stage_since FROM customer_journeys")]
    assert max(since) <= now
    assert sum(1 for at in since if at == now) < len(since) / 20  # not "everyone since today"
    ages = sorted((now - at) // DAY for at in since)
    assert ages[len(ages) // 2] >= 7 and ages[-1] >= 365  # a median week, over a year at most
    assert len({at // DAY for at in since}) > len(since) / 3  # many different days


def test_every_customer_history_is_reconstructed_and_ends_where_they_stand(seeded_demo):
    db = open_db(seeded_demo.database_path)
    try:
        journeys = rows(
            seeded_demo, "SELECT customer_id, stage, stage_since FROM customer_journeys"
        )
        for customer_id, stage, since in journeys:
            history = stage_history(db, customer_id)  # newest first
            assert all(row["reconstructed"] for row in history)
            assert (history[0]["to_stage"], history[0]["at"]) == (stage, since)
            assert history[-1]["from_stage"] is None
            for newer, older in zip(history, history[1:], strict=False):
                assert newer["from_stage"] == older["to_stage"] and newer["at"] > older["at"]
    finally:
        db.conn.close()


def test_since_never_after_the_ticket_that_shows_them_unless_the_stage_changed_after_it(
    seeded_demo,
):
    """A ticket opened before `since` shows a customer who moved after it: their history
    has that move, into today's stage, at `since` (and the ticket's moment was in the
    stage they moved from)."""
    later = rows(
        seeded_demo,
        "SELECT t.customer_id, t.created_at, j.stage, j.stage_since FROM tickets t "
        "JOIN customer_journeys j ON j.customer_id = t.customer_id "
        "WHERE j.stage_since > t.created_at",
    )
    assert later  # tickets of customers whose stage moved since
    db = open_db(seeded_demo.database_path)
    try:
        for customer_id, created_at, stage, since in later:
            history = stage_history(db, customer_id)
            move = next(h for h in history if h["at"] == since)
            assert move["to_stage"] == stage and move["from_stage"] not in (None, stage)
            before = [h for h in history if h["at"] <= created_at]
            assert before, "the ticket's moment is in the replayed history"
    finally:
        db.conn.close()


def test_retention_began_when_the_reasons_say_or_at_a_rating(seeded_demo):
    """Reasons say "purchased N days ago (> 45)": retention began 46 days after the
    purchase, unless a CSAT rating moved the customer out of advocacy later."""
    customers = rows(
        seeded_demo,
        "SELECT j.customer_id, j.stage_since, c.purchased_at FROM customer_journeys j "
        "JOIN customers c ON c.id = j.customer_id WHERE j.stage = 'retention'",
    )
    assert len(customers) > 20
    for customer_id, since, purchased in customers:
        ratings = {
            at
            for (at,) in rows(
                seeded_demo,
                "SELECT coalesce(solved_at, updated_at, created_at) FROM tickets "
                "WHERE customer_id = ? AND csat_score IS NOT NULL",
                [customer_id],
            )
        }
        assert since == purchased + 46 * DAY or since in ratings, customer_id


def test_the_funnel_is_non_empty_for_every_stage(seeded_demo):
    db = open_db(seeded_demo.database_path)
    try:
        stages = [d.key for d in config_model(seeded_demo).stages]
        counts = stage_counts(db)
        assert {s: counts.get(s, 0) for s in stages if not counts.get(s)} == {}
        entered = Counter(t.to_stage for t in transition_counts(db, since=0, until=now_epoch() + 1))
        assert {s for s in stages if not entered[s]} <= {"awareness"}  # the start of it all
    finally:
        db.conn.close()


def test_the_dashboard_shows_stage_changes_in_the_last_30_days(seeded_demo, tmp_path):
    from plugin.app import create_app

    config = private_copy(seeded_demo, tmp_path, admin_password=Secret(PASSWORD))
    client = create_app(config).test_client()
    page = client.get("/admin/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/admin/login", data={"password": PASSWORD, "name": "Ana", "csrf_token": token})
    dashboard = client.get("/admin/").text
    assert "No customer changed stage" not in dashboard
    moves = re.findall(r'<tr data-from="(\w+)" data-to="(\w+)">', dashboard)
    assert ("purchase", "service") in moves and len(moves) >= 3
    recent = client.get("/admin/customers").text
    assert "reconstructed" in recent.split('id="recent"')[1]


@pytest.mark.parametrize(
    ("lang", "words"),
    [("en", "since {month} {day}, {year}"), ("es", "desde el {day} {month} {year}")],
)
def test_the_sidebar_says_since_the_replayed_date(seeded_demo, client, lang, words):
    [(ticket_id, since)] = rows(
        seeded_demo,
        "SELECT t.id, j.stage_since FROM tickets t JOIN customer_journeys j "
        "ON j.customer_id = t.customer_id WHERE j.stage = 'retention' "
        "AND j.stage_since < t.created_at - 365 * 86400 ORDER BY t.id LIMIT 1",
    )
    token = mint_agent_token(SECRET, source="demo", ticket_id=ticket_id)
    html = client.get(f"/sidebar/demo/{ticket_id}?token={token}&lang={lang}").text
    day = datetime.fromtimestamp(since, UTC).date()
    month = catalogue(lang)["months_short"].split(",")[day.month - 1]
    expected = words.format(month=month, day=day.day, year=day.year)
    assert f'<span class="since">{expected}</span>' in html


def test_a_replay_of_today_counts_what_the_recompute_counts(seeded_demo):
    """The replay's facts at now (as-of aggregates) agree with the recompute's for every
    demo customer: no customer's history ends in a move made up at the last moment."""
    model = config_model(seeded_demo)
    now = now_epoch()
    db = open_db(seeded_demo.database_path)
    try:
        aggregates = customer_aggregates(db, None, now=now)
        customers = {cid: (agg, None) for cid, agg in aggregates.items()}  # facts as of now
        pasts = replayed_pasts(db, replay_plan(model), customers, now=now)
        stored = dict(rows(seeded_demo, "SELECT customer_id, stage FROM customer_journeys"))
        assert {cid: past[-1][1] for cid, past in pasts.items()} == stored
    finally:
        db.conn.close()
