"""The one place errors become answers: JSON `{"error": {"code", "message"}}` under /api,
/webhooks and /healthz, an HTML page elsewhere.

`handle_exception` is the app's only error handler (after datasette's): whatever a view
or the code below it raises arrives here and is sorted once —

- `ApiError`: the web layer's own refusal (a bad token, a body too large), with its status;
- a domain error (`plugin.errors`): its status comes from `DOMAIN_STATUSES`, so domain
  modules never speak HTTP;
- Werkzeug's HTTP errors (404 for an unknown route, 405, 413...) keep their status;
- the database cannot be used (a full disk, a read-only file, a lock held past the busy
  timeout, a damaged file): the server's condition, not a bug and not the client's fault,
  so `503 database_unavailable` with `Retry-After`, and one log line saying what to fix
  (writes are transactions: nothing half-written stays behind);
- anything else is a bug: logged with its traceback, answered with a plain 500 that
  reveals nothing. Bad input never reaches that path.

Every 503 the app answers, whoever made it (this handler, `/healthz`, a view), asks the
client to come back with `Retry-After: RETRY_AFTER_SECONDS` (`ask_to_come_back`).
"""

from __future__ import annotations

import logging
import sqlite3

from flask import Flask, Response, jsonify, make_response, render_template, request
from werkzeug.exceptions import HTTPException

from plugin.errors import DeskSlow, DeskUnavailable, Gone, InvalidInput, JourneydeskError, NotFound
from plugin.store import (
    DATABASE_ERRORS,
    UNAVAILABLE_ERRORS,
    StoreError,
    describe_database_error,
)
from plugin.web.i18n import catalogue, pick_language

log = logging.getLogger("journeydesk.web")
JSON_PREFIXES = ("/api/", "/webhooks/", "/healthz")
RETRY_AFTER_SECONDS = 30
"""How long a client is asked to wait after a 503 (the database or a desk away for now)."""
DOMAIN_STATUSES: tuple[tuple[type[JourneydeskError], int], ...] = (
    (DeskSlow, 503),  # before DeskUnavailable, its base
    (DeskUnavailable, 502),
    (Gone, 410),
    (NotFound, 404),
    (InvalidInput, 400),
)
"""The HTTP status of each domain error (the first class it is an instance of)."""


class ApiError(Exception):
    """An error the client can act on: a status, a stable code and a sentence."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(Exception, handle_exception)
    app.after_request(ask_to_come_back)


def ask_to_come_back(response: Response) -> Response:
    """A 503 says when to try again: clients (the sidebar, the portal snippet, monitors,
    load balancers) wait that long instead of hammering a database that is away. One
    place for every 503, so no view can forget it; a view's own Retry-After is kept."""
    if response.status_code == 503 and "Retry-After" not in response.headers:
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def handle_exception(exc: Exception) -> Response | tuple:
    """The answer to any exception a request raised (see the module doc)."""
    if isinstance(exc, ApiError):
        return error_response(exc.status, exc.code, exc.message)
    if isinstance(exc, JourneydeskError):
        return error_response(
            domain_status(exc), exc.code, exc.message, exc.params, hint_key=exc.hint
        )
    if isinstance(exc, HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, code, exc.description or exc.name)
    if _database_unavailable(exc):
        return _unavailable(exc)
    if isinstance(exc, DATABASE_ERRORS):
        # IntegrityError, ProgrammingError...: bugs of ours, 500s with a logged traceback.
        log.error("unexpected database error on %s %s", request.method, request.path, exc_info=exc)
    else:
        log.exception("unexpected error on %s %s", request.method, request.path)
    return error_response(500, "internal_error", "Something went wrong on our side.")


def domain_status(exc: JourneydeskError) -> int:
    return next((status for kind, status in DOMAIN_STATUSES if isinstance(exc, kind)), 500)


def _database_unavailable(exc: Exception) -> bool:
    # A damaged file is DatabaseError itself; a full disk, a lock or a read-only file an
    # OperationalError; StoreError when the file could not be opened at all. PostgreSQL
    # away (restarting, failing over) is an OperationalError too, and a standby promoted
    # late refuses writes as read-only.
    return isinstance(exc, (StoreError, *UNAVAILABLE_ERRORS)) or (
        type(exc) is sqlite3.DatabaseError
    )


def _unavailable(exc: Exception) -> Response:
    message = describe_database_error(exc)
    log.error("database unavailable on %s %s: %s", request.method, request.path, message)
    return make_response(error_response(503, "database_unavailable", message))


def error_response(
    status: int,
    code: str,
    message: str,
    params: dict[str, str] | None = None,
    *,
    hint_key: str | None = None,
) -> Response | tuple:
    if request.path.startswith(JSON_PREFIXES):
        response = jsonify({"error": {"code": code, "message": message}})
        response.status_code = status
        return response
    lang = pick_language()
    strings = catalogue(lang)
    page = render_template(
        "errors/error.html",
        status=status,
        title=strings.get(f"error_title_{status}") or strings["error_title_other"],
        message=page_message(lang, code, message, params),
        hint=_filled(strings.get(hint_key or f"error_hint_{code}"), params),
        code=code,
        lang=lang,
    )
    return page, status


def page_message(lang: str, code: str, message: str, params: dict[str, str] | None = None) -> str:
    """The sentence an agent reads on an error page, in their language where we have one.

    Agent-facing codes (tokens, tickets, the desks' sign-in) are translated; anything else
    keeps the server's English sentence (admin and configuration errors).
    """
    strings = catalogue(lang)
    for key in (f"error_{code}", _family(code)):
        if key and key in strings:
            return _filled(strings[key], params) or message
    return message


def _filled(text: str | None, params: dict[str, str] | None) -> str | None:
    """A catalogue sentence with its {names} filled in (left as written when one is missing)."""
    if text is None or not params:
        return text
    try:
        return text.format(**params)
    except (KeyError, IndexError, ValueError):
        return text


def _family(code: str) -> str | None:
    if code.startswith("token_"):
        return "error_token_invalid"
    if code.startswith("zendesk_") and code != "zendesk_not_configured":
        return "error_zendesk_invalid"
    return None
