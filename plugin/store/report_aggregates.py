"""The reports' pre-aggregated figures, kept by plugin/reports/aggregates.py, so that a
report over 90 days reads thousands of rows instead of millions of touchpoints and tickets:

- `touchpoint_days`: touchpoints per UTC day, desk, stage and kind, with those followed by
  a ticket; `report_article_days`: article views per day and article, with those
  followed by a ticket (pain points);
- `ticket_facts`: one row per ticket (stage when opened, channel, CSAT, times, SLA
  outcome, effort, articles read before it), and the day sums counted from it:
  `report_ticket_days` and `report_time_days` (by the day opened, stage and channel),
  `ticket_days` (articles read before, by the day opened; effort histograms, by the day
  solved, so medians are exact);
- `report_state`: what the figures cover (touchpoints up to an id, refreshed when, built
  back to which day).

Days are day numbers (epoch // 86400). A day's touchpoint figures are made again whole
(`rebuild_days`); facts are made again per ticket and the days they touch counted again.
The counting reads outside any transaction; only the swap of the rows holds the write
lock, so other writers wait well under a second each time.

Definitions (store/journey_reports.py's module doc): touchpoints, "followed by a ticket"
(the same customer opened one within 24 h), stage (`stage_at_sql`), effort (views,
searches and tickets in the 7 days up to a ticket's solving).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlite_utils import Database

from plugin.store import dumps, select_dicts
from plugin.store.dialect import Dialect
from plugin.store.journey_reports import (
    DAY,
    EFFORT_WINDOW_SECONDS,
    FOLLOW_SECONDS,
    stage_at_sql,
)

DAYS_PER_TRANSACTION = 7
"""A build makes this many days at a time (one swap of their rows)."""
MONDAY_OFFSET = 3
"""Day 0 (1970-01-01) was a Thursday: (day + 3) is a whole number of weeks after a Monday."""


def _followed(customer: str, at: str) -> str:
    """1 when the customer opened a ticket within 24 h after `at`, else 0 (to sum)."""
    return (
        "CASE WHEN EXISTS (SELECT 1 FROM tickets ft INDEXED BY tickets_customer "
        f"WHERE ft.customer_id = {customer} AND ft.created_at > {at} "
        f"AND ft.created_at <= {at} + {FOLLOW_SECONDS} AND ft.deleted = 0) THEN 1 ELSE 0 END"
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

_ARTICLE_VIEWS = (
    # One seek per known article in the popularity index (it leads with the article), so
    # a day costs its own views.
    "SELECT :day, v.article_source, v.article_id, count(*) "
    "FROM (SELECT DISTINCT source, group_id FROM articles) a "
    "CROSS JOIN touchpoints v INDEXED BY touchpoints_article_popularity "
    "ON v.article_source = a.source AND v.article_id = a.group_id "
    "AND v.type = 'article_view' AND v.occurred_at >= :start AND v.occurred_at < :end "
    "GROUP BY v.article_source, v.article_id"
)
_FOLLOWED_VIEWS = (
    # From the tickets of that day and the next, the reader's views in the 24 h before
    # each (a covering index per ticket), each view counted once however many followed.
    "SELECT article_source, article_id, count(*) FROM ("
    "SELECT DISTINCT v.id, v.article_source, v.article_id "
    "FROM tickets t INDEXED BY tickets_created_at "
    "CROSS JOIN touchpoints v INDEXED BY touchpoints_article_views "
    f"ON v.customer_id = t.customer_id AND v.occurred_at >= t.created_at - {FOLLOW_SECONDS} "
    "AND v.occurred_at < t.created_at "
    f"WHERE t.created_at > :start AND t.created_at <= :end + {FOLLOW_SECONDS} "
    "AND t.deleted = 0 AND v.type = 'article_view' AND v.occurred_at >= :start "
    "AND v.occurred_at < :end) AS followed GROUP BY article_source, article_id"
)


def _article_days(db: Database, first_day: int, last_day: int) -> list[tuple]:
    """(day, article source, article id, views, followed) of each day, counted a day at a
    time (each query then reads one day of views)."""
    rows = []
    for day in range(first_day, last_day + 1):
        bounds = {"day": day, "start": day * DAY, "end": (day + 1) * DAY}
        followed = {
            (source, article): count
            for source, article, count in db.conn.execute(_FOLLOWED_VIEWS, bounds)
        }
        rows += [
            (day, source, article, views, followed.get((source, article), 0))
            for day, source, article, views in db.conn.execute(_ARTICLE_VIEWS, bounds)
        ]
    return rows


def rebuild_days(db: Database, first_day: int, last_day: int) -> int:
    """Make the touchpoint and article-view figures of the days first_day..last_day again;
    returns the rows written. Counted outside any transaction (seconds on a big store);
    only the swap of the days' rows holds the write lock."""
    start, end = first_day * DAY, (last_day + 1) * DAY
    touchpoints = db.conn.execute(
        f"SELECT at / {DAY}, desk, stage, touchpoint, count(*), sum(followed) FROM ("
        f"SELECT e.at, e.desk, e.touchpoint, {stage_at_sql('e.customer_id', 'e.at')} "
        f"AS stage, {_followed('e.customer_id', 'e.at')} AS followed FROM ({_EVENTS}) e"
        f") AS counted GROUP BY at / {DAY}, desk, stage, touchpoint",
        {"start": start, "end": end},
    ).fetchall()
    articles = _article_days(db, first_day, last_day)
    days = [first_day, last_day]
    with db.atomic():
        db.conn.execute("DELETE FROM touchpoint_days WHERE day >= ? AND day <= ?", days)
        db.conn.execute("DELETE FROM report_article_days WHERE day >= ? AND day <= ?", days)
        db.conn.executemany(
            "INSERT INTO touchpoint_days (day, desk, stage, touchpoint, volume, followed) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            touchpoints,
        )
        db.conn.executemany(
            "INSERT INTO report_article_days (day, article_source, article_id, views, "
            "followed) VALUES (?, ?, ?, ?, ?)",
            articles,
        )
    return len(touchpoints) + len(articles)


