"""`journeydesk db copy`: an SQLite store copied into a PostgreSQL database, resumable.

Table by table, each read in one read transaction of the source, in primary-key order,
and written in batches with COPY FROM STDIN. Each batch commits together with its row in
`journeydesk_copy` (the table's last key copied and its rows so far), so a copy killed at
any moment resumes where it stopped: no row twice, none missing. A run over a copy in
progress also takes in the rows added to the source since, at the end of each table (rows
changed or deleted meanwhile are not: the final count per table says so).

Keeping secondary indexes and foreign keys up to date row by row costs two thirds of
the time of a copy, so they are set aside first (their definitions saved in
`journeydesk_copy_deferred`, dropped in the same transaction) and made again at the end,
each in one pass over the full table, in one transaction: an interrupted copy never
leaves them half made. Primary keys and unique constraints stay: they keep a row from
being copied twice. Then the counts of every table must match, PostgreSQL's identities
are moved past the copied ids, every table is analysed (the planner's statistics, for a
store served at once), and the copy is marked verified; a later run only verifies.

The copy's own process formats the rows (psycopg's C text dumper) while a thread reads
the next batch from SQLite, so neither side waits for the other most of the time.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg import sql
from psycopg.types.string import StrDumper
from sqlite_utils import Database

from plugin.clock import now_epoch
from plugin.store import StoreError, database_file, open_db
from plugin.store.backends import postgres, postgres_schema

BOOKKEEPING_TABLE = "journeydesk_copy"
DEFERRED_TABLE = "journeydesk_copy_deferred"
COPY_LOCK = 0x6A642D636F7079  # "jd-copy": one copy at a time into a database
DEFAULT_BATCH = 10_000
ProgressFn = Callable[[str, int, int], None]
"""progress(table, rows copied so far, rows in the source's table)."""

_SQLITE_ONLY = {"_sqlite_migrations"}  # sqlite-utils' record; PostgreSQL has its own
_POSTGRES_ONLY = {postgres_schema.MIGRATIONS_TABLE, BOOKKEEPING_TABLE, DEFERRED_TABLE}


class CopyRefused(StoreError):
    """The copy cannot start or finish; the message says why and what to do."""


@dataclass(frozen=True)
class TablePlan:
    """How one table is read: its columns and its key (columns, or rowid)."""

    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
    """Primary-key columns, or ("rowid",) for a table without one (read as an extra column)."""

    @property
    def read_columns(self) -> tuple[str, ...]:
        return self.columns + (("rowid",) if self.key == ("rowid",) else ())


@dataclass
class TableCount:
    name: str
    source: int
    target: int

    @property
    def equal(self) -> bool:
        return self.source == self.target


@dataclass
class CopyReport:
    source: str
    target: str
    counts: list[TableCount] = field(default_factory=list)
    rows_written: int = 0
    resumed: bool = False
    already_verified: bool = False
    seconds: float = 0.0


def copy_store(
    source: Database,
    target: str,
    *,
    batch: int = DEFAULT_BATCH,
    progress: ProgressFn | None = None,
) -> CopyReport:
    """Copy the SQLite store `source` into the PostgreSQL database at `target` (a location
    as `open_db` takes it), then verify; raises CopyRefused (or StoreError) with the reason."""
    if getattr(source, "backend", "sqlite") != "sqlite":
        raise CopyRefused("the store to copy from is already on PostgreSQL: copy an SQLite file")
    if not postgres.is_postgres(target):
        raise CopyRefused(f"not a PostgreSQL URL: {str(target)!r} ({_URL_EXAMPLE})")
    started = time.monotonic()
    origin = str(Path(database_file(source)).resolve())
    plan = read_plan(source)
    try:
        pg = open_db(target)  # applies PostgreSQL's migrations first
    except StoreError as exc:
        if "password" not in str(exc) or getattr(target, "password", None):
            raise
        raise CopyRefused(
            f"{exc}: name the environment variable holding the password with "
            "--password-env NAME (or [database] password_env in the config)"
        ) from None
    conn = pg.conn.raw
    report = CopyReport(source=origin, target=str(target))
    try:
        with _only_copy(conn, target):
            _check_schema(conn, plan)
            _ensure_bookkeeping(conn)
            state = _state(conn)
            _check_target(conn, plan, state, origin)
            report.resumed = bool(state)
            report.already_verified = bool(state) and all(
                row["verified_at"] is not None for row in state.values()
            )
            if not report.already_verified:
                _set_aside(conn)
                for table in plan:
                    report.rows_written += _copy_table(
                        source, conn, table, state.get(table.name), origin, batch, progress
                    )
                _restore(conn)
            report.counts = _counts(source, conn, plan)
            _verify(report)
            if not report.already_verified:
                postgres_schema.advance_identities(conn)
                _analyze(conn, plan)
                conn.execute(
                    sql.SQL("UPDATE {} SET verified_at = %s").format(
                        sql.Identifier(BOOKKEEPING_TABLE)
                    ),
                    [now_epoch()],
                )
    finally:
        pg.conn.close()
    report.seconds = time.monotonic() - started
    return report


def target_location(url: str, password_env: str, env: Mapping[str, str]) -> str:
    """The target as `open_db` takes it: a PostgreSQL URL without a password, the password
    (if any) read from the environment variable `password_env` names."""
    if not postgres.is_postgres(url):
        raise CopyRefused(f"--to: not a PostgreSQL URL: {url!r} ({_URL_EXAMPLE})")
    try:
        has_password = urlsplit(url).password is not None
    except ValueError as exc:
        raise CopyRefused(f"--to: not a valid URL: {url!r} ({exc})") from None
    if has_password:
        raise CopyRefused(
            "--to: the URL holds a password: remove it, and name the environment variable "
            "holding it with --password-env NAME (or [database] password_env)"
        )
    if not password_env:
        return postgres.PostgresLocation(url)
    password = env.get(password_env)
    if not password:
        raise CopyRefused(
            f"the environment variable {password_env} (the target's password) is not set: "
            f"export {password_env}=... before copying (passwords never go on the command line)"
        )
    return postgres.PostgresLocation(url, password)


_URL_EXAMPLE = "write it like postgresql://journeydesk@db.example.com:5432/journeydesk"


def read_plan(source: Database) -> list[TablePlan]:
    """Every table of the SQLite store worth copying, by name."""
    names = [
        name
        for name, kind in source.execute(
            "SELECT name, type FROM pragma_table_list WHERE schema = 'main'"
        ).fetchall()
        if kind == "table" and not name.startswith("sqlite_") and name not in _SQLITE_ONLY
    ]
    return [_table_plan(source, name) for name in sorted(names)]


def _table_plan(source: Database, name: str) -> TablePlan:
    info = source.execute("SELECT name, pk FROM pragma_table_info(?) ORDER BY cid", [name])
    rows = info.fetchall()
    columns = tuple(column for column, _ in rows)
    key = tuple(column for column, pk in sorted(rows, key=lambda row: row[1]) if pk > 0)
    return TablePlan(name, columns, key or ("rowid",))


@contextlib.contextmanager
def _only_copy(conn: psycopg.Connection, target: str) -> Iterator[None]:
    """One copy at a time into a database (a session lock: a killed copy lets go)."""
    (got,) = conn.execute("SELECT pg_try_advisory_lock(%s)", [COPY_LOCK]).fetchone()
    if not got:
        raise CopyRefused(f"another copy into {target} is running: wait for it to end")
    try:
        yield
    finally:
        if not conn.closed:
            conn.execute("SELECT pg_advisory_unlock(%s)", [COPY_LOCK])


def _check_schema(conn: psycopg.Connection, plan: list[TablePlan]) -> None:
    """Both stores must hold the same tables and columns (the same journeydesk version)."""
    rows = conn.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema()"
    ).fetchall()
    target: dict[str, set[str]] = {}
    for table, column in rows:
        if table not in _POSTGRES_ONLY:
            target.setdefault(table, set()).add(column)
    fix = (
        "copy into a database no newer journeydesk has migrated, with a journeydesk whose "
        "two schemas agree (the SQLite file migrates when opened)"
    )
    for table in plan:
        if table.name not in target:
            raise CopyRefused(
                f"the PostgreSQL schema has no table {table.name} that the SQLite store has: {fix}"
            )
        missing = set(table.columns) - target[table.name]
        extra = target[table.name] - set(table.columns)
        if missing or extra:
            raise CopyRefused(
                f"table {table.name} differs between the two stores (columns "
                f"{', '.join(sorted(missing | extra))}): {fix}"
            )
    unknown = set(target) - {table.name for table in plan}
    if unknown:
        listed = ", ".join(sorted(unknown))
        raise CopyRefused(
            f"the PostgreSQL schema has tables the SQLite store lacks ({listed}): {fix}"
        )


