"""The SQL that differs between SQLite and PostgreSQL, side by side, one attribute per idiom.

Store modules write portable SQL and ask `db.dialect` for the rest, so a difference between
the engines lives here and nowhere else. Placeholders, index hints and INSERT OR IGNORE are
translated mechanically on PostgreSQL (backends/postgres.py) and need nothing here.

A JSON array parameter (a list passed as its JSON text, on both engines) is read as a table
with `integers`, `texts` or `elements`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from plugin.store.backends.postgres_schema import ARTICLE_SEARCH_DOCUMENT


@dataclass(frozen=True)
class Dialect:
    name: str
    clock_seconds: str
    """The database server's clock now (not the transaction's start), whole epoch seconds:
    the one clock every host sharing the database agrees on (leases)."""
    durable_commit: str
    """A statement making the current transaction's COMMIT return only once it is durable
    (on the primary, and on a synchronous standby when there is one), whatever the server's
    default: for a mark that must survive a crash or failover because something outside
    the database happens next (a message sent). Empty on SQLite, whose WAL commit already
    survives the process (synchronous = NORMAL; a power cut is another matter)."""
    checkpoint: str
    """A statement copying committed pages back into the database file now, on this
    connection, waiting for no one (store.checkpoint). Empty on PostgreSQL, whose own
    checkpointer process does that work."""
    _integers: str
    _texts: str
    _text_items: str
    _elements: str
    _array_rows: str
    _greatest: str
    _least: str
    _int64: str
    counts_in_database: bool
    """Whether equal rows of a large read (~1M) are better counted by GROUP BY than by
    Python over the rows: yes on PostgreSQL (a hash aggregate, and a few rows over the
    socket instead of all of them); no on SQLite (in-process rows are cheap, and its GROUP
    BY sorts them in a temporary b-tree first)."""
    limits_each_half: bool
    """Whether the newest rows of a UNION ALL of two index walks (history and inbox) are
    read with a LIMIT in each half too. PostgreSQL: yes; without it, it sorts all of a
    customer's rows, reading each one's heap page (a heavy reader's timeline: ~7 ms
    against ~2 ms). SQLite: no; it merges the two ordered walks and stops at the limit,
    and a LIMIT inside each half made it sort each half again."""
    _position: str
    _json_is_false: str
    _json_text: str
    like: str
    """LIKE as SQLite means it: case-insensitive for ASCII (PostgreSQL's ILIKE)."""
    search_terms: Callable[[list[str]], str]
    """Words as the full-text query `article_hits` takes: every word a prefix, all required."""
    _article_hits: str
    _max_with: str

    def integers(self, param: str = "?") -> str:
        """A subquery of the integers of a JSON array parameter, in column `value`."""
        return self._integers.format(param=param)

    def texts(self, param: str = "?") -> str:
        """A subquery of the strings of a JSON array parameter, in column `value`."""
        return self._texts.format(param=param)

    def text_items(self, param: str, alias: str) -> str:
        """A FROM item over a JSON array of strings: `alias.key` (from 0), `alias.value`."""
        return self._text_items.format(param=param, alias=alias)

    def elements(self, param: str, alias: str) -> str:
        """A FROM item over a JSON array parameter: `alias.key` (from 0) and `alias.value`,
        a JSON element to read with `->>` (`alias.value ->> 0` of an array of pairs)."""
        return self._elements.format(param=param, alias=alias)

    def array_rows(self, document: str, alias: str) -> str:
        """A FROM item over the JSON array in the TEXT column `document` of an item before
        it in the same FROM (each row reads its own array): `alias.value`, a JSON element
        to read with `->>`. A table function, so PostgreSQL reads it laterally, as SQLite
        does json_each."""
        return self._array_rows.format(document=document, alias=alias)

    def greatest(self, *values: str) -> str:
        return self._greatest.format(", ".join(values))

    def least(self, *values: str) -> str:
        return self._least.format(", ".join(values))

    def holds_text(self, column: str, param: str) -> str:
        """1 when the text of `column` holds the string `param`, else 0 (also when `column`
        is NULL): an integer, to compute with (`position(...) > 0` is the condition)."""
        return f"CASE WHEN {self.position(param, column)} > 0 THEN 1 ELSE 0 END"

    def int64(self, literal: int) -> str:
        """An integer literal that computes in 64 bits: PostgreSQL keeps `int * int` in 32
        bits, and fails past them; SQLite's integers are all 64-bit."""
        return self._int64.format(int(literal))

    def article_hits(self, sources: str) -> str:
        """Articles of `sources` (placeholders) matching the search-terms parameter, best
        first (`rank` ascending), as (source, article_id, locale, rank); then a LIMIT ?."""
        return self._article_hits.format(sources=sources)

    def position(self, needle: str, haystack: str) -> str:
        """Where `needle` starts in `haystack`, from 1; 0 when absent."""
        return self._position.format(needle=needle, haystack=haystack)

    def json_text(self, document: str, key: str) -> str:
        """The value under `key` of the JSON object in the TEXT column `document`."""
        return self._json_text.format(document=document, key=key)

    def json_is_false(self, document: str, key: str) -> str:
        """Whether the JSON object `document` holds false (or 0) under `key`."""
        return self._json_is_false.format(document=document, key=key)

    def max_with(self, key: str, value: str) -> str:
        """Two select-list aggregates: max(`key`), and `value` on the group's row holding
        that max (NULL when every `key` is NULL; one of them on a tie). SQLite's bare
        column beside max() does this; PostgreSQL orders an array instead."""
        return self._max_with.format(key=key, value=value)


SQLITE = Dialect(
    name="sqlite",
    clock_seconds="CAST(strftime('%s', 'now') AS INTEGER)",
    durable_commit="",
    checkpoint="PRAGMA wal_checkpoint(PASSIVE)",
    _integers="(SELECT value FROM json_each({param}))",
    _texts="(SELECT value FROM json_each({param}))",
    _text_items="json_each({param}) AS {alias}",
    _elements="json_each({param}) AS {alias}",
    _array_rows="json_each({document}) AS {alias}",
    _greatest="max({})",
    _least="min({})",
    _int64="{}",
    counts_in_database=False,
    limits_each_half=False,
    _position="instr({haystack}, {needle})",
    _json_is_false="json_extract({document}, '$.{key}') = 0",
    _json_text="({document} ->> '{key}')",
    like="LIKE",
    search_terms=lambda words: " ".join(f'"{word}"*' for word in words),
    _article_hits=(
        "SELECT source, article_id, locale, bm25(articles_fts) AS rank FROM articles_fts "
        "WHERE articles_fts MATCH ? AND source IN ({sources}) ORDER BY rank LIMIT ?"
    ),
    _max_with="max({key}), {value}",
)

POSTGRES = Dialect(
    name="postgres",
    clock_seconds="CAST(floor(extract(epoch FROM clock_timestamp())) AS BIGINT)",
    durable_commit="SET LOCAL synchronous_commit = on",
    checkpoint="",
    _integers=(
        "(SELECT CAST(value AS BIGINT) AS value "
        "FROM jsonb_array_elements_text(CAST({param} AS JSONB)) AS e(value))"
    ),
    _texts="(SELECT value FROM jsonb_array_elements_text(CAST({param} AS JSONB)) AS e(value))",
    _elements=(
        "(SELECT value, ordinality - 1 AS key FROM jsonb_array_elements(CAST({param} AS JSONB)) "
        "WITH ORDINALITY AS e(value, ordinality)) AS {alias}"
    ),
    _text_items=(
        "(SELECT value, ordinality - 1 AS key "
        "FROM jsonb_array_elements_text(CAST({param} AS JSONB)) "
        "WITH ORDINALITY AS e(value, ordinality)) AS {alias}"
    ),
    _array_rows="jsonb_array_elements(CAST({document} AS JSONB)) AS {alias}(value)",
    _greatest="GREATEST({})",
    _least="LEAST({})",
    _int64="CAST({} AS BIGINT)",
    counts_in_database=True,
    limits_each_half=True,
    _position="strpos({haystack}, {needle})",
    _json_is_false="(CAST({document} AS JSONB) -> '{key}') IN ('false', '0')",
    _json_text="(CAST({document} AS JSONB) ->> '{key}')",
    like="ILIKE",
    search_terms=lambda words: " & ".join(f"{word}:*" for word in words),
    _article_hits=(
        f"SELECT source, article_id, locale, -ts_rank({ARTICLE_SEARCH_DOCUMENT}, q) AS rank "
        "FROM articles, to_tsquery('simple', journeydesk_unaccent(?)) AS q "
        f"WHERE {ARTICLE_SEARCH_DOCUMENT} @@ q AND source IN ({{sources}}) ORDER BY rank LIMIT ?"
    ),
    _max_with="max({key}), (array_agg({value} ORDER BY {key} DESC NULLS LAST))[1]",
)
