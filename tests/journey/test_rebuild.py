"""Rebuilding the stage history with a new model (plugin/journey/rebuild.py): the
reconstructed entries are replayed again, the moves a recompute observed are kept; from the
CLI, the admin, and on a store upgraded from an older release."""

from __future__ import annotations

import html
import re
import shutil
import sqlite3
from datetime import timedelta

import pytest

from plugin import clock
from plugin.app import create_app
from plugin.background.jobs import run_history_rebuild, run_recompute
from plugin.journey.active_model import config_model, save_model
from plugin.journey.editing import definitions_of
from plugin.security import Secret
from plugin.store import open_db, open_store
from tests.helpers.cli import journeydesk
from tests.helpers.config import ANCHOR, database_line
from tests.helpers.copies import private_copy

DAY = 86_400
PASSWORD = "correct horse battery staple"
pytestmark = pytest.mark.usefixtures("backend")


def rows(config, sql: str, params=()) -> list[tuple]:
    with open_store(config.database_path, migrate=False) as db:
        return db.execute(sql, params).fetchall()


def shorter_onboarding(config) -> dict:
    definitions = definitions_of(config_model(config))
    definitions["stages"][1]["when"]["all"][0]["value"] = 20  # onboarding: 20 days, not 45
    return definitions


def test_a_rebuild_replays_the_new_model_and_keeps_the_observed_moves(seeded_demo, tmp_path):
    config = private_copy(seeded_demo, tmp_path)
    with clock.moved_to(ANCHOR + timedelta(days=10), frozen=True):
        run_recompute(config, full=True)  # ten days on: moves observed by a recompute
    observed = rows(config, "SELECT * FROM stage_history WHERE reconstructed = 0 ORDER BY id")
    assert observed and all(row[2] is not None for row in observed)
    with clock.moved_to(ANCHOR + timedelta(days=10, minutes=1), frozen=True):
        db = open_db(config.database_path)
        save_model(db, shorter_onboarding(config), created_by="Ana", note="", now=clock.now_epoch())
        db.conn.close()
    with clock.moved_to(ANCHOR + timedelta(days=10, minutes=2), frozen=True):
        report = run_history_rebuild(config)
        now = clock.now_epoch()

    journeys = rows(config, "SELECT count(*) FROM customer_journeys")[0][0]
    assert report.customers == journeys
    kept = rows(config, "SELECT * FROM stage_history WHERE reconstructed = 0 ORDER BY id")
    observers = {row[1] for row in observed}
    assert kept[: len(observed)] == observed  # never rewritten
    assert {row[1] for row in kept} - observers == {
        c
        for (c,) in rows(
            config,
            "SELECT DISTINCT customer_id FROM stage_history WHERE reconstructed = 0 "
            f"AND id > {observed[-1][0]}",
        )
    }  # the new model's own moves, observed by the recompute the rebuild began with
    first_observed = dict(
        rows(
            config,
            "SELECT customer_id, min(at) FROM stage_history WHERE reconstructed = 0 "
            "GROUP BY customer_id",
        )
    )
    late = rows(
        config,
        "SELECT customer_id, at FROM stage_history WHERE reconstructed = 1",
    )
    assert all(at < first_observed[c] for c, at in late if c in first_observed)

    # A long-time customer without an observed move: the new model's onboarding ends at
    # day 21 (a stage before purchase follows), retention begins at day 46.
    long_ago = rows(
        config,
        "SELECT c.id, c.purchased_at, j.stage_since FROM customers c "
        "JOIN customer_journeys j ON j.customer_id = c.id WHERE j.stage = 'retention' "
        "AND c.purchased_at < ? ORDER BY c.id",
        [now - 400 * DAY],
    )
    customer, bought, since = next(r for r in long_ago if r[0] not in first_observed)
    history = rows(
        config,
        "SELECT from_stage, to_stage, at FROM stage_history WHERE customer_id = ? ORDER BY at",
        [customer],
    )
    assert [(f, at) for f, _to, at in history if f == "service"] == [("service", bought + 21 * DAY)]
    assert since in (bought + 46 * DAY, *(at for *_, at in history[-1:]))
    assert max(s for (s,) in rows(config, "SELECT stage_since FROM customer_journeys")) <= now


