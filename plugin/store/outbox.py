"""The outreach outbox: one row per (rule, customer, period), claimed before any send.

A run first claims its messages (`claim_messages`, committed), then sends each one
between `start_sending` (committed: the row says `sending`, by whom) and `record_sent` /
`record_retry` / `record_failed`. A row still `sending` when the next delivery run starts
was left by a run that died mid-send: `mark_abandoned` turns it `uncertain`, and only an
admin's `requeue_message` sends it again (or `discard_message` closes it).

Statuses: pending → sending → sent | failed | uncertain; held_out (a control group);
discarded (an admin closed an uncertain or failed message); refused (the template sandbox
refused the message: nothing was sent, the row is the audit trail and keeps the error).
A refused row does not hold its key: once the template is fixed, the next run of the
period claims the message over it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from sqlite_utils import Database

from plugin.store import (
    Read,
    commit_durably,
    dumps,
    loads_stored,
    read_together,
    rows_as_dicts,
    select_dicts,
)
from plugin.store.report_changes import note_message_sent

STATUSES = (
    "pending",
    "sending",
    "sent",
    "failed",
    "uncertain",
    "held_out",
    "discarded",
    "refused",
)
LIVE_STATUSES = ("pending", "sending", "sent", "uncertain")
"""Messages that count against cooldowns and the global cap (sent or possibly sent)."""

_CLAIM_COLUMNS = (
    "rule",
    "customer_id",
    "period",
    "rule_version",
    "status",
    "channel",
    "recipient",
    "locale",
    "reasons",
    "subject",
    "body_text",
    "body_html",
    "next_attempt_at",
    "error",
)


def claim_messages(db: Database, messages: Iterable[Mapping[str, Any]], *, now: int) -> list[int]:
    """Insert the messages whose (rule, customer_id, period) is still free, in one
    committed transaction; returns the ids of those claimed now (the others were taken).

    Each message holds the `_CLAIM_COLUMNS` (`reasons` as a list, `status` pending,
    held_out or refused). A `refused` row of the same key is replaced (its template has
    been fixed since); a refused message never replaces anything.
    """
    sets = ", ".join(f"{c} = excluded.{c}" for c in _CLAIM_COLUMNS)
    sql = (
        f"INSERT INTO outbox ({', '.join(_CLAIM_COLUMNS)}, created_at, updated_at) "
        f"VALUES ({', '.join('?' for _ in _CLAIM_COLUMNS)}, ?, ?) "
        f"ON CONFLICT (rule, customer_id, period) DO UPDATE SET {sets}, attempts = 0, "
        "updated_at = excluded.updated_at WHERE outbox.status = 'refused' "
        "AND excluded.status != 'refused' RETURNING id"
    )
    claimed = []
    with db.atomic():
        for message in messages:
            row = [message.get(column) for column in _CLAIM_COLUMNS]
            row[_CLAIM_COLUMNS.index("reasons")] = dumps(message.get("reasons") or [])
            found = db.conn.execute(sql, [*row, now, now]).fetchone()
            if found is not None:
                claimed.append(found[0])
    return claimed


def recent_messages(db: Database, *, since: int) -> list[dict[str, Any]]:
    """(rule, customer_id, status, at) of the live and held-out messages at or after
    `since`, where `at` is when it was sent, else when it is (or was) due: what cooldowns
    count (held-out ones too) and the cap counts (live ones only)."""
    statuses = (*LIVE_STATUSES, "held_out")
    marks = ", ".join("?" for _ in statuses)
    return select_dicts(
        db,
        "SELECT rule, customer_id, status, coalesce(sent_at, next_attempt_at) AS at FROM outbox "
        f"WHERE status IN ({marks}) AND coalesce(sent_at, next_attempt_at) >= ?",
        [*statuses, since],
    )


ALERT_STATUSES = (*LIVE_STATUSES, "held_out")
"""Webhook alerts that stand (sent, possibly sent, or held out) until the reason ends."""


def standing_alerts(db: Database, rule: str) -> dict[int, list[dict[str, Any]]]:
    """{customer_id: reasons} of the customers whose latest alert of `rule` still stands:
    no run has found them outside the rule's audience since (`cleared_at` unset).
    Webhook rules only: their rows are few (internal alerts, not mail to everyone)."""
    marks = ", ".join("?" for _ in ALERT_STATUSES)
    latest: dict[int, tuple[Any, Any]] = {}
    for cid, reasons, cleared_at in db.conn.execute(
        "SELECT customer_id, reasons, cleared_at FROM outbox "
        f"WHERE rule = ? AND status IN ({marks}) ORDER BY id",
        [rule, *ALERT_STATUSES],
    ):
        latest[cid] = (reasons, cleared_at)
    return {
        cid: json.loads(reasons or "[]")
        for cid, (reasons, cleared_at) in latest.items()
        if cleared_at is None
    }


def clear_alerts(db: Database, rule: str, customer_ids: Iterable[int], *, now: int) -> int:
    """Mark the standing alerts of `rule` to `customer_ids` (found outside its audience)
    as cleared: the next time they match, the team is alerted again. Returns how many."""
    ids = list(customer_ids)
    marks = ", ".join("?" for _ in ALERT_STATUSES)
    cleared = 0
    with db.atomic():
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            cleared += db.conn.execute(
                f"UPDATE outbox SET cleared_at = ? WHERE rule = ? AND cleared_at IS NULL "
                f"AND status IN ({marks}) AND customer_id IN ({', '.join('?' for _ in chunk)})",
                [now, rule, *ALERT_STATUSES, *chunk],
            ).rowcount
    return cleared


RECEIVED_STATUSES = ("sent", "uncertain")
"""What the sidebar shows the agent: messages the customer got (or may have got)."""


RECEIVED_SHOWN = 10
_RECEIVED_KEYS = ("id", "rule", "channel", "subject", "status", "at")
_RECEIVED = (
    "SELECT id, rule, channel, subject, status, coalesce(sent_at, updated_at) AS at "
    "FROM outbox INDEXED BY outbox_customer WHERE customer_id = {customer} "
    f"AND status IN ({', '.join(repr(status) for status in RECEIVED_STATUSES)}) "
    "AND channel != 'webhook' "
    "AND coalesce(sent_at, updated_at) >= {since} "
    "ORDER BY at DESC, id DESC LIMIT {limit}"
)
"""One read on the index outbox_customer (customer_id, created_at): a customer has a
handful of rows, never a scan of the outbox."""


def received_messages(
    db: Database, customer_id: int, *, since: int, limit: int = RECEIVED_SHOWN
) -> list[dict[str, Any]]:
    """The proactive messages `customer_id` received at or after `since`, newest first:
    id, rule, channel, subject, status and `at` (sent, or last touched when uncertain).
    Webhook alerts went to the team, not the customer: left out."""
    return read_together(db, received_messages_read(customer_id, since=since, limit=limit))[0]


def received_messages_read(customer_id: int, *, since: int, limit: int = RECEIVED_SHOWN) -> Read:
    """`received_messages` as a `Read`, for `read_together`."""
    return Read(
        _RECEIVED.format(customer="?", since="?", limit="?"),
        [customer_id, since, limit],
        rows_as_dicts,
    )


def received_messages_column(customer: str, since: str) -> str:
    """`received_messages` (the newest RECEIVED_SHOWN) as one JSON column of a larger
    statement, for the customer whose id is the SQL `customer`, since the SQL `since`: the
    sidebar reads them with the ticket, in its one statement (`messages_from_column`)."""
    listed = _RECEIVED.format(customer=customer, since=since, limit=RECEIVED_SHOWN)
    return (
        f"(SELECT json_group_array(json_array({', '.join(_RECEIVED_KEYS)})) "
        f"FROM ({listed}) AS received)"
    )


def messages_from_column(value: str | None) -> list[dict[str, Any]]:
    """What `received_messages` gives, from a `received_messages_column`."""
    return [dict(zip(_RECEIVED_KEYS, row, strict=True)) for row in loads_stored(value or "[]")]


def claimed_keys(db: Database, rule: str, period: str) -> set[int]:
    """Customers who already hold a row of `rule` for `period` (whatever its status, but
    refused: a refused message is claimed again once its template renders)."""
    return {
        cid
        for (cid,) in db.conn.execute(
            "SELECT customer_id FROM outbox WHERE rule = ? AND period = ? AND status != 'refused'",
            [rule, period],
        )
    }


def due_messages(
    db: Database, *, now: int, limit: int = 100, rules: Iterable[str] | None = None
) -> list[dict[str, Any]]:
    """Pending messages whose time has come, oldest first (of `rules` when given)."""
    where, params = "", [now]
    if rules is not None:
        names = list(rules)
        where = f" AND rule IN ({', '.join('?' for _ in names)})"
        params += names
    return _decoded(
        select_dicts(
            db,
            "SELECT * FROM outbox INDEXED BY outbox_due WHERE status = 'pending' "
            f"AND next_attempt_at <= ?{where} ORDER BY next_attempt_at, id LIMIT ?",
            [*params, limit],
        )
    )


def start_sending(db: Database, message_id: int, *, holder: str, now: int) -> bool:
    """pending → sending by `holder`, committed before the send; False if it is not pending.

    The commit is durable before this returns (`durable_commit`), even on a server that
    acknowledges commits early: lost in a crash or failover, the mark would make the
    message pending again, and the next run would send it a second time."""
    with db.atomic():
        commit_durably(db)
        cursor = db.conn.execute(
            "UPDATE outbox SET status = 'sending', sending_by = ?, attempts = attempts + 1, "
            "updated_at = ? WHERE id = ? AND status = 'pending'",
            [holder, now, message_id],
        )
    return cursor.rowcount == 1


def record_sent(
    db: Database, message_id: int, *, holder: str, outcome: str, external_id: str | None, now: int
) -> None:
    """The send succeeded. Also from `uncertain`: the run that sent it says so after all."""
    with db.atomic():
        sent = db.conn.execute(
            "UPDATE outbox SET status = 'sent', outcome = ?, external_id = ?, error = NULL, "
            "sent_at = ?, updated_at = ? "
            "WHERE id = ? AND sending_by = ? AND status IN ('sending', 'uncertain')",
            [outcome, external_id, now, now, message_id, holder],
        )
        if sent.rowcount == 1:
            note_message_sent(db, message_id)  # a touchpoint for the report figures


def record_retry(db: Database, message_id: int, *, error: str, retry_at: int, now: int) -> None:
    """A transient failure: pending again, from `retry_at` on, with the error kept."""
    with db.atomic():
        db.conn.execute(
            "UPDATE outbox SET status = 'pending', error = ?, next_attempt_at = ?, "
            "sending_by = NULL, updated_at = ? WHERE id = ? AND status = 'sending'",
            [error, retry_at, now, message_id],
        )


def record_failed(db: Database, message_id: int, *, error: str, now: int) -> None:
    with db.atomic():
        db.conn.execute(
            "UPDATE outbox SET status = 'failed', error = ?, updated_at = ? "
            "WHERE id = ? AND status = 'sending'",
            [error, now, message_id],
        )


def mark_abandoned(db: Database, *, holder: str, now: int) -> int:
    """`sending` rows of any other holder become `uncertain` (their run died mid-send);
    returns how many. Only the holder of the delivery lease may call this."""
    with db.atomic():
        cursor = db.conn.execute(
            "UPDATE outbox SET status = 'uncertain', updated_at = ?, error = coalesce(error "
            "|| '; ', '') || 'the run sending it stopped before recording the outcome' "
            "WHERE status = 'sending' AND coalesce(sending_by, '') != ?",
            [now, holder],
        )
    return cursor.rowcount


def requeue_message(db: Database, message_id: int, *, now: int) -> bool:
    """An admin's decision: send an uncertain or failed message again (from now)."""
    with db.atomic():
        cursor = db.conn.execute(
            "UPDATE outbox SET status = 'pending', next_attempt_at = ?, attempts = 0, "
            "sending_by = NULL, updated_at = ? WHERE id = ? AND status IN ('uncertain', 'failed')",
            [now, now, message_id],
        )
    return cursor.rowcount == 1


