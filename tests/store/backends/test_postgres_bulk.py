"""`executemany` of an INSERT on PostgreSQL: one statement for the batch (backends/
postgres_bulk.py), with the meaning of one statement per row — the same rows and counts
as SQLite's executemany of the same call."""

from __future__ import annotations

import pytest

from plugin.store import open_db
from plugin.store.backends.postgres import translate
from plugin.store.backends.postgres_bulk import insert_shape

CURSORS = (
    "INSERT INTO sync_cursors (source, stream, scope, cursor, updated_at) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT(source, stream, scope) DO UPDATE SET cursor = excluded.cursor, "
    "updated_at = excluded.updated_at WHERE sync_cursors.cursor IS DISTINCT FROM excluded.cursor"
)
INBOX = (
    "INSERT INTO touchpoint_inbox (source, event_id, customer_id, type, occurred_at, channel, "
    "properties) VALUES (?, ?, ?, ?, ?, 'portal', ?) ON CONFLICT(source, event_id) DO NOTHING"
)


@pytest.fixture
def both(tmp_path, postgres_url):
    """The same empty store on each engine."""
    stores = {"sqlite": open_db(tmp_path / "bulk.db"), "postgres": open_db(postgres_url)}
    yield stores
    for db in stores.values():
        db.conn.close()


def _run(db, statement: str, rows: list, read: str) -> tuple[int, list]:
    with db.atomic():
        changed = db.conn.executemany(statement, rows).rowcount
    return changed, [tuple(row) for row in db.execute(read).fetchall()]


def _same_on_both(both, statement: str, rows: list, read: str) -> tuple[int, list]:
    sqlite = _run(both["sqlite"], statement, rows, read)
    postgres = _run(both["postgres"], statement, rows, read)
    assert postgres == sqlite
    return postgres


def test_an_upsert_repeating_a_key_in_its_batch_ends_as_row_by_row(both) -> None:
    rows = [
        ("zendesk", "tickets", "", "a", 1),
        ("zendesk", "users", "", "b", 1),
        ("zendesk", "tickets", "", "c", 2),  # the same key again: updates the first
        ("zendesk", "tickets", "", "c", 3),  # unchanged cursor: the WHERE skips it
        ("freshdesk", "tickets", "", "d", 4),
    ]
    read = "SELECT source, stream, cursor, updated_at FROM sync_cursors ORDER BY source, stream"
    changed, stored = _same_on_both(both, CURSORS, rows, read)
    assert changed == 4
    assert stored == [
        ("freshdesk", "tickets", "d", 4),
        ("zendesk", "tickets", "c", 2),
        ("zendesk", "users", "b", 1),
    ]
    again, _ = _same_on_both(both, CURSORS, rows, read)
    assert again == 2  # c→a, then a→c again; the rest is unchanged


def test_inserted_rows_keep_their_order_and_duplicates_are_skipped(both) -> None:
    rows = [("portal:k", f"e{n}", n, "article_view", 1_700_000_000 + n, "{}") for n in (3, 1, 2)]
    rows.append(("portal:k", "e1", 9, "search", 0, '{"query":"again"}'))
    read = "SELECT id, event_id, customer_id, channel FROM touchpoint_inbox ORDER BY id"
    changed, stored = _same_on_both(both, INBOX, rows, read)
    assert changed == 3
    assert [row[1:] for row in stored] == [
        ("e3", 3, "portal"),
        ("e1", 1, "portal"),
        ("e2", 2, "portal"),
    ]


@pytest.mark.parametrize(
    "odd",
    [
        "text with a NUL \x00 inside",  # jsonb refuses \u0000: row by row, NUL replaced
        "\\u0000 written out",  # a backslash, not a NUL: either way the same text
        "naïve ünïcode ✓ and \"quotes\" and 'apostrophes'",
        "",
    ],
)
def test_text_arrives_as_one_statement_per_row_would_store_it(both, odd: str) -> None:
    rows = [("portal:k", "a", 1, "search", 1, odd), ("portal:k", "b", 2, "search", 2, "{}")]
    read = "SELECT event_id, properties FROM touchpoint_inbox ORDER BY event_id"
    _, stored = _run(both["postgres"], INBOX, rows, read)
    assert stored == [("a", odd.replace("\x00", "\ufffd")), ("b", "{}")]


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (2**62, "4611686018427387904"),
        (-(2**63), "-9223372036854775808"),
        (None, None),
        (1.5, "1.5"),
        (float("nan"), "NaN"),  # not JSON: row by row
        (True, "true"),  # JSON would say true, but as a value of its own type: row by row
    ],
)
def test_values_go_into_a_text_column_as_one_statement_per_row_puts_them(
    postgres_url, value, stored
) -> None:
    db = open_db(postgres_url)
    statement = (
        "INSERT INTO touchpoint_inbox (source, event_id, customer_id, type, occurred_at, "
        "channel, article_title, properties) VALUES (?, ?, 1, 'search', ?, 'portal', ?, '{}')"
    )
    rows = [("portal:k", "a", 1, value), ("portal:k", "b", 2, "plain")]
    try:
        with db.atomic():
            changed = db.conn.executemany(statement, rows).rowcount
        titles = db.execute("SELECT article_title FROM touchpoint_inbox ORDER BY id").fetchall()
    finally:
        db.conn.close()
    assert changed == 2
    assert [title for (title,) in titles] == [stored, "plain"]


def test_a_float_into_an_integer_column_is_rounded_as_row_by_row(both) -> None:
    rows = [("portal:k", "a", 1, "search", 1_700_000_000.0, "{}")]
    rows.append(("portal:k", "b", 2, "search", 1_700_000_001, "{}"))
    read = "SELECT event_id, occurred_at FROM touchpoint_inbox ORDER BY event_id"
    _, stored = _same_on_both(both, INBOX, rows, read)
    assert stored == [("a", 1_700_000_000), ("b", 1_700_000_001)]


def test_an_empty_batch_changes_nothing(both) -> None:
    changed, stored = _same_on_both(both, INBOX, [], "SELECT count(*) FROM touchpoint_inbox")
    assert (changed, stored) == (0, [(0,)])


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO t (a, b) VALUES (?, lower(?))",  # an expression around a value
        "INSERT INTO t (a) VALUES (?) RETURNING id",
        "INSERT INTO t (a) VALUES (:a)",
        "INSERT INTO t (a, b) VALUES (?, ?) ON CONFLICT(a) DO UPDATE SET b = ?",
        "UPDATE t SET a = ? WHERE b = ?",
        "INSERT INTO t (a, b) SELECT ?, ?",
    ],
)
def test_other_statements_keep_one_statement_per_row(statement: str) -> None:
    assert insert_shape(translate(statement)) is None


def test_an_upsert_knows_its_key_among_the_row_values() -> None:
    shape = insert_shape(
        translate(
            "INSERT INTO t (kind, flag, value, n) VALUES (?, 1, ?, ?) "
            "ON CONFLICT(kind, value) DO UPDATE SET n = excluded.n"
        )
    )
    assert shape is not None
    assert shape.key == (0, 1)
    assert insert_shape(translate(INBOX)).key == ()  # DO NOTHING: repeats are harmless
