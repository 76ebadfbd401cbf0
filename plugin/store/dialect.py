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
    _integers: str
    _texts: str
    _elements: str
    _greatest: str
    _least: str
    _contains_text: str
    _max_with: str

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

    def contains_text(self, column: str, param: str = "?") -> str:
        """Whether the text of `column` (a JSON column too: its text, not its value) holds
        the string `param`, as a condition."""
        return self._contains_text.format(column=column, param=param)

    def max_with(self, key: str, value: str) -> str:
        """Two select-list aggregates: max(`key`), and `value` on the group's row holding
        that max (NULL when every `key` is NULL; one of them on a tie). SQLite's bare
        column beside max() does this; PostgreSQL orders an array instead."""
        return self._max_with.format(key=key, value=value)


SQLITE = Dialect(
    name="sqlite",
    _integers="(SELECT value FROM json_each({param}))",
    _texts="(SELECT value FROM json_each({param}))",
    _elements="json_each({param}) AS {alias}",
    _greatest="max({})",
    _least="min({})",
    _contains_text="instr({column}, {param}) > 0",
    _max_with="max({key}), {value}",
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
    _contains_text="strpos(CAST({column} AS TEXT), {param}) > 0",
    _max_with="max({key}), (array_agg({value} ORDER BY {key} DESC NULLS LAST))[1]",
)
