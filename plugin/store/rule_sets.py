"""Versioned rule sets: the journey model (and later outreach and SLA rules) as edited in the admin.

A rule set is the plain definitions (the same shape as the config file's tables) plus who
saved it, when and why. Versions are append-only and numbered per kind; restoring an old
version saves its definitions again as the next version, so the history never loses a step.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from plugin.store import dumps

KINDS = ("journey", "outreach", "sla")


@dataclass(frozen=True)
class RuleSet:
    id: int
    kind: str
    version: int
    definitions: Any
    created_at: int
    created_by: str
    note: str


def save_rule_set(
    db: Database, kind: str, definitions: Any, *, created_by: str, note: str = "", now: int
) -> RuleSet:
    """Append the next version of `kind`; numbering and insert share one transaction."""
    _check_kind(kind)
    with db.atomic():
        (latest,) = db.execute(
            "SELECT coalesce(max(version), 0) FROM rule_sets WHERE kind = ?", [kind]
        ).fetchone()
        (rule_set_id,) = db.execute(
            "INSERT INTO rule_sets (kind, version, definitions, created_at, created_by, note) "
            "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            [kind, latest + 1, dumps(definitions), now, created_by, note],
        ).fetchone()
    return RuleSet(rule_set_id, kind, latest + 1, definitions, now, created_by, note)


def latest_rule_set(db: Database, kind: str) -> RuleSet | None:
    rows = _select(db, "WHERE kind = ? ORDER BY version DESC LIMIT 1", [kind])
    return rows[0] if rows else None


def latest_rule_set_id(db: Database, kind: str) -> int | None:
    """The id of the newest version: a cheap check for "did someone save meanwhile?"."""
    row = db.execute(
        "SELECT id FROM rule_sets WHERE kind = ? ORDER BY version DESC LIMIT 1", [kind]
    ).fetchone()
    return row[0] if row else None


def get_rule_set(db: Database, kind: str, version: int) -> RuleSet | None:
    rows = _select(db, "WHERE kind = ? AND version = ?", [kind, version])
    return rows[0] if rows else None


def list_rule_sets(db: Database, kind: str, *, limit: int = 50) -> list[RuleSet]:
    """The newest `limit` versions of `kind`, newest first."""
    return _select(db, "WHERE kind = ? ORDER BY version DESC LIMIT ?", [kind, limit])


def _select(db: Database, where: str, params: list[Any]) -> list[RuleSet]:
    return [
        RuleSet(
            row["id"],
            row["kind"],
            row["version"],
            json.loads(row["definitions"]),
            row["created_at"],
            row["created_by"],
            row["note"],
        )
        for row in db.query(
            "SELECT id, kind, version, definitions, created_at, created_by, note "
            f"FROM rule_sets {where}",  # noqa: S608 - `where` is one of this module's literals
            params,
        )
    ]


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown rule set kind {kind!r}; known: {', '.join(KINDS)}")
