"""The reads behind the outreach-outcome and journey-map reports (plugin/reports/), and
the definitions every report shares (store/report_aggregates.py holds the pre-aggregated
figures, store/reports.py the other report reads). Each answers for a date range
[start, end) and, when `desks` is not empty, for those desks only.

"By stage" is the customer's stage when the event happened: the last stage_history entry
at or before that moment, else the customer's current stage (`stage_at_sql`, the one
definition every report and figure uses).

Touchpoints counted (merged history; the inbox joins it within seconds):
- article views: touchpoints of type article_view;
- searches: touchpoints of type search naming no article (one naming an article is a
  click on a result, part of the same search);
- tickets, by channel: tickets not deleted, at their creation;
- outreach: outbox messages sent to customers (status sent, channel not webhook).
A touchpoint's desk is its article's knowledge base, else the source that wrote it; a
ticket's its own; outreach is not tied to one desk (counted when every desk is shown),
except in outreach outcomes: the messages to customers a desk knows (a `user:<desk>`
identity).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlite_utils import Database

from plugin.store import select_dicts

DAY = 86400
FOLLOW_SECONDS = DAY
"""A touchpoint is "followed by a ticket" when the same customer opens one within 24 h."""
EFFORT_WINDOW_SECONDS = 7 * DAY
"""Effort counts the customer's reads and contacts in the 7 days up to a ticket's solving."""
OUTCOME_WINDOW_SECONDS = 7 * DAY
"""Outreach outcomes: a ticket or an unsubscribe within 7 days of the message."""


def stage_at_sql(customer: str, at: str) -> str:
    """SQL for the stage `customer` was in at `at` (both SQL expressions, qualified by
    their table's alias: a bare column would name the subquery's own): the last
    stage_history entry at or before it, else the current stage, else 'unknown'."""
    return (
        "coalesce((SELECT sh.to_stage FROM stage_history sh INDEXED BY stage_history_customer "
        f"WHERE sh.customer_id = {customer} AND sh.at <= {at} "
        "ORDER BY sh.at DESC, sh.id DESC LIMIT 1), "
        "(SELECT cj.stage FROM customer_journeys cj "
        f"WHERE cj.customer_id = {customer}), 'unknown')"
    )


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join('?' for _ in values)})"


def _customer_desks(desks: Sequence[str], customer: str) -> tuple[str, list[str]]:
    if not desks:
        return "", []
    kinds = [f"user:{desk}" for desk in desks]
    return (
        " AND EXISTS (SELECT 1 FROM customer_identities ci INDEXED BY "
        f"customer_identities_customer WHERE ci.customer_id = {customer} "
        f"AND {_in('ci.kind', kinds)})",
        kinds,
    )


SETTLE_MARGIN_SECONDS = DAY
"""A message's outcome is settled a day after its 7 days (tickets synced late)."""
_TICKET_AFTER = (
    "EXISTS (SELECT 1 FROM tickets t INDEXED BY tickets_customer "
    "WHERE t.customer_id = m.customer_id AND t.deleted = 0 "
    "AND t.created_at > m.at AND t.created_at <= m.at + {window})"
)
_OPTED_OUT = (
    "EXISTS (SELECT 1 FROM suppressions s WHERE s.email = lower(m.recipient) "
    "AND s.created_at >= m.at AND s.created_at <= m.at + {window})"
)
_MESSAGE_AT = "coalesce(o.sent_at, o.next_attempt_at)"
RETRY_MARGIN_SECONDS = 2 * DAY
"""How much later than planned (next_attempt_at) a message may have been sent (retries):
the range is looked up on the plan, then checked on the send."""


