"""Per-app state (the Flask extension state `app.extensions["journeydesk"]`) and the
per-request database handle."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from flask import current_app, g, request
from sqlite_utils import Database

from plugin.config import Config
from plugin.intake.freshness import TicketFetches
from plugin.journey.active_model import KIND, load_active_model
from plugin.journey.model import JourneyModel
from plugin.sidebar import SidebarSettings, current_ticket_journey
from plugin.store import DATABASE_ERRORS, StoreError, borrow_db, return_db
from plugin.store.rule_sets import latest_rule_set_id

MODEL_CHECK_SECONDS = 2.0
log = logging.getLogger("journeydesk.web")


@dataclass
class AppState:
    config: Config
    model: JourneyModel
    sidebar: SidebarSettings
    model_version: int | None = None
    """The newest saved journey model version id this process has seen."""
    model_checked_at: float = 0.0
    fetches: TicketFetches = field(default_factory=TicketFetches)
    """This app's desk fetches (freshness checks and webhooks)."""


def state() -> AppState:
    return current_app.extensions["journeydesk"]


def db() -> Database:
    """One connection per request, borrowed from the store's pool (opening costs more
    than the sidebar's queries) and handed back when the request ends."""
    if "db" not in g:
        g.db = borrow_db(state().config.database_path)
    return g.db


def refresh_model() -> None:
    """Pick up a journey model saved through another worker (checked every couple of seconds).

    gunicorn runs several workers, each with its own `AppState`; the store is what they share.
    """
    app_state = state()
    now = time.monotonic()
    if now - app_state.model_checked_at < MODEL_CHECK_SECONDS or request.endpoint == "static":
        return
    app_state.model_checked_at = now
    try:
        if latest_rule_set_id(db(), KIND) != app_state.model_version:
            active = load_active_model(db(), app_state.config)
            app_state.model, app_state.model_version = active.model, active.latest_id
    except (*DATABASE_ERRORS, StoreError) as exc:  # serve on with the model we have
        log.warning("could not check for a new journey model: %s", exc)


def close_db(exc: BaseException | None = None) -> None:
    handle = g.pop("db", None)
    if handle is not None:
        return_db(handle, state().config.database_path, broken=exc is not None)


def ticket_journey_now(source: str, ticket_id: str, lang: str):
    """A ticket's journey as an agent opening it sees it now: `(payload, freshness)`, its
    requester's history fetched from the desk first when it is due (the API and the page)."""
    app_state = state()
    return current_ticket_journey(
        app_state.config,
        app_state.model,
        app_state.sidebar,
        db(),
        source,
        ticket_id,
        fetches=app_state.fetches,
        lang=lang,
    )
