"""The journey note queue: one private note per new ticket, posted once.

A row is queued in the transaction that stores the ticket's arrival (`queue_note`; the
UNIQUE (source, ticket_id) makes a re-sync, a redelivered webhook or a second worker a
no-op), then posted by the one process holding the `journey-notes` lease:
`start_posting` (pending → sending, committed, attempts + 1), the desk call,
`record_posted` (→ posted, with the body) or `record_note_retry` (→ pending later).
A `sending` row of another holder was left by a process that died mid-call: the note may
or may not be on the desk, so `release_abandoned` makes it pending again and the poster
looks for the note's marker on the ticket before posting again. Nothing is deleted.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlite_utils import Database

from plugin.store import commit_durably, select_dicts


def queue_notes(db: Database, source: str, ticket_ids: Iterable[str], *, now: int) -> int:
    """A pending note for each ticket that has none yet; how many were queued."""
    queued = 0
    for ticket_id in ticket_ids:
        cursor = db.conn.execute(
            "INSERT INTO journey_notes (source, ticket_id, status, next_attempt_at, created_at, "
            "updated_at) VALUES (?, ?, 'pending', ?, ?, ?) "
            "ON CONFLICT (source, ticket_id) DO NOTHING",
            [source, ticket_id, now, now, now],
        )
        queued += cursor.rowcount
    return queued


def due_notes(db: Database, *, now: int, limit: int = 100) -> list[dict[str, Any]]:
    """Pending notes whose time has come, oldest first."""
    return select_dicts(
        db,
        "SELECT * FROM journey_notes INDEXED BY journey_notes_due WHERE status = 'pending' "
        "AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?",
        [now, limit],
    )


def start_posting(db: Database, note_id: int, *, holder: str, now: int) -> bool:
    """pending → sending by `holder`, committed (durably: see outbox.start_sending) before
    the desk call."""
    with db.atomic():
        commit_durably(db)
        cursor = db.conn.execute(
            "UPDATE journey_notes SET status = 'sending', sending_by = ?, "
            "attempts = attempts + 1, updated_at = ? WHERE id = ? AND status = 'pending'",
            [holder, now, note_id],
        )
    return cursor.rowcount == 1


def record_posted(db: Database, note_id: int, *, holder: str, body: str | None, now: int) -> None:
    """sending → posted; `body` is what the note said (None: found on the desk, already
    posted by an earlier attempt)."""
    with db.atomic():
        db.conn.execute(
            "UPDATE journey_notes SET status = 'posted', error = NULL, sending_by = NULL, "
            "body = coalesce(?, body), posted_at = ?, updated_at = ? "
            "WHERE id = ? AND status = 'sending' AND sending_by = ?",
            [body, now, now, note_id, holder],
        )


def record_note_retry(db: Database, note_id: int, *, error: str, retry_at: int, now: int) -> None:
    with db.atomic():
        db.conn.execute(
            "UPDATE journey_notes SET status = 'pending', error = ?, next_attempt_at = ?, "
            "sending_by = NULL, updated_at = ? WHERE id = ? AND status = 'sending'",
            [error, retry_at, now, note_id],
        )


def record_note_failed(db: Database, note_id: int, *, error: str, now: int) -> None:
    """The note can never be posted (the ticket is gone, the desk takes no notes)."""
    with db.atomic():
        db.conn.execute(
            "UPDATE journey_notes SET status = 'failed', error = ?, sending_by = NULL, "
            "updated_at = ? WHERE id = ? AND status = 'sending'",
            [error, now, note_id],
        )


def release_abandoned(db: Database, *, holder: str, now: int) -> int:
    """`sending` rows of any other holder become pending now; only the lease holder calls."""
    with db.atomic():
        cursor = db.conn.execute(
            "UPDATE journey_notes SET status = 'pending', sending_by = NULL, "
            "next_attempt_at = ?, updated_at = ? "
            "WHERE status = 'sending' AND coalesce(sending_by, '') != ?",
            [now, now, holder],
        )
    return cursor.rowcount


def get_note(db: Database, source: str, ticket_id: str) -> dict[str, Any] | None:
    rows = select_dicts(
        db, "SELECT * FROM journey_notes WHERE source = ? AND ticket_id = ?", [source, ticket_id]
    )
    return rows[0] if rows else None


def list_notes(db: Database, *, status: str | None = None, limit: int = 100) -> list[dict]:
    where, params = ("WHERE status = ?", [status]) if status else ("", [])
    return select_dicts(
        db, f"SELECT * FROM journey_notes {where} ORDER BY id DESC LIMIT ?", [*params, limit]
    )
