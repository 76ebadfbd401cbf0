"""The journeydesk store: the only place that speaks SQL.

Open one `Database` per unit of work (a job, a command) with `with open_store(path) as db:`
(web requests borrow one from the pool instead); every other module asks the store's
functions by name and never builds queries, nor closes a connection itself. This module
holds what concerns the database file itself (opening it, the connection pool, errors
described for an admin, whether it takes writes) and the JSON column helpers; each other
module of the store holds the statements of one table or noun (customers, articles,
tickets, ...).
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import json
import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from sqlite_utils import Database

from connectors import fastjson
from plugin.store import dialect
from plugin.store.backends import postgres
from plugin.store.migrations import migrations

BUSY_TIMEOUT_SECONDS = 10.0
WAL_AUTOCHECKPOINT_PAGES = 10_000
"""Checkpoint when the WAL holds 40 MB (SQLite's default: 4 MB). Each checkpoint syncs the
file; one ingest batch of 500 events writes ~1,500 pages, so the default checkpointed
after every request. Fewer, larger checkpoints also write a page many commits touched
once (ingest over HTTP: ~5,200 → ~8,000 events/s in one process)."""


class StoreError(Exception):
    """The database cannot be used (read-only, full disk, not a journeydesk file)."""


DATABASE_ERRORS = (sqlite3.Error, psycopg.Error)
"""What either engine raises when the database fails: catch this, never one engine's."""
UNAVAILABLE_ERRORS = (
    sqlite3.OperationalError,
    psycopg.OperationalError,
    psycopg.errors.ReadOnlySqlTransaction,
)
"""The database is away for now (locked, full, restarting, failing over — a standby not yet
promoted refuses writes as read-only): try again later."""


class StoreDatabase(Database):
    """sqlite-utils' Database whose transactions take the write lock when they begin.

    A plain (deferred) BEGIN reads first and asks for the write lock at its first write;
    in WAL mode, if another connection committed in between, that upgrade fails at once
    with "database is locked" — the busy timeout does not apply. Two gunicorn workers
    ingesting, or a sync beside a webhook, hit it. BEGIN IMMEDIATE waits its turn (up to
    the busy timeout) instead. Readers are never blocked either way (WAL).
    """

    backend = "sqlite"
    dialect = dialect.SQLITE

    @contextlib.contextmanager
    def atomic(self) -> Iterator[Database]:
        if self.conn.in_transaction:  # nested: sqlite-utils' savepoint
            with super().atomic():
                yield self
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.rollback()  # a no-op when the error already ended the transaction
            raise
        try:
            self.conn.execute("COMMIT")
        except BaseException:
            self.rollback()
            raise


def open_db(path: str | Path, *, migrate: bool = True, cache_mib: int | None = None) -> Database:
    """Open the store at `path`: an SQLite file, or a PostgreSQL database when `path` is a
    `postgresql://` URL (backends/postgres.py; `cache_mib` is SQLite's alone).

    The SQLite file is opened in WAL mode with a busy timeout and foreign keys on.

    Applies pending migrations first when `migrate` is true (start-up, CLI). Request
    handlers pass `migrate=False`: the schema is already current by then. `cache_mib`
    enlarges the page cache (SQLite's default: 2 MB) for a big writer such as an import,
    whose transactions touch tens of thousands of index pages.
    """
    if postgres.is_postgres(path):
        return _open_postgres(path, migrate=migrate)
    try:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_SECONDS, check_same_thread=False)
        db = StoreDatabase(conn)
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
        if cache_mib:
            db.execute(f"PRAGMA cache_size = {-1024 * int(cache_mib)}")
        if migrate:
            # WAL is a property of the file; it cannot be switched inside a transaction.
            db.execute("PRAGMA journal_mode = WAL")
            if migrations.pending(db):
                # One process migrates while the others wait for the lock, then find
                # nothing pending (each migration nests as a savepoint in this one).
                with db.atomic():
                    migrations.apply(db)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot open the database {path}: {exc}") from None
    return db


