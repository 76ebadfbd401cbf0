"""A private copy of the seeded demo database, for tests that change it (saves, recomputes)."""

from __future__ import annotations

import dataclasses
import itertools
import sqlite3
from pathlib import Path

from plugin.config import Config
from plugin.store.backends.postgres import is_postgres
from tests.helpers.postgres import PostgresCluster

_TEMPLATES: dict[str, tuple[PostgresCluster, str]] = {}
"""A shared PostgreSQL demo's URL → its cluster and the untouched database it was copied
from (PostgreSQL copies only a database nobody is connected to: the shared one has the
app's pooled connections)."""
_COPIES = itertools.count(1)


def remember_template(url: str, cluster: PostgresCluster, template: str) -> None:
    """Private copies of the PostgreSQL database `url` are made from `template`."""
    _TEMPLATES[str(url)] = (cluster, template)


def private_copy(config: Config, folder: Path, **changes) -> Config:
    """`config` on a copy of its database (in `folder`, journeydesk.db, for SQLite; a new
    database of the same cluster for PostgreSQL), with `changes`."""
    if is_postgres(config.database_path):
        cluster, template = _TEMPLATES[str(config.database_path)]
        target = cluster.create_database(f"copy_{next(_COPIES)}", template=template)
        return dataclasses.replace(config, database_path=target, **changes)
    target = folder / "journeydesk.db"
    source = sqlite3.connect(config.database_path)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)
    finally:
        source.close()
        copy.close()
    return dataclasses.replace(config, database_path=str(target), **changes)
