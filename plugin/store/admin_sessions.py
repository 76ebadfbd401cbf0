"""Who is signed in to the admin, and who failed to sign in lately (login limits).

Everything here that expires runs on the real system clock (`time.time()`), never the
business clock of `plugin.clock`: security timing must not move with a test's or a
demo's date. Session ids are stored hashed, so a copy of the database opens no
session.
"""

from __future__ import annotations

import hashlib
import time

from sqlite_utils import Database


def _now(now: int | None) -> int:
    return int(time.time()) if now is None else now


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def start_admin_session(
    db: Database, session_id: str, name: str, ttl_seconds: int, *, now: int | None = None
) -> None:
    """Remember a signed-in session until now + ttl (and forget the expired ones)."""
    now = _now(now)
    with db.atomic():
        db.execute("DELETE FROM admin_sessions WHERE expires_at <= ?", [now])
        db.execute(
            "INSERT INTO admin_sessions (id_hash, name, created_at, expires_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (id_hash) DO UPDATE SET name = excluded.name, "
            "created_at = excluded.created_at, expires_at = excluded.expires_at",
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
