"""Webhook deliveries seen lately, so that a replayed delivery is refused.

Everything here that expires runs on the real system clock (`time.time()`), never the
business clock of `plugin.clock`: security timing must not move with a test's or a
demo's date.
"""

from __future__ import annotations

import time

from sqlite_utils import Database


def claim_delivery(
    db: Database, source: str, delivery: str, ttl_seconds: int, *, now: int | None = None
) -> bool:
    """True for the first sight of `delivery` within ttl; False for a replay.

    One INSERT OR IGNORE: two workers receiving the same delivery at once cannot both win.
    """
    now = int(time.time()) if now is None else now
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