def _open_postgres(location: str | Path, *, migrate: bool) -> Database:
    from plugin.store.backends import postgres_schema

    try:
        db = postgres.connect(location)
    except psycopg.Error as exc:
        raise StoreError(f"cannot open the database {location}: {_first_line(exc)}") from None
    if migrate:
        postgres_schema.apply_pending(db.conn.raw)
    return db


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


@contextlib.contextmanager
def open_store(
    path: str | Path, *, migrate: bool = True, cache_mib: int | None = None
) -> Iterator[Database]:
    """`open_db` for one unit of work (a job, a command, a fetch): the connection is
    closed when the block ends, however it ends. Takes `open_db`'s arguments."""
    db = open_db(path, migrate=migrate, cache_mib=cache_mib)
    try:
        yield db
    finally:
        db.conn.close()


_DATABASE_PROBLEMS = (  # (what SQLite says, what an admin reads)
    ("disk is full", "the disk is full: free some space"),
    ("readonly", "the database is read-only: check the permissions of the file and its folder"),
    ("read-only", "the database is read-only: check the permissions of the file and its folder"),
    ("locked", "another process held the database longer than the busy timeout: try again"),
    ("unable to open", "the database file cannot be opened: check the path and its permissions"),
    ("not a database", "the file is not a journeydesk database (or is damaged): restore a backup"),
    ("malformed", "the database file is damaged: restore a backup"),
    ("disk i/o", "the disk refused to read or write the database: check its free space"),
)


_POSTGRES_PROBLEMS = (  # (what PostgreSQL or libpq says, what an admin reads)
    (
        "read-only transaction",
        "the PostgreSQL server takes no writes (a standby, or default_transaction_read_only):"
        " point [database] url at the primary, or promote the standby",
    ),
    (
        "password authentication failed",
        "PostgreSQL refused the password: check the variable [database] password_env names",
    ),
    ("no password supplied", "set the variable [database] password_env names"),
    ("lock timeout", "another host held a lock longer than the lock timeout: try again"),
    ("no space left", "the PostgreSQL server's disk is full: free some space"),
    ("starting up", "the PostgreSQL server is starting: it answers again by itself"),
    ("recovery mode", "the PostgreSQL server is recovering: it answers again by itself"),
    ("shutting down", "the PostgreSQL server is shutting down or failing over"),
)
_POSTGRES_MISSING = re.compile(r'\b(?:database|role) "[^"]*" does not exist')
_POSTGRES_AWAY = (
    "the PostgreSQL server cannot be reached (stopped, restarting or failing over): check "
    "that it runs and that [database] url names the primary; requests succeed again by "
    "themselves once it answers"
)


def _postgres_problem(exc: BaseException) -> str | None:
    """What an admin reads for a PostgreSQL error (None: a bug of ours, said as it is)."""
    text = str(exc).lower()
    problem = next((advice for needle, advice in _POSTGRES_PROBLEMS if needle in text), None)
    if problem is None and _POSTGRES_MISSING.search(text):
        problem = "check the database and user named in [database] url"
    if problem is None and isinstance(exc, (StoreError, psycopg.OperationalError)):
        problem = _POSTGRES_AWAY  # refused, timed out, or the connection dropped
    return problem


def describe_database_error(exc: BaseException) -> str:
    """One sentence an admin can act on, for an SQLite or PostgreSQL error (CLI, web 503,
    logs).

    Nothing half-written stays behind: every write is a transaction, so what was saved
    before the error is intact and a sync resumes from its last saved page.
    """
    text = str(exc)
    if _from_postgres(exc):
        text = _first_line(exc)  # libpq adds hints on lines of their own
        problem = _postgres_problem(exc)
    else:
        problem = next(
            (advice for needle, advice in _DATABASE_PROBLEMS if needle in text.lower()), None
        )
    if problem is None:
        return f"The database cannot be used right now ({text})."
    return f"The database cannot be used: {problem} ({text}). Nothing saved so far was lost."


def _from_postgres(exc: BaseException) -> bool:
    """A PostgreSQL error, or the store's own about a PostgreSQL URL it could not open."""
    if isinstance(exc, psycopg.Error):
        return True
    return isinstance(exc, StoreError) and any(
        prefix in str(exc) for prefix in postgres.URL_PREFIXES
    )


