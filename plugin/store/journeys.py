"""Computed journey state per customer: stage, signals, reasons, the stage history and
its transition counts, and what is due for a recompute.

Two reasons a customer's stored journey goes stale although none of their data changed:
- the definitions changed (config.toml edited, then a restart): the store keeps a
  fingerprint of the model the last full recompute used (`journey_model_state`), so the
  next run can tell;
- time passed: "days since purchase" or "days until renewal" move every day, so a journey
  computed yesterday may hold yesterday's stage.
And customers whose data changed are marked (`dirty_customers`) for the incremental
recompute.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from plugin.clock import now_epoch
from plugin.store import dumps, select_dicts


@dataclass(frozen=True, slots=True)
class JourneyRow:
    customer_id: int
    stage: str
    reasons: list[Any]
    signals: list[Any]


EncodedJourney = tuple[int, str, str, str]
"""(customer id, stage, reasons as JSON, signals as JSON): a `JourneyRow` ready to store."""

HistoryEntry = tuple[str | None, str, int, str]
"""(from stage, to stage, at, reasons as JSON): one reconstructed stage transition."""


def save_journeys(db: Database, rows: Iterable[JourneyRow], *, now: int) -> int:
    """Store computed journeys; a stage change is appended to the stage history.

    Returns how many customers changed stage. Runs in one transaction.
    """
    return save_encoded_journeys(
        db, [(r.customer_id, r.stage, dumps(r.reasons), dumps(r.signals)) for r in rows], now=now
    )


def save_encoded_journeys(
    db: Database,
    rows: list[EncodedJourney],
    *,
    now: int,
    histories: Mapping[int, Sequence[HistoryEntry]] | None = None,
) -> int:
    """`save_journeys` for rows whose reasons and signals are already JSON text.

    `histories` holds the replayed past of customers computed for the first time: when
    one has no stored journey yet and its replay ends in the stage computed now, its
    transitions are stored as reconstructed and the last one's moment is `stage_since`.
    Otherwise (no replay, or a journey stored meanwhile) the first placement is `now`.
    """
    histories = histories or {}
    history, journeys, unchanged, replayed = [], [], [], []
    with db.atomic():
        # Read in the writing transaction, so a journey stored meanwhile by another
        # process (a sidebar's fresh evaluation) is compared with, never overwritten blind.
        current = _current_journeys(db, [row[0] for row in rows])
        for row in rows:
            customer_id, stage, reasons, signals = row
            previous = current.get(customer_id)
            past = histories.get(customer_id) if previous is None else None
            if past and past[-1][1] == stage and past[-1][2] <= now:
                replayed.extend((customer_id, *entry) for entry in past)
                journeys.append((*row, past[-1][2], now))
            elif previous is None or previous[0] != stage:
                history.append(
                    (customer_id, previous[0] if previous else None, stage, now, reasons)
                )
                journeys.append((*row, now, now))
            elif previous[2] != reasons or previous[3] != signals:
                journeys.append((*row, previous[1], now))
            else:
                unchanged.append(customer_id)
        # Most journeys of a recompute are what was stored: only their computed_at moves,
        # in one statement (the full rows, and the stage index, are written for the rest).
        if unchanged:
            db.conn.execute(
                "UPDATE customer_journeys SET computed_at = ? "
                f"WHERE customer_id IN {db.dialect.integers()}",
                [now, dumps(unchanged)],
            )
        db.conn.executemany(
            "INSERT INTO stage_history (customer_id, from_stage, to_stage, at, reasons) "
            "VALUES (?, ?, ?, ?, ?)",
            history,
        )
        db.conn.executemany(
            "INSERT INTO stage_history "
            "(customer_id, from_stage, to_stage, at, reasons, reconstructed) "
            "VALUES (?, ?, ?, ?, ?, 1)",
            replayed,
        )
        db.conn.executemany(
            "INSERT INTO customer_journeys "
            "(customer_id, stage, reasons, signals, stage_since, computed_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(customer_id) DO UPDATE SET "
            "stage = excluded.stage, stage_since = excluded.stage_since, "
            "reasons = excluded.reasons, signals = excluded.signals, "
            "computed_at = excluded.computed_at",
            journeys,
        )
    return len(history) + len({entry[0] for entry in replayed})


def _current_journeys(
    db: Database, customer_ids: list[int]
) -> dict[int, tuple[str, int, str, str]]:
    """(stage, stage_since, reasons, signals) of each customer with a stored journey."""
    if not customer_ids:
        return {}
    return {
        cid: (stage, since, reasons, signals)
        for cid, stage, since, reasons, signals in db.conn.execute(
            "SELECT customer_id, stage, stage_since, reasons, signals FROM customer_journeys "
            f"WHERE customer_id IN {db.dialect.integers()}",
            [dumps(customer_ids)],
        )
    }


def get_journey(db: Database, customer_id: int) -> dict[str, Any] | None:
    rows = select_dicts(db, "SELECT * FROM customer_journeys WHERE customer_id = ?", [customer_id])
    if not rows:
        return None
    row = rows[0]
    row["reasons"] = json.loads(row["reasons"])
    row["signals"] = json.loads(row["signals"])
    return row


def stage_history(db: Database, customer_id: int, *, limit: int = 100) -> list[dict[str, Any]]:
    """A customer's stage transitions, newest first, with the reasons of each move."""
    rows = list(
        db.query(
            "SELECT from_stage, to_stage, at, reasons, reconstructed FROM stage_history "
            "WHERE customer_id = ? "
            "ORDER BY at DESC, id DESC LIMIT ?",
            [customer_id, limit],
        )
    )
    for row in rows:
        row["reasons"] = json.loads(row["reasons"] or "[]")
    return rows