def _ensure_bookkeeping(conn: psycopg.Connection) -> None:
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} ("
            "table_name TEXT PRIMARY KEY, source TEXT NOT NULL, last_key TEXT, "
            "rows_copied BIGINT NOT NULL DEFAULT 0, updated_at BIGINT NOT NULL, "
            "verified_at BIGINT)"
        ).format(sql.Identifier(BOOKKEEPING_TABLE))
    )


def _state(conn: psycopg.Connection) -> dict[str, dict[str, Any]]:
    cursor = conn.execute(
        sql.SQL("SELECT table_name, source, last_key, rows_copied, verified_at FROM {}").format(
            sql.Identifier(BOOKKEEPING_TABLE)
        )
    )
    keys = [column.name for column in cursor.description]
    return {row[0]: dict(zip(keys, row, strict=True)) for row in cursor}


def _check_target(
    conn: psycopg.Connection, plan: list[TablePlan], state: dict[str, dict], origin: str
) -> None:
    """The target must be empty, or a copy of this very source (to resume or verify)."""
    others = {row["source"] for row in state.values()} - {origin}
    if others:
        raise CopyRefused(
            f"the target holds a copy of another store ({sorted(others)[0]}): copy from that "
            "file to resume it, or copy into an empty database"
        )
    for table in plan:
        if table.name in state:
            continue
        query = sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(table.name))
        if conn.execute(query).fetchone()[0]:
            raise CopyRefused(
                f"the target database is not empty (table {table.name} has rows) and holds no "
                "copy of this store: copy into an empty database (createdb a new one)"
            )


