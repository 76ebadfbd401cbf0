"""One error shape: JSON `{"error": {"code", "message"}}` under /api and /webhooks, HTML elsewhere.

Unexpected exceptions are logged with their traceback and answered with a plain 500
that reveals nothing; bad input never reaches that path.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from plugin.web.i18n import catalogue, pick_language

log = logging.getLogger("journeydesk.web")
JSON_PREFIXES = ("/api/", "/webhooks/", "/healthz")


class ApiError(Exception):
    """An error the client can act on: a status, a stable code and a sentence."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_response(status: int, code: str, message: str) -> Response | tuple:
    if request.path.startswith(JSON_PREFIXES):
        response = jsonify({"error": {"code": code, "message": message}})
        response.status_code = status
        return response
    lang = pick_language()
    text = page_message(lang, code, message)
    return render_template("errors/error.html", status=status, message=text, lang=lang), status


def page_message(lang: str, code: str, message: str) -> str:
    """The sentence an agent reads on an error page, in their language where we have one.

    Agent-facing codes (tokens, tickets, the desks' sign-in) are translated; anything else
    keeps the server's English sentence (admin and configuration errors).
    """
    strings = catalogue(lang)
    for key in (f"error_{code}", _family(code)):
        if key and key in strings:
            return strings[key]
    return message


def _family(code: str) -> str | None:
    if code.startswith("token_"):
        return "error_token_invalid"
    if code.startswith("zendesk_") and code != "zendesk_not_configured":
        return "error_zendesk_invalid"
    return None


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_response(exc.status, exc.code, exc.message)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, code, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "Something went wrong on our side.")