FULL_DISK_BYTES = 16 * 1024 * 1024
"""Below this much free space beside the database, /healthz calls the disk full: SQLite
needs room for the WAL and a checkpoint before it can write anything at all."""


def write_problem(db: Database) -> str | None:
    """Why this database cannot take writes now ("read-only", "full"), or None.

    A write that changes nothing (a DELETE matching no row, rolled back) meets the same
    checks as a real one — a file opened read-only, `PRAGMA query_only` — without
    writing anything. It never waits: a busy writer proves the file takes writes.
    """
    if isinstance(db, postgres.PostgresDatabase):
        return postgres.write_problem(db)
    if _free_bytes(db) < FULL_DISK_BYTES:
        return "full"
    timeout = db.execute("PRAGMA busy_timeout").fetchone()[0]
    db.execute("PRAGMA busy_timeout = 0")
    try:
        db.conn.execute("DELETE FROM leases WHERE 0")
    except sqlite3.OperationalError as exc:
        text = str(exc).lower()
        if "readonly" in text or "read-only" in text:
            return "read-only"
        if "full" in text:
            return "full"
        if "locked" not in text and "busy" not in text:
            raise
    finally:
        if db.conn.in_transaction:
            db.conn.rollback()
        db.execute(f"PRAGMA busy_timeout = {int(timeout)}")
    return None


def commit_durably(db: Database) -> None:
    """Inside `atomic()`: its COMMIT returns once durable whatever the server's default
    (`dialect.durable_commit`): for a mark that must outlive a crash because something
    outside the database (an email, a desk call) follows it."""
    if db.dialect.durable_commit:
        db.execute(db.dialect.durable_commit)


def checkpoint(db: Database) -> None:
    """Outside a transaction: copy the pages this connection committed back into the file
    now, without waiting for readers or writers. A long writer (the stage history rebuild)
    calls it between its short transactions: otherwise the next commit to cross
    WAL_AUTOCHECKPOINT_PAGES pays for its pages, and that may be an agent's journey save
    (up to 1.4 s beside a 1M-customer rebuild; ~10 ms a call here)."""
    if db.dialect.checkpoint:
        db.execute(db.dialect.checkpoint).fetchall()


def database_file(db: Database) -> str:
    """The SQLite file behind a connection ('' for an in-memory database or PostgreSQL)."""
    if isinstance(db, postgres.PostgresDatabase):
        return ""
    rows = db.conn.execute("PRAGMA database_list").fetchall()
    return next((row[2] for row in rows if row[1] == "main"), "")


def _free_bytes(db: Database) -> int:
    """Free space in the database's folder (unlimited for an in-memory database)."""
    path = database_file(db)
    if not path:
        return FULL_DISK_BYTES
    stats = os.statvfs(os.path.dirname(path) or ".")
    return stats.f_bavail * stats.f_frsize


POOL_SIZE = 16
"""Idle connections kept per database file and process (one per busy thread is enough)."""
_pool: dict[str, list[Database]] = {}
"""Per process, by nature (SQLite connections never cross a fork, see below), and shared by
every app of the process that opens the same file: the store's only module-level state."""
_pool_lock = threading.Lock()


_left_to_the_parent: list[Database] = []
"""In a forked child, the connections its parent had pooled: never used, never closed
here (closing a PostgreSQL one would end the parent's session on the shared socket), and
kept referenced so that they are not deleted while open either (psycopg's
ResourceWarning)."""


def _forget_pool_after_fork() -> None:
    """A forked child starts with an empty pool: SQLite connections must not cross a fork
    (gunicorn preloading, for one). A hook, not a pid check per borrow (two system calls
    a request)."""
    global _pool_lock
    _left_to_the_parent.extend(db for idle in _pool.values() for db in idle)
    _pool.clear()
    _pool_lock = threading.Lock()  # a thread of the parent may have held it at the fork


os.register_at_fork(after_in_child=_forget_pool_after_fork)


