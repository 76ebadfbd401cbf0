"""The SQL that differs between SQLite and PostgreSQL, side by side, one attribute per idiom.

Store modules write portable SQL and ask `db.dialect` for the rest, so a difference between
the engines lives here and nowhere else. Placeholders, index hints and INSERT OR IGNORE are
translated mechanically on PostgreSQL (backends/postgres.py) and need nothing here.

A JSON array parameter (a list passed as its JSON text, on both engines) is read as a table
with `integers`, `texts` or `elements`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Dialect:
    name: str
    _integers: str
    _texts: str
    _elements: str
    _greatest: str
    _least: str
    _holds_key: str
    _key_needle: str
    _int64: str
    counts_in_database: bool
    """Whether equal rows of a large read (~1M) are better counted by GROUP BY than by
    Python over the rows: yes on PostgreSQL (a hash aggregate, and a few rows over the
    socket instead of all of them); no on SQLite (in-process rows are cheap, and its GROUP
    BY sorts them in a temporary b-tree first)."""

    def integers(self, param: str = "?") -> str:
        """A subquery of the integers of a JSON array parameter, in column `value`."""
        return self._integers.format(param=param)

    def texts(self, param: str = "?") -> str:
        """A subquery of the strings of a JSON array parameter, in column `value`."""
        return self._texts.format(param=param)

    def elements(self, param: str, alias: str) -> str:
        """A FROM item over a JSON array parameter: `alias.key` (from 0) and `alias.value`,
        a JSON element to read with `->>` (`alias.value ->> 0` of an array of pairs)."""
        return self._elements.format(param=param, alias=alias)

    def greatest(self, *values: str) -> str:
        return self._greatest.format(", ".join(values))

    def least(self, *values: str) -> str:
        return self._least.format(", ".join(values))

    def holds_key(self, column: str, param: str) -> str:
        """1 when the JSON array of objects in `column` (as the store writes it: compact,
        keys sorted) has an object whose "key" is the one parameter `param` names, else 0
        (also when `column` is NULL); the parameter's value is `key_needle(key)`.

        SQLite finds `"key":"<k>"` in the text (a quote inside a value is escaped, so it
        occurs only as a key); PostgreSQL asks jsonb containment."""
        return self._holds_key.format(column=column, param=param)

    def key_needle(self, key: str) -> str:
        """The parameter value `holds_key` looks for."""
        return self._key_needle.format(key=json.dumps(key, ensure_ascii=True))

    def int64(self, literal: int) -> str:
        """An integer literal that computes in 64 bits: PostgreSQL keeps `int * int` in 32
        bits, and fails past them; SQLite's integers are all 64-bit."""
        return self._int64.format(int(literal))


SQLITE = Dialect(
    name="sqlite",
    _integers="(SELECT value FROM json_each({param}))",
    _texts="(SELECT value FROM json_each({param}))",
    _elements="json_each({param}) AS {alias}",
    _greatest="max({})",
    _least="min({})",
    _holds_key="coalesce(instr({column}, {param}) > 0, 0)",
    _key_needle='"key":{key}',
    _int64="{}",
    counts_in_database=False,
)

POSTGRES = Dialect(
    name="postgres",
    _integers=(
        "(SELECT CAST(value AS BIGINT) AS value "
        "FROM jsonb_array_elements_text(CAST({param} AS JSONB)) AS e(value))"
    ),
    _texts="(SELECT value FROM jsonb_array_elements_text(CAST({param} AS JSONB)) AS e(value))",
    _elements=(
        "(SELECT value, ordinality - 1 AS key FROM jsonb_array_elements(CAST({param} AS JSONB)) "
        "WITH ORDINALITY AS e(value, ordinality)) AS {alias}"
    ),
    _greatest="GREATEST({})",
    _least="LEAST({})",
    _holds_key="CASE WHEN {column} @> CAST({param} AS JSONB) THEN 1 ELSE 0 END",
    _key_needle='[{{"key":{key}}}]',
    _int64="CAST({} AS BIGINT)",
    counts_in_database=True,
)
