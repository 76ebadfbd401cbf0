"""`journeydesk db copy --to postgresql://…`: an SQLite store moved into PostgreSQL.

The command runs as an operator runs it (a subprocess), from a private copy of the seeded
demo (plus outreach, SLA and merge rows) into a database of the test's PostgreSQL cluster;
every table is then compared row for row, and the copy must answer a sync and the sidebar
API exactly as the SQLite store does.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path

import psycopg
import pytest

from plugin import clock
from plugin.app import create_app
from plugin.config import load_config
from plugin.security import mint_agent_token
from plugin.store import customers, open_store, outbox, sla_decisions, sla_pushes, suppressions
from tests.helpers.cli import cli_env, journeydesk, start_journeydesk
from tests.helpers.config import ANCHOR, SECRET, database_line, write_config
from tests.helpers.copies import private_copy
from tests.helpers.postgres import free_port

# The source of a copy is an SQLite file; its target, a database of the test cluster.
pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

SQLITE_ONLY = ("_sqlite_migrations", "articles_fts")
POSTGRES_ONLY = ("journeydesk_migrations", "journeydesk_copy", "journeydesk_copy_deferred")
NOW = int(ANCHOR.timestamp())


@pytest.fixture
def source(seeded_demo, tmp_path) -> Path:
    """A config on a private copy of the seeded demo, with rows of every kind the demo's
    sync leaves empty: a customer merged into a later one, outreach, SLA, an opt-out."""
    config = private_copy(seeded_demo, tmp_path)
    with open_store(config.database_path) as db, db.atomic():
        customers.merge_customers(db, 3, 250, reason="same person")
        outbox.claim_messages(
            db,
            [
                {
                    "rule": "welcome",
                    "customer_id": 7,
                    "period": "2026-11",
                    "status": "pending",
                    "channel": "email",
                    "recipient": "someone@example.com",
                    "reasons": ["new"],
                    "subject": "Hello",
                    "body_text": "Hi\x00 there",
                    "next_attempt_at": NOW,
                }
            ],
            now=NOW,
        )
        sla_decisions.record_decision(
            db,
            {
                "source": "demo",
                "ticket_id": "10000",
                "customer_id": 7,
                "rule": "vip",
                "rule_version": 1,
                "priority_before": "normal",
                "priority_after": "urgent",
                "tags_added": ["vip"],
                "targets": {"first_reply_minutes": 30},
                "reasons": [
                    {"fact": "plan", "op": "=", "expected": "enterprise", "actual": "enterprise"}
                ],
                "decided_at": NOW,
            },
        )
        sla_pushes.queue_push(db, "demo", "10000", priority="urgent", add_tags=["vip"], now=NOW)
        suppressions.suppress(db, "gone@example.com", reason="unsubscribed", now=NOW)
    return write_config(tmp_path, database=database_line(config.database_path))


@pytest.fixture
def bare_target(postgres_cluster, request) -> str:
    """An empty PostgreSQL database: not even the schema (the copy applies it)."""
    name = f"copy_target_{os.getpid()}_{time.monotonic_ns()}"
    url = postgres_cluster.create_database(name)
    request.addfinalizer(lambda: postgres_cluster.drop_database(name))
    return url


def sqlite_path(config_path: Path) -> str:
    text = config_path.read_text()
    return text.split('path = "', 1)[1].split('"', 1)[0]


def sqlite_tables(path: str) -> list[str]:
    with sqlite3.connect(path) as conn:
        names = [
            name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
    return sorted(n for n in names if not n.startswith(("sqlite_", *SQLITE_ONLY)))


def postgres_tables(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        names = [
            name
            for (name,) in conn.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema()"
            )
        ]
    return sorted(n for n in names if n not in POSTGRES_ONLY)


def ordered_rows(execute, table: str, columns: list[str]) -> list[tuple]:
    """Every row of `table`, columns named, in one order both engines agree on (NULLs
    first, text bytewise: SQLite's BINARY is PostgreSQL's "C" collation, which the schema uses)."""
    names = ", ".join(f'"{c}"' for c in columns)
    order = ", ".join(f'"{c}" NULLS FIRST' for c in columns)
    return [tuple(row) for row in execute(f'SELECT {names} FROM "{table}" ORDER BY {order}')]


def assert_same_rows(path: str, url: str) -> int:
    """Every table holds the same rows on both sides; returns how many rows were compared."""
    tables = sqlite_tables(path)
    assert postgres_tables(url) == tables
    compared = 0
    with sqlite3.connect(path) as lite, psycopg.connect(url) as pg:
        for table in tables:
            columns = [row[1] for row in lite.execute(f'PRAGMA table_info("{table}")')]
            expected = [
                tuple(_as_postgres_text(value) for value in row)
                for row in ordered_rows(lambda q: lite.execute(q).fetchall(), table, columns)
            ]
            copied = ordered_rows(lambda q: pg.execute(q).fetchall(), table, columns)
            assert copied == expected, f"table {table} differs"
            compared += len(expected)
    return compared


def _as_postgres_text(value):
    """PostgreSQL text holds no NUL: the store writes U+FFFD in its place (backends/postgres.py)."""
    return value.replace("\x00", "\ufffd") if isinstance(value, str) else value


def schema_objects(url: str) -> tuple[list, list]:
    """Every index and constraint of the store's tables, as PostgreSQL defines them."""
    with psycopg.connect(url) as pg:
        indexes = pg.execute(
            "SELECT tablename, indexname, indexdef FROM pg_indexes "
            "WHERE schemaname = current_schema() AND tablename <> ALL(%s) ORDER BY 1, 2",
            [list(POSTGRES_ONLY)],
        ).fetchall()
        constraints = pg.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE connamespace = current_schema()::regnamespace "
            "AND conrelid::regclass::text <> ALL(%s) ORDER BY 1, 2",
            [list(POSTGRES_ONLY)],
        ).fetchall()
    return indexes, constraints


