"""The already-read guard behind `POST .../check-reply` (DESIGN §4).

A reply draft goes in; out comes one warning per linked article the customer already read
— viewed, in any locale, from `redundant_window_days` before the ticket was created up to
now — saying when, how often and whether before the ticket, softer when the article
changed after they read it (re-sending may then be right), with unread alternatives from the
same section or category.

The top of this module is pure (links → candidate sources, facts → a warning);
:func:`check_reply` at the bottom is the one place that asks the store, by name, for what
those pure parts need.

Which source a link belongs to: article ids are per source (a Zendesk 360001 and a
Freshdesk 360001 are different articles), so a link is looked up, in order, in the sources
whose stored article URLs live on the link's host, then the sources of the link's desk type
(the ticket's own first), then the ticket's source, then every other source. The first
knowledge base that knows the id wins and the link becomes that article's group (all its
translations). An id no knowledge base knows is matched against the customer's views in the
preferred sources only (never "every source"), so an unrelated desk cannot cause a warning.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlite_utils import Database

from plugin.clock import now_epoch
from plugin.reply_guard.links import ArticleLink, extract_article_links
from plugin.store.articles import (
    article_group,
    group_by_slug,
    knowledge_sources,
    popular_in,
    search_articles,
    versions_of,
)
from plugin.store.history import ArticleKey, Reading, read_articles, readings

DAY = 86_400
ALTERNATIVES = 3
POPULARITY_DAYS = 90
DESK_TYPES = ("zendesk", "freshdesk", "chatwoot")

Translate = Callable[..., str]
Ago = Callable[[int, Translate], str]


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """A configured source as the guard sees it: its desk type and its article hosts."""

    name: str
    desk: str  # the connector type: zendesk | freshdesk | chatwoot | demo
    hosts: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class ArticleFacts:
    """The knowledge base's version of an article shown to the agent."""

    title: str
    url: str | None
    locale: str | None
    updated_at: int | None
    section: str | None
    category: str | None


# --- pure ----------------------------------------------------------------------------------


def candidate_sources(
    link: ArticleLink, sources: Sequence[SourceInfo], ticket_source: str, host: str
) -> tuple[list[str], list[str]]:
    """(preferred, others): where to look `link` up, best first (see the module docstring)."""
    preferred: list[str] = []

    def add(name: str) -> None:
        if name not in preferred:
            preferred.append(name)

    for info in sources:
        if host and host in info.hosts:
            add(info.name)
    same_desk = [s.name for s in sources if s.desk == link.desk and link.desk in DESK_TYPES]
    if ticket_source in same_desk:
        add(ticket_source)
    for name in same_desk:
        add(name)
    add(ticket_source)
    others = [s.name for s in sources if s.name not in preferred]
    return preferred, others


def link_host(url: str) -> str:
    """The lower-case host of a URL, without user info or port."""
    rest = url.partition("://")[2]
    netloc = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    host = netloc.rpartition("@")[2]
    if host.startswith("["):  # an IPv6 literal: its colons are not the port's
        host = host[: host.find("]") + 1]
    else:
        host = host.partition(":")[0]
    return host.lower().rstrip(".")


def pick_version(versions: Sequence[Mapping[str, Any]], *locales: str | None) -> Mapping | None:
    """The version in the first of `locales` we have (exact, then same language), else any."""
    if not versions:
        return None
    for locale in locales:
        if not locale:
            continue
        lang = locale.split("-")[0].lower()
        exact = [v for v in versions if (v["locale"] or "").lower() == locale.lower()]
        same = [v for v in versions if (v["locale"] or "").split("-")[0].lower() == lang]
        if exact or same:
            return (exact or same)[0]
    return versions[0]


def build_warning(
    key: ArticleKey,
    reading: Reading,
    facts: ArticleFacts,
    *,
    link: str,
    now: int,
    alternatives: list[dict[str, Any]],
    t: Translate,
    ago: Ago,
    iso: Callable[[int | None], str | None],
) -> dict[str, Any]:
    """The check-reply warning for one article the customer already read."""
    updated = facts.updated_at is not None and facts.updated_at > reading.last_viewed_at
    return {
        "article_id": key[1],
        "source": key[0],
        "title": facts.title,
        "url": facts.url or link,
        "link": link,
        "message": warning_message(reading, facts, updated=updated, now=now, t=t, ago=ago),
        "severity": "soft" if updated else "strong",
        "views": reading.views,
        "views_before_ticket": reading.views_before,
        "last_viewed_at": iso(reading.last_viewed_at),
        "before_ticket": reading.views_before > 0,
        "updated_since_read": updated,
        "updated_at": iso(facts.updated_at),
        "alternatives": alternatives,
    }