def recent_transitions(db: Database, *, limit: int = 20) -> list[dict[str, Any]]:
    """The latest stage changes across customers (first stages excluded), newest first."""
    # By moment, not by row id: reconstructed rows are written long after their moment.
    return list(
        db.query(
            "SELECT h.customer_id, c.name, c.email, h.from_stage, h.to_stage, h.at, "
            "h.reconstructed FROM stage_history h INDEXED BY stage_history_at "
            "JOIN customers c ON c.id = h.customer_id "
            "WHERE h.from_stage IS NOT NULL ORDER BY h.at DESC, h.id DESC LIMIT ?",
            [limit],
        )
    )


@dataclass(frozen=True)
class TransitionCount:
    from_stage: str | None
    """None for customers journeydesk placed in a stage for the first time."""
    to_stage: str
    customers: int
    moves: int
    """Can exceed `customers`: one customer may make the same move twice in a period."""


def transition_counts(
    db: Database, *, since: int, until: int, first_stages: bool = False
) -> list[TransitionCount]:
    """Stage changes with `since <= at < until`, per (from, to), most frequent first.

    First placements (a new customer, or everyone at the first recompute) are left out
    unless `first_stages`: they are not moves along the journey.
    """
    first = "" if first_stages else "AND from_stage IS NOT NULL "
    rows = db.execute(
        "SELECT from_stage, to_stage, count(DISTINCT customer_id), count(*) "
        "FROM stage_history INDEXED BY stage_history_at "
        f"WHERE at >= ? AND at < ? {first}"  # noqa: S608 - one of two literals
        "GROUP BY from_stage, to_stage "
        "ORDER BY count(*) DESC, from_stage NULLS FIRST, to_stage",
        [since, until],
    )
    return [TransitionCount(*row) for row in rows]


def count_computed_before(db: Database, at: int) -> int:
    """Customers whose stored journey was computed before `at` (e.g. a new model's save)."""
    return db.execute(
        "SELECT count(*) FROM customer_journeys WHERE computed_at < ?", [at]
    ).fetchone()[0]


def stage_counts(db: Database) -> dict[str, int]:
    return {
        row[0]: row[1]
        for row in db.execute("SELECT stage, count(*) FROM customer_journeys GROUP BY stage")
    }


def signal_counts(db: Database) -> dict[str, int]:
    counts: dict[str, int] = {}
    for (signals,) in db.execute("SELECT signals FROM customer_journeys WHERE signals != '[]'"):
        for signal in json.loads(signals):
            counts[signal["key"]] = counts.get(signal["key"], 0) + 1
    return counts


def mark_dirty(db: Database, customer_ids: Iterable[int]) -> None:
    """Remember customers whose facts changed, for the incremental recompute."""
    now = now_epoch()
    db.conn.executemany(
        "INSERT INTO dirty_customers (customer_id, marked_at) VALUES (?, ?) "
        "ON CONFLICT(customer_id) DO NOTHING",
        [(cid, now) for cid in set(customer_ids)],
    )


