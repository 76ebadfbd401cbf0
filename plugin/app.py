"""The Flask app factory."""

from __future__ import annotations

import logging

from flask import Flask

from plugin.active_model import load_active_model
from plugin.config import Config
from plugin.journey.model import JourneyModel
from plugin.sidebar import SidebarSettings
from plugin.store import open_db
from plugin.web import (
    admin,
    api,
    demo,
    desks,
    events,
    guard,
    health,
    openapi,
    sidebar_page,
    unavailable,
    webhooks,
)
from plugin.web.context import AppState, close_db, refresh_model
from plugin.web.errors import register_error_handlers


def create_app(config: Config, *, model: JourneyModel | None = None) -> Flask:
    """Build the web app for `config`; migrates the database once, here."""
    app = Flask("plugin")
    app.config.update(
        SECRET_KEY=config.secret.reveal(),
        JSON_SORT_KEYS=False,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.server["public_url"].startswith("https://"),
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
    )
    app.json.sort_keys = False
    app.json.ensure_ascii = False
    db = open_db(config.database_path)
    try:
        # The latest model saved in the admin, else config.toml's (validated either way).
        active = load_active_model(db, config)
    finally:
        db.conn.close()
    app.extensions["journeydesk"] = AppState(
        config,
        model or active.model,
        SidebarSettings.from_config(config.sidebar),
        model_version=active.latest_id,
    )
    app.before_request(refresh_model)
    app.teardown_appcontext(close_db)
    register_error_handlers(app)
    for blueprint in (
        health.bp,
        api.bp,
        sidebar_page.bp,
        demo.bp,
        events.bp,
        admin.bp,
        webhooks.bp,
        guard.bp,
        desks.bp,
        unavailable.bp,
        openapi.bp,
    ):
        app.register_blueprint(blueprint)
    logging.getLogger("journeydesk").setLevel(logging.INFO)
    return app
