"""Upgrades never lose data: a store written by the previous release opens, migrates forward
at start-up and keeps every row and every journey.

`fixtures/store-0010.db.gz` was written by the release whose last migration is
`0010_touchpoint_inbox` (the script beside it, run with that release's code: a 40-customer
demo, a saved journey version, two portal events still waiting in the inbox). Every later
schema change must keep this test passing, and adds what it must check about its own data.
"""

from __future__ import annotations

import gzip
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from plugin import clock
from plugin.app import create_app
from plugin.config import load_config
from plugin.security import mint_agent_token
from plugin.store import open_db
from tests.helpers.config import SECRET, write_config

# the previous release's SQLite store (PostgreSQL starts at its baseline)
pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

FIXTURE = Path(__file__).parent / "fixtures" / "store-0010.db.gz"
RELEASE_MIGRATION = "0010_touchpoint_inbox"


def rows_per_table(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                "AND name NOT LIKE '%fts%' AND name != '_sqlite_migrations'"
            )
        ]
        return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    finally:
        conn.close()


def snapshot(path: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.fixture
def release_store(tmp_path) -> Path:
    config_path = write_config(tmp_path, customers=40)
    target = tmp_path / "journeydesk.db"
    with gzip.open(FIXTURE) as source, open(target, "wb") as out:
        shutil.copyfileobj(source, out)
    assert snapshot(target, "SELECT max(name) FROM _sqlite_migrations") == [(RELEASE_MIGRATION,)]
    return config_path


def test_the_previous_release_store_upgrades_in_place_and_keeps_every_row(release_store):
    path = release_store.parent / "journeydesk.db"
    before = rows_per_table(path)
    journeys = (
        "SELECT customer_id, stage, stage_since, reasons, signals FROM customer_journeys ORDER BY 1"
    )
    kept = {
        "journeys": snapshot(path, journeys),
        "versions": snapshot(
            path, "SELECT kind, version, definitions FROM rule_sets ORDER BY 1, 2"
        ),
        "identities": snapshot(path, "SELECT kind, value, customer_id FROM customer_identities"),
        "inbox": snapshot(path, "SELECT id, customer_id, type FROM touchpoint_inbox ORDER BY 1"),
    }

    open_db(path).conn.close()  # start-up: pending migrations run

    after = rows_per_table(path)
    assert {t: (n, after.get(t)) for t, n in before.items() if after.get(t) != n} == {}
    assert snapshot(path, journeys) == kept["journeys"]
    assert (
        snapshot(path, "SELECT kind, version, definitions FROM rule_sets ORDER BY 1, 2")
        == (kept["versions"])
    )
    assert sorted(snapshot(path, "SELECT kind, value, customer_id FROM customer_identities")) == (
        sorted(kept["identities"])
    )
    assert (
        snapshot(path, "SELECT id, customer_id, type FROM touchpoint_inbox ORDER BY 1")
        == (kept["inbox"])
    )
    applied = snapshot(path, "SELECT name FROM _sqlite_migrations ORDER BY id")
    assert (RELEASE_MIGRATION,) in applied

    open_db(path).conn.close()  # a second start finds nothing to do and changes nothing
    assert rows_per_table(path) == after


def test_the_upgraded_store_serves_the_sidebar_it_served_before(release_store):
    config = load_config(release_store)
    open_db(config.database_path).conn.close()
    (ticket_id, stage), *_ = snapshot(
        config.database_path,
        "SELECT t.id, j.stage FROM tickets t JOIN customer_journeys j "
        "ON j.customer_id = t.customer_id ORDER BY t.created_at DESC",
    )
    client = create_app(config).test_client()
    token = mint_agent_token(SECRET, source="demo", ticket_id=ticket_id)
    answer = client.get(
        f"/api/v1/tickets/demo/{ticket_id}/journey", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["stage"]["key"] == stage


def test_the_upgraded_store_has_an_empty_outbox_and_keeps_the_journey_versions(release_store):
    """0014_outreach_outbox: new tables only; the saved journey versions keep their kind."""
    path = release_store.parent / "journeydesk.db"
    open_db(path).conn.close()
    assert snapshot(path, "SELECT count(*) FROM outbox") == [(0,)]
    assert snapshot(path, "SELECT count(*) FROM suppressions") == [(0,)]
    assert snapshot(path, "SELECT DISTINCT kind FROM rule_sets") == [("journey",)]


def test_the_upgraded_store_reports_on_the_tickets_it_kept(release_store):
    """0022-0024, the report figures: 0023's ledger of counted days is gone, nothing is
    counted yet, and the first report counts every kept ticket of its range (a small
    store's page builds its missing days)."""
    from datetime import UTC, datetime

    from plugin.reports.catalog import all_reports
    from plugin.reports.report import Filters

    path = release_store.parent / "journeydesk.db"
    open_db(path).conn.close()
    assert snapshot(path, "SELECT count(*) FROM sqlite_master WHERE name = 'report_days'") == [(0,)]
    assert snapshot(path, "SELECT count(*) FROM ticket_facts") == [(0,)]
    (first, last, count), *_ = snapshot(
        path, "SELECT min(created_at), max(created_at), count(*) FROM tickets WHERE deleted = 0"
    )
    start = datetime.fromtimestamp(first - first % 86_400, UTC)
    end = datetime.fromtimestamp(last - last % 86_400 + 86_400, UTC)
    db = open_db(path)
    try:
        report = all_reports()["tickets"](db, Filters(start, end))
    finally:
        db.conn.close()
    assert not any("not counted yet" in note for note in report.notes)
    assert sum(row["tickets"] for row in report.rows) == count > 0


def test_the_upgraded_store_has_an_empty_note_queue_and_no_sla_line(release_store):
    """0017_journey_notes: a new table only; old tickets get no note and no SLA decision."""
    config = load_config(release_store)
    path = release_store.parent / "journeydesk.db"
    open_db(path).conn.close()
    assert snapshot(path, "SELECT count(*) FROM journey_notes") == [(0,)]
    (ticket_id,) = snapshot(path, "SELECT id FROM tickets ORDER BY created_at DESC LIMIT 1")[0]
    token = mint_agent_token(SECRET, source="demo", ticket_id=ticket_id)
    answer = (
        create_app(config)
        .test_client()
        .get(
            f"/api/v1/tickets/demo/{ticket_id}/journey",
            headers={"Authorization": f"Bearer {token}"},
        )
    )
    assert answer.status_code == 200 and answer.get_json()["sla"] is None


def test_an_upgraded_store_gets_its_stage_history_from_the_past_by_a_rebuild(release_store):
    """0020_reconstructed_stage_history: the release's rows (everyone "placed" when it first
    computed them) are kept as observed; a rebuild replaces those placements with the
    replayed past and dates each stage from it."""
    from plugin.background.jobs import run_history_rebuild

    config = load_config(release_store)
    path = release_store.parent / "journeydesk.db"
    placed = dict(snapshot(path, "SELECT customer_id, stage_since FROM customer_journeys"))
    open_db(path).conn.close()
    assert snapshot(path, "SELECT DISTINCT reconstructed FROM stage_history") == [(0,)]

    with clock.moved_to(datetime.fromtimestamp(max(placed.values()) + 3600, UTC)):
        report = run_history_rebuild(config)  # an hour after the release computed them

    assert report.customers >= len(placed)  # and the inbox's new visitors
    since = dict(snapshot(path, "SELECT customer_id, stage_since FROM customer_journeys"))
    assert all(since[c] <= placed[c] for c in placed)
    assert sum(1 for c in placed if since[c] < placed[c]) > len(placed) / 2
    left = snapshot(path, "SELECT count(*) FROM stage_history WHERE reconstructed = 0")
    assert left == snapshot(
        path,
        "SELECT count(*) FROM stage_history WHERE reconstructed = 0 AND from_stage IS NOT NULL",
    )


def test_a_0024_store_with_figures_built_queues_what_the_old_margin_would_still_count(tmp_path):
    """0025_report_changes: no table rewritten; the tickets the old refresh would still
    have looked at (changed at the desk within a day of its last run, or facts missing) are
    queued, so the first refresh after the upgrade misses nothing and counts little."""
    from plugin.reports.aggregates import refresh
    from tests.reports.generated_history import DAY, DESK, END, generate

    path = tmp_path / "journeydesk.db"
    db = open_db(path)
    history = generate(db, seed=9, customers=10)
    refresh(db, now=END)
    # The store as 0024 left it (no queue), then a ticket written as its code wrote them,
    # changed at the desk half a day before the last refresh (the old margin is a day).
    db.execute("DROP TABLE report_changes")
    db.execute("DELETE FROM _sqlite_migrations WHERE name = '0025_report_changes'")
    db.execute(
        "INSERT INTO tickets (source, id, customer_id, subject, status, created_at, updated_at) "
        "VALUES (?, 'late', ?, 'Hi', 'open', ?, ?)",
        [DESK, min(history.customers), END - DAY, END - DAY // 2],
    )
    db.conn.commit()
    db.conn.close()

    open_db(path).conn.close()  # start-up: 0025 runs

    queued = snapshot(path, "SELECT ticket_id FROM report_changes WHERE ticket_id IS NOT NULL")
    assert queued == [("late",)]  # not the others, counted before
    sent = [m for m in history.messages if m["status"] == "sent" and m["at"] >= END - DAY]
    assert snapshot(path, "SELECT count(*) FROM report_changes WHERE ticket_id IS NULL") == [
        (len(sent),)
    ]
    db = open_db(path)
    done = refresh(db, now=END + 600)
    assert done.tickets >= 1
    assert snapshot(path, "SELECT count(*) FROM ticket_facts WHERE ticket_id = 'late'") == [(1,)]
    assert snapshot(path, "SELECT count(*) FROM report_changes") == [(0,)]
