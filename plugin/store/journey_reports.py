"""The reads behind the touchpoint, effort, outreach-outcome and journey-map reports
(plugin/reports/). Each answers for a date range [start, end) and, when `desks` is not
empty, for those desks only.

"By stage" is the customer's stage when the event happened: the last stage_history entry
at or before that moment, else the customer's current stage (`stage_at_sql`).

Touchpoints counted (merged history; the inbox joins it within seconds):
- article views: touchpoints of type article_view;
- searches: touchpoints of type search naming no article (one naming an article is a
  click on a result, part of the same search);
- tickets, by channel: tickets not deleted, at their creation;
- outreach: outbox messages sent to customers (status sent, channel not webhook).
A desk's touchpoints are those it synced or that concern its articles; its tickets are
its own; its outreach the messages to customers it knows (a `user:<desk>` identity).
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


def _touchpoint_desks(desks: Sequence[str]) -> tuple[str, list[str]]:
    if not desks:
        return "", []
    return (
        f" AND ({_in('source', desks)} OR {_in('article_source', desks)})",
        [*desks, *desks],
    )


def _ticket_desks(desks: Sequence[str], column: str = "source") -> tuple[str, list[str]]:
    return (f" AND {_in(column, desks)}", list(desks)) if desks else ("", [])


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


def _events_sql(desks: Sequence[str]) -> tuple[str, list[Any]]:
    """(customer_id, at, touchpoint) of every touchpoint in [:start, :end)."""
    tp_where, tp_params = _touchpoint_desks(desks)
    tk_where, tk_params = _ticket_desks(desks)
    ob_where, ob_params = _customer_desks(desks, "outbox.customer_id")
    sql = (
        "SELECT customer_id, occurred_at AS at, 'article_view' AS touchpoint FROM touchpoints "
        f"WHERE type = 'article_view' AND occurred_at >= ? AND occurred_at < ?{tp_where} "
        "UNION ALL SELECT customer_id, occurred_at, 'search' FROM touchpoints "
        "WHERE type = 'search' AND article_id IS NULL "
        f"AND occurred_at >= ? AND occurred_at < ?{tp_where} "
        "UNION ALL SELECT customer_id, created_at, 'ticket:' || coalesce(channel, 'unknown') "
        "FROM tickets WHERE deleted = 0 AND customer_id IS NOT NULL "
        f"AND created_at >= ? AND created_at < ?{tk_where} "
        "UNION ALL SELECT customer_id, sent_at, 'outreach:' || channel FROM outbox "
        "WHERE status = 'sent' AND channel != 'webhook' "
        f"AND sent_at >= ? AND sent_at < ?{ob_where}"
    )
    return sql, [tp_params, tp_params, tk_params, ob_params]


def _followed_sql(customer: str, at: str) -> str:
    """1 when the customer opened a ticket in (at, at + 24 h], else 0."""
    return (
        "EXISTS (SELECT 1 FROM tickets ft INDEXED BY tickets_customer "
        f"WHERE ft.customer_id = {customer} AND ft.created_at > {at} "
        f"AND ft.created_at <= {at} + {FOLLOW_SECONDS} AND ft.deleted = 0)"
    )


def touchpoint_volumes(
    db: Database, *, start: int, end: int, desks: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Per (touchpoint, stage): `volume`, `followed` (of them, followed by a ticket from
    the same customer within 24 h) and `customers` (distinct)."""
    events, groups = _events_sql(desks)
    params: list[Any] = []
    for group in groups:
        params += [start, end, *group]
    return select_dicts(
        db,
        "SELECT touchpoint, stage, count(*) AS volume, sum(followed) AS followed, "
        "count(DISTINCT customer_id) AS customers FROM ("
        f"SELECT e.touchpoint, e.customer_id, {stage_at_sql('e.customer_id', 'e.at')} AS stage, "
        f"{_followed_sql('e.customer_id', 'e.at')} AS followed FROM ({events}) e"
        ") GROUP BY touchpoint, stage ORDER BY touchpoint, stage",
        params,
    )


