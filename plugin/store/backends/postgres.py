"""The store on PostgreSQL (psycopg 3): the same face as SQLite's, so store modules don't care.

A `PostgresDatabase` offers the part of sqlite-utils' `Database` the store uses —
`execute`, `query`, `atomic`, and a `conn` with `execute`, `executemany`, `in_transaction`,
`rollback` and `close` — and rows come back as tuples holding what SQLite would give:
JSON columns as their text, sums and averages as int or float (never `Decimal`), truth
values as 1 or 0. Outside `atomic()` each statement commits on its own.

Write transactions (`atomic()`) take one lock, held in the database, so they run one at a
time on every host, as SQLite's BEGIN IMMEDIATE makes them do on one: the store's
read-then-write steps (claim an outbox row, number new customers, renew the worker lease)
keep exactly the meaning they have on SQLite, with no process-local state. Readers never
wait, on either engine.

The store's statements are written for SQLite; `translate` makes the few mechanical
changes PostgreSQL needs (placeholders, planner hints, INSERT OR IGNORE, the names of the JSON
builders), once per distinct
statement. Whatever differs beyond that is chosen per backend in `plugin/store/dialect.py`.

Each round trip to the server counts (a journey request is ~1 ms of work on SQLite): a
statement a connection runs again and again is prepared (`PREPARE_THRESHOLD`), so it is
planned once per connection, and independent reads can be sent together in one pipeline
(`fetch_together`, behind the store's `read_together`). Reads take no lock and open no
transaction: one statement, one round trip.
"""

from __future__ import annotations

import _socket
import contextlib
import functools
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from psycopg.adapt import Loader
from psycopg.pq import TransactionStatus
from psycopg.types.string import StrDumperUnknown

from plugin.store import dialect
from plugin.store.backends import postgres_bulk

T = TypeVar("T")
"""What a statement run again after a stale plan returns (`_again_if_stale`)."""

URL_PREFIXES = ("postgresql://", "postgres://")
CONNECT_TIMEOUT_SECONDS = 5
"""How long opening a connection may take (per host of a multi-host URL). A server that is
down refuses at once; this bounds the wait for one that is unreachable (a dead host, a
virtual IP moving), so a sidebar request answers 503 within seconds instead of hanging."""
KEEPALIVE = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 15_000,
}
"""TCP keepalives and a send timeout (ms): a connection to a host that vanished without a
word (power cut, network split) is found dead in ~25 s idle, or 15 s after a statement sent
to it went unanswered, instead of the kernel's two hours."""
PREPARE_THRESHOLD = 5
"""After this many runs on one connection a statement is prepared (psycopg's default):
parsed and planned once per connection, then only bound and executed. A pooled web
connection runs the same ~8 statements on every journey request, and planning the
sidebar's merged read cost more than running it (~1 ms against ~0.2 ms). PostgreSQL plans
a prepared statement's first five runs with their values, then keeps a generic plan when
it is no dearer: the store's statements are keyed by an index, so that is the same plan.
Prepared statements live in the server session: PgBouncer in session mode keeps them
(transaction mode needs PgBouncer 1.21 or later with `max_prepared_statements` set)."""
WRITER_LOCK = 0x6A6F75726E6579  # "journey": the advisory lock of write transactions
LOCK_TIMEOUT_MS = 10_000
"""How long a statement waits for a row or table lock, like SQLite's busy timeout: a held
lock past it is an error the caller reports ("try again"), never an endless wait."""
SESSION_SETTINGS = f"-c lock_timeout={LOCK_TIMEOUT_MS} -c timezone=UTC -c jit=off"
"""Every store connection's settings. JIT compiling is off: the planner prices a statement
with a correlated subquery per row (a report figure's stage at each touchpoint's moment)
high enough to compile it, and compiling took longer (2.4 s) than running it (0.8 s). The
store runs no long scan that would repay it."""


