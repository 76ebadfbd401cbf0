"""Prepared statements on PostgreSQL: the store's repeated statements are planned once per
connection, and a migration made by another host meanwhile does not break them."""

from __future__ import annotations

import psycopg

from plugin.store import open_db, read_together
from plugin.store.backends.postgres import PREPARE_THRESHOLD
from plugin.store.sla_decisions import decision_read, get_decision

REPEATS = PREPARE_THRESHOLD + 2


def _prepared_statements(db) -> list[str]:
    return [row[0] for row in db.conn.raw.execute("SELECT statement FROM pg_prepared_statements")]


def test_a_repeated_statement_is_prepared_once_per_connection(postgres_url):
    db = open_db(postgres_url, migrate=False)
    try:
        for _ in range(REPEATS):
            assert get_decision(db, "zendesk", "1") is None
        prepared = [s for s in _prepared_statements(db) if "FROM sla_decisions" in s]
        assert len(prepared) == 1
    finally:
        db.conn.close()


def test_a_prepared_select_star_survives_a_column_added_by_another_connection(postgres_url):
    db = open_db(postgres_url, migrate=False)
    try:
        for _ in range(REPEATS):
            get_decision(db, "zendesk", "1")
        with psycopg.connect(postgres_url, autocommit=True) as other:  # another host migrating
            other.execute("ALTER TABLE sla_decisions ADD COLUMN added_later TEXT")
            other.execute(
                "INSERT INTO sla_decisions (source, ticket_id, rule, rule_version, "
                "priority_before, priority_after, tags_added, targets, reasons, decided_at) "
                "VALUES ('zendesk', '1', 'vip', 1, 'normal', 'high', '[]', '{}', '[]', 10)"
            )
        decision = get_decision(db, "zendesk", "1")
        assert decision["rule"] == "vip"
        assert "added_later" in decision
        for _ in range(REPEATS):  # prepared again, with the new columns
            assert get_decision(db, "zendesk", "1")["priority_after"] == "high"
    finally:
        db.conn.close()


def test_reads_together_survive_a_column_added_by_another_connection(postgres_url):
    db = open_db(postgres_url, migrate=False)
    try:
        for _ in range(REPEATS):  # prepared inside the pipeline too
            assert read_together(db, decision_read("zendesk", "1")) == [None]
        with psycopg.connect(postgres_url, autocommit=True) as other:
            other.execute("ALTER TABLE sla_decisions ADD COLUMN added_later TEXT")
        assert read_together(db, decision_read("zendesk", "1")) == [None]
    finally:
        db.conn.close()
