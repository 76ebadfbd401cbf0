"""The suite's secret, its "now", and a config.toml with the demo desk."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

SECRET = "test-secret-0123456789abcdef"
ANCHOR = datetime(2026, 11, 20, tzinfo=UTC)
"""The suite's "now": the demo's history ends here and the journey is evaluated here, in
this process and in every subprocess a test starts (they inherit JOURNEYDESK_NOW; the root
conftest sets both). Tests that need another moment move the clock themselves
(tests/test_demo.py's dates)."""
DEMO_CUSTOMERS = 300
DATABASE = 'path = "journeydesk.db"'
"""The [database] table of every config a test writes: an SQLite file beside it, unless the
test runs on PostgreSQL (the `backend` fixture points it at a fresh database)."""


def database_lines(location: str) -> str:
    """The [database] lines naming a store `location` (an SQLite path or a PostgreSQL
    URL), for a config written on an existing store (a private copy)."""
    key = "url" if str(location).startswith(("postgresql://", "postgres://")) else "path"
    return f'{key} = "{location}"'


def write_config(
    folder: Path, body: str = "", *, customers: int = DEMO_CUSTOMERS, database: str | None = None
) -> Path:
    """A config.toml with a demo connector (plus `body`); its database: `database` (the
    lines of its [database] table), else DATABASE."""
    path = folder / "config.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            [server]
            public_url = "http://127.0.0.1:8000"
            [database]
            {database or DATABASE}
            [[connectors]]
            name = "demo"
            type = "demo"
            customers = {customers}
            """
        )
        + textwrap.dedent(body),
        encoding="utf-8",
    )
    return path


def database_of(folder: Path) -> str:
    """The store of the config `write_config` wrote in `folder`: its SQLite file, or the
    PostgreSQL database DATABASE names while a test runs on that engine."""
    lines = str(DATABASE)
    if lines.startswith("url"):
        return lines.split('"')[1]
    return str(folder / "journeydesk.db")


def database_line(location: str) -> str:
    """The [database] line naming `location`: a PostgreSQL URL or an SQLite file."""
    key = "url" if location.startswith("postgresql://") else "path"
    return f'{key} = "{location}"'
