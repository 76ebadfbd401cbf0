"""What the benchmark's PostgreSQL steps ask of the server beyond the store: databases made
and dropped, statistics after a bulk load, the server's settings for the report.

The store's own tables are read and written through `plugin.store` only; this module
speaks to the cluster (CREATE/DROP DATABASE need a connection to another database of it,
VACUUM runs outside a transaction), which journeydesk itself never does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from plugin.store.copy import BOOKKEEPING_TABLE

MAINTENANCE_DATABASE = "postgres"
"""The database every cluster has, connected to while another is made or dropped."""
REPORTED_SETTINGS = (
    "server_version",
    "shared_buffers",
    "effective_cache_size",
    "work_mem",
    "maintenance_work_mem",
    "max_wal_size",
    "fsync",
    "synchronous_commit",
    "full_page_writes",
)


def database_name(url: str) -> str:
    """The database a PostgreSQL URL names."""
    name = urlsplit(url).path.lstrip("/")
    if not name:
        raise SystemExit(f"--postgres: the URL names no database: {url} (add /desk, say)")
    return name


def with_database(url: str, name: str) -> str:
    """The same server and user, another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _admin(url: str, statement: sql.Composable) -> None:
    """One statement from the maintenance database, outside a transaction."""
    with psycopg.connect(with_database(url, MAINTENANCE_DATABASE), autocommit=True) as conn:
        conn.execute(statement)


def create_database(url: str) -> None:
    _admin(url, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database_name(url))))


def drop_database(url: str) -> None:
    """DROP DATABASE, ending any session still connected to it."""
    _admin(
        url,
        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(database_name(url))
        ),
    )


def recreate_database(url: str) -> None:
    """The database `url` names, emptied: dropped and made again (same name, owner: the
    URL's user)."""
    drop_database(url)
    create_database(url)


@contextlib.contextmanager
def scratch_database(url: str, suffix: str) -> Iterator[str]:
    """A new empty database beside the one `url` names (`<name>_<suffix>`), dropped after:
    what a fresh SQLite file is to an SQLite step."""
    scratch = with_database(url, f"{database_name(url)}_{suffix}")
    drop_database(scratch)  # left over from a run that was killed
    create_database(scratch)
    try:
        yield scratch
    finally:
        drop_database(scratch)


def vacuum_analyze(url: str) -> None:
    """VACUUM (ANALYZE) the whole database: after a bulk load with COPY the planner has no
    statistics and no page is marked all-visible (index-only scans visit the table) until
    autovacuum gets there; PostgreSQL's documentation asks for ANALYZE after a bulk load."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")


def holds_a_copy(url: str) -> bool:
    """Whether the database holds a `journeydesk db copy` (finished or not), by its
    bookkeeping table: only such a database is ever emptied by the benchmark."""
    with psycopg.connect(url) as conn:
        (found,) = conn.execute("SELECT to_regclass(%s)", [BOOKKEEPING_TABLE]).fetchone()
    return found is not None


def server_settings(url: str) -> dict[str, str]:
    """The server's version and the settings that move the figures."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s)",
            [list(REPORTED_SETTINGS)],
        ).fetchall()
    found = dict(rows)
    return {name: found[name] for name in REPORTED_SETTINGS if name in found}


def reachable(url: str) -> str | None:
    """Why the server at `url` cannot be used (None: it answers)."""
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None