def warning_message(
    reading: Reading, facts: ArticleFacts, *, updated: bool, now: int, t: Translate, ago: Ago
) -> str:
    """One sentence in the agent's language: what, how often, how long ago, before or after."""
    after = reading.views - reading.views_before
    if reading.views_before and after:
        relation = "guard_both"
    else:
        relation = "guard_before" if reading.views_before else "guard_after"
    since = ago(max(0, (now - reading.last_viewed_at) // 60), t)
    if reading.views == 1:
        text = t("guard_read_once", title=facts.title, ago=since, relation=t(relation))
    else:
        text = t(
            "guard_read_many", title=facts.title, n=reading.views, ago=since, relation=t(relation)
        )
    if updated and facts.updated_at is not None:
        day = datetime.fromtimestamp(facts.updated_at, UTC).strftime("%Y-%m-%d")
        text += " " + t("guard_updated", date=day)
    return text


def choose_alternatives(
    candidates: Sequence[Mapping[str, Any]],
    *,
    source: str,
    exclude: set[ArticleKey],
    limit: int = ALTERNATIVES,
) -> list[dict[str, Any]]:
    """The first `limit` candidates the customer has not read, as {article_id, title, url}."""
    chosen: list[dict[str, Any]] = []
    for row in candidates:
        key = (source, row["group_id"])
        if key in exclude or any(c["article_id"] == row["group_id"] for c in chosen):
            continue
        chosen.append({"article_id": row["group_id"], "title": row["title"], "url": row["url"]})
        if len(chosen) == limit:
            break
    return chosen


# --- the store-backed check ----------------------------------------------------------------


class PopularityCache:
    """Per-process popularity rankings of a section or category, kept for `ttl` seconds.

    A ranking is the same for every customer (their read articles are excluded after the
    lookup), so a server answering many drafts counts the recent views of a section's
    articles once a minute, not once per warning. At most `size` rankings are kept (least
    recently used dropped first). Thread-safe: gunicorn's threads may share one.
    """

    def __init__(self, ttl: float = 60.0, size: int = 512) -> None:
        self.ttl = ttl
        self.size = size
        self._rows: OrderedDict[tuple, tuple[float, list[dict[str, Any]]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple, load: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
        """The ranking for `key`, from `load()` when it is missing or older than the TTL."""
        now = time.monotonic()
        with self._lock:
            hit = self._rows.get(key)
            if hit is not None and hit[0] > now:
                self._rows.move_to_end(key)
                return hit[1]
        rows = load()
        with self._lock:
            self._rows[key] = (now + self.ttl, rows)
            self._rows.move_to_end(key)
            while len(self._rows) > self.size:
                self._rows.popitem(last=False)
        return rows

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()


@dataclass(frozen=True, slots=True)
class GuardContext:
    """Everything about the ticket and the agent that the check needs besides the draft."""

    ticket_source: str
    customer_id: int
    ticket_created: int
    customer_locale: str | None
    window_days: int
    now: int


def check_reply(
    db: Database,
    draft: str,
    context: GuardContext,
    *,
    sources: Sequence[SourceInfo],
    help_center_domains: Sequence[str],
    t: Translate,
    ago: Ago,
    iso: Callable[[int | None], str | None],
    popularity: PopularityCache | None = None,
) -> dict[str, Any]:
    """`{"warnings": [...], "links": n}` for a draft (links: article links found in it).

    `popularity`, when given, keeps section and category rankings across calls.
    """
    links = extract_article_links(draft, help_center_domains=help_center_domains)
    resolved = [(link, _resolve(db, link, sources, context.ticket_source)) for link in links]
    since = context.ticket_created - context.window_days * DAY
    wanted = {key for _, keys in resolved for key in keys}
    read = readings(db, context.customer_id, wanted, since=since, reference=context.ticket_created)
    warnings: list[dict[str, Any]] = []
    seen: set[ArticleKey] = set()
    ever_read: set[ArticleKey] | None = None
    popular: dict[tuple, list[dict[str, Any]]] = {}  # several warnings often share a section
    for link, keys in resolved:
        key = next((k for k in keys if k in read), None)
        if key is None or key in seen:
            continue
        seen.add(key)
        if ever_read is None:
            ever_read = read_articles(db, context.customer_id)
        facts = _facts(db, key, read[key], context, link)
        # Never suggest what the draft already links: the agent has it in hand.
        alternatives = _alternatives(
            db, key, facts, ever_read | wanted, context.now, popular, popularity
        )
        warnings.append(
            build_warning(
                key,
                read[key],
                facts,
                link=link.url,
                now=context.now,
                alternatives=alternatives,
                t=t,
                ago=ago,
                iso=iso,
            )
        )
    return {"warnings": warnings, "links": len(links), "unread": _unread(db, resolved, read)}


def _unread(
    db: Database, resolved: list[tuple[ArticleLink, list[ArticleKey]]], read: Mapping
) -> list[dict[str, Any]]:
    """The draft's linked articles the customer has not read, once each: the all-clear
    that goes with the warnings (`title` None for an article the store does not hold)."""
    unread: list[dict[str, Any]] = []
    seen: set[ArticleKey] = set()
    for link, keys in resolved:
        if not keys or any(k in read for k in keys) or keys[0] in seen:
            continue
        key = keys[0]
        seen.add(key)
        versions = versions_of(db, key[0], [key[1]]).get(key[1], [])
        best = pick_version(versions, link.locale)
        unread.append(
            {"article_id": key[1], "title": best["title"] if best else None, "url": link.url}
        )
    return unread


def _resolve(
    db: Database, link: ArticleLink, sources: Sequence[SourceInfo], ticket_source: str
) -> list[ArticleKey]:
    """The article keys a link may stand for: one when a knowledge base knows it."""
    preferred, others = candidate_sources(link, sources, ticket_source, link_host(link.url))
    if link.article_id is None:  # Chatwoot names articles by slug
        hit = group_by_slug(db, [*preferred, *others], link.slug or "")
        return [hit] if hit else []
    for name in (*preferred, *others):
        group = article_group(db, name, link.article_id)
        if group is not None:
            return [(name, group)]
    return [(name, link.article_id) for name in preferred]


def _facts(
    db: Database, key: ArticleKey, reading: Reading, context: GuardContext, link: ArticleLink
) -> ArticleFacts:
    versions = versions_of(db, key[0], [key[1]]).get(key[1], [])
    best = pick_version(versions, reading.last_locale, link.locale, context.customer_locale)
    if best is None:  # read, but not in the knowledge base we hold
        return ArticleFacts(f"Article {key[1]}", link.url, reading.last_locale, None, None, None)
    return ArticleFacts(
        best["title"],
        best["url"],
        best["locale"],
        best["updated_at"],
        best["section"],
        best["category"],
    )


def _alternatives(
    db: Database,
    key: ArticleKey,
    facts: ArticleFacts,
    exclude: set[ArticleKey],
    now: int,
    popular: dict[tuple, list[dict[str, Any]]],
    cache: PopularityCache | None = None,
) -> list[dict[str, Any]]:
    """Most read lately in the same section, then the same category, unread by the customer."""
    since = now - POPULARITY_DAYS * DAY
    chosen: list[dict[str, Any]] = []
    for field, value in (("section", facts.section), ("category", facts.category)):
        if not value or len(chosen) >= ALTERNATIVES:
            continue
        memo = (key[0], field, value, facts.locale)
        if memo not in popular:

            def load(field: str = field, value: str = value) -> list[dict[str, Any]]:
                return popular_in(
                    db, key[0], field=field, value=value, locale=facts.locale, since=since
                )

            popular[memo] = cache.get(memo, load) if cache is not None else load()
        rows = popular[memo]
        taken = exclude | {(key[0], c["article_id"]) for c in chosen}
        chosen += choose_alternatives(
            rows, source=key[0], exclude=taken, limit=ALTERNATIVES - len(chosen)
        )
    return chosen


def search_for_ticket(
    db: Database,
    text: str,
    *,
    ticket_source: str,
    customer_id: int | None,
    customer_locale: str | None,
    limit: int,
    iso: Callable[[int | None], str | None],
) -> list[dict[str, Any]]:
    """Knowledge-base search for an agent, each article marked read/unread by this customer.

    Searches the ticket's own knowledge base when the store has one (a desk's agents
    link their own help center), else every knowledge base. One result per article, in the
    customer's language when it exists, in relevance order.
    """
    available = knowledge_sources(db)
    scope = [ticket_source] if ticket_source in available else available
    groups: dict[ArticleKey, list[dict[str, Any]]] = {}
    for row in search_articles(db, text, sources=scope, limit=limit * 6):
        groups.setdefault((row["source"], row["group_id"]), []).append(row)
    keys = list(groups)[:limit]
    read = (
        readings(db, customer_id, keys, since=0, reference=now_epoch())
        if customer_id is not None
        else {}
    )
    results = []
    for key in keys:
        best = pick_version(groups[key], customer_locale) or groups[key][0]
        seen = read.get(key)
        results.append(
            {
                "article_id": key[1],
                "source": key[0],
                "title": best["title"],
                "url": best["url"],
                "locale": best["locale"],
                "section": best["section"],
                "category": best["category"],
                "read": seen is not None,
                "views": seen.views if seen else 0,
                "last_viewed_at": iso(seen.last_viewed_at) if seen else None,
            }
        )
    return results
