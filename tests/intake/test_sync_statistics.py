"""A first sync into an empty PostgreSQL store leaves the planner statistics of the tables
it filled: planned for tables of unknown size, the sync's lookups by ticket id walked
whole tables at every page once they had grown (store/sync_state.py `SyncSession`)."""

from __future__ import annotations

import psycopg
import pytest

from plugin import clock
from plugin.background.jobs import run_source_sync
from plugin.store import open_db
from tests.fakes.zendesk import FakeZendesk
from tests.helpers.desks import add_customer, add_ticket, load_zendesk_config

TICKETS = 1_500
USERS = 150
STATISTICS = (
    "SELECT relname, reltuples FROM pg_class "
    "WHERE relname IN ('tickets', 'customers', 'touchpoints')"
)
"""What the planner believes of each table's size (-1: never analysed)."""


@pytest.fixture
def fake(server):
    server.clear()
    fake = FakeZendesk(server)
    yield fake
    server.check_handler_errors()


@pytest.fixture
def config(fake, tmp_path, monkeypatch):
    """A desk of TICKETS tickets from USERS requesters, none synced yet."""
    now = clock.now_epoch()
    for user_id in range(1, USERS + 1):
        add_customer(fake, user_id)
    for ticket_id in range(1, TICKETS + 1):
        add_ticket(fake, ticket_id, 1 + ticket_id % USERS, at=now - 86_400 + ticket_id)
    return load_zendesk_config(monkeypatch, tmp_path, fake.base_url)


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_first_sync_leaves_statistics_of_what_it_stored(backend, config):
    run_source_sync(config, "zendesk")

    known = _statistics_after_all_stored(config)
    # Analysed once the sync had stored its first thousand records, not left unknown (-1).
    assert known["tickets"] >= 1_000
    assert known["customers"] >= USERS
    assert known["touchpoints"] >= 1_000  # each ticket's "opened" entry


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_table_locked_by_maintenance_does_not_stop_the_sync(backend, config):
    """A table being vacuumed (here: its lock held by another session) is left without
    new statistics; the sync neither waits for it nor fails."""
    open_db(config.database_path).conn.close()  # the tables exist
    maintenance = psycopg.connect(str(config.database_path))
    try:
        maintenance.execute("LOCK TABLE touchpoints IN SHARE UPDATE EXCLUSIVE MODE")
        run_source_sync(config, "zendesk")
    finally:
        maintenance.rollback()
        maintenance.close()

    known = _statistics_after_all_stored(config)
    assert known["tickets"] >= 1_000
    assert known["touchpoints"] == -1  # skipped, not waited for


def _statistics_after_all_stored(config) -> dict[str, float]:
    """What the planner believes of each table's size, once every ticket is stored."""
    db = open_db(config.database_path, migrate=False)
    try:
        (stored,) = db.execute("SELECT count(*) FROM tickets").fetchone()
        assert stored == TICKETS
        return dict(db.execute(STATISTICS).fetchall())
    finally:
        db.conn.close()
