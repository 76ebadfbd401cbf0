"""A small demo desk of its own per test (real SQLite file, demo connector, one ingest key),
a second desk to sync while others read, and a live threaded server on 127.0.0.1 for the
tests that need real concurrency."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from werkzeug.serving import make_server

from plugin.app import create_app
from plugin.background.jobs import run_source_sync
from plugin.config import Config, load_config
from plugin.store import open_db
from tests.helpers.config import SECRET, database_line, write_config

INGEST_KEY = "hardening-ingest-key-0123456789"
ENV = {"JOURNEYDESK_SECRET": SECRET, "HARDENING_INGEST_KEY": INGEST_KEY}
KEYS = """
[[ingest.keys]]
name = "portal"
key_env = "HARDENING_INGEST_KEY"
source = "demo"
rate_limit_per_minute = 0
"""
SECOND_DESK = """
[[connectors]]
name = "other"
type = "demo"
customers = 150
seed = 11
"""


@dataclass
class Desk:
    config: Config
    folder: Path

    @property
    def database(self) -> str:
        return self.config.database_path

    def tickets(self, count: int) -> list[str]:
        db = open_db(self.database, migrate=False)
        try:
            # The demo desk's tickets in a seeded, repeatable shuffle (seed 1).
            rows = db.execute(
                "SELECT id FROM tickets WHERE source = 'demo' AND deleted = 0 "
                "AND customer_id IS NOT NULL "
                "ORDER BY ((CAST(id AS INTEGER)) * 2654435761 + 1) % 4294967291 LIMIT ?",
                [count],
            )
            return [ticket_id for (ticket_id,) in rows]
        finally:
            db.conn.close()

    def integrity(self) -> str:
        """SQLite's integrity check of the file ("ok"); PostgreSQL checks its pages itself
        (its "ok" is a consistent read of every customer's identities)."""
        db = open_db(self.database, migrate=False)
        try:
            if db.backend == "postgres":
                orphans = db.execute(
                    "SELECT count(*) FROM customer_identities i "
                    "LEFT JOIN customers c ON c.id = i.customer_id WHERE c.id IS NULL"
                ).fetchone()[0]
                return "ok" if orphans == 0 else f"{orphans} identities without a customer"
            return db.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            db.conn.close()


def make_desk(
    folder: Path, *, customers: int = 60, extra: str = "", database: str | None = None
) -> Desk:
    """A config with the demo desk (synced and recomputed), an ingest key and `extra`, on
    `database` (its [database] line; else the test's, tests.helpers.config.DATABASE)."""
    path = write_config(folder, KEYS + extra, customers=customers, database=database)
    config = load_config(path, env=ENV)
    run_source_sync(config, "demo")
    return Desk(config, folder)


def desk_on_copy(folder: Path, monkeypatch, copy: str) -> Desk:
    """`make_desk`'s config (its secrets in the environment for the test) on `copy`, a
    copy of a synced desk's store the caller made: a file or a PostgreSQL URL."""
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    path = write_config(folder, KEYS, customers=60, database=database_line(copy))
    return Desk(load_config(path, env=ENV), folder)


def copy_sqlite_file(source: str, target: Path) -> None:
    """A consistent copy of the SQLite store `source` (its WAL included) at `target`."""
    reading, writing = sqlite3.connect(source), sqlite3.connect(target)
    try:
        reading.backup(writing)
    finally:
        reading.close()
        writing.close()


def desk_of_its_own(folder: Path, monkeypatch, *, extra: str = "") -> Desk:
    """`make_desk` with the desk's secrets in the environment for the test's duration."""
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    return make_desk(folder, extra=extra)


@contextmanager
def serve(config: Config) -> Iterator[str]:
    """The app on a threaded werkzeug server (a thread per request, like gunicorn's
    threads): the base URL while the block runs."""
    app = create_app(config)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