def is_postgres(location: object) -> bool:
    """Whether a store location names a PostgreSQL database (else it is an SQLite file)."""
    return str(location).startswith(URL_PREFIXES)


class PostgresLocation(str):
    """A PostgreSQL URL without its password, carrying the password beside it.

    The URL is what logs, errors and `check-config` print; the password (read from the
    environment variable the config names) only reaches `psycopg.connect`.
    """

    password: str | None

    def __new__(cls, url: str, password: str | None = None) -> PostgresLocation:
        location = super().__new__(cls, url)
        location.password = password
        return location


class _JsonAsText(Loader):
    """jsonb as the text SQLite stores, so callers parse it the same way on both backends."""

    def load(self, data: Any) -> str:
        return bytes(data).decode()


class _NumericAsNumber(Loader):
    """numeric (what SUM and AVG of integers return) as int when whole, else float."""

    def load(self, data: Any) -> int | float:
        text = bytes(data)
        return float(text) if b"." in text or b"N" in text or b"e" in text else int(text)


class _BoolAsInteger(Loader):
    """A comparison in a select list is 1 or 0, as in SQLite."""

    def load(self, data: Any) -> int:
        return 1 if bytes(data) == b"t" else 0


class _TextWithoutNul(StrDumperUnknown):
    """PostgreSQL text cannot hold NUL, which SQLite stores: a desk's subject or an
    event's title carrying one keeps the rest, with U+FFFD in its place, rather than
    failing the batch it came in."""

    def dump(self, obj: str) -> Any:
        return super().dump(obj.replace("\x00", "\ufffd") if "\x00" in obj else obj)


@dataclass(frozen=True, slots=True)
class Changed:
    """What `executemany` returns: the rows changed, summed over its rows (as sqlite3)."""

    rowcount: int


class PostgresConnection:
    """The `db.conn` face: the sqlite3.Connection calls the store makes."""

    def __init__(self, raw: psycopg.Connection) -> None:
        self.raw = raw
        self.column_types: dict[str, dict[str, str]] = {}
        """The column types of the tables this connection inserted batches into."""

    def execute(self, sql: str, params: Any = None) -> psycopg.Cursor:
        """One statement; prepared on this connection once it has run PREPARE_THRESHOLD
        times (psycopg), so the sidebar's statements are parsed and planned once per
        connection instead of on every request."""
        statement, values = translate(sql), _parameters(params)
        return _again_if_stale(self, lambda: self.raw.execute(statement, values))

    def executemany(self, sql: str, rows: Any) -> Changed:
        """`sql` once per row, as sqlite3's executemany; `.rowcount` is the rows changed.

        A plain INSERT's rows go as one statement (postgres_bulk: a sync page's ~7,000
        rows were ~7,000 statements, the most of its time); any other statement, or rows
        JSON cannot carry exactly, one statement per row in one pipeline (psycopg).
        """
        statement = translate(sql)
        rows = rows if isinstance(rows, list) else list(rows)
        if not rows:
            return Changed(0)
        shape = postgres_bulk.insert_shape(statement)
        if shape is not None and len(rows) > 1:
            changed = postgres_bulk.set_insert(self.raw, self.column_types, shape, rows)
            if changed is not None:
                return Changed(changed)
        cursor = self.raw.cursor()
        cursor.executemany(statement, [_parameters(row) for row in rows])
        return Changed(cursor.rowcount)

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != TransactionStatus.IDLE

    def commit(self) -> None:
        if self.in_transaction:
            self.raw.execute("COMMIT")

    def rollback(self) -> None:
        if self.in_transaction:
            self.raw.execute("ROLLBACK")

    def close(self) -> None:
        self.raw.close()