def solved_ticket_effort(
    db: Database, *, start: int, end: int, desks: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Every ticket solved in [start, end) with the customer's effort in the 7 days up to
    its solving: `views` (article views), `searches`, `contacts` (tickets opened, this one
    included when it was opened in the window) and `stage` (when it was opened)."""
    where, params = _ticket_desks(desks, "t.source")
    window = EFFORT_WINDOW_SECONDS
    return select_dicts(
        db,
        f"SELECT t.source, t.id, {stage_at_sql('t.customer_id', 't.created_at')} AS stage, "
        "(SELECT count(*) FROM touchpoints v INDEXED BY touchpoints_article_views "
        "WHERE v.customer_id = t.customer_id AND v.type = 'article_view' "
        f"AND v.occurred_at >= t.solved_at - {window} AND v.occurred_at <= t.solved_at) "
        "AS views, "
        "(SELECT count(*) FROM touchpoints s INDEXED BY touchpoints_article_views "
        "WHERE s.customer_id = t.customer_id AND s.type = 'search' AND s.article_id IS NULL "
        f"AND s.occurred_at >= t.solved_at - {window} AND s.occurred_at <= t.solved_at) "
        "AS searches, "
        "(SELECT count(*) FROM tickets c INDEXED BY tickets_customer "
        "WHERE c.customer_id = t.customer_id AND c.deleted = 0 "
        f"AND c.created_at >= t.solved_at - {window} AND c.created_at <= t.solved_at) "
        "AS contacts "
        "FROM tickets t WHERE t.deleted = 0 AND t.customer_id IS NOT NULL "
        f"AND t.solved_at >= ? AND t.solved_at < ?{where} ORDER BY t.solved_at",
        [start, end, *params],
    )


def ticket_csat(
    db: Database, *, start: int, end: int, desks: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Per stage (when the ticket was opened), of tickets opened in [start, end):
    `tickets`, `rated` and `good` (CSAT "good")."""
    where, params = _ticket_desks(desks, "t.source")
    return select_dicts(
        db,
        "SELECT stage, count(*) AS tickets, count(csat_score) AS rated, "
        "coalesce(sum(csat_score = 'good'), 0) AS good FROM ("
        f"SELECT t.csat_score, {stage_at_sql('t.customer_id', 't.created_at')} AS stage "
        "FROM tickets t WHERE t.deleted = 0 AND t.customer_id IS NOT NULL "
        f"AND t.created_at >= ? AND t.created_at < ?{where}) GROUP BY stage",
        [start, end, *params],
    )


def outreach_messages(
    db: Database, *, start: int, end: int, desks: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Outreach messages sent, and control-group messages held out, in [start, end), at
    `at` (when sent; for a held-out one, when it would have been sent), with `ticket`
    (the customer opened a ticket in (at, at + 7 d]) and `unsubscribed` (the recipient's
    address opted out in [at, at + 7 d])."""
    where, params = _customer_desks(desks, "o.customer_id")
    window = OUTCOME_WINDOW_SECONDS
    return select_dicts(
        db,
        "SELECT rule, status, at, "
        "EXISTS (SELECT 1 FROM tickets t INDEXED BY tickets_customer "
        "WHERE t.customer_id = m.customer_id AND t.deleted = 0 "
        f"AND t.created_at > m.at AND t.created_at <= m.at + {window}) AS ticket, "
        "EXISTS (SELECT 1 FROM suppressions s WHERE s.email = lower(m.recipient) "
        f"AND s.created_at >= m.at AND s.created_at <= m.at + {window}) AS unsubscribed "
        "FROM (SELECT o.rule, o.status, o.customer_id, o.recipient, "
        "coalesce(o.sent_at, o.next_attempt_at) AS at FROM outbox o "
        "WHERE o.status IN ('sent', 'held_out')"
        f"{where}) m WHERE m.at >= ? AND m.at < ? ORDER BY rule, at",
        [*params, start, end],
    )


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
        ") AS seconds FROM stage_history h INDEXED BY stage_history_at "
        f"WHERE h.at >= ? AND h.at < ? AND h.from_stage IS NOT NULL{where}",
        [start, end, *params],
    )


def current_stage_counts(db: Database, *, desks: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Per current stage: `customers` in it now."""
    where, params = _customer_desks(desks, "j.customer_id")
    return select_dicts(
        db,
        f"SELECT j.stage, count(*) AS customers FROM customer_journeys j WHERE 1{where} "
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
        "FROM stage_history h INDEXED BY stage_history_at "
        f"WHERE h.at >= ? AND h.at < ? AND h.from_stage IS NOT NULL{where}",
        [start, end, *params],
    )


def articles_before_tickets(
    db: Database, *, start: int, end: int, desks: Sequence[str] = (), per_stage: int = 3
) -> list[dict[str, Any]]:
    """Per stage (when the ticket was opened), the articles most read in the 24 h before
    tickets opened in [start, end): `article_source`, `article_id`, `title`, `tickets`
    (tickets with such a read before them), best first, `per_stage` each."""
    where, params = _ticket_desks(desks, "t.source")
    return select_dicts(
        db,
        "SELECT stage, article_source, article_id, title, tickets FROM ("
        "SELECT stage, article_source, article_id, max(article_title) AS title, "
        "count(DISTINCT ticket) AS tickets, row_number() OVER (PARTITION BY stage "
        "ORDER BY count(DISTINCT ticket) DESC, article_source, article_id) AS place FROM ("
        f"SELECT {stage_at_sql('t.customer_id', 't.created_at')} AS stage, "
        "t.source || ':' || t.id AS ticket, v.article_source, v.article_id, v.article_title "
        "FROM tickets t JOIN touchpoints v INDEXED BY touchpoints_article_views "
        "ON v.customer_id = t.customer_id AND v.type = 'article_view' "
        f"AND v.occurred_at >= t.created_at - {FOLLOW_SECONDS} AND v.occurred_at <= t.created_at "
        "WHERE t.deleted = 0 AND t.customer_id IS NOT NULL "
        f"AND t.created_at >= ? AND t.created_at < ?{where}"
        ") GROUP BY stage, article_source, article_id) WHERE place <= ? "
        "ORDER BY stage, place",
        [start, end, *params, per_stage],
    )