def copy_command(config: Path, url: str, *extra: str) -> list[str]:
    return ["db", "copy", "--config", str(config), "--to", url, *extra]


def test_copy_holds_every_row_and_answers_as_the_sqlite_store(
    source, bare_target, postgres_url, tmp_path
):
    path = sqlite_path(source)
    done = journeydesk(*copy_command(source, bare_target, "--batch", "500"))
    assert done.returncode == 0, done.stderr
    assert "the row counts of all" in done.stdout
    assert "  touchpoints " in done.stdout and "  sla_decisions " in done.stdout
    assert assert_same_rows(path, bare_target) > 20_000
    # indexes and foreign keys, set aside during the copy, are all back as migrated
    assert schema_objects(bare_target) == schema_objects(postgres_url)
    with psycopg.connect(bare_target) as pg:
        merged = pg.execute("SELECT merged_into FROM customers WHERE id = 3").fetchone()
        body = pg.execute("SELECT body_text FROM outbox").fetchone()
    assert merged == (250,)  # merged into a customer copied after it
    assert body == ("Hi\ufffd there",)  # PostgreSQL text holds no NUL: U+FFFD in its place
    assert _tables_without_statistics(bare_target) == []  # served at once: planned with them

    again = journeydesk(*copy_command(source, bare_target))
    assert again.returncode == 0, again.stderr
    assert "already a verified copy" in again.stdout

    # The copy answers as the SQLite store does: a sync, then the sidebar API.
    (tmp_path / "pg").mkdir()
    on_postgres = write_config(tmp_path / "pg", database=database_line(bare_target))
    synced_pg = journeydesk("sync", "--config", str(on_postgres))
    synced_lite = journeydesk("sync", "--config", str(source))
    assert synced_pg.returncode == synced_lite.returncode == 0, synced_pg.stderr
    assert synced_pg.stdout == synced_lite.stdout
    assert _counts(path, bare_target) == _counts(path, path)  # the same rows written
    tickets = sorted(_ticket_ids(path))[:3]
    answers = []
    with clock.moved_to(ANCHOR, frozen=True):
        for config_path in (source, on_postgres):
            client = create_app(load_config(config_path, env=cli_env())).test_client()
            answers.append([_journey(client, ticket) for ticket in tickets])
    assert answers[0] == answers[1]
    assert all(answer["customer"] for answer in answers[0])


