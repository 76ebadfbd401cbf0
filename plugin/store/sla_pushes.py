"""The SLA push queue: priority and tags a decision changes at the desk.

A row is queued in the decision's transaction (`queue_push`), then sent by the one process
holding the `sla-push` lease: `start_pushing` (pending → sending, committed), the desk
call, `record_pushed` (→ sent) or `record_push_retry` (→ pending later, error kept).
A `sending` row of another holder was left by a process that died mid-call; the update
is idempotent (set a priority, add tags), so `release_abandoned` makes it pending again.
Nothing is ever deleted: a pending row survives crashes and restarts.

The claim (`start_pushing`) is a compare-and-set in a write transaction, so a row is sent
by one process however many hosts share the database: write transactions run one at a
time on PostgreSQL too (one advisory lock), and the loser's UPDATE finds the row no longer
pending. No row lock is held across the desk call.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlite_utils import Database

from plugin.store import commit_durably, dumps, loads_stored, select_dicts


def queue_push(
    db: Database,
    source: str,
    ticket_id: str,
    *,
    priority: str | None,
    add_tags: Iterable[str],
    now: int,
) -> bool:
    """A pending update of the ticket (one per ticket); False if it already has one."""
    cursor = db.conn.execute(
        "INSERT INTO sla_pushes (source, ticket_id, priority, add_tags, status, "
        "next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?) "
        "ON CONFLICT (source, ticket_id) DO NOTHING",
        [source, ticket_id, priority, dumps(list(add_tags)), now, now, now],
    )
    return cursor.rowcount == 1


def due_pushes(db: Database, *, now: int, limit: int = 100) -> list[dict[str, Any]]:
    """Pending pushes whose time has come, oldest first."""
    rows = select_dicts(
        db,
        "SELECT * FROM sla_pushes INDEXED BY sla_pushes_due WHERE status = 'pending' "
        "AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?",
        [now, limit],
    )
    return [_decoded(row) for row in rows]


def start_pushing(db: Database, push_id: int, *, holder: str, now: int) -> bool:
    """pending → sending by `holder`, committed (durably: see outbox.start_sending) before
    the desk call."""
    with db.atomic():
        commit_durably(db)
        cursor = db.conn.execute(
            "UPDATE sla_pushes SET status = 'sending', sending_by = ?, attempts = attempts + 1, "
            "updated_at = ? WHERE id = ? AND status = 'pending'",
            [holder, now, push_id],
        )
    return cursor.rowcount == 1


def record_pushed(db: Database, push_id: int, *, holder: str, now: int) -> None:
    with db.atomic():
        db.conn.execute(
            "UPDATE sla_pushes SET status = 'sent', error = NULL, sent_at = ?, updated_at = ? "
            "WHERE id = ? AND status = 'sending' AND sending_by = ?",
            [now, now, push_id, holder],
        )


def record_push_retry(db: Database, push_id: int, *, error: str, retry_at: int, now: int) -> None:
    with db.atomic():
        db.conn.execute(
            "UPDATE sla_pushes SET status = 'pending', error = ?, next_attempt_at = ?, "
            "sending_by = NULL, updated_at = ? WHERE id = ? AND status = 'sending'",
            [error, retry_at, now, push_id],
        )


def record_push_failed(db: Database, push_id: int, *, error: str, now: int) -> None:
    """The desk says the update can never apply (the ticket is gone); the row stays."""
    with db.atomic():
        db.conn.execute(
            "UPDATE sla_pushes SET status = 'failed', error = ?, sending_by = NULL, "
            "updated_at = ? WHERE id = ? AND status = 'sending'",
            [error, now, push_id],
        )


def release_abandoned(db: Database, *, holder: str, now: int) -> int:
    """`sending` rows of any other holder become pending now; only the lease holder calls."""
    with db.atomic():
        cursor = db.conn.execute(
            "UPDATE sla_pushes SET status = 'pending', sending_by = NULL, next_attempt_at = ?, "
            "updated_at = ? WHERE status = 'sending' AND coalesce(sending_by, '') != ?",
            [now, now, holder],
        )
    return cursor.rowcount


def list_pushes(db: Database, *, status: str | None = None, limit: int = 100) -> list[dict]:
    where, params = ("WHERE status = ?", [status]) if status else ("", [])
    rows = select_dicts(
        db, f"SELECT * FROM sla_pushes {where} ORDER BY id DESC LIMIT ?", [*params, limit]
    )
    return [_decoded(row) for row in rows]


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    row["add_tags"] = loads_stored(row["add_tags"])
    return row


def push_counts(db: Database) -> dict[str, int]:
    """{status: rows} over every push (pending, sending, sent, failed)."""
    rows = db.execute("SELECT status, count(*) FROM sla_pushes GROUP BY status").fetchall()
    return {status: count for status, count in rows}
