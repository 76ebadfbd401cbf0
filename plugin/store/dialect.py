"""The SQL that differs between SQLite and PostgreSQL, side by side, one attribute per idiom.

Store modules write portable SQL and ask `db.dialect` for the rest, so a difference between
the engines lives here and nowhere else. Placeholders, index hints and INSERT OR IGNORE are
translated mechanically on PostgreSQL (backends/postgres.py) and need nothing here.

A JSON array parameter (a list passed as its JSON text, on both engines) is read as a table
with `integers`, `texts` or `elements`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dialect:
    name: str
    clock_seconds: str
    """The database server's clock now (not the transaction's start), whole epoch seconds:
    the one clock every host sharing the database agrees on (leases)."""
    _integers: str
    _texts: str
    _elements: str
    _greatest: str
    _least: str

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


SQLITE = Dialect(
    name="sqlite",
    clock_seconds="CAST(strftime('%s', 'now') AS INTEGER)",
    _integers="(SELECT value FROM json_each({param}))",
    _texts="(SELECT value FROM json_each({param}))",
    _elements="json_each({param}) AS {alias}",
    _greatest="max({})",
    _least="min({})",
)

POSTGRES = Dialect(
    name="postgres",
    clock_seconds="CAST(floor(extract(epoch FROM clock_timestamp())) AS BIGINT)",
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
)
