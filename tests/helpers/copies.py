"""A private copy of the seeded demo database, for tests that change it (saves, recomputes)."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

from plugin.config import Config


def private_copy(config: Config, folder: Path, **changes) -> Config:
    """`config` on a copy of its database in `folder` (journeydesk.db), with `changes`."""
    target = folder / "journeydesk.db"
    source = sqlite3.connect(config.database_path)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)
    finally:
        source.close()
        copy.close()
    return dataclasses.replace(config, database_path=str(target), **changes)
