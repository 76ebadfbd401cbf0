"""Bulk loading: millions of rows in minutes (benchmark datasets).

The normal write paths resolve identities and upsert row by row, which is right for a
sync and far too slow for building a 20-million-view desk. Here rows arrive as plain
tuples in column order, already resolved, and are written with `executemany` in large
transactions while the secondary indexes are dropped: loading into an indexed table is
about four times slower than building the index once afterwards (runtime notes).

`bulk_loading` also turns the journal and fsync off for the duration. That is only safe
for a file nobody else uses and that can be rebuilt from scratch if the process dies, so
the benchmark generator (`benchmarks/generate.py`) is its only caller; the WAL journal is
restored on the way out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import islice

from sqlite_utils import Database

from plugin.store.customers import PROFILE_FIELDS
from plugin.store.tickets import COLUMNS as TICKET_COLUMNS
from plugin.store.touchpoints import COLUMNS as TOUCHPOINT_COLUMNS

TABLES = ("customers", "customer_identities", "articles", "tickets", "touchpoints", "sync_cursors")
"""Tables whose secondary indexes are dropped during a load and rebuilt after it."""
CHUNK_ROWS = 200_000
"""Rows per transaction: large enough that commits cost nothing, small enough to stream."""

CUSTOMER_COLUMNS = ("id", *PROFILE_FIELDS, "created_at", "updated_at")
IDENTITY_COLUMNS = ("kind", "value", "customer_id")
CURSOR_COLUMNS = ("source", "stream", "scope", "cursor", "updated_at")


@contextmanager
def bulk_loading(db: Database) -> Iterator[Database]:
    """Drop secondary indexes, load fast, then rebuild the indexes and restore WAL.

    The indexes are rebuilt even when the load fails, so the schema stays whole.
    """
    db.conn.commit()
    indexes = _secondary_indexes(db)
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA cache_size = -524288")  # 512 MB: index builds sort in memory
    db.execute("PRAGMA temp_store = MEMORY")
    db.execute("PRAGMA threads = 2")  # the index sorter may use a helper thread
    for name, _sql in indexes:
        db.execute(f"DROP INDEX {name}")
    try:
        yield db
    finally:
        db.conn.commit()
        for _name, sql in indexes:
            db.execute(sql)
        db.conn.commit()
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA journal_mode = WAL")


def _secondary_indexes(db: Database) -> list[tuple[str, str]]:
    """(name, CREATE statement) of the explicit indexes; constraint indexes have no SQL."""
    marks = ", ".join("?" for _ in TABLES)
    return [
        (row[0], row[1])
        for row in db.execute(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'index' "
            f"AND sql IS NOT NULL AND tbl_name IN ({marks}) ORDER BY name",
            list(TABLES),
        )
    ]


def insert_rows(db: Database, table: str, columns: tuple[str, ...], rows: Iterable[tuple]) -> int:
    """Append `rows` (tuples in `columns` order) in large transactions; returns the count."""
    if table not in TABLES:
        raise ValueError(f"bulk loading does not write {table!r}")
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
    total = 0
    iterator = iter(rows)
    while chunk := list(islice(iterator, CHUNK_ROWS)):
        db.conn.executemany(sql, chunk)
        db.conn.commit()
        total += len(chunk)
    return total


def insert_customers(db: Database, rows: Iterable[tuple]) -> int:
    return insert_rows(db, "customers", CUSTOMER_COLUMNS, rows)


def insert_identities(db: Database, rows: Iterable[tuple]) -> int:
    return insert_rows(db, "customer_identities", IDENTITY_COLUMNS, rows)


def insert_tickets(db: Database, rows: Iterable[tuple]) -> int:
    return insert_rows(db, "tickets", TICKET_COLUMNS, rows)


def insert_touchpoints(db: Database, rows: Iterable[tuple]) -> int:
    return insert_rows(db, "touchpoints", TOUCHPOINT_COLUMNS, rows)


def insert_sync_cursors(db: Database, rows: Iterable[tuple]) -> int:
    """Per-scope cursors, e.g. each desk user's reading-history cursor after a sync."""
    return insert_rows(db, "sync_cursors", CURSOR_COLUMNS, rows)
