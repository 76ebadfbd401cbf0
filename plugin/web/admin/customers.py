"""Customer lookup (by id, email, or part of a name, email or company): one customer's
stage and why, their facts now, their stage history and their tickets, each opening the
sidebar its agents see."""

from __future__ import annotations

from flask import abort, redirect, render_template, request, url_for

from plugin.clock import now_epoch
from plugin.journey.facts import compute_facts
from plugin.journey.model import reason_from_dict
from plugin.journey.reasons import render_reasons
from plugin.security import mint_agent_token
from plugin.sidebar import build_customer_journey
from plugin.store.customers import get_customer, get_customer_by_email, search_customers
from plugin.store.history import customer_aggregates
from plugin.store.journeys import recent_transitions, stage_history
from plugin.store.tickets import get_ticket, tickets_of_customer
from plugin.web.admin import bp
from plugin.web.context import db, state
from plugin.web.sidebar_page import render_sidebar
from plugin.web.strict import MAX_ROW_ID

SHOWN = 25
"""Customers a search lists (a narrower query finds the rest)."""
ADMIN_SIDEBAR_TTL = 900
"""Seconds the sidebar an admin opens keeps working (its searches and guard)."""


@bp.get("/customers")
def customers():
    query = request.args.get("q", "").strip()[:200]
    matches = []
    if query:
        found = _find(query)
        matches = [] if found is not None else search_customers(db(), query, limit=SHOWN + 1)
        if found is None and len(matches) == 1:
            found = matches[0]["id"]
        if found is not None:
            return redirect(url_for("admin.customer", customer_id=found))
    return render_template(
        "admin/customers.html",
        query=query,
        matches=matches[:SHOWN],
        more=len(matches) > SHOWN,
        recent=recent_transitions(db()),
        model=state().model,
    )


@bp.get("/customers/<int:customer_id>")
def customer(customer_id: int):
    profile = get_customer(db(), customer_id)
    if profile is None:
        abort(404, description=f"There is no customer {customer_id}.")
    if profile.get("merged_into"):
        return redirect(url_for("admin.customer", customer_id=profile["merged_into"]))
    now = now_epoch()
    aggregates = customer_aggregates(db(), [customer_id], now=now).get(customer_id, {})
    history = stage_history(db(), customer_id, limit=20)
    for row in history:
        row["reasons"] = render_reasons([reason_from_dict(r) for r in row["reasons"]])
    return render_template(
        "admin/customer.html",
        profile=profile,
        journey=build_customer_journey(db(), state().model, customer_id, now=now),
        facts=sorted(compute_facts(aggregates, now).items()),
        history=history,
        tickets=tickets_of_customer(db(), customer_id),
        model=state().model,
    )


@bp.get("/tickets/<source>/<ticket_id>")
def ticket_sidebar(source: str, ticket_id: str):
    """The ticket's sidebar as its agents see it, for an admin (a token minted for it)."""
    if state().config.connector(source) is None:
        abort(404, description=f"No connector is named {source}.")
    token = mint_agent_token(
        state().config.secret, source=source, ticket_id=ticket_id, ttl=ADMIN_SIDEBAR_TTL
    )
    return render_sidebar(
        source, ticket_id, token=token, desk="page", back=_way_back(source, ticket_id)
    )


def _way_back(source: str, ticket_id: str) -> dict[str, str]:
    """The admin page an admin came from: the ticket's customer (else the customer list)."""
    ticket = get_ticket(db(), source, ticket_id)
    profile = (
        get_customer(db(), ticket["customer_id"]) if ticket and ticket["customer_id"] else None
    )
    if profile is None:
        return {"url": url_for("admin.customers"), "label": "Customers"}
    label = profile.get("name") or profile.get("email") or f"Customer #{profile['id']}"
    return {"url": url_for("admin.customer", customer_id=profile["id"]), "label": label}


def _find(query: str) -> int | None:
    if "@" in query:
        return get_customer_by_email(db(), query)
    number = query.lstrip("#")
    # ASCII digits only, and an id SQLite can bind: "²" or 2^64 are simply not customers
    if number.isascii() and number.isdigit() and int(number) <= MAX_ROW_ID:
        if get_customer(db(), int(number)) is not None:
            return int(number)
    return None
