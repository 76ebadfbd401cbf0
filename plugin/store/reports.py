"""Report reads not pre-aggregated (plugin/reports/): customers per stage, stage moves
with how long the customer stayed, the tickets that followed an article's views. Reads
only; every report's arithmetic is in plugin/reports/.

"The stage when" is answered in one place for every report and figure:
store/journey_reports.py's `stage_at_sql`.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Sequence
from typing import Any

from sqlite_utils import Database

from plugin.store.journey_reports import FOLLOW_SECONDS, stage_at_sql


def stages_at(db: Database, moments: Sequence[tuple[int, int]]) -> list[str]:
    """The stage each customer was in at each moment ((customer id, epoch seconds)), in
    their order: `stage_at_sql`'s rule, in one statement (a round trip per moment costs a
    millisecond on PostgreSQL)."""
    if not moments:
        return []
    customer, at = "CAST(m.value ->> 0 AS BIGINT)", "CAST(m.value ->> 1 AS BIGINT)"
    rows = db.execute(
        f"SELECT m.key, {stage_at_sql(customer, at)} FROM {db.dialect.elements('?', 'm')}",
        [json.dumps([list(moment) for moment in moments])],
    )
    return [stage for _key, stage in sorted(rows)]


def _in(column: str, values: Sequence[str]) -> tuple[str, list[Any]]:
    if not values:
        return "", []
    return f" AND {column} IN ({', '.join('?' for _ in values)})", list(values)


def customers_per_stage(db: Database, sources: Sequence[str] = ()) -> dict[str, int]:
    """Customers per current stage, of the desks `sources` (every customer when empty)."""
    if not sources:
        rows = db.execute("SELECT stage, count(*) FROM customer_journeys GROUP BY stage")
    else:
        kinds = [f"user:{s}" for s in sources]
        marks = ", ".join("?" for _ in kinds)
        rows = db.execute(
            "SELECT j.stage, count(*) FROM customer_journeys j WHERE EXISTS (SELECT 1 FROM "
            "customer_identities i WHERE i.customer_id = j.customer_id "
            f"AND i.kind IN ({marks})) GROUP BY j.stage",
            kinds,
        )
    return {stage: count for stage, count in rows}


def stage_moves(
    db: Database, *, start: int, end: int, sources: Sequence[str] = ()
) -> list[tuple[int, str, str, int | None]]:
    """Stage changes in [start, end) (first placements left out): (at, from, to, seconds
    the customer had been in the stage they left; None when that stage's start is not in
    the history)."""
    where, params = "", []
    if sources:
        kinds = [f"user:{s}" for s in sources]
        where = (
            " AND EXISTS (SELECT 1 FROM customer_identities i WHERE i.customer_id = h.customer_id"
            f" AND i.kind IN ({', '.join('?' for _ in kinds)}))"
        )
        params = kinds
    return db.execute(
        "SELECT h.at, h.from_stage, h.to_stage, h.at - (SELECT p.at FROM stage_history p "
        "WHERE p.customer_id = h.customer_id AND (p.at < h.at OR (p.at = h.at AND p.id < h.id)) "
        "ORDER BY p.at DESC, p.id DESC LIMIT 1) "
        "FROM stage_history h INDEXED BY stage_history_moves "
        f"WHERE h.at >= ? AND h.at < ? AND h.from_stage IS NOT NULL{where} ORDER BY h.at, h.id",
        [start, end, *params],
    ).fetchall()


TICKETS_WALKED = 5_000
"""How many of the newest tickets `tickets_after_article` checks one by one before it walks
the article's views instead (a rarely read article)."""


def tickets_after_article(
    db: Database,
    *,
    article_source: str,
    article_id: str,
    start: int,
    end: int,
    sources: Sequence[str] = (),
    limit: int = 500,
) -> list[dict[str, Any]]:
    """The tickets whose customer read the article in the 24 h before opening them (views
    in [start, end)), newest first, with the last such view and how many reads.

    Two walks, both stopping at `limit` tickets: the newest tickets first, each checked
    for a read in its 24 h (an often-read article: a few thousand tickets hold the newest
    500), and when that finds too few, the article's views newest first (a rare one).
    """
    article = (article_source, article_id)
    found = _walk_tickets(db, article, start, end, sources, limit)
    if found is None:
        found = _walk_views(db, article, start, end, sources, limit)
    rows = sorted(found, key=lambda t: (-t["created_at"], t["source"], t["id"]))[:limit]
    stages = stages_at(db, [(row["customer_id"], row["created_at"]) for row in rows])
    for row, stage in zip(rows, stages, strict=True):
        row["stage"] = stage
    return rows


_TICKET_COLUMNS = ("source", "id", "subject", "channel", "created_at", "customer_id")


