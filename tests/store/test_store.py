"""The store on a real SQLite file: idempotent writes, migrations, identities, WAL."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from sqlite_utils import Database

from connectors.demo import DemoDesk
from connectors.records import Article, Customer, CustomerRef, Ticket, Touchpoint
from plugin.intake.sync import run_sync
from plugin.store import open_db, open_store, pending_migrations, schema_version
from plugin.store.customers import customer_identities, find_customer
from plugin.store.history import last_articles_before
from plugin.store.migrations import migrations
from plugin.store.touchpoints import insert_touchpoints

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def table_snapshot(path) -> dict[str, list]:
    conn = open_db(path, migrate=False).conn
    tables = ("customers", "customer_identities", "articles", "tickets", "touchpoints")
    snapshot = {}
    for table in tables:
        columns = [c[0] for c in conn.execute(f"SELECT * FROM {table} LIMIT 0").description]
        volatile = {"updated_at", "created_at"} if table == "customers" else set()
        keep = ", ".join(c for c in columns if c not in volatile)
        snapshot[table] = conn.execute(f"SELECT {keep} FROM {table} ORDER BY {keep}").fetchall()
    conn.close()
    return snapshot


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # SQLite itself
def test_wal_busy_timeout_and_foreign_keys(tmp_path):
    db = open_db(tmp_path / "j.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
    assert pending_migrations(db) == []


def test_resyncing_the_same_desk_changes_nothing(tmp_path, store_location):
    path = store_location
    desk = DemoDesk(customers=40, anchor=T0)
    db = open_db(path)
    run_sync(db, desk)
    before = table_snapshot(path)
    assert before["touchpoints"] and before["tickets"]
    db.execute("DELETE FROM sync_cursors")  # forget the cursors: everything comes again
    report = run_sync(db, DemoDesk(customers=40, anchor=T0))
    assert report.duplicates > 0
    assert table_snapshot(path) == before


def test_identical_ticket_upsert_reports_no_change(tmp_path, store_location):
    with open_store(store_location) as db:
        ticket = Ticket(id="7", requester=CustomerRef(source_id="u1"), subject="Hi", created_at=T0)
        from plugin.store.tickets import upsert_tickets

        assert upsert_tickets(db, "zendesk", [ticket]) == 1
        assert upsert_tickets(db, "zendesk", [ticket]) == 0
        changed = Ticket(
            id="7",
            requester=CustomerRef(source_id="u1"),
            subject="Hi",
            created_at=T0,
            status="solved",
        )
        assert upsert_tickets(db, "zendesk", [changed]) == 1


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # SQLite itself
def test_migrating_a_database_from_an_older_schema_keeps_its_data(tmp_path):
    path = tmp_path / "old.db"
    old = Database(sqlite3.connect(path))
    migrations.apply(old, stop_before="0002_journey_state")
    old.execute(
        "INSERT INTO customers (id, email, created_at, updated_at) VALUES (1, 'a@x.example', 1, 1)"
    )
    old.conn.commit()
    assert "0002_journey_state" in pending_migrations(old)
    old.conn.close()

    db = open_db(path)
    assert pending_migrations(db) == []
    assert schema_version(db) == len(migrations._migrations)
    assert db.execute("SELECT email FROM customers WHERE id = 1").fetchone()[0] == "a@x.example"
    db.execute("INSERT INTO dirty_customers (customer_id, marked_at) VALUES (1, 1)")  # new table


def test_desk_user_and_portal_visitor_are_one_customer(tmp_path, store_location):
    with open_store(store_location) as db:
        from plugin.store.customers import upsert_customers

        upsert_customers(db, "zendesk", [Customer(source_id="42", email="Ana@Example.com")])
        visit = Touchpoint(
            id="e1",
            type="article_view",
            occurred_at=T0,
            customer=CustomerRef(anonymous_id="v-1"),
            article_id="9",
        )
        insert_touchpoints(db, "portal", [visit], article_source="zendesk")
        identify = Touchpoint(
            id="e2",
            type="identify",
            occurred_at=T0,
            customer=CustomerRef(anonymous_id="v-1", email="ana@example.COM"),
        )
        insert_touchpoints(db, "portal", [identify], article_source="zendesk")

        customer = find_customer(db, CustomerRef(source_id="42"), "zendesk")
        kinds = {row["kind"] for row in customer_identities(db, customer)}
        assert kinds == {"user:zendesk", "email", "anonymous"}
        views = db.execute("SELECT customer_id FROM touchpoints WHERE event_id = 'e1'").fetchone()[
            0
        ]
        assert views == customer
        assert db.execute("SELECT count(*) FROM customer_merges").fetchone()[0] == 1


def test_views_in_any_locale_count_as_one_article(tmp_path, store_location):
    with open_store(store_location) as db:
        from plugin.store.articles import upsert_articles

        upsert_articles(
            db,
            "chatwoot",
            [
                Article(id="10", locale="en", title="Export data", url="https://h/en/10"),
                Article(
                    id="11",
                    locale="es",
                    title="Exportar datos",
                    url="https://h/es/11",
                    translation_of="10",
                ),
            ],
        )
        ref = CustomerRef(source_id="u1")
        views = [
            Touchpoint(
                id="a",
                type="article_view",
                occurred_at=T0,
                customer=ref,
                article_id="10",
                article_locale="en",
            ),
            Touchpoint(
                id="b",
                type="article_view",
                occurred_at=T0 + timedelta(minutes=5),
                customer=ref,
                article_id="11",
                article_locale="es",
            ),
        ]
        insert_touchpoints(db, "chatwoot", views, article_source="chatwoot")
        customer = find_customer(db, ref, "chatwoot")
        end = int((T0 + timedelta(hours=1)).timestamp())
        items = last_articles_before(db, customer, end, since=0, limit=5)
        assert [(i["article_id"], i["views"], i["title"]) for i in items] == [
            ("10", 2, "Exportar datos")
        ]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # SQLite itself
def test_sidebar_query_uses_the_covering_index(tmp_path):
    db = open_db(tmp_path / "j.db")
    plan = db.execute(
        "EXPLAIN QUERY PLAN SELECT occurred_at, article_source, article_id, article_locale "
        "FROM touchpoints INDEXED BY touchpoints_article_views WHERE customer_id = 1 AND "
        "type = 'article_view' AND occurred_at BETWEEN 0 AND 10 ORDER BY occurred_at DESC"
    ).fetchall()
    detail = " ".join(row[-1] for row in plan)
    assert "COVERING INDEX touchpoints_article_views" in detail
    assert "TEMP B-TREE" not in detail
