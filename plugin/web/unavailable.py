"""The database cannot be used: answer 503 with the usual error shape, never a 500.

A full disk, a read-only file, a lock held past the busy timeout or a damaged file is
the server's condition, not a bug and not the client's fault: the client gets
`503 {"error": {"code": "database_unavailable", ...}}` (an HTML page outside the JSON
paths) with `Retry-After`, and the log gets one line saying what to fix. Writes are
transactions, so nothing half-written stays behind.

Registered as a blueprint whose handlers apply app-wide (`app_errorhandler`).
"""

from __future__ import annotations

import logging
import sqlite3

from flask import Blueprint, make_response, request

from plugin.store import StoreError, describe_database_error
from plugin.web.errors import error_response

log = logging.getLogger("journeydesk.web")
bp = Blueprint("unavailable", __name__)
RETRY_AFTER_SECONDS = 30


@bp.app_errorhandler(sqlite3.OperationalError)
@bp.app_errorhandler(StoreError)
def database_unavailable(exc: Exception):
    return _unavailable(exc)


@bp.app_errorhandler(sqlite3.DatabaseError)
def database_error(exc: sqlite3.DatabaseError):
    # A damaged file is DatabaseError itself; its subclasses (IntegrityError,
    # ProgrammingError...) are bugs of ours and stay 500s with a logged traceback.
    if type(exc) is sqlite3.DatabaseError:
        return _unavailable(exc)
    log.error("unexpected database error on %s %s", request.method, request.path, exc_info=exc)
    return error_response(500, "internal_error", "Something went wrong on our side.")


def _unavailable(exc: Exception):
    message = describe_database_error(exc)
    log.error("database unavailable on %s %s: %s", request.method, request.path, message)
    response = make_response(error_response(503, "database_unavailable", message))
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