def discard_message(db: Database, message_id: int, *, now: int) -> bool:
    """An admin's decision: never send an uncertain or failed message (it stays recorded)."""
    with db.atomic():
        cursor = db.conn.execute(
            "UPDATE outbox SET status = 'discarded', updated_at = ? "
            "WHERE id = ? AND status IN ('uncertain', 'failed')",
            [now, message_id],
        )
    return cursor.rowcount == 1


def get_message(db: Database, message_id: int) -> dict[str, Any] | None:
    rows = _decoded(select_dicts(db, "SELECT * FROM outbox WHERE id = ?", [message_id]))
    return rows[0] if rows else None


def list_messages(
    db: Database, *, status: str | None = None, rule: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """The newest messages, optionally of one status and/or rule."""
    clauses, params = [], []
    if status:
        clauses.append("status = ?")
        params.append(status)
    if rule:
        clauses.append("rule = ?")
        params.append(rule)
    where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
    return _decoded(
        select_dicts(db, f"SELECT * FROM outbox {where}ORDER BY id DESC LIMIT ?", [*params, limit])
    )


def status_counts(db: Database, *, rule: str | None = None) -> dict[str, int]:
    where, params = ("WHERE rule = ? ", [rule]) if rule else ("", [])
    return dict(
        db.conn.execute(f"SELECT status, count(*) FROM outbox {where}GROUP BY status", params)
    )


def rule_activity(db: Database) -> dict[str, dict[str, Any]]:
    """Per rule: its message counts by status and when it last claimed one (`last_at`)."""
    found: dict[str, dict[str, Any]] = {}
    for rule, status, count, last_at in db.conn.execute(
        "SELECT rule, status, count(*), max(created_at) FROM outbox GROUP BY rule, status"
    ):
        entry = found.setdefault(rule, {"counts": {}, "last_at": 0})
        entry["counts"][status] = count
        entry["last_at"] = max(entry["last_at"], last_at)
    return found


def customer_messages(
    db: Database, customer_id: int, *, rule: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """A customer's messages (of one rule), newest first."""
    where, params = ("AND rule = ? ", [rule]) if rule else ("", [])
    return _decoded(
        select_dicts(
            db,
            f"SELECT * FROM outbox INDEXED BY outbox_customer WHERE customer_id = ? {where}"
            "ORDER BY created_at DESC, id DESC LIMIT ?",
            [customer_id, *params, limit],
        )
    )


def _decoded(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        row["reasons"] = json.loads(row["reasons"] or "[]")
    return rows