FACT_COLUMNS = (
    "source",
    "ticket_id",
    "customer_id",
    "created_at",
    "solved_at",
    "stage",
    "channel",
    "csat",
    "first_response_minutes",
    "resolution_minutes",
    "sla",
    "sla_check_at",
    "views",
    "searches",
    "contacts",
    "read_before",
)
"""The columns of `ticket_facts`, in the order a fact tuple gives them."""
_UPSERT_FACT = (
    f"INSERT INTO ticket_facts ({', '.join(FACT_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in FACT_COLUMNS)}) ON CONFLICT (source, ticket_id) "
    "DO UPDATE SET " + ", ".join(f"{column} = excluded.{column}" for column in FACT_COLUMNS[2:])
)
"""A ticket's facts, replacing any it still has (one opened outside the rows the caller
deleted: its opening moved at the desk)."""


def _effort_count(alias: str, condition: str, table: str = "touchpoints") -> str:
    """Rows of the customer's `table` in the 7 days up to the ticket's solving."""
    index = "touchpoints_article_views" if table == "touchpoints" else "tickets_customer"
    at = "occurred_at" if table == "touchpoints" else "created_at"
    return (
        f"CASE WHEN t.solved_at IS NULL OR t.customer_id IS NULL THEN 0 ELSE (SELECT count(*) "
        f"FROM {table} {alias} INDEXED BY {index} WHERE {alias}.customer_id = t.customer_id "
        f"AND {alias}.{at} >= t.solved_at - {EFFORT_WINDOW_SECONDS} "
        f"AND {alias}.{at} <= t.solved_at AND {condition}) END"
    )


