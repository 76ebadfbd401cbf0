"""The PostgreSQL schema (plugin/store/backends/postgres_schema.py) against SQLite's.

Both schemas are read from real databases: a SQLite store after all its migrations and a
PostgreSQL database after all of its own. A migration added to one backend only, or a
column, key or index that differs, fails here.
"""

from __future__ import annotations

import re
import threading
from typing import NamedTuple

import psycopg
import pytest

from plugin.store import open_db
from plugin.store.backends import postgres_schema
from plugin.store.backends.postgres_schema import (
    ARTICLE_SEARCH_DOCUMENT,
    JSON_COLUMNS,
    MIGRATIONS,
    Migration,
    applied,
    apply_pending,
    pending,
)
from plugin.store.migrations import migrations as sqlite_migrations

SQLITE_ONLY_TABLES = {
    "_sqlite_migrations",  # sqlite-utils' record; PostgreSQL's is journeydesk_migrations
    # FTS5's table and shadow tables: PostgreSQL searches articles through articles_search
    "articles_fts",
    "articles_fts_config",
    "articles_fts_content",
    "articles_fts_data",
    "articles_fts_docsize",
    "articles_fts_idx",
}
POSTGRES_ONLY_TABLES = {"journeydesk_migrations"}
POSTGRES_ONLY_INDEXES = {"articles_search"}  # stands for the FTS5 table articles_fts
SQLITE_MIGRATIONS_IN_BASELINE = 23  # the baseline stands for SQLite's 0001..0023
POSTGRES_TYPE = {"INTEGER": "bigint", "REAL": "double precision", "TEXT": "text"}


class Column(NamedTuple):
    name: str
    type: str
    not_null: bool
    default: str | None


class Index(NamedTuple):
    columns: tuple[str, ...]
    unique: bool
    where: str | None


class Table(NamedTuple):
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    unique: frozenset[tuple[str, ...]]
    foreign_keys: frozenset[tuple[str, str, str, str]]
    has_check: bool


class Schema(NamedTuple):
    tables: dict[str, Table]
    indexes: dict[str, Index]


def _predicate(text: str | None) -> str | None:
    """A partial index's WHERE in one spelling: no casts, parentheses or extra spaces."""
    if text is None:
        return None
    text = re.sub(r"::[a-z ]+", "", text.lower())
    return " ".join(text.replace("(", " ").replace(")", " ").split())


def _default(text: str | None) -> str | None:
    return None if text is None else re.sub(r"::[a-z ]+$", "", text)


def sqlite_schema(path) -> Schema:
    db = open_db(str(path))
    conn = db.conn
    names = [
        name
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if name not in SQLITE_ONLY_TABLES and not name.startswith("sqlite_")
    ]
    tables, indexes = {}, {}
    for table in names:
        info = conn.execute(f"PRAGMA table_info({table})").fetchall()
        columns = tuple(
            Column(
                name,
                POSTGRES_TYPE[declared],
                bool(not_null or pk),
                default,
            )
            for _, name, declared, not_null, default, pk in info
        )
        primary_key = tuple(name for pk, name in sorted((r[5], r[1]) for r in info) if pk)
        unique = set()
        for _, index, is_unique, origin, partial in conn.execute(f"PRAGMA index_list({table})"):
            keys = tuple(r[2] for r in conn.execute(f"PRAGMA index_info({index})"))
            if origin == "u":
                unique.add(keys)
            elif origin == "c":
                sql = conn.execute(
                    "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?", [index]
                ).fetchone()[0]
                where = sql.split(" WHERE ", 1)[1] if partial else None
                indexes[index] = Index(keys, bool(is_unique), _predicate(where))
        foreign_keys = frozenset(
            (row[3], row[2], row[4], row[6])
            for row in conn.execute(f"PRAGMA foreign_key_list({table})")
        )
        create = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", [table]).fetchone()
        tables[table] = Table(
            columns,
            primary_key,
            frozenset(unique),
            foreign_keys,
            "CHECK (" in create[0],
        )
    db.conn.close()
    return Schema(tables, indexes)


_ON_DELETE = {
    "a": "NO ACTION",
    "c": "CASCADE",
    "n": "SET NULL",
    "r": "RESTRICT",
    "d": "SET DEFAULT",
}


