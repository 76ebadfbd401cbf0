"""Sync bookkeeping: cursors, batches written with their cursor, runs and rejections,
when each desk user's reading history was last fetched (on-demand freshness), and what
the last sync of each source said an admin should know (shown on /healthz)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from connectors.records import Article, Batch, Customer, Ticket, Touchpoint
from plugin.clock import now_epoch
from plugin.store import dumps
from plugin.store.articles import upsert_articles
from plugin.store.backends import postgres
from plugin.store.customers import upsert_customers
from plugin.store.tickets import write_tickets
from plugin.store.touchpoints import insert_touchpoints


@dataclass(frozen=True, slots=True)
class BatchResult:
    written: int
    duplicates: int
    rejected: int


def save_batch(db: Database, source: str, batch: Batch) -> BatchResult:
    """Write a batch's records AND its cursor in one transaction.

    A crash before the commit loses both, so the next run re-fetches the same page;
    a crash after it keeps both. Upserts are keyed, so re-fetching is harmless.
    """
    with db.atomic():
        written, duplicates = _write_records(db, source, batch.records)
        for reason in batch.rejected:
            record_rejection(db, source, batch.stream, reason)
        if batch.cursor is not None:
            set_cursor(db, source, batch.stream, batch.cursor, scope=batch.scope)
        if batch.stream_cursor is not None:
            set_cursor(db, source, batch.stream, batch.stream_cursor)
    return BatchResult(written, duplicates, len(batch.rejected))


def _write_records(db: Database, source: str, records: list) -> tuple[int, int]:
    customers = [r for r in records if isinstance(r, Customer)]
    articles = [r for r in records if isinstance(r, Article)]
    tickets = [r for r in records if isinstance(r, Ticket)]
    touchpoints = [r for r in records if isinstance(r, Touchpoint)]
    written = upsert_customers(db, source, customers) if customers else 0
    written += upsert_articles(db, source, articles) if articles else 0
    resolved: dict = {}
    if tickets:
        changed, resolved = write_tickets(db, source, tickets)
        written += changed
    duplicates = 0
    if touchpoints:
        # A ticket page's timeline entries are about its requesters, resolved just now.
        known = resolved if resolved and all(t.customer in resolved for t in touchpoints) else None
        result = insert_touchpoints(db, source, touchpoints, article_source=source, customers=known)
        written += result.accepted
        duplicates = result.duplicates
    return written, duplicates


SYNCED_TABLES = ("customers", "customer_identities", "tickets", "touchpoints")
"""The tables a sync fills, whose statistics PostgreSQL plans its statements from."""
FIRST_ANALYZE_RECORDS = 1_000


class SyncSession:
    """What a sync asks of its connection while it writes (`sync_session`)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.records = 0
        self.analyze_at = 0
        """Records stored before the next ANALYZE (PostgreSQL only; 0: never)."""
        if isinstance(db, postgres.PostgresDatabase):
            known = postgres.rows_planned(db, SYNCED_TABLES)
            self.analyze_at = max(FIRST_ANALYZE_RECORDS, 2 * known)

    def stored(self, records: int) -> None:
        """After each page: `records` more desk records stored.

        PostgreSQL plans from each table's statistics, and a first sync starts from empty
        tables that have none. Planned for tables of unknown size, the sync's lookups by
        ticket id walked every ticket of the source and every customer, then filtered: a
        whole table per page once it had grown (30,000 tickets synced at 3,000 a second,
        slower at each page). autovacuum analyses a growing table only once a minute, so
        the sync does as PostgreSQL's documentation asks after a bulk load: ANALYZE, each
        time what it stored doubled the tables (about ten times from nothing to a million
        tickets; each samples at most 30,000 rows a table). A desk whose tables are large
        already is never analysed by its sync.
        """
        self.records += records
        if self.analyze_at and self.records >= self.analyze_at:
            postgres.analyze(self.db, SYNCED_TABLES)
            self.analyze_at = 2 * self.records


@contextlib.contextmanager
def sync_session(db: Database, mib: int) -> Iterator[SyncSession]:
    """The connection set up for a sync's writes while it runs (then put back).

    SQLite: the page cache enlarged to `mib` MB. Each page of tickets adds a thousand rows
    to indexes keyed by customer (tickets, timeline, changed customers): random pages all
    over them. With SQLite's default 2 MB cache, most are read back from the file at every
    page once the indexes outgrow it. PostgreSQL sizes its own shared buffers; there the
    session keeps the statistics of the tables the sync fills (`SyncSession.stored`).
    """
    session = SyncSession(db)
    if db.backend != "sqlite":
        yield session
        return
    before = db.conn.execute("PRAGMA cache_size").fetchone()[0]
    page_kib = db.conn.execute("PRAGMA page_size").fetchone()[0] // 1024 or 1
    before_kib = -before if before < 0 else before * page_kib
    if before_kib >= mib * 1024:
        yield session
        return
    db.conn.execute(f"PRAGMA cache_size = {-1024 * int(mib)}")
    try:
        yield session
    finally:
        db.conn.execute(f"PRAGMA cache_size = {int(before)}")


def get_cursor(db: Database, source: str, stream: str, scope: str = "") -> str | None:
    row = db.execute(
        "SELECT cursor FROM sync_cursors WHERE source = ? AND stream = ? AND scope = ?",
        [source, stream, scope],
    ).fetchone()
    return row[0] if row else None


