"""Recompute: incremental touches only the customers that changed and agrees with a full run;
the CLI and the worker use the model in force, and a newly saved model reaches everyone."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest

from connectors.records import Batch, CustomerRef, Touchpoint
from plugin.active_model import load_active_model, save_model
from plugin.jobs import run_recompute
from plugin.journey.editing import definitions_of
from plugin.recompute import recompute
from plugin.store import from_epoch, now_epoch, open_db
from plugin.sync import run_sync
from tests.conftest import ANCHOR, SECRET, write_config
from tests.copies import private_copy

T1 = int((ANCHOR + timedelta(hours=12)).timestamp())
T2 = T1 + 1


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
        "WHERE c.email IS NOT NULL AND j.signals NOT LIKE '%repeat_reader%' "
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
    path = write_config(tmp_path)
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
        save_model(db, definitions_of(model), created_by="test", note="", now=now_epoch())
    finally:
        db.conn.close()
    assert "Recomputed 300 customers with version 1" in run()
