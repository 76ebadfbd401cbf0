"""The benchmark generator makes a desk journeydesk serves like a synced one (a small one
here; the figures themselves come from `python -m benchmarks.run`, never from tests)."""

from __future__ import annotations

import io

import pytest

from benchmarks import apps, generate
from benchmarks.datasets import core_last_articles, dataset_size, sample_tickets
from plugin.background.jobs import run_recompute
from plugin.security import mint_agent_token
from plugin.store import open_db


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bench")
    database = folder / "desk.db"
    args = generate.parse_args(
        ["--customers", "2500", "--views", "50000", "--tickets", "5000", "--db", str(database)]
    )
    counts = generate.generate(args, out=io.StringIO())
    config = apps.bench_config(apps.write_config(folder, database))
    return config, counts


def test_the_sizes_asked_for_are_the_sizes_stored(generated):
    config, counts = generated
    db = open_db(config.database_path)
    try:
        size = dataset_size(db)
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        journal = db.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        db.conn.close()
    assert size == {"customers": 2500, "views": counts.views, "tickets": counts.tickets}
    assert 45_000 <= counts.views <= 55_000 and 4_500 <= counts.tickets <= 5_500
    assert integrity == "ok" and journal == "wal"  # indexes rebuilt, WAL restored


def test_most_tickets_follow_reading_and_the_journey_api_serves_them(generated):
    config, _ = generated
    run_recompute(config, full=True)
    db = open_db(config.database_path)
    try:
        tickets = sample_tickets(db, apps.SOURCE, 200, seed=1)
        read_before = sum(
            bool(core_last_articles(db, t.customer_id, t.created_at, since=0, limit=5))
            for t in tickets
        )
    finally:
        db.conn.close()
    assert read_before >= 120  # ~70 % follow a reading session (+ earlier reading)
    client = apps.journey_app_for(config).test_client()
    for ticket in tickets[:20]:
        token = mint_agent_token(config.secret, source=apps.SOURCE, ticket_id=ticket.id)
        answer = client.get(
            apps.journey_path(ticket.id), headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 200, answer.get_json()
        assert answer.get_json()["freshness"]["reason"] == "up_to_date"  # no desk call