def take_dirty_customers(db: Database) -> list[int]:
    """The customers marked changed since the last recompute, and unmark them."""
    # One statement, so a mark written concurrently is either taken or kept, never lost.
    with db.atomic():
        return [row[0] for row in db.execute("DELETE FROM dirty_customers RETURNING customer_id")]


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


def stored_stages(db: Database, customer_ids: list[int] | None = None) -> dict[int, tuple]:
    """(stage, [signal keys]) of each customer's stored journey (of `customer_ids`)."""
    where, params = "", []
    if customer_ids is not None:
        where, params = (
            f" WHERE customer_id IN {db.dialect.integers()}",
            [dumps(customer_ids)],
        )
    return {
        cid: (stage, [signal["key"] for signal in json.loads(signals or "[]")])
        for cid, stage, signals in db.conn.execute(
            f"SELECT customer_id, stage, signals FROM customer_journeys{where}", params
        )
    }


def customers_in_stages(db: Database, stages: list[str]) -> set[int]:
    """Customers whose stored journey is in one of `stages`."""
    if not stages:
        return set()
    marks = ", ".join("?" for _ in stages)
    return {
        cid
        for (cid,) in db.conn.execute(
            f"SELECT customer_id FROM customer_journeys WHERE stage IN ({marks})", stages
        )
    }


def customers_with_signal(db: Database, key: str) -> set[int]:
    """Customers whose stored signals mention `key` (a superset: the text is searched,
    not parsed; outreach's narrowing evaluates the signal itself afterwards)."""
    return {
        cid
        for (cid,) in db.conn.execute(
            "SELECT customer_id FROM customer_journeys WHERE "
            + db.dialect.contains_text("signals"),
            [key],
        )
    }


def journeys_after(db: Database, after: int, limit: int) -> dict[int, tuple[str, int]]:
    """(stage, computed_at) of up to `limit` customers with an id above `after`, in id
    order (a walk over every computed customer, one batch at a time)."""
    return {
        cid: (stage, computed_at)
        for cid, stage, computed_at in db.conn.execute(
            "SELECT customer_id, stage, computed_at FROM customer_journeys "
            "WHERE customer_id > ? ORDER BY customer_id LIMIT ?",
            [after, limit],
        )
    }


def first_observed_moves(db: Database, customer_ids: list[int]) -> dict[int, int]:
    """The moment of each customer's first move a recompute observed (not reconstructed,
    not a first placement), for those who have one."""
    return dict(
        db.conn.execute(
            "SELECT customer_id, min(at) FROM stage_history INDEXED BY stage_history_customer "
            f"WHERE customer_id IN {db.dialect.integers()} "
            "AND reconstructed = 0 AND from_stage IS NOT NULL GROUP BY customer_id",
            [dumps(customer_ids)],
        )
    )


def replace_reconstructed_history(
    db: Database,
    pasts: Mapping[int, Sequence[HistoryEntry]],
    since: Mapping[int, tuple[str, int]],
) -> None:
    """One short transaction: each customer of `pasts` loses their reconstructed entries
    and first placements and gets `pasts`' instead; `since` (customer → (stage, moment))
    sets stage_since of the customers still in that stage (a move stored meanwhile wins)."""
    if not pasts and not since:
        return
    with db.atomic():
        db.conn.execute(
            f"DELETE FROM stage_history WHERE customer_id IN {db.dialect.integers()} "
            "AND (reconstructed = 1 OR from_stage IS NULL)",
            [dumps(list(pasts))],
        )
        db.conn.executemany(
            "INSERT INTO stage_history "
            "(customer_id, from_stage, to_stage, at, reasons, reconstructed) "
            "VALUES (?, ?, ?, ?, ?, 1)",
            [(cid, *entry) for cid, past in pasts.items() for entry in past],
        )
        db.conn.executemany(
            "UPDATE customer_journeys SET stage_since = ? WHERE customer_id = ? AND stage = ?",
            [(at, cid, stage) for cid, (stage, at) in since.items()],
        )


def computed_customers(db: Database, customer_ids: list[int]) -> set[int]:
    """Those of `customer_ids` who have a stored journey."""
    return {
        cid
        for (cid,) in db.conn.execute(
            "SELECT customer_id FROM customer_journeys "
            f"WHERE customer_id IN {db.dialect.integers()}",
            [dumps(customer_ids)],
        )
    }
