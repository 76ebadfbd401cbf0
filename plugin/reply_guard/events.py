"""What the reply guard warned about and what the agent did: the record behind the
reply-guard report (store/guard_events.py holds the rows).

The check-reply endpoint records its warnings (`record_check`); the desk apps report the
agent's choice (`record_agent_choice`, `POST …/guard-outcome`): "Send anyway" is
`sent_anyway`, "Edit reply" (or a held reply sent later without the link) is `edited`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlite_utils import Database

from plugin.errors import InvalidInput
from plugin.store.guard_events import OUTCOMES, Warned, record_outcome, record_warnings

MAX_ARTICLES = 50
"""Articles one outcome may name: a reply links a handful; more is not a reply."""
MAX_ID_CHARS = 200


def record_check(
    db: Database,
    *,
    source: str,
    ticket_id: str,
    customer_id: int | None,
    result: Mapping[str, Any],
    now: int,
) -> int:
    """Store the warnings of one check-reply answer (`check_reply`'s result)."""
    warned = [
        Warned(str(w["source"]), str(w["article_id"]), w.get("title"))
        for w in result.get("warnings", [])
    ]
    return record_warnings(
        db, source=source, ticket_id=ticket_id, customer_id=customer_id, warned=warned, now=now
    )


def parse_outcome(data: Any) -> tuple[str, list[tuple[str, str]]]:
    """(outcome, [(article source, article id)]) of a guard-outcome body, or InvalidInput
    saying what is wrong: `{"outcome": "sent_anyway" | "edited", "articles":
    [{"source": "zendesk", "article_id": "123"}, …]}` (the warnings' own fields)."""
    example = (
        'Send {"outcome": "sent_anyway", "articles": [{"source": "zendesk", "article_id": "1"}]}.'
    )
    if not isinstance(data, dict):
        raise InvalidInput(example, code="invalid_body")
    outcome = data.get("outcome")
    if outcome not in OUTCOMES:
        raise InvalidInput(
            f"`outcome` must be one of {', '.join(OUTCOMES)}. {example}", code="invalid_outcome"
        )
    articles = data.get("articles")
    if not isinstance(articles, list) or not articles:
        raise InvalidInput(
            f"`articles` must list the warned articles. {example}", code="articles_required"
        )
    if len(articles) > MAX_ARTICLES:
        raise InvalidInput(f"Name at most {MAX_ARTICLES} articles.", code="too_many_articles")
    keys = []
    for article in articles:
        if not isinstance(article, dict):
            raise InvalidInput(f"Each article is an object. {example}", code="invalid_article")
        source, article_id = article.get("source"), article.get("article_id")
        if isinstance(article_id, int) and not isinstance(article_id, bool):
            article_id = str(article_id)
        if not _short_text(source) or not _short_text(article_id):
            raise InvalidInput(
                "Each article needs `source` and `article_id` as the warning gave them "
                f"(text of at most {MAX_ID_CHARS} characters).",
                code="invalid_article",
            )
        keys.append((source, article_id))
    return outcome, keys


def record_agent_choice(
    db: Database, *, source: str, ticket_id: str, data: Any, now: int
) -> dict[str, Any]:
    """Validate and store what the agent did about a ticket's warnings:
    `{"outcome": …, "recorded": n}` (n: open warnings it closed; 0 when they were
    closed already, e.g. a repeated call)."""
    outcome, articles = parse_outcome(data)
    closed = record_outcome(
        db, source=source, ticket_id=ticket_id, articles=articles, outcome=outcome, now=now
    )
    return {"outcome": outcome, "recorded": closed}


def _short_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip()) and len(value) <= MAX_ID_CHARS