def set_cursor(db: Database, source: str, stream: str, cursor: str, *, scope: str = "") -> None:
    db.execute(
        "INSERT INTO sync_cursors (source, stream, scope, cursor, updated_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT(source, stream, scope) "
        "DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
        [source, stream, scope, cursor, now_epoch()],
    )


def clear_cursors(db: Database, source: str) -> None:
    """Forget every cursor of a source, for a full resync."""
    db.execute("DELETE FROM sync_cursors WHERE source = ?", [source])


def record_rejection(db: Database, source: str, stream: str, reason: str) -> None:
    db.execute(
        "INSERT INTO rejections (source, stream, at, reason) VALUES (?, ?, ?, ?)",
        [source, stream, now_epoch(), reason[:1000]],
    )


def start_run(db: Database, source: str, *, owner: str, alive_at: int) -> int:
    """A `running` row for this sync, owned by the process named `owner`."""
    with db.atomic():
        (run_id,) = db.execute(
            "INSERT INTO sync_runs (source, started_at, status, owner, heartbeat_at) "
            "VALUES (?, ?, 'running', ?, ?) RETURNING id",
            [source, now_epoch(), owner, alive_at],
        ).fetchone()
    return run_id


def beat(db: Database, run_id: int, alive_at: int) -> None:
    """The run's process is still at work (real epoch seconds)."""
    db.execute("UPDATE sync_runs SET heartbeat_at = ? WHERE id = ?", [alive_at, run_id])


def first_sync_at(db: Database, source: str) -> int | None:
    """When the desk's first successful sync started; None before one has finished."""
    row = db.execute(
        "SELECT min(started_at) FROM sync_runs WHERE source = ? AND status = 'ok'", [source]
    ).fetchone()
    return row[0] if row else None


def finish_run(
    db: Database, run_id: int, *, status: str, accepted: int, rejected: int, message: str = ""
) -> None:
    db.execute(
        "UPDATE sync_runs SET finished_at = ?, status = ?, accepted = ?, rejected = ?, "
        "message = ? WHERE id = ?",
        [now_epoch(), status, accepted, rejected, message, run_id],
    )


def running_runs(db: Database) -> list[dict[str, Any]]:
    """Runs still marked `running`: id, source, owner, heartbeat_at."""
    return list(
        db.query("SELECT id, source, owner, heartbeat_at FROM sync_runs WHERE status = 'running'")
    )


def interrupt_runs(db: Database, run_ids: list[int], message: str) -> None:
    """Close runs whose process died as `interrupted` (finished: when this was noticed)."""
    with db.atomic():  # executemany opens a transaction that nothing else would commit
        db.conn.executemany(
            "UPDATE sync_runs SET status = 'interrupted', message = ?, finished_at = ? "
            "WHERE id = ? AND status = 'running'",
            [(message, now_epoch(), run_id) for run_id in run_ids],
        )


def last_runs(db: Database) -> list[dict[str, Any]]:
    """The latest finished-or-running sync of each source."""
    return list(
        db.query(
            "SELECT id, source, started_at, finished_at, status, accepted, rejected, message, "
            "owner, heartbeat_at FROM sync_runs "
            "WHERE id IN (SELECT max(id) FROM sync_runs GROUP BY source) ORDER BY source"
        )
    )


def record_history_fetch(db: Database, source: str, user_id: str, fetched_at: int) -> None:
    """Remember that `user_id`'s history was fetched as of `fetched_at` (never moves back)."""
    db.execute(
        "INSERT INTO customer_fetches (source, user_id, fetched_at) VALUES (?, ?, ?) "
        "ON CONFLICT(source, user_id) DO UPDATE SET "
        f"fetched_at = {db.dialect.greatest('customer_fetches.fetched_at', 'excluded.fetched_at')}",
        [source, str(user_id), fetched_at],
    )


def last_history_fetch(db: Database, source: str, user_id: str) -> int | None:
    """The latest time `user_id`'s history was read: on demand, or by a sync.

    A sync leaves its mark as the user's events cursor (stream `touchpoints`, scope =
    the user id); its `updated_at` is when that page was stored.
    """
    row = db.execute(
        "SELECT max(t) FROM ("
        " SELECT fetched_at AS t FROM customer_fetches WHERE source = ? AND user_id = ?"
        " UNION ALL SELECT updated_at FROM sync_cursors"
        " WHERE source = ? AND stream = 'touchpoints' AND scope = ?) AS reads",
        [source, str(user_id), source, str(user_id)],
    ).fetchone()
    return row[0] if row else None


def replace_notices(db: Database, source: str, notices: Iterable[str]) -> None:
    """Make `notices` the source's current ones; a notice kept keeps its `since`."""
    current = list(dict.fromkeys(notices))
    with db.atomic():
        db.execute(
            f"DELETE FROM source_notices WHERE source = ? AND notice NOT IN {db.dialect.texts()}",
            [source, dumps(current)],
        )
        db.conn.executemany(
            "INSERT INTO source_notices (source, notice, since) VALUES (?, ?, ?) "
            "ON CONFLICT(source, notice) DO NOTHING",
            [(source, notice, now_epoch()) for notice in current],
        )


def notices_by_source(db: Database) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for source, notice in db.execute(
        "SELECT source, notice FROM source_notices ORDER BY source, since, notice"
    ):
        result.setdefault(source, []).append(notice)
    return result


def last_successful_sync(db: Database, source: str) -> int | None:
    """When the latest successful sync of `source` finished (None: none has)."""
    return db.execute(
        "SELECT max(finished_at) FROM sync_runs WHERE source = ? AND status = 'ok'", [source]
    ).fetchone()[0]
