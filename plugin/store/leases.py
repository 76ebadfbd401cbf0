"""Leases: at most one holder per name at a time, until it expires or is released.

The worker uses one so that a second `journeydesk worker` on the same database stands
by instead of running the same scheduled jobs (DESIGN §9). A holder renews its lease
well before it expires; a holder that dies loses it when it expires.

Lease times are read from the database's own clock unless the caller passes `now`:
holders on several hosts sharing a PostgreSQL database then agree on when a lease
expires, however far their own clocks drift apart.
"""

from __future__ import annotations

from sqlite_utils import Database


def acquire_lease(
    db: Database, name: str, holder: str, ttl_seconds: int, *, now: int | None = None
) -> bool:
    """Take or renew `name` for `holder` until now + ttl; False if someone else holds it.

    One statement in a write transaction, so two processes racing for a free lease cannot
    both win: both engines serialise write transactions (SQLite on one host, PostgreSQL's
    writer lock on every host), and the second one's WHERE sees the first one's row.
    """
    with db.atomic():
        now = database_seconds(db) if now is None else now  # read once the lock is held
        db.execute(
            "INSERT INTO leases (name, holder, acquired_at, expires_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, "
            "acquired_at = CASE WHEN leases.holder = excluded.holder "
            "  THEN leases.acquired_at ELSE excluded.acquired_at END, "
            "expires_at = excluded.expires_at "
            "WHERE leases.holder = excluded.holder OR leases.expires_at <= excluded.acquired_at",
            [name, holder, now, now + ttl_seconds],
        )
        row = db.execute("SELECT holder FROM leases WHERE name = ?", [name]).fetchone()
    return row is not None and row[0] == holder


def release_lease(db: Database, name: str, holder: str) -> None:
    """Give the lease up now (only its holder can)."""
    with db.atomic():
        db.execute("DELETE FROM leases WHERE name = ? AND holder = ?", [name, holder])


def lease_holder(db: Database, name: str, *, now: int | None = None) -> dict | None:
    """The current holder of `name` and until when, or None when it is free."""
    now = database_seconds(db) if now is None else now
    rows = list(
        db.query(
            "SELECT holder, acquired_at, expires_at FROM leases WHERE name = ? AND expires_at > ?",
            [name, now],
        )
    )
    return rows[0] if rows else None


def database_seconds(db: Database) -> int:
    """The database server's clock, in whole epoch seconds: real time, never the business
    clock (holders are processes), and one clock for every host of a shared database."""
    return int(db.execute(f"SELECT {db.dialect.clock_seconds}").fetchone()[0])