def test_recompute_rebuild_history_from_the_command_line(seeded_demo, tmp_path):
    config = private_copy(seeded_demo, tmp_path)
    path = tmp_path / "config.toml"
    text = open(seeded_demo.path, encoding="utf-8").read()
    database = database_line(config.database_path)
    path.write_text(re.sub(r'^(?:path|url) = ".*"$', database, text, count=1, flags=re.M), "utf-8")
    before = rows(config, "SELECT count(*) FROM stage_history")
    result = journeydesk("recompute", "--rebuild-history", "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert re.search(r"Rebuilt the stage history of 300 customers .* in [\d.]+ s", result.stdout)
    assert "reconstructed transitions" in result.stdout
    assert rows(config, "SELECT count(*) FROM stage_history") == before  # the same model


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # PostgreSQL checkpoints itself
def test_the_rebuild_copies_its_pages_into_the_file_itself(seeded_demo, tmp_path):
    """A rebuild leaves no page of its own in the WAL for an agent's next commit to
    checkpoint: the database file alone already holds the rebuilt history."""
    config = private_copy(seeded_demo, tmp_path)
    with clock.moved_to(ANCHOR + timedelta(minutes=1), frozen=True):
        db = open_db(config.database_path)
        save_model(db, shorter_onboarding(config), created_by="Ana", note="", now=clock.now_epoch())
        db.conn.close()
    # An open connection, like a web worker's, keeps the last close from checkpointing.
    agent = sqlite3.connect(config.database_path)
    agent.execute("SELECT count(*) FROM customers").fetchone()
    with clock.moved_to(ANCHOR + timedelta(minutes=2), frozen=True):
        run_history_rebuild(config)
    file_alone = tmp_path / "file-alone.db"
    shutil.copyfile(config.database_path, file_alone)  # without its -wal
    query = "SELECT customer_id, from_stage, to_stage, at FROM stage_history ORDER BY id"
    in_file = sqlite3.connect(file_alone).execute(query).fetchall()
    assert in_file == agent.execute(query).fetchall()
    assert any(move[1:3] == ("service", "awareness") for move in in_file)  # the new model's
    agent.close()


def test_the_admin_offers_a_rebuild_after_a_save(seeded_demo, tmp_path):
    config = private_copy(seeded_demo, tmp_path, admin_password=Secret(PASSWORD))
    client = create_app(config).test_client()
    token = csrf(client.get("/admin/login").text)
    client.post("/admin/login", data={"password": PASSWORD, "name": "Ana", "csrf_token": token})
    editor = client.get("/admin/journey/edit?kind=model").text
    text = html.unescape(re.search(r"<textarea[^>]*>(.*?)</textarea>", editor, re.S).group(1))
    saved = client.post(
        "/admin/journey/edit",
        data={
            "csrf_token": csrf(editor),
            "kind": "model",
            "text": text.replace("value = 45", "value = 20", 1),
            "action": "save",
            "base_version": "0",
        },
    )
    assert saved.status_code == 302 and saved.location.endswith("/admin/journey?saved=1")
    page = client.get(saved.location).text
    offer = page.split('id="rebuild-history"')[1].split("</section>")[0]
    assert "Version 1 is in force" in offer and "btn-primary" in offer
    assert "Rebuild stage history with this model" in offer
    refused = client.post("/admin/journey/rebuild-history", data={})
    assert refused.status_code == 403
    answer = client.post("/admin/journey/rebuild-history", data={"csrf_token": csrf(page)})
    assert answer.status_code == 302
    assert "Stage history rebuilt with version 1" in client.get("/admin/journey").text
    moves = rows(
        config,
        "SELECT count(*) FROM stage_history WHERE reconstructed = 1 "
        "AND from_stage = 'service' AND to_stage = 'awareness'",
    )
    assert moves[0][0] > 0  # the new onboarding's end, replayed in the customers' pasts


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
