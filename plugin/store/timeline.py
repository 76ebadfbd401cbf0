"""Article views written back to a desk's contact timeline (Freshdesk contact-activities).

Each view is written at most once: a row in `timeline_pushes` marks it done (or refused by
the desk) and is committed right after the desk's answer.
"""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

from plugin.clock import now_epoch
from plugin.store import select_dicts


def views_to_push(db: Database, source: str, *, since: int, limit: int) -> list[dict[str, Any]]:
    """Captured article views of `source`'s articles not written back yet, oldest first.

    Only views of customers the desk can find (a contact id of `source`, or an email) are
    returned; an anonymous visitor's views wait until the visitor is identified. Views the
    desk recorded itself (touchpoint source = the desk) are never written back.
    """
    return select_dicts(
        db,
        "SELECT t.id, t.event_id, t.occurred_at, t.article_id, t.article_title, "
        "t.article_url, t.article_locale, c.email, "
        "(SELECT value FROM customer_identities i WHERE i.customer_id = t.customer_id "
        " AND i.kind = ? ORDER BY value LIMIT 1) AS contact_id "
        "FROM touchpoints t JOIN customers c ON c.id = t.customer_id "
        "WHERE t.type = 'article_view' AND t.article_source = ? AND t.source != ? "
        "AND t.occurred_at >= ? "
        "AND NOT EXISTS (SELECT 1 FROM timeline_pushes p WHERE p.touchpoint_id = t.id) "
        "AND (c.email IS NOT NULL OR EXISTS (SELECT 1 FROM customer_identities i "
        " WHERE i.customer_id = t.customer_id AND i.kind = ?)) "
        "ORDER BY t.id LIMIT ?",
        [f"user:{source}", source, source, since, f"user:{source}", limit],
    )


def mark_pushed(db: Database, touchpoint_id: int, *, outcome: str) -> None:
    """Remember that a view was written (`outcome` "pushed") or refused ("refused")."""
    with db.atomic():
        db.execute(
            "INSERT INTO timeline_pushes (touchpoint_id, outcome, at) VALUES (?, ?, ?) "
            "ON CONFLICT(touchpoint_id) DO NOTHING",
            [touchpoint_id, outcome, now_epoch()],
        )