def _copy_table(
    source: Database,
    conn: psycopg.Connection,
    table: TablePlan,
    state: dict[str, Any] | None,
    origin: str,
    batch: int,
    progress: ProgressFn | None,
) -> int:
    """Copy the rows of `table` past its last key copied; returns how many were written."""
    last_key = json.loads(state["last_key"]) if state and state["last_key"] else None
    done = state["rows_copied"] if state else 0
    if state is None:
        _record(conn, table.name, origin, None, 0)
    written = 0
    source.conn.execute("BEGIN")  # one read snapshot for the count and the rows
    try:
        (total,) = source.conn.execute(
            f"SELECT count(*) FROM [{table.name}]"  # noqa: S608 (a table of the schema)
        ).fetchone()
        if progress:
            progress(table.name, done, total)
        rows = source.conn.execute(_select(table, last_key), last_key or [])
        key_at = [table.read_columns.index(column) for column in table.key]
        with contextlib.closing(_read_ahead(rows, batch)) as chunks:
            for chunk in chunks:
                last_key = [chunk[-1][index] for index in key_at]
                _write_batch(conn, table, chunk, origin, last_key, done + len(chunk))
                done += len(chunk)
                written += len(chunk)
                if progress:
                    progress(table.name, done, max(total, done))
    finally:
        source.conn.rollback()
    return written


def _read_ahead(rows: sqlite3.Cursor, batch: int) -> Iterator[list[tuple]]:
    """The rows in chunks of `batch`, the next chunk read from SQLite in a thread while
    the caller writes this one: SQLite lets go of the GIL while it steps, and PostgreSQL
    takes in a chunk while the next is read (the two took turns, each idle half the
    time)."""
    with ThreadPoolExecutor(1, thread_name_prefix="db-copy-read") as reader:
        pending = reader.submit(rows.fetchmany, batch)
        while chunk := pending.result():
            pending = reader.submit(rows.fetchmany, batch)
            yield chunk


