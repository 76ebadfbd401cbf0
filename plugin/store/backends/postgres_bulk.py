"""Many rows inserted by one statement on PostgreSQL: the store's `executemany` of an INSERT.

The store writes a batch as SQLite likes it, `executemany("INSERT INTO t (a, b) VALUES
(?, ?) ON CONFLICT ...", rows)`: SQLite runs the prepared statement once per row in
process, for a few microseconds each. On PostgreSQL the same call, even pipelined in one
round trip, is one statement per row for the server to bind and execute (~15 µs each)
and for psycopg to build (~12 µs each): a sync page of 1,000 tickets writes ~7,000 rows
(tickets, their timeline entries, new customers and identities, changed-customer marks),
and those per-row costs were most of its time.

`set_insert` sends such a batch instead as one statement over one parameter, the rows as
a JSON array of arrays, read by `jsonb_array_elements` and cast to each column's type:

    INSERT INTO t (a, b) SELECT CAST(r ->> 0 AS bigint), CAST(r ->> 1 AS text)
    FROM jsonb_array_elements(CAST(%s AS jsonb)) AS r ON CONFLICT ...

One orjson call encodes the rows (~1 µs a row less than psycopg's dumping), the server
plans once and inserts them in order (identities numbered as before). The meaning stays
that of one statement per row, in order:

- an upsert (`ON CONFLICT (key) DO UPDATE`) may not touch one row twice in a statement,
  while the rows one by one would update it again: a batch repeating a key is split
  before the repeat, each part one statement, in order;
- the row counts (`rowcount`) are summed, as executemany's;
- what JSON cannot carry exactly is sent row by row as before (`None` from `set_insert`):
  values other than str, int, float and None (bool, bytes, dates), floats that are not
  finite or go into an integer column (bound, PostgreSQL rounds them), NUL in text
  (jsonb refuses \\u0000; the row-by-row path keeps the text with U+FFFD instead),
  integers past 64 bits, and statements of another shape (expressions or parameters
  outside the VALUES list, RETURNING, named parameters).

The column types come from the catalog, once per table and connection.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg

CHUNK_ROWS = 10_000
"""Rows per statement at most: the JSON parameter (~150 bytes a row) stays a few MB."""

_PLAIN_VALUES = (str, int, float, type(None))

_INSERT = re.compile(
    r"^\s*INSERT\s+INTO\s+(?P<table>[A-Za-z_]\w*)\s*\((?P<columns>[^()]*)\)\s*"
    r"VALUES\s*\((?P<values>[^()]*)\)(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL,
)
_LITERAL = re.compile(r"^(?:-?\d+(?:\.\d+)?|'(?:[^']|'')*'|NULL)$", re.IGNORECASE)
_UPSERT = re.compile(
    r"^\s*ON\s+CONFLICT\s*\((?P<key>[^()]*)\)(?:\s+WHERE\s+.*?)?\s+DO\s+UPDATE\b",
    re.IGNORECASE | re.DOTALL,
)
_RETURNING = re.compile(r"\bRETURNING\b", re.IGNORECASE)


@dataclass(frozen=True)
class InsertShape:
    """A translated `INSERT ... VALUES (...)` that can take its rows as one JSON array."""

    table: str
    columns: tuple[str, ...]
    values: tuple[str, ...]
    """Each VALUES item: "%s" (the row's next value) or a literal kept as written."""
    rest: str
    """What follows the VALUES list (an ON CONFLICT clause), unchanged."""
    key: tuple[int, ...]
    """For an upsert (DO UPDATE), the positions in each row of its conflict key's columns;
    empty otherwise (a repeated key is harmless: DO NOTHING, or an error either way)."""


@functools.lru_cache(maxsize=512)
def insert_shape(statement: str) -> InsertShape | None:
    """The shape of a translated statement, or None when it is not a plain multi-row
    INSERT (see the module docstring)."""
    found = _INSERT.match(statement)
    if not found or "%(" in statement:
        return None
    columns = tuple(column.strip() for column in found["columns"].split(","))
    values = tuple(value.strip() for value in found["values"].split(","))
    rest = found["rest"].strip().rstrip(";")
    if (
        len(columns) != len(values)
        or not all(re.fullmatch(r"[A-Za-z_]\w*", column) for column in columns)
        or not all(value == "%s" or _LITERAL.match(value) for value in values)
        or "%s" in rest
        or _RETURNING.search(rest)
    ):
        return None
    key: tuple[int, ...] = ()
    upsert = _UPSERT.match(rest)
    if upsert:
        # The row's values are the %s items only: a key column set by a literal is the
        # same on every row and cannot tell two rows apart.
        params = [column for column, value in zip(columns, values, strict=True) if value == "%s"]
        names = [name.strip() for name in upsert["key"].split(",")]
        key = tuple(params.index(name) for name in names if name in params)
    return InsertShape(found["table"].lower(), columns, values, rest, key)


def set_insert(
    raw: psycopg.Connection,
    types: dict[str, dict[str, str]],
    shape: InsertShape,
    rows: Sequence[Sequence[Any]],
) -> int | None:
    """Insert `rows` by `shape` in as few statements as keep its meaning; the rows changed
    (executemany's rowcount), or None when the rows must go one by one instead.
    `types` is the connection's cache of column types by table."""
    kinds = _json_kinds(rows)
    if kinds is None:
        return None
    column_types = _column_types(raw, types, shape)
    if column_types is None or (float in kinds and _float_into_integer(shape, column_types, rows)):
        return None
    try:
        documents = [orjson.dumps(part) for part in _parts(rows, shape.key)]
    except orjson.JSONEncodeError:  # text that is not Unicode (a lone surrogate)
        return None
    if any(b"\\u0000" in document for document in documents):
        return None  # NUL in text: jsonb refuses it (see the module docstring)
    statement = _statement(shape, column_types)
    return sum(raw.execute(statement, [document.decode()]).rowcount for document in documents)


def _json_kinds(rows: Sequence[Sequence[Any]]) -> set[type] | None:
    """The classes of the values when JSON carries every one exactly, else None (see the
    module docstring)."""
    try:
        kinds = {value.__class__ for row in rows for value in row}
    except TypeError:  # a row that is not a sequence (named parameters)
        return None
    if not kinds.issubset(_PLAIN_VALUES):
        return None
    # Integers past 64 bits: orjson refuses them (and past 63, bigint as before).
    if float in kinds and not all(
        math.isfinite(value) for row in rows for value in row if value.__class__ is float
    ):
        return None
    return kinds


_INTEGER_TYPES = ("bigint", "integer", "smallint")


def _float_into_integer(
    shape: InsertShape, column_types: dict[str, str], rows: Sequence[Sequence[Any]]
) -> bool:
    """Whether a float goes into an integer column: bound as a float, PostgreSQL rounds
    it; its JSON text would be refused by the cast (rare: row by row then)."""
    columns = [
        column for column, value in zip(shape.columns, shape.values, strict=True) if value == "%s"
    ]
    integer_at = [i for i, column in enumerate(columns) if column_types[column] in _INTEGER_TYPES]
    return any(row[i].__class__ is float for row in rows for i in integer_at)


def _column_types(
    raw: psycopg.Connection, types: dict[str, dict[str, str]], shape: InsertShape
) -> dict[str, str] | None:
    """The SQL type of each column of the table (cached), or None if one is unknown."""
    known = types.get(shape.table)
    if known is None or not set(shape.columns) <= known.keys():
        known = dict(
            raw.execute(
                "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped",
                [shape.table],
            ).fetchall()
        )
        types[shape.table] = known
    return known if set(shape.columns) <= known.keys() else None


def _statement(shape: InsertShape, column_types: dict[str, str]) -> str:
    selected = []
    position = 0
    for column, value in zip(shape.columns, shape.values, strict=True):
        if value == "%s":
            value = f"r ->> {position}"
            position += 1
        selected.append(f"CAST({value} AS {column_types[column]})")
    return (
        f"INSERT INTO {shape.table} ({', '.join(shape.columns)}) SELECT {', '.join(selected)} "
        f"FROM jsonb_array_elements(CAST(%s AS jsonb)) AS r {shape.rest}"
    )


def _parts(rows: Sequence[Sequence[Any]], key: tuple[int, ...]) -> list[Sequence[Sequence[Any]]]:
    """`rows` in order, cut before a row whose conflict key already came in the part, and
    every CHUNK_ROWS rows."""
    if not key:
        if len(rows) <= CHUNK_ROWS:
            return [rows]
        return [rows[start : start + CHUNK_ROWS] for start in range(0, len(rows), CHUNK_ROWS)]
    parts: list[Sequence[Sequence[Any]]] = []
    seen: set[tuple] = set()
    start = 0
    for index, row in enumerate(rows):
        row_key = tuple(row[position] for position in key)
        if row_key in seen or index - start >= CHUNK_ROWS:
            parts.append(rows[start:index])
            seen.clear()
            start = index
        seen.add(row_key)
    parts.append(rows[start:])
    return parts