def settle_outreach_outcomes(db: Database, *, now: int) -> int:
    """Record the final outcome (a ticket, an opt-out within 7 days) of the sent and
    held-out messages whose 7 days and a day are over and that have none yet; returns how
    many. Counted outside the write transaction (one pass over the outbox)."""
    window = OUTCOME_WINDOW_SECONDS
    rows = db.conn.execute(
        "SELECT m.id, m.rule, m.status, m.at, m.customer_id, "
        f"{_TICKET_AFTER.format(window=window)}, {_OPTED_OUT.format(window=window)} "
        "FROM (SELECT o.id, o.rule, o.status, o.customer_id, o.recipient, "
        f"{_MESSAGE_AT} AS at FROM outbox o WHERE o.status IN ('sent', 'held_out') "
        "AND NOT EXISTS (SELECT 1 FROM outreach_outcomes f WHERE f.message_id = o.id)) m "
        "WHERE m.at <= ?",
        [now - window - SETTLE_MARGIN_SECONDS],
    ).fetchall()
    with db.atomic():
        db.conn.executemany(
            "INSERT OR IGNORE INTO outreach_outcomes (message_id, rule, status, at, "
            "customer_id, ticket, unsubscribed) VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    return len(rows)


def outreach_counts(
    db: Database, *, start: int, end: int, desks: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Per rule and status (sent | held_out), of the messages in [start, end) (at: when
    sent; for a held-out one, when it would have been): `messages`, `settled` (outcome
    final: `settle_outreach_outcomes`), `tickets` (settled ones followed by a ticket
    within 7 days) and `unsubscribed` (opted out within 7 days; so far, for the others)."""
    settled_desks, settled_params = _customer_desks(desks, "f.customer_id")
    open_desks, open_params = _customer_desks(desks, "o.customer_id")
    window = OUTCOME_WINDOW_SECONDS
    return select_dicts(
        db,
        "SELECT rule, status, sum(messages) AS messages, sum(settled) AS settled, "
        "sum(tickets) AS tickets, sum(unsubscribed) AS unsubscribed FROM ("
        "SELECT f.rule, f.status, count(*) AS messages, count(*) AS settled, "
        "sum(f.ticket) AS tickets, sum(f.unsubscribed) AS unsubscribed "
        "FROM outreach_outcomes f INDEXED BY outreach_outcomes_at "
        f"WHERE f.at >= ? AND f.at < ?{settled_desks} GROUP BY f.rule, f.status "
        "UNION ALL SELECT m.rule, m.status, count(*), 0, 0, "
        f"count(*) FILTER (WHERE {_OPTED_OUT.format(window=window)}) "
        f"FROM (SELECT o.rule, o.status, o.recipient, {_MESSAGE_AT} AS at "
        "FROM outbox o INDEXED BY outbox_due "
        "WHERE o.status IN ('sent', 'held_out') AND o.next_attempt_at >= ? "
        f"AND o.next_attempt_at < ?{open_desks} AND NOT EXISTS (SELECT 1 FROM "
        "outreach_outcomes s WHERE s.message_id = o.id)) m "
        "WHERE m.at >= ? AND m.at < ? GROUP BY m.rule, m.status"
        ") AS counts GROUP BY rule, status ORDER BY rule, status",
        [
            start,
            end,
            *settled_params,
            max(start, unsettled_from(db)) - RETRY_MARGIN_SECONDS,
            end,
            *open_params,
            start,
            end,
        ],
    )


def unsettled_from(db: Database) -> int:
    """The earliest moment of a message not settled yet is after the last settlement's
    cut-off (its refresh time − 8 days); 0 when nothing was ever settled."""
    row = db.conn.execute("SELECT refreshed_at FROM report_state").fetchone()
    return row[0] - OUTCOME_WINDOW_SECONDS - SETTLE_MARGIN_SECONDS if row else 0


def stage_stays(
    db: Database, *, start: int, end: int, desks: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Stays in a stage that ended in [start, end) (a move out of it): `stage` and
    `seconds` from the customer's entry into it (their previous stage_history entry)."""
    where, params = _customer_desks(desks, "h.customer_id")
    return select_dicts(
        db,
        "SELECT h.from_stage AS stage, h.at - (SELECT p.at FROM stage_history p INDEXED BY "
        "stage_history_customer WHERE p.customer_id = h.customer_id AND "
        "(p.at < h.at OR (p.at = h.at AND p.id < h.id)) ORDER BY p.at DESC, p.id DESC LIMIT 1"
        ") AS seconds FROM stage_history h INDEXED BY stage_history_moves "
        f"WHERE h.at >= ? AND h.at < ? AND h.from_stage IS NOT NULL{where}",
        [start, end, *params],
    )


def current_stage_counts(db: Database, *, desks: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Per current stage: `customers` in it now."""
    where, params = _customer_desks(desks, "j.customer_id")
    return select_dicts(
        db,
        f"SELECT j.stage, count(*) AS customers FROM customer_journeys j WHERE TRUE{where} "
        "GROUP BY j.stage",
        params,
    )


def transition_moments(
    db: Database, *, start: int, end: int, desks: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Stage changes in [start, end) (first placements left out): `from_stage`,
    `to_stage`, and `tickets`: the customer's tickets opened within 24 h either side."""
    where, params = _customer_desks(desks, "h.customer_id")
    return select_dicts(
        db,
        "SELECT h.from_stage, h.to_stage, (SELECT count(*) FROM tickets t INDEXED BY "
        "tickets_customer WHERE t.customer_id = h.customer_id AND t.deleted = 0 "
        f"AND t.created_at >= h.at - {DAY} AND t.created_at <= h.at + {DAY}) AS tickets "
        "FROM stage_history h INDEXED BY stage_history_moves "
        f"WHERE h.at >= ? AND h.at < ? AND h.from_stage IS NOT NULL{where}",
        [start, end, *params],
    )
