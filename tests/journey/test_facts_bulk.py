"""Facts are computed in bulk: a fixed handful of set-based queries however many customers
(never one query per customer per fact), and the facts agree with the store's raw rows."""

from __future__ import annotations

import pytest

from plugin.clock import now_epoch
from plugin.journey.active_model import load_active_model
from plugin.journey.facts import compute_facts
from plugin.journey.recompute import recompute
from plugin.store import open_db
from plugin.store.history import customer_aggregates
from tests.helpers.copies import private_copy

DAY = 86_400
pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture
def db(seeded_demo, tmp_path):
    handle = open_db(private_copy(seeded_demo, tmp_path).database_path)
    yield handle
    handle.conn.close()


def statements_of(db, work) -> list[str]:
    """The SQL statements `work()` runs on `db` (SQLite's trace; on PostgreSQL, those the
    store hands its connection)."""
    seen: list[str] = []
    if db.backend == "sqlite":
        db.conn.set_trace_callback(seen.append)
    else:
        execute, executemany = db.conn.execute, db.conn.executemany
        db.conn.execute = lambda sql, params=None: seen.append(sql) or execute(sql, params)
        db.conn.executemany = lambda sql, rows: seen.append(sql) or executemany(sql, rows)
    try:
        work()
    finally:
        if db.backend == "sqlite":
            db.conn.set_trace_callback(None)
        else:
            del db.conn.execute, db.conn.executemany
    return [s for s in seen if not s.startswith(("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE"))]


def test_facts_of_every_customer_take_as_many_queries_as_those_of_three(db):
    now = now_epoch()
    ids = [row[0] for row in db.execute("SELECT id FROM customers ORDER BY id")]
    everyone = statements_of(db, lambda: customer_aggregates(db, None, now=now))
    three = statements_of(db, lambda: customer_aggregates(db, ids[:3], now=now))
    assert len(ids) == 300 and len(everyone) == len(three) <= 8, everyone


def test_a_full_recompute_reads_the_store_in_a_fixed_number_of_queries(db, seeded_demo):
    model = load_active_model(db, seeded_demo).model
    run = statements_of(db, lambda: recompute(db, model, full=True, now=now_epoch()))
    reads = [s for s in run if s.lstrip().upper().startswith("SELECT")]
    assert len(reads) <= 12, reads  # 300 customers: per customer and fact, thousands


def test_bulk_facts_agree_with_the_raw_rows(db):
    now = now_epoch()
    facts = {
        cid: compute_facts(agg, now) for cid, agg in customer_aggregates(db, None, now=now).items()
    }
    for cid, purchased, renewal in db.execute(
        "SELECT id, purchased_at, renewal_at FROM customers WHERE purchased_at IS NOT NULL LIMIT 20"
    ):
        assert facts[cid]["days_since_purchase"] == (now - purchased) // DAY
        if renewal is not None:
            assert facts[cid]["days_until_renewal"] == -((now - renewal) // DAY)
    for cid, open_count in db.execute(
        "SELECT customer_id, count(*) FROM tickets WHERE deleted = 0 "
        "AND status IN ('new', 'open', 'pending', 'hold') GROUP BY customer_id LIMIT 20"
    ):
        assert facts[cid]["open_tickets"] == open_count
