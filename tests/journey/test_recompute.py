"""Recompute: incremental touches only the customers that changed and agrees with a full run;
the CLI and the worker use the model in force; a newly saved model, or one edited in the
config file, reaches everyone; the worker moves journeys on with the clock; stage history
keeps when and why, and its transitions can be counted per period."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections import Counter
from datetime import timedelta

import pytest

from connectors.records import Batch, CustomerRef, Touchpoint
from plugin.app import create_app
from plugin.background import jobs
from plugin.background.jobs import run_recompute, scheduled_recompute
from plugin.background.scheduler import build_scheduler
from plugin.background.worker_lease import lease_for
from plugin.clock import from_epoch, iso, now_epoch
from plugin.intake.sync import run_sync
from plugin.journey.active_model import load_active_model, save_model
from plugin.journey.editing import definitions_of
from plugin.journey.model import load_model
from plugin.journey.recompute import recompute
from plugin.security import mint_agent_token
from plugin.store import open_db
from plugin.store.journeys import stage_history, transition_counts
from plugin.web.i18n import Dates, translator
from tests.helpers.config import ANCHOR, SECRET, database_lines, write_config
from tests.helpers.copies import private_copy

T1 = int((ANCHOR + timedelta(hours=12)).timestamp())
T2 = T1 + 1
DAY = 86_400
pytestmark = pytest.mark.usefixtures("backend")


class ReadingFeed:
    """A desk whose touchpoints stream holds new article views (the connector protocol)."""

    name = "demo"

    def __init__(self, views: list[Touchpoint]) -> None:
        self.views = views

    def touchpoints(self, since: str | None):
        yield Batch("touchpoints", list(self.views), cursor="feed:1")


@pytest.fixture
def config(seeded_demo, tmp_path):
    return private_copy(seeded_demo, tmp_path)


@pytest.fixture
def db(config):
    handle = open_db(config.database_path)
    yield handle
    handle.conn.close()


def journeys(db) -> dict[int, tuple]:
    return {
        row[0]: row[1:]
        for row in db.execute(
            "SELECT customer_id, stage, reasons, signals FROM customer_journeys"
        ).fetchall()
    }


def computed_at(db, at: int) -> set[int]:
    rows = db.execute("SELECT customer_id FROM customer_journeys WHERE computed_at = ?", [at])
    return {row[0] for row in rows}


def ten_quiet_readers(db) -> list[tuple[int, str]]:
    """Ten customers without the repeat-reader signal, with their emails."""
    return db.execute(
        "SELECT c.id, c.email FROM customers c JOIN customer_journeys j ON j.customer_id = c.id "
        "WHERE c.email IS NOT NULL AND CAST(j.signals AS TEXT) NOT LIKE '%repeat_reader%' "
        "ORDER BY c.id LIMIT 10"
    ).fetchall()


def rereads(db, customers: list[tuple[int, str]]) -> list[Touchpoint]:
    (article,) = db.execute("SELECT group_id FROM articles ORDER BY group_id LIMIT 1").fetchone()
    return [
        Touchpoint(
            id=f"reread-{customer_id}-{n}",
            type="article_view",
            occurred_at=from_epoch(T1 - 3600 * (n + 1)),
            customer=CustomerRef(email=email),
            article_id=article,
            article_locale="en",
        )
        for customer_id, email in customers
        for n in range(4)
    ]


def test_incremental_recompute_touches_only_the_changed_customers_and_agrees_with_full(db, config):
    model = load_active_model(db, config).model
    recompute(db, model, full=True, now=T1)
    readers = ten_quiet_readers(db)
    run_sync(db, ReadingFeed(rereads(db, readers)), streams=("touchpoints",))

    report = recompute(db, model, now=T2)
    assert report.customers == 10
    assert computed_at(db, T2) == {customer_id for customer_id, _ in readers}
    assert len(computed_at(db, T1)) == len(journeys(db)) - 10
    for customer_id, _ in readers:
        assert '"repeat_reader"' in journeys(db)[customer_id][2]

    incremental = journeys(db)
    again = recompute(db, model, full=True, now=T2)
    assert again.customers == len(incremental) and again.moved == 0
    assert journeys(db) == incremental
    assert recompute(db, model, now=T2).customers == 0  # nothing marked changed any more


def test_a_recompute_stops_when_the_model_is_replaced_meanwhile(db, config):
    model = load_active_model(db, config).model
    report = recompute(db, model, full=True, now=T1, still_current=lambda: False)
    assert report.moved == 0 and computed_at(db, T1) == set()


def test_the_worker_recomputes_everyone_after_a_model_is_saved(db, config):
    active = load_active_model(db, config)
    shorter = definitions_of(active.model)
    shorter["stages"][1]["when"]["all"][0]["value"] = 20  # onboarding: 20 days, not 45
    save_model(db, shorter, created_by="test", note="", now=now_epoch())
    report = run_recompute(config, db=db)  # nothing marked changed, yet the model is new
    assert report.customers == len(journeys(db)) and report.moved > 0
    assert run_recompute(config, db=db).customers == 0


def test_the_recompute_command_uses_the_model_in_force(config, tmp_path):
    path = write_config(tmp_path, database=database_lines(config.database_path))
    env = {**os.environ, "JOURNEYDESK_SECRET": SECRET}

    def run(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "plugin", "recompute", "--config", str(path), *args],
            capture_output=True,
            text=True,
            env=env,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert "Nothing to recompute" in run()
    assert "Recomputed 300 customers with the shipped default" in run("--full")
    db = open_db(config.database_path)
    try:
        model = load_active_model(db, config).model
        # Saved after the run above by both clocks: each process starts its own clock at
        # the suite's moment, so a slow start can put the run's time past this one's now.
        computed = db.execute("SELECT max(computed_at) FROM customer_journeys").fetchone()[0]
        saved_at = max(now_epoch(), computed + 1)
        save_model(db, definitions_of(model), created_by="test", note="", now=saved_at)
    finally:
        db.conn.close()
    assert "Recomputed 300 customers with version 1" in run()


def test_a_model_changed_in_the_config_file_recomputes_everyone(db, config):
    assert run_recompute(config, db=db).customers == 0  # the seeded journeys are current
    relabelled = definitions_of(load_active_model(db, config).model)
    relabelled["stages"][1]["label"] = "Getting started"  # a label alone changes no stage
    assert run_recompute(dataclasses.replace(config, journey=relabelled), db=db).customers == 0

    shorter = definitions_of(load_active_model(db, config).model)
    shorter["stages"][1]["when"]["all"][0]["value"] = 20  # onboarding: 20 days, not 45
    edited = dataclasses.replace(config, journey=shorter)  # config.toml edited, then a restart
    report = run_recompute(edited, db=db)
    assert report.customers == len(journeys(db)) and report.moved > 0
    assert run_recompute(edited, db=db).customers == 0  # once
    assert run_recompute(config, db=db).customers == len(journeys(db))  # and back


def test_the_worker_moves_journeys_on_with_the_clock(db, config, monkeypatch):
    now = now_epoch()
    monkeypatch.setattr(jobs, "now_epoch", lambda: now)
    model = load_active_model(db, config).model
    recompute(db, model, full=True, now=now - 3 * DAY)  # journeys as they were 3 days ago
    three_days_ago = journeys(db)
    try:
        scheduled_recompute(config)  # nothing new was synced: only the clock moved
    finally:
        lease_for(config).release()
    current = journeys(db)
    assert current != three_days_ago and computed_at(db, now) == set(current)
    assert recompute(db, model, full=True, now=now).moved == 0
    assert journeys(db) == current  # the same as a full recompute today
    assert recompute(db, model, now=now).customers == 0


def test_stage_transitions_can_be_counted_per_period(db, config):
    now = now_epoch()
    first = transition_counts(db, since=0, until=now + 1, first_stages=True)
    placed = [c for c in first if c.from_stage is None]
    assert sum(c.customers for c in placed) == len(journeys(db))  # everyone placed once
    replayed = transition_counts(db, since=0, until=now + 1)  # the moves of their past
    assert replayed and {c.from_stage for c in replayed} != {None}
    assert len(first) == len(placed) + len(replayed)  # placements are no moves

    before = {cid: row[0] for cid, row in journeys(db).items()}
    shorter = definitions_of(load_active_model(db, config).model)
    shorter["stages"][1]["when"]["all"][0]["value"] = 20  # onboarding: 20 days, not 45
    moved = recompute(db, load_model(shorter, file="x"), full=True, now=now + DAY).moved
    after = {cid: row[0] for cid, row in journeys(db).items()}
    expected = Counter((before[c], after[c]) for c in after if before[c] != after[c])
    counts = transition_counts(db, since=now + 1, until=now + 2 * DAY)
    assert {(c.from_stage, c.to_stage): c.moves for c in counts} == expected
    assert sum(c.customers for c in counts) == moved > 0
    assert expected[("service", "awareness")] > 0
    assert [c.moves for c in counts] == sorted((c.moves for c in counts), reverse=True)
    assert transition_counts(db, since=now + 2 * DAY, until=now + 3 * DAY) == []


def test_since_is_when_the_customer_entered_the_stage_and_history_keeps_why(db, config):
    placed = {cid: row[0] for cid, row in journeys(db).items()}
    now = now_epoch()
    shorter = definitions_of(load_active_model(db, config).model)
    shorter["stages"][1]["when"]["all"][0]["value"] = 20  # onboarding: 20 days, not 45
    model = load_model(shorter, file="x")
    recompute(db, model, full=True, now=now + DAY)
    recompute(db, model, full=True, now=now + DAY + 60)  # the same stages a minute later
    moved = [c for c, stage in journeys(db).items() if stage[0] != placed[c]]
    stayed = [c for c, stage in journeys(db).items() if stage[0] == placed[c]]
    ticket_of = dict(db.execute("SELECT customer_id, id FROM tickets ORDER BY created_at"))
    mover = next(c for c in moved if placed[c] == "service" and c in ticket_of)

    client = create_app(config).test_client()
    token = mint_agent_token(config.secret, source="demo", ticket_id=None)

    def stage_of(customer_id: int) -> dict:
        url = f"/api/v1/customers/{customer_id}/journey"
        return client.get(url, headers={"Authorization": f"Bearer {token}"}).get_json()["stage"]

    assert stage_of(mover)["since"] == iso(now + DAY)
    assert stage_of(stayed[0])["since"] <= iso(now)  # unchanged: still since its placement
    page = client.get(f"/sidebar/demo/{ticket_of[mover]}", query_string={"token": token})
    day = Dates(translator("en"), now).day(now + DAY)  # the sidebar's date style
    assert f"since {day}" in page.text

    newest = stage_history(db, mover)[0]
    assert (newest["from_stage"], newest["at"]) == ("service", now + DAY)
    assert newest["to_stage"] == journeys(db)[mover][0] != "service"
    assert newest["reasons"] == json.loads(journeys(db)[mover][1])


def test_the_worker_schedules_the_recompute_beside_each_sync(config):
    scheduled = {job.id: job for job in build_scheduler(config, background=True).get_jobs()}
    assert scheduled["recompute"].func is jobs.scheduled_recompute
    assert scheduled["sync:demo"].func is jobs.scheduled_sync
