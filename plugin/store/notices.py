"""What the last sync of each source said an admin should know (shown on /healthz)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlite_utils import Database

from plugin.clock import now_epoch


def replace_notices(db: Database, source: str, notices: Iterable[str]) -> None:
    """Make `notices` the source's current ones; a notice kept keeps its `since`."""
    current = list(dict.fromkeys(notices))
    with db.atomic():
        marks = ", ".join("?" for _ in current)
        db.execute(
            f"DELETE FROM source_notices WHERE source = ? AND notice NOT IN ({marks})",
            [source, *current],
        )
        db.conn.executemany(
            "INSERT INTO source_notices (source, notice, since) VALUES (?, ?, ?) "
            "ON CONFLICT(source, notice) DO NOTHING",
            [(source, notice, now_epoch()) for notice in current],
        )


def notices_by_source(db: Database) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for source, notice in db.execute(
        "SELECT source, notice FROM source_notices ORDER BY source, since, notice"
    ):
        result.setdefault(source, []).append(notice)
    return result
