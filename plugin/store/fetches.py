"""When each desk user's reading history was last fetched (on-demand freshness)."""

from __future__ import annotations

from sqlite_utils import Database


def record_history_fetch(db: Database, source: str, user_id: str, fetched_at: int) -> None:
    """Remember that `user_id`'s history was fetched as of `fetched_at` (never moves back)."""
    db.execute(
        "INSERT INTO customer_fetches (source, user_id, fetched_at) VALUES (?, ?, ?) "
        "ON CONFLICT(source, user_id) DO UPDATE SET "
        "fetched_at = max(customer_fetches.fetched_at, excluded.fetched_at)",
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
        " WHERE source = ? AND stream = 'touchpoints' AND scope = ?)",
        [source, str(user_id), source, str(user_id)],
    ).fetchone()
    return row[0] if row else None


def desk_user_of(db: Database, customer_id: int, source: str) -> str | None:
    """The desk's own user id for a customer (the requester id to fetch history by)."""
    row = db.execute(
        "SELECT value FROM customer_identities WHERE customer_id = ? AND kind = ? "
        "ORDER BY value LIMIT 1",
        [customer_id, f"user:{source}"],
    ).fetchone()
    return row[0] if row else None