def _select(table: TablePlan, last_key: list | None) -> str:
    columns = ", ".join(f"[{column}]" for column in table.read_columns)
    key = ", ".join(f"[{column}]" for column in table.key)
    where = ""
    if last_key is not None:
        where = f" WHERE ({key}) > ({', '.join('?' for _ in table.key)})"
    return f"SELECT {columns} FROM [{table.name}]{where} ORDER BY {key}"  # noqa: S608


def _write_batch(
    conn: psycopg.Connection,
    table: TablePlan,
    chunk: Sequence[Sequence[Any]],
    origin: str,
    last_key: list,
    rows_copied: int,
) -> None:
    """One batch and its bookkeeping row, in one transaction."""
    try:
        try:
            _copy_rows(conn, table, chunk, origin, last_key, rows_copied)
        except psycopg.DataError:  # psycopg refuses NUL in text before sending it
            if not _holds_nul(chunk):
                raise
            # PostgreSQL text holds no NUL, which SQLite stores: U+FFFD in its place, as
            # the store writes such text on PostgreSQL (backends/postgres.py).
            _copy_rows(conn, table, _without_nul(chunk), origin, last_key, rows_copied)
    except psycopg.errors.DataError as exc:
        raise CopyRefused(
            f"table {table.name}: a row PostgreSQL cannot take ({_first_line(exc)}); "
            "fix that row in the SQLite store, then run the copy again (it resumes)"
        ) from None
    except psycopg.errors.IntegrityError as exc:
        raise CopyRefused(
            f"table {table.name}: {_first_line(exc)}; fix that row in the SQLite store, then "
            "run the copy again (it resumes)"
        ) from None


def _copy_rows(
    conn: psycopg.Connection,
    table: TablePlan,
    chunk: Sequence[Sequence[Any]],
    origin: str,
    last_key: list,
    rows_copied: int,
) -> None:
    """COPY the rows, text as it is: psycopg's own text dumper, in C, formats every row
    (the store's connection dumps text through Python, for its NUL: ~2 µs a value, which
    made the copy's process its bottleneck)."""
    width = len(table.columns)
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, table.columns))
    )
    with conn.transaction(), conn.cursor() as cursor:
        cursor.adapters.register_dumper(str, StrDumper)
        with cursor.copy(statement) as copy:
            for row in chunk:
                copy.write_row(row[:width])
        _record(conn, table.name, origin, last_key, rows_copied)


def _holds_nul(chunk: Sequence[Sequence[Any]]) -> bool:
    return any(isinstance(value, str) and "\x00" in value for row in chunk for value in row)


def _without_nul(chunk: Sequence[Sequence[Any]]) -> list[tuple]:
    return [
        tuple(value.replace("\x00", "\ufffd") if isinstance(value, str) else value for value in row)
        for row in chunk
    ]


def _set_aside(conn: psycopg.Connection) -> None:
    """Save and drop the foreign keys and the non-unique indexes of the store's tables,
    in one transaction (once: a resumed copy finds them saved)."""
    with conn.transaction():
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (position BIGINT PRIMARY KEY, "
                "statement TEXT NOT NULL, undo TEXT NOT NULL)"
            ).format(sql.Identifier(DEFERRED_TABLE))
        )
        saved = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(DEFERRED_TABLE))
        if conn.execute(saved).fetchone()[0]:
            return
        skipped = list(_POSTGRES_ONLY)
        indexes = conn.execute(
            "SELECT pg_get_indexdef(i.indexrelid), "
            "format('DROP INDEX %%I', index_class.relname) "
            "FROM pg_index i JOIN pg_class table_class ON table_class.oid = i.indrelid "
            "JOIN pg_class index_class ON index_class.oid = i.indexrelid "
            "WHERE table_class.relnamespace = current_schema()::regnamespace "
            "AND NOT i.indisunique AND table_class.relname <> ALL(%s) "
            "ORDER BY index_class.relname",
            [skipped],
        ).fetchall()
        foreign_keys = conn.execute(
            "SELECT format('ALTER TABLE %%I ADD CONSTRAINT %%I %%s', table_class.relname, "
            "c.conname, pg_get_constraintdef(c.oid)), "
            "format('ALTER TABLE %%I DROP CONSTRAINT %%I', table_class.relname, c.conname) "
            "FROM pg_constraint c JOIN pg_class table_class ON table_class.oid = c.conrelid "
            "WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace "
            "AND table_class.relname <> ALL(%s) ORDER BY table_class.relname, c.conname",
            [skipped],
        ).fetchall()
        statements = indexes + foreign_keys  # made again in this order: indexes first
        insert = sql.SQL("INSERT INTO {} (position, statement, undo) VALUES (%s, %s, %s)")
        for position, (statement, undo) in enumerate(statements):
            conn.execute(insert.format(sql.Identifier(DEFERRED_TABLE)), [position, statement, undo])
        for _, undo in reversed(statements):  # foreign keys first
            conn.execute(undo)