def _walk_tickets(
    db: Database,
    article: tuple[str, str],
    start: int,
    end: int,
    sources: Sequence[str],
    limit: int,
) -> list[dict[str, Any]] | None:
    """The newest tickets read before, checked one by one; None when TICKETS_WALKED
    tickets held fewer than `limit` (the views walk answers better). The LIMIT is what
    the walk reads at most: PostgreSQL makes a statement's whole result before its first
    row reaches the loop (SQLite makes rows as they are read)."""
    where, params = _in("t.source", sources)
    since = db.dialect.greatest("t.created_at - ?", "?")
    until = db.dialect.least("t.created_at", "?")
    cursor = db.conn.execute(
        "SELECT t.source, t.id, t.subject, t.channel, t.created_at, t.customer_id, "
        "(SELECT max(v.occurred_at) || ' ' || count(*) FROM touchpoints v "
        "INDEXED BY touchpoints_article_views WHERE v.customer_id = t.customer_id "
        f"AND v.occurred_at >= {since} AND v.occurred_at < {until} "
        "AND v.article_source = ? AND v.article_id = ? AND v.type = 'article_view') "
        "FROM tickets t INDEXED BY tickets_created_at "
        f"WHERE t.created_at > ? AND t.created_at <= ? AND t.deleted = 0{where} "
        "ORDER BY t.created_at DESC LIMIT ?",
        [
            FOLLOW_SECONDS,
            start,
            end,
            *article,
            start,
            end + FOLLOW_SECONDS,
            *params,
            TICKETS_WALKED,
        ],
    )
    found, walked = [], 0
    for *ticket, reads in cursor:
        walked += 1
        if reads is not None and not reads.startswith(" "):
            read_at, count = reads.split(" ")
            row = dict(zip(_TICKET_COLUMNS, ticket, strict=True))
            found.append({**row, "read_at": int(read_at), "reads": int(count)})
            if len(found) >= limit:
                break
        if walked >= TICKETS_WALKED and len(found) < limit:
            cursor.close()
            return None
    cursor.close()
    return found


def _walk_views(
    db: Database,
    article: tuple[str, str],
    start: int,
    end: int,
    sources: Sequence[str],
    limit: int,
) -> list[dict[str, Any]]:
    """The article's views newest first, joined to the tickets that followed them; stops
    once no older view can be followed by a ticket newer than the `limit`-th found."""
    where, params = _in("t.source", sources)
    cursor = db.conn.execute(
        "SELECT v.occurred_at, t.source, t.id, t.subject, t.channel, t.created_at, "
        "t.customer_id FROM touchpoints v INDEXED BY touchpoints_article_popularity "
        "CROSS JOIN tickets t INDEXED BY tickets_customer ON t.customer_id = v.customer_id "
        "AND t.created_at > v.occurred_at AND t.created_at <= v.occurred_at + ? "
        f"AND t.deleted = 0{where} "
        "WHERE v.type = 'article_view' AND v.article_source = ? AND v.article_id = ? "
        "AND v.occurred_at >= ? AND v.occurred_at < ? ORDER BY v.occurred_at DESC",
        [FOLLOW_SECONDS, *params, *article, start, end],
    )
    found: dict[tuple[str, str], dict[str, Any]] = {}
    newest: list[int] = []  # a min-heap of the `limit` newest tickets' creation times
    for read_at, *ticket in cursor:
        if len(newest) >= limit and read_at + FOLLOW_SECONDS < newest[0]:
            break
        row = dict(zip(_TICKET_COLUMNS, ticket, strict=True))
        key = (row["source"], row["id"])
        if key not in found:
            found[key] = {**row, "read_at": read_at, "reads": 0}
            if len(newest) < limit:
                heapq.heappush(newest, row["created_at"])
            elif row["created_at"] > newest[0]:
                heapq.heapreplace(newest, row["created_at"])
        found[key]["reads"] += 1
        found[key]["read_at"] = max(found[key]["read_at"], read_at)
    cursor.close()
    return list(found.values())


def article_titles(db: Database, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], tuple]:
    """(title, url) of each (source, group id), in English when it has it."""
    if not keys:
        return {}
    found: dict[tuple[str, str], tuple] = {}
    rows = db.execute(
        "SELECT a.source, a.group_id, a.title, a.url, a.locale FROM articles a "
        f"JOIN {db.dialect.elements('?', 'k')} ON a.source = k.value ->> 0 "
        "AND a.group_id = k.value ->> 1 "
        f"ORDER BY a.locale NOT {db.dialect.like} 'en%', a.locale",
        [_json_pairs(keys)],
    )
    for source, group, title, url, _locale in rows:
        found.setdefault((source, group), (title, url))
    return found


def _json_pairs(keys: Sequence[tuple[str, str]]) -> str:
    return json.dumps([list(k) for k in keys])
