"""What the stored journeys were computed with, and which of them are due again.

Two reasons a customer's stored journey goes stale although none of their data changed:
- the definitions changed (config.toml edited, then a restart): the store keeps a
  fingerprint of the model the last full recompute used, so the next run can tell;
- time passed: "days since purchase" or "days until renewal" move every day, so a journey
  computed yesterday may hold yesterday's stage.
"""

from __future__ import annotations

from sqlite_utils import Database


def recorded_model(db: Database) -> str | None:
    """The fingerprint of the model every stored journey was last computed with."""
    row = db.execute("SELECT fingerprint FROM journey_model_state WHERE id = 1").fetchone()
    return row[0] if row else None


def record_model(db: Database, fingerprint: str, *, now: int) -> None:
    """Remember that a full recompute with `fingerprint` finished at `now`."""
    with db.atomic():
        db.execute(
            "INSERT INTO journey_model_state (id, fingerprint, computed_at) VALUES (1, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET fingerprint = excluded.fingerprint, "
            "computed_at = excluded.computed_at",
            [fingerprint, now],
        )


def mark_aged_journeys(db: Database, *, computed_before: int, now: int) -> int:
    """Mark for the next incremental recompute every customer whose journey was computed
    before `computed_before`; returns how many were marked."""
    with db.atomic():
        cursor = db.execute(
            "INSERT INTO dirty_customers (customer_id, marked_at) "
            "SELECT customer_id, ? FROM customer_journeys WHERE computed_at < ? "
            "ON CONFLICT(customer_id) DO NOTHING",
            [now, computed_before],
        )
    return cursor.rowcount
