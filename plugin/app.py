"""The Flask app factory."""

from __future__ import annotations

import logging

from flask import Flask

from plugin.config import Config
from plugin.journey.model import JourneyModel, load_model
from plugin.sidebar import SidebarSettings
from plugin.store import open_db
from plugin.web import api, demo, health, sidebar_page
from plugin.web.context import AppState, close_db
from plugin.web.errors import register_error_handlers


def create_app(config: Config, *, model: JourneyModel | None = None) -> Flask:
    """Build the web app for `config`; migrates the database once, here."""
    app = Flask("plugin")
    app.config.update(
        SECRET_KEY=config.secret.reveal(),
        JSON_SORT_KEYS=False,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
    )
    app.json.sort_keys = False
    app.json.ensure_ascii = False
    open_db(config.database_path).conn.close()
    model = model or load_model(config.journey, file=config.path)
    app.extensions["journeydesk"] = AppState(
        config, model, SidebarSettings.from_config(config.sidebar)
    )
    app.teardown_appcontext(close_db)
    register_error_handlers(app)
    for blueprint in (health.bp, api.bp, sidebar_page.bp, demo.bp):
        app.register_blueprint(blueprint)
    logging.getLogger("journeydesk").setLevel(logging.INFO)
    return app