def close_pool(path: str | Path | None = None) -> None:
    """Close the idle connections kept for the store at `path` (for every store when
    None): at exit, and when a store goes away for good (a database dropped). One borrowed
    meanwhile comes back to the pool as usual."""
    with _pool_lock:
        if path is None:
            idle = [db for dbs in _pool.values() for db in dbs]
            _pool.clear()
        else:
            idle = _pool.pop(str(path), [])
    for db in idle:
        _close_quietly(db)


# At exit the pool's connections are closed rather than left to the interpreter's
# teardown: PostgreSQL sessions end with a goodbye, and psycopg finds none deleted open.
atexit.register(close_pool)


def borrow_db(path: str | Path) -> Database:
    """A connection for one unit of work (a web request), reused across units.

    Opening one costs about half a millisecond, mostly reading and parsing the schema on
    the first statement: more than the whole sidebar query. Hand it back with
    `return_db` from the same thread that used it; never keep it across requests.
    """
    while True:
        with _pool_lock:
            idle = _idle_connections(str(path))
            if not idle:
                break
            db = idle.pop()
        if _still_usable(db):
            return db
        _close_quietly(db)  # the server restarted or failed over since it was last used
    return open_db(path, migrate=False)


def return_db(db: Database, path: str | Path, *, broken: bool = False) -> None:
    """Put a borrowed connection back (or close it: after an error, or when enough idle).

    An open transaction is rolled back: the next borrower starts clean.
    """
    try:
        if db.conn.in_transaction:
            db.conn.rollback()
    except DATABASE_ERRORS:
        broken = True
    if not broken and isinstance(db, postgres.PostgresDatabase) and postgres.broken(db):
        broken = True  # a request answered 503 with the server away: never reuse its line
    with _pool_lock:
        idle = _idle_connections(str(path))
        if not broken and len(idle) < POOL_SIZE:
            idle.append(db)
            return
    _close_quietly(db)


def _still_usable(db: Database) -> bool:
    """Whether a pooled connection can serve again: always for an SQLite file; for
    PostgreSQL, not after the server went away (postgres.usable: no round trip)."""
    return not isinstance(db, postgres.PostgresDatabase) or postgres.usable(db)


def _close_quietly(db: Database) -> None:
    with contextlib.suppress(*DATABASE_ERRORS):
        db.conn.close()


def _idle_connections(path: str) -> list[Database]:
    """The idle list of `path` (caller holds the lock)."""
    return _pool.setdefault(path, [])


def schema_version(db: Database) -> int:
    """How many migrations this database has applied (PostgreSQL's baseline counts as the
    SQLite migrations it stands for)."""
    if isinstance(db, postgres.PostgresDatabase):
        from plugin.store.backends import postgres_schema

        return postgres_schema.schema_version(db.conn.raw)
    return len(migrations.applied(db))


def pending_migrations(db: Database) -> list[str]:
    if isinstance(db, postgres.PostgresDatabase):
        from plugin.store.backends import postgres_schema

        return postgres_schema.pending(db.conn.raw)
    return [m.name for m in migrations.pending(db)]


@dataclass(frozen=True)
class StoreStatus:
    """Which store a location names and whether it answers (`journeydesk check-config`)."""

    backend: str
    """"SQLite" or "PostgreSQL"."""
    location: str
    """The file path, or the URL (never with a password: the config keeps it out)."""
    problem: str | None = None
    """Why the store cannot be used, in a sentence an admin can act on; None when it can."""
    exists: bool = True
    """False for an SQLite file not created yet (the first sync or serve makes it)."""
    server: str = ""
    """Which PostgreSQL server answered: host, port, version, primary or read-only."""
    schema_version: int = 0
    pending: tuple[str, ...] = ()


def store_status(location: str | Path) -> StoreStatus:
    """Connect to the store without changing it (`SELECT 1`, the schema version and the
    migrations still to apply): an SQLite file that does not exist is not created."""
    is_pg = postgres.is_postgres(location)
    status = StoreStatus("PostgreSQL" if is_pg else "SQLite", str(location))
    if not is_pg and not Path(location).exists():
        return dataclasses.replace(status, exists=False)
    try:
        with open_store(location, migrate=False) as db:
            db.execute("SELECT 1").fetchone()
            server = postgres.server_summary(db) if is_pg else ""
            return dataclasses.replace(
                status,
                server=server,
                schema_version=schema_version(db),
                pending=tuple(pending_migrations(db)),
            )
    except (StoreError, *DATABASE_ERRORS) as exc:
        return dataclasses.replace(status, problem=describe_database_error(exc))