def _tables_without_statistics(url: str) -> list[str]:
    """The store's tables the copy left unanalysed (autovacuum never ran in a test)."""
    with psycopg.connect(url) as pg:
        return [
            table
            for (table,) in pg.execute(
                "SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NULL "
                "AND relname <> ALL(%s) ORDER BY relname",
                [list(POSTGRES_ONLY)],
            )
        ]


def _counts(path: str, location: str) -> dict[str, int]:
    if location.startswith("postgresql://"):
        with psycopg.connect(location) as pg:
            return {
                table: pg.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
                for table in sqlite_tables(path)
            }
    return {table: _count_rows(path, table) for table in sqlite_tables(path)}


def _ticket_ids(path: str) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [ticket for (ticket,) in conn.execute("SELECT id FROM tickets WHERE deleted = 0")]


def _journey(client, ticket_id: str) -> dict:
    token = mint_agent_token(SECRET, source="demo", ticket_id=ticket_id)
    response = client.get(
        f"/api/v1/tickets/demo/{ticket_id}/journey", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_new_rows_get_fresh_ids_after_a_copy(source, postgres_url):
    assert journeydesk(*copy_command(source, postgres_url)).returncode == 0
    with psycopg.connect(postgres_url) as pg:
        (largest,) = pg.execute("SELECT max(id) FROM touchpoints").fetchone()
        (new_id,) = pg.execute(
            "INSERT INTO rejections (source, stream, at, reason) "
            "VALUES ('demo', 'tickets', 0, 'test') RETURNING id"
        ).fetchone()
        (customer,) = pg.execute(
            "INSERT INTO customers (created_at, updated_at) VALUES (0, 0) RETURNING id"
        ).fetchone()
        (customers_before,) = pg.execute(
            "SELECT max(id) FROM customers WHERE id < %s", [customer]
        ).fetchone()
    assert largest > 1 and new_id == 1  # rejections was empty
    assert customer == customers_before + 1


def test_a_killed_copy_resumes_to_the_same_end(source, postgres_url):
    path = sqlite_path(source)
    copying = start_journeydesk(*copy_command(source, postgres_url, "--batch", "20"))
    copied = _wait_for_rows(postgres_url, copying, at_least=400)
    copying.send_signal(signal.SIGKILL)
    copying.wait(timeout=30)
    total = sum(_count_rows(path, table) for table in sqlite_tables(path))
    assert 400 <= _rows_recorded(postgres_url) < total, "killed after the copy's end"
    assert copied < total

    # Resumed in batches of the default size: what is done is kept by key, not by batch.
    resumed = journeydesk(*copy_command(source, postgres_url), timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "(resumed)" in resumed.stdout
    assert assert_same_rows(path, postgres_url) == total


def _wait_for_rows(url: str, process, *, at_least: int) -> int:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, "the copy ended before it could be killed"
        copied = _rows_recorded(url)
        if copied >= at_least:
            return copied
        time.sleep(0.01)
    raise AssertionError("the copy made no progress in 120 s")


def _rows_recorded(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as pg:
        try:
            return pg.execute(
                "SELECT coalesce(sum(rows_copied), 0) FROM journeydesk_copy"
            ).fetchone()[0]
        except psycopg.errors.UndefinedTable:
            return 0


def _count_rows(path: str, table: str) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]


def test_a_target_holding_other_data_is_refused(source, postgres_url):
    with open_store(postgres_url) as db:
        suppressions.suppress(db, "someone@example.com", reason="manual", now=NOW)
    refused = journeydesk(*copy_command(source, postgres_url))
    assert refused.returncode == 1
    assert "table suppressions has rows" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_copy_of_another_store_is_not_resumed_from_this_one(
    source, seeded_demo, postgres_url, tmp_path
):
    assert journeydesk(*copy_command(source, postgres_url)).returncode == 0
    (tmp_path / "other").mkdir()
    other = write_config(tmp_path / "other", database=database_line(seeded_demo.database_path))
    refused = journeydesk(*copy_command(other, postgres_url))
    assert refused.returncode == 1
    assert "holds a copy of another store" in refused.stderr
    assert "Traceback" not in refused.stderr


@pytest.mark.parametrize(
    ("target", "env", "said"),
    [
        ("mysql://root@127.0.0.1/journeydesk", {}, "not a PostgreSQL URL"),
        ("postgresql://jd:hunter2@127.0.0.1/journeydesk", {}, "the URL holds a password"),
        (
            "postgresql://jd@127.0.0.1:{port}/journeydesk",
            {},
            "cannot open the database postgresql://jd@127.0.0.1:{port}/journeydesk",
        ),
    ],
)
def test_a_bad_target_is_one_clear_sentence(source, target, env, said):
    port = free_port()
    target, said = target.format(port=port), said.format(port=port)
    refused = journeydesk(*copy_command(source, target), env=cli_env(env))
    assert refused.returncode == 1
    assert said in refused.stderr
    assert "Traceback" not in refused.stderr
    assert "hunter2" not in refused.stderr


def test_the_password_comes_from_the_named_environment_variable(source, postgres_url):
    missing = journeydesk(*copy_command(source, postgres_url, "--password-env", "JD_PG_PASSWORD"))
    assert missing.returncode == 1
    assert "the environment variable JD_PG_PASSWORD" in missing.stderr
    assert "Traceback" not in missing.stderr
    source.write_text(
        source.read_text().replace("[database]", '[database]\npassword_env = "JD_PG"')
    )
    from_config = journeydesk(*copy_command(source, postgres_url))
    assert "the environment variable JD_PG " in from_config.stderr
    given = journeydesk(*copy_command(source, postgres_url), env=cli_env({"JD_PG": "secret"}))
    assert given.returncode == 0, given.stderr  # the test cluster trusts every local login
    assert "secret" not in given.stdout + given.stderr


@pytest.fixture
def password_target(postgres_cluster, request) -> str:
    """An empty database owned by a role that must give its password (scram-sha-256),
    not a superuser: what a hosted PostgreSQL hands out."""
    role = database = f"jd_copy_{os.getpid()}_{time.monotonic_ns()}"
    hba = postgres_cluster.data_dir / "pg_hba.conf"
    kept = hba.read_text()
    hba.write_text(f"host all {role} 127.0.0.1/32 scram-sha-256\n{kept}")
    with psycopg.connect(postgres_cluster.url(), autocommit=True) as admin:
        admin.execute("SELECT pg_reload_conf()")
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'copy-secret'")
        admin.execute(f"CREATE DATABASE {database} OWNER {role}")

    def remove() -> None:
        postgres_cluster.drop_database(database)
        hba.write_text(kept)
        with psycopg.connect(postgres_cluster.url(), autocommit=True) as admin:
            admin.execute(f"DROP ROLE {role}")
            admin.execute("SELECT pg_reload_conf()")

    request.addfinalizer(remove)
    return f"postgresql://{role}@127.0.0.1:{postgres_cluster.port}/{database}"


def test_a_server_asking_for_a_password_gets_it_from_the_environment(source, password_target):
    without = journeydesk(*copy_command(source, password_target))
    assert without.returncode == 1
    assert "no password supplied" in without.stderr and "--password-env NAME" in without.stderr
    assert "Traceback" not in without.stderr
    wrong = journeydesk(
        *copy_command(source, password_target, "--password-env", "JD_PG"),
        env=cli_env({"JD_PG": "not-it"}),
    )
    assert wrong.returncode == 1
    assert "password authentication failed" in wrong.stderr
    assert "not-it" not in wrong.stderr
    given = journeydesk(
        *copy_command(source, password_target, "--password-env", "JD_PG"),
        env=cli_env({"JD_PG": "copy-secret"}),
    )
    assert given.returncode == 0, given.stderr
    assert "the row counts of all" in given.stdout
    assert "copy-secret" not in given.stdout + given.stderr
