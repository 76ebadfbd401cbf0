"""The journeydesk store: the only place that speaks SQL.

Open one `Database` per thread (request, job) with `open_db`; every other module asks
the store's functions by name and never builds queries.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from plugin.store.migrations import migrations

BUSY_TIMEOUT_SECONDS = 10.0


class StoreError(Exception):
    """The database cannot be used (read-only, full disk, not a journeydesk file)."""


class StoreDatabase(Database):
    """sqlite-utils' Database whose transactions take the write lock when they begin.

    A plain (deferred) BEGIN reads first and asks for the write lock at its first write;
    in WAL mode, if another connection committed in between, that upgrade fails at once
    with "database is locked" — the busy timeout does not apply. Two gunicorn workers
    ingesting, or a sync beside a webhook, hit it. BEGIN IMMEDIATE waits its turn (up to
    the busy timeout) instead. Readers are never blocked either way (WAL).
    """

    @contextlib.contextmanager
    def atomic(self) -> Iterator[Database]:
        if self.conn.in_transaction:  # nested: sqlite-utils' savepoint
            with super().atomic():
                yield self
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.rollback()  # a no-op when the error already ended the transaction
            raise
        try:
            self.conn.execute("COMMIT")
        except BaseException:
            self.rollback()
            raise


def open_db(path: str | Path, *, migrate: bool = True) -> Database:
    """Open the SQLite file in WAL mode with a busy timeout and foreign keys on.

    Applies pending migrations first when `migrate` is true (start-up, CLI). Request
    handlers pass `migrate=False`: the schema is already current by then.
    """
    try:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_SECONDS, check_same_thread=False)
        db = StoreDatabase(conn)
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("PRAGMA synchronous = NORMAL")
        if migrate:
            # WAL is a property of the file; it cannot be switched inside a transaction.
            db.execute("PRAGMA journal_mode = WAL")
            if migrations.pending(db):
                # One process migrates while the others wait for the lock, then find
                # nothing pending (each migration nests as a savepoint in this one).
                with db.atomic():
                    migrations.apply(db)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot open the database {path}: {exc}") from None
    return db


def schema_version(db: Database) -> int:
    """How many migrations this file has applied."""
    return len(migrations.applied(db))


def pending_migrations(db: Database) -> list[str]:
    return [m.name for m in migrations.pending(db)]


def to_epoch(value: datetime | None) -> int | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp())


def from_epoch(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def now_epoch() -> int:
    return int(time.time())


# One encoder for every JSON column: json.dumps(..., default=str) builds a new encoder per
# call, which costs more than encoding the small documents we store (sync hot path).
_ENCODER = json.JSONEncoder(separators=(",", ":"), sort_keys=True, default=str)


def dumps(value: Any) -> str:
    if not value and isinstance(value, dict | list | tuple):
        return "[]" if not isinstance(value, dict) else "{}"
    return _ENCODER.encode(value)
