"""The journey payload of a ticket: one dict for both the JSON API and the sidebar page."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from plugin.clock import iso, now_epoch
from plugin.config import Config
from plugin.intake.freshness import DELETED, Freshness, TicketFetches, ensure_fresh
from plugin.journey.facts import compute_facts
from plugin.journey.model import JourneyModel, explain_unconditional, reason_from_dict
from plugin.journey.reasons import render_reasons
from plugin.journey.recompute import evaluate_chunk
from plugin.sla.explain import explain_decision
from plugin.store import Read, loads_object, read_together
from plugin.store.history import (
    aggregate_reads,
    aggregates_from,
    article_reads,
    articles_from_views,
    customer_aggregates,
    earlier_reading,
    timeline_read,
)
from plugin.store.tickets import (
    CustomerFacts,
    TicketContext,
    customer_facts,
    is_deleted,
    ticket_context,
)

DAY = 86_400
TIMELINE_LENGTH = 15
EFFORT_DAYS = 7
"""The activity line counts reading and contacts in this many days up to the ticket."""
EFFORT_SIGNAL = "high_effort"
"""The model's signal that says "high effort": the one definition of it. The activity line's
`level` is "high" exactly when this signal is on, and never otherwise."""
OUTREACH_DAYS = 30
"""The sidebar lists the proactive messages the customer received in this many days."""


@dataclass(frozen=True)
class SidebarSettings:
    articles_shown: int = 5
    lookback_days: int = 30
    redundant_window_days: int = 90

    @classmethod
    def from_config(cls, sidebar: Mapping[str, Any]) -> SidebarSettings:
        return cls(
            sidebar["articles_shown"], sidebar["lookback_days"], sidebar["redundant_window_days"]
        )


def read_ticket(
    db: Database, source: str, ticket_id: str, *, now: int | None = None
) -> TicketContext | None:
    """A stored ticket with its requester's facts but the long lists (one statement), or
    None."""
    since = (now or now_epoch()) - OUTREACH_DAYS * DAY
    return ticket_context(
        db, source, ticket_id, effort_seconds=EFFORT_DAYS * DAY, messages_since=since
    )


def read_customer(db: Database, customer_id: int) -> tuple[int, CustomerFacts]:
    """(now, the customer's facts but the long lists, as of now) in one statement."""
    now = now_epoch()
    return now, _customer_facts(db, customer_id, now)


def _customer_facts(db: Database, customer_id: int, now: int) -> CustomerFacts:
    return customer_facts(
        db,
        customer_id,
        end=now,
        effort_seconds=EFFORT_DAYS * DAY,
        messages_since=now - OUTREACH_DAYS * DAY,
    )


def build_ticket_journey(
    db: Database,
    model: JourneyModel,
    settings: SidebarSettings,
    source: str,
    ticket_id: str,
    *,
    lang: str = "en",
    now: int | None = None,
    context: TicketContext | None = None,
) -> dict[str, Any] | None:
    """The DESIGN §4 journey of a ticket, or None when the ticket is unknown.

    `context` is what `read_ticket` returned when the caller has just read it (else it
    is read here).
    """
    now = now or now_epoch()
    if context is None:
        context = read_ticket(db, source, ticket_id, now=now)
    if context is None:
        return None
    ticket = context.ticket
    created, customer_id = ticket["created_at"], ticket["customer_id"]
    since = created - settings.lookback_days * DAY
    # Every long list the journey shows at once, and the customer's facts when the stored
    # stage needs them for its explanation: one round trip on PostgreSQL.
    stored = context.facts.journey
    explain = stored is not None and not stored["reasons"]
    timeline, views, versions, *aggregates = read_together(
        db,
        _timeline_read(db, customer_id, now),
        *article_reads(customer_id, created, since=since),
        *(aggregate_reads(db, [customer_id], now=now) if explain else ()),
    )
    payload = build_customer_journey(
        db,
        model,
        customer_id,
        lang=lang,
        now=now,
        effort=False,
        facts=context.facts,
        timeline=timeline,
        facts_now=_facts_of(aggregates_from(db, aggregates), customer_id, now) if explain else None,
    )
    payload["ticket"] = {
        "source": source,
        "id": ticket["id"],
        "subject": ticket["subject"],
        "status": ticket["status"],
        "channel": ticket["channel"],
        "created_at": iso(created),
    }
    articles = articles_from_views(db, customer_id, views, versions, limit=settings.articles_shown)
    payload["articles_before_ticket"] = [_article_item(a, created) for a in articles]
    payload["effort"] = _effort(context.facts.effort, _has_signal(payload, EFFORT_SIGNAL))
    payload["reading_earlier"] = None if articles else _earlier(db, customer_id, since)
    payload["open_tickets"] = [
        t for t in payload["open_tickets"] if not (t["source"] == source and t["id"] == ticket_id)
    ]
    payload["sla"] = sla_item(context.decision, lang)
    return payload


def sla_item(decision: Mapping[str, Any] | None, lang: str) -> dict[str, Any] | None:
    """The ticket's SLA decision as the sidebar shows it (None: the ticket has none, e.g.
    it existed before the desk was connected, or no SLA rule was in force)."""
    if decision is None:
        return None
    explained = explain_decision(decision, lang)
    return {
        "rule": decision["rule"],
        "change": explained.change,
        "priority_before": decision["priority_before"],
        "priority_after": decision["priority_after"],
        "tags_added": decision["tags_added"],
        "targets": _targets(decision["targets"]),
        "reasons": list(explained.reasons),
        "summary": explained.sentence,
        "decided_at": iso(decision["decided_at"]),
    }


def _targets(stored: Mapping[str, Any]) -> dict[str, Any]:
    """The targets in minutes and their deadlines as ISO moments (decisions made before
    deadlines were stored have none: null)."""
    return {
        "first_response_minutes": stored.get("first_response_minutes"),
        "resolution_minutes": stored.get("resolution_minutes"),
        "first_response_due": iso(stored.get("first_response_due")),
        "resolution_due": iso(stored.get("resolution_due")),
    }


def current_ticket_journey(
    config: Config,
    model: JourneyModel,
    settings: SidebarSettings,
    db: Database,
    source: str,
    ticket_id: str,
    *,
    fetches: TicketFetches,
    lang: str,
) -> tuple[dict[str, Any] | None, Freshness]:
    """The journey of a ticket after making the store current enough (`ensure_fresh`),
    with its `freshness`; None when the ticket is not in the store even then."""
    context = read_ticket(db, source, ticket_id)
    if context is None and is_deleted(db, source, ticket_id):
        # Known and gone: the store answers; asking the desk again only risks its errors.
        return None, DELETED
    freshness = ensure_fresh(config, model, source, ticket_id, context, fetches=fetches)
    if not freshness.store_unchanged:  # a fetch may have written it: read it again
        context = None
    payload = build_ticket_journey(
        db, model, settings, source, ticket_id, lang=lang, context=context
    )
    if payload is not None:
        payload["freshness"] = freshness.as_dict()
    return payload, freshness


def build_customer_journey(
    db: Database,
    model: JourneyModel,
    customer_id: int,
    *,
    lang: str = "en",
    now: int | None = None,
    effort: bool = True,
    facts: CustomerFacts | None = None,
    timeline: list[tuple] | None = None,
    facts_now: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Customer, stage, signals, timeline and open tickets (no ticket context).

    `effort=False` leaves `effort` to the caller (a ticket's counts end at the ticket).
    `facts` are the customer's facts when the caller has read them, `timeline` the rows of
    `_timeline_read` and `facts_now` the journey facts as of `now` likewise.
    """
    now = now or now_epoch()
    if facts is None:
        facts = _customer_facts(db, customer_id, now)
    if timeline is None:
        (timeline,) = read_together(db, _timeline_read(db, customer_id, now))
    customer = facts.customer or {}
    state = facts.journey or _evaluate_now(db, model, customer_id, now)
    signals = [_signal_item(model, s, lang) for s in state["signals"]]
    high_effort = any(s["key"] == EFFORT_SIGNAL for s in signals)
    return {
        "customer": {
            "id": str(customer_id),
            "name": customer.get("name"),
            "email": customer.get("email"),
            "signup_at": iso(customer.get("signup_at")),
            "plan": customer.get("plan"),
            "locale": customer.get("locale"),
            # no name and no email: only a visitor id ties the history to this requester
            "anonymous": not (customer.get("name") or customer.get("email")),
            "has_activity": facts.has_activity,
        },
        "effort": _effort(facts.effort, high_effort) if effort else None,
        "reading_earlier": None,
        "stage": _stage_item(
            model,
            state,
            lang,
            lambda: facts_now if facts_now is not None else _facts_now(db, customer_id, now),
        ),
        "signals": signals,
        "articles_before_ticket": [],
        "timeline": [_timeline_item(*row) for row in timeline],
        "open_tickets": [
            {
                "source": t["source"],
                "id": t["id"],
                "subject": t["subject"],
                "status": t["status"],
                "created_at": iso(t["created_at"]),
            }
            for t in facts.open_tickets
        ],
        "outreach": [
            {
                "at": iso(m["at"]),
                "rule": m["rule"],
                "channel": m["channel"],
                "subject": m["subject"],
                "status": m["status"],
            }
            for m in facts.messages
        ],
    }


def _timeline_read(db: Database, customer_id: int, now: int) -> Read:
    """The customer's timeline as of `now`."""
    return timeline_read(db, customer_id, until=now, limit=TIMELINE_LENGTH)


def _evaluate_now(db: Database, model: JourneyModel, customer_id: int, now: int) -> dict:
    """A customer not recomputed yet (just arrived): evaluate without storing."""
    rows = evaluate_chunk(db, model, [customer_id], now)
    if not rows:
        return {"stage": model.stages[-1].key, "stage_since": None, "reasons": [], "signals": []}
    row = rows[0]
    return {"stage": row.stage, "stage_since": None, "reasons": row.reasons, "signals": row.signals}


def _stage_item(
    model: JourneyModel,
    state: Mapping[str, Any],
    lang: str,
    facts_now: Callable[[], Mapping[str, Any]],
) -> dict[str, Any]:
    """The stage with its reasons; a stage that matched without any (the fallback) is
    explained by what the customer has and has not done (`explain_unconditional`)."""
    definition = model.stage(state["stage"])
    reasons = [reason_from_dict(r) for r in state["reasons"]]
    if not reasons:
        reasons = list(explain_unconditional(model, state["stage"], facts_now()))
    return {
        "key": state["stage"],
        "label": definition.label_in(lang) if definition else state["stage"],
        "since": iso(state.get("stage_since")),
        "reasons": render_reasons(reasons, lang),
    }


def _facts_now(db: Database, customer_id: int, now: int) -> Mapping[str, Any]:
    return _facts_of(customer_aggregates(db, [customer_id], now=now), customer_id, now)


def _facts_of(
    aggregates: Mapping[int, Mapping[str, Any]], customer_id: int, now: int
) -> Mapping[str, Any]:
    found = aggregates.get(customer_id)
    return compute_facts(found, now) if found else {}


def _has_signal(payload: Mapping[str, Any], key: str) -> bool:
    return any(s["key"] == key for s in payload["signals"])


def _signal_item(model: JourneyModel, signal: Mapping[str, Any], lang: str) -> dict[str, Any]:
    definition = model.signal(signal["key"])
    return {
        "key": signal["key"],
        "label": definition.label_in(lang) if definition else signal["key"],
        "reasons": render_reasons([reason_from_dict(r) for r in signal["reasons"]], lang),
    }


def _article_item(article: Mapping[str, Any], ticket_created: int) -> dict[str, Any]:
    return {
        "article_id": article["article_id"],
        "source": article["article_source"],
        "title": article["title"],
        "url": article["url"],
        "locale": article["locale"],
        "category": article["category"],
        "viewed_at": iso(article["last_viewed_at"]),
        "minutes_before_ticket": (ticket_created - article["last_viewed_at"]) // 60,
        "views": article["views"],
    }


def _timeline_item(
    type_: str,
    occurred_at: int,
    channel: str | None,
    _article_source: str | None,
    _article_id: str | None,
    title: str | None,
    url: str | None,
    ticket_id: str | None,
    properties: str | None,
) -> dict[str, Any]:
    """One row of `store.history.timeline_rows` as the payload shows it."""
    props = loads_object(properties)
    return {
        "type": type_,
        "at": iso(occurred_at),
        "channel": channel,
        "title": title or props.get("subject") or props.get("query"),
        "url": url,
        "ticket_id": ticket_id,
        "properties": props,
    }


def _effort(counts: Mapping[str, int], high_effort: bool) -> dict[str, Any]:
    """Articles read, searches and contacts in the EFFORT_DAYS up to the ticket (or now),
    with a level kept for API clients: "high" exactly when the model's high-effort signal
    is on (one definition of high effort, the model's), else "medium" for some reading or a
    repeat contact, "low" otherwise.
    """
    articles, contacts = counts["articles"], counts["contacts"]
    if high_effort:
        level = "high"
    elif articles >= 3 or contacts >= 2:
        level = "medium"
    else:
        level = "low"
    return {"days": EFFORT_DAYS, **counts, "level": level}


def _earlier(db: Database, customer_id: int, before: int) -> dict[str, Any] | None:
    """Reading older than the lookback, for the "N articles read earlier" hint."""
    found = earlier_reading(db, customer_id, before=before)
    if found is None:
        return None
    return {"articles": found["articles"], "last_viewed_at": iso(found["last_viewed_at"])}