def postgres_schema_of(conn: psycopg.Connection) -> Schema:
    tables = {}
    names = [
        name
        for (name,) in conn.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        )
        if name not in POSTGRES_ONLY_TABLES
    ]
    for table in names:
        columns = tuple(
            Column(name, data_type, nullable == "NO", _default(default))
            for name, data_type, nullable, default in conn.execute(
                "SELECT column_name, data_type, is_nullable, column_default "
                "FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND table_name = %s ORDER BY ordinal_position",
                [table],
            )
        )
        constraints = conn.execute(
            "SELECT c.contype, "
            "ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, i) "
            "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i), "
            "c.confrelid::regclass::text, "
            "ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(n, i) "
            "JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i), "
            "c.confdeltype FROM pg_constraint c WHERE c.conrelid = %s::regclass",
            [table],
        ).fetchall()
        primary_key = next((tuple(keys) for kind, keys, *_ in constraints if kind == "p"), ())
        unique = frozenset(tuple(keys) for kind, keys, *_ in constraints if kind == "u")
        foreign_keys = frozenset(
            (keys[0], parent, parent_keys[0], _ON_DELETE[on_delete])
            for kind, keys, parent, parent_keys, on_delete in constraints
            if kind == "f"
        )
        has_check = any(kind == "c" for kind, *_ in constraints)
        tables[table] = Table(columns, primary_key, unique, foreign_keys, has_check)
    indexes = {
        name: Index(tuple(keys), unique, _predicate(where))
        for name, keys, unique, where in conn.execute(
            "SELECT i.relname, "
            "ARRAY(SELECT pg_get_indexdef(x.indexrelid, k, true) "
            "FROM generate_series(1, x.indnatts) k ORDER BY k), "
            "x.indisunique, pg_get_expr(x.indpred, x.indrelid) "
            "FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
            "JOIN pg_namespace n ON n.oid = i.relnamespace "
            "WHERE n.nspname = current_schema() "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)"
        )
    }
    return Schema(tables, indexes)


@pytest.fixture(scope="module")
def sqlite_side(tmp_path_factory) -> Schema:
    return sqlite_schema(tmp_path_factory.mktemp("schema") / "journeydesk.db")


@pytest.fixture
def postgres_side(postgres_url) -> Schema:
    with psycopg.connect(postgres_url) as conn:
        return postgres_schema_of(conn)


@pytest.fixture
def empty_database(postgres_cluster, request):
    """A database with no schema at all (not a copy of the template)."""
    name = "empty_" + re.sub(r"\W", "_", request.node.name)[:40].lower()
    url = postgres_cluster.create_database(name)
    yield url
    postgres_cluster.drop_database(name)


def test_the_same_tables(sqlite_side, postgres_side):
    assert sorted(postgres_side.tables) == sorted(sqlite_side.tables)


def test_per_table_the_same_columns_in_order_types_nullness_and_defaults(
    sqlite_side, postgres_side
):
    for table, expected in sqlite_side.tables.items():
        assert postgres_side.tables[table].columns == expected.columns, table


def test_per_table_the_same_keys_and_checks(sqlite_side, postgres_side):
    for table, expected in sqlite_side.tables.items():
        actual = postgres_side.tables[table]
        assert actual.primary_key == expected.primary_key, table
        assert actual.unique == expected.unique, table
        assert actual.foreign_keys == expected.foreign_keys, table
        assert actual.has_check == expected.has_check, table


def test_every_sqlite_index_has_its_namesake_on_the_same_columns(sqlite_side, postgres_side):
    assert set(postgres_side.indexes) == set(sqlite_side.indexes) | POSTGRES_ONLY_INDEXES
    for name, expected in sqlite_side.indexes.items():
        assert postgres_side.indexes[name] == expected, name
    assert sum(index.where is not None for index in sqlite_side.indexes.values()) == 5


def test_the_json_columns_named_exist_in_sqlite(sqlite_side):
    for table, columns in JSON_COLUMNS.items():
        names = {column.name for column in sqlite_side.tables[table].columns}
        assert set(columns) <= names, table


def test_every_sqlite_migration_past_the_baseline_has_a_postgresql_body(tmp_path):
    db = open_db(str(tmp_path / "journeydesk.db"))
    names = [migration.name for migration in sqlite_migrations.applied(db)]
    db.conn.close()
    later = [name for name in names if int(name[:4]) > SQLITE_MIGRATIONS_IN_BASELINE]
    assert [migration.name for migration in MIGRATIONS[1:]] == later
    assert MIGRATIONS[0].name.startswith(f"{SQLITE_MIGRATIONS_IN_BASELINE:04d}_baseline")


