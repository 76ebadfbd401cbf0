"""GET /sidebar/<source>/<ticket_id>: the journey page shown in the desk's iframe."""

from __future__ import annotations

from flask import Blueprint, render_template

from plugin.sidebar import build_ticket_journey
from plugin.web.access import presented_token, require_agent
from plugin.web.context import db, state
from plugin.web.errors import ApiError
from plugin.web.i18n import ago, pick_language, translator

bp = Blueprint("sidebar", __name__)


@bp.get("/sidebar/<source>/<ticket_id>")
def sidebar(source: str, ticket_id: str):
    require_agent(source, ticket_id)
    app_state = state()
    lang = pick_language()
    journey = build_ticket_journey(
        db(), app_state.model, app_state.sidebar, source, ticket_id, lang=lang
    )
    if journey is None:
        raise ApiError(404, "ticket_not_found", f"No ticket {ticket_id} from {source} yet.")
    return render_template(
        "sidebar/page.html",
        journey=journey,
        t=translator(lang),
        ago=ago,
        lang=lang,
        lookback_days=app_state.sidebar.lookback_days,
        demo_open=app_state.config.demo_mode and presented_token() is None,
    )