class PostgresDatabase:
    """The store's database object on PostgreSQL (see the module docstring)."""

    backend = "postgres"
    dialect = dialect.POSTGRES

    def __init__(self, raw: psycopg.Connection, location: str) -> None:
        self.conn = PostgresConnection(raw)
        self.location = location
        self._savepoints = 0

    def execute(self, sql: str, params: Any = None) -> psycopg.Cursor:
        return self.conn.execute(sql, params)

    def query(self, sql: str, params: Any = None) -> Iterator[dict[str, Any]]:
        cursor = self.conn.execute(sql, params)
        if cursor.description is None:
            raise ValueError("query() can only be used with SQL that returns rows")
        keys = column_names(cursor)
        return (dict(zip(keys, row, strict=True)) for row in cursor)

    @contextlib.contextmanager
    def atomic(self) -> Iterator[PostgresDatabase]:
        """A transaction; nested, a savepoint in the enclosing one (as sqlite-utils does)."""
        if self.conn.in_transaction:
            self._savepoints += 1
            name = f"journeydesk_{self._savepoints}"
            self.conn.raw.execute(f"SAVEPOINT {name}")
            try:
                yield self
            except BaseException:
                self.conn.raw.execute(f"ROLLBACK TO SAVEPOINT {name}")
                raise
            finally:
                self._savepoints -= 1
            self.conn.raw.execute(f"RELEASE SAVEPOINT {name}")
            return
        try:
            # One round trip for both (no parameters: the simple protocol takes the two
            # statements in one message); a writer pays for COMMIT's WAL flush besides.
            self.conn.raw.execute(f"BEGIN; SELECT pg_advisory_xact_lock({WRITER_LOCK})")
            yield self
        except BaseException:
            self.conn.rollback()
            raise
        try:
            self.conn.raw.execute("COMMIT")
        except BaseException:
            self.conn.rollback()
            raise

    def rollback(self) -> None:
        self.conn.rollback()


def fetch_together(
    db: PostgresDatabase, statements: Sequence[tuple[str, Any]]
) -> list[tuple[list[str], list[tuple]]]:
    """(column names, rows) of each read-only statement, all sent in one pipeline: one
    round trip for all of them (prepared statements included)."""
    return _again_if_stale(db.conn, lambda: _pipelined(db.conn.raw, statements))


def _pipelined(
    raw: psycopg.Connection, statements: Sequence[tuple[str, Any]]
) -> list[tuple[list[str], list[tuple]]]:
    cursors = []
    with raw.pipeline():
        for sql, params in statements:
            cursor = raw.cursor()
            cursor.execute(translate(sql), _parameters(params))
            cursors.append(cursor)
    return [(column_names(cursor), cursor.fetchall()) for cursor in cursors]


def column_names(cursor: psycopg.Cursor) -> list[str]:
    """The names of a cursor's result columns ([] for a statement returning none), read
    from the result itself: `cursor.description` builds an object per column with its type
    details, 5% of a journey request's client time for names alone."""
    result = cursor.pgresult
    if result is None:
        return []
    return [result.fname(i).decode() for i in range(result.nfields)]


def _again_if_stale(conn: PostgresConnection, run: Callable[[], T]) -> T:
    """`run()`, once more after forgetting the connection's prepared statements when
    PostgreSQL refused a stale one.

    PostgreSQL re-plans a prepared statement after DDL by itself, unless the columns it
    returns changed: then it refuses with "cached plan must not change result type" (a
    migration changed a table a prepared `SELECT *` reads: another host migrating during
    a rolling upgrade). Outside a transaction the statements are forgotten (DEALLOCATE
    ALL) and run again, prepared anew later; inside one the error stands."""
    try:
        return run()
    except psycopg.errors.FeatureNotSupported as exc:
        if conn.in_transaction or "cached plan must not change result type" not in str(exc):
            raise
        conn.raw.execute("DEALLOCATE ALL")
        return run()


