"""Computed journey state per customer: stage, signals, reasons, and stage history."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from plugin.store import dumps


@dataclass(frozen=True, slots=True)
class JourneyRow:
    customer_id: int
    stage: str
    reasons: list[Any]
    signals: list[Any]


def save_journeys(db: Database, rows: Iterable[JourneyRow], *, now: int) -> int:
    """Store computed journeys; a stage change is appended to the stage history.

    Returns how many customers changed stage. Runs in one transaction.
    """
    rows = list(rows)
    current = _current_stages(db, [r.customer_id for r in rows])
    moved = 0
    with db.atomic():
        for row in rows:
            previous = current.get(row.customer_id)
            since = now
            if previous and previous[0] == row.stage:
                since = previous[1]
            else:
                moved += 1
                db.execute(
                    "INSERT INTO stage_history (customer_id, from_stage, to_stage, at, reasons) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [
                        row.customer_id,
                        previous[0] if previous else None,
                        row.stage,
                        now,
                        dumps(row.reasons),
                    ],
                )
            db.execute(
                "INSERT INTO customer_journeys "
                "(customer_id, stage, stage_since, reasons, signals, computed_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(customer_id) DO UPDATE SET "
                "stage = excluded.stage, stage_since = excluded.stage_since, "
                "reasons = excluded.reasons, signals = excluded.signals, "
                "computed_at = excluded.computed_at",
                [row.customer_id, row.stage, since, dumps(row.reasons), dumps(row.signals), now],
            )
    return moved


def _current_stages(db: Database, customer_ids: list[int]) -> dict[int, tuple[str, int]]:
    result: dict[int, tuple[str, int]] = {}
    for chunk_start in range(0, len(customer_ids), 500):
        chunk = customer_ids[chunk_start : chunk_start + 500]
        marks = ", ".join("?" for _ in chunk)
        for cid, stage, since in db.execute(
            f"SELECT customer_id, stage, stage_since FROM customer_journeys "  # noqa: S608
            f"WHERE customer_id IN ({marks})",
            chunk,
        ):
            result[cid] = (stage, since)
    return result


def get_journey(db: Database, customer_id: int) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM customer_journeys WHERE customer_id = ?", [customer_id]))
    if not rows:
        return None
    row = rows[0]
    row["reasons"] = json.loads(row["reasons"])
    row["signals"] = json.loads(row["signals"])
    return row


def stage_history(db: Database, customer_id: int) -> list[dict[str, Any]]:
    return list(
        db.query(
            "SELECT from_stage, to_stage, at FROM stage_history WHERE customer_id = ? "
            "ORDER BY at DESC, id DESC",
            [customer_id],
        )
    )


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


def take_dirty_customers(db: Database) -> list[int]:
    """The customers marked changed since the last recompute, and unmark them."""
    # One statement, so a mark written concurrently is either taken or kept, never lost.
    with db.atomic():
        return [row[0] for row in db.execute("DELETE FROM dirty_customers RETURNING customer_id")]


def all_customer_ids(db: Database) -> list[int]:
    return [row[0] for row in db.execute("SELECT id FROM customers WHERE merged_into IS NULL")]