def test_a_fresh_database_gets_every_migration_then_none(empty_database):
    with psycopg.connect(empty_database, autocommit=True) as conn:
        everything = [migration.name for migration in MIGRATIONS]
        assert applied(conn) == []
        assert pending(conn) == everything
        assert apply_pending(conn) == everything
        assert applied(conn) == everything
        assert pending(conn) == []
        schema = postgres_schema_of(conn)

        assert apply_pending(conn) == []
        assert postgres_schema_of(conn) == schema
        assert conn.execute("SELECT count(*) FROM journeydesk_migrations").fetchone() == (
            len(everything),
        )


def test_the_template_copy_a_test_gets_has_the_whole_schema(postgres_url):
    with psycopg.connect(postgres_url) as conn:
        assert applied(conn) == [migration.name for migration in MIGRATIONS]
        assert conn.execute("SELECT count(*) FROM customers").fetchone() == (0,)


def test_a_failing_migration_leaves_nothing_applied(empty_database, monkeypatch):
    broken = Migration("9999_broken", "CREATE TABLE half_done (id BIGINT); SELECT 1/0")
    monkeypatch.setattr(postgres_schema, "MIGRATIONS", (*MIGRATIONS, broken))
    with psycopg.connect(empty_database, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.DivisionByZero):
            apply_pending(conn)
        assert applied(conn) == []
        assert conn.execute("SELECT to_regclass('customers')").fetchone() == (None,)
        assert conn.execute("SELECT to_regclass('half_done')").fetchone() == (None,)


def test_hosts_starting_at_once_migrate_once(empty_database):
    """Two connections apply at the same moment: one migrates, the other waits on the lock
    and then finds nothing pending. The lock is held here until both are waiting, so they
    really do start together."""
    results: dict[int, list[str]] = {}
    errors: list[BaseException] = []

    def start_host(number: int) -> None:
        try:
            with psycopg.connect(empty_database, autocommit=True) as conn:
                results[number] = apply_pending(conn)
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    with psycopg.connect(empty_database, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", [postgres_schema.MIGRATION_LOCK])
        hosts = [threading.Thread(target=start_host, args=(n,)) for n in (1, 2)]
        for host in hosts:
            host.start()
        _wait_for_lock_waiters(holder, 2)
        holder.execute("SELECT pg_advisory_unlock(%s)", [postgres_schema.MIGRATION_LOCK])
    for host in hosts:
        host.join(timeout=30)
    assert errors == []
    everything = [migration.name for migration in MIGRATIONS]
    assert sorted(results.values()) == [[], everything]
    with psycopg.connect(empty_database) as conn:
        assert applied(conn) == everything


def _wait_for_lock_waiters(conn: psycopg.Connection, count: int) -> None:
    for _ in range(500):
        waiting = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchone()[0]
        if waiting == count:
            return
        threading.Event().wait(0.01)
    raise AssertionError(f"{count} connections never queued on the migration lock")


def test_article_search_uses_its_index(postgres_url):
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO articles (source, article_id, locale, group_id, title, url, section, "
            "category) VALUES ('zd', '1', 'en', '1', 'Resetting your password', 'u', "
            "'Account', NULL), ('zd', '2', 'en', '2', 'Invoices', 'u', 'Billing', 'Payments')"
        )
        search = (
            f"SELECT article_id FROM articles WHERE {ARTICLE_SEARCH_DOCUMENT} "  # noqa: S608
            "@@ to_tsquery('simple', %s) ORDER BY article_id"
        )
        assert conn.execute(search, ["passw:* & account:*"]).fetchall() == [("1",)]
        assert conn.execute(search, ["payments"]).fetchall() == [("2",)]
        conn.execute("SET enable_seqscan = off")
        plan = " ".join(row[0] for row in conn.execute("EXPLAIN " + search, ["invoice:*"]))
        assert "articles_search" in plan


def test_identities_number_rows_and_json_columns_take_their_defaults(postgres_url):
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        ids = conn.execute(
            "INSERT INTO customers (email, created_at, updated_at) "
            "VALUES ('a@example.com', 1, 1), ('b@example.com', 1, 1) RETURNING id, attributes"
        ).fetchall()
        assert ids == [(1, "{}"), (2, "{}")]
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(
                "INSERT INTO report_state (id, touchpoint_id, refreshed_at) VALUES (2, 0, 0)"
            )


def test_identities_move_past_ids_written_as_given(postgres_url):
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO customers (id, email, created_at, updated_at) VALUES (41, 'a', 1, 1)"
        )
        following = postgres_schema.advance_identities(conn)
        assert following["customers"] == 42
        assert following["outbox"] == 1
        assert set(following) >= {"touchpoints", "stage_history", "guard_events"}
        new = conn.execute(
            "INSERT INTO customers (email, created_at, updated_at) VALUES ('b', 1, 1) RETURNING id"
        ).fetchone()
        assert new == (42,)