def connect(location: str) -> PostgresDatabase:
    """A connection to the database `location` names, set up as the store expects."""
    raw = psycopg.connect(
        str(location),
        password=getattr(location, "password", None) or None,
        autocommit=True,
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        **KEEPALIVE,
        options=SESSION_SETTINGS,
        application_name="journeydesk",
        prepare_threshold=PREPARE_THRESHOLD,
    )
    raw.adapters.register_dumper(str, _TextWithoutNul)
    raw.adapters.register_loader("jsonb", _JsonAsText)
    raw.adapters.register_loader("json", _JsonAsText)
    raw.adapters.register_loader("numeric", _NumericAsNumber)
    raw.adapters.register_loader("bool", _BoolAsInteger)
    return PostgresDatabase(raw, location)


def usable(db: PostgresDatabase) -> bool:
    """Whether a pooled connection can still serve a request, without a round trip.

    An idle connection has nothing to read: a server that restarted, failed over or ended
    the session (`pg_terminate_backend`) sends its last words and closes the socket, which
    then reads as ready. Such a connection is dropped instead of failing the next request;
    so is one that got anything else unasked (a standby promoted reports its new state):
    a new connection costs a few milliseconds, a wrong guess a request.
    """
    if broken(db):
        return False
    try:
        return not _has_input(db.conn.raw.pgconn.socket)
    except (OSError, psycopg.OperationalError):
        return False


def rows_planned(db: PostgresDatabase, tables: Sequence[str]) -> int:
    """How many rows the planner believes `tables` hold together, by their statistics (a
    table never analysed counts as empty)."""
    (rows,) = db.conn.raw.execute(
        "SELECT sum(greatest(reltuples, 0)) FROM pg_class "
        "WHERE oid = ANY (SELECT to_regclass(name) FROM unnest(%s::text[]) AS name)",
        [list(tables)],
    ).fetchone()
    return int(rows or 0)


def analyze(db: PostgresDatabase, tables: Sequence[str]) -> None:
    """Fresh planner statistics for `tables`. SKIP_LOCKED: a table being vacuumed by hand
    keeps its statistics a while longer; the caller never waits for it, nor fails at the
    lock timeout."""
    db.conn.raw.execute(f"ANALYZE (SKIP_LOCKED) {', '.join(tables)}")


def broken(db: PostgresDatabase) -> bool:
    """Whether psycopg already knows the connection lost (a statement failed on it), or it
    is left inside a transaction: no system call, so cheap enough for every request."""
    raw = db.conn.raw
    return raw.closed or raw.broken or raw.info.transaction_status != TransactionStatus.IDLE


def _has_input(fd: int) -> bool:
    """Whether the socket `fd` has bytes (or the end of the stream) waiting, at once.

    A peek through the C socket type, which gevent leaves alone (its own socket would wait
    for the input instead), on the descriptor libpq keeps owning; unlike select(), it
    works for descriptors past 1023, which a gevent worker's thousand clients reach.
    """
    peek = _socket.socket(fileno=fd)
    try:
        peek.recv(1, _socket.MSG_PEEK | _socket.MSG_DONTWAIT)
    except BlockingIOError:
        return False
    finally:
        peek.detach()
    return True


def _parameters(params: Any) -> Any:
    if params is None:
        return None
    if isinstance(params, dict):
        return params
    return params if isinstance(params, Sequence) else tuple(params)


_INDEX_HINT = re.compile(r"\s+(?:INDEXED\s+BY\s+\w+|NOT\s+INDEXED)\b", re.IGNORECASE)
_CROSS_JOIN_ON = re.compile(
    r"\bCROSS\s+JOIN(\s+\w+(?:\s+(?:AS\s+)?(?!ON\b)\w+)?\s+ON)\b", re.IGNORECASE
)
"""SQLite's CROSS JOIN ... ON: an inner join whose order the planner keeps (a hint)."""
_IN_NOTHING = re.compile(r"\bIN\s*\(\s*\)", re.IGNORECASE)
"""SQLite's `x IN ()`: false for every x. `IN (NULL)` is never true either (a WHERE drops
the row), but it is NULL rather than 0 where a value is read: count, don't sum, such tests."""
_NOT_IN_NOTHING = re.compile(r"\bNOT\s+IN\s*\(\s*\)", re.IGNORECASE)
_JSON_ARRAY = re.compile(r"\bjson_array\(", re.IGNORECASE)
_JSON_GROUP_ARRAY = re.compile(r"\bjson_group_array\(", re.IGNORECASE)
"""SQLite's JSON builders under PostgreSQL's names (json_agg of no rows is NULL, not [])."""
_INSERT_OR_IGNORE = re.compile(r"^(\s*)INSERT\s+OR\s+IGNORE\s+INTO\b", re.IGNORECASE)
_INSERT_OR_REPLACE = re.compile(r"\bINSERT\s+OR\s+REPLACE\b", re.IGNORECASE)
_RETURNING = re.compile(r"\bRETURNING\b", re.IGNORECASE)


