"""Who may reach what: a token's customers, admin sessions, login failures, webhook replays.

Everything here that expires runs on the real system clock (`time.time()`), never the
business clock of `plugin.clock`: security timing must not move with a test's or a
demo's date. Session ids are stored hashed, so a copy of the database opens no session.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from collections.abc import Sequence

from sqlite_utils import Database

FULL_DISK_BYTES = 16 * 1024 * 1024
"""Below this much free space beside the database, /healthz calls the disk full: SQLite
needs room for the WAL and a checkpoint before it can write anything at all."""


def _now(now: int | None) -> int:
    return int(time.time()) if now is None else now


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


# --------------------------------------------------------------------------- customers


def customer_in_source(
    db: Database, customer_id: int, source: str, touchpoint_sources: Sequence[str]
) -> bool:
    """Is `customer_id` a customer of desk `source`: a user of it, the requester of one of
    its tickets, or someone whose touchpoints came from its sync, imports or portals
    (`touchpoint_sources`)? Merges move identities, tickets and touchpoints onto the
    survivor, so a customer merged across desks belongs to each of them."""
    if not -(2**63) <= customer_id < 2**63:  # beyond SQLite's integers: no one's customer
        return False
    marks = ", ".join("?" for _ in touchpoint_sources)
    row = db.execute(
        "SELECT EXISTS (SELECT 1 FROM customer_identities WHERE customer_id = ? AND kind = ?) "
        "OR EXISTS (SELECT 1 FROM tickets WHERE customer_id = ? AND source = ?) "
        f"OR EXISTS (SELECT 1 FROM touchpoints WHERE customer_id = ? AND source IN ({marks})) "
        "OR EXISTS (SELECT 1 FROM touchpoint_inbox "
        f"  WHERE customer_id = ? AND source IN ({marks}))",
        [customer_id, f"user:{source}", customer_id, source]
        + [customer_id, *touchpoint_sources] * 2,
    ).fetchone()
    return bool(row[0])


# --------------------------------------------------------------------------- admin sessions


def start_admin_session(
    db: Database, session_id: str, name: str, ttl_seconds: int, *, now: int | None = None
) -> None:
    """Remember a signed-in session until now + ttl (and forget the expired ones)."""
    now = _now(now)
    with db.atomic():
        db.execute("DELETE FROM admin_sessions WHERE expires_at <= ?", [now])
        db.execute(
            "INSERT OR REPLACE INTO admin_sessions (id_hash, name, created_at, expires_at) "
            "VALUES (?, ?, ?, ?)",
            [_hash(session_id), name, now, now + ttl_seconds],
        )


def admin_session_alive(db: Database, session_id: str, *, now: int | None = None) -> bool:
    """Was this session started and neither ended nor expired?"""
    row = db.execute(
        "SELECT 1 FROM admin_sessions WHERE id_hash = ? AND expires_at > ?",
        [_hash(session_id), _now(now)],
    ).fetchone()
    return row is not None


def end_admin_session(db: Database, session_id: str) -> None:
    with db.atomic():
        db.execute("DELETE FROM admin_sessions WHERE id_hash = ?", [_hash(session_id)])


# --------------------------------------------------------------------------- login failures


def record_login_failure(
    db: Database, bucket: str, window_seconds: int, *, now: int | None = None
) -> None:
    """Count one failed login for `bucket` (forgetting failures older than the window)."""
    now = _now(now)
    with db.atomic():
        db.execute("DELETE FROM login_failures WHERE at <= ?", [now - window_seconds])
        db.execute("INSERT INTO login_failures (bucket, at) VALUES (?, ?)", [bucket, now])


def recent_login_failures(
    db: Database, bucket: str, window_seconds: int, *, now: int | None = None
) -> list[int]:
    """When `bucket`'s failures within the window happened, oldest first."""
    rows = db.execute(
        "SELECT at FROM login_failures WHERE bucket = ? AND at > ? ORDER BY at",
        [bucket, _now(now) - window_seconds],
    ).fetchall()
    return [at for (at,) in rows]


def clear_login_failures(db: Database, bucket: str) -> None:
    with db.atomic():
        db.execute("DELETE FROM login_failures WHERE bucket = ?", [bucket])


# --------------------------------------------------------------------------- webhook replays


def claim_delivery(
    db: Database, source: str, delivery: str, ttl_seconds: int, *, now: int | None = None
) -> bool:
    """True for the first sight of `delivery` within ttl; False for a replay.

    One INSERT OR IGNORE: two workers receiving the same delivery at once cannot both win.
    """
    now = _now(now)
    with db.atomic():
        db.execute("DELETE FROM webhook_deliveries WHERE expires_at <= ?", [now])
        cursor = db.execute(
            "INSERT OR IGNORE INTO webhook_deliveries (source, delivery, expires_at) "
            "VALUES (?, ?, ?)",
            [source, delivery, now + ttl_seconds],
        )
    return cursor.rowcount == 1


def release_delivery(db: Database, source: str, delivery: str) -> None:
    """Forget a delivery whose work failed, so that the desk's retry is done again."""
    with db.atomic():
        db.execute(
            "DELETE FROM webhook_deliveries WHERE source = ? AND delivery = ?", [source, delivery]
        )


# --------------------------------------------------------------------------- health


def write_problem(db: Database) -> str | None:
    """Why this database cannot take writes now ("read-only", "full"), or None.

    A write that changes nothing (a DELETE matching no row, rolled back) meets the same
    checks as a real one — a file opened read-only, `PRAGMA query_only` — without
    writing anything. It never waits: a busy writer proves the file takes writes.
    """
    if _free_bytes(db) < FULL_DISK_BYTES:
        return "full"
    timeout = db.execute("PRAGMA busy_timeout").fetchone()[0]
    db.execute("PRAGMA busy_timeout = 0")
    try:
        db.conn.execute("DELETE FROM leases WHERE 0")
    except sqlite3.OperationalError as exc:
        text = str(exc).lower()
        if "readonly" in text or "read-only" in text:
            return "read-only"
        if "full" in text:
            return "full"
        if "locked" not in text and "busy" not in text:
            raise
    finally:
        if db.conn.in_transaction:
            db.conn.rollback()
        db.execute(f"PRAGMA busy_timeout = {int(timeout)}")
    return None


def _free_bytes(db: Database) -> int:
    """Free space in the database's folder (unlimited for an in-memory database)."""
    path = db.execute("PRAGMA database_list").fetchone()[2]
    if not path:
        return FULL_DISK_BYTES
    stats = os.statvfs(os.path.dirname(path) or ".")
    return stats.f_bavail * stats.f_frsize