@dataclass(frozen=True, slots=True)
class Read:
    """One read-only statement of a store module and what its rows become: `load(keys,
    rows)` gets the column names and the rows as tuples. Store modules build them; callers
    that need several independent reads at once pass them to `read_together`."""

    sql: str
    params: Any
    load: Callable[[list[str], list[tuple]], Any]


def read_together(db: Database, *reads: Read) -> list[Any]:
    """Independent reads, each loaded, in order. On PostgreSQL they go to the server
    together, in one round trip (a pipeline): a journey request's lists cost one wait
    for the server instead of one each. On SQLite, where a statement costs no round trip,
    they run one after the other."""
    if isinstance(db, postgres.PostgresDatabase):
        results = postgres.fetch_together(db, [(read.sql, read.params) for read in reads])
    else:
        results = []
        for read in reads:
            cursor = db.conn.execute(read.sql, read.params)
            results.append((_column_names(cursor), cursor.fetchall()))
    return [read.load(keys, rows) for read, (keys, rows) in zip(reads, results, strict=True)]


def rows_as_tuples(_keys: Sequence[str], rows: list[tuple]) -> list[tuple]:
    """A `Read.load`: the rows as they come."""
    return rows


def rows_as_dicts(keys: Sequence[str], rows: list[tuple]) -> list[dict[str, Any]]:
    """A `Read.load`: each row as a dict by column name (as `select_dicts` gives)."""
    return [dict(zip(keys, row, strict=True)) for row in rows]


def select_dicts(db: Database, sql: str, params: Any = ()) -> list[dict[str, Any]]:
    """Rows as dicts, like `db.query` minus its per-call overhead (hot read paths)."""
    cursor = db.conn.execute(sql, params)
    keys = _column_names(cursor)
    return [dict(zip(keys, row, strict=True)) for row in cursor]


def _column_names(cursor: sqlite3.Cursor | psycopg.Cursor) -> list[str]:
    if isinstance(cursor, psycopg.Cursor):
        return postgres.column_names(cursor)
    return [column[0] for column in cursor.description]


def loads_object(text: str | None) -> Any:
    """A JSON column holding an object (`{}` when empty: most rows)."""
    return {} if not text or text == "{}" else loads_stored(text)


def loads_stored(text: str) -> Any:
    """`fastjson.loads` of a JSON column this store wrote, given its UTF-8 bytes: the same
    values, and fastjson's guard against integers past 64 bits is then a byte translation
    (~0.3 µs for a journey's signals) instead of a regex over the text (~3 µs)."""
    if text[:1] == "\ufeff":  # json.loads refuses a BOM in text but skips it in bytes
        return fastjson.loads(text)
    return fastjson.loads(text.encode())


# One encoder for every JSON column: json.dumps(..., default=str) builds a new encoder per
# call, which costs more than encoding the small documents we store (sync hot path).
_ENCODER = json.JSONEncoder(separators=(",", ":"), sort_keys=True, default=str)
# ... and its C core made once too: `encode` builds one (and a closure) per call, twice
# the work of encoding a ticket's tags. Same output; no circular-reference bookkeeping
# (a shared one would not be thread-safe), so a document that contains itself, which no
# JSON input can produce, fails with RecursionError instead of ValueError.
_C_ENCODE = (
    json.encoder.c_make_encoder(
        None, str, json.encoder.encode_basestring_ascii, None, ":", ",", True, False, True
    )
    if json.encoder.c_make_encoder is not None
    else None
)


def dumps(value: Any) -> str:
    if not value and isinstance(value, dict | list | tuple):
        return "[]" if not isinstance(value, dict) else "{}"
    if _C_ENCODE is not None and isinstance(value, dict | list | tuple):
        return "".join(_C_ENCODE(value, 0))
    return _ENCODER.encode(value)
