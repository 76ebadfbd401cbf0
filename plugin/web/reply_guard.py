"""The agent API of the reply guard: check a reply draft, search the knowledge base.

- `POST /api/v1/tickets/<source>/<ticket_id>/check-reply` `{"body": "<draft>"}` →
  `{"warnings": [...], "links": n}` (DESIGN §4; fields in `plugin.reply_guard.guard`).
- `GET /api/v1/tickets/<source>/<ticket_id>/articles/search?q=` → `{"results": [...]}`,
  each marked `read` when this ticket's customer already read it.
- `POST /api/v1/tickets/<source>/<ticket_id>/guard-outcome`
  `{"outcome": "sent_anyway" | "edited", "articles": [{"source", "article_id"}, …]}` →
  `{"outcome": …, "recorded": n}`: what the agent did about the warnings (the desk apps
  call it from "Send anyway" and "Edit reply"). Each check's warnings are stored too
  (`plugin/reply_guard/events.py`), for the reply-guard report.

Both need an agent token for the ticket. Bad input is a 400/413 JSON error, never a 500.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from connectors import fastjson
from plugin.clock import iso, now_epoch
from plugin.reply_guard.events import record_agent_choice, record_check
from plugin.reply_guard.guard import (
    GuardContext,
    PopularityCache,
    SourceInfo,
    check_reply,
    search_for_ticket,
)
from plugin.store.articles import article_hosts
from plugin.store.customers import get_customer
from plugin.store.tickets import get_ticket
from plugin.web.access import require_agent
from plugin.web.context import db, state
from plugin.web.errors import ApiError
from plugin.web.i18n import ago, pick_language, translator

bp = Blueprint("reply_guard", __name__, url_prefix="/api/v1")

MAX_DRAFT_BYTES = 100 * 1024
MAX_QUERY_CHARS = 200
MAX_OUTCOME_BYTES = 16 * 1024
SEARCH_RESULTS = 10
HOSTS_TTL_SECONDS = 60.0
"""Article hosts change only when a knowledge base gains a domain: re-read once a minute."""
_hosts_lock = threading.Lock()
POPULARITY_TTL_SECONDS = 60.0
"""Alternatives are ranked by views over 90 days: a minute-old ranking is as good."""
POPULARITY_RANKINGS = 512
"""Rankings kept per process (one per section or category and locale)."""


@bp.post("/tickets/<source>/<ticket_id>/check-reply")
def check_reply_view(source: str, ticket_id: str) -> Response:
    require_agent(source, ticket_id)
    draft = _draft()
    ticket = _ticket(source, ticket_id)
    app_state = state()
    if ticket["customer_id"] is None:
        return jsonify({"warnings": [], "links": 0, "unread": []})
    sources, hosts = _sources()
    customer_locale = _customer_locale(ticket["customer_id"])
    context = GuardContext(
        ticket_source=source,
        customer_id=ticket["customer_id"],
        ticket_created=ticket["created_at"],
        customer_locale=customer_locale,
        window_days=app_state.sidebar.redundant_window_days,
        now=now_epoch(),
    )
    domains = [*app_state.config.sidebar["help_center_domains"], *hosts]
    result = check_reply(
        db(),
        draft,
        context,
        sources=sources,
        help_center_domains=domains,
        t=translator(pick_language()),
        ago=ago,
        iso=iso,
        popularity=_popularity(),
    )
    if result["warnings"]:
        record_check(
            db(),
            source=source,
            ticket_id=ticket_id,
            customer_id=ticket["customer_id"],
            result=result,
            now=context.now,
        )
    return jsonify(result)


@bp.post("/tickets/<source>/<ticket_id>/guard-outcome")
def guard_outcome_view(source: str, ticket_id: str) -> Response:
    require_agent(source, ticket_id)
    too_large = ApiError(413, "body_too_large", f"Send at most {MAX_OUTCOME_BYTES // 1024} KB.")
    if (request.content_length or 0) > MAX_OUTCOME_BYTES:
        raise too_large
    raw = request.get_data(cache=False)
    if len(raw) > MAX_OUTCOME_BYTES:
        raise too_large
    try:
        data = fastjson.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(
            400, "invalid_json", 'Send a JSON object like {"outcome": "edited", "articles": [...]}.'
        ) from None
    _ticket(source, ticket_id)
    return jsonify(
        record_agent_choice(db(), source=source, ticket_id=ticket_id, data=data, now=now_epoch())
    )


@bp.get("/tickets/<source>/<ticket_id>/articles/search")
def search_view(source: str, ticket_id: str) -> Response:
    require_agent(source, ticket_id)
    text = request.args.get("q", "")
    if not text.strip():
        raise ApiError(400, "query_required", "Give the words to search for as ?q=.")
    if len(text) > MAX_QUERY_CHARS:
        raise ApiError(400, "query_too_long", f"Search with at most {MAX_QUERY_CHARS} characters.")
    ticket = _ticket(source, ticket_id)
    results = search_for_ticket(
        db(),
        text,
        ticket_source=source,
        customer_id=ticket["customer_id"],
        customer_locale=_customer_locale(ticket["customer_id"]),
        limit=SEARCH_RESULTS,
        iso=iso,
    )
    return jsonify({"query": text, "results": results})


def _draft() -> str:
    """The `body` of the JSON request, or a 400/413 that says what is wrong."""
    if (request.content_length or 0) > MAX_DRAFT_BYTES:
        raise _too_large()
    raw = request.get_data(cache=False)
    if len(raw) > MAX_DRAFT_BYTES:
        raise _too_large()
    try:
        data = fastjson.loads(raw)  # the shared parser: never RecursionError
    except (ValueError, UnicodeDecodeError):
        raise ApiError(
            400, "invalid_json", 'Send a JSON object like {"body": "<reply draft>"}.'
        ) from None
    if not isinstance(data, dict) or "body" not in data:
        raise ApiError(400, "body_required", 'Send a JSON object like {"body": "<reply draft>"}.')
    body = data["body"]
    if not isinstance(body, str):
        raise ApiError(400, "body_not_text", "`body` must be the draft as a string (HTML or text).")
    if not body.strip():
        raise ApiError(400, "body_empty", "`body` is empty: there is no draft to check.")
    return body


def _too_large() -> ApiError:
    return ApiError(
        413, "draft_too_large", f"The draft is larger than {MAX_DRAFT_BYTES // 1024} KB."
    )


def _ticket(source: str, ticket_id: str) -> dict[str, Any]:
    ticket = get_ticket(db(), source, ticket_id)
    if ticket is None:
        raise ApiError(404, "ticket_not_found", f"No ticket {ticket_id} from {source}.")
    return ticket


def _customer_locale(customer_id: int | None) -> str | None:
    customer = get_customer(db(), customer_id) if customer_id is not None else None
    return customer.get("locale") if customer else None


def _sources() -> tuple[list[SourceInfo], list[str]]:
    """Every source the reply guard may look a link up in, with the hosts of its articles."""
    hosts = _article_hosts()
    configured = {c.name: c.type for c in state().config.connectors}
    names = list(configured) + sorted({s for owners in hosts.values() for s in owners})
    infos = [
        SourceInfo(
            name,
            configured.get(name, "unknown"),
            frozenset(h for h, owners in hosts.items() if name in owners),
        )
        for name in dict.fromkeys(names)
    ]
    return infos, sorted(hosts)


def _popularity() -> PopularityCache:
    """This app's cache of section and category rankings (see `PopularityCache`)."""
    with _hosts_lock:
        return current_app.extensions.setdefault(
            "journeydesk.popularity",
            PopularityCache(ttl=POPULARITY_TTL_SECONDS, size=POPULARITY_RANKINGS),
        )


def _article_hosts() -> dict[str, set[str]]:
    cache = current_app.extensions.setdefault("journeydesk.article_hosts", {})
    with _hosts_lock:
        if cache.get("until", 0.0) > time.monotonic():
            return cache["hosts"]
    hosts = article_hosts(db())
    with _hosts_lock:
        cache.update(hosts=hosts, until=time.monotonic() + HOSTS_TTL_SECONDS)
    return hosts
