"""The agent JSON API under /api/v1 (journeys)."""

from __future__ import annotations

from flask import Blueprint, jsonify

from plugin.freshness import ensure_fresh, missing_ticket
from plugin.sidebar import build_customer_journey, build_ticket_journey
from plugin.store.customers import get_customer
from plugin.store.tickets import get_ticket
from plugin.web.access import require_agent
from plugin.web.context import db, state
from plugin.web.errors import ApiError
from plugin.web.i18n import pick_language

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.get("/tickets/<source>/<ticket_id>/journey")
def ticket_journey(source: str, ticket_id: str):
    require_agent(source, ticket_id)
    app_state = state()
    ticket = get_ticket(db(), source, ticket_id)
    freshness = ensure_fresh(
        app_state.config, app_state.model, db(), source, ticket_id, ticket=ticket
    )
    if not freshness.store_unchanged:  # a fetch may have written it: read it again
        ticket = None
    payload = build_ticket_journey(
        db(),
        app_state.model,
        app_state.sidebar,
        source,
        ticket_id,
        lang=pick_language(),
        ticket=ticket,
    )
    if payload is None:
        raise ApiError(*missing_ticket(source, ticket_id, freshness))
    payload["freshness"] = freshness.as_dict()
    return jsonify(payload)


@bp.get("/customers/<int:customer_id>/journey")
def customer_journey(customer_id: int):
    # A customer journey is not tied to a ticket: only source-wide tokens open it.
    require_agent(None, None)
    if get_customer(db(), customer_id) is None:
        raise ApiError(404, "customer_not_found", f"No customer {customer_id}.")
    return jsonify(build_customer_journey(db(), state().model, customer_id, lang=pick_language()))