@functools.lru_cache(maxsize=4096)
def translate(sql: str) -> str:
    """An SQLite statement of the store as PostgreSQL reads it (see the module docstring)."""
    if _INSERT_OR_REPLACE.search(sql):
        raise ValueError("INSERT OR REPLACE has no PostgreSQL form: write ON CONFLICT DO UPDATE")
    text = _placeholders(sql)
    text = _INDEX_HINT.sub("", text)
    text = _CROSS_JOIN_ON.sub(r"JOIN\1", text)
    text = _JSON_ARRAY.sub("json_build_array(", _JSON_GROUP_ARRAY.sub("json_agg(", text))
    if _NOT_IN_NOTHING.search(text):
        raise ValueError("NOT IN () is SQLite's alone: test for an empty list before")
    text = _IN_NOTHING.sub("IN (NULL)", text)
    if _INSERT_OR_IGNORE.match(text):
        text = _INSERT_OR_IGNORE.sub(r"\1INSERT INTO", text, count=1).rstrip().rstrip(";")
        returning = _RETURNING.search(text)
        if returning:
            cut = returning.start()
            text = f"{text[:cut]}ON CONFLICT DO NOTHING {text[cut:]}"
        else:
            text += " ON CONFLICT DO NOTHING"
    return text


_NAMED = re.compile(r":([A-Za-z_]\w*)")


def _placeholders(sql: str) -> str:
    """`?` → `%s` and `:name` → `%(name)s` outside quotes and comments; `%` → `%%`."""
    out: list[str] = []
    i, size = 0, len(sql)
    while i < size:
        char = sql[i]
        if char in "'\"":
            end = sql.find(char, i + 1)
            while end != -1 and sql[end + 1 : end + 2] == char:  # a doubled quote
                end = sql.find(char, end + 2)
            end = size - 1 if end == -1 else end
            out.append(sql[i : end + 1].replace("%", "%%"))
            i = end + 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            end = size if end == -1 else end
            out.append(sql[i:end].replace("%", "%%"))
            i = end
        elif char == "?":
            out.append("%s")
            i += 1
        elif sql.startswith("::", i):  # a cast, not a parameter
            out.append("::")
            i += 2
        elif char == ":" and (named := _NAMED.match(sql, i)):
            out.append(f"%({named.group(1)})s")
            i = named.end()
        elif char == "%":
            out.append("%%")
            i += 1
        else:
            out.append(char)
            i += 1
    return "".join(out)


def write_problem(db: PostgresDatabase) -> str | None:
    """ "read-only" on a standby (or a read-only default), else None: PostgreSQL reports a
    full disk on the write itself, and the write is then refused whole."""
    (read_only,) = db.conn.raw.execute("SHOW transaction_read_only").fetchone()
    return "read-only" if read_only == "on" else None


def server_summary(db: PostgresDatabase) -> str:
    """Which server a connection reached, as `check-config` prints it: host, port, version,
    and whether it takes writes (a multi-host URL picks one of its hosts)."""
    info = db.conn.raw.info
    version = f"{info.server_version // 10000}.{info.server_version % 10000}"
    role = "read-only" if write_problem(db) else "takes writes"
    return f"{info.host}:{info.port}, PostgreSQL {version}, {role}"
