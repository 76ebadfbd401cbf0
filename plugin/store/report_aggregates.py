"""Pre-aggregated report figures: touchpoints per day, desk, stage and kind
(`touchpoint_days`), and one row of facts per ticket (`ticket_facts`), so that the
touchpoint, effort and journey-map reports read thousands of rows for a 90-day range
instead of millions of touchpoints.

Made from the history by `rebuild_days` (whole UTC days: deleted and made again in one
transaction) and `rebuild_ticket_facts`; kept fresh by `refresh` (the worker, every few
minutes): the last `SETTLE_DAYS` days again (a ticket may still follow a touchpoint, a
rating still come), plus the days of touchpoints written since the last refresh (a late
sync) and of tickets new since (with the day before: the views they follow), and the
facts of the tickets changed at the desk since (solved, rated, deleted). `rebuild` makes everything
again (after a stage-history rebuild, or `journeydesk rebuild-reports`), a week at a time.
The counting reads outside any transaction; only the swap of the rows holds the write
lock, so other writers wait well under a second each time.

Definitions (plugin/store/journey_reports.py's module doc): touchpoints, "followed by a
ticket" (the same customer opened one within 24 h), stage (`stage_at_sql`), effort (views,
searches and tickets in the 7 days up to a ticket's solving).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlite_utils import Database

from plugin.store import dumps, select_dicts
from plugin.store.journey_reports import (
    DAY,
    EFFORT_WINDOW_SECONDS,
    FOLLOW_SECONDS,
    stage_at_sql,
)

SETTLE_DAYS = 0
"""Days before today made again at every refresh besides those new data touched (today is
always made again). None needed: a new ticket remakes its day and the day before (the
views it follows), a late touchpoint its day."""
CHANGE_MARGIN_SECONDS = DAY
"""Tickets changed at the desk this long before the last refresh are looked at again (a
desk's clock and a sync's delay)."""
REBUILD_DAYS_PER_TRANSACTION = 7


def _followed(customer: str, at: str) -> str:
    return (
        "EXISTS (SELECT 1 FROM tickets ft INDEXED BY tickets_customer "
        f"WHERE ft.customer_id = {customer} AND ft.created_at > {at} "
        f"AND ft.created_at <= {at} + {FOLLOW_SECONDS} AND ft.deleted = 0)"
    )


_EVENTS = (
    "SELECT customer_id, occurred_at AS at, coalesce(article_source, source) AS desk, "
    "CASE WHEN type = 'article_view' THEN 'article_view' ELSE 'search' END AS touchpoint "
    "FROM touchpoints INDEXED BY touchpoints_time WHERE occurred_at >= :start "
    "AND occurred_at < :end AND (type = 'article_view' OR "
    "(type = 'search' AND article_id IS NULL)) "
    "UNION ALL SELECT customer_id, created_at, source, 'ticket:' || coalesce(channel, 'unknown') "
    "FROM tickets INDEXED BY tickets_created_at WHERE created_at >= :start AND created_at < :end "
    "AND deleted = 0 AND customer_id IS NOT NULL "
    "UNION ALL SELECT customer_id, sent_at, '', 'outreach:' || channel FROM outbox "
    "WHERE status = 'sent' AND channel != 'webhook' AND sent_at >= :start AND sent_at < :end"
)
"""(customer_id, at, desk, touchpoint) of every touchpoint in [:start, :end)."""


def rebuild_days(db: Database, first_day: int, last_day: int) -> int:
    """Make `touchpoint_days` of the UTC days first_day..last_day (day numbers) again;
    returns the rows written. The counting reads outside any transaction (it takes
    seconds on a big store); only the swap of the days' rows holds the write lock."""
    start, end = first_day * DAY, (last_day + 1) * DAY
    rows = db.conn.execute(
        f"SELECT at / {DAY}, desk, stage, touchpoint, count(*), sum(followed) FROM ("
        f"SELECT e.at, e.desk, e.touchpoint, {stage_at_sql('e.customer_id', 'e.at')} "
        f"AS stage, {_followed('e.customer_id', 'e.at')} AS followed FROM ({_EVENTS}) e"
        f") GROUP BY at / {DAY}, desk, stage, touchpoint",
        {"start": start, "end": end},
    ).fetchall()
    with db.atomic():
        db.conn.execute(
            "DELETE FROM touchpoint_days WHERE day >= ? AND day <= ?", [first_day, last_day]
        )
        db.conn.executemany(
            "INSERT INTO touchpoint_days (day, desk, stage, touchpoint, volume, followed) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
    return len(rows)


_FACT_COLUMNS = (
    "source, ticket_id, customer_id, created_at, solved_at, stage, csat, views, searches, "
    "contacts, read_before"
)


def _effort_count(alias: str, condition: str, table: str = "touchpoints") -> str:
    """Rows of the customer's `table` in the 7 days up to the ticket's solving."""
    index = "touchpoints_article_views" if table == "touchpoints" else "tickets_customer"
    at = "occurred_at" if table == "touchpoints" else "created_at"
    return (
        f"CASE WHEN t.solved_at IS NULL THEN 0 ELSE (SELECT count(*) FROM {table} {alias} "
        f"INDEXED BY {index} WHERE {alias}.customer_id = t.customer_id "
        f"AND {alias}.{at} >= t.solved_at - {EFFORT_WINDOW_SECONDS} "
        f"AND {alias}.{at} <= t.solved_at AND {condition}) END"
    )


_FACTS = (
    "SELECT t.source, t.id, t.customer_id, t.created_at, t.solved_at, "
    f"{stage_at_sql('t.customer_id', 't.created_at')}, t.csat_score, "
    + _effort_count("v", "v.type = 'article_view'")
    + ", "
    + _effort_count("s", "s.type = 'search' AND s.article_id IS NULL")
    + ", "
    + _effort_count("c", "c.deleted = 0", table="tickets")
    + ", (SELECT coalesce(json_group_array(json_array(r.article_source, r.article_id, "
    "r.title)), '[]') FROM (SELECT v.article_source, v.article_id, max(v.article_title) "
    "AS title FROM touchpoints v INDEXED BY touchpoints_article_views "
    "WHERE v.customer_id = t.customer_id AND v.type = 'article_view' "
    f"AND v.occurred_at >= t.created_at - {FOLLOW_SECONDS} AND v.occurred_at <= t.created_at "
    "GROUP BY v.article_source, v.article_id) r) "
    "FROM tickets t {index} WHERE {where} AND t.deleted = 0 AND t.customer_id IS NOT NULL"
)
"""The facts of the tickets `where` selects (a ticket's columns under the alias t)."""


def _write_facts(db: Database, rows: list[tuple], *, delete: str, params: list[Any]) -> int:
    """Replace the facts `delete` selects by `rows`, then count the days they touch
    (before and after) again in `ticket_days`."""
    days = {row[3] // DAY for row in rows} | {row[4] // DAY for row in rows if row[4]}
    with db.atomic():
        for created, solved in db.conn.execute(
            f"SELECT created_at, solved_at FROM ticket_facts WHERE {delete}", params
        ):
            days.add(created // DAY)
            if solved is not None:
                days.add(solved // DAY)
        db.conn.execute(f"DELETE FROM ticket_facts WHERE {delete}", params)
        db.conn.executemany(
            f"INSERT OR REPLACE INTO ticket_facts ({_FACT_COLUMNS}) "
            f"VALUES ({', '.join('?' for _ in range(11))})",
            rows,
        )
    for first, last in day_runs(sorted(days)):
        count_ticket_days(db, first, last)
    return len(rows)


_TICKET_DAYS = (
    "SELECT created_at / {day}, source, stage, 'csat', csat, count(*), NULL "
    "FROM ticket_facts INDEXED BY ticket_facts_created WHERE created_at >= :start "
    "AND created_at < :end AND csat IS NOT NULL GROUP BY 1, 2, 3, 5 "
    "UNION ALL SELECT f.created_at / {day}, f.source, f.stage, 'read', "
    "(r.value ->> 0) || char(9) || (r.value ->> 1), count(*), max(r.value ->> 2) "
    "FROM ticket_facts f INDEXED BY ticket_facts_created, json_each(f.read_before) r "
    "WHERE f.created_at >= :start AND f.created_at < :end GROUP BY 1, 2, 3, 5 "
    + " ".join(
        f"UNION ALL SELECT solved_at / {{day}}, source, stage, '{measure}', {value}, count(*), "
        "NULL FROM ticket_facts INDEXED BY ticket_facts_solved WHERE solved_at >= :start "
        "AND solved_at < :end GROUP BY 1, 2, 3, 5"
        for measure, value in (
            ("effort", "views + searches + contacts"),
            ("views", "views"),
            ("searches", "searches"),
            ("contacts", "contacts"),
        )
    )
).format(day=DAY)


def count_ticket_days(db: Database, first_day: int, last_day: int) -> None:
    """`ticket_days` of first_day..last_day again from `ticket_facts`: counted outside any
    transaction, swapped in one."""
    rows = db.conn.execute(
        _TICKET_DAYS, {"start": first_day * DAY, "end": (last_day + 1) * DAY}
    ).fetchall()
    with db.atomic():
        db.conn.execute(
            "DELETE FROM ticket_days WHERE day >= ? AND day <= ? AND measure IN "
            "('csat', 'read', 'effort', 'views', 'searches', 'contacts')",
            [first_day, last_day],
        )
        db.conn.executemany(
            "INSERT INTO ticket_days (day, desk, stage, measure, value, tickets, title) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


def day_runs(days: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted consecutive days as (first, last) runs."""
    runs: list[tuple[int, int]] = []
    for day in days:
        if runs and runs[-1][1] == day - 1:
            runs[-1] = (runs[-1][0], day)
        elif not runs or runs[-1][1] != day:
            runs.append((day, day))
    return runs


def rebuild_ticket_facts(db: Database, start: int, end: int) -> int:
    """Make the facts of the tickets opened in [start, end) again (deleted tickets lose
    theirs); returns the tickets written. Reads outside the write transaction."""
    rows = db.conn.execute(
        _FACTS.format(
            index="INDEXED BY tickets_created_at", where="t.created_at >= ? AND t.created_at < ?"
        ),
        [start, end],
    ).fetchall()
    return _write_facts(db, rows, delete="created_at >= ? AND created_at < ?", params=[start, end])


def refresh_ticket_facts(db: Database, keys: Sequence[tuple[str, str]]) -> int:
    """Make the facts of the tickets `keys` ((source, id)) again; a ticket deleted since
    (or gone) loses its facts. Returns the tickets written."""
    written = 0
    for begin in range(0, len(keys), 500):
        chunk = dumps([list(key) for key in keys[begin : begin + 500]])
        wanted = "(t.source, t.id) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?))"
        rows = db.conn.execute(_FACTS.format(index="", where=wanted), [chunk]).fetchall()
        written += _write_facts(
            db,
            rows,
            delete="(source, ticket_id) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?))",
            params=[chunk],
        )
    return written


def tickets_to_refresh(db: Database, *, changed_since: int) -> list[tuple[str, str, int]]:
    """(source, id, created_at) of the tickets whose facts may be out of date: changed at
    the desk since `changed_since` (solved, rated), or whose facts are missing (synced
    since) or left over (deleted since). One pass over the tickets."""
    return db.conn.execute(
        "SELECT t.source, t.id, t.created_at FROM tickets t "
        "WHERE coalesce(t.updated_at, t.created_at) >= ? "
        "OR (t.deleted = 0 AND t.customer_id IS NOT NULL) != EXISTS (SELECT 1 FROM "
        "ticket_facts f WHERE f.source = t.source AND f.ticket_id = t.id)",
        [changed_since],
    ).fetchall()


def history_span(db: Database) -> tuple[int, int] | None:
    """The first and last UTC day holding a touchpoint or a ticket, or None."""
    first, last = db.conn.execute(
        "SELECT min(lo), max(hi) FROM ("
        "SELECT min(occurred_at) AS lo, max(occurred_at) AS hi FROM touchpoints "
        "INDEXED BY touchpoints_time "
        "UNION ALL SELECT min(created_at), max(created_at) FROM tickets "
        "INDEXED BY tickets_created_at "
        "UNION ALL SELECT min(sent_at), max(sent_at) FROM outbox)"
    ).fetchone()
    return (first // DAY, last // DAY) if first is not None else None


def state(db: Database) -> dict[str, int] | None:
    rows = select_dicts(db, "SELECT touchpoint_id, refreshed_at FROM report_state")
    return rows[0] if rows else None


def last_touchpoint_id(db: Database) -> int:
    return db.conn.execute("SELECT coalesce(max(id), 0) FROM touchpoints").fetchone()[0]


def days_written_since(db: Database, touchpoint_id: int) -> list[int]:
    """The UTC days of the touchpoints written after `touchpoint_id` (a late sync)."""
    return [
        day
        for (day,) in db.conn.execute(
            f"SELECT DISTINCT occurred_at / {DAY} FROM touchpoints WHERE id > ? ORDER BY 1",
            [touchpoint_id],
        )
    ]


def save_state(db: Database, *, touchpoint_id: int, now: int) -> None:
    with db.atomic():
        db.conn.execute(
            "INSERT INTO report_state (id, touchpoint_id, refreshed_at) VALUES (1, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET touchpoint_id = excluded.touchpoint_id, "
            "refreshed_at = excluded.refreshed_at",
            [touchpoint_id, now],
        )


def _desks(column: str, desks: Sequence[str]) -> tuple[str, list[str]]:
    if not desks:
        return "", []
    return f" AND {column} IN ({', '.join('?' for _ in desks)})", list(desks)


def touchpoint_volumes(
    db: Database, *, start: int, end: int, desks: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Per (touchpoint, stage), over the UTC days from `start`'s to the one before `end`'s
    (a range is counted in whole days): `volume` and `followed`."""
    where, params = _desks("desk", desks)
    return select_dicts(
        db,
        "SELECT touchpoint, stage, sum(volume) AS volume, sum(followed) AS followed "
        f"FROM touchpoint_days WHERE day >= ? AND day < ?{where} "
        "GROUP BY touchpoint, stage ORDER BY touchpoint, stage",
        [start // DAY, -(-end // DAY), *params],
    )


def _day_range(start: int, end: int) -> list[int]:
    """The UTC days [start's, end's) (a range counts in whole days, as touchpoints do)."""
    return [start // DAY, -(-end // DAY)]


def ticket_histograms(
    db: Database, *, start: int, end: int, desks: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Of tickets solved in the range: per (stage when opened, measure), how many tickets
    had each value (`value`, `tickets`) of measure effort, views, searches, contacts."""
    where, params = _desks("desk", desks)
    return select_dicts(
        db,
        "SELECT stage, measure, CAST(value AS INTEGER) AS value, sum(tickets) AS tickets "
        "FROM ticket_days WHERE day >= ? AND day < ? AND measure IN "
        f"('effort', 'views', 'searches', 'contacts'){where} GROUP BY stage, measure, value",
        [*_day_range(start, end), *params],
    )


def ticket_csat(
    db: Database, *, start: int, end: int, desks: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Per stage (when opened), of tickets opened in the range: `rated` and `good`."""
    where, params = _desks("desk", desks)
    return select_dicts(
        db,
        "SELECT stage, sum(tickets) AS rated, coalesce(sum(tickets) FILTER "
        "(WHERE value = 'good'), 0) AS good FROM ticket_days WHERE day >= ? AND day < ? "
        f"AND measure = 'csat'{where} GROUP BY stage",
        [*_day_range(start, end), *params],
    )


def articles_before_tickets(
    db: Database, *, start: int, end: int, desks: Sequence[str] = (), per_stage: int = 3
) -> list[dict[str, Any]]:
    """Per stage (when the ticket was opened), the articles read in the 24 h before the
    most tickets opened in the range: `article_source`, `article_id`, `title`, `tickets`,
    best first, `per_stage` each."""
    where, params = _desks("desk", desks)
    rows = select_dicts(
        db,
        "SELECT stage, value, title, tickets FROM (SELECT stage, value, max(title) AS title, "
        "sum(tickets) AS tickets, row_number() OVER (PARTITION BY stage "
        "ORDER BY sum(tickets) DESC, value) AS place FROM ticket_days "
        f"WHERE day >= ? AND day < ? AND measure = 'read'{where} GROUP BY stage, value) "
        "WHERE place <= ? ORDER BY stage, place",
        [*_day_range(start, end), *params, per_stage],
    )
    for row in rows:
        row["article_source"], _, row["article_id"] = row.pop("value").partition("\t")
    return rows