def _restore(conn: psycopg.Connection) -> None:
    """Make the indexes and foreign keys set aside again, all in one transaction."""
    exists = conn.execute("SELECT to_regclass(%s)", [DEFERRED_TABLE]).fetchone()[0]
    if exists is None:
        return
    with conn.transaction():
        saved = conn.execute(
            sql.SQL("SELECT statement FROM {} ORDER BY position").format(
                sql.Identifier(DEFERRED_TABLE)
            )
        ).fetchall()
        try:
            for (statement,) in saved:
                conn.execute(statement)
        except psycopg.errors.IntegrityError as exc:
            raise CopyRefused(
                f"the copied rows break a rule of the schema ({_first_line(exc)}): fix the "
                "SQLite store, then copy again into an empty database"
            ) from None
        conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(DEFERRED_TABLE)))


def _record(
    conn: psycopg.Connection, table: str, origin: str, last_key: list | None, rows: int
) -> None:
    conn.execute(
        sql.SQL(
            "INSERT INTO {} (table_name, source, last_key, rows_copied, updated_at) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (table_name) DO UPDATE SET "
            "last_key = excluded.last_key, rows_copied = excluded.rows_copied, "
            "updated_at = excluded.updated_at"
        ).format(sql.Identifier(BOOKKEEPING_TABLE)),
        [table, origin, None if last_key is None else json.dumps(last_key), rows, now_epoch()],
    )


def _analyze(conn: psycopg.Connection, plan: list[TablePlan]) -> None:
    """Planner statistics of every copied table, now: a store served right after its copy
    would otherwise be planned blind (autovacuum's ANALYZE comes some time later)."""
    tables = [sql.Identifier(table.name) for table in plan]
    if tables:
        conn.execute(sql.SQL("ANALYZE {}").format(sql.SQL(", ").join(tables)))


def _counts(source: Database, conn: psycopg.Connection, plan: list[TablePlan]) -> list[TableCount]:
    counts = []
    for table in plan:
        (in_source,) = source.execute(
            f"SELECT count(*) FROM [{table.name}]"  # noqa: S608
        ).fetchone()
        (in_target,) = conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table.name))
        ).fetchone()
        counts.append(TableCount(table.name, in_source, in_target))
    return counts


def _verify(report: CopyReport) -> None:
    wrong = [count for count in report.counts if not count.equal]
    if not wrong:
        return
    listed = "; ".join(
        f"{c.name}: {c.source:,} in SQLite, {c.target:,} in PostgreSQL" for c in wrong
    )
    if report.already_verified:
        advice = "the PostgreSQL store has changed since it was copied (in use already?)"
    elif all(count.source > count.target for count in wrong):
        advice = (
            "rows were added to the SQLite store during the copy: stop the worker and web, "
            "then run the copy again (it takes in the rows added)"
        )
    else:
        advice = (
            "rows were deleted from the SQLite store during the copy: stop the worker and "
            "web, then copy again into an empty database"
        )
    raise CopyRefused(f"row counts differ after the copy ({listed}): {advice}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
