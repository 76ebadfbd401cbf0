"""SLA decisions: one per ticket (source, ticket id), written once, never changed.

`record_decision` inserts only when the ticket has none, so a re-sync, a redelivered
webhook or two workers deciding the same ticket leave the first decision alone (and
queue no second push: the caller queues only when this returns True).
"""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

from plugin.store import Read, dumps, loads_stored, read_together, select_dicts
from plugin.store.report_changes import note_stored_tickets

_COLUMNS = (
    "source",
    "ticket_id",
    "customer_id",
    "rule",
    "rule_version",
    "priority_before",
    "priority_after",
    "tags_added",
    "targets",
    "reasons",
    "decided_at",
)
_JSON = ("tags_added", "targets", "reasons")


def record_decision(db: Database, decision: dict[str, Any]) -> bool:
    """Store `decision` (the `_COLUMNS`; JSON ones as Python values) unless the ticket
    already has one; True when stored now."""
    row = [dumps(decision[c]) if c in _JSON else decision.get(c) for c in _COLUMNS]
    cursor = db.conn.execute(
        f"INSERT INTO sla_decisions ({', '.join(_COLUMNS)}) "
        f"VALUES ({', '.join('?' for _ in _COLUMNS)}) "
        "ON CONFLICT (source, ticket_id) DO NOTHING",
        row,
    )
    if cursor.rowcount != 1:
        return False
    note_stored_tickets(db, decision["source"], [decision["ticket_id"]])  # its SLA outcome
    return True


def get_decision(db: Database, source: str, ticket_id: str) -> dict[str, Any] | None:
    return read_together(db, decision_read(source, ticket_id))[0]


def decision_read(source: str, ticket_id: str) -> Read:
    """`get_decision` as a `Read`, for `read_together`."""
    return Read(
        "SELECT * FROM sla_decisions WHERE source = ? AND ticket_id = ?",
        [source, ticket_id],
        _first_decoded,
    )


def decision_column(source: str, ticket_id: str) -> str:
    """The decision of the ticket whose source and id are the SQL `source` and
    `ticket_id`, as one JSON column of a larger statement: the sidebar reads it with the
    ticket, in its one statement (`decision_from_column`)."""
    return (
        f"(SELECT json_array({', '.join(_COLUMNS)}) FROM sla_decisions "
        f"WHERE source = {source} AND ticket_id = {ticket_id})"
    )


def decision_from_column(value: str | None) -> dict[str, Any] | None:
    """What `get_decision` gives, from a `decision_column`."""
    if value is None:
        return None
    return _decoded(dict(zip(_COLUMNS, loads_stored(value), strict=True)))


def _first_decoded(keys: list[str], rows: list[tuple]) -> dict[str, Any] | None:
    return _decoded(dict(zip(keys, rows[0], strict=True))) if rows else None


def recent_decisions(db: Database, *, limit: int = 50) -> list[dict[str, Any]]:
    rows = select_dicts(
        db,
        "SELECT * FROM sla_decisions ORDER BY decided_at DESC, source, ticket_id LIMIT ?",
        [limit],
    )
    return [_decoded(row) for row in rows]


def count_decisions(db: Database, source: str | None = None) -> int:
    if source is None:
        return db.execute("SELECT count(*) FROM sla_decisions").fetchone()[0]
    return db.execute("SELECT count(*) FROM sla_decisions WHERE source = ?", [source]).fetchone()[0]


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    for column in _JSON:
        row[column] = loads_stored(row[column])
    return row


def undecided_open_tickets(db: Database, source: str, *, since: int) -> list[dict[str, Any]]:
    """`source`'s stored tickets created at or after `since` that are not solved, closed
    or deleted and have no decision (what a deliberate `sla apply --since` decides)."""
    return select_dicts(
        db,
        "SELECT t.* FROM tickets AS t WHERE t.source = ? AND t.created_at >= ? "
        "AND t.deleted = 0 AND t.solved_at IS NULL AND t.status NOT IN ('solved', 'closed') "
        "AND NOT EXISTS (SELECT 1 FROM sla_decisions AS d "
        "WHERE d.source = t.source AND d.ticket_id = t.id) "
        "ORDER BY t.created_at, t.id",
        [source, since],
    )
