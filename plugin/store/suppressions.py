"""Suppressions: addresses that opted out of proactive messages, by lower-cased email.

Keyed by address, not by customer id: a re-sync that recreates or merges customers keeps
the opt-out. Opting back in deletes the row.
"""

from __future__ import annotations

from sqlite_utils import Database


def suppress(db: Database, email: str, *, reason: str, now: int) -> None:
    with db.atomic():
        db.conn.execute(
            "INSERT INTO suppressions (email, reason, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT (email) DO NOTHING",
            [email.strip().lower(), reason, now],
        )


def unsuppress(db: Database, email: str) -> bool:
    with db.atomic():
        cursor = db.conn.execute(
            "DELETE FROM suppressions WHERE email = ?", [email.strip().lower()]
        )
    return cursor.rowcount == 1


def is_suppressed(db: Database, email: str | None) -> bool:
    if not email:
        return False
    row = db.conn.execute(
        "SELECT 1 FROM suppressions WHERE email = ?", [email.strip().lower()]
    ).fetchone()
    return row is not None


def suppression_of(db: Database, email: str | None) -> dict | None:
    """The opt-out of `email` (`reason`, `created_at`), or None."""
    if not email:
        return None
    row = db.conn.execute(
        "SELECT reason, created_at FROM suppressions WHERE email = ?", [email.strip().lower()]
    ).fetchone()
    return {"reason": row[0], "created_at": row[1]} if row else None


def suppressed_emails(db: Database) -> set[str]:
    return {email for (email,) in db.conn.execute("SELECT email FROM suppressions")}