_TICKETS = (
    "SELECT t.source, t.id AS ticket_id, t.customer_id, t.created_at, t.solved_at, "
    f"{stage_at_sql('t.customer_id', 't.created_at')} AS stage, "
    "coalesce(t.channel, 'unknown') AS channel, t.csat_score AS csat, t.first_response_at, "
    "t.updated_at, t.status, d.targets, "
    + _effort_count("v", "v.type = 'article_view'")
    + " AS views, "
    + _effort_count("s", "s.type = 'search' AND s.article_id IS NULL")
    + " AS searches, "
    + _effort_count("c", "c.deleted = 0", table="tickets")
    + " AS contacts, (SELECT coalesce(json_group_array(json_array(r.article_source, "
    "r.article_id, r.title)), '[]') FROM (SELECT v.article_source, v.article_id, "
    "max(v.article_title) AS title FROM touchpoints v INDEXED BY touchpoints_article_views "
    "WHERE v.customer_id = t.customer_id AND v.type = 'article_view' "
    f"AND v.occurred_at >= t.created_at - {FOLLOW_SECONDS} AND v.occurred_at <= t.created_at "
    "GROUP BY v.article_source, v.article_id) r) AS read_before "
    "FROM tickets t {index} LEFT JOIN sla_decisions d ON d.source = t.source "
    "AND d.ticket_id = t.id WHERE {where} AND t.deleted = 0"
)
"""What the facts of the tickets `where` selects are made from (a ticket's columns under
the alias t): the stored columns, and `first_response_at`, `updated_at`, `status` and the
SLA decision's `targets` the caller turns into times and an SLA outcome."""

MakeFacts = Callable[[list[dict[str, Any]]], list[tuple]]
"""Turns `_TICKETS` rows into fact tuples (FACT_COLUMNS): the times in bins, the SLA
outcome (plugin/reports/aggregates.py)."""


