"""The Flask app factory."""

from __future__ import annotations

import logging

from flask import Flask, redirect, url_for
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

from plugin.config import Config
from plugin.journey.active_model import load_active_model
from plugin.journey.model import JourneyModel
from plugin.sidebar import SidebarSettings
from plugin.store import open_store
from plugin.tuning import freeze_startup_objects
from plugin.web import (
    admin,
    api,
    demo,
    desks,
    events,
    health,
    openapi,
    reply_guard,
    sidebar_page,
    strict,
    unsubscribe,
    webhooks,
)
from plugin.web.context import AppState, close_db, refresh_model
from plugin.web.errors import register_error_handlers


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the signing serializer made once per set of
    keys instead of on every request (~25 µs each, mostly for API requests that never
    touch the session; the admin's sessions are signed and checked exactly as before)."""

    def __init__(self) -> None:
        self._serializers: dict[tuple, object] = {}

    def get_signing_serializer(self, app: Flask):
        keys = (app.secret_key, *(app.config["SECRET_KEY_FALLBACKS"] or ()))
        serializer = self._serializers.get(keys)
        if serializer is None:
            serializer = super().get_signing_serializer(app)
            self._serializers = {keys: serializer}  # keys change only if the config does
        return serializer

    def open_session(self, app: Flask, request):
        if "HTTP_COOKIE" not in request.environ and app.secret_key:
            return self.session_class()  # no cookie at all: what Flask opens then, made directly
        return super().open_session(app, request)

    def save_session(self, app: Flask, session, response) -> None:
        if not (session or session.modified or session.accessed):
            return  # untouched and empty: Flask's save_session would only read the config
        super().save_session(app, session, response)


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
    app.session_interface = SessionInterface()
    if config.server["proxy_hops"] > 0:
        # The client's address as the trusted proxies saw it (login limits count by it);
        # never trusted without them, or any client could claim any address.
        hops = config.server["proxy_hops"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    strict.install(app)  # bounded row ids in routes, strict JSON out (before the blueprints)
    app.json.sort_keys = False
    app.json.ensure_ascii = False
    with open_store(config.database_path) as db:
        # The latest model saved in the admin, else config.toml's (validated either way).
        active = load_active_model(db, config)
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
        reply_guard.bp,
        desks.bp,
        openapi.bp,
        unsubscribe.bp,
    ):
        app.register_blueprint(blueprint)
    # Browsers ask for /favicon.ico whatever the page says: point them at the icon.
    app.add_url_rule(
        "/favicon.ico",
        "favicon",
        lambda: redirect(url_for("static", filename="favicon.svg"), code=301),
    )
    logging.getLogger("journeydesk").setLevel(logging.INFO)
    freeze_startup_objects()
    return app
