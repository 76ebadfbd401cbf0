"""Knowledge-base articles, one row per locale, grouped so translations count as one:
writing them, their groups and versions, where they live (hosts), what is popular in a
section, and full-text search (FTS5 table `articles_fts`, migration 0005).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from sqlite_utils import Database

from connectors.records import Article
from plugin.clock import to_epoch

COLUMNS = (
    "source",
    "article_id",
    "locale",
    "group_id",
    "title",
    "url",
    "section",
    "category",
    "updated_at",
    "draft",
)
POPULARITY_CAP = 500
"""Recent views counted per article when ranking alternatives. Counting stops there, so a
ranking costs at most (articles in the section × cap) index entries however large the
history; past a few hundred recent views an article is "popular" either way."""
_WORD = re.compile(r"\w+", re.UNICODE)
MAX_SEARCH_TERMS = 8


def upsert_articles(db: Database, source: str, articles: Iterable[Article]) -> int:
    rows = [
        (
            source,
            a.id,
            a.locale,
            a.group_id,
            a.title,
            a.url,
            a.section,
            a.category,
            to_epoch(a.updated_at),
            int(a.draft),
        )
        for a in articles
    ]
    placeholders = ", ".join("?" for _ in COLUMNS)
    updates = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS[3:])
    db.conn.executemany(
        f"INSERT INTO articles ({', '.join(COLUMNS)}) VALUES ({placeholders}) "
        f"ON CONFLICT(source, article_id, locale) DO UPDATE SET {updates}",
        rows,
    )
    return len(rows)


def article_group(db: Database, source: str, article_id: str) -> str | None:
    """The group (the article all its translations count as) of an article id in one
    source, or None."""
    row = db.execute(
        "SELECT group_id FROM articles WHERE source = ? AND article_id = ? LIMIT 1",
        [source, article_id],
    ).fetchone()
    return row[0] if row else None


def article_groups(db: Database, source: str, article_ids: Iterable[str]) -> dict[str, str]:
    """`article_group` of many ids in one statement; ids not in the knowledge base are absent."""
    ids = list(dict.fromkeys(article_ids))
    if not ids:
        return {}
    return dict(
        db.conn.execute(
            "SELECT * FROM (SELECT j.value, (SELECT group_id FROM articles WHERE source = ? "
            f"AND article_id = j.value LIMIT 1) AS g FROM {db.dialect.texts()} AS j) AS found "
            "WHERE g IS NOT NULL",
            (source, json.dumps(ids)),
        ).fetchall()
    )


def versions_of(db: Database, source: str, group_ids: Iterable[str]) -> dict[str, list[dict]]:
    """Every locale of each group, keyed by group id."""
    ids = list(dict.fromkeys(group_ids))
    if not ids:
        return {}
    cursor = _versions(db, source, ids, ", ".join(COLUMNS))
    result: dict[str, list[dict]] = {}
    for row in cursor:
        version = dict(zip(COLUMNS, row, strict=True))
        result.setdefault(version["group_id"], []).append(version)
    return result


def _versions(db: Database, source: str, ids: list[str], columns: str) -> sqlite3.Cursor:
    """INDEXED BY: left alone, the planner walks every article of the source on the
    primary key's prefix (~60 µs at 360 articles in 2 locales) instead of seeking each
    group."""
    marks = ", ".join("?" for _ in ids)
    return db.conn.execute(
        f"SELECT {columns} FROM articles INDEXED BY articles_group "
        f"WHERE source = ? AND group_id IN ({marks})",
        [source, *ids],
    )


def article_hosts(db: Database) -> dict[str, set[str]]:
    """Host (lower case, no port) → the sources whose article URLs live there."""
    hosts: dict[str, set[str]] = {}
    slash = db.dialect.position("'/'", "rest")
    scheme_end = db.dialect.position("'://'", "url")
    for source, host in db.execute(
        f"SELECT DISTINCT source, lower(substr(rest, 1, CASE WHEN {slash} > 0 "
        f"THEN {slash} - 1 ELSE length(rest) END)) "
        f"FROM (SELECT source, substr(url, {scheme_end} + 3) AS rest FROM articles "
        f"WHERE url {db.dialect.like} 'http%://%') AS a"
    ):
        name = host.rpartition("@")[2].partition(":")[0] if not host.startswith("[") else host
        if name:
            hosts.setdefault(name, set()).add(source)
    return hosts


def group_by_slug(db: Database, sources: Sequence[str], slug: str) -> tuple[str, str] | None:
    """The (source, group) whose article URL ends in `/articles/<slug>` (slug-named desks)."""
    escaped = slug.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    for source in sources:
        row = db.execute(
            "SELECT group_id FROM articles WHERE source = ? "
            "AND (url LIKE ? ESCAPE '\\' OR url LIKE ? ESCAPE '\\') LIMIT 1",
            [source, f"%/articles/{escaped}", f"%/articles/{escaped}?%"],
        ).fetchone()
        if row:
            return source, row[0]
    return None


def popular_in(
    db: Database,
    source: str,
    *,
    field: str,
    value: str,
    locale: str | None,
    since: int,
    cap: int = POPULARITY_CAP,
) -> list[dict[str, Any]]:
    """Published articles sharing `field` (section or category), most read since `since` first.

    One row per group (the version in `locale` when there is one); each has `recent_views`
    (counted up to `cap`, in one statement: a correlated, LIMITed count per article).
    """
    if field not in ("section", "category"):
        raise ValueError("field must be section or category")
    # The inbox (events not merged yet) has no per-article index: its counts are one
    # GROUP BY over it, materialized once, not a walk per article.
    views = (
        "(SELECT count(*) FROM (SELECT 1 FROM touchpoints t "
        "INDEXED BY touchpoints_article_popularity WHERE t.article_source = a.source "
        "AND t.article_id = a.group_id AND t.occurred_at >= :since AND t.type = 'article_view' "
        "LIMIT :cap) AS capped) "
        "+ coalesce((SELECT n FROM waiting w WHERE w.article_id = a.group_id), 0)"
    )
    rows = db.query(
        "WITH waiting AS MATERIALIZED (SELECT article_id, count(*) AS n FROM touchpoint_inbox "
        "WHERE article_source = :source AND type = 'article_view' AND occurred_at >= :since "
        "GROUP BY article_id) "
        "SELECT a.article_id, a.locale, a.group_id, a.title, a.url, a.section, a.category, "
        f"{db.dialect.least(views, ':cap')} AS recent_views "
        f"FROM articles a WHERE a.source = :source AND a.{field} = :value AND a.draft = 0",  # noqa: S608
        {"since": since, "cap": cap, "source": source, "value": value},
    )
    by_group: dict[str, dict[str, Any]] = {}
    for row in rows:
        kept = by_group.get(row["group_id"])
        if kept is None or (row["locale"] == locale and kept["locale"] != locale):
            by_group[row["group_id"]] = row
    return sorted(by_group.values(), key=lambda r: (-r["recent_views"], r["title"]))


def search_words(text: str) -> list[str]:
    """The words of a search (letters, digits, underscores: nothing a query syntax reads)."""
    return _WORD.findall(text)[:MAX_SEARCH_TERMS]


def search_articles(
    db: Database, text: str, *, sources: Sequence[str], limit: int = 50
) -> list[dict[str, Any]]:
    """Published article versions matching `text` (title, section, category), best first.

    Several locales of one article may come back; the caller picks one per group.
    """
    words = search_words(text)
    if not words or not sources:
        return []
    hits = db.dialect.article_hits(", ".join("?" for _ in sources))
    return list(
        db.query(
            "SELECT a.source, a.article_id, a.locale, a.group_id, a.title, a.url, a.section, "
            f"a.category, a.updated_at FROM ({hits}) AS hit "
            "JOIN articles a ON a.source = hit.source AND a.article_id = hit.article_id "
            "AND a.locale = hit.locale WHERE a.draft = 0 ORDER BY hit.rank",
            [db.dialect.search_terms(words), *sources, limit],
        )
    )


def knowledge_sources(db: Database) -> list[str]:
    """Sources that have a knowledge base in the store."""
    return [row[0] for row in db.execute("SELECT DISTINCT source FROM articles ORDER BY 1")]