def _write_facts(db: Database, rows: list[tuple], *, delete: str, params: list[Any]) -> set[int]:
    """Replace the facts `delete` selects by `rows`; returns the days they touch (before
    and after), whose sums the caller counts again (once, however many batches)."""
    created, solved = FACT_COLUMNS.index("created_at"), FACT_COLUMNS.index("solved_at")
    days = {row[created] // DAY for row in rows}
    days |= {row[solved] // DAY for row in rows if row[solved]}
    with db.atomic():
        for was_created, was_solved in db.conn.execute(
            f"SELECT created_at, solved_at FROM ticket_facts WHERE {delete}", params
        ):
            days.add(was_created // DAY)
            if was_solved is not None:
                days.add(was_solved // DAY)
        db.conn.execute(f"DELETE FROM ticket_facts WHERE {delete}", params)
        db.conn.executemany(_UPSERT_FACT, rows)
    return days


def _count_days(db: Database, days: set[int]) -> None:
    for first, last in day_runs(sorted(days)):
        count_ticket_days(db, first, last)


_BY_OPENED = (
    "FROM ticket_facts INDEXED BY ticket_facts_created WHERE created_at >= :start "
    "AND created_at < :end"
)
_TICKET_SUMS = (
    f"SELECT created_at / {DAY}, source, stage, channel, count(*), "
    "count(*) FILTER (WHERE csat = 'good'), count(*) FILTER (WHERE csat IN ('good', 'bad')), "
    "count(*) FILTER (WHERE sla IN ('met', 'breached')), count(*) FILTER (WHERE sla = "
    f"'breached') {_BY_OPENED} GROUP BY 1, 2, 3, 4"
)
_TIME_COUNTS = " UNION ALL ".join(
    f"SELECT created_at / {DAY}, source, stage, channel, '{measure}', {column}, count(*) "
    f"{_BY_OPENED} AND {column} IS NOT NULL GROUP BY 1, 2, 3, 4, 6"
    for measure, column in (
        ("first_response", "first_response_minutes"),
        ("resolution", "resolution_minutes"),
    )
)


def _histograms(dialect: Dialect) -> str:
    """The `ticket_days` rows of a range: each article read before the tickets opened
    (its source and id joined by a tab: a literal one in the SQL), and the effort
    histograms of the tickets solved (values as text, the column's type on both engines)."""
    return (
        f"SELECT f.created_at / {DAY}, f.source, f.stage, 'read', "
        "(r.value ->> 0) || '\t' || (r.value ->> 1), count(*), max(r.value ->> 2) "
        "FROM ticket_facts f INDEXED BY ticket_facts_created, "
        f"{dialect.array_rows('f.read_before', 'r')} "
        "WHERE f.created_at >= :start AND f.created_at < :end GROUP BY 1, 2, 3, 5 "
        + " ".join(
            f"UNION ALL SELECT solved_at / {DAY}, source, stage, '{measure}', "
            f"CAST({value} AS TEXT), count(*), NULL FROM ticket_facts INDEXED BY "
            "ticket_facts_solved WHERE solved_at >= :start AND solved_at < :end "
            "AND customer_id IS NOT NULL GROUP BY 1, 2, 3, 5"
            for measure, value in (
                ("effort", "views + searches + contacts"),
                ("views", "views"),
                ("searches", "searches"),
                ("contacts", "contacts"),
            )
        )
    )


def count_ticket_days(db: Database, first_day: int, last_day: int) -> None:
    """The day sums of first_day..last_day again from `ticket_facts`: counted outside any
    transaction, swapped in one."""
    bounds = {"start": first_day * DAY, "end": (last_day + 1) * DAY}
    sums = db.conn.execute(_TICKET_SUMS, bounds).fetchall()
    times = db.conn.execute(_TIME_COUNTS, bounds).fetchall()
    histograms = db.conn.execute(_histograms(db.dialect), bounds).fetchall()
    days = [first_day, last_day]
    with db.atomic():
        for table in ("report_ticket_days", "report_time_days", "ticket_days"):
            db.conn.execute(f"DELETE FROM {table} WHERE day >= ? AND day <= ?", days)  # noqa: S608
        db.conn.executemany(
            "INSERT INTO report_ticket_days (day, source, stage, channel, tickets, csat_good, "
            "csat_rated, sla_targeted, sla_breached) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            sums,
        )
        db.conn.executemany(
            "INSERT INTO report_time_days (day, source, stage, channel, measure, minutes, "
            "tickets) VALUES (?, ?, ?, ?, ?, ?, ?)",
            times,
        )
        db.conn.executemany(
            "INSERT INTO ticket_days (day, desk, stage, measure, value, tickets, title) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            histograms,
        )


def day_runs(days: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted days as (first, last) runs of consecutive days."""
    runs: list[tuple[int, int]] = []
    for day in days:
        if runs and runs[-1][1] == day - 1:
            runs[-1] = (runs[-1][0], day)
        elif not runs or runs[-1][1] != day:
            runs.append((day, day))
    return runs


def rebuild_ticket_facts(db: Database, start: int, end: int, make: MakeFacts) -> int:
    """Make the facts of the tickets opened in [start, end) again (deleted tickets lose
    theirs); returns the tickets written. Reads outside the write transaction."""
    rows = select_dicts(
        db,
        _TICKETS.format(
            index="INDEXED BY tickets_created_at", where="t.created_at >= ? AND t.created_at < ?"
        ),
        [start, end],
    )
    facts = make(rows)
    _count_days(
        db,
        _write_facts(db, facts, delete="created_at >= ? AND created_at < ?", params=[start, end]),
    )
    return len(facts)


def refresh_ticket_facts(db: Database, keys: Sequence[tuple[str, str]], make: MakeFacts) -> int:
    """Make the facts of the tickets `keys` ((source, id)) again; a ticket deleted since
    (or gone) loses its facts. Returns the tickets written."""
    written, days = 0, set()
    for begin in range(0, len(keys), 500):
        chunk = dumps([list(key) for key in keys[begin : begin + 500]])
        pairs = f"SELECT k.value ->> 0, k.value ->> 1 FROM {db.dialect.elements('?', 'k')}"
        wanted = f"(t.source, t.id) IN ({pairs})"
        facts = make(select_dicts(db, _TICKETS.format(index="", where=wanted), [chunk]))
        days |= _write_facts(db, facts, delete=f"(source, ticket_id) IN ({pairs})", params=[chunk])
        written += len(facts)
    _count_days(db, days)  # once: a day's sums take seconds on a big store
    return written


def sla_clocks_run_out(db: Database, *, now: int, from_day: int) -> list[tuple[str, str, int]]:
    """(source, id, created_at) of the tickets opened from `from_day` on whose SLA clock,
    running at their last count, has run out by `now` (their outcome is made again)."""
    return db.conn.execute(
        "SELECT source, ticket_id, created_at FROM ticket_facts "
        "INDEXED BY ticket_facts_sla_check WHERE sla_check_at <= ? AND created_at >= ?",
        [now, from_day * DAY],
    ).fetchall()


_FIRST_AND_LAST = (
    # One aggregate a query: SQLite reads a min() or max() alone from the index's end,
    # both at once by scanning it (seconds over 30M touchpoints).
    ("min", "SELECT min(occurred_at) FROM touchpoints INDEXED BY touchpoints_time"),
    ("max", "SELECT max(occurred_at) FROM touchpoints INDEXED BY touchpoints_time"),
    ("min", "SELECT min(created_at) FROM tickets INDEXED BY tickets_created_at"),
    ("max", "SELECT max(created_at) FROM tickets INDEXED BY tickets_created_at"),
    # a message is sent when due or later: its plan is a bound, read from an index
    ("min", "SELECT min(next_attempt_at) FROM outbox INDEXED BY outbox_due WHERE status = 'sent'"),
)


def history_span(db: Database) -> tuple[int, int] | None:
    """The first and last UTC day holding a touchpoint, a ticket or an outreach message
    (None when there is none): a few index reads."""
    found: dict[str, list[int]] = {"min": [], "max": []}
    for end, sql in _FIRST_AND_LAST:
        (value,) = db.conn.execute(sql).fetchone()
        if value is not None:
            found[end].append(value)
    if not found["min"]:
        return None
    first = min(found["min"])
    return first // DAY, max(found["max"] or [first]) // DAY


def count_tickets(db: Database) -> int:
    """Every ticket in the store: how much building the figures inline would cost."""
    return db.conn.execute("SELECT count(*) FROM tickets").fetchone()[0]


def state(db: Database) -> dict[str, Any] | None:
    """`touchpoint_id`, `stage_history_id`, `refreshed_at` and `built_from` (None before
    the first build)."""
    rows = select_dicts(
        db,
        "SELECT touchpoint_id, stage_history_id, refreshed_at, built_from FROM report_state",
    )
    return rows[0] if rows else None


def last_touchpoint_id(db: Database) -> int:
    return db.conn.execute("SELECT coalesce(max(id), 0) FROM touchpoints").fetchone()[0]


def last_stage_history_id(db: Database) -> int:
    return db.conn.execute("SELECT coalesce(max(id), 0) FROM stage_history").fetchone()[0]


_RESTAGED = (
    "SELECT customer_id, min(at) AS since FROM stage_history WHERE id > ? GROUP BY customer_id"
)


def restaged_since(
    db: Database, stage_history_id: int
) -> tuple[list[int], list[tuple[str, str, int]]]:
    """What stage history written after `stage_history_id` restages: the UTC days holding
    touchpoints or tickets of its customers from its earliest entry on, and those tickets
    ((source, id, created_at)). A recompute's observed moves are at its moment (nothing
    after it yet); a first computation's replayed past reaches back."""
    days = {
        day
        for (day,) in db.conn.execute(
            f"SELECT DISTINCT v.occurred_at / {DAY} FROM ({_RESTAGED}) m CROSS JOIN "
            "touchpoints v INDEXED BY touchpoints_article_views ON v.customer_id = "
            "m.customer_id AND v.occurred_at >= m.since",
            [stage_history_id],
        )
    }
    tickets = db.conn.execute(
        f"SELECT t.source, t.id, t.created_at FROM ({_RESTAGED}) m CROSS JOIN tickets t "
        "INDEXED BY tickets_customer ON t.customer_id = m.customer_id AND t.created_at >= m.since",
        [stage_history_id],
    ).fetchall()
    days.update(created // DAY for _, _, created in tickets)
    return sorted(days), tickets


def days_written_since(db: Database, touchpoint_id: int) -> list[int]:
    """The UTC days of the touchpoints written after `touchpoint_id` (a late sync)."""
    return [
        day
        for (day,) in db.conn.execute(
            f"SELECT DISTINCT occurred_at / {DAY} FROM touchpoints WHERE id > ? ORDER BY 1",
            [touchpoint_id],
        )
    ]


def save_state(
    db: Database, *, touchpoint_id: int, stage_history_id: int, now: int, built_from: int | None
) -> None:
    with db.atomic():
        db.conn.execute(
            "INSERT INTO report_state (id, touchpoint_id, stage_history_id, refreshed_at, "
            "built_from) VALUES (1, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
            "touchpoint_id = excluded.touchpoint_id, stage_history_id = "
            "excluded.stage_history_id, refreshed_at = excluded.refreshed_at, "
            "built_from = excluded.built_from",
            [touchpoint_id, stage_history_id, now, built_from],
        )


def forget_figures(db: Database) -> None:
    """Forget every figure counted by stage: nothing is built any more, so reads count no
    day (`_built_days`) until the next refresh builds them again, newest day first,
    replacing each week's rows whole. One row written: deleting a big store's figures would
    hold the write lock for seconds (an agent's journey save would wait). Settled outreach
    outcomes stay (they do not depend on stages)."""
    with db.atomic():
        db.conn.execute("UPDATE report_state SET built_from = NULL")


# -- reads ------------------------------------------------------------------------------------


def _desks(column: str, desks: Sequence[str]) -> tuple[str, list[str]]:
    if not desks:
        return "", []
    return f" AND {column} IN ({', '.join('?' for _ in desks)})", list(desks)


def _built_days(db: Database, start: int, end: int) -> list[int]:
    """The UTC days [start's, end's) (a range counts in whole days) whose figures are built:
    from `built_from` on. Older rows may be left from before `forget_figures` or a rebuild,
    counted by stages that no longer hold: they are never read, and the build replaces
    them."""
    known = state(db)
    first, last = start // DAY, -(-end // DAY)
    if known is None or known["built_from"] is None:
        return [last, last]
    return [max(first, known["built_from"]), last]


def touchpoint_volumes(
    db: Database, *, start: int, end: int, desks: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Per (touchpoint, stage), over the UTC days from `start`'s to the one before `end`'s:
    `volume` and `followed`."""
    where, params = _desks("desk", desks)
    return select_dicts(
        db,
        "SELECT touchpoint, stage, sum(volume) AS volume, sum(followed) AS followed "
        f"FROM touchpoint_days WHERE day >= ? AND day < ?{where} "
        "GROUP BY touchpoint, stage ORDER BY touchpoint, stage",
        [*_built_days(db, start, end), *params],
    )


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
        [*_built_days(db, start, end), *params],
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
        f"WHERE day >= ? AND day < ? AND measure = 'read'{where} GROUP BY stage, value) AS placed "
        "WHERE place <= ? ORDER BY stage, place",
        [*_built_days(db, start, end), *params, per_stage],
    )
    for row in rows:
        row["article_source"], _, row["article_id"] = row.pop("value").partition("\t")
    return rows


GROUPS = {
    "stage": "stage",
    "channel": "channel",
    "week": f"(day - ((day + {MONDAY_OFFSET}) % 7))",
    "week_channel": f"(day - ((day + {MONDAY_OFFSET}) % 7)) || '|' || channel",
}
"""What the ticket sums can be grouped by: name → SQL over the day tables' columns (a
week is the day number of its Monday)."""


def ticket_sums(
    db: Database, *, start: int, end: int, by: str, sources: Sequence[str] = ()
) -> list[tuple]:
    """(group, tickets, good, rated, targeted, breached) of the tickets opened in the
    range's days."""
    where, params = _desks("source", sources)
    return db.execute(
        f"SELECT {GROUPS[by]} AS g, sum(tickets), sum(csat_good), sum(csat_rated), "  # noqa: S608
        "sum(sla_targeted), sum(sla_breached) FROM report_ticket_days "
        f"WHERE day >= ? AND day < ?{where} GROUP BY g",
        [*_built_days(db, start, end), *params],
    ).fetchall()


def time_counts(
    db: Database, *, start: int, end: int, by: str, sources: Sequence[str] = ()
) -> list[tuple]:
    """(group, measure, minutes, tickets) of the tickets opened in the range's days."""
    where, params = _desks("source", sources)
    return db.execute(
        f"SELECT {GROUPS[by]} AS g, measure, minutes, sum(tickets) "  # noqa: S608
        f"FROM report_time_days WHERE day >= ? AND day < ?{where} "
        "GROUP BY g, measure, minutes",
        [*_built_days(db, start, end), *params],
    ).fetchall()


def article_sums(
    db: Database, *, start: int, end: int, sources: Sequence[str] = ()
) -> list[tuple[str, str, int, int]]:
    """(article source, article id, views, followed) over the range's days."""
    where, params = _desks("article_source", sources)
    return db.execute(
        "SELECT article_source, article_id, sum(views), sum(followed) FROM report_article_days "
        f"WHERE day >= ? AND day < ?{where} GROUP BY article_source, article_id",
        [*_built_days(db, start, end), *params],
    ).fetchall()
